"""The sealed state database: round trips, compare-and-set across processes, tamper and corruption evidence."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from agent.core.errors import RefusedError
from agent.gate.store import ApprovalRecord, ProposalRecord, StateError, Store
from gate_helpers import race


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "platform"
    root.mkdir()
    return root


def proposal(pid: str = "p-20261126-3f2a9c", status: str = "pending", content: str | None = None) -> ProposalRecord:
    return ProposalRecord(
        id=pid, created_at="2026-11-26T10:00:00Z", status=status, hash=content or (pid.encode().hex() * 64)[:64],
        diff="--- a/docker-compose.yml\n+++ b/docker-compose.yml\n", meta={"reason": "pin mysql", "risk": "low",
                                                                          "rollback": "revert"},
        targets=[{"path": "docker-compose.yml", "repo": "", "repo_path": "docker-compose.yml", "exists": True,
                  "base_blob": "b" * 40}],
        services=["db"], refusals=[], applied_commits={}, rollback_commits={}, updated_at="2026-11-26T10:00:00Z")


def approval(pid: str = "p-20261126-3f2a9c", aid: str = "a-1") -> ApprovalRecord:
    return ApprovalRecord(id=aid, proposal_id=pid, hash=proposal(pid).hash, approver="product", method="key",
                          created_at="2026-11-26T10:05:00Z", expires_at="2026-12-03T10:05:00Z", signature="c2ln")


def test_state_dir_is_created_and_git_ignored(repo):
    store = Store(repo)
    assert store.state_dir == repo / ".devops-agent"
    assert (store.state_dir / ".gitignore").read_text() == "*\n"
    assert (store.state_dir / "state.db").is_file()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo,
                            capture_output=True, text=True, check=True).stdout
    assert status == ""


def test_proposal_round_trip_prefix_and_list(repo):
    store = Store(repo)
    store.add_proposal(proposal())
    store.add_proposal(proposal("p-20261126-ffff00", status="refused"))
    got = store.get_proposal("p-20261126-3f")
    assert got == proposal()
    assert [p.id for p in store.list_proposals()] == ["p-20261126-3f2a9c", "p-20261126-ffff00"]
    assert [p.id for p in store.list_proposals("refused")] == ["p-20261126-ffff00"]
    # A second Store on the same repo (another process) sees the same rows.
    assert Store(repo).get_proposal("p-20261126-3f2a9c").meta["reason"] == "pin mysql"


def test_unknown_and_ambiguous_ids(repo):
    store = Store(repo)
    store.add_proposal(proposal("p-1-aa"))
    store.add_proposal(proposal("p-1-ab"))
    with pytest.raises(StateError, match="no proposal p-9"):
        store.get_proposal("p-9")
    with pytest.raises(StateError, match="ambiguous"):
        store.get_proposal("p-1-a")
    with pytest.raises(StateError, match="already exists"):
        store.add_proposal(proposal("p-1-aa", content="f" * 64))


def test_transition_compare_and_set(repo):
    store = Store(repo)
    store.add_proposal(proposal())
    rec = store.transition("p-20261126-3f2a9c", {"pending"}, "approved")
    assert rec.status == "approved"
    rec = store.transition(rec.id, {"approved"}, "applying")
    rec = store.transition(rec.id, {"applying"}, "applied", applied_commits={"": "1" * 40})
    assert store.get_proposal(rec.id).applied_commits == {"": "1" * 40}
    with pytest.raises(RefusedError) as err:
        store.transition(rec.id, {"approved"}, "applying")
    assert err.value.exit_code == 1
    assert err.value.message == f"proposal {rec.id} is applied, not approved"
    with pytest.raises(ValueError):
        store.transition(rec.id, {"applied"}, "nonsense")


def _race(repo: str, home: str, start, results) -> None:
    os.environ["DEVOPS_AGENT_HOME"] = home
    store = Store(Path(repo))
    start.wait()
    try:
        store.transition("p-20261126-3f2a9c", {"approved"}, "applying")
        results.put("won")
    except RefusedError as exc:
        results.put(f"refused: {exc.message}")


def test_two_processes_race_for_apply_exactly_one_wins(repo, agent_home):
    store = Store(repo)
    store.add_proposal(proposal(status="approved"))
    for _ in range(3):
        store.transition("p-20261126-3f2a9c", {"approved", "applying"}, "approved")
        outcomes = race(_race, [(str(repo), str(agent_home))] * 2, timeout=30)
        assert outcomes == ["refused: proposal p-20261126-3f2a9c is applying, not approved", "won"]
    assert store.get_proposal("p-20261126-3f2a9c").status == "applying"


def test_row_edited_with_sqlite_is_detected(repo):
    store = Store(repo)
    store.add_proposal(proposal())
    store.add_approval(approval())
    db = sqlite3.connect(repo / ".devops-agent" / "state.db")
    db.execute("UPDATE proposals SET diff = diff || '+image: mysql:latest' WHERE id = 'p-20261126-3f2a9c'")
    db.commit()
    with pytest.raises(StateError, match="proposal p-20261126-3f2a9c was modified outside devops-agent"):
        store.get_proposal("p-20261126-3f2a9c")
    with pytest.raises(StateError, match="modified outside devops-agent"):
        store.list_proposals()
    with pytest.raises(StateError):
        store.transition("p-20261126-3f2a9c", {"pending"}, "approved")
    db.close()


def test_forged_status_and_unrevoked_approval_are_detected(repo):
    store = Store(repo)
    store.add_proposal(proposal())
    store.add_approval(approval())
    store.revoke_approvals("p-20261126-3f2a9c")
    db = sqlite3.connect(repo / ".devops-agent" / "state.db")
    db.execute("UPDATE approvals SET revoked = 0")
    db.commit()
    with pytest.raises(StateError, match="approval a-1 of proposal p-20261126-3f2a9c was modified"):
        store.approvals("p-20261126-3f2a9c")
    # A row copied from another (validly sealed) row does not pass either: the MAC covers the id.
    db.execute("INSERT INTO proposals SELECT 'p-forged', created_at, updated_at, 'approved', hash, diff, meta, "
               "targets, services, refusals, applied_commits, rollback_commits, mac FROM proposals")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="proposal p-forged was modified"):
        store.get_proposal("p-forged")


def test_meta_is_sealed(repo):
    store = Store(repo)
    store.set_meta("product_public_key", "AAAA")
    assert store.get_meta("product_public_key") == "AAAA"
    assert store.get_meta("nothing") is None
    db = sqlite3.connect(repo / ".devops-agent" / "state.db")
    db.execute("UPDATE meta SET value = 'BBBB' WHERE key = 'product_public_key'")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="modified outside devops-agent"):
        store.get_meta("product_public_key")


def test_approvals_round_trip_and_revoke(repo):
    store = Store(repo)
    store.add_proposal(proposal())
    store.add_approval(approval())
    store.add_approval(approval(aid="a-2"))
    assert [a.id for a in store.approvals("p-20261126-3f2a9c")] == ["a-1", "a-2"]
    assert store.revoke_approvals("p-20261126-3f2a9c") == 2
    assert store.revoke_approvals("p-20261126-3f2a9c") == 0
    assert all(a.revoked for a in store.approvals("p-20261126-3f2a9c"))
    assert approval().is_expired(datetime(2026, 12, 4, tzinfo=timezone.utc))
    assert not approval().is_expired(datetime(2026, 11, 27, tzinfo=timezone.utc))
    with pytest.raises(StateError, match="no proposal p-none"):
        store.add_approval(approval(pid="p-none", aid="a-3"))


def test_blocks_lift_and_deletion_is_detected(repo):
    store = Store(repo)
    b1 = store.add_block("mysql volume is not backed up", "product", "key", "sig1")
    b2 = store.add_block("no healthcheck on api", "product", "tty", "sig2")
    assert [b["id"] for b in store.open_blocks()] == [b1["id"], b2["id"]] == ["b-1", "b-2"]
    lifted = store.lift_block("b-1", "product", "key", "sig3")
    assert lifted["lifted_by"] == "product"
    assert [b["id"] for b in store.open_blocks()] == ["b-2"]
    with pytest.raises(RefusedError, match="already lifted"):
        store.lift_block("1", "product", "key", "sig4")
    with pytest.raises(StateError, match="no delivery block b-7"):
        store.lift_block("b-7", "product", "key", "sig4")
    db = sqlite3.connect(repo / ".devops-agent" / "state.db")
    db.execute("DELETE FROM blocks WHERE id = 'b-2'")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="block b-2 was deleted outside devops-agent"):
        store.open_blocks()


def test_random_bytes_as_state_db_is_one_line_state_error(repo):
    state = repo / ".devops-agent"
    state.mkdir()
    (state / "state.db").write_bytes(os.urandom(4096))
    with pytest.raises(StateError) as err:
        Store(repo)
    line = err.value.line()
    assert "\n" not in line
    assert line.startswith("state database .devops-agent/state.db is corrupt:")
    assert "move it away" in line
    assert err.value.exit_code == 2


def test_foreign_sqlite_file_is_refused(repo):
    state = repo / ".devops-agent"
    state.mkdir()
    db = sqlite3.connect(state / "state.db")
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="not a devops-agent state database"):
        Store(repo)


def test_state_sealed_with_another_secret_says_so(repo, monkeypatch, tmp_path):
    Store(repo).add_proposal(proposal())
    monkeypatch.setenv("DEVOPS_AGENT_HOME", str(tmp_path / "other-home"))
    with pytest.raises(StateError, match="sealed with another machine secret"):
        Store(repo)


def test_cli_prints_one_line_for_a_corrupt_state_db(repo, agent_home):
    state = repo / ".devops-agent"
    state.mkdir()
    (state / "state.db").write_bytes(b"\x00garbage" * 100)
    code = ("import sys; from pathlib import Path; from agent.gate.store import Store\n"
            "from agent.core.errors import UserError\n"
            "try:\n    Store(Path(sys.argv[1]))\nexcept UserError as e:\n"
            "    sys.stderr.write(e.line() + '\\n'); sys.exit(e.exit_code)\n")
    r = subprocess.run([sys.executable, "-c", code, str(repo)], capture_output=True, text=True,
                       env={**os.environ, "DEVOPS_AGENT_HOME": str(agent_home)})
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


# -- faults on the gate's own state, for real: a tiny tmpfs, a read-only mount ----------------------

@pytest.fixture
def tiny_fs(tmp_path):
    """A 256 KiB tmpfs (root only: an unprivileged run skips, saying why)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root: a full disk and a read-only mount cannot be made here")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(where: Path) -> Path:
    """Fill the file system holding `where` until ENOSPC."""
    filler = where / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def assert_not_corrupt_advice(line: str) -> None:
    assert "corrupt" not in line and "move it away" not in line and "\n" not in line


