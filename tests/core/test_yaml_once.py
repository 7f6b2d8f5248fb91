"""Each YAML file is parsed once per review, and measuring a document without aliases is cheap yet still
bounded (depth, size)."""
from __future__ import annotations

import subprocess
from collections import Counter

import pytest

from agent.core import yaml_safe


def test_an_alias_free_document_is_measured_as_a_tree_and_still_bounded(monkeypatch):
    slow = Counter()
    real = yaml_safe._measure
    monkeypatch.setattr(yaml_safe, "_measure", lambda node, what: (slow.update([what]), real(node, what)))
    assert yaml_safe.load("a:\n  b: [1, 2]\n", "plain") == {"a": {"b": [1, 2]}}
    assert slow["plain"] == 0  # no alias: the cheap walk
    assert yaml_safe.load("a: &x [1]\nb: *x\n", "aliased") == {"a": [1], "b": [1]}
    assert slow["aliased"] == 1  # an alias may share nodes: the full measure
    deep = "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 70)) + "  " * 70 + "v\n"
    with pytest.raises(yaml_safe.YamlLimitError, match="nested more than 64"):
        yaml_safe.load(deep, "deep")
    flow = "[" * 70 + "]" * 70
    with pytest.raises(yaml_safe.YamlLimitError, match="nested more than 64"):
        yaml_safe.load_all(flow, "deep flow")
    monkeypatch.setattr(yaml_safe, "MAX_EXPANDED_NODES", 50)
    with pytest.raises(yaml_safe.YamlLimitError, match="more than 50 values"):
        yaml_safe.load_node("\n".join(f"k{i}: v" for i in range(40)), "wide")


FILES = {
    "compose.yaml": "include: [db.yaml]\nservices:\n  web:\n    build: ./web\n    restart: unless-stopped\n"
                    "    depends_on: [db]\n",
    "db.yaml": "services:\n  db:\n    image: postgres:16.3\n    restart: unless-stopped\n",
    "web/Dockerfile": "FROM python:3.12-slim\nUSER nobody\nCMD [\"python\", \"-m\", \"http.server\"]\n",
    ".github/workflows/ci.yml": "name: CI\non:\n  push:\n    branches: [main]\njobs:\n  test:\n"
                                "    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n",
    ".github/workflows/release.yaml": "name: Release\non: [workflow_dispatch]\njobs:\n  build:\n"
                                      "    runs-on: ubuntu-latest\n    steps:\n      - run: make image\n",
    ".devops-agent.yaml": "environments:\n  dev: [compose.yaml]\n",
    "web/locales/en.yml": "greeting: Hello\n",
}


@pytest.mark.parametrize("own_charter", [False, True])  # the generic charter, or one that forbids new tools
def test_a_review_parses_each_yaml_file_once(tmp_path, monkeypatch, own_charter):
    import importlib.resources

    import yaml

    from agent.session import open_session

    root = tmp_path / "repo"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    if own_charter:  # its CHR001 reads every YAML file of the repository for new tools
        charter = root / ".codex/agents/devops-engineer.md"
        charter.parent.mkdir(parents=True)
        charter.write_text((importlib.resources.files("prompts") / "devops-engineer.md").read_text(encoding="utf-8"))
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    by_text = {text: rel for rel, text in FILES.items()}
    parses: Counter = Counter()

    def counted(fn):
        def parse(text, *args, **kwargs):
            parses[by_text.get(text.decode() if isinstance(text, bytes) else text, "<other>")] += 1
            return fn(text, *args, **kwargs)
        return parse

    for name in ("load", "load_node", "load_all"):
        monkeypatch.setattr(yaml_safe, name, counted(getattr(yaml_safe, name)))
    for name in ("safe_load", "safe_load_all", "load", "load_all", "compose", "compose_all"):
        monkeypatch.setattr(yaml, name, counted(getattr(yaml, name)))

    session = open_session(root, signatures=False)
    from tools.checks import CHECKS

    assert CHECKS["CHR001"].stated_by(session.charter) is own_charter
    workflows = session.platform().workflows
    assert {p: wf.ok for p, wf in workflows.items()} == {".github/workflows/ci.yml": True,
                                                          ".github/workflows/release.yaml": True}
    assert workflows[".github/workflows/ci.yml"].triggers  # read from the source's own parse
    assert "db" in session.platform().environments["dev"].services
    yaml_files = [rel for rel in FILES if rel.endswith((".yml", ".yaml")) and rel != "web/locales/en.yml"]
    assert {rel: parses[rel] for rel in yaml_files} == {rel: 1 for rel in yaml_files}
    assert parses["web/locales/en.yml"] == 0  # not a source, and it cannot declare a tool: never parsed


def test_tool_detection_parses_a_yaml_file_at_most_once(monkeypatch):
    from tools import facts

    calls: Counter = Counter()
    real = yaml_safe.load_all
    monkeypatch.setattr(yaml_safe, "load_all", lambda text, *a: (calls.update([text]), real(text, *a))[1])
    manifest = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n"
    playbook = "- hosts: web\n  tasks:\n    - name: ping\n      ping: {}\n"
    locale = "greeting: Hello\nfarewell: Goodbye\n"
    assert facts.tools_in("deploy/api.yaml", manifest, commands=False, images=False) == {
        "kubernetes": "Kubernetes manifest (kind Deployment)"}
    assert set(facts.tools_in("ops/site.yml", playbook, commands=False, images=False)) == {"ansible"}
    assert facts.tools_in("web/locales/en.yml", locale, commands=False, images=False) == {}
    assert calls == Counter({manifest: 1, playbook: 1})  # the locale file is never parsed
