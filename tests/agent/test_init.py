"""`devops-agent init`: a charter and .devops-agent.yaml from what the repo holds."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from agent.core.charter import parse_charter
from tests.tools.test_environments import LATEST, SERVICE, make_repo

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=120)


def fresh(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "shop", {
        "compose.yaml": SERVICE, "compose.prod.yaml": LATEST,
        "api/Dockerfile": "FROM python:3.12-slim\nUSER app\n",
        "Makefile": "deploy:\n\tdocker compose -f compose.yaml -f compose.prod.yaml up -d\n",
        "scripts/ci.sh": "docker compose -f $CI_FILE run tests\n",
        ".github/workflows/ci.yml": "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n"
                                    "      - run: echo ok\n"})


def test_without_init_the_bundled_charter_is_said_once(tmp_path):
    repo = fresh(tmp_path)
    data = json.loads(cli("review", "--repo", str(repo), "--format", "json").stdout)
    said = [f for f in data["findings"] if f["id"] == "SRC007"]
    assert len(said) == 1 and said[0]["severity"] == "info" and "devops-agent init" in said[0]["remediation"]


def test_init_then_review_has_no_animesphere_sources(tmp_path):
    repo = fresh(tmp_path)
    r = cli("init", "--repo", str(repo))
    assert r.returncode == 0, r.stderr
    assert "next: devops-agent review" in r.stdout
    config = (repo / ".devops-agent.yaml").read_text()
    data = yaml.safe_load(config)
    assert data["environments"] == {"prod": ["compose.yaml", "compose.prod.yaml"]}
    assert "# from Makefile:2" in config and "$CI_FILE" in config and "scripts/ci.sh:1" in config
    charter = parse_charter(repo / ".codex/agents/devops-engineer.md")
    assert charter.project == "shop"
    kinds = {s.kind for s in charter.sources}
    assert kinds == {"compose", "dockerfile", "ci_workflow"}
    text = (repo / ".codex/agents/devops-engineer.md").read_text()
    assert "Notion" not in text.split("## Priorite")[0].split("## Sources")[1]
    assert "/Users/" not in text and "AnimeSphere" not in text
    out = json.loads(cli("review", "--repo", str(repo), "--format", "json").stdout)
    assert out["charter"]["origin"] == "repo"
    assert not [f for f in out["findings"] if f["id"] in ("SRC001", "SRC007")], out["findings"]
    assert all(s["status"] == "ok" for s in out["sources"])
    assert {f["locations"][0]["path"] for f in out["findings"] if f["id"] == "CMP003"} == {"compose.prod.yaml"}


def test_init_binds_notion_and_rules(tmp_path):
    repo = fresh(tmp_path)
    (repo / "notion").mkdir()
    (repo / "notion" / "Release 1234abcd.csv").write_text("Name,Status,Version\nR1,En cours,1.0\n")
    (repo / "notion" / "Intention 5678abcd.csv").write_text("Name,Status,Release\n")
    rules = tmp_path / "rules.md"
    rules.write_text("# Rules\n\n## Containerisation\n\n- pin images\n")
    r = cli("init", "--repo", str(repo), "--notion-export", "notion", "--rules", str(rules))
    assert r.returncode == 0, r.stderr
    data = yaml.safe_load((repo / ".devops-agent.yaml").read_text())
    assert data["notion"] == {"export_dir": "notion"} and data["rules_file"] == str(rules)
    charter = parse_charter(repo / ".codex/agents/devops-engineer.md")
    by_kind = {s.kind: s for s in charter.sources}
    assert {"notion", "rules"} <= set(by_kind)
    assert by_kind["notion"].priority == 1
    out = json.loads(cli("sources", "--repo", str(repo), "--format", "json").stdout)
    assert {s["kind"] for s in out["sources"] if s["status"] == "ok"} >= {"notion", "rules", "compose"}


def test_init_refuses_to_overwrite(tmp_path):
    repo = fresh(tmp_path)
    (repo / ".devops-agent.yaml").write_text("environments:\n  dev: [compose.yaml]\n")
    r = cli("init", "--repo", str(repo))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "--force" in r.stderr
    assert not (repo / ".codex").exists()
    r = cli("init", "--repo", str(repo), "--force")
    assert r.returncode == 0, r.stderr
    assert "prod" in yaml.safe_load((repo / ".devops-agent.yaml").read_text())["environments"]
    r = cli("init", "--repo", str(repo))
    assert r.returncode == 2 and ".devops-agent.yaml already exists" in r.stderr


def test_template_is_a_charter():
    from agent.commands.init import charter_text

    charter = parse_charter_text_of(charter_text("x", {"compose": ["compose.yaml"], "dockerfile": [],
                                                        "ci_workflow": [], "docs": []}, notion=False, rules=None))
    assert [s.kind for s in charter.sources] == ["compose"] and charter.sources[0].priority == 1


def parse_charter_text_of(text: str):
    from agent.core.charter import parse_charter_text

    return parse_charter_text(text)