def test_disk_full_while_proposing_stores_nothing_and_a_retry_does_not_duplicate(tiny_fs, agent_home):
    from agent.gate.audit import AuditLog

    repo = tiny_fs / "platform"
    repo.mkdir()
    audit = AuditLog(repo, Store(repo))
    audit.append("proposal", "devops", {"proposal": "p-0"})
    audit.store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the next commit must grow the WAL
    filler = fill(tiny_fs)
    rec = proposal("p-20261126-aaaaaa")
    with pytest.raises(StateError) as err:
        audit.record("proposal", "devops", {"proposal": rec.id}, apply=lambda: audit.store.add_proposal(rec))
    line = err.value.line()
    assert line.startswith("disk full writing .devops-agent/") and "nothing was recorded" in line
    assert_not_corrupt_advice(line)
    filler.unlink()
    assert audit.store.list_proposals() == [] and [e["seq"] for e in audit.entries()] == [1]
    assert audit.verify() == (True, [])
    # Retried with a new random id (what `propose` makes), the same content is stored once.
    for pid in ("p-20261126-bbbbbb", "p-20261126-cccccc"):
        again = proposal(pid, content=rec.hash)
        audit.record("proposal", "devops", {"proposal": pid}, apply=lambda: audit.store.add_proposal(again))
    assert [p.id for p in audit.store.list_proposals()] == ["p-20261126-bbbbbb"]


