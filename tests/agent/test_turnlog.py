"""The turn log's named migrations (agent/turnlog.py): a fresh log, a log written before migrations existed, and a
log from a newer devops-agent (refused in one line, never rewritten)."""
from __future__ import annotations

import sqlite3

import pytest

from agent.core.errors import UserError
from agent.turnlog import MIGRATIONS, SCHEMA_VERSION, TurnLog


def _schema(path) -> tuple[int, set[str]]:
    db = sqlite3.connect(path)
    try:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        return db.execute("PRAGMA user_version").fetchone()[0], names
    finally:
        db.close()


def test_a_fresh_log_runs_every_named_migration(tmp_path):
    log = TurnLog(tmp_path, required=True)
    log.add("t1", "tool_call", "sources", "{}")
    assert [name for _, name, _ in MIGRATIONS] == ["turns", "turns by thread"]
    assert _schema(log.path) == (SCHEMA_VERSION, {"turns", "turns_by_thread"})
    assert [e["kind"] for e in log.entries("t1")] == ["tool_call"]


def test_a_log_from_before_migrations_keeps_its_turns(tmp_path):
    state = tmp_path / ".devops-agent"
    state.mkdir()
    db = sqlite3.connect(state / "turns.sqlite")
    db.execute("CREATE TABLE turns (id INTEGER PRIMARY KEY, thread TEXT, at REAL, kind TEXT, name TEXT, content TEXT, "
               "tokens_in INTEGER, tokens_out INTEGER, latency_ms REAL)")
    db.execute("INSERT INTO turns (thread, at, kind, name, content) VALUES ('old', 1.0, 'model_request', '', 'hi')")
    db.commit()
    db.close()
    log = TurnLog(tmp_path, required=True)
    assert _schema(log.path) == (SCHEMA_VERSION, {"turns", "turns_by_thread"})
    assert [e["content"] for e in log.entries("old")] == ["hi"]
    log.add("old", "model_response", "", "hello")
    assert [t["entries"] for t in log.threads()] == [2]


def test_a_log_from_a_newer_version_is_refused_and_left_alone(tmp_path, capsys):
    state = tmp_path / ".devops-agent"
    state.mkdir()
    db = sqlite3.connect(state / "turns.sqlite")
    db.execute("CREATE TABLE turns (id INTEGER PRIMARY KEY, thread TEXT, at REAL, kind TEXT, name TEXT, content TEXT, "
               "tokens_in INTEGER, tokens_out INTEGER, latency_ms REAL, future TEXT)")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 7}")
    db.commit()
    db.close()
    before = (state / "turns.sqlite").read_bytes()
    with pytest.raises(UserError, match="written by a newer devops-agent") as err:
        TurnLog(tmp_path, required=True)
    assert "upgrade devops-agent" in err.value.line()
    log = TurnLog(tmp_path)  # the MCP server and `logs`: not kept, said once, tools still answer
    log.add("t", "tool_call", "sources", "{}")
    assert log.unavailable and "newer devops-agent" in capsys.readouterr().err
    assert (state / "turns.sqlite").read_bytes() == before
