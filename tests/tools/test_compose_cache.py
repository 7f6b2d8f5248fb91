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


def _logged_compose(tmp_path: Path, monkeypatch) -> Path:
    """Compose behind a wrapper that logs each call's arguments; the log's path."""
    real = require_binary("docker-compose")
    log = tmp_path / "calls.log"
    wrapper = tmp_path / "bin" / "compose-wrapper"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("DEVOPS_AGENT_COMPOSE", str(wrapper))
    return log


def _config_runs(log: Path) -> int:
    return sum(" config " in f" {line} " for line in log.read_text().splitlines()) if log.exists() else 0


def test_an_unrelated_variable_hits_the_cache_a_used_one_misses(tmp_path, monkeypatch):
    log = _logged_compose(tmp_path, monkeypatch)
    repo = _project(tmp_path / "repo")

    def runs() -> int:
        return _config_runs(log)

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


def test_the_same_files_in_another_folder_share_the_entry_with_their_own_paths(tmp_path, monkeypatch):
    """A second checkout (another folder of the same name) is served the first one's runs, its own paths put back;
    a folder of another name (another project name) or other content runs Compose again."""
    log = _logged_compose(tmp_path, monkeypatch)
    compose = "services:\n  api:\n    build: ./api\n    volumes: [./data:/data]\n"
    env = {"PATH": "/usr/bin:/bin"}

    def checkout(parent: str, name: str = "shop", text: str = compose) -> Path:
        root = tmp_path / parent / name
        (root / "api").mkdir(parents=True)
        (root / "compose.yaml").write_text(text)
        return root

    def runs() -> int:
        return _config_runs(log)

    first = checkout("a")
    load_compose([first / "compose.yaml"], first, env=env)
    cold = runs()
    second = checkout("b")
    model = load_compose([second / "compose.yaml"], second, env=env).model
    assert runs() == cold  # served from the first checkout's entry
    api = model["services"]["api"]
    assert api["build"]["context"] == str(second / "api") and str(first) not in str(model)
    assert any(v.get("source") == str(second / "data") for v in api["volumes"])
    assert model["name"] == "shop"
    other = checkout("c", name="shop-two")
    assert load_compose([other / "compose.yaml"], other, env=env).model["name"] == "shop-two"
    assert runs() > cold  # another project name
    before = runs()
    changed = checkout("d", text=compose.replace("./data", "./state"))
    load_compose([changed / "compose.yaml"], changed, env=env)
    assert runs() > before  # other content
    again = runs()
    load_compose([first / "compose.yaml"], first, env=env)
    assert runs() == again  # each variant keeps its own entry: the first is still served


def test_output_that_reaches_outside_the_folders_is_never_moved(tmp_path, monkeypatch):
    """`../shared` resolves beside the checkout: a second checkout elsewhere must get its own path, so that
    entry stays bound to the first checkout's folders."""
    log = _logged_compose(tmp_path, monkeypatch)
    compose = "services:\n  api:\n    image: nginx:1.27\n    volumes: [../shared:/shared]\n"
    models = []
    for parent in ("a", "b"):
        root = tmp_path / parent / "shop"
        root.mkdir(parents=True)
        (root / "compose.yaml").write_text(compose)
        models.append(load_compose([root / "compose.yaml"], root, env={"PATH": "/usr/bin:/bin"}).model)
    sources = [m["services"]["api"]["volumes"][0]["source"] for m in models]
    assert sources == [str(tmp_path / "a" / "shared"), str(tmp_path / "b" / "shared")]
    assert _config_runs(log) == 2