def test_disk_full_on_the_state_db_says_so(tiny_fs, agent_home):
    repo = tiny_fs / "platform"
    repo.mkdir()
    store = Store(repo)
    store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    filler = fill(tiny_fs)
    big = proposal()
    big.diff = "x" * 300_000
    with pytest.raises(StateError) as err:
        store.add_proposal(big)
    assert err.value.line() == ("disk full writing .devops-agent/state.db — free space and retry; "
                                "nothing was recorded")
    filler.unlink()
    assert store.list_proposals() == []


def test_read_only_state_dir_is_reported_as_read_only(tiny_fs, agent_home):
    from agent.gate.audit import AuditLog

    repo = tiny_fs / "platform"
    repo.mkdir()
    audit = AuditLog(repo, Store(repo))
    audit.append("proposal", "devops", {"proposal": "p-1"})
    audit.store.close()
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_fs)], check=True)
    with pytest.raises(StateError) as err:
        store = Store(repo)
        store.add_proposal(proposal())
    line = err.value.line()
    assert "read-only file system" in line
    assert_not_corrupt_advice(line)


def test_chmod_read_only_state_dir_without_root(repo, agent_home):
    if os.geteuid() == 0:
        pytest.skip("root ignores file modes: the read-only mount tests cover this case")
    store = Store(repo)
    store.close()
    (repo / ".devops-agent").chmod(0o500)
    try:
        with pytest.raises(StateError) as err:
            Store(repo).add_proposal(proposal())
        assert_not_corrupt_advice(err.value.line())
    finally:
        (repo / ".devops-agent").chmod(0o700)


