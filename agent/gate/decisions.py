"""Product's decisions other than approvals: SSH-signed statements (`ssh-keygen -Y sign -n devops-agent`).

A statement is canonical JSON naming its kind (reject, block, unblock, signer), the repo (its root
commit id), the audit log position it was signed after (`seq:hash` of the head), when, and the
decision's own fields (for a rejection the proposal id and content hash). So a statement cannot be
replayed into another repo, another log position or onto another proposal, and an entry written
from the DevOps role's own process (which has no key) is flagged by `audit verify`.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, TypeVar

from agent.core import hints
from agent.core.errors import RefusedError, UserError
from agent.gate import ssh

if TYPE_CHECKING:
    from agent.gate.audit import AuditLog
    from agent.gate.store import Store

T = TypeVar("T")
STATEMENT_TYPE = "devops-agent decision"
KINDS = ("reject", "block", "unblock", "signer")
EVENT_OF = {"reject": "rejection", "block": "block", "unblock": "unblock", "signer": "product-key"}
KIND_OF = {event: kind for kind, event in EVENT_OF.items()}
_RESERVED = ("v", "type", "kind", "repo", "head", "at")
_REQUIRED = {"reject": ("proposal", "hash", "reason"), "block": ("reason",), "unblock": ("block",),
             "signer": ("principal", "fingerprint")}
_SHOWN = ("proposal", "hash", "reason")  # copied into the audit entry's data for reading; must agree


def repo_id(root: Path) -> str:
    """The platform's identity: its oldest root commit on the first-parent chain of HEAD."""
    from sources.git import GitError, run_git

    try:
        out = run_git(["rev-list", "--first-parent", "--max-parents=0", "HEAD", "--"], Path(root))
    except GitError:
        raise UserError(f"{root} has no commit to name it by", "commit something first: decisions are bound to "
                        "the repo's root commit") from None
    roots = out.split()
    if not roots:
        raise UserError(f"{root} has no root commit", "commit something first")
    return roots[-1]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clean(value, where: str):
    """Statement values are plain data; text carries no control character (it is shown to Product)."""
    if isinstance(value, str):
        if any(ord(c) < 32 and c not in "\t" or ord(c) == 127 for c in value):
            raise UserError(f"{where} contains a control character", "pass plain text")
        return value
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, (list, tuple)):
        return [_clean(v, where) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _clean(v, f"{where}.{k}") for k, v in value.items()}
    raise UserError(f"{where} is not plain data ({type(value).__name__})", "pass text, numbers or lists")


def statement(kind: str, repo_id: str, fields: dict) -> bytes:
    """The canonical bytes Product signs. `fields` must hold `head` ("SEQ:HASH" or a (seq, hash) pair: the
    audit log's head the decision is made after) and the kind's own fields; `at` defaults to now."""
    from agent.gate.audit import format_head, parse_head

    if kind not in KINDS:
        raise ValueError(f"unknown decision kind {kind!r}")
    fields = dict(fields)
    head = fields.pop("head", None)
    head_text = format_head((int(head[0]), str(head[1]))) if isinstance(head, (tuple, list)) else str(head or "")
    if parse_head(head_text) is None:
        raise ValueError("a statement names the audit head it is made after (SEQ:HASH)")
    at = fields.pop("at", None) or _now()
    clash = [k for k in fields if k in _RESERVED]
    if clash:
        raise ValueError(f"{', '.join(clash)} cannot be a decision field")
    missing = [k for k in _REQUIRED[kind] if not fields.get(k)]
    if missing:
        raise UserError(f"a {kind} statement needs {', '.join(missing)}", "pass them")
    if kind == "reject" and (len(str(fields["hash"])) != 64 or any(c not in "0123456789abcdef" for c in fields["hash"])):
        raise UserError("a rejection is bound to the proposal's full content hash (64 hex digits)", "pass rec.hash")
    doc = {"v": 1, "type": STATEMENT_TYPE, "kind": kind, "repo": str(repo_id), "head": head_text, "at": str(at),
           **_clean(fields, kind)}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Decision(Mapping):
    """A signed statement. Reads as the mapping {"statement", "signature"}: what an audit entry's and a
    block row's data carry (`{**decision}`)."""

    statement: str
    signature: str
    fields: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        try:
            parsed = json.loads(self.statement)
        except (TypeError, ValueError):
            parsed = None
        object.__setattr__(self, "fields", parsed if isinstance(parsed, dict) else {})

    # Mapping: exactly the two stored keys
    def __getitem__(self, key: str) -> str:
        if key == "statement":
            return self.statement
        if key == "signature":
            return self.signature
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(("statement", "signature"))

    def __len__(self) -> int:
        return 2

    @property
    def kind(self) -> str | None:
        return self.fields.get("kind")

    @property
    def repo(self) -> str | None:
        return self.fields.get("repo")

    @property
    def head(self) -> tuple[int, str] | None:
        from agent.gate.audit import parse_head

        return parse_head(self.fields.get("head", ""))

    @property
    def digest(self) -> str:
        """sha256 of the statement: what an unblock names its block by."""
        return hashlib.sha256(self.statement.encode("utf-8")).hexdigest()

    def data(self) -> dict:
        return {"statement": self.statement, "signature": self.signature}

    @classmethod
    def from_data(cls, data) -> "Decision | None":
        """The decision stored in an audit entry's data or a row, or None when there is none."""
        if not isinstance(data, Mapping):
            return None
        text, sig = data.get("statement"), data.get("signature")
        if not isinstance(text, str) or not isinstance(sig, str) or not text or not sig:
            return None
        return cls(text, sig)


