"""The one service under every front end (agent/toolbox.py): one call with a typed outcome, the pause derived from
the catalogue's kind, a source's text quoted as data for every model, one propose, one checklist, one proposal view;
and the crash log an unexpected error leaves."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).parent))
from gate_helpers import GOOD, RESTART, make_patch, repo, template  # noqa: E402,F401  (fixtures)

from agent import toolbox  # noqa: E402
from tools.catalog import CATALOG  # noqa: E402


def _meta() -> dict:
    return {k.lstrip("-"): v for k, v in zip(GOOD[::2], GOOD[1::2])}


def test_only_the_catalogues_apply_kind_pauses():
    paused = [t.name for t in CATALOG if toolbox.pauses(t.name)]
    assert paused == [t.name for t in CATALOG if t.kind == "apply"] == ["apply_change"]
    assert not toolbox.pauses("read_source") and not toolbox.pauses("propose_change") and not toolbox.pauses("nope")


def test_one_call_types_its_outcome_and_an_unsigned_apply_is_never_run(repo, tmp_path):
    platform, _ = repo
    box = toolbox.Toolbox(platform)
    patch = make_patch(platform, *RESTART, tmp_path / "p.diff").read_text()
    proposed = toolbox.run_tool(box, lambda t: t, "propose_change", {"patch": patch, "scope": "compose", **_meta()})
    assert proposed.status == toolbox.OK and proposed.ok
    pid = json.loads(proposed.text)["id"]
    logged: list[tuple[str, str]] = []
    waiting = toolbox.run_tool(box, lambda t: t, "apply_change", {"proposal_id": pid},
                               log=lambda kind, name, text, ms: logged.append((kind, name)))
    assert waiting.status == toolbox.WAITS_FOR_PRODUCT and not waiting.ok
    assert f"devops-agent approve {pid}" in waiting.text and "You cannot approve it" in waiting.text
    assert box.proposal(pid).status == "pending"  # the gate was never asked to apply it
    assert logged == [("tool_call", "apply_change"), ("tool_error", "apply_change")]
    unknown = toolbox.run_tool(box, lambda t: t, "apply_change", {"proposal_id": "p-nope"})
    assert unknown.status == toolbox.ERROR and unknown.text.startswith("error: ")
    too_big = toolbox.run_tool(box, lambda t: t, "propose_change", {"patch": "x" * (toolbox.MAX_CALL_BYTES + 1)})
    assert too_big.status == toolbox.ERROR and "byte cap" in too_big.text


def test_read_source_is_quoted_as_data_for_every_front_end(repo):
    platform, _ = repo
    out = toolbox.run_tool(toolbox.Toolbox(platform), lambda t: t, "read_source",
                           {"path": "docker-compose.prod.yml", "start_line": 1, "end_line": 3})
    text = json.loads(out.text)["text"]
    assert out.ok and text.startswith("<data") and text.rstrip().endswith("</data>"), text
    assert "docker-compose.prod.yml lines 1-3" in text


def test_an_unexpected_error_writes_a_crash_log_with_the_command_and_no_secret(tmp_path, agent_home, monkeypatch):
    from agent import crash

    try:
        raise RuntimeError("boom while reading DB_PASSWORD=hunter2secret")
    except RuntimeError as exc:
        error = exc
        path = crash.write(exc, ["devops-agent", "propose", "--set", "x.yml:DB_PASSWORD=hunter2secret"], "cli")
    assert path is not None and path.parent == agent_home / "logs" / "crash"
    text = path.read_text()
    assert "devops-agent" in text and "crashed in cli" in text and "python:" in text
    assert "Traceback (most recent call last)" in text and "RuntimeError: boom" in text
    assert "command: devops-agent propose --set" in text
    assert "hunter2secret" not in text
    assert oct(path.stat().st_mode)[-3:] == "600"
    line = crash.line(error, path)
    assert line.startswith("internal error: RuntimeError:") and str(path) in line


def test_the_cli_prints_the_crash_logs_path_and_exits_2(tmp_path, agent_home):
    """A real process: a command whose code raises (a compose file that is a directory read as text would be a
    UserError; here the review's renderer is broken on purpose through sitecustomize)."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import agent.render as r\n"
        "def _broken(*a, **k):\n    raise ValueError('renderer broken on purpose')\n"
        "r.print_version = _broken\n")
    env = {**__import__("os").environ, "PYTHONPATH": f"{hook}:{Path(__file__).resolve().parents[2]}",
           "DEVOPS_AGENT_HOME": str(agent_home)}
    r = subprocess.run([sys.executable, "-m", "agent.cli", "--version"], capture_output=True, text=True, env=env)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("devops-agent: internal error: ValueError: renderer broken on purpose (details in ")
    logs = list((agent_home / "logs" / "crash").glob("*-cli.log"))
    assert len(logs) == 1 and str(logs[0]) in r.stderr
    assert "command: devops-agent --version" in logs[0].read_text()


