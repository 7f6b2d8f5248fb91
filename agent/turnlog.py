"""The turn log: every model request and response, tool call and result of a thread, as sent (redacted), in
`.devops-agent/turns.sqlite`. The chat's loop, `ask`, the MCP server and `logs` share it.

Its schema moves by named migrations, as the gate's store does (agent/gate/store.py): each a number, a name and
its statements, applied in one transaction; `PRAGMA user_version` says which ran. A log written before migrations
existed (a `turns` table, version 0) is taken as it is and moved on; a log from a newer devops-agent is refused in
one line, never rewritten."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from agent.core.config import STATE_DIR
from agent.core.errors import UserError

FILE = "turns.sqlite"
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "turns", ("CREATE TABLE IF NOT EXISTS turns (id INTEGER PRIMARY KEY, thread TEXT, at REAL, kind TEXT, "
                  "name TEXT, content TEXT, tokens_in INTEGER, tokens_out INTEGER, latency_ms REAL)",)),
    # `logs THREAD` and `threads()` read by thread: an index, not a scan of every turn ever logged
    (2, "turns by thread", ("CREATE INDEX IF NOT EXISTS turns_by_thread ON turns (thread, id)",)),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def connect(path: Path) -> sqlite3.Connection:
    """WAL with normal sync: a commit survives a killed process (the log is fsynced at checkpoints), not
    necessarily a power cut, and costs no fsync per entry."""
    db = sqlite3.connect(path, check_same_thread=False, timeout=10)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def state_fault(exc: BaseException, path: Path) -> UserError | None:
    """The gate's one line for a state file that cannot be written (disk full, read-only, permission)."""
    from agent.gate.store import fault_error, fs_fault

    fault = fs_fault(exc, path)
    return fault_error(fault, f"{STATE_DIR}/{path.name}") if fault else None


def refuse_newer(path: Path) -> None:
    """A log a newer devops-agent wrote is a UserError, told before anything opens it for writing (switching it to
    WAL would already change its header)."""
    if not path.is_file():
        return
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()
    if version > SCHEMA_VERSION:
        raise UserError(f"{STATE_DIR}/{path.name} was written by a newer devops-agent (turn log schema {version})",
                        "upgrade devops-agent, or move the file away to start a new log")


def migrate(db: sqlite3.Connection, path: Path) -> list[str]:
    """Bring the log to SCHEMA_VERSION; the names of the migrations applied (`refuse_newer` first)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    applied: list[str] = []
    if version == SCHEMA_VERSION:
        return applied
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]  # another process may have moved it meanwhile
        for number, name, statements in MIGRATIONS:
            if number > version:
                for sql in statements:
                    db.execute(sql)
                applied.append(name)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return applied


class TurnLog:
    """Every model request and response, tool call and result of a thread, as sent (redacted).

    `required` (ask, chat): a state folder that cannot be written (disk full, read-only, no permission) is
    the gate's one line, exit 2. Otherwise (the MCP server, `logs`) the log is not kept, said once on
    stderr, and read-only tools still answer."""

    def __init__(self, root: Path, required: bool = False) -> None:
        self.lock = threading.Lock()  # tools of one reply run in parallel threads: one connection, one writer
        self.required = required
        self.unavailable = ""
        self.db: sqlite3.Connection | None = None
        state = Path(root) / STATE_DIR
        self.path = state / FILE
        try:
            state.mkdir(exist_ok=True)
            refuse_newer(self.path)
            self.db = connect(self.path)
            self.db.isolation_level = None  # the migrations' transaction is explicit; each insert commits
            migrate(self.db, self.path)
        except UserError as exc:
            self._fault(exc)
        except (OSError, sqlite3.Error) as exc:
            self._fault(exc)

    def _fault(self, exc: BaseException) -> None:
        error = exc if isinstance(exc, UserError) else state_fault(exc, self.path)
        if error is None:
            raise exc
        if self.required:
            raise error from None
        if not self.unavailable:
            import sys

            self.unavailable = error.line()
            sys.stderr.write(f"devops-agent: the turn log is not kept ({error.message}); "
                             "read-only tools still answer\n")
        if self.db is not None:
            try:
                self.db.close()
            except sqlite3.Error:
                pass
        self.db = None

    def add(self, thread: str, kind: str, name: str, content: Any, tokens_in: int | None = None,
            tokens_out: int | None = None, latency_ms: float | None = None) -> None:
        text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, default=str)
        with self.lock:
            if self.db is None:
                return
            try:
                self.db.execute("INSERT INTO turns (thread, at, kind, name, content, tokens_in, tokens_out, "
                                "latency_ms) VALUES (?,?,?,?,?,?,?,?)", (thread, time.time(), kind, name,
                                                                         _plain(text), tokens_in, tokens_out,
                                                                         latency_ms))
            except (OSError, sqlite3.Error) as exc:
                self._fault(exc)

    def threads(self) -> list[dict]:
        if self.db is None:
            return []
        rows = self.db.execute("SELECT thread, MIN(at), MAX(at), COUNT(*), SUM(tokens_in), SUM(tokens_out) "
                               "FROM turns GROUP BY thread ORDER BY MAX(at) DESC").fetchall()
        return [{"thread": r[0], "started": r[1], "last": r[2], "entries": r[3], "tokens_in": r[4] or 0,
                 "tokens_out": r[5] or 0} for r in rows]

    def entries(self, thread: str) -> list[dict]:
        if self.db is None:
            return []
        rows = self.db.execute("SELECT at, kind, name, content, tokens_in, tokens_out, latency_ms FROM turns "
                               "WHERE thread = ? ORDER BY id", (thread,)).fetchall()
        return [{"at": r[0], "kind": r[1], "name": r[2], "content": r[3], "tokens_in": r[4], "tokens_out": r[5],
                 "latency_ms": r[6]} for r in rows]


def _plain(value: Any) -> Any:
    """A model's reply as data every store can hold: a lone surrogate (`"\\ud800"`) becomes U+FFFD, an integer
    beyond 64 bits its digits (msgpack, SQLite and the next request's UTF-8 would each fail on them)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**63:
        return str(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