def block_digest(row: Mapping) -> str:
    """What an unblock is bound to: the block's signed statement, or (a block without one) its row content."""
    if row.get("statement"):
        return hashlib.sha256(str(row["statement"]).encode("utf-8")).hexdigest()
    legacy = {"id": row.get("id"), "reason": row.get("reason"), "created_at": row.get("created_at")}
    return hashlib.sha256(json.dumps(legacy, sort_keys=True).encode("utf-8")).hexdigest()


def sign_decision(kind: str, root: Path, fields: dict, key: Path, signers: list[ssh.Signer],
                  audit: "AuditLog | None" = None) -> tuple[ssh.Signer, Decision]:
    """Product signs a `kind` statement with `key` (ssh-keygen asks for the passphrase on Product's
    terminal) after the log's current head; RefusedError, with nothing recorded, when the key is not one of
    `signers`. An unblock naming a block by id is bound to that block's statement. Record the result with
    `record` (same head), so a concurrent write is refused rather than misplaced."""
    from agent.gate.audit import AuditLog, format_head
    from agent.gate.store import Store

    if not signers:
        raise RefusedError(f"no Product signer is committed at {ssh.SIGNERS_FILE}",
                           f"run `{hints.product_key_init()}` in Product's own terminal first")
    public = ssh.read_public_key(Path(key))
    if not any(s.public_line == public for s in signers):
        raise RefusedError(f"{key} is not a Product signer of this platform ({ssh.SIGNERS_FILE} at HEAD)",
                           f"use the key registered by `{hints.product_key_init()}`; nothing was recorded")
    audit = audit or AuditLog(Path(root), Store(Path(root)))
    fields = dict(fields)
    if kind == "unblock" and "block_statement" not in fields:
        fields["block_statement"] = block_digest(audit.store.get_block(fields["block"]))
    fields["head"] = format_head(audit.head())
    payload = statement(kind, repo_id(root), fields)
    signature = ssh.sign(payload, Path(key), ssh.DECISION_NAMESPACE)
    decision = Decision(payload.decode("utf-8"), signature)
    signer = verify_decision(decision, signers)
    if signer is None:
        raise RefusedError("the signature just made does not verify against the signer list",
                           "check the key and its .pub; nothing was recorded")
    return signer, decision


def check_decision(decision: Decision | None, signers: list[ssh.Signer], repo: str | None = None,
                   kind: str | None = None) -> tuple[ssh.Signer | None, str | None]:
    """(signer, None) when `decision` is a well-formed statement signed by one of `signers` (and bound to
    `repo` and of `kind` when given); (None, why) otherwise, `why` phrased to follow "this entry"."""
    if decision is None:
        return None, "carries no Product signature (written without Product's key, or forged)"
    if decision.fields.get("type") != STATEMENT_TYPE or decision.kind not in KINDS:
        return None, "carries something that is not a Product statement"
    if kind is not None and decision.kind != kind:
        return None, f"carries a {decision.kind} statement, not a {kind} one — forged or replayed"
    signer = ssh.verify(decision.statement.encode("utf-8"), decision.signature, signers, ssh.DECISION_NAMESPACE)
    if signer is None:
        return None, "is not signed by a Product signer (the signer list at HEAD): forged, or signed by another key"
    if repo is not None and decision.repo != repo:
        return None, f"was signed for another repo (root commit {str(decision.repo)[:12]}) — replayed"
    return signer, None


def verify_decision(decision: Decision, signers: list[ssh.Signer], repo: str | None = None) -> ssh.Signer | None:
    """The signer of a decision among `signers` (bound to `repo` when given), or None."""
    return check_decision(decision, signers, repo)[0]


def record(audit: "AuditLog", signer: ssh.Signer, decision: Decision, apply: Callable[[], T] | None = None,
           shown: dict | None = None) -> tuple[dict, T]:
    """Write a signed decision: `apply()` (the Store change, e.g. `lambda: store.reject(pid)`) and its audit
    entry in one transaction, at exactly the log position the statement was signed after. A refused
    `apply` (a concurrent decision won) or a moved log writes nothing."""
    data = {**{k: decision.fields[k] for k in _SHOWN if k in decision.fields}, **(shown or {}), **decision.data()}
    if decision.kind not in EVENT_OF:
        raise ValueError(f"not a decision kind: {decision.kind!r}")
    return audit.record(EVENT_OF[decision.kind], signer.principal, data, apply=apply, after=decision.head)


