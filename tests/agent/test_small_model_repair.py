"""A small local model does not loop on failing tool calls, and is not left silent by its server (issue 22):
after 3 failed tool calls in a row, or 15 in one turn, the rest of the turn runs without tools; a reply that came
back empty while tools were offered (llama-cpp-python's chatml-function-calling under `tool_choice: "auto"`)
is asked once more without them. The real ChatOpenAI client against the local fake server."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai import FakeOpenAI  # noqa: E402
from loop_fixtures import repo, template  # noqa: E402,F401  (fixtures)

from agent.loop import FAILED_CALLS_IN_A_ROW, TOOL_CALLS_PER_TURN, Conversation, ModelSettings  # noqa: E402

BAD = {"tool_calls": [{"name": "propose_change", "args": {"reason": "r", "risk": "k", "rollback": "b"}}]}
GOOD = {"tool_calls": [{"name": "sources", "args": {}}]}
OTHER = {"tool_calls": [{"name": "ci_view", "args": {}}]}  # between two GOODs: no call is the one just made


def _settings(fake: FakeOpenAI) -> ModelSettings:
    return ModelSettings(model="scripted", base_url=fake.url, api_key="dummy", timeout=20, max_retries=0)


def _system(body: dict) -> str:
    return body["messages"][0]["content"]


def test_three_failed_calls_in_a_row_close_the_tools_and_the_model_answers_in_text(repo):
    with FakeOpenAI([BAD] * FAILED_CALLS_IN_A_ROW + [{"content": "I could not write a valid proposal."}]) as fake:
        result = Conversation(repo, _settings(fake)).ask("pin the proxy image")
    assert len(fake.requests) == FAILED_CALLS_IN_A_ROW + 1
    assert all(r.get("tools") and r.get("tool_choice") == "auto" for r in fake.requests[:-1])
    last = fake.requests[-1]
    assert not last.get("tools") and "tool_choice" not in last
    assert "Tools are closed for the rest of this turn (3 tool calls in a row failed)" in _system(last)
    assert result.answer == "I could not write a valid proposal."
    assert result.notes == ["tools closed for the rest of this turn: 3 tool calls in a row failed"]
    assert result.to_dict()["notes"] == result.notes


def test_a_success_between_failures_keeps_the_tools_and_the_next_turn_has_them_again(repo):
    script = [BAD, BAD, GOOD, BAD, BAD, {"content": "first answer"}, BAD, {"content": "second answer"}]
    with FakeOpenAI(script) as fake:
        conv = Conversation(repo, _settings(fake))
        first = conv.ask("try")
        second = conv.ask("again")
    assert all(r.get("tools") for r in fake.requests), "two failures, a success, two failures: tools stay"
    assert (first.answer, first.notes, second.answer, second.notes) == ("first answer", [], "second answer", [])


def test_a_turn_of_many_successful_calls_ends_in_text_at_its_tool_budget(repo):
    with FakeOpenAI([(GOOD, OTHER)[i % 2] for i in range(TOOL_CALLS_PER_TURN)] + [{"content": "summary"}]) as fake:
        result = Conversation(repo, _settings(fake)).ask("look around")
    assert len(fake.requests) == TOOL_CALLS_PER_TURN + 1 and not fake.requests[-1].get("tools")
    assert result.answer == "summary"
    assert result.notes == [f"tools closed for the rest of this turn: {TOOL_CALLS_PER_TURN} tool calls in this turn"]


def test_an_empty_reply_while_tools_were_offered_is_asked_again_without_tools(repo):
    with FakeOpenAI([{"content": ""}, {"content": "The verdict is NO-GO."}]) as fake:
        result = Conversation(repo, _settings(fake)).ask("verdict?")
    assert [bool(r.get("tools")) for r in fake.requests] == [True, False]
    assert result.answer == "The verdict is NO-GO."
    assert result.notes == ["tools closed for the rest of this turn: the reply offered tools came back empty"]


def test_the_cli_prints_the_note_on_stderr(repo, tmp_path):
    import json
    import os
    import subprocess

    from conftest import ROOT

    script = tmp_path / "script.json"
    script.write_text(json.dumps([BAD, BAD, BAD, {"content": "gave up on the proposal"}]))
    port_file, log_file = tmp_path / "port", tmp_path / "log"
    server = subprocess.Popen([sys.executable, str(Path(__file__).parent / "fake_openai.py"), str(script),
                               str(port_file), str(log_file)])
    try:
        import time

        for _ in range(100):
            if port_file.is_file() and port_file.read_text().strip():
                break
            time.sleep(0.1)
        env = {**os.environ, "NO_COLOR": "1", "OPENAI_BASE_URL": f"http://127.0.0.1:{port_file.read_text().strip()}/v1",
               "OPENAI_API_KEY": "dummy", "DEVOPS_AGENT_MODEL": "scripted"}
        r = subprocess.run([sys.executable, "-m", "agent.cli", "ask", "pin it", "--repo", str(repo)],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    finally:
        server.kill()
    assert r.returncode == 0, r.stderr
    assert "note: tools closed for the rest of this turn: 3 tool calls in a row failed" in r.stderr
    assert r.stdout.strip() == "gave up on the proposal"


def test_the_tool_budget_is_a_setting_and_a_bad_one_is_one_line(repo):
    settings = ModelSettings.resolve(env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "DEVOPS_AGENT_MAX_TOOL_CALLS": "2"})
    assert settings.max_tool_calls == 2
    with FakeOpenAI([GOOD, OTHER, {"content": "two looks were enough"}]) as fake:
        s = ModelSettings(model="scripted", base_url=fake.url, api_key="dummy", timeout=20, max_retries=0,
                          max_tool_calls=2)
        result = Conversation(repo, s).ask("look around")
    assert len(fake.requests) == 3 and not fake.requests[-1].get("tools")
    assert result.notes == ["tools closed for the rest of this turn: 2 tool calls in this turn"]
    import pytest

    from agent.core.errors import UserError
    for bad in ("0", "many"):
        with pytest.raises(UserError) as err:
            ModelSettings.resolve(env={"OPENAI_BASE_URL": "http://x/v1", "DEVOPS_AGENT_MAX_TOOL_CALLS": bad})
        assert "DEVOPS_AGENT_MAX_TOOL_CALLS" in str(err.value)


def test_a_call_written_as_text_becomes_a_call_and_a_misspelt_name_snaps(repo):
    """Issue 22, 5: what a small model meant is made a real call, judged by the runtime like any other."""
    as_text = {"content": 'functions.sources:\n{"group": null}'}
    misspelt = {"tool_calls": [{"name": "source", "args": {}}]}
    with FakeOpenAI([as_text, misspelt, {"content": "20 sources"}]) as fake:
        result = Conversation(repo, _settings(fake)).ask("which sources?")
    assert [c["name"] for c in result.tool_calls] == ["sources", "sources"]
    assert result.answer == "20 sources"
    assert "a call to sources written as text was made a call" in result.notes
    assert "tool 'source' read as 'sources'" in result.notes
    # the tool really ran both times: its results reached the model
    assert sum(1 for m in fake.requests[-1]["messages"] if m["role"] == "tool") == 2


def test_text_that_only_mentions_a_tool_stays_an_answer_and_a_far_name_stays_unknown(repo):
    with FakeOpenAI([{"content": "Run review: it lists the findings."},
                     {"tool_calls": [{"name": "approve", "args": {"proposal_id": "p-1"}}]},
                     {"content": "I cannot approve."}]) as fake:
        conv = Conversation(repo, _settings(fake))
        first = conv.ask("what should I run?")
        second = conv.ask("approve p-1")
    assert first.answer == "Run review: it lists the findings." and first.tool_calls == []
    assert [c["name"] for c in second.tool_calls] == ["approve"]  # no tool is named like it: never snapped
    assert "approve" in fake.requests[-1]["messages"][-1]["content"]  # the error said so to the model


def test_the_same_call_twice_in_a_row_closes_the_tools(repo):
    same = {"tool_calls": [{"name": "compose_view", "args": {"service": "anime-saas-agent"}}]}
    with FakeOpenAI([same, same, {"content": "the agent service runs the agent image"}]) as fake:
        s = ModelSettings(model="scripted", base_url=fake.url, api_key="dummy", timeout=20, max_retries=0)
        result = Conversation(repo, s).ask("what does the agent service run?")
    assert len(fake.requests) == 3 and not fake.requests[-1].get("tools")
    assert result.notes == ["tools closed for the rest of this turn: the same call was made twice in a row"]
    assert "the agent service runs" in result.answer
