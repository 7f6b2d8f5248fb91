"""Fail closed: a part of the review that could not run makes the verdict CANNOT-TELL (exit 3), never GO;
a blocker found still makes it NO-GO. Each cause through a real session, and every output that shows it."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent import render
from agent.session import open_session
from tools import compose as compose_tool
from tools import dockerfile as df_tool
from tools.checks import CHECKS
from tools.checks.registry import CheckSpec

COMPOSE = """services:
  web:
    build: ./web
    ports:
      - "8080:8080"
    restart: unless-stopped
"""
DOCKERFILE = """FROM python:3.12-slim
WORKDIR /app
COPY app.py .
USER nobody
EXPOSE 8080
CMD ["python", "-m", "http.server", "8080"]
"""


def _repo(root: Path, compose: str = COMPOSE) -> Path:
    (root / "web").mkdir(parents=True)
    (root / "compose.yaml").write_text(compose)
    (root / "web" / "Dockerfile").write_text(DOCKERFILE)
    (root / "web" / "app.py").write_text("print('hello')\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def _hanging_compose(tmp_path: Path) -> Path:
    """A Compose that answers `version` and then never finishes `config` (2,000 chained services do that)."""
    script = tmp_path / "bin" / "docker-compose"
    script.parent.mkdir(parents=True)
    script.write_text('#!/bin/sh\nif [ "$1" = version ]; then echo 2.99.0; exit 0; fi\nsleep 30\n')
    script.chmod(0o755)
    return script


@pytest.fixture
def repo(tmp_path) -> Path:
    return _repo(tmp_path / "repo")


def test_the_clean_fixture_is_go(repo):
    session = open_session(repo, signatures=False)
    assert session.verdict == "GO", [f.id for f in session.findings if f.severity == "blocker"]
    assert session.not_run == [] and session.exit_code == 0


def test_compose_that_times_out_is_cannot_tell_everywhere(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("DEVOPS_AGENT_COMPOSE", str(_hanging_compose(tmp_path)))
    monkeypatch.setattr(compose_tool, "TIMEOUT_SECONDS", 1)
    session = open_session(repo, signatures=False)
    assert session.verdict == "CANNOT-TELL" and session.exit_code == 3
    [gap] = session.not_run
    assert (gap.check, gap.what) == ("CMP017", "compose dev") and "did not finish in 1 s" in gap.reason

    brief = render.review_json(session)
    assert brief["verdict"] == "CANNOT-TELL"
    assert brief["not_run"] == [{"check": "CMP017", "what": "compose dev", "reason": gap.reason}]
    assert brief["next_steps"][0]["command"].startswith("devops-agent review")

    from tests.agent.test_sarif import github_errors, schema_errors

    whole = json.loads(json.dumps(render.review_sarif(session)))
    assert schema_errors(whole) == [] and github_errors(whole) == []
    sarif = render.review_sarif(session)["runs"][0]
    [invocation] = sarif["invocations"]
    assert invocation["executionSuccessful"] is False
    assert {"level": "error", "message": {"text": f"compose dev: {gap.reason}"},
            "descriptor": {"id": "CMP017"}} in invocation["toolExecutionNotifications"]
    assert sarif["properties"]["verdict"] == "CANNOT-TELL"

    markdown = render.review_markdown(session)
    assert "**Verdict: CANNOT-TELL**" in markdown and "## Could not check (1)" in markdown

    from rich.console import Console

    out = io.StringIO()
    monkeypatch.setattr(render, "console", lambda: Console(file=out, width=200, no_color=True))
    render.print_review(session)
    text = out.getvalue()
    assert "Could not check (1)" in text and "CMP017 compose dev: " in text
    assert text.rstrip().endswith("Verdict: CANNOT-TELL  (1 part(s) of the review could not run)")

    from agent.prompt import _parts

    parts = {p.title.split(" (")[0]: p for p in _parts(session, [])}
    assert "did not finish in 1 s" in parts["Could not check"].body and parts["Could not check"].rank == 1


def test_a_check_that_raises_is_cannot_tell(repo, monkeypatch):
    def broken(ctx, spec):
        raise KeyError("services")
        yield  # a generator, as checks are

    monkeypatch.setitem(CHECKS, "TST901", CheckSpec("TST901", "raises", "high", "availability",
                                                    ("authority", "x"), "none", broken))
    session = open_session(repo, signatures=False)
    assert session.verdict == "CANNOT-TELL"
    assert [(g.check, g.reason) for g in session.not_run] == [("TST901", "it raised KeyError: 'services'")]


def test_a_blocker_wins_over_cannot_tell(repo, monkeypatch):
    def breaks_a_deploy(ctx, spec):
        yield spec.finding(ctx, "web: the image cannot be pulled")

    monkeypatch.setitem(CHECKS, "TST902", CheckSpec("TST902", "raises", "high", "availability",
                                                    ("authority", "x"), "none", lambda ctx, spec: 1 / 0))
    monkeypatch.setitem(CHECKS, "TST903", CheckSpec("TST903", "a blocker", "blocker", "availability",
                                                    ("authority", "x"), "none", breaks_a_deploy))
    session = open_session(repo, signatures=False)
    assert [f.id for f in session.findings if f.severity == "blocker"] == ["TST903"]
    assert [g.check for g in session.not_run] == ["TST902"]
    assert session.verdict == "NO-GO" and session.exit_code == 1


def test_an_environment_compose_refuses_is_never_go(tmp_path):
    # a dev file Compose refuses (a finding below blocker there): its checks did not run, so no GO
    repo = _repo(tmp_path / "repo", COMPOSE + "    links: [1]\n")
    session = open_session(repo, signatures=False)
    assert {(g.check, g.what) for g in session.not_run} & {("CMP001", "compose dev"), ("CMP002", "compose dev")}
    blocked = any(f.severity == "blocker" for f in session.findings)
    assert session.verdict == ("NO-GO" if blocked else "CANNOT-TELL")


def test_hadolint_absent_is_cannot_tell(repo, monkeypatch):
    monkeypatch.setattr(df_tool.hadolint, "hadolint_binary", lambda: None)
    session = open_session(repo, signatures=False)
    assert session.verdict == "CANNOT-TELL"
    assert [(g.check, g.what) for g in session.not_run] == [("DKF007", "hadolint")]
    assert "not found" in session.not_run[0].reason


def test_release_check_is_cannot_tell_too(repo, monkeypatch):
    from tools.deliverables import release_verdict

    monkeypatch.setattr(df_tool.hadolint, "hadolint_binary", lambda: None)
    session = open_session(repo, signatures=False)
    assert release_verdict(session, []) == "CANNOT-TELL"
    assert release_verdict(session, [{"id": "B1", "reason": "hold"}]) == "NO-GO"


def test_cli_exits_3_and_says_why(repo):
    env = {**os.environ, "NO_COLOR": "1", "DEVOPS_AGENT_COMPOSE": "none",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "review", "--format", "json", "--repo", str(repo)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 3, proc.stderr
    data = json.loads(proc.stdout)
    assert data["verdict"] == "CANNOT-TELL" and data["not_run"][0]["what"] == "compose dev"
    help_text = subprocess.run([sys.executable, "-m", "agent.cli", "review", "--help"], capture_output=True,
                               text=True, env=env).stdout
    assert "3 CANNOT-TELL" in help_text
