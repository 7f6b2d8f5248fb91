"""The gate's state: proposals, approvals, delivery blocks, meta — SQLite under the repo's `.devops-agent/`.

Safe under concurrent processes (WAL, a 10 s busy timeout, compare-and-set transitions under
BEGIN IMMEDIATE). Every row carries an HMAC of its stored content under the machine secret
(agent.gate.keys): corruption detection only, since the same user can read that secret. Authority
lives in Product's SSH signatures (agent.gate.decisions, signed commits), never in a MAC.

Faults say what they are: a full disk, a read-only or unreadable `.devops-agent/`, a locked, corrupt
or foreign file, or a state database that is empty while the audit log is not (state was lost).
"""
from __future__ import annotations

import errno
import json
import os
import secrets
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from agent.core import hints
from agent.core.config import STATE_DIR
from agent.core.errors import RefusedError, UserError

DB_NAME = "state.db"
AUDIT_NAME = "audit.jsonl"
HEAD_META = "audit_head"
SCHEMA_VERSION = 2
STATUSES = frozenset({"pending", "refused", "approved", "rejected", "applying", "applied",
                      "rolling_back", "rolled_back", "failed"})
BUSY_TIMEOUT_S = 10
_DB_REL = f"{STATE_DIR}/{DB_NAME}"
_MOVE_HINT = f"move it away (keep the copy); `{hints.audit_verify()}` tells what the log says"
ACKNOWLEDGE_HINT = ("restore it from a backup, or accept the loss with "
                    f"`{hints.audit_acknowledge_reset()}` (recorded in the log)")


class StateError(UserError):
    """The state database is corrupt, tampered with, or has no such row. One line, exit 2."""


class StateReset(StateError):
    """state.db holds nothing while the audit log has entries: proposals and approvals were lost."""


