"""A model endpoint that trickles one byte a second, or never answers, costs `ask` its budget
(DEVOPS_AGENT_TIMEOUT, wall clock for the whole call and its tries), not forever: one line, exit 2,
naming the tries and the setting."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "sources"))
from loop_fixtures import repo, template  # noqa: E402,F401  (fixtures)
from slow_endpoint import SlowEndpoint  # noqa: E402


def cli(repo: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args, "--repo", str(repo)], capture_output=True,
                          text=True, timeout=180, cwd=ROOT, env={**os.environ, "NO_COLOR": "1", **env})


@pytest.mark.parametrize("mode", ["trickle", "silent"])
def test_ask_against_a_slow_model_endpoint_returns_within_its_budget(repo, mode):
    with SlowEndpoint(mode) as slow:
        started = time.monotonic()
        r = cli(repo, "ask", "what is deployed?", env={"OPENAI_BASE_URL": slow.url + "/v1", "OPENAI_API_KEY": "",
                                                      "DEVOPS_AGENT_TIMEOUT": "2"})
        took = time.monotonic() - started
    print(f"{mode}: ask took {took:.1f} s")
    assert r.returncode == 2, r.stderr
    line = r.stderr.splitlines()[0]
    assert f"devops-agent: the model endpoint {slow.url}/v1 did not answer within 2 s (1 try); DEVOPS_AGENT_TIMEOUT" in line
    # the question of what it serves (abandoned at its own budget, nothing more asked) and the one call: no retry
    assert "Traceback" not in r.stderr and slow.connections == 2
    assert took < 60, took  # the session's load and one 2 s call; it never returned before


@pytest.mark.parametrize("mode", ["trickle", "silent"])
def test_diagnose_against_a_slow_engine_returns_within_its_budget(repo, mode):
    with SlowEndpoint(mode) as slow:
        host = slow.url.replace("http://", "tcp://")
        started = time.monotonic()
        r = cli(repo, "diagnose", env={"DOCKER_HOST": host, "DEVOPS_AGENT_DOCKER_TIMEOUT": "2"})
        took = time.monotonic() - started
    print(f"{mode}: diagnose took {took:.1f} s")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"devops-agent: the Docker engine at {host} did not answer within 2 s (1 try); "
                               "DEVOPS_AGENT_DOCKER_TIMEOUT sets the wait"), r.stderr
    assert "Traceback" not in r.stderr
    assert took < 60, took  # the session's load and one 2 s read; it never returned before


def test_a_docker_budget_that_is_not_seconds_is_one_line(repo):
    r = cli(repo, "diagnose", env={"DOCKER_HOST": "tcp://127.0.0.1:9", "DEVOPS_AGENT_DOCKER_TIMEOUT": "soon"})
    assert r.returncode == 2 and r.stderr.startswith("devops-agent: DEVOPS_AGENT_DOCKER_TIMEOUT='soon' is not a "
                                                     "number of seconds"), r.stderr
