"""Git objects of the gate, built with plumbing only: no hooks, filters, fsmonitor or work tree.

A proposal's commit is base tree + the approved patch applied to the approved base blobs in a private
index (`GIT_INDEX_FILE`, `git apply --cached`, `write-tree`); the commit object is written by us, signed
by Product with `ssh-keygen -Y sign -n git` over exactly the bytes git verifies, and stored with
`hash-object -t commit -w`. Refs move only by compare-and-swap (`update-ref NEW OLD`), and the work tree
is written afterwards from the committed blobs, never re-read from it.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from agent.core.errors import RefusedError, UserError
from sources.git import GitError, no_filters, run_git, run_git_bytes, tree_entry  # noqa: F401  (tree_entry: the gate's reads)

APPROVED_REF = "refs/devops-agent/approved/"
ROLLBACK_REF = "refs/devops-agent/rollback/"
_SHA = re.compile(r"^[0-9a-f]{40}$")


# ------------------------------------------------------------------------------ commit objects

@dataclass
class CommitObject:
    sha: str
    tree: str
    parents: list[str]
    author: str
    committer: str
    message: str
    payload: bytes  # the object without its gpgsig header: what the signature covers
    signature: str | None

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]

    def trailers(self) -> dict[str, str]:
        """The last paragraph's `Key: value` lines (first value of each key)."""
        paragraphs = [p for p in self.message.strip().split("\n\n") if p.strip()]
        out: dict[str, str] = {}
        if len(paragraphs) > 1:
            for line in paragraphs[-1].splitlines():
                key, sep, value = line.partition(": ")
                if sep and re.match(r"^[A-Za-z][A-Za-z0-9-]*$", key):
                    out.setdefault(key, value.strip())
        return out


def parse_commit(sha: str, raw: bytes) -> CommitObject:
    head, sep, body = raw.partition(b"\n\n")
    lines = head.split(b"\n")
    kept: list[bytes] = []
    sig_lines: list[bytes] = []
    fields: dict[str, list[str]] = {}
    in_sig = False
    for line in lines:
        if line.startswith(b" "):
            if in_sig:
                sig_lines.append(line[1:])
            else:
                kept.append(line)
            continue
        in_sig = line.startswith(b"gpgsig ")
        if in_sig:
            sig_lines.append(line[len(b"gpgsig "):])
            continue
        kept.append(line)
        key, _, value = line.partition(b" ")
        fields.setdefault(key.decode("ascii", "replace"), []).append(value.decode("utf-8", "replace"))
    payload = b"\n".join(kept) + sep + body
    signature = (b"\n".join(sig_lines).decode("ascii", "replace") + "\n") if sig_lines else None
    return CommitObject(sha=sha, tree=fields.get("tree", [""])[0], parents=fields.get("parent", []),
                        author=fields.get("author", [""])[0], committer=fields.get("committer", [""])[0],
                        message=body.decode("utf-8", "replace"), payload=payload, signature=signature)


def read_commit(repo: Path, sha: str) -> CommitObject:
    if not _SHA.match(sha or ""):
        raise UserError(f"{sha!r} is not a commit id", "pass a full 40-character sha")
    try:
        raw = run_git_bytes(["cat-file", "commit", sha], repo)
    except GitError:
        raise RefusedError(f"commit {sha[:12]} is not in {repo}", "the approved objects are gone: approve again") from None
    return parse_commit(sha, raw)


def unsigned_commit(tree: str, parents: list[str], identity: str, message: str, when: datetime | None = None) -> bytes:
    when = when or datetime.now(timezone.utc)
    stamp = f"{identity} {int(when.timestamp())} +0000"
    lines = [f"tree {tree}", *(f"parent {p}" for p in parents), f"author {stamp}", f"committer {stamp}"]
    return ("\n".join(lines) + "\n\n" + message).encode("utf-8")


def with_signature(payload: bytes, signature: str) -> bytes:
    """The commit object git would write for `git commit -S`: a gpgsig header after the others."""
    head, sep, body = payload.partition(b"\n\n")
    sig = signature.strip("\n").split("\n")
    header = b"gpgsig " + sig[0].encode("ascii") + b"".join(b"\n " + l.encode("ascii") for l in sig[1:])
    return head + b"\n" + header + sep + body


def write_commit(repo: Path, raw: bytes) -> str:
    return run_git_bytes(["hash-object", "-t", "commit", "-w", "--stdin"], repo, input_bytes=raw).decode().strip()


def identity_of(principal: str) -> str:
    email = principal if "@" in principal else f"{principal}@devops-agent"
    name = principal.split("@", 1)[0]
    return f"{name} <{email}>"


# ------------------------------------------------------------------------------ trees and refs

def rev(repo: Path, what: str) -> str | None:
    out = run_git(["rev-parse", "--verify", "-q", "--end-of-options", what], repo, check=False).strip()
    return out or None


def head(repo: Path) -> str:
    sha = rev(repo, "HEAD^{commit}")
    if sha is None:
        raise UserError(f"{repo} has no commit yet", "commit the platform first")
    return sha


def branch(repo: Path) -> str:
    """The branch HEAD points at; the gate never moves a detached platform HEAD."""
    ref = run_git(["symbolic-ref", "-q", "HEAD"], repo, check=False).strip()
    if not ref:
        raise RefusedError(f"{repo}: HEAD is detached", "check out the platform's branch (main) first")
    return ref


def blob(repo: Path, sha: str) -> bytes:
    return run_git_bytes(["cat-file", "blob", sha], repo)


def has_commit(repo: Path, sha: str) -> bool:
    return (repo / ".git").exists() and rev(repo, f"{sha}^{{commit}}") == sha


