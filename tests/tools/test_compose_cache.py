"""The cache of Compose runs is keyed on the variables the files use, not on the whole environment."""
from __future__ import annotations

from pathlib import Path

from conftest import require_binary

from tools.compose import load_compose

COMPOSE = """services:
  api:
    image: ghcr.io/acme/api:${API_TAG:-dev}
    environment:
      - LOG_LEVEL
    env_file: [api.env]
"""


def _project(root: Path) -> Path:
    root.mkdir()
    (root / "compose.yaml").write_text(COMPOSE)
    (root / "api.env").write_text("DATABASE_URL=mysql://db:3306/${DB_NAME}\n")
    (root / ".env").write_text("REGION=${CLOUD_REGION}\n")
    return root


def test_an_unrelated_variable_hits_the_cache_a_used_one_misses(tmp_path, monkeypatch):
    real = require_binary("docker-compose")
    log = tmp_path / "calls.log"
    wrapper = tmp_path / "bin" / "compose-wrapper"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("DEVOPS_AGENT_COMPOSE", str(wrapper))
    repo = _project(tmp_path / "repo")

    def runs() -> int:
        return sum(" config " in f" {line} " for line in log.read_text().splitlines()) if log.exists() else 0

    base = {"PATH": "/usr/bin:/bin", "API_TAG": "1.2.3", "LOG_LEVEL": "info", "DB_NAME": "app",
            "CLOUD_REGION": "eu-west-3"}
    first = load_compose([repo / "compose.yaml"], repo, env=base)
    assert first.model["services"]["api"]["image"] == "ghcr.io/acme/api:1.2.3"
    cold = runs()
    assert cold == 2  # the model, then with the env file resolved

    load_compose([repo / "compose.yaml"], repo, env={**base, "EDITOR": "vim", "SOME_TOKEN_OF_ANOTHER_TOOL": "x"})
    assert runs() == cold  # unrelated variables: both runs from the cache

    for name, value in (("API_TAG", "1.2.4"),  # `${API_TAG:-dev}` in the file
                        ("LOG_LEVEL", "debug"),  # listed without a value: taken from the environment
                        ("DB_NAME", "other"),  # referenced inside the env file
                        ("CLOUD_REGION", "us-east-1"),  # referenced inside the project's .env
                        ("COMPOSE_PROFILES", "tools")):  # read by Compose itself
        before = runs()
        load_compose([repo / "compose.yaml"], repo, env={**base, name: value})
        assert runs() > before, name
    model = load_compose([repo / "compose.yaml"], repo, env={**base, "LOG_LEVEL": "debug"}).model
    assert model["services"]["api"]["environment"]["LOG_LEVEL"] == "debug"  # a hit gives the same model