def fs_fault(exc: BaseException | None, where: Path) -> str | None:
    """What a write failure is when it is not corruption: 'disk full', 'read-only' or 'permission denied'."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "disk full"
    if code == errno.EROFS:
        return "read-only file system"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied"
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_FULL"):
        return "disk full"
    probe = where if where.is_dir() else where.parent
    try:
        st = os.statvfs(probe)
    except OSError:
        return None
    if st.f_flag & os.ST_RDONLY:
        return "read-only file system"
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")) or \
            isinstance(exc, PermissionError):
        return "read-only file system" if st.f_flag & os.ST_RDONLY else "permission denied"
    if name.startswith(("SQLITE_IOERR", "SQLITE_FULL")) or code == errno.EIO or isinstance(exc, OSError):
        if st.f_bavail == 0 or (st.f_files and st.f_favail == 0):
            return "disk full"
        if not os.access(probe, os.W_OK):
            return "permission denied"
    return None


def fault_error(fault: str, rel: str, writing: bool = True) -> StateError:
    """The one line for a disk-full / read-only / permission fault on a state file: never 'move it away'."""
    verb = "writing" if writing else "opening"
    tail = "; nothing was recorded" if writing else ""
    if fault == "disk full":
        return StateError(f"disk full {verb} {rel}", f"free space and retry{tail}")
    if fault == "read-only file system":
        return StateError(f"{rel} is on a read-only file system", f"remount it read-write and retry{tail}")
    return StateError(f"permission denied {verb} {rel}", f"give this user write access to {STATE_DIR}/ and retry{tail}")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def ensure_state_dir(root: Path) -> Path:
    """`.devops-agent/` (0700) with a `.gitignore` of `*`, so it never shows in `git status`."""
    state = Path(root) / STATE_DIR
    try:
        state.mkdir(mode=0o700, exist_ok=True)
        ignore = state / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n", encoding="utf-8")
    except OSError as exc:
        fault = fs_fault(exc, state)
        if fault:
            raise fault_error(fault, f"{STATE_DIR}/", writing=True) from None
        raise StateError(f"cannot create {STATE_DIR}/: {exc.strerror or exc}", "check the repo directory") from None
    return state


@dataclass
class ProposalRecord:
    id: str
    created_at: str
    status: str
    hash: str
    diff: str
    meta: dict
    targets: list[dict]
    services: list[str]
    refusals: list[dict]
    applied_commits: dict
    rollback_commits: dict
    updated_at: str


def proposal_view(rec: ProposalRecord, approvals: list | None = None,
                  signed_commit: str | None | bool = False) -> dict:
    """The one JSON shape of a proposal, for every front end (the CLI's --format json, the catalogue's result, the
    MCP resources): the record without its diff (shown apart, quoted as data where a model reads it); with
    `approvals`, each approval without its signature; with `signed_commit` (None: not signed yet), the commit
    Product signed."""
    data: dict[str, object] = {
        "id": rec.id, "hash": rec.hash, "short_hash": rec.hash[:8], "status": rec.status,
        "created_at": rec.created_at, "updated_at": rec.updated_at, "meta": rec.meta, "targets": rec.targets,
        "services": rec.services, "refusals": rec.refusals, "applied_commits": rec.applied_commits,
        "rollback_commits": rec.rollback_commits}
    if approvals is not None:
        data["approvals"] = [{"id": a.id, "approver": a.approver, "method": a.method, "created_at": a.created_at,
                              "expires_at": a.expires_at, "revoked": a.revoked, "hash": a.hash} for a in approvals]
    if signed_commit is not False:
        data["signed_commit"] = signed_commit
    return data


@dataclass
class ApprovalRecord:
    id: str
    proposal_id: str
    hash: str
    approver: str
    method: str  # "tty" | "key"
    created_at: str
    expires_at: str
    signature: str
    revoked: bool = False

    def is_expired(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(timezone.utc)
        expires = datetime.strptime(self.expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        return expires <= now

    @property
    def expired(self) -> bool:
        return self.is_expired()


_P_JSON = ("meta", "targets", "services", "refusals", "applied_commits", "rollback_commits")
_P_COLS = ("id", "created_at", "updated_at", "status", "hash", "diff", *_P_JSON)
_A_COLS = ("id", "proposal_id", "hash", "approver", "method", "created_at", "expires_at", "signature", "revoked")
_B_COLS_V1 = ("seq", "id", "reason", "approver", "method", "signature", "created_at",
              "lifted_at", "lifted_by", "lift_method", "lift_signature")
_B_COLS = (*_B_COLS_V1, "statement", "lift_statement")


def _mac(table: str, values: dict) -> str:
    from agent.gate.keys import local_mac

    # The table name is sealed too: a valid row cannot be replayed into another table.
    return local_mac(f"devops-agent/{table}\0".encode() + canonical(values))


# -- named schema steps: a state file of any age opens -------------------------------------------

def m001_initial(db: sqlite3.Connection) -> None:
    """Proposals, approvals, delivery blocks and sealed settings."""
    cols = ", ".join(f"{c} TEXT NOT NULL" for c in _P_COLS)
    db.execute(f"CREATE TABLE proposals ({cols}, mac TEXT NOT NULL, PRIMARY KEY (id))")
    db.execute("CREATE TABLE approvals (id TEXT PRIMARY KEY, proposal_id TEXT NOT NULL REFERENCES proposals(id), "
               "hash TEXT NOT NULL, approver TEXT NOT NULL, method TEXT NOT NULL, created_at TEXT NOT NULL, "
               "expires_at TEXT NOT NULL, signature TEXT NOT NULL, revoked INTEGER NOT NULL, mac TEXT NOT NULL)")
    db.execute("CREATE INDEX approvals_proposal ON approvals(proposal_id)")
    db.execute("CREATE TABLE blocks (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, reason TEXT NOT NULL, "
               "approver TEXT NOT NULL, method TEXT NOT NULL, signature TEXT NOT NULL, created_at TEXT NOT NULL, "
               "lifted_at TEXT, lifted_by TEXT, lift_method TEXT, lift_signature TEXT, mac TEXT NOT NULL)")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL, mac TEXT NOT NULL)")


def m002_signed_decisions(db: sqlite3.Connection) -> None:
    """Blocks keep Product's signed statements (block and lift); existing rows are checked, then resealed."""
    db.execute("ALTER TABLE blocks ADD COLUMN statement TEXT")
    db.execute("ALTER TABLE blocks ADD COLUMN lift_statement TEXT")
    cur = db.execute(f"SELECT {', '.join(_B_COLS_V1)}, mac FROM blocks")
    for values in cur.fetchall():
        old = dict(zip(_B_COLS_V1, values[:-1]))
        if not secrets.compare_digest(_mac("blocks", old), values[-1]):
            raise StateError(f"block {old['id']} was modified outside devops-agent",
                             f"the state no longer matches its seals; `{hints.audit_verify()}` tells what the log says")
        new = {**old, "statement": None, "lift_statement": None}
        db.execute("UPDATE blocks SET mac = ? WHERE seq = ?", (_mac("blocks", new), old["seq"]))