def build_tree(repo: Path, base: str, patch: str | None, gitlinks: dict[str, str] | None = None) -> str:
    """The tree of `base` with `patch` applied to its blobs and `gitlinks` set, in a private index."""
    with tempfile.TemporaryDirectory(prefix="devops-agent-index-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        run_git(["read-tree", f"{base}^{{tree}}"], repo, env=env)
        if patch:
            try:
                run_git_bytes(["apply", "--cached", "--whitespace=nowarn", "-"], repo, env=env,
                              input_bytes=patch.encode("utf-8", "surrogateescape"))
            except GitError as exc:
                raise RefusedError(f"the approved patch does not apply to {base[:12]}: {exc.message}",
                                   "propose the change again against the current files") from None
        for path, sha in (gitlinks or {}).items():
            run_git(["update-index", "--add", "--cacheinfo", f"160000,{sha},{path}"], repo, env=env)
        return run_git(["write-tree"], repo, env=env).strip()


def changed_paths(repo: Path, old: str, new: str) -> list[tuple[str, str, str, str]]:
    """(status, new mode, new sha, path) of each path that differs between two commits (no renames)."""
    out = run_git_bytes(["diff-tree", "-r", "-z", "--no-renames", old, new, "--"],
                        repo).decode("utf-8", "surrogateescape")
    parts = out.split("\0")
    result = []
    i = 0
    while i + 1 < len(parts):
        meta = parts[i]
        if not meta.startswith(":"):
            i += 1
            continue
        _old_mode, new_mode, _old_sha, new_sha, status = meta[1:].split()
        result.append((status, new_mode, new_sha, parts[i + 1]))
        i += 2
    return result


def update_ref(repo: Path, ref: str, new: str, old: str | None, reason: str) -> None:
    """Compare-and-swap: `ref` moves to `new` only if it still holds `old` (or does not exist when old is None)."""
    try:
        run_git(["update-ref", "-m", reason, ref, new, old or "0" * 40], repo)
    except GitError as exc:
        raise RefusedError(f"{ref} in {repo.name or repo} did not move: {exc.message}",
                           "HEAD moved meanwhile or a ref lock remains; run the command again") from None


def keep_ref(repo: Path, ref: str, sha: str) -> None:
    run_git(["update-ref", ref, sha], repo)


def delete_ref(repo: Path, ref: str) -> None:
    run_git(["update-ref", "-d", ref], repo, check=False)


def no_stale_locks(repo: Path) -> None:
    """Refuse before moving anything when git's own locks remain (a killed git leaves them)."""
    git_dir = Path(run_git(["rev-parse", "--absolute-git-dir"], repo).strip())
    ref = run_git(["symbolic-ref", "-q", "HEAD"], repo, check=False).strip()
    for lock in [git_dir / "index.lock", git_dir / "HEAD.lock", *([git_dir / f"{ref}.lock"] if ref else [])]:
        if lock.exists():
            raise RefusedError(f"{lock} exists: another git process is running in {repo.name or repo}, or one was killed",
                               f"if no git process is running, remove {lock} and run the command again")


# ------------------------------------------------------------------------------ the work tree

@dataclass
class WorkTreeUpdate:
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def checkout_paths(repo: Path, old: str, new: str) -> WorkTreeUpdate:
    """Write exactly the files that differ between `old` and `new` from `new`'s blobs (no smudge filter),
    then point the index entries at them. A path that is (or goes through) a symlink is refused."""
    done = WorkTreeUpdate()
    index_lines: list[str] = []
    for status, mode, sha, path in changed_paths(repo, old, new):
        if mode == "160000" or (status == "D" and sha == "0" * 40 and _is_gitlink_path(repo, old, path)):
            index_lines.append(f"{mode if status != 'D' else '0'} {sha}\t{path}")
            continue
        target = _safe_target(repo, path)
        if status == "D":
            if target.exists():
                target.unlink()
            index_lines.append(f"0 {'0' * 40}\t{path}")
            done.removed.append(path)
            continue
        data = blob(repo, sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.devops-agent-tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o755 if mode == "100755" else 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        index_lines.append(f"{mode} {sha}\t{path}")
        done.written.append(path)
    if index_lines:
        # Writing the index re-reads a "racily clean" entry's file through its filter: blank every driver
        # (the repo's own code must never run in ours; seen as a filter process started under update-index)
        run_git([*no_filters(repo), "update-index", "-z", "--index-info"], repo,
                input_text="\0".join(index_lines) + "\0")
    return done


def _is_gitlink_path(repo: Path, commit: str, path: str) -> bool:
    entry = tree_entry(repo, commit, path)
    return entry is not None and entry[0] == "160000"


def _safe_target(repo: Path, path: str) -> Path:
    current = Path(repo)
    for part in path.split("/"):
        if part in ("", ".", "..", ".git"):
            raise RefusedError(f"refusing to write {path}: not a plain repository path", "nothing else was written")
        current = current / part
        if current.is_symlink():
            raise RefusedError(f"refusing to write {path}: {current} is a symlink in the work tree",
                               "remove the symlink, then run the command again (the refs already moved)")
    return current


def work_tree_matches(repo: Path, path: str, sha: str | None) -> bool:
    """Does the work-tree file hold exactly the blob `sha` (None: absent)? Hashed here, never by git's filters."""
    from tools.changes import git_blob_hash

    full = Path(repo) / path
    if full.is_symlink():
        return False
    if not full.exists():
        return sha is None
    return full.is_file() and sha is not None and git_blob_hash(full.read_bytes()) == sha
