"""The audit log: a hash chain whose edits, deletions, reorderings and garbage all fail `verify`."""
from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from agent.gate.audit import GENESIS, AuditLog
from agent.gate.store import Store


@pytest.fixture
def log(tmp_path) -> AuditLog:
    root = tmp_path / "platform"
    root.mkdir()
    audit = AuditLog(root, Store(root))
    audit.append("proposal", "devops", {"proposal": "p-1", "hash": "a" * 64})
    audit.append("approval", "product", {"proposal": "p-1", "method": "key"})
    audit.append("apply", "devops", {"proposal": "p-1", "commits": {"": "1" * 40}})
    audit.append("rollback", "devops", {"proposal": "p-1", "commits": {"": "2" * 40}})
    return audit


def lines(audit: AuditLog) -> list[str]:
    return audit.path.read_text(encoding="utf-8").splitlines(keepends=True)


def write(audit: AuditLog, new_lines: list[str]) -> None:
    audit.path.write_text("".join(new_lines), encoding="utf-8")


def test_untouched_log_verifies(log):
    ok, problems = log.verify()
    assert ok and problems == []
    entries = log.entries()
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    assert entries[0]["prev"] == GENESIS
    assert all(b["prev"] == a["hash"] for a, b in zip(entries, entries[1:]))
    assert set(entries[0]) == {"seq", "ts", "event", "actor", "data", "prev", "hash"}
    assert json.loads(log.store.get_meta("audit_head")) == {"seq": 4, "hash": entries[-1]["hash"]}
    assert os.stat(log.path).st_mode & 0o077 == 0


def test_empty_log_verifies(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    assert AuditLog(root, Store(root)).verify() == (True, [])


def test_edited_field(log):
    content = lines(log)
    content[1] = content[1].replace('"method":"key"', '"method":"tty"')
    write(log, content)
    ok, problems = log.verify()
    assert not ok
    assert problems == ["line 2 (seq 2): content does not match its hash — the entry was edited"]


def test_edited_field_with_recomputed_hash_breaks_the_next_link(log):
    from agent.gate.audit import entry_hash
    from agent.gate.store import canonical

    content = lines(log)
    entry = json.loads(content[1])
    entry["actor"] = "devops"
    entry["hash"] = entry_hash(entry)
    content[1] = canonical(entry).decode() + "\n"
    write(log, content)
    ok, problems = log.verify()
    assert not ok
    assert problems == ["line 3 (seq 3): does not link to the entry before it — that entry was edited or replaced"]


def test_deleted_middle_line(log):
    content = lines(log)
    del content[1]
    write(log, content)
    ok, problems = log.verify()
    assert not ok
    assert problems == ["line 2 (seq 3): follows seq 1 — seq 2 was deleted"]


def test_deleted_last_line_is_caught_by_the_sealed_head(log):
    write(log, lines(log)[:-1])
    ok, problems = log.verify()
    assert not ok
    assert problems == ["the log ends at seq 3, but the state database records seq 4 — the last 1 entry was deleted"]


def test_append_after_a_deleted_tail_keeps_the_gap_visible(log):
    write(log, lines(log)[:-2])
    log.append("proposal", "devops", {"proposal": "p-2"})
    ok, problems = log.verify()
    assert not ok
    assert problems == ["line 3 (seq 5): follows seq 2 — seq 3–4 were deleted"]


def test_swapped_lines(log):
    content = lines(log)
    content[1], content[2] = content[2], content[1]
    write(log, content)
    ok, problems = log.verify()
    assert not ok
    assert problems[0] == "line 2 (seq 3): follows seq 1 — entries were reordered (seq 2 is at line 3)"
    assert problems[1] == "line 3 (seq 2): comes after seq 3 — entries were reordered or duplicated"


def test_garbage_line(log):
    content = lines(log)
    content.insert(2, "this is not json\n")
    write(log, content)
    ok, problems = log.verify()
    assert not ok
    assert problems == ["line 3: not a JSON entry (garbled or truncated)"]


def test_truncated_last_line_then_append(log):
    raw = log.path.read_bytes()
    log.path.write_bytes(raw[:-20])  # a torn write: half of the last line
    ok, problems = log.verify()
    assert not ok
    assert "line 4: not a JSON entry (garbled or truncated)" in problems
    entry = log.append("block", "product", {"block": "b-1"})
    assert entry["seq"] == 5
    assert log.path.read_text().splitlines()[-1].startswith('{"actor":"product"')


def test_deleted_log_file_is_reported(log):
    log.path.unlink()
    ok, problems = log.verify()
    assert not ok
    assert problems == [".devops-agent/audit.jsonl is missing, but the state database records 4 entries"]


def test_state_database_reset_is_reported(log):
    (log.store.state_dir / "state.db").unlink()
    for suffix in ("-wal", "-shm"):
        (log.store.state_dir / f"state.db{suffix}").unlink(missing_ok=True)
    fresh = AuditLog(log.root, Store(log.root))
    ok, problems = fresh.verify()
    assert not ok
    assert "the state database records no audit head" in problems[0]


def _writer(root: str, home: str, n: int, tag: str) -> None:
    os.environ["DEVOPS_AGENT_HOME"] = home
    audit = AuditLog(Path(root), Store(Path(root)))
    for i in range(n):
        audit.append("proposal", tag, {"i": i, "pad": "x" * 2000})


def test_two_processes_interleave_whole_entries(tmp_path, agent_home):
    root = tmp_path / "race"
    root.mkdir()
    Store(root)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(root), str(agent_home), 25, tag)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    audit = AuditLog(root, Store(root))
    assert audit.verify() == (True, [])
    entries = audit.entries()
    assert len(entries) == 50
    assert {e["actor"] for e in entries} == {"a", "b"}