# -- a lost state database --------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_a_lost_state_db_is_reported_while_the_log_has_entries(repo, agent_home, how):
    from agent.gate.audit import AuditLog
    from agent.gate.store import StateReset

    audit = AuditLog(repo, Store(repo))
    audit.record("proposal", "devops", {"proposal": "p-20261126-3f2a9c"},
                 apply=lambda: audit.store.add_proposal(proposal()))
    audit.store.close()
    db = repo / ".devops-agent" / "state.db"
    for suffix in ("-wal", "-shm"):
        (repo / ".devops-agent" / f"state.db{suffix}").unlink(missing_ok=True)
    if how == "deleted":
        db.unlink()
    else:
        db.write_bytes(b"")
    store = Store(repo)
    for call in (store.list_proposals, lambda: store.get_proposal("p-2026"), store.blocks,
                 lambda: store.add_proposal(proposal("p-new"))):
        with pytest.raises(StateReset, match=r"state.db is empty but the audit log has 1 entry: proposals, "
                                             r"approvals and blocks were lost"):
            call()
    assert store.in_flight() == []  # recovery can still look, and finds nothing to do
    ok, problems = AuditLog(repo, store).verify()
    assert not ok and "the state database records no audit head, but the log has 1 entries" in problems[0]


def test_a_fresh_repo_is_not_a_reset(repo):
    store = Store(repo)
    assert store.reset_problem() is None and store.list_proposals() == []


# -- one transaction per logical write; concurrent approvals --------------------------------------------