def test_one_propose_one_checklist_one_proposal_view(repo, tmp_path, monkeypatch):
    """The CLI's JSON, the catalogue's result and the MCP resource show a proposal in the same shape; the CLI's
    --set and the catalogue's sets go through the same propose; the CLI's and the chat's checklist are one."""
    from agent import render

    platform, env = repo
    monkeypatch.setenv("DEVOPS_AGENT_HOME", str(env.home))  # the CLI's and this process's state are one
    box = toolbox.Toolbox(platform)
    via_tool = json.loads(toolbox.run_tool(box, lambda t: t, "propose_change", {
        "sets": ["docker-compose.prod.yml:services.anime-saas-mlscheduler.restart=unless-stopped"], **_meta()}).text)
    cli = env.cli(platform, "propose", "--set",
                  "docker-compose.prod.yml:services.anime-saas-mlscheduler.stop_grace_period=30s", *GOOD,
                  "--format", "json")
    assert cli.returncode == 0, cli.stderr
    via_cli = json.loads(cli.stdout)
    assert set(via_tool) - {"next", "signed_commit"} == set(via_cli) == set(
        render.proposal_dict(box.proposal(via_cli["id"])))
    assert via_tool["targets"][0]["path"] == via_cli["targets"][0]["path"] == "docker-compose.prod.yml"
    view = box.proposal_view(box.proposal(via_tool["id"]), approvals=True)
    assert {k: v for k, v in view.items() if k not in ("approvals", "signed_commit")} == render.proposal_dict(
        box.proposal(via_tool["id"]))
    assert view["approvals"] == [] and view["signed_commit"] is None
    checklist = env.cli(platform, "release", "checklist", "--format", "json")
    assert checklist.returncode == 0, checklist.stderr
    assert json.loads(checklist.stdout)["services"] == box.checklist(None)["services"]


def test_a_bug_in_an_mcp_call_answers_that_call_with_its_crash_log(repo, agent_home, monkeypatch):
    from agent import mcp_server
    from agent.turnlog import TurnLog

    platform, _ = repo
    backend = mcp_server.Backend(platform)

    def broken(*args, **kwargs):
        raise KeyError("a bug in a tool")

    monkeypatch.setattr(toolbox, "run_tool", broken)
    out = backend.call("sources", {})
    assert out.status == toolbox.ERROR and out.text.startswith("error: internal error: KeyError:")
    [log] = list((agent_home / "logs" / "crash").glob("*-mcp.log"))
    assert str(log) in out.text and "tools/call sources" in log.read_text()
    kinds = [e["kind"] for e in TurnLog(platform).entries(backend.thread)]
    assert kinds[-1] == "tool_error"
    assert backend.call("sources", {}).status == toolbox.ERROR  # the server goes on


def test_a_session_read_is_redacted_once_per_session_state(repo, tmp_path):
    """Issue 25: the review's JSON was redacted again on every call (73 % of an MCP review call). The same question
    to the same session gets the answer redacted the first time; a new session (a proposal) asks the redactor again."""
    platform, _ = repo
    box = toolbox.Toolbox(platform)
    seen: list[int] = []

    def redact(text: str) -> str:
        seen.append(len(text))
        return text

    first = toolbox.run_tool(box, redact, "review", {"min_severity": "high"})
    big = len(seen)
    again = toolbox.run_tool(box, redact, "review", {"min_severity": "high"})
    assert again.text == first.text and len(seen) == big  # nothing redacted again
    other = toolbox.run_tool(box, redact, "review", {})
    assert len(seen) == big + 1 and other.text != first.text  # other arguments, another answer
    patch = make_patch(platform, *RESTART, tmp_path / "p.diff").read_text()
    toolbox.run_tool(box, redact, "propose_change", {"patch": patch, "scope": "compose", **_meta()})
    count = len(seen)
    toolbox.run_tool(box, redact, "review", {"min_severity": "high"})
    assert len(seen) == count + 1  # the proposal reopened the session: its answer is made again