def check_entry(entry: dict, signers: list[ssh.Signer], repo: str, root: Path | None = None) -> str | None:
    """Why a Product audit entry cannot be trusted, or None: its statement, signer, repo, log position
    and the values it shows are checked. A `product-key` entry may instead name a signed commit."""
    raw = entry.get("data")
    data: dict = raw if isinstance(raw, dict) else {}
    decision = Decision.from_data(data)
    kind = KIND_OF.get(str(entry.get("event")))
    if decision is None and kind == "signer" and data.get("commit"):
        return _check_signer_commit(root, data, signers)
    signer, why = check_decision(decision, signers, repo, kind)
    if why or signer is None or decision is None:
        return why or "carries no Product signature"
    if signer.principal != entry.get("actor"):
        return f"is signed by {signer.principal!r}, not by the actor the entry names"
    where = (entry["seq"] - 1, entry["prev"])
    if decision.head != where:
        signed_at = decision.head[0] if decision.head else "?"
        return (f"was signed after audit seq {signed_at} but sits after seq {where[0]} — replayed at another "
                "log position")
    for name in (*_SHOWN, "block"):
        if name in data and name in decision.fields and data[name] != decision.fields[name]:
            return f"shows another {name} than its signed statement"
    return None


def _check_signer_commit(root: Path | None, data: dict, signers: list[ssh.Signer]) -> str | None:
    from agent.gate import commits as gc

    sha = str(data["commit"])
    try:
        commit = gc.read_commit(Path(root), sha) if root is not None else None
    except UserError:
        commit = None
    if commit is None:
        return f"names signer commit {sha[:12]}, which this repo does not hold"
    if commit.signature is None or ssh.verify(commit.payload, commit.signature, signers, ssh.GIT_NAMESPACE) is None:
        return f"names signer commit {sha[:12]}, which no Product signer signed"
    return None


def rejected(audit: "AuditLog", signers: list[ssh.Signer], repo: str, proposal: str, content_hash: str) -> bool:
    """Does the log hold a rejection of this proposal and content, validly signed by a signer for this repo?"""
    for entry in audit.entries():
        if entry.get("event") != "rejection":
            continue
        decision = Decision.from_data(entry.get("data"))
        if decision is None or decision.fields.get("proposal") != proposal or decision.fields.get("hash") != content_hash:
            continue
        if check_decision(decision, signers, repo, "reject")[1] is None:
            return True
    return False


# -- delivery blocks -------------------------------------------------------------------------------

def open_blocks(store: "Store", signers: list[ssh.Signer], repo: str | None = None,
                audit: "AuditLog | None" = None) -> list[dict]:
    """The delivery blocks that stand, fail closed: every block row counts unless its lift is an unblock
    statement validly signed by one of `signers`, bound to this repo and to that very block. Each returned
    block has a `problem` key: None, or one line (an unsigned or forged block or lift, a block found only
    in the audit log). With `audit`, validly signed block entries whose row is gone stand too."""
    repo = repo or repo_id(store.root)
    rows = store.blocks()
    standing: list[dict] = []
    lifts_in_log: set[str] = set()
    log_blocks: list[tuple[int, Decision]] = []
    if audit is not None:
        for entry in audit.entries():
            decision = Decision.from_data(entry.get("data"))
            if entry.get("event") not in ("block", "unblock") or decision is None:
                continue
            signer, why = check_decision(decision, signers, repo, KIND_OF[entry["event"]])
            if why:
                continue
            if decision.kind == "unblock":
                lifts_in_log.add(str(decision.fields.get("block_statement")))
            else:
                log_blocks.append((entry["seq"], decision))
    digests = set()
    for row in rows:
        digest = block_digest(row)
        digests.add(digest)
        problem = None
        _, why = check_decision(Decision.from_data(row), signers, repo, "block")
        if why:
            problem = f"block {row['id']} {why}; it counts as a block until Product lifts it"
        lift = Decision.from_data({"statement": row.get("lift_statement"), "signature": row.get("lift_signature")})
        if row.get("lifted_at") or digest in lifts_in_log:
            _, lift_why = check_decision(lift, signers, repo, "unblock")
            bound = lift is not None and lift.fields.get("block_statement") == digest
            if (not lift_why and bound) or digest in lifts_in_log:
                continue
            problem = (f"the lift of block {row['id']} " + (lift_why or "names another block")
                       + "; the block stands")
        standing.append({**row, "problem": problem})
    for seq, decision in log_blocks:
        if decision.digest in digests or decision.digest in lifts_in_log:
            continue
        standing.append({"seq": None, "id": f"log-{seq}", "reason": decision.fields.get("reason", ""),
                         "approver": None, "method": "ssh", "created_at": decision.fields.get("at"),
                         "lifted_at": None, "statement": decision.statement, "signature": decision.signature,
                         "problem": f"block signed in the audit log (seq {seq}) is missing from the state "
                                    "database; it stands"})
    return standing
