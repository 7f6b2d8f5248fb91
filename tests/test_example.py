"""`example init`: the AnimeSphere platform as a real git repo with five real submodules."""
from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import require_binary

from agent.core.config import load_config
from agent.core.errors import UserError
from agent.example import DEFECTS_FILE, RELEASE_TAG, SERVICES, example_data, init_example
from sources.git import run_git

_DEFECT_LINE = re.compile(r"- `([^`]+):(\d+)` (\S+)")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_example(tmp_path_factory.mktemp("example") / "animesphere")


def _git(repo: Path, *args: str) -> str:
    return run_git(list(args), repo).strip()


def _defects() -> list[tuple[str, int, str]]:
    text = (example_data() / DEFECTS_FILE).read_text(encoding="utf-8")
    return [(m[1], int(m[2]), m[3]) for m in map(_DEFECT_LINE.match, text.splitlines()) if m]


def test_submodules_are_initialised_repos_with_two_commits_on_main(platform: Path) -> None:
    status = run_git(["submodule", "status"], platform).splitlines()
    assert len(status) == len(SERVICES) == 5
    # A leading "-" is uninitialised, "+" a checkout that differs from the recorded commit.
    assert all(line.startswith(" ") for line in status), status
    for service in SERVICES:
        repo = platform / service
        assert (repo / ".git").exists()
        assert _git(repo, "rev-parse", "--show-toplevel") == str(repo)
        assert _git(repo, "branch", "--show-current") == "main"
        assert _git(repo, "rev-list", "--count", "main") == "2"
        assert (repo / ".github" / "workflows" / "ci.yml").is_file()


def test_gitmodules_track_main_with_self_contained_upstreams(platform: Path) -> None:
    for service in SERVICES:
        key = f"submodule.{service}"
        assert _git(platform, "config", "-f", ".gitmodules", f"{key}.branch") == "main"
        url = _git(platform, "config", "-f", ".gitmodules", f"{key}.url")
        assert (platform / url / "HEAD").is_file(), url


def test_superproject_is_clean_and_tagged_with_history_since_the_tag(platform: Path) -> None:
    assert _git(platform, "status", "--porcelain", "--ignore-submodules=none") == ""
    assert _git(platform, "branch", "--show-current") == "main"
    assert _git(platform, "tag", "--list") == RELEASE_TAG
    since = _git(platform, "rev-list", "--count", f"{RELEASE_TAG}..HEAD")
    assert int(since) >= 1
    assert not (platform / DEFECTS_FILE).exists()


def test_release_tag_pins_the_older_service_commits(platform: Path) -> None:
    for service in SERVICES:
        at_tag = _git(platform, "rev-parse", f"{RELEASE_TAG}:{service}")
        assert at_tag == _git(platform / service, "rev-parse", "main~1")
    old = _git(platform / "anime-saas-mlservice", "show", "main~1:Dockerfile")
    new = (platform / "anime-saas-mlservice" / "Dockerfile").read_text()
    assert "EXPOSE 5000" in old and "EXPOSE 8000" in new
    assert "python:3.10-slim" in old and "python:3.11-slim" in new
    old_api = _git(platform / "anime-saas-api", "show", "main~1:Dockerfile")
    assert "USER" not in old_api and "EXPOSE 80\n" in old_api + "\n"


def test_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    (tmp_path / "somefile").write_text("x")
    with pytest.raises(UserError) as err:
        init_example(tmp_path)
    assert "not an empty directory" in err.value.message and err.value.hint
    assert [p.name for p in tmp_path.iterdir()] == ["somefile"]
    with pytest.raises(UserError):
        init_example(tmp_path / "somefile")


def test_empty_dir_without_git_identity_gives_the_same_commits(
    platform: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_config = tmp_path / "gitconfig"
    empty_config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty_config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    dest = tmp_path / "again"
    dest.mkdir()
    assert init_example(dest) == dest.resolve()
    assert _git(dest, "rev-parse", "HEAD") == _git(platform, "rev-parse", "HEAD")


def test_every_file_in_defects_exists_at_that_line(platform: Path) -> None:
    defects = _defects()
    assert len(defects) >= 15
    for path, line, _ in defects:
        target = platform / path
        assert target.is_file(), path
        assert 1 <= line <= len(target.read_text(encoding="utf-8").splitlines()), f"{path}:{line}"


def test_project_config_binds_existing_sources(platform: Path) -> None:
    config, used = load_config(platform)
    assert used == platform / ".devops-agent.yaml"
    assert config.environments == {"dev": ["docker-compose.yml"], "prod": ["docker-compose.prod.yml"]}
    assert (platform / config.rules_file).is_file()
    assert "## Containerisation" in (platform / config.rules_file).read_text(encoding="utf-8")
    assert (platform / config.notion.export_dir).is_dir()
    assert all((platform / note).is_file() for note in config.deploy_notes)


def test_notion_export_has_one_current_release(platform: Path) -> None:
    export = platform / "notion-export"
    release_csv = export / "Release 3f2a9c1e.csv"
    assert release_csv.read_bytes().startswith(b"\xef\xbb\xbf")
    with release_csv.open(encoding="utf-8-sig", newline="") as f:
        releases = list(csv.DictReader(f))
    assert list(releases[0]) == ["Name", "Version", "Status", "Target date", "Intentions"]
    by_status = {r["Status"]: r["Version"] for r in releases}
    assert by_status == {"En cours": "0.5.0", "Livrée": "0.4.0", "Planifiée": "0.6.0"}
    with (export / "Intention 8b7d4e20.csv").open(encoding="utf-8-sig", newline="") as f:
        intentions = list(csv.DictReader(f))
    assert list(intentions[0]) == ["ID", "Name", "Release", "Status", "Problème utilisateur", "Hypothèse",
                                   "Valeur attendue", "Critère de succès", "Contraintes infra"]
    current = next(r["Name"] for r in releases if r["Status"] == "En cours")
    in_current = [i for i in intentions if i["Release"].startswith(f"{current} (https://www.notion.so/")]
    assert 3 <= len(in_current) <= 5
    assert any(i["Status"] == "Validée" and "Healthcheck" in i["Contraintes infra"] for i in in_current)
    assert any(i["Status"] == "Proposée" and "observabilité" in i["Contraintes infra"] for i in in_current)
    assert not any("staging" in i["Contraintes infra"].lower() for i in intentions)


def test_charters_are_the_real_ones(platform: Path, realworld: Path) -> None:
    for name in ("devops-engineer.md", "product.md"):
        real = realworld / ".codex" / "agents" / name
        assert (platform / ".codex" / "agents" / name).read_bytes() == real.read_bytes()


@pytest.mark.parametrize("compose_file", ["docker-compose.yml", "docker-compose.prod.yml"])
def test_compose_files_are_valid(platform: Path, compose_file: str) -> None:
    binary = require_binary("docker-compose")
    # Deploy-time env files exist only on the server; they are git-ignored, so the repo stays clean.
    made = []
    for example in sorted((platform / "config").glob("*/.env.example")):
        target = example.with_name(".env")
        shutil.copyfile(example, target)
        made.append(target)
    try:
        proc = subprocess.run(
            [binary, "--env-file", ".env.example", "-f", compose_file, "config", "-q"],
            cwd=platform, capture_output=True, text=True, timeout=60,
        )
    finally:
        for target in made:
            target.unlink()
    assert proc.returncode == 0, proc.stderr
    assert "variable is not set" not in proc.stderr, proc.stderr
