"""Issue 18: the `ci` and `compose` views say what they could not read or had to assume, through the real CLI
on a tiny git repository (a submodule not checked out, a variable nothing sets)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main",
       "-c", "protocol.file.allow=always"]
WORKFLOW = ("on:\n  push:\n    branches: [main]\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
            "      - uses: actions/checkout@v4\n      - run: docker build -t ghcr.io/acme/api:main-${{ github.sha }} .\n")


def make_repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    subprocess.run(GIT + ["init", "-q"], cwd=root, check=True)
    subprocess.run(GIT + ["add", "-A"], cwd=root, check=True)
    subprocess.run(GIT + ["commit", "-qm", "init", "--no-verify"], cwd=root, check=True)
    return root


def cli(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args, "--repo", str(repo)], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "NO_COLOR": "1"})


def _platform(tmp_path: Path, checked_out: bool) -> Path:
    api = make_repo(tmp_path / "api-src", {".github/workflows/ci.yml": WORKFLOW, "Dockerfile": "FROM nginx:1.27.3\n"})
    root = make_repo(tmp_path / "platform", {"docker-compose.yml": "services:\n  api:\n    image: ghcr.io/acme/api:1.0.0\n"})
    subprocess.run(GIT + ["submodule", "add", "-q", str(api), "api"], cwd=root, check=True, capture_output=True)
    subprocess.run(GIT + ["commit", "-qam", "api as a submodule"], cwd=root, check=True)
    if not checked_out:
        subprocess.run(GIT + ["submodule", "deinit", "-q", "-f", "api"], cwd=root, check=True)
    return root


def test_ci_says_every_workflow_sits_in_a_submodule_not_checked_out(tmp_path):
    root = _platform(tmp_path, checked_out=False)
    r = cli(root, "ci")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines() == [
        "no workflow read: the workflows of 1 submodule(s) not checked out (api) cannot be read: "
        "run `git submodule update --init`"]
    [entry] = json.loads(cli(root, "ci", "--format", "json").stdout)
    assert entry["path"].startswith("api/.github/workflows/") and entry["status"] == "missing"
    assert entry["ok"] is False and entry["jobs"] == [] and entry["images"] == []  # a summary's shape, nothing read
    assert "git submodule update --init -- api" in entry["message"]


def test_ci_of_a_checked_out_submodule_shows_its_workflow(tmp_path):
    root = _platform(tmp_path, checked_out=True)
    r = cli(root, "ci")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("api/.github/workflows/ci.yml") and "not read" not in r.stdout


def test_compose_lists_the_variables_nothing_set(tmp_path):
    root = make_repo(tmp_path / "platform", {
        "docker-compose.yml": "services:\n  api:\n    image: ghcr.io/acme/api:${API_TAG}\n"
                              "    environment:\n      SMTP_RELAY: ${SMTP_RELAY}\n      LOG_LEVEL: info\n"})
    r = cli(root, "compose", "--env", "dev")
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("dev: 2 variable(s) not set, rendered with: API_TAG (") and "SMTP_RELAY (" in last
    model = json.loads(cli(root, "compose", "--env", "dev", "--format", "json").stdout)
    assert sorted(model["x-unset-variables"]) == ["API_TAG", "SMTP_RELAY"]
    assert model["services"]["api"]["environment"]["LOG_LEVEL"] == "info"


def test_compose_with_every_variable_set_says_nothing_more(tmp_path):
    root = make_repo(tmp_path / "platform", {"docker-compose.yml": "services:\n  api:\n    image: ghcr.io/acme/api:1.0.0\n"})
    r = cli(root, "compose", "--env", "dev")
    assert r.returncode == 0, r.stderr
    assert "not set" not in r.stdout
    assert json.loads(cli(root, "compose", "--env", "dev", "--format", "json").stdout)["x-unset-variables"] == {}
