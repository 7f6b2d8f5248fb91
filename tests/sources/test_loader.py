"""Loading every charter source with provenance, and saying what could not be loaded."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.core.errors import UserError
from agent.session import open_session
from conftest import _git

CHARTER = """# Agent: DevOps Engineer (Mini)

## Sources de vérité (à charger)
- Notion: Release / Intention.
- Docker: `docker-compose.yml`.
- Dockerfiles: dans chaque service (web).
- CI/CD: `web/.github/workflows/ci.yml`
- Notes de déploiement (si disponibles).
- Regles: `rules.md` (section: Containerisation)

## Priorité des sources
1. Notion – Release / Intention
2. Fichiers du repo (docker-compose*, Dockerfiles, workflows CI)
3. Règles globales (Containerisation)
"""

COMPOSE = """services:
  web:
    build: ./web
    ports: ["8000:8000"]
"""

RELEASES = '\ufeffName,Version,Status,Target date,Intentions\n' \
    '"Beta privée",0.5.0,En cours,2026-12-15,"Healthchecks (https://www.notion.so/abc), Observabilité (https://www.notion.so/def)"\n' \
    '"Lancement",0.4.0,Livrée,2026-10-01,\n'
INTENTIONS = '\ufeffID,Name,Release,Status,Problème utilisateur,Hypothèse,Valeur attendue,Critère de succès,Contraintes infra\n' \
    'INT-1,Healthchecks,"Beta privée (https://www.notion.so/x)",Validée,Pannes,Moins de pannes,Dispo,99%,healthcheck partout\n' \
    'INT-2,Observabilité,"Beta privée (https://www.notion.so/y)",Proposée,,,,,stack de logs\n'


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "NO_COLOR": "1"})


@pytest.fixture
def mini(tmp_path) -> Path:
    """A small platform: root repo + one submodule `web`, everything the mini charter lists."""
    up = tmp_path / "up" / "web"
    (up / ".github/workflows").mkdir(parents=True)
    (up / "Dockerfile").write_text("FROM python:3.11-slim\nUSER app\n")
    (up / ".github/workflows/ci.yml").write_text("on: push\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps: []\n")
    _git(up, "init", "-q", "-b", "main")
    _git(up, "add", "-A")
    _git(up, "commit", "-q", "-m", "web")
    root = tmp_path / "platform"
    (root / ".codex/agents").mkdir(parents=True)
    (root / ".codex/agents/devops-engineer.md").write_text(CHARTER)
    (root / "docker-compose.yml").write_text(COMPOSE)
    (root / "rules.md").write_text("# Règles\n\n## Git\nmain only\n\n## Containerisation\n- USER non-root\n\n## Tests\nx\n")
    (root / "notion").mkdir()
    (root / "notion/Release 3f2a9c1e.csv").write_text(RELEASES, encoding="utf-8")
    (root / "notion/Release 3f2a9c1e_all.csv").write_text(RELEASES, encoding="utf-8")
    (root / "notion/Intention 8b7d4e20.csv").write_text(INTENTIONS, encoding="utf-8")
    (root / ".devops-agent.yaml").write_text("notion:\n  export_dir: notion\nenvironments:\n  dev: [docker-compose.yml]\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "submodule", "add", "-q", str(up), "web")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "platform")
    return root


def status_of(session, path):
    return next(s for s in session.sources if s.path == path)


def test_every_source_loads_with_provenance(mini):
    s = open_session(mini)
    statuses = {src.path: src.status for src in s.sources}
    assert statuses == {
        "notion/Release 3f2a9c1e.csv": "ok", "notion/Intention 8b7d4e20.csv": "ok",
        "docker-compose.yml": "ok", "web/Dockerfile": "ok", "web/.github/workflows/ci.yml": "ok",
        "<deployment notes>": "optional-absent", "rules.md": "ok",
    }
    web_head = _git(mini / "web", "rev-parse", "HEAD").strip()
    dockerfile = status_of(s, "web/Dockerfile")
    assert dockerfile.submodule == "web" and dockerfile.commit == web_head and dockerfile.dirty is False
    assert dockerfile.sha256 == __import__("hashlib").sha256((mini / "web/Dockerfile").read_bytes()).hexdigest()
    compose = status_of(s, "docker-compose.yml")
    assert compose.submodule is None and compose.commit == _git(mini, "rev-parse", "HEAD").strip()
    assert compose.priority == 2 and status_of(s, "rules.md").priority == 3
    rules = status_of(s, "rules.md")
    assert rules.sections == ["Containerisation"] and "USER non-root" in rules.text and "main only" not in rules.text
    assert s.verdict == "GO"
    assert s.release.version == "0.5.0" and [i.id for i in s.release.intentions] == ["INT-1", "INT-2"]
    assert s.release.intentions[0].validated and not s.release.intentions[1].validated


def test_dirty_file_is_flagged(mini):
    (mini / "web/Dockerfile").write_text("FROM python:3.12-slim\n")
    s = open_session(mini)
    assert status_of(s, "web/Dockerfile").dirty is True
    assert status_of(s, "docker-compose.yml").dirty is False
    assert any(f.id == "SRC004" for f in s.findings)


def test_yaml_syntax_error_is_a_parse_error_and_the_session_goes_on(mini):
    (mini / "docker-compose.yml").write_text("services:\n  web:\n    image: [unclosed\n")
    s = open_session(mini)
    src = status_of(s, "docker-compose.yml")
    assert src.status == "parse-error" and src.line == 4 and src.column is not None
    assert "line 4" in src.message
    assert status_of(s, "rules.md").status == "ok"  # the rest still loads
    # never GO: NO-GO when its environment is prod (CMP001 blocker), else CANNOT-TELL (its checks did not run)
    assert s.verdict in ("NO-GO", "CANNOT-TELL")
    assert any(g.what == "compose source docker-compose.yml" for g in s.not_run)


def test_non_utf8_and_binary_files_are_unreadable(mini):
    (mini / "rules.md").write_bytes(b"## Containerisation\n caf\xe9\n")
    (mini / "docker-compose.yml").write_bytes(b"\x00\x01binary")
    s = open_session(mini)
    assert status_of(s, "rules.md").status == "unreadable" and "UTF-8" in status_of(s, "rules.md").message
    assert status_of(s, "docker-compose.yml").status == "unreadable"


def test_symlink_and_dotdot_leaving_the_repo_are_refused(mini, tmp_path):
    outside = tmp_path / "secret.yml"
    outside.write_text("services: {}\n")
    (mini / "docker-compose.yml").unlink()
    (mini / "docker-compose.yml").symlink_to(outside)
    (mini / ".devops-agent.yaml").write_text(
        "notion:\n  export_dir: notion\nenvironments:\n  dev: [docker-compose.yml, ../escape.yml]\n")
    s = open_session(mini)
    link = status_of(s, "docker-compose.yml")
    assert link.status == "unreadable" and "outside the repository" in link.message
    esc = status_of(s, "../escape.yml")
    assert esc.status == "unreadable" and "'..'" in esc.message


def test_size_cap_names_the_cap(mini):
    cap = (mini / ".codex/agents/devops-engineer.md").stat().st_size  # the charter is capped too: it fits
    (mini / "docker-compose.yml").write_text(COMPOSE + "#" * cap + "\n")
    (mini / ".devops-agent.yaml").write_text(f"notion:\n  export_dir: notion\nmax_file_bytes: {cap}\n")
    s = open_session(mini)
    src = status_of(s, "docker-compose.yml")
    assert src.status == "unreadable" and f"{cap}-byte cap" in src.message


def test_uninitialised_submodule_says_how_to_fix(mini, tmp_path):
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(mini), str(clone))  # no --recurse-submodules
    s = open_session(clone)
    for path in ("web/Dockerfile", "web/.github/workflows/ci.yml"):
        src = status_of(s, path)
        assert src.status == "missing"
        assert "git submodule update --init -- web" in src.message
    # nothing found broken, but the checks over the submodule's files could not run: no GO
    assert s.verdict == "CANNOT-TELL"
    assert {g.what for g in s.not_run if g.check == "SRC001"} >= {"dockerfile source web/Dockerfile",
                                                                  "ci_workflow source web/.github/workflows/ci.yml"}


def test_rules_section_absent_and_rules_path_absent(mini):
    (mini / "rules.md").write_text("## Tests\nonly tests\n")
    src = status_of(open_session(mini), "rules.md")
    assert src.status == "missing" and "Containerisation" in src.message
    (mini / ".devops-agent.yaml").write_text("notion:\n  export_dir: notion\nrules_file: /nonexistent/rules.md\n")
    src = status_of(open_session(mini), "/nonexistent/rules.md")
    assert src.status == "missing" and "rules_file" in src.message


def test_not_a_git_repo_works_without_commits(mini, tmp_path):
    import shutil

    plain = tmp_path / "plain"
    shutil.copytree(mini, plain, ignore=shutil.ignore_patterns(".git"))
    s = open_session(plain)
    src = status_of(s, "docker-compose.yml")
    assert src.status == "ok" and src.commit is None and src.sha256
    assert status_of(s, "web/Dockerfile").status == "ok"  # the folder has files: taken as present


def test_config_errors_are_one_line(mini):
    (mini / ".devops-agent.yaml").write_text("notion:\n  export_dir: notion\nbogus: 1\n")
    with pytest.raises(UserError, match="unknown key 'bogus'"):
        open_session(mini)
    (mini / ".devops-agent.yaml").write_text("environments:\n  prod: []\n")
    with pytest.raises(UserError, match="lists no compose file"):
        open_session(mini)
    (mini / ".devops-agent.yaml").write_text("notion: [\n")
    with pytest.raises(UserError, match="YAML syntax error at line"):
        open_session(mini)


def test_cli_bad_input_exit_2_one_line(mini, tmp_path):
    (mini / ".devops-agent.yaml").write_text("bogus: 1\n")
    r = run_cli("review", "--repo", str(mini))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "unknown key 'bogus'" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("sources", "--repo", str(tmp_path / "nope"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = run_cli("--debug", "review", "--repo", str(mini))
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_cli_json_contract(mini):
    r = run_cli("review", "--repo", str(mini), "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["role"] == "DevOps Engineer" and data["verdict"] == "GO"
    for src in data["sources"]:
        assert {"kind", "path", "status", "priority", "sha256", "submodule", "commit", "message"} <= set(src)
    assert isinstance(data["findings"], list)
    r = run_cli("sources", "--format", "json", cwd=mini / "web")  # --repo defaults to the superproject
    assert r.returncode == 0 and json.loads(r.stdout)["repo"] == str(mini.resolve())


def test_real_platform_repo(real_platform_repo):
    s = open_session(real_platform_repo)
    rules = next(src for src in s.sources if src.kind == "rules")
    assert rules.status == "missing"
    assert rules.path == "/Users/stephen.godard/.codeium/windsurf/memories/global_rules.md"
    assert "rules_file" in rules.message
    for name in ("anime-saas-api", "anime-saas-front", "anime-saas-mlservice", "anime-saas-agent"):
        mine = [src for src in s.sources if src.submodule == name]
        assert mine and all(src.status == "missing" for src in mine)
        assert all(f"git submodule update --init -- {name}" in src.message for src in mine)
        assert {src.kind for src in mine} == {"dockerfile", "ci_workflow"}
    proxy = [src for src in s.sources if src.submodule == "anime-saas-reverseproxy"]
    head = _git(real_platform_repo / "anime-saas-reverseproxy", "rev-parse", "HEAD").strip()
    assert {src.path for src in proxy if src.kind != "nginx"} == {"anime-saas-reverseproxy/Dockerfile",
                                                                  "anime-saas-reverseproxy/.github/workflows/ci.yml"}
    assert "anime-saas-reverseproxy/nginx.conf" in {src.path for src in proxy if src.kind == "nginx"}
    assert all(src.status == "ok" and src.commit == head and src.sha256 for src in proxy)
    assert s.verdict == "NO-GO"
    r = run_cli("review", "--repo", str(real_platform_repo))
    assert r.returncode == 1 and "NO-GO" in r.stdout
    r = run_cli("sources", "--repo", str(real_platform_repo))
    assert r.returncode == 1 and "global_rules" in r.stdout and "git submodule update --init -- anime-saas-api" in r.stdout


def test_other_charters_of_the_family_load_their_own_sources(realworld, tmp_path):
    """The Product charter lists Notion pages and databases and the README: pages load from the export."""
    root = tmp_path / "product"
    (root / "notion").mkdir(parents=True)
    (root / "README.md").write_text("# AnimeSphere\n")
    for page in ("Animesphere.io - Product Discovery", "Product Workspace", "UX Discovery - Parcours & MVP"):
        (root / "notion" / f"{page} 0123456789abcdef0123456789abcdef.md").write_text(f"# {page}\n")
    (root / "notion/Release 3f2a9c1e.csv").write_text(RELEASES, encoding="utf-8")
    (root / "notion/Intention 8b7d4e20.csv").write_text(INTENTIONS, encoding="utf-8")
    (root / ".devops-agent.yaml").write_text("notion:\n  export_dir: notion\n")
    s = open_session(root, charter=realworld / ".codex/agents/product.md", run_checks=False)
    by_path = {src.path: src for src in s.sources}
    assert by_path["README.md"].status == "ok" and by_path["README.md"].priority == 3
    pages = [src for src in s.sources if src.path.endswith(".md") and src.path.startswith("notion/")]
    assert len(pages) == 3 and all(p.status == "ok" and p.priority == 1 for p in pages)
    delivery = next(src for src in s.sources if "Delivery" in src.path)
    assert delivery.status == "missing" and "re-export" in delivery.message  # listed by the charter, not exported
    assert s.release.version == "0.5.0"


def test_compose_files_in_build_and_hidden_tool_folders_are_read(tmp_path):
    """Go's `build/docker/docker-compose.yml` and `.docker/docker-compose.yml` ship with the repository and are
    read; build output and dependencies (`dist/`, `node_modules/`, a hidden `.cache/`) are not."""
    repo = tmp_path / "repo"
    for rel in ("build/docker/docker-compose.yml", ".docker/docker-compose.yml", "dist/docker-compose.yml",
                ".devcontainer/docker-compose.yml",
                "node_modules/pkg/docker-compose.yml", ".cache/docker-compose.yml"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text("services:\n  app:\n    image: nginx:1.27.3\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "first")
    read = {s.path for s in open_session(repo).sources if s.kind == "compose"}
    assert {"build/docker/docker-compose.yml", ".docker/docker-compose.yml"} <= read
    assert not read & {"dist/docker-compose.yml", ".devcontainer/docker-compose.yml",
                        "node_modules/pkg/docker-compose.yml", ".cache/docker-compose.yml"}