MIGRATIONS = ((1, m001_initial), (2, m002_signed_decisions))
assert MIGRATIONS[-1][0] == SCHEMA_VERSION


class Store:
    """One repo's state database. Methods are safe across processes and threads."""

    def __init__(self, repo_root: Path) -> None:
        self.root = Path(repo_root)
        if not self.root.is_dir():
            raise UserError(f"repo {self.root} is not a directory", "pass the platform's root with --repo")
        self.state_dir = ensure_state_dir(self.root)
        self.db_path = self.state_dir / DB_NAME
        self.audit_path = self.state_dir / AUDIT_NAME
        self._lock = threading.RLock()
        self._depth = 0  # open transactions on this connection (nested ones join the outer one)
        self._intact = False
        try:
            self._conn = sqlite3.connect(str(self.db_path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                         check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._db_error(exc, writing=False) from None
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._migrate()
        except StateError:
            self._conn.close()
            raise
        except sqlite3.Error as exc:
            self._conn.close()
            raise self._db_error(exc, writing=False) from None
        self._check_secret()

    def close(self) -> None:
        self._conn.close()

    # -- plumbing ---------------------------------------------------------------------

    @contextmanager
    def transaction(self):
        """One logical write: everything inside commits together or not at all. Store methods called
        inside join it (the audit log records its entry's head in the same transaction as the effect)."""
        with self._tx() as db:
            yield db

    @contextmanager
    def _tx(self, immediate: bool = True):
        """One transaction; BEGIN IMMEDIATE takes the write lock up front so compare-and-set is atomic."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            except sqlite3.Error as exc:
                raise self._db_error(exc) from None
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._depth = 0
                self._rollback()
                raise
            self._depth = 0
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._db_error(exc) from None

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # sqlite already rolled back (a full disk does that)

    def _read(self, sql: str, args: tuple = ()) -> list[dict]:
        with self._lock:
            try:
                cur = self._conn.execute(sql, args)
                cols = [d[0] for d in cur.description]
                return [dict(zip(cols, row)) for row in cur.fetchall()]
            except sqlite3.Error as exc:
                raise self._db_error(exc, writing=False) from None

    def _db_error(self, exc: sqlite3.Error, writing: bool = True) -> StateError:
        if _busy(exc):
            return StateError(f"{_DB_REL} stayed locked for {BUSY_TIMEOUT_S}s", "another devops-agent is holding it; retry")
        fault = fs_fault(exc, self.db_path)
        if fault:
            return fault_error(fault, _DB_REL, writing)
        name = getattr(exc, "sqlite_errorname", "") or ""
        if name.startswith("SQLITE_IOERR"):
            return StateError(f"I/O error on {_DB_REL}: {exc}", "check the disk, then retry; do not delete the file")
        if writing and not name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            return StateError(f"cannot write {_DB_REL}: {exc}", "retry; if it persists, keep a copy and report it")
        return StateError(f"state database {_DB_REL} is corrupt: {exc}", _MOVE_HINT)

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StateError(f"{_DB_REL} was written by a newer devops-agent (schema {version})",
                             "upgrade devops-agent")
        with self._tx() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0 and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise StateError(f"{_DB_REL} is an SQLite file but not a devops-agent state database",
                                 "move it away (keep the copy)")
            fresh = version == 0
            for number, step in MIGRATIONS:
                if number > version:
                    step(db)  # executescript would COMMIT the open transaction: one statement at a time
            if fresh:
                from agent.gate.keys import secret_id

                self._put_meta("secret_id", secret_id(), db)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _check_secret(self) -> None:
        from agent.gate.keys import secret_id, secret_path

        row = self._read("SELECT value FROM meta WHERE key = 'secret_id'")
        if not row or row[0]["value"] != secret_id():
            raise StateError(f"{_DB_REL} was sealed with another machine secret than {secret_path()}",
                             "restore that secret file (or DEVOPS_AGENT_HOME), or move the state database away")

    def _tampered(self, what: str) -> StateError:
        return StateError(f"{what} was modified outside devops-agent",
                          f"the state database no longer matches its seals; `{hints.audit_verify()}` "
                          "tells what the log says")

    # -- a lost state database ----------------------------------------------------------

    def reset_problem(self) -> str | None:
        """One line when this database records no audit head while the audit log holds entries (it was
        deleted, emptied or replaced: proposals, approvals and blocks are gone); None otherwise."""
        if self._intact:
            return None
        if self._meta(None, HEAD_META) is not None:
            self._intact = True
            return None
        count = count_log_entries(self.audit_path)
        if not count:
            return None
        return (f"{_DB_REL} is empty but the audit log has {count} entr{'y' if count == 1 else 'ies'}: "
                "proposals, approvals and blocks were lost")

    def require_intact(self) -> None:
        """StateReset when `reset_problem()` says state was lost: the gate never acts on it silently."""
        problem = self.reset_problem()
        if problem:
            raise StateReset(problem, ACKNOWLEDGE_HINT)

    # -- proposals --------------------------------------------------------------------

    @staticmethod
    def _proposal_row(rec: ProposalRecord) -> dict:
        row = {c: getattr(rec, c) for c in _P_COLS}
        for c in _P_JSON:
            row[c] = canonical(row[c]).decode("utf-8")
        return row

    def _proposal_from(self, row: dict) -> ProposalRecord:
        mac = row.pop("mac")
        if not secrets.compare_digest(_mac("proposals", row), mac):
            raise self._tampered(f"proposal {row['id']}")
        values = dict(row)
        try:
            for c in _P_JSON:
                values[c] = json.loads(values[c])
        except ValueError:
            raise self._tampered(f"proposal {row['id']}") from None
        return ProposalRecord(**values)

    def add_proposal(self, rec: ProposalRecord) -> ProposalRecord:
        """Store a proposal; returns the stored record. A proposal identical to a stored one (same content
        hash, status and refusals: a retry after a failure) is not stored twice: the stored one is returned."""
        if rec.status not in STATUSES:
            raise ValueError(f"unknown proposal status {rec.status!r}")
        self.require_intact()
        row = self._proposal_row(rec)
        row["mac"] = _mac("proposals", row)
        with self._tx() as db:
            cur = db.execute("SELECT * FROM proposals WHERE hash = ? AND status = ? ORDER BY rowid",
                             (rec.hash, rec.status))
            cols = [d[0] for d in cur.description]
            for values in cur.fetchall():
                same = self._proposal_from(dict(zip(cols, values)))
                if (same.diff, same.meta, same.targets, same.refusals) == (rec.diff, rec.meta, rec.targets,
                                                                           rec.refusals):
                    return same
            try:
                db.execute(f"INSERT INTO proposals ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                           tuple(row.values()))
            except sqlite3.IntegrityError:
                raise StateError(f"proposal {rec.id} already exists", "use a new id") from None
        return rec

    def _resolve_id(self, pid: str) -> str:
        pid = (pid or "").strip()
        if not pid:
            raise StateError("no proposal id given", f"list them with `{hints.proposals()}`")
        if self._read("SELECT id FROM proposals WHERE id = ?", (pid,)):
            return pid
        ids = [r["id"] for r in self._read("SELECT id FROM proposals WHERE substr(id, 1, ?) = ?", (len(pid), pid))]
        if len(ids) == 1:
            return ids[0]
        if ids:
            raise StateError(f"proposal id {pid} is ambiguous ({', '.join(sorted(ids)[:5])})", "give more of the id")
        self.require_intact()
        raise StateError(f"no proposal {pid}", f"list them with `{hints.proposals()}`")

    def get_proposal(self, pid: str) -> ProposalRecord:
        full = self._resolve_id(pid)
        rows = self._read("SELECT * FROM proposals WHERE id = ?", (full,))
        if not rows:
            raise StateError(f"no proposal {pid}", f"list them with `{hints.proposals()}`")
        return self._proposal_from(rows[0])

    def list_proposals(self, status: str | None = None) -> list[ProposalRecord]:
        """In the order they were stored: SQLite's rowid grows with each insert and the store never vacuums (the
        one-second timestamp and the random id gave proposals of the same second a random order)."""
        if status is not None and status not in STATUSES:
            raise UserError(f"unknown status {status!r}", f"one of {', '.join(sorted(STATUSES))}")
        self.require_intact()
        sql = "SELECT * FROM proposals" + (" WHERE status = ?" if status else "") + " ORDER BY rowid"
        return [self._proposal_from(r) for r in self._read(sql, (status,) if status else ())]

    def in_flight(self) -> list[ProposalRecord]:
        """Proposals an apply or rollback was killed in (applying, rolling_back): what recovery looks at.
        Never raises StateReset (a lost database has nothing in flight), so recovery cannot hide it."""
        rows = self._read("SELECT * FROM proposals WHERE status IN ('applying', 'rolling_back') ORDER BY rowid")
        return [self._proposal_from(r) for r in rows]

    def transition(self, pid: str, expected: set[str], new: str, **fields) -> ProposalRecord:
        """Compare-and-set the status: RefusedError when the current status is not one of `expected`."""
        if new not in STATUSES:
            raise ValueError(f"unknown proposal status {new!r}")
        unknown = set(fields) - {"applied_commits", "rollback_commits"}
        if unknown:
            raise ValueError(f"transition cannot set {', '.join(sorted(unknown))}")
        full = self._resolve_id(pid)
        with self._tx() as db:
            return self._transition(db, full, expected, new, fields)

    def _transition(self, db, full: str, expected: set[str], new: str, fields: dict) -> ProposalRecord:
        cur = db.execute("SELECT * FROM proposals WHERE id = ?", (full,))
        cols = [d[0] for d in cur.description]
        rec = self._proposal_from(dict(zip(cols, cur.fetchone())))
        if rec.status not in expected:
            raise RefusedError(f"proposal {rec.id} is {rec.status}, not {' or '.join(sorted(expected))}",
                               "list proposals to see where it stands")
        rec.status = new
        rec.updated_at = _now()
        for name, value in fields.items():
            setattr(rec, name, dict(value))
        row = self._proposal_row(rec)
        row["mac"] = _mac("proposals", row)
        db.execute(f"UPDATE proposals SET {', '.join(f'{c} = ?' for c in row if c != 'id')} WHERE id = ?",
                   (*[v for c, v in row.items() if c != "id"], rec.id))
        return rec

    # -- approvals --------------------------------------------------------------------

    @staticmethod
    def _approval_row(rec: ApprovalRecord) -> dict:
        row = {c: getattr(rec, c) for c in _A_COLS}
        row["revoked"] = int(bool(row["revoked"]))
        return row

    def _approval_from(self, row: dict) -> ApprovalRecord:
        mac = row.pop("mac")
        if not secrets.compare_digest(_mac("approvals", row), mac):
            raise self._tampered(f"approval {row['id']} of proposal {row['proposal_id']}")
        return ApprovalRecord(**{**row, "revoked": bool(row["revoked"])})

    def _insert_approval(self, db, rec: ApprovalRecord) -> None:
        row = self._approval_row(rec)
        row["mac"] = _mac("approvals", row)
        if not db.execute("SELECT 1 FROM proposals WHERE id = ?", (rec.proposal_id,)).fetchone():
            raise StateError(f"no proposal {rec.proposal_id}", f"list them with `{hints.proposals()}`")
        try:
            db.execute(f"INSERT INTO approvals ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                       tuple(row.values()))
        except sqlite3.IntegrityError:
            raise StateError(f"approval {rec.id} already exists", "use a new id") from None

    def add_approval(self, rec: ApprovalRecord) -> None:
        self.require_intact()
        with self._tx() as db:
            self._insert_approval(db, rec)

    def record_approval(self, rec: ApprovalRecord, expected: frozenset[str] = frozenset({"pending"})) -> ProposalRecord:
        """The approval row and the move to `approved`, in one transaction: a refused (e.g. concurrent)
        approval writes nothing. Returns the approved proposal."""
        self.require_intact()
        full = self._resolve_id(rec.proposal_id)
        with self._tx() as db:
            approved = self._transition(db, full, set(expected), "approved", {})
            if approved.hash != rec.hash:
                raise RefusedError(f"proposal {full} is not the content that was approved", "approve it again")
            self._insert_approval(db, rec)
        return approved

    def approvals(self, pid: str) -> list[ApprovalRecord]:
        rows = self._read("SELECT * FROM approvals WHERE proposal_id = ? ORDER BY rowid", (pid,))
        return [self._approval_from(r) for r in rows]

    def revoke_approvals(self, pid: str) -> int:
        """Revoke every live approval of a proposal; returns how many were revoked."""
        count = 0
        with self._tx() as db:
            cur = db.execute("SELECT * FROM approvals WHERE proposal_id = ? AND revoked = 0", (pid,))
            cols = [d[0] for d in cur.description]
            for values in cur.fetchall():
                rec = self._approval_from(dict(zip(cols, values)))
                rec.revoked = True
                row = self._approval_row(rec)
                db.execute("UPDATE approvals SET revoked = 1, mac = ? WHERE id = ?", (_mac("approvals", row), rec.id))
                count += 1
        return count

    def reject(self, pid: str, expected: frozenset[str] = frozenset({"pending", "approved"})) -> ProposalRecord:
        """Move to `rejected` and revoke every approval, in one transaction."""
        self.require_intact()
        full = self._resolve_id(pid)
        with self._tx():
            rec = self.transition(full, set(expected), "rejected")
            self.revoke_approvals(full)
        return rec

    # -- delivery blocks (rows as stored: `agent.gate.decisions.open_blocks` judges their signatures) --

    def _block_from(self, row: dict) -> dict:
        mac = row.pop("mac")
        if not secrets.compare_digest(_mac("blocks", row), mac):
            raise self._tampered(f"block {row['id']}")
        return row

    def _blocks(self, db=None) -> list[dict]:
        self.require_intact()
        if db is None:
            rows = self._read("SELECT * FROM blocks ORDER BY seq")
        else:
            cur = db.execute("SELECT * FROM blocks ORDER BY seq")
            cols = [d[0] for d in cur.description]
            rows = [dict(zip(cols, r)) for r in cur.fetchall()]
        blocks = [self._block_from(r) for r in rows]
        # A block is never deleted, only lifted: a missing one was deleted outside devops-agent.
        count = int(self._meta(db, "block_count") or 0)
        seen = {b["seq"] for b in blocks}
        missing = [f"b-{n}" for n in range(1, count + 1) if n not in seen]
        if missing or any(b["seq"] > count for b in blocks):
            raise StateError(f"delivery block {(missing or ['count'])[0]} was deleted outside devops-agent",
                             f"the state no longer matches its seals; `{hints.audit_verify()}` tells what the log says")
        return blocks

    def add_block(self, reason: str, approver: str, method: str, signature: str,
                  statement: str | None = None) -> dict:
        """A new block row; `statement` is Product's signed block statement (its text), `signature` its signature."""
        with self._tx() as db:
            self._blocks(db)
            seq = int(self._meta(db, "block_count") or 0) + 1
            row = {"seq": seq, "id": f"b-{seq}", "reason": reason, "approver": approver, "method": method,
                   "signature": signature, "created_at": _now(), "lifted_at": None, "lifted_by": None,
                   "lift_method": None, "lift_signature": None, "statement": statement, "lift_statement": None}
            db.execute(f"INSERT INTO blocks ({', '.join(row)}, mac) VALUES ({', '.join('?' * (len(row) + 1))})",
                       (*row.values(), _mac("blocks", row)))
            self._put_meta("block_count", str(seq), db)
        return row

    def get_block(self, block_id: str) -> dict:
        bid = _block_id(block_id)
        block = next((b for b in self.blocks() if b["id"] == bid), None)
        if block is None:
            raise StateError(f"no delivery block {block_id}", f"see the open ones with `{hints.release_check()}`")
        return block

    def lift_block(self, block_id: str, approver: str, method: str, signature: str,
                   statement: str | None = None) -> dict:
        bid = _block_id(block_id)
        with self._tx() as db:
            block = next((b for b in self._blocks(db) if b["id"] == bid), None)
            if block is None:
                raise StateError(f"no delivery block {block_id}", f"see the open ones with `{hints.release_check()}`")
            if block["lifted_at"]:
                raise RefusedError(f"block {bid} was already lifted on {block['lifted_at']} by {block['lifted_by']}",
                                   "nothing to do")
            block.update(lifted_at=_now(), lifted_by=approver, lift_method=method, lift_signature=signature,
                         lift_statement=statement)
            db.execute("UPDATE blocks SET lifted_at = ?, lifted_by = ?, lift_method = ?, lift_signature = ?, "
                       "lift_statement = ?, mac = ? WHERE seq = ?",
                       (block["lifted_at"], approver, method, signature, statement, _mac("blocks", block),
                        block["seq"]))
        return block

    def open_blocks(self) -> list[dict]:
        """Rows with no lift recorded, unverified. The gate's answer is `decisions.open_blocks(store, signers)`,
        which also keeps a block whose lift is not validly signed."""
        with self._lock:
            return [b for b in self._blocks() if not b["lifted_at"]]

    def blocks(self) -> list[dict]:
        """Every delivery block row, lifted ones included."""
        with self._lock:
            return self._blocks()

    # -- meta -------------------------------------------------------------------------

    def _put_meta(self, key: str, value: str, db=None) -> None:
        mac = _mac("meta", {"key": key, "value": value})
        (db or self._conn).execute(
            "INSERT INTO meta (key, value, mac) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, mac = excluded.mac", (key, value, mac))

    def _meta(self, db, key: str) -> str | None:
        if db is None:
            rows = self._read("SELECT key, value, mac FROM meta WHERE key = ?", (key,))
        else:
            cur = db.execute("SELECT key, value, mac FROM meta WHERE key = ?", (key,))
            rows = [dict(zip(("key", "value", "mac"), r)) for r in cur.fetchall()]
        if not rows:
            return None
        row = rows[0]
        if not secrets.compare_digest(_mac("meta", {"key": row["key"], "value": row["value"]}), row["mac"]):
            raise self._tampered(f"state setting {key!r}")
        return row["value"]

    def get_meta(self, key: str) -> str | None:
        return self._meta(None, key)

    def set_meta(self, key: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("meta values are strings")
        with self._tx() as db:
            self._put_meta(key, value, db)


def _block_id(block_id) -> str:
    bid = str(block_id).strip()
    return bid if bid.startswith("b-") else f"b-{bid}"


def count_log_entries(path: Path) -> int:
    """How many lines of the audit log at `path` read as entries (0 when it is absent or unreadable)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        return 0
    count = 0
    for line in raw.split(b"\n"):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("seq"), int) and "hash" in entry:
            count += 1
    return count


def _busy(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name:
        return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
    text = str(exc).lower()
    return "locked" in text or "busy" in text