def test_after_a_state_reset_the_gate_refuses_until_it_is_acknowledged(log):
    from agent.gate.store import StateReset

    (log.store.state_dir / "state.db").unlink()
    for suffix in ("-wal", "-shm"):
        (log.store.state_dir / f"state.db{suffix}").unlink(missing_ok=True)
    fresh = AuditLog(log.root, Store(log.root))
    with pytest.raises(StateReset) as err:
        fresh.append("proposal", "devops", {"proposal": "p-2"})
    assert err.value.line().startswith(".devops-agent/state.db is empty but the audit log has 4 entries: "
                                       "proposals, approvals and blocks were lost")
    assert "--acknowledge-reset" in err.value.line()
    with pytest.raises(StateReset):
        fresh.store.list_proposals()
    assert len(fresh.entries()) == 4  # nothing was written
    ack = fresh.acknowledge_reset("product")
    assert ack["event"] == "state-reset" and ack["seq"] == 5 and "acknowledged" in ack["data"]["message"]
    assert fresh.acknowledge_reset("product") is None
    entry = fresh.append("proposal", "devops", {"proposal": "p-2"})
    assert entry["seq"] == 6 and fresh.store.list_proposals() == []
    assert fresh.verify() == (True, [])


def test_garbage_empty_and_foreign_lines_are_one_line_each(log):
    content = lines(log)
    content[1:1] = ["\n", "\xff\xfe binary\n", "[1, 2]\n", '{"kind": "something else", "seq": 2}\n']
    log.path.write_bytes("".join(content).encode("utf-8", "surrogateescape").replace("\xff\xfe".encode(), b"\xff\xfe"))
    ok, problems = log.verify()
    assert not ok
    assert problems[:4] == ["line 2: an empty line", "line 3: not a JSON entry (garbled or truncated)",
                            "line 4: not a JSON entry (garbled or truncated)",
                            "line 5: not an audit entry (fields kind, seq)"]
    assert all("\n" not in p for p in problems)


@pytest.mark.parametrize("content", [b"", os.urandom(2048), b'{"a": 1}\n', b"\n\n\n"])
def test_an_empty_garbage_or_foreign_log_file_never_raises(tmp_path, content):
    root = tmp_path / "p"
    root.mkdir()
    audit = AuditLog(root, Store(root))
    audit.path.write_bytes(content)
    ok, problems = audit.verify(signers=[])
    assert ok == (content == b"")
    assert all("\n" not in p for p in problems)
    assert audit.check_heads([(3, "a" * 64)]) == ["a gate commit recorded audit seq 3, but the log ends at seq 0 — "
                                                  "it was truncated or an old copy restored"]


def test_a_directory_in_place_of_the_log_is_one_line(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    audit = AuditLog(root, Store(root))
    audit.path.mkdir()
    assert audit.verify() == (False, [".devops-agent/audit.jsonl cannot be read"])
    assert audit.entries() == []
    with pytest.raises(Exception) as err:
        audit.append("proposal", "devops", {})
    assert "\n" not in str(err.value) and "audit.jsonl" in str(err.value)


def test_head_and_trailer_format(log):
    from agent.gate.audit import format_head, parse_head

    head = log.head()
    assert head == (4, log.entries()[-1]["hash"])
    assert parse_head(format_head(head)) == head
    assert parse_head("4:abc") is None and parse_head("x:" + "a" * 64) is None
    assert log.check_heads([head, (2, log.entries()[1]["hash"])]) == []
