"""The append-only audit log `.devops-agent/audit.jsonl`: one JSON entry a line, hash-chained.

Each entry's hash covers its content and the previous entry's hash, so an edit, a deletion or a
reordering breaks the chain; the head (seq, hash) is also kept in the sealed state database, so
deleting the last lines is detected too.
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from agent.gate.store import Store, canonical

GENESIS = "0" * 64
HEAD_META = "audit_head"
LOCK_TIMEOUT_S = 30
FIELDS = ("seq", "ts", "event", "actor", "data", "prev", "hash")
EVENTS = ("proposal", "refusal", "approval", "rejection", "apply", "apply-refused", "apply-aborted",
          "rollback", "rollback-aborted", "block", "unblock", "product-key", "state-reset")


def entry_hash(entry: dict) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


class AuditLog:
    def __init__(self, repo_root: Path, store: Store) -> None:
        self.root = Path(repo_root)
        self.store = store
        self.path = store.state_dir / "audit.jsonl"
        self._lock_path = store.state_dir / "audit.lock"

    def _lock(self):
        from filelock import FileLock

        return FileLock(str(self._lock_path), timeout=LOCK_TIMEOUT_S)

    def _head(self) -> tuple[int, str] | None:
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
        """(seq, hash) to chain from: the log's last entry, unless the sealed head is further along
        (lines were deleted) — then the head, so the gap stays visible to `verify`."""
        head = self._head()
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

    def append(self, event: str, actor: str, data: dict) -> dict:
        """Append one entry (whole line, O_APPEND + fsync, under a lock) and record the new head."""
        with self._lock():
            if self._head() is None and self._last_line() is not None and event != "state-reset":
                # The log predates this state database (deleted or moved away): say so in the log itself.
                self._write(*self._tip(), "state-reset", "devops-agent",
                            {"message": "the state database was created after this log; entries before this "
                                        "one are not backed by a sealed head"})
            return self._write(*self._tip(), event, actor, data)

    def _write(self, seq: int, prev: str, event: str, actor: str, data: dict) -> dict:
        """One entry, chained to (seq, prev): one O_APPEND write + fsync; the caller holds the lock."""
        entry = {"seq": seq + 1, "ts": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                 "event": str(event), "actor": str(actor), "data": data, "prev": prev}
        # Round-trip through JSON first, so the hash is over exactly what a reader parses back.
        entry = json.loads(json.dumps(entry, default=str, ensure_ascii=False))
        entry["hash"] = entry_hash(entry)
        line = canonical(entry) + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size and not self._ends_with_newline():
                line = b"\n" + line  # after a torn write, start on a fresh line
            view = memoryview(line)
            while view:  # os.write may be short for a large entry
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        self.store.set_meta(HEAD_META, json.dumps({"seq": entry["seq"], "hash": entry["hash"]}))
        return entry

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    def _lines(self) -> list[tuple[int, bytes]]:
        with open(self.path, "rb") as fh:
            raw = fh.read()
        lines = raw.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        return list(enumerate(lines, start=1))

    def verify(self) -> tuple[bool, list[str]]:
        """Recompute every hash and link; compare the tip with the sealed head. Problems: one line each."""
        with self._lock():
            head = self._head()
            if not self.path.exists():
                if head:
                    return False, [f"{self._rel()} is missing, but the state database records {head[0]} entries"]
                return True, []
            problems: list[str] = []
            lines = self._lines()
            seq_line = _seq_lines(lines)
            prev_hash, prev_seq = GENESIS, 0
            by_seq: dict[int, str] = {}
            count = 0
            for lineno, raw in lines:
                where = f"line {lineno}"
                try:
                    entry = json.loads(raw)
                    if not isinstance(entry, dict):
                        raise ValueError
                except ValueError:
                    problems.append(f"{where}: not a JSON entry (garbled or truncated)")
                    prev_hash, prev_seq = None, None
                    continue
                if set(entry) != set(FIELDS) or not isinstance(entry.get("seq"), int):
                    problems.append(f"{where}: not an audit entry (fields {', '.join(sorted(entry))})")
                    prev_hash, prev_seq = None, None
                    continue
                count += 1
                seq = entry["seq"]
                where = f"line {lineno} (seq {seq})"
                if entry_hash(entry) != entry["hash"]:
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
                prev_hash, prev_seq = entry["hash"], seq
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
            return not problems, problems

    def entries(self) -> list[dict]:
        """The well-formed entries, in file order (run `verify` to know whether they can be trusted)."""
        if not self.path.exists():
            return []
        out = []
        for _, raw in self._lines():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict) and set(entry) == set(FIELDS):
                out.append(entry)
        return out

    def _rel(self) -> str:
        try:
            return str(self.path.relative_to(self.root))
        except ValueError:
            return str(self.path)



def _seq_lines(lines: list[tuple[int, bytes]]) -> dict[int, int]:
    """seq -> first line holding it, for telling a reordering from a deletion."""
    found: dict[int, int] = {}
    for lineno, raw in lines:
        try:
            seq = json.loads(raw).get("seq")
        except (ValueError, AttributeError):
            continue
        if isinstance(seq, int):
            found.setdefault(seq, lineno)
    return found
