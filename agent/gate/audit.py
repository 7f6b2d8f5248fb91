"""The append-only audit log `.devops-agent/audit.jsonl`: one JSON entry a line, hash-chained.

Each entry's hash covers its content and the previous entry's hash, so an edit, a deletion or a
reordering breaks the chain. The head (seq, hash) is recorded in the state database in the same
transaction as the change the entry describes, and in every gate commit (`Audit-Head: SEQ:HASH`
trailer): the database copy is corruption detection (the same user can reseal it), the commit copy
is what a same-user agent cannot rewrite once it is signed and pushed (`check_heads`).

Product's entries (rejection, block, unblock, product-key) carry a statement signed with Product's
SSH key (`agent.gate.decisions`); `verify(signers=...)` checks each one: the signature, the signer,
the repo it is bound to and the log position it was signed for.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import cast, Callable, Iterable, TypeVar

from agent.core.errors import RefusedError
from agent.gate.store import HEAD_META, StateError, Store, canonical, fault_error, fs_fault

T = TypeVar("T")
GENESIS = "0" * 64
LOCK_TIMEOUT_S = 30
FIELDS = ("seq", "ts", "event", "actor", "data", "prev", "hash")
EVENTS = ("proposal", "refusal", "approval", "rejection", "apply", "apply-refused", "apply-aborted",
          "rollback", "rollback-aborted", "block", "unblock", "product-key", "state-reset", "acceptance")
PRODUCT_EVENTS = ("rejection", "block", "unblock", "product-key")


def entry_hash(entry: dict) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def format_head(head: tuple[int, str]) -> str:
    """`SEQ:HASH`, the value of a gate commit's `Audit-Head:` trailer."""
    return f"{int(head[0])}:{head[1]}"


def parse_head(text: str) -> tuple[int, str] | None:
    """(seq, hash) of an `Audit-Head:` value, or None when it is not one."""
    seq, sep, digest = str(text).strip().partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return None
    return int(seq), digest