def test_record_approval_is_one_transaction(repo):
    store = Store(repo)
    store.add_proposal(proposal())
    rec = store.record_approval(approval())
    assert rec.status == "approved" and [a.id for a in store.approvals(rec.id)] == ["a-1"]
    with pytest.raises(RefusedError, match="is approved, not pending"):
        store.record_approval(approval(aid="a-2"))
    assert [a.id for a in store.approvals(rec.id)] == ["a-1"]
    wrong = approval(aid="a-3")
    wrong.hash = "e" * 64
    store.add_proposal(proposal("p-other"))
    wrong.proposal_id = "p-other"
    with pytest.raises(RefusedError, match="not the content that was approved"):
        store.record_approval(wrong)
    assert store.get_proposal("p-other").status == "pending" and store.approvals("p-other") == []


def _race_approve(repo: str, home: str, aid: str, start, results) -> None:
    from agent.gate.audit import AuditLog

    os.environ["DEVOPS_AGENT_HOME"] = home
    audit = AuditLog(Path(repo), Store(Path(repo)))
    start.wait()
    try:
        audit.record("approval", "product", {"proposal": "p-20261126-3f2a9c", "approval": aid},
                     apply=lambda: audit.store.record_approval(approval(aid=aid)))
        results.put("won")
    except RefusedError as exc:
        results.put(f"refused: {exc.message}")


def test_two_processes_approving_at_once_the_loser_writes_nothing(repo, agent_home):
    from agent.gate.audit import AuditLog

    store = Store(repo)
    store.add_proposal(proposal())
    outcomes = race(_race_approve, [(str(repo), str(agent_home), aid) for aid in ("a-1", "a-2")])
    assert outcomes == ["refused: proposal p-20261126-3f2a9c is approved, not pending", "won"]
    assert len(store.approvals("p-20261126-3f2a9c")) == 1
    audit = AuditLog(repo, store)
    assert [e["event"] for e in audit.entries()] == ["approval"] and audit.verify() == (True, [])


def test_schema_1_database_migrates_and_keeps_its_blocks(repo, agent_home):
    from agent.gate.store import _B_COLS_V1, _mac, m001_initial

    state = repo / ".devops-agent"
    state.mkdir()
    db = sqlite3.connect(state / "state.db", isolation_level=None)
    m001_initial(db)
    from agent.gate.keys import secret_id

    db.execute("INSERT INTO meta VALUES ('secret_id', ?, ?)",
               (secret_id(), _mac("meta", {"key": "secret_id", "value": secret_id()})))
    row = dict(zip(_B_COLS_V1, (1, "b-1", "old block", "product", "tty", "sig", "2026-01-01T00:00:00Z",
                                None, None, None, None)))
    db.execute(f"INSERT INTO blocks VALUES ({', '.join('?' * 12)})", (*row.values(), _mac("blocks", row)))
    db.execute("INSERT INTO meta VALUES ('block_count', '1', ?)", (_mac("meta", {"key": "block_count", "value": "1"}),))
    db.execute("PRAGMA user_version = 1")
    db.close()
    store = Store(repo)
    assert store._conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert [(b["id"], b["statement"]) for b in store.open_blocks()] == [("b-1", None)]


def test_proposals_made_in_the_same_second_come_back_in_the_order_they_were_made(repo):
    """Issue 23 (7): ids are random and the timestamp has a one-second grain; the order is the insertion order."""
    store = Store(repo)
    made = ["p-20261126-ffffff", "p-20261126-000000", "p-20261126-8a8a8a", "p-20261126-111111", "p-20261126-eeeeee"]
    for pid in made:
        store.add_proposal(proposal(pid))  # the same created_at, to the second
    assert [r.id for r in store.list_proposals()] == made
    assert [r.id for r in store.list_proposals("pending")] == made
    for aid in ("a-zz", "a-00", "a-mm"):
        store.add_approval(approval(made[0], aid))
    assert [a.id for a in store.approvals(made[0])] == ["a-zz", "a-00", "a-mm"]
