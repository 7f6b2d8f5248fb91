"""One cause, one finding: the required files of an uninitialised submodule are one SRC001 finding for the
submodule, listing its files as locations, with the one command that fixes it (through the real CLI)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import _git

CHARTER = """# Agent: DevOps Engineer (Shop)

## Sources de vérité (à charger)
- Docker: `docker-compose.yml`.
- Dockerfiles: dans chaque service (api, web).
- CI/CD: `api/.github/workflows/ci.yml`, `web/.github/workflows/ci.yml`

## Priorité des sources
1. Fichiers du repo (docker-compose*, Dockerfiles, workflows CI)
"""

WORKFLOW = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n"


def _service(upstream: Path, dockerfiles: list[str]) -> Path:
    (upstream / ".github" / "workflows").mkdir(parents=True)
    for name in dockerfiles:
        (upstream / name).write_text("FROM python:3.12-slim\nUSER app\nCMD [\"python\", \"-m\", \"app\"]\n")
    (upstream / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    _git(upstream, "init", "-q", "-b", "main")
    _git(upstream, "add", "-A")
    _git(upstream, "commit", "-q", "-m", "service")
    return upstream


def _clone_without_submodules(tmp_path: Path) -> Path:
    api = _service(tmp_path / "up" / "api", ["Dockerfile", "Dockerfile.worker"])
    web = _service(tmp_path / "up" / "web", ["Dockerfile"])
    root = tmp_path / "shop"
    (root / ".codex" / "agents").mkdir(parents=True)
    (root / ".codex" / "agents" / "devops-engineer.md").write_text(CHARTER)
    (root / "docker-compose.yml").write_text(
        "services:\n  api:\n    build: ./api\n  worker:\n    build:\n      context: ./api\n"
        "      dockerfile: Dockerfile.worker\n  web:\n    build: ./web\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(api), "api")
    _git(root, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(web), "web")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "shop")
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(root), str(clone))  # no --recurse-submodules
    return clone


def test_an_uninitialised_submodule_is_one_finding_with_its_files(tmp_path):
    repo = _clone_without_submodules(tmp_path)
    r = subprocess.run([sys.executable, "-m", "agent.cli", "review", "--repo", str(repo), "--format", "json"],
                       capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    assert r.returncode in (1, 3), r.stderr
    brief = json.loads(r.stdout)
    src001 = {f["title"].split()[1]: f for f in brief["findings"] if f["id"] == "SRC001"}
    assert set(src001) == {"api", "web"}, [f["title"] for f in brief["findings"] if f["id"] == "SRC001"]
    api, web = src001["api"], src001["web"]
    assert {l["path"] for l in api["locations"]} == {"api/Dockerfile", "api/Dockerfile.worker",
                                                     "api/.github/workflows/ci.yml"}
    assert {l["path"] for l in web["locations"]} == {"web/Dockerfile", "web/.github/workflows/ci.yml"}
    assert "3 required source(s)" in api["title"] and "Dockerfile.worker" in api["title"]
    assert api["command"] == "git submodule update --init -- api"
    assert api["fingerprint"] != web["fingerprint"]
    # each file is still named as a part that could not be checked, and the next step is one command each
    assert {g["what"] for g in brief["not_run"]} >= {"dockerfile source api/Dockerfile.worker",
                                                     "ci_workflow source web/.github/workflows/ci.yml"}
    commands = [s["command"] for s in brief["next_steps"]]
    assert sum("submodule update --init -- api" in c for c in commands) == 1
    assert sum("submodule update --init -- web" in c for c in commands) == 1
