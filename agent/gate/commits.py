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
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from agent.core.errors import RefusedError, UserError
from agent.core.trailers import TrailerError, parse_trailers
from sources.git import (  # noqa: F401  (tree_entry, ForgedObject: the gate's reads)
    ForgedObject, GitError, MissingObject, no_filters, objects, run_git, run_git_bytes, tree_entry)

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

    def trailers(self) -> dict[str, list[str]]:
        """The trailer block, read strictly (agent.core.trailers): a gate trailer twice, outside the block or
        malformed refuses the commit, with the reason."""
        try:
            return parse_trailers(self.message)
        except TrailerError as exc:
            raise RefusedError(f"signed commit {self.sha[:12]} is refused: {exc}",
                               "ask Product to approve it again (the gate writes each trailer once)") from None


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
        raw = objects(repo).read(sha, "commit")  # re-hashed: a forged object refuses (ForgedObject, exit 2)
    except MissingObject:
        raise RefusedError(f"commit {sha[:12]} is not in {repo}", "the approved objects are gone: approve again") from None
    return parse_commit(sha, raw)


def history(repo: Path, tip: str) -> Iterator[CommitObject]:
    """Every commit reachable from `tip`, each read and re-hashed by the reader, parents taken from the
    verified commits (git's own walk reads them without re-hashing). A parent absent here (a shallow
    clone's boundary) ends that line."""
    store = objects(repo)
    seen: set[str] = set()
    frontier = [tip]
    while frontier:
        batch = [sha for sha in dict.fromkeys(frontier) if sha not in seen]
        seen.update(batch)
        try:
            found = store.read_many(batch)
        except MissingObject:
            found = {sha: store.read_many([sha])[sha] for sha in batch if store.has(sha)}
        frontier = []
        for sha in batch:
            if sha in found and found[sha][0] == "commit":
                commit = parse_commit(sha, found[sha][1])
                frontier += commit.parents
                yield commit


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
    """The bytes of blob `sha`, re-hashed against its id (ForgedObject otherwise)."""
    return objects(repo).read(sha, "blob")


def tree_of(repo: Path, commit: str) -> str:
    """The tree a commit names, read from the verified commit (never `rev-parse COMMIT^{tree}`)."""
    return objects(repo).tree_of(commit)


def has_commit(repo: Path, sha: str) -> bool:
    from sources.git import has_commit as known

    return known(repo, sha)


def build_tree(repo: Path, base: str, patch: str | None, gitlinks: dict[str, str] | None = None,
               entries: dict[str, tuple[str, str]] | None = None) -> str:
    """The tree of `base` with `patch` applied to its blobs, `gitlinks` and `entries` (path -> (mode, blob))
    set, in a private index over a private object directory holding only objects re-hashed here: the trees
    of `base` and the blobs the patch reads. What git writes there (the new blobs and trees) is then copied
    into the repository's store."""
    from tools.changes import parse_patch

    store = objects(repo)
    needed = {sha for mode, sha, _ in store.walk(base, blobs=False) if mode == "040000"} | {store.tree_of(base)}
    for fp in parse_patch(patch).files if patch else []:
        for path in {fp.path, fp.old_path} - {None}:
            entry = store.entry(base, str(path))
            if entry is not None and entry[1] == "blob":
                needed.add(entry[2])
    with verified_objects(repo, needed) as view:
        env = {**view, "GIT_INDEX_FILE": os.path.join(view["GIT_OBJECT_DIRECTORY"], "..", "index")}
        run_git(["read-tree", store.tree_of(base)], repo, env=env)
        if patch:
            try:
                run_git_bytes(["apply", "--cached", "--whitespace=nowarn", "-"], repo, env=env,
                              input_bytes=patch.encode("utf-8", "surrogateescape"))
            except GitError as exc:
                raise RefusedError(f"the approved patch does not apply to {base[:12]}: {exc.message}",
                                   "propose the change again against the current files") from None
        for path, sha in (gitlinks or {}).items():
            run_git(["update-index", "--add", "--cacheinfo", f"160000,{sha},{path}"], repo, env=env)
        for path, (mode, sha) in (entries or {}).items():
            run_git(["update-index", "--add", "--cacheinfo", f"{mode},{sha},{path}"], repo, env=env)
        tree = run_git(["write-tree", "--missing-ok"], repo, env=env).strip()
        store.adopt(Path(view["GIT_OBJECT_DIRECTORY"]), needed)
    return tree


@contextmanager
def verified_objects(repo: Path, oids) -> Iterator[dict[str, str]]:
    """The environment of a git command that sees only `oids`, each re-hashed here and written to a private
    object directory (no alternates): git cannot read a forged object, nor one we did not verify."""
    with tempfile.TemporaryDirectory(prefix="devops-agent-objects-") as tmp:
        where = Path(tmp) / "objects"
        where.mkdir()
        objects(repo).export(oids, where)
        yield {"GIT_OBJECT_DIRECTORY": str(where)}


def shown_objects(repo: Path, sha: str) -> set[str]:
    """What `git show SHA` reads: the commit, its parents, their trees, and the blobs that differ (against
    each parent; every blob of a root commit), each re-hashed."""
    store = objects(repo)
    commit = read_commit(repo, sha)
    needed = {sha, *commit.parents}
    for rev in [sha, *commit.parents]:
        needed |= {s for m, s, _ in store.walk(rev, blobs=False) if m == "040000"} | {store.tree_of(rev)}
    against: list[str | None] = [*commit.parents] or [None]
    for parent in against:
        for _status, old_mode, new_mode, old, new, _path in store.diff(parent, sha):
            needed |= {o for o, m in ((old, old_mode), (new, new_mode)) if m not in ("000000", "160000", "040000")}
    return needed


def changed_paths(repo: Path, old: str, new: str) -> list[tuple[str, str, str, str]]:
    """(status, new mode, new sha, path) of each path that differs between two commits (no renames), from
    trees re-hashed here."""
    return [(status, new_mode, new_sha, path)
            for status, _om, new_mode, _os, new_sha, path in objects(repo).diff(old, new)]


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


def blobs_to_write(repo: Path, old: str, new: str) -> None:
    """Re-hash now every blob `checkout_paths(repo, old, new)` will write: a forged one refuses before any ref
    moves, and the bytes written later are the ones verified here (the reader keeps them)."""
    store = objects(repo)
    store.read_many([sha for status, mode, sha, _ in changed_paths(repo, old, new)
                     if status != "D" and mode not in ("160000", "040000")])


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
