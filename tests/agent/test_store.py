"""The sealed state database: round trips, compare-and-set across processes, tamper and corruption evidence."""
from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from agent.core.errors import RefusedError
from agent.gate.store import ApprovalRecord, ProposalRecord, StateError, Store


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
    ctx = multiprocessing.get_context("spawn")
    for _ in range(3):
        store.transition("p-20261126-3f2a9c", {"approved", "applying"}, "approved")
        start, results = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_race, args=(str(repo), str(agent_home), start, results)) for _ in range(2)]
        for p in procs:
            p.start()
        start.set()
        for p in procs:
            p.join(30)
        outcomes = sorted(results.get(timeout=5) for _ in procs)
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