class AuditLog:
    def __init__(self, repo_root: Path, store: Store) -> None:
        self.root = Path(repo_root)
        self.store = store
        self.path = store.audit_path
        self._lock_path = store.state_dir / "audit.lock"

    @contextmanager
    def _locked(self, writing: bool = True):
        """The log's file lock. A reader on a read-only `.devops-agent/` reads without it (nobody can write)."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self._lock_path), timeout=LOCK_TIMEOUT_S)
        try:
            lock.acquire()
        except Timeout:
            raise StateError(f"{self._rel()} stayed locked for {LOCK_TIMEOUT_S}s",
                             "another devops-agent is writing it; retry") from None
        except OSError as exc:
            fault = fs_fault(exc, self._lock_path)
            if writing or not fault:
                raise (fault_error(fault, self._rel(), writing) if fault else
                       StateError(f"cannot lock {self._rel()}: {exc.strerror or exc}", "retry")) from None
            yield
            return
        try:
            yield
        finally:
            lock.release()

    def _stored_head(self) -> tuple[int, str] | None:
        value = self.store.get_meta(HEAD_META)
        if not value:
            return None
        try:
            head = json.loads(value)
            return int(head["seq"]), str(head["hash"])
        except (ValueError, KeyError, TypeError):
            return None

    def _last_line(self) -> bytes | None:
        """The last non-empty line, read from the end (the log only grows)."""
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return None
        with fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            buf = b""
            pos = end
            while pos > 0:
                step = min(8192, pos)
                pos -= step
                fh.seek(pos)
                buf = fh.read(step) + buf
                stripped = buf.rstrip(b"\n")
                if b"\n" in stripped:
                    return stripped.rsplit(b"\n", 1)[1]
            stripped = buf.rstrip(b"\n")
            return stripped or None

    def _tip(self) -> tuple[int, str]:
        """(seq, hash) to chain from: the log's last entry, unless the recorded head is further along
        (lines were deleted) — then the head, so the gap stays visible to `verify`."""
        head = self._stored_head()
        last = self._last_line()
        tip = None
        if last is not None:
            try:
                entry = json.loads(last)
                if entry.get("hash") == entry_hash(entry):
                    tip = (int(entry["seq"]), str(entry["hash"]))
            except (ValueError, KeyError, TypeError, AttributeError):
                tip = None
        if head is not None and (tip is None or tip[0] < head[0]):
            return head
        return tip or (0, GENESIS)

    def head(self) -> tuple[int, str]:
        """The current tip (seq, hash), (0, GENESIS) for an empty log: what a gate commit records in its
        `Audit-Head:` trailer and what a Product statement is signed after."""
        return self._tip()

    # -- writing ----------------------------------------------------------------------

    def append(self, event: str, actor: str, data: dict) -> dict:
        """Append one entry (whole line, O_APPEND + fsync, under a lock) and record the new head."""
        return self.record(event, actor, data)[0]

    def record(self, event: str, actor: str, data: dict, apply: Callable[[], T] | None = None,
               after: tuple[int, str] | None = None) -> tuple[dict, T]:
        """One logical write: `apply()` (Store calls: they join one transaction), the entry, and its head,
        all or nothing. `after`: the head a signed statement was made after; when the log has moved since,
        RefusedError and nothing is written. An exception from `apply` (a refused compare-and-set: a
        concurrent approval or rejection) writes nothing either."""
        with self._locked():
            size = None
            try:
                with self.store.transaction():
                    if self._stored_head() is None and event != "state-reset":
                        self.store.require_intact()
                    tip = self._tip()
                    if after is not None and (int(after[0]), str(after[1])) != tip:
                        raise RefusedError(f"the audit log moved while Product signed (it is at seq {tip[0]}, the "
                                           f"statement was made at seq {after[0]})", "sign again; nothing was recorded")
                    result = cast(T, apply() if apply is not None else None)
                    entry, size = self._write(*tip, event, actor, data)
                    self.store.set_meta(HEAD_META, json.dumps({"seq": entry["seq"], "hash": entry["hash"]}))
            except BaseException:
                if size is not None:
                    self._cut(size)  # the database did not commit: neither does the log
                raise
            return entry, result

    def acknowledge_reset(self, actor: str) -> dict | None:
        """Accept that the state database was lost (see `Store.reset_problem`): a `state-reset` entry that
        says so, after which the gate works again. None when there was nothing to acknowledge."""
        problem = self.store.reset_problem()
        if problem is None:
            return None
        return self.append("state-reset", actor, {"message": problem + "; acknowledged"})

    def _write(self, seq: int, prev: str, event: str, actor: str, data: dict) -> tuple[dict, int]:
        """One entry chained to (seq, prev): one O_APPEND write + fsync; the caller holds the lock. Returns
        the entry and the file's size before it (a failed write is cut back to it: never half a line)."""
        entry = {"seq": seq + 1, "ts": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                 "event": str(event), "actor": str(actor), "data": data, "prev": prev}
        # Round-trip through JSON first, so the hash is over exactly what a reader parses back.
        entry = json.loads(json.dumps(entry, default=str, ensure_ascii=False))
        entry["hash"] = entry_hash(entry)
        line = canonical(entry) + b"\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise self._os_error(exc) from None
        size = None
        try:
            size = os.fstat(fd).st_size
            if size and not self._ends_with_newline():
                line = b"\n" + line  # after a torn write, start on a fresh line
            view = memoryview(line)
            while view:  # os.write may be short for a large entry
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            if size is not None:
                _truncate(fd, size)
            raise self._os_error(exc) from None
        finally:
            os.close(fd)
        return entry, size

    def _cut(self, size: int) -> None:
        try:
            fd = os.open(self.path, os.O_WRONLY)
        except OSError:
            return
        try:
            _truncate(fd, size)
        finally:
            os.close(fd)

    def _os_error(self, exc: OSError) -> StateError:
        fault = fs_fault(exc, self.path)
        if fault:
            return fault_error(fault, self._rel())
        return StateError(f"cannot write {self._rel()}: {exc.strerror or exc}", "retry; nothing was recorded")

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    # -- reading ----------------------------------------------------------------------

    def _lines(self) -> list[tuple[int, bytes]]:
        with open(self.path, "rb") as fh:
            raw = fh.read()
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        return list(enumerate(lines, start=1))

    def _parsed(self) -> tuple[list[tuple[int, dict | None]], list[str]]:
        """(line number, entry) of every well-formed entry, and one problem line for every other line."""
        entries: list[tuple[int, dict | None]] = []
        problems: list[str] = []
        for lineno, raw in self._lines():
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = None
            if not isinstance(entry, dict):
                what = "an empty line" if not raw.strip() else "not a JSON entry (garbled or truncated)"
                problems.append(f"line {lineno}: {what}")
                entries.append((lineno, None))
                continue
            if set(entry) != set(FIELDS) or not isinstance(entry.get("seq"), int) or isinstance(entry["seq"], bool):
                problems.append(f"line {lineno}: not an audit entry (fields {', '.join(sorted(map(str, entry)))})")
                entries.append((lineno, None))
                continue
            entries.append((lineno, entry))
        return entries, problems

    def verify(self, signers: list | None = None, repo_id: str | None = None) -> tuple[bool, list[str]]:
        """Recompute every hash and link; compare the tip with the recorded head; with `signers` (the signer
        list at HEAD), check every Product entry's signed statement. Problems: one line each; never raises
        for a damaged log."""
        try:
            with self._locked(writing=False):
                return self._verify(signers, repo_id)
        except StateError as exc:
            return False, [exc.line()]

    def _verify(self, signers, repo_id) -> tuple[bool, list[str]]:
        head = self._stored_head()
        if not self.path.exists():
            if head:
                return False, [f"{self._rel()} is missing, but the state database records {head[0]} entries"]
            return True, []
        if self.path.is_dir() or not os.access(self.path, os.R_OK):
            return False, [f"{self._rel()} cannot be read"]
        parsed, garbage = self._parsed()
        problems: list[str] = []
        bad_lines = iter(garbage)
        seq_line = {e["seq"]: n for n, e in reversed(parsed) if e is not None}
        prev_hash: str | None = GENESIS
        prev_seq: int | None = 0
        by_seq: dict[int, str] = {}
        good: list[tuple[int, dict]] = []
        for lineno, entry in parsed:
            if entry is None:
                problems.append(next(bad_lines))
                prev_hash, prev_seq = None, None
                continue
            seq = entry["seq"]
            where = f"line {lineno} (seq {seq})"
            intact = entry_hash(entry) == entry["hash"]
            if not intact:
                problems.append(f"{where}: content does not match its hash — the entry was edited")
            if prev_seq is not None and seq != prev_seq + 1:
                if seq <= prev_seq:
                    problems.append(f"{where}: comes after seq {prev_seq} — entries were reordered or duplicated")
                elif all(n in seq_line for n in range(prev_seq + 1, seq)):
                    problems.append(f"{where}: follows seq {prev_seq} — entries were reordered "
                                    f"(seq {prev_seq + 1} is at line {seq_line[prev_seq + 1]})")
                else:
                    missing = f"seq {prev_seq + 1} was" if seq == prev_seq + 2 else f"seq {prev_seq + 1}–{seq - 1} were"
                    problems.append(f"{where}: follows seq {prev_seq} — {missing} deleted")
            elif prev_hash is not None and entry["prev"] != prev_hash:
                problems.append(f"{where}: does not link to the entry before it — that entry was edited or replaced")
            by_seq.setdefault(seq, entry["hash"])
            if intact:
                good.append((lineno, entry))
            prev_hash, prev_seq = entry["hash"], seq
        count = len(by_seq)
        if head is None:
            if count:
                problems.append(f"the state database records no audit head, but the log has {count} entries — "
                                "the state database was replaced or reset")
        elif head[0] not in by_seq:
            last = max(by_seq) if by_seq else 0
            problems.append(f"the log ends at seq {last}, but the state database records seq {head[0]} — "
                            f"the last {head[0] - last} entr{'y was' if head[0] - last == 1 else 'ies were'} deleted"
                            if head[0] > last else
                            f"seq {head[0]} recorded by the state database is missing from the log")
        elif by_seq[head[0]] != head[1]:
            problems.append(f"seq {head[0]} differs from the one the state database recorded — the log was rewritten")
        else:
            after = sorted(s for s in by_seq if s > head[0])
            if after:
                problems.append(f"seq {after[0]}–{after[-1]} come after the head the state database recorded "
                                f"(seq {head[0]}) — appended outside devops-agent, or a write was interrupted"
                                if len(after) > 1 else
                                f"seq {after[0]} comes after the head the state database recorded (seq {head[0]}) "
                                "— appended outside devops-agent, or a write was interrupted")
        if signers is not None:
            problems.extend(self._check_signed(good, signers, repo_id))
        return not problems, problems

    def _check_signed(self, good: list[tuple[int, dict]], signers: list, repo_id: str | None) -> list[str]:
        from agent.gate import decisions

        good = [(n, e) for n, e in good if e["event"] in PRODUCT_EVENTS]
        if repo_id is None:
            if not good:
                return []
            try:
                repo_id = decisions.repo_id(self.root)
            except Exception as exc:  # noqa: BLE001 — any failure to read git is reported, not raised
                return [f"cannot tell which repo this log belongs to ({getattr(exc, 'message', exc)}): "
                        "Product's signatures were not checked"]
        problems = []
        seen: dict[str, int] = {}
        for lineno, entry in good:
            where = f"line {lineno} (seq {entry['seq']})"
            problem = decisions.check_entry(entry, signers, repo_id, self.root)
            if problem:
                problems.append(f"{where}: {entry['event']} by {entry['actor']!r} {problem}")
                continue
            decision = decisions.Decision.from_data(entry["data"])
            if decision is None:
                continue
            digest = decision.digest
            if digest in seen:
                problems.append(f"{where}: {entry['event']} repeats the statement of seq {seen[digest]} — replayed")
            seen.setdefault(digest, entry["seq"])
        return problems

    def check_heads(self, heads: Iterable[tuple]) -> list[str]:
        """Compare the log with heads recorded elsewhere (the `Audit-Head: SEQ:HASH` trailers of gate
        commits; an optional third item names where, e.g. the commit). One line per head the log does not
        hold: shorter (truncated, or an old copy restored) or different (rolled back, rewritten)."""
        try:
            with self._locked(writing=False):
                parsed = self._parsed()[0] if self.path.exists() else []
        except (StateError, OSError) as exc:
            return [f"cannot read {self._rel()}: {getattr(exc, 'message', exc)}"]
        by_seq: dict[int, str] = {}
        for _, entry in parsed:
            if entry is not None and entry_hash(entry) == entry["hash"]:
                by_seq.setdefault(entry["seq"], entry["hash"])
        last = max(by_seq, default=0)
        problems = []
        for item in heads:
            seq, digest = int(item[0]), str(item[1])
            where = f" ({item[2]})" if len(item) > 2 and item[2] else ""
            if seq == 0:
                continue
            if seq not in by_seq:
                problems.append(f"a gate commit{where} recorded audit seq {seq}, but the log "
                                + (f"ends at seq {last} — it was truncated or an old copy restored"
                                   if seq > last else f"has no seq {seq} — entries were deleted"))
            elif by_seq[seq] != digest:
                problems.append(f"audit seq {seq} differs from the one a gate commit{where} recorded — "
                                "the log was rolled back or rewritten")
        return problems

    def entries(self) -> list[dict]:
        """The well-formed entries, in file order (run `verify` to know whether they can be trusted)."""
        if not self.path.exists():
            return []
        try:
            return [e for _, e in self._parsed()[0] if e is not None]
        except OSError:
            return []

    def _rel(self) -> str:
        try:
            return str(self.path.relative_to(self.root))
        except ValueError:
            return str(self.path)


def _truncate(fd: int, size: int) -> None:
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EBADF, errno.EINVAL):
            raise
