"""Product's signed decisions, played against an agent with a shell: real ssh-keygen keys, real git repos.

Each attack writes what a same-user agent can write (audit lines, state rows, an old state.db copy) and
checks that `audit verify`, `check_heads` or `open_blocks` names it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent.core.errors import RefusedError
from agent.gate import decisions, ssh
from agent.gate.audit import AuditLog, entry_hash
from agent.gate.store import HEAD_META, ProposalRecord, Store, canonical
from sources.git import TOOL_IDENTITY, run_git
from gate_helpers import race


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    run_git(["init", "-q", "-b", "main"], path)
    (path / "README").write_text(f"{path.name}\n")
    run_git(["add", "README"], path)
    run_git(["commit", "-q", "-m", "root"], path, env=TOOL_IDENTITY)
    return path


@pytest.fixture(scope="module")
def keypair(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("keys")
    product = d / "product_ed25519"
    rogue = d / "rogue_ed25519"
    pub = ssh.generate_key(product, "product", passphrase=False)
    ssh.generate_key(rogue, "devops", passphrase=False)
    kind, blob = pub.split()
    return {"product": product, "rogue": rogue, "signers": [ssh.Signer("product", kind, blob)]}


@pytest.fixture
def platform(tmp_path, agent_home):
    root = make_repo(tmp_path / "platform")
    audit = AuditLog(root, Store(root))
    return root, audit


def add_proposal(store: Store, pid: str = "p-1", content: str = "a" * 64) -> ProposalRecord:
    rec = ProposalRecord(id=pid, created_at="2026-11-26T10:00:00Z", status="pending", hash=content,
                         diff="--- a/x\n+++ b/x\n", meta={"reason": "r"}, targets=[], services=[], refusals=[],
                         applied_commits={}, rollback_commits={}, updated_at="2026-11-26T10:00:00Z")
    return store.add_proposal(rec)


def reject(root: Path, audit: AuditLog, keypair, pid: str = "p-1", content: str = "a" * 64):
    signer, decision = decisions.sign_decision("reject", root, {"proposal": pid, "hash": content,
                                                                "reason": "no backup of the volume"},
                                               keypair["product"], keypair["signers"], audit)
    return decisions.record(audit, signer, decision, apply=lambda: audit.store.reject(pid))


def problems(audit: AuditLog, keypair) -> list[str]:
    return audit.verify(signers=keypair["signers"])[1]


def hand_append(audit: AuditLog, event: str, actor: str, data: dict) -> dict:
    """What the agent can do with a shell: a well-chained line, written without the gate."""
    last = json.loads(audit.path.read_text().splitlines()[-1]) if audit.path.exists() else None
    entry = {"seq": (last["seq"] if last else 0) + 1, "ts": "2026-11-26T10:00:00.000000Z", "event": event,
             "actor": actor, "data": data, "prev": last["hash"] if last else "0" * 64}
    entry["hash"] = entry_hash(entry)
    with open(audit.path, "ab") as fh:
        fh.write(canonical(entry) + b"\n")
    return entry


# -- statements -------------------------------------------------------------------------------------

def test_repo_id_is_the_root_commit(platform):
    root, _ = platform
    first = run_git(["rev-parse", "HEAD"], root).strip()
    (root / "more").write_text("x")
    run_git(["add", "more"], root)
    run_git(["commit", "-q", "-m", "more"], root, env=TOOL_IDENTITY)
    assert decisions.repo_id(root) == first


def test_statement_is_canonical_and_bound(platform):
    head = "3:" + "b" * 64
    fields = {"proposal": "p-1", "hash": "a" * 64, "reason": "zoé says no", "head": head, "at": "2026-11-26T10:00:00Z"}
    text = decisions.statement("reject", "c" * 40, fields)
    assert text == decisions.statement("reject", "c" * 40, dict(fields))
    doc = json.loads(text)
    assert doc == {"v": 1, "type": "devops-agent decision", "kind": "reject", "repo": "c" * 40, "head": head,
                   "at": "2026-11-26T10:00:00Z", "proposal": "p-1", "hash": "a" * 64, "reason": "zoé says no"}
    assert b", " not in text and "zoé".encode() in text
    with pytest.raises(ValueError, match="audit head"):
        decisions.statement("reject", "c" * 40, {**fields, "head": None})
    with pytest.raises(Exception, match="full content hash"):
        decisions.statement("reject", "c" * 40, {**fields, "hash": "a" * 8})
    with pytest.raises(Exception, match="control character"):
        decisions.statement("block", "c" * 40, {"reason": "x\x1b[2Kforged", "head": head})
    with pytest.raises(ValueError, match="cannot be a decision field"):
        decisions.statement("block", "c" * 40, {"reason": "r", "head": head, "repo": "other"})


def test_signed_rejection_round_trip(platform, keypair):
    root, audit = platform
    add_proposal(audit.store)
    entry, rec = reject(root, audit, keypair)
    assert rec.status == "rejected"
    assert entry["event"] == "rejection" and entry["actor"] == "product"
    assert entry["data"]["proposal"] == "p-1" and "BEGIN SSH SIGNATURE" in entry["data"]["signature"]
    decision = decisions.Decision.from_data(entry["data"])
    assert decisions.verify_decision(decision, keypair["signers"], decisions.repo_id(root)).principal == "product"
    assert decision.head == (entry["seq"] - 1, entry["prev"])
    assert audit.verify(signers=keypair["signers"]) == (True, [])
    assert audit.verify() == (True, [])  # without signers: the chain only, as before


def test_a_key_outside_the_signer_list_cannot_sign(platform, keypair):
    root, audit = platform
    add_proposal(audit.store)
    with pytest.raises(RefusedError, match="not a Product signer"):
        decisions.sign_decision("reject", root, {"proposal": "p-1", "hash": "a" * 64, "reason": "nope"},
                                keypair["rogue"], keypair["signers"], audit)
    assert audit.entries() == [] and audit.store.get_proposal("p-1").status == "pending"


# -- forged and replayed Product entries ------------------------------------------------------------

def test_unsigned_rejection_written_by_the_role_is_flagged(platform, keypair):
    root, audit = platform
    add_proposal(audit.store)
    audit.append("proposal", "devops", {"proposal": "p-1"})
    audit.append("rejection", "product", {"proposal": "p-1", "hash": "a" * 64, "reason": "forged"})
    assert problems(audit, keypair) == [
        "line 2 (seq 2): rejection by 'product' carries no Product signature (written without Product's key, "
        "or forged)"]


def test_rejection_signed_by_a_key_not_in_the_signer_list_is_flagged(platform, keypair):
    root, audit = platform
    payload = decisions.statement("reject", decisions.repo_id(root), {
        "proposal": "p-1", "hash": "a" * 64, "reason": "forged", "head": audit.head()})
    sig = ssh.sign(payload, keypair["rogue"], ssh.DECISION_NAMESPACE)
    audit.append("rejection", "product", {"statement": payload.decode(), "signature": sig})
    assert problems(audit, keypair) == [
        "line 1 (seq 1): rejection by 'product' is not signed by a Product signer (the signer list at HEAD): "
        "forged, or signed by another key"]


def test_a_valid_statement_replayed_from_another_repo_is_flagged(tmp_path, platform, keypair):
    root, audit = platform
    other_root = make_repo(tmp_path / "other")
    other = AuditLog(other_root, Store(other_root))
    add_proposal(other.store)
    entry, _ = reject(other_root, other, keypair)
    # Same key, same empty log position, same proposal id: only the repo differs.
    hand_append(audit, "rejection", "product", entry["data"])
    assert any("rejection by 'product' was signed for another repo" in p for p in problems(audit, keypair))


def test_a_valid_statement_replayed_at_another_log_position_is_flagged(platform, keypair):
    root, audit = platform
    add_proposal(audit.store)
    entry, _ = reject(root, audit, keypair)
    audit.append("proposal", "devops", {"proposal": "p-2"})
    audit.append("rejection", "product", entry["data"])
    assert problems(audit, keypair) == [
        "line 3 (seq 3): rejection by 'product' was signed after audit seq 0 but sits after seq 2 — replayed at "
        "another log position"]


def test_a_statement_signed_before_the_log_moved_is_refused_and_writes_nothing(platform, keypair):
    root, audit = platform
    add_proposal(audit.store)
    signer, decision = decisions.sign_decision("reject", root, {"proposal": "p-1", "hash": "a" * 64,
                                                                "reason": "too risky"},
                                               keypair["product"], keypair["signers"], audit)
    audit.append("proposal", "devops", {"proposal": "p-2"})  # lands while Product types the passphrase
    with pytest.raises(RefusedError, match="the audit log moved while Product signed"):
        decisions.record(audit, signer, decision, apply=lambda: audit.store.reject("p-1"))
    assert [e["event"] for e in audit.entries()] == ["proposal"]
    assert audit.store.get_proposal("p-1").status == "pending"


def test_shown_values_that_differ_from_the_statement_are_flagged(platform, keypair):
    root, audit = platform
    add_proposal(audit.store)
    signer, decision = decisions.sign_decision("reject", root, {"proposal": "p-1", "hash": "a" * 64,
                                                                "reason": "too risky"},
                                               keypair["product"], keypair["signers"], audit)
    audit.append("rejection", "product", {**decision, "proposal": "p-9"})
    assert problems(audit, keypair) == ["line 1 (seq 1): rejection by 'product' shows another proposal than its "
                                        "signed statement"]


def test_product_key_entry_naming_an_unknown_commit_is_flagged(platform, keypair):
    root, audit = platform
    audit.append("product-key", "product", {"fingerprint": "SHA256:x", "commit": "f" * 40})
    assert problems(audit, keypair) == ["line 1 (seq 1): product-key by 'product' names signer commit ffffffffffff, "
                                        "which this repo does not hold"]


# -- truncation, rollback to an old state copy, appended entries -----------------------------------

def test_truncated_log_with_a_resealed_head_is_caught_by_a_commit_trailer(platform, keypair):
    root, audit = platform
    add_proposal(audit.store)
    audit.append("proposal", "devops", {"proposal": "p-1"})
    reject(root, audit, keypair)
    recorded = audit.head()  # what the next gate commit carries as `Audit-Head: SEQ:HASH`
    lines = audit.path.read_text().splitlines(keepends=True)
    audit.path.write_text("".join(lines[:1]))
    first = json.loads(lines[0])
    # The agent reseals the state database's head with the machine secret it can read.
    audit.store.set_meta(HEAD_META, json.dumps({"seq": first["seq"], "hash": first["hash"]}))
    assert audit.verify(signers=keypair["signers"]) == (True, [])  # the local copy alone cannot tell
    assert audit.check_heads([(*recorded, "commit abc1234")]) == [
        "a gate commit (commit abc1234) recorded audit seq 2, but the log ends at seq 1 — it was truncated or an "
        "old copy restored"]


def test_old_state_copy_and_truncated_log_are_caught_by_a_commit_trailer(platform, keypair):
    root, audit = platform
    add_proposal(audit.store)
    audit.append("proposal", "devops", {"proposal": "p-1"})
    state = audit.store.state_dir
    audit.store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    saved = {name: (state / name).read_bytes() for name in ("state.db", "audit.jsonl")}
    entry, _ = reject(root, audit, keypair)
    signer, decision = decisions.sign_decision("block", root, {"reason": "mysql volume is not backed up"},
                                               keypair["product"], keypair["signers"], audit)
    decisions.record(audit, signer, decision, apply=lambda: audit.store.add_block(
        "mysql volume is not backed up", signer.principal, "ssh", decision.signature, statement=decision.statement))
    recorded = [audit.head()]
    audit.store.close()
    for suffix in ("-wal", "-shm"):
        (state / f"state.db{suffix}").unlink(missing_ok=True)
    for name, raw in saved.items():
        (state / name).write_bytes(raw)
    restored = AuditLog(root, Store(root))
    assert restored.store.get_proposal("p-1").status == "pending"  # the rejection is gone locally...
    assert restored.verify(signers=keypair["signers"]) == (True, [])
    assert decisions.open_blocks(restored.store, keypair["signers"], audit=restored) == []
    found = restored.check_heads(recorded)  # ...and the signed commit's trailer says so
    assert found == [f"a gate commit recorded audit seq {recorded[0][0]}, but the log ends at seq 1 — it was "
                     "truncated or an old copy restored"]


def test_a_rolled_back_and_rewritten_log_differs_from_the_recorded_head(platform, keypair):
    root, audit = platform
    audit.append("proposal", "devops", {"proposal": "p-1"})
    audit.append("proposal", "devops", {"proposal": "p-2"})
    recorded = audit.head()
    lines = audit.path.read_text().splitlines(keepends=True)
    audit.path.write_text(lines[0])
    audit.store.set_meta(HEAD_META, json.dumps({"seq": 1, "hash": json.loads(lines[0])["hash"]}))
    audit.append("proposal", "devops", {"proposal": "p-other"})
    assert audit.check_heads([recorded]) == ["audit seq 2 differs from the one a gate commit recorded — the log was "
                                             "rolled back or rewritten"]
    assert audit.check_heads([(0, "0" * 64)]) == []


def test_entries_appended_after_the_recorded_head_are_flagged(platform, keypair):
    root, audit = platform
    audit.append("proposal", "devops", {"proposal": "p-1"})
    hand_append(audit, "apply", "devops", {"proposal": "p-1"})
    hand_append(audit, "rejection", "product", {"proposal": "p-1", "hash": "a" * 64, "reason": "x"})
    assert problems(audit, keypair) == [
        "seq 2–3 come after the head the state database recorded (seq 1) — appended outside devops-agent, or a "
        "write was interrupted",
        "line 3 (seq 3): rejection by 'product' carries no Product signature (written without Product's key, or "
        "forged)"]


# -- delivery blocks: fail closed -------------------------------------------------------------------

def sign_block(root, audit, keypair, reason="mysql volume is not backed up"):
    signer, decision = decisions.sign_decision("block", root, {"reason": reason}, keypair["product"],
                                               keypair["signers"], audit)
    _, row = decisions.record(audit, signer, decision, shown={"block": None}, apply=lambda: audit.store.add_block(
        reason, signer.principal, "ssh", decision.signature, statement=decision.statement))
    return row


def sign_unblock(root, audit, keypair, block_id):
    signer, decision = decisions.sign_decision("unblock", root, {"block": block_id}, keypair["product"],
                                               keypair["signers"], audit)
    decisions.record(audit, signer, decision, apply=lambda: audit.store.lift_block(
        block_id, signer.principal, "ssh", decision.signature, statement=decision.statement))
    return decision


def test_signed_block_stands_until_a_signed_unblock_lifts_it(platform, keypair):
    root, audit = platform
    sign_block(root, audit, keypair)
    sign_block(root, audit, keypair, "no healthcheck on the api")
    assert [(b["id"], b["problem"]) for b in decisions.open_blocks(audit.store, keypair["signers"])] == [
        ("b-1", None), ("b-2", None)]
    sign_unblock(root, audit, keypair, "b-1")
    assert [b["id"] for b in decisions.open_blocks(audit.store, keypair["signers"], audit=audit)] == ["b-2"]
    assert audit.verify(signers=keypair["signers"]) == (True, [])


def test_unsigned_block_and_forged_lift_still_count(platform, keypair):
    root, audit = platform
    audit.store.add_block("written by the role without a key", "product", "tty", "c2ln")
    sign_block(root, audit, keypair)
    audit.store.lift_block("b-2", "product", "ssh", "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n",
                           statement='{"kind":"unblock"}')
    standing = decisions.open_blocks(audit.store, keypair["signers"])
    assert [b["id"] for b in standing] == ["b-1", "b-2"]
    assert standing[0]["problem"] == ("block b-1 carries no Product signature (written without Product's key, or "
                                      "forged); it counts as a block until Product lifts it")
    assert standing[1]["problem"].startswith("the lift of block b-2 carries something that is not a Product statement")


def test_an_unblock_cannot_lift_another_block(platform, keypair):
    root, audit = platform
    sign_block(root, audit, keypair)
    sign_block(root, audit, keypair, "no healthcheck on the api")
    lift = sign_unblock(root, audit, keypair, "b-1")
    # The agent copies b-1's valid lift onto b-2.
    audit.store.lift_block("b-2", "product", "ssh", lift.signature, statement=lift.statement)
    standing = decisions.open_blocks(audit.store, keypair["signers"])
    assert [(b["id"], b["problem"]) for b in standing] == [("b-2", "the lift of block b-2 names another block; "
                                                                   "the block stands")]


# -- concurrent decisions ---------------------------------------------------------------------------

def _race_reject(root: str, home: str, decision: dict, start, results) -> None:
    os.environ["DEVOPS_AGENT_HOME"] = home
    audit = AuditLog(Path(root), Store(Path(root)))
    signer = ssh.Signer(**decision.pop("signer"))
    d = decisions.Decision(**decision)
    start.wait()
    try:
        decisions.record(audit, signer, d, apply=lambda: audit.store.reject("p-1"))
        results.put("won")
    except RefusedError as exc:
        results.put(f"refused: {exc.message}")


def test_two_processes_rejecting_at_once_exactly_one_writes(platform, keypair, agent_home):
    root, audit = platform
    add_proposal(audit.store)
    signed = []
    for reason in ("first reason", "second reason"):
        signer, d = decisions.sign_decision("reject", root, {"proposal": "p-1", "hash": "a" * 64, "reason": reason},
                                            keypair["product"], keypair["signers"], audit)
        signed.append({"statement": d.statement, "signature": d.signature,
                       "signer": {"principal": signer.principal, "key_type": signer.key_type, "key": signer.key}})
    outcomes = race(_race_reject, [(str(root), str(agent_home), s) for s in signed])
    assert outcomes[1] == "won" and outcomes[0].startswith("refused: ")
    assert [e["event"] for e in audit.entries()] == ["rejection"]
    assert audit.verify(signers=keypair["signers"]) == (True, [])
