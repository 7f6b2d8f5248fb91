"""The CLI end to end on the example platform: the contract of DESIGN.md."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agent.example import init_example


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1", **(env or {})})


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    return init_example(tmp_path_factory.mktemp("ex") / "animesphere")


def test_review_json_on_example_loads_every_source(example):
    r = cli("review", "--repo", str(example), "--format", "json")
    data = json.loads(r.stdout)
    assert {"role", "verdict", "sources", "findings"} <= set(data)
    assert data["role"] == "DevOps Engineer"
    assert all(s["status"] == "ok" and len(s["sha256"]) == 64 for s in data["sources"])
    kinds = {s["kind"] for s in data["sources"]}
    assert kinds == {"notion", "compose", "script", "dockerfile", "ci_workflow", "docs", "rules", "nginx"}
    subs = {s["submodule"] for s in data["sources"] if s["submodule"]}
    assert subs == {"anime-saas-api", "anime-saas-front", "anime-saas-mlservice", "anime-saas-agent",
                    "anime-saas-reverseproxy"}
    for s in data["sources"]:
        repo = example / s["submodule"] if s["submodule"] else example
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
        assert s["commit"] == head
    assert data["release"]["version"] == "0.5.0" and len(data["release"]["intentions"]) == 5
    assert r.returncode == (0 if data["verdict"] == "GO" else 1)


def test_review_text_and_markdown(example):
    r = cli("review", "--repo", str(example))
    assert "DevOps Engineer" in r.stdout and "Verdict:" in r.stdout and "\x1b[" not in r.stdout
    assert "INT-13" in r.stdout and "Garde-fous" not in r.stdout.split("Guardrails")[0]
    md = cli("review", "--repo", str(example), "--format", "markdown").stdout
    assert md.startswith("# DevOps Engineer") and "| status | kind |" in md and "**Verdict:" in md


def test_charter_command(example):
    r = cli("charter", "--repo", str(example), "--format", "json")
    data = json.loads(r.stdout)
    assert r.returncode == 0 and data["role"] == "DevOps Engineer"
    assert sorted({s["priority"] for s in data["sources"] if s["priority"]}) == [1, 2, 3]
    text = cli("charter", "--repo", str(example)).stdout
    assert "Priority (in case of conflict)" in text


def test_a_repo_without_a_charter_gets_the_generic_one_not_animesphere(tmp_path):
    r = cli("sources", "--repo", str(tmp_path), "--format", "json")
    assert r.returncode == 0, r.stderr  # nothing the generic charter names is required by name
    data = json.loads(r.stdout)
    assert data["role"] == "DevOps Engineer" and data["counts"].get("missing", 0) == 0
    text = json.dumps(data)
    assert "anime-saas" not in text and "notion" not in text.lower() and "windsurf" not in text
    review = json.loads(cli("review", "--repo", str(tmp_path), "--format", "json").stdout)
    assert review["charter"]["origin"] == "generic"
    assert [f["id"] for f in review["findings"] if f["id"] == "SRC007"] == ["SRC007"]
    assert "devops-agent init" in next(f for f in review["findings"] if f["id"] == "SRC007")["remediation"]


def test_usage_errors_exit_2_without_traceback():
    for args in (["nope"], ["review", "--format", "xml"]):
        r = cli(*args)
        assert r.returncode == 2 and "Traceback" not in r.stderr and "Error" in r.stderr


def test_example_init_refuses_non_empty_dir(tmp_path):
    (tmp_path / "x").write_text("keep me")
    r = cli("example", "init", str(tmp_path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert (tmp_path / "x").read_text() == "keep me"


def test_no_heavy_imports_for_light_commands(example):
    heavy = re.compile(r"\|\s+(langchain\w*|langgraph\w*|openai|mcp|docker)(\.\w+)*\s*$")
    for args in (["--help"], ["charter", "--repo", str(example)], ["sources", "--repo", str(example)],
                 ["review", "--repo", str(example)]):
        r = cli(*args, env={"PYTHONPROFILEIMPORTTIME": "1"})
        found = {m.group(1) for line in r.stderr.splitlines() if (m := heavy.search(line))}
        assert not found, f"{args[0]} imports {found}"


def test_readme_quick_start_main_job(tmp_path):
    """The README's first command: the installed console script builds the example and reviews it."""
    from conftest import require_binary

    exe = require_binary("devops-agent")
    dest = tmp_path / "animesphere"
    r = subprocess.run([exe, "example", "init", str(dest)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([exe, "review", "--repo", str(dest)], capture_output=True, text=True,
                       env={**os.environ, "NO_COLOR": "1"})
    assert r.returncode == 1 and "Verdict: NO-GO" in r.stdout  # the example carries blockers on purpose
    assert "Traceback" not in r.stderr
