"""Every git call of the project lives here (one home per outside system)."""
from __future__ import annotations

import os
import re
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from agent.core.errors import UserError

# Every git call runs with the repo's own code switched off: no hooks (any path, `core.hooksPath`
# included), no fsmonitor, no automatic gc/maintenance, no pager, editor, external diff or askpass.
# Local submodule clones need the file protocol, which git disables by default.
_HARDENED = [
    "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "core.untrackedCache=false",
    "-c", "core.commitGraph=false",
    "-c", "gc.auto=0", "-c", "maintenance.auto=false", "-c", "core.pager=cat", "-c", "core.editor=false",
    "-c", "sequence.editor=false", "-c", "core.askPass=", "-c", "credential.helper=",
    "-c", "core.sshCommand=ssh", "-c", "gpg.program=gpg", "-c", "gpg.ssh.program=ssh-keygen",
    "-c", "protocol.file.allow=always", "-c", "core.quotepath=off", "-c", "advice.detachedHead=false",
    "-c", "log.showSignature=false", "-c", "gpg.x509.program=gpgsm", "-c", "gpg.openpgp.program=gpg",
    "-c", "color.ui=false",
    # What a diff or log shows is never narrowed or re-encoded by the repo's config (a gitlink move hidden by
    # diff.ignoreSubmodules, the root commit's files by log.showRoot=false, UTF-16 output that parses as garbage).
    "-c", "diff.ignoreSubmodules=none", "-c", "log.showRoot=true", "-c", "i18n.logOutputEncoding=UTF-8",
    "-c", "diff.relative=false", "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false",
]
_BASE = ["git", *_HARDENED]
# The caller's GIT_* variables never steer our git (GIT_DIR, GIT_INDEX_FILE, GIT_CONFIG_*, GIT_EXEC_PATH...).
_KEEP_ENV = {"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"}


class GitError(UserError):
    """A git command failed; the message carries git's own stderr (one line, exit 2 at the CLI)."""

    def __init__(self, message: str, hint: str = "check the repository state with `git status`") -> None:
        super().__init__(message, hint)


def git_env(extra: dict | None = None) -> dict:
    """The environment of every git call: the caller's, without its GIT_* steering, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in _KEEP_ENV}
    # Replace refs, grafts and a forged commit-graph could show other objects or parents than stored.
    # The user's global config is not read either (the identities the tool commits with are passed explicitly);
    # only its safe.directory entries are carried over, as `-c` options (see _safe_directories).
    env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1", "GIT_OPTIONAL_LOCKS": "0",
                "GIT_NO_REPLACE_OBJECTS": "1", "GIT_GRAFT_FILE": os.devnull, "GIT_CONFIG_GLOBAL": os.devnull})
    if extra:
        env.update(extra)
    return env


def _argv(args: list[str]) -> list[str]:
    """The full command line; commands that can diff never run an external diff or textconv program, and
    never skip a submodule (`submodule.<name>.ignore` in .git/config or an uncommitted .gitmodules)."""
    base = [*_BASE, *_safe_directories()]
    if args and args[0] in _DIFFING:
        return [*base, args[0], "--no-ext-diff", "--no-textconv", "--ignore-submodules=none", *args[1:]]
    return [*base, *args]


@lru_cache(maxsize=1)
def _safe_directories() -> tuple[str, ...]:
    """The user's global `safe.directory` entries as `-c` options: the one global setting kept (CI containers
    set it for a checkout owned by another uid); every other global setting is ignored."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"})
    try:
        proc = subprocess.run(["git", "config", "--global", "--null", "--get-all", "safe.directory"],
                              capture_output=True, env=env, cwd="/")
    except OSError:
        return ()
    values = [v for v in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if v]
    return tuple(opt for v in values for opt in ("-c", f"safe.directory={v}"))


_DIFFING = {"diff", "show", "log", "diff-tree", "diff-index", "diff-files"}


def run_git_bytes(args: list[str], cwd: Path | str, check: bool = True, env: dict | None = None,
                  input_bytes: bytes | None = None) -> bytes:
    """One hardened git call returning raw stdout (blobs, -z listings, commit objects)."""
    proc = subprocess.run(_argv(args), cwd=str(cwd), capture_output=True, env=git_env(env), input=input_bytes)
    if check and proc.returncode != 0:
        raise GitError(_failure(args, proc.stderr or proc.stdout, proc.returncode))
    return proc.stdout


def run_git(args: list[str], cwd: Path | str, check: bool = True, env: dict | None = None,
            input_text: str | None = None) -> str:
    proc = subprocess.run(_argv(args), cwd=str(cwd), capture_output=True, env=git_env(env),
                          input=None if input_text is None else input_text.encode("utf-8"))
    if check and proc.returncode != 0:
        raise GitError(_failure(args, proc.stderr or proc.stdout, proc.returncode))
    # A file name git prints need not be UTF-8: surrogateescape keeps it (as os.listdir does) instead of failing.
    out = proc.stdout.decode("utf-8", "surrogateescape")
    return out.replace("\r\n", "\n").replace("\r", "\n")  # the universal newlines text=True gave


def git_succeeds(args: list[str], cwd: Path | str) -> bool:
    """One hardened git call whose exit status is the answer (`check-ignore -q`, `merge-base --is-ancestor`)."""
    proc = subprocess.run(_argv(args), cwd=str(cwd), capture_output=True, env=git_env(None))
    return proc.returncode == 0


def _failure(args: list[str], output: str | bytes, code: int) -> str:
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    lines = [l for l in text.strip().splitlines() if l.strip()]
    last = lines[-1] if lines else f"exit {code}"
    lock = _LOCK_RE.search(text)
    if lock:
        return (f"git {args[0]}: {lock.group(1)} exists: another git process is running in this repo, or one "
                f"was killed; if none is running, remove {lock.group(1)}")
    return f"git {' '.join(args[:3])}: {last}"


_LOCK_RE = re.compile(r"Unable to create '([^']+\.lock)'")


# Identity used for commits the tool itself makes (example init), so a machine
# without a configured git user still works.
TOOL_IDENTITY = {
    "GIT_AUTHOR_NAME": "devops-agent",
    "GIT_AUTHOR_EMAIL": "devops-agent@localhost",
    "GIT_COMMITTER_NAME": "devops-agent",
    "GIT_COMMITTER_EMAIL": "devops-agent@localhost",
}


@dataclass(frozen=True)
class SubmoduleState:
    name: str
    path: str  # relative to the superproject root, posix
    url: str | None
    initialized: bool
    commit: str | None  # checked-out HEAD of the submodule, when initialised
    recorded: str | None  # gitlink recorded by the superproject


@dataclass(frozen=True)
class RepoState:
    """What provenance needs from git, read once per session."""

    root: Path
    is_git: bool
    commit: str | None
    dirty: frozenset[str]  # root-relative paths that differ from HEAD (untracked included)
    submodules: tuple[SubmoduleState, ...] = ()
    submodule_dirty: dict[str, frozenset[str]] | None = None  # submodule path -> its own relative paths

    def submodule_of(self, rel_path: str) -> SubmoduleState | None:
        """The submodule containing a root-relative path (longest match), if any."""
        best = None
        for sub in self.submodules:
            if rel_path == sub.path or rel_path.startswith(sub.path + "/"):
                if best is None or len(sub.path) > len(best.path):
                    best = sub
        return best

    def is_dirty(self, rel_path: str) -> bool:
        sub = self.submodule_of(rel_path)
        if sub is None:
            return _in_changed(rel_path, self.dirty)
        inner = rel_path[len(sub.path) + 1:]
        return _in_changed(inner, (self.submodule_dirty or {}).get(sub.path, frozenset()))


def _in_changed(rel_path: str, changed: frozenset[str]) -> bool:
    if rel_path in changed:
        return True
    return any(c.endswith("/") and rel_path.startswith(c) for c in changed)


def find_repo_root(start: Path) -> Path | None:
    """The platform root above `start`: the superproject when `start` is inside a submodule."""
    try:
        out = run_git(["rev-parse", "--show-superproject-working-tree", "--show-toplevel"], start)
    except (GitError, FileNotFoundError, NotADirectoryError):
        return None
    lines = [l for l in out.splitlines() if l.strip()]
    return Path(lines[0]) if lines else None


def no_filters(cwd: Path) -> list[str]:
    """`-c` options that blank every filter driver the repo's config defines (clean, smudge, process), for
    the few commands that read the work tree: a filter is the repo's own code, and must not run in ours."""
    out = run_git(["config", "--null", "--name-only", "--get-regexp", r"^filter\..*\.(clean|smudge|process)$"], cwd,
                  check=False)
    drivers = {name.rsplit(".", 1)[0] for name in out.split("\0") if name}
    return [opt for d in sorted(drivers) for key in ("clean", "smudge", "process")
            for opt in ("-c", f"{d}.{key}=")] + [opt for d in sorted(drivers) for opt in ("-c", f"{d}.required=false")]


def _status(cwd: Path, check: bool = True) -> tuple[str | None, frozenset[str]]:
    """(HEAD commit or None, paths that differ from HEAD, untracked included) in one `git status` (porcelain v2,
    whose branch header carries the commit: one git process fewer than a separate `rev-parse HEAD`)."""
    out = run_git([*no_filters(cwd), "status", "--porcelain=v2", "-z", "--branch", "--no-ahead-behind",
                   "--untracked-files=all", "--ignore-submodules=dirty"], cwd, check=check)
    head = None
    paths = set()
    entries = out.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        kind = entry[:1]
        if entry.startswith("# branch.oid "):
            oid = entry[len("# branch.oid "):].strip()
            head = oid if oid != "(initial)" else None
        elif kind in ("?", "!"):
            paths.add(entry[2:])
        elif kind in ("1", "2", "u"):
            fields = {"1": 8, "2": 9, "u": 10}[kind]  # fields before the path
            paths.add(entry.split(" ", fields)[-1])
            if kind == "2":  # a rename carries the old path as the next entry
                i += 1
        i += 1
    return head, frozenset(paths)


def _gitmodules(root: Path) -> list[tuple[str, str, str | None]]:
    """(name, path, url) from .gitmodules, read with git's own config parser (once per content: `history` reads
    the same file in every state)."""
    try:
        data = (root / ".gitmodules").read_bytes() if (root / ".gitmodules").is_file() else None
    except OSError:
        data = None
    if data is None:
        return []
    if data not in _GITMODULES:
        _GITMODULES.clear() if len(_GITMODULES) > 64 else None
        _GITMODULES[data] = _parse_gitmodules(root)
    return list(_GITMODULES[data])


_GITMODULES: dict[bytes, list[tuple[str, str, str | None]]] = {}


def _parse_gitmodules(root: Path) -> list[tuple[str, str, str | None]]:
    out = run_git(["config", "-f", ".gitmodules", "--get-regexp", r"^submodule\..*\.(path|url)$"], root, check=False)
    paths: dict[str, str] = {}
    urls: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        name, attr = key[len("submodule."):].rsplit(".", 1)
        (paths if attr == "path" else urls)[name] = value.strip()
    return [(name, path.strip("/"), urls.get(name)) for name, path in paths.items()]


_PREFETCHED: dict[Path, object] = {}


def prefetch_repo_state(root: Path) -> None:
    """Start reading the repo's state in the background (its git processes run while the caller imports
    the rest of the program); the next `repo_state(root)` takes the result. A command that never asks
    for it only cost the processes."""
    from concurrent.futures import ThreadPoolExecutor

    key = Path(root).resolve()
    if key in _PREFETCHED or not key.is_dir():
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="repo-state")
    _PREFETCHED[key] = pool.submit(_repo_state, key)
    pool.shutdown(wait=False)


def repo_state(root: Path) -> RepoState:
    future = _PREFETCHED.pop(Path(root).resolve(), None)
    if future is not None:
        state = future.result()  # type: ignore[attr-defined]
        return state if state.root == Path(root) else _replace_root(state, Path(root))
    return _repo_state(Path(root))


def _replace_root(state: RepoState, root: Path) -> RepoState:
    from dataclasses import replace

    return replace(state, root=root)


def _repo_state(root: Path) -> RepoState:
    root = Path(root)
    try:
        # One process for both: the toplevel, then HEAD's sha when there is a commit (exit 1 without one).
        lines = run_git(["rev-parse", "--show-toplevel", "--verify", "-q", "HEAD"], root, check=False).splitlines()
    except FileNotFoundError:  # no git binary: files still load, without commit provenance
        return RepoState(root=root, is_git=False, commit=None, dirty=frozenset())
    commit = lines.pop() if len(lines) > 1 and _SHA_RE.fullmatch(lines[-1]) else None
    inside = "\n".join(lines).strip()
    if not inside or Path(inside).resolve() != root.resolve():
        # Outside git a submodule counts as present when its folder has files (a plain copy).
        modules = tuple(
            SubmoduleState(n, p, u, (root / p).is_dir() and any((root / p).iterdir()), None, None)
            for n, p, u in _gitmodules(root)
        )
        return RepoState(root=root, is_git=False, commit=None, dirty=frozenset(), submodules=modules)

    def inspect(path: str) -> tuple[str | None, frozenset[str] | None]:
        sub_dir = root / path
        if not (sub_dir / ".git").exists():
            return None, None
        head, paths = _status(sub_dir, check=False)
        if head is None:  # no commit, or status failed: what `rev-parse` says decides, as it always did
            head = run_git(["rev-parse", "--verify", "-q", "HEAD"], sub_dir, check=False).strip() or None
            paths = _status(sub_dir)[1] if head else frozenset()
        return head, (paths if head else None)

    # Every call below waits on its own git process: run them side by side.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        status = pool.submit(_status, root)
        index = pool.submit(run_git, ["ls-files", "-s"], root)
        modules = _gitmodules(root)
        states = list(pool.map(inspect, [path for _, path, _ in modules]))
        dirty = status.result()[1]
        listing = index.result()
    recorded: dict[str, str] = {}
    for line in listing.splitlines():
        meta, _, path = line.partition("\t")
        parts = meta.split()
        if parts and parts[0] == "160000":
            recorded[path] = parts[1]
    subs: list[SubmoduleState] = []
    sub_dirty: dict[str, frozenset[str]] = {}
    for (name, path, url), (head, dirty_paths) in zip(modules, states):
        subs.append(SubmoduleState(name, path, url, head is not None, head, recorded.get(path)))
        if dirty_paths is not None:
            sub_dirty[path] = dirty_paths
    return RepoState(root=root, is_git=True, commit=commit, dirty=dirty,
                     submodules=tuple(subs), submodule_dirty=sub_dirty)


_SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def resolve_commit(cwd: Path, rev: str) -> str | None:
    """The full sha of `rev` as a commit in the repo at `cwd`, or None when git does not know it."""
    if not rev or rev.startswith("-"):  # never let a revision be read as an option
        return None
    out = run_git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], cwd, check=False)
    return out.strip() or None


def gitlinks_of(repo: Path, commit: str) -> dict[str, str]:
    """Submodule path -> the commit id that `commit` records for it (from verified trees)."""
    store = objects(repo)
    return {path: sha for mode, sha, path in store.walk(_full(repo, commit), blobs=False) if mode == "160000"}


def tree_entry(repo: Path, commit: str, path: str) -> tuple[str, str, str] | None:
    """(mode, type, sha) of `path` in `commit`'s tree, or None (verified trees)."""
    return objects(repo).entry(_full(repo, commit), path)


def read_blob_at(cwd: Path, rev: str, path: str) -> bytes | None:
    """The bytes of `path` at commit `rev` as stored (no textconv, no filter, re-hashed); None when absent there."""
    if not rev or rev.startswith("-"):
        return None
    sha = rev if _OID.fullmatch(rev) else resolve_commit(cwd, rev)
    if sha is None:
        return None
    store = objects(cwd)
    try:
        entry = store.entry(sha, path)
    except MissingObject:
        return None
    if entry is None or entry[1] != "blob":
        return None
    return store.read(entry[2], "blob")


def _full(repo: Path, rev: str) -> str:
    """A full object id for `rev` (ids pass as they are: the reader verifies them)."""
    if _OID.fullmatch(rev or ""):
        return rev
    sha = resolve_commit(repo, rev)
    if sha is None:
        raise GitError(f"{rev!r} is not a commit in {repo}")
    return sha


def materialize(root: Path, commit: str, dest: Path, gitlinks: dict[str, str] | None = None) -> dict[str, str | None]:
    """Write `commit`'s tree into `dest`, and each submodule at its gitlink (or `gitlinks[path]`) when its
    objects are here. Returns submodule path -> the commit written (None when its objects are absent)."""
    subs: dict[str, str | None] = {}
    _write_tree(Path(root), commit, Path(dest), subs)
    for path in list(subs):
        sha = (gitlinks or {}).get(path) or subs[path]
        sub_repo = Path(root) / path
        if sha and has_commit(sub_repo, sha):
            _write_tree(sub_repo, sha, Path(dest) / path, {})
            subs[path] = sha
        else:
            subs[path] = None
    return subs


def _write_tree(repo: Path, commit: str, dest: Path, gitlinks: dict[str, str | None]) -> None:
    store = objects(repo)
    entries = []
    for mode, sha, path in store.walk(_full(repo, commit)):  # every tree and blob re-hashed on the way
        if mode == "160000":
            gitlinks[path] = sha
            (dest / path).mkdir(parents=True, exist_ok=True)
        elif mode != "040000":
            entries.append((mode, sha, path))
    for mode, sha, path in entries:
        data = store.read(sha, "blob")
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":
            os.symlink(data.decode("utf-8", "surrogateescape"), target)
        else:
            target.write_bytes(data)


def has_commit(repo: Path, sha: str) -> bool:
    """Whether `sha` is a commit of the repository at `repo` (read through its one `cat-file --batch`, re-hashed:
    an altered object raises ForgedObject); a name that is not a full id is asked to git."""
    if not (Path(repo) / ".git").exists():
        return False
    if not _OID.fullmatch(sha or ""):
        out = run_git(["rev-parse", "--verify", "-q", "--end-of-options", f"{sha}^{{commit}}"], repo, check=False)
        return out.strip() == sha
    try:
        return objects(Path(repo)).read_many([sha])[sha][0] == "commit"
    except MissingObject:
        return False


def snapshot_state(root: Path, commit: str, dest: Path, links: dict[str, str] | None = None,
                   write: bool = True) -> RepoState:
    """Write `commit` (and its submodules at their gitlinks) into `dest`; the RepoState describing it.
    A session over `dest` reads exactly the committed blobs: its config, charter and Notion export included.
    `write=False`: `dest` holds that tree already (agent/history.py updates one folder from state to state)."""
    if write:
        subs = materialize(root, commit, dest, links)
    else:
        subs = {path: (sha if has_commit(Path(root) / path, sha) else None)
                for path, sha in {**gitlinks_of(root, commit), **(links or {})}.items()}
    recorded = {**gitlinks_of(root, commit), **(links or {})}
    modules = tuple(SubmoduleState(name, path, url, subs.get(path) is not None, subs.get(path), recorded.get(path))
                    for name, path, url in _gitmodules(Path(dest)))
    return RepoState(root=Path(dest), is_git=True, commit=commit, dirty=frozenset(), submodules=modules,
                     submodule_dirty={m.path: frozenset() for m in modules if m.initialized})


# ------------------------------------------------------------------------------ objects, re-hashed on read
# Git does not re-hash an object when it reads it: a loose file overwritten in `.git/objects/` (or a crafted
# pack) is served under the old id. Every object the gate builds from, shows, writes or verifies is read here,
# through one `git cat-file --batch` per repository, and re-hashed (`type len\0body`) before anyone uses it.

_OID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_ALGO = {40: "sha1", 64: "sha256"}  # the id's length names the repository's hash (extensions.objectFormat)
_KEEP_BYTES = 256 << 20  # verified blob bytes a reader keeps; beyond, a blob is re-read and re-hashed when asked again
_REHASH = True  # benchmarks/gate_objects.py only: the same run without the hashing, to measure its cost


class ForgedObject(UserError):
    """An object whose bytes do not hash to its id: the object store was altered (exit 2, never caught)."""

    def __init__(self, oid: str, repo: Path) -> None:
        super().__init__(f"object {oid} in {repo} does not match its id: the object store was altered; "
                         f"run `git fsck`", "nothing was signed, moved or written")


class _Died(Exception):
    """`git cat-file --batch` stopped answering."""


class MissingObject(GitError):
    def __init__(self, oid: str, repo: Path) -> None:
        super().__init__(f"object {oid} is not in {repo}", "fetch it, or run the command again where it is")


def object_id(kind: str, body: bytes, length: int = 40) -> str:
    import hashlib

    return hashlib.new(_ALGO[length], b"%s %d\0" % (kind.encode("ascii"), len(body)) + body).hexdigest()


class ObjectStore:
    """One repository's objects through one long-lived `git cat-file --batch`; every object re-hashed against
    the id asked for (a mismatch raises ForgedObject) and kept once verified (an id's bytes never change)."""

    def __init__(self, repo: Path, env: dict | None = None) -> None:
        from threading import Lock

        self.repo = Path(repo)
        self._env = env
        self._proc: subprocess.Popen | None = None
        self._lock = Lock()
        self._known: dict[str, tuple[str, bytes]] = {}
        self._kept = 0  # bytes of blobs kept in _known
        self._objects_dir: Path | None = None

    # -- the process
    def _process(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(_argv(["cat-file", "--batch"]), cwd=str(self.repo), env=git_env(self._env),
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return self._proc

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()  # type: ignore[union-attr]
                except OSError:
                    pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _ask(self, oids: list[str]) -> list[tuple[str, bytes] | None]:
        """Raw (type, body) of each id as git serves it, or None when git does not have it; _Died when git
        stopped answering (it dies on a corrupt loose object)."""
        proc = self._process()
        assert proc.stdin is not None and proc.stdout is not None
        out: list[tuple[str, bytes] | None] = []
        try:
            proc.stdin.write(b"".join(o.encode("ascii") + b"\n" for o in oids))
            proc.stdin.flush()
            for oid in oids:
                header = proc.stdout.readline().split()
                if len(header) == 2 and header[0] == oid.encode("ascii") and header[1] == b"missing":
                    out.append(None)
                    continue
                if len(header) != 3 or header[0] != oid.encode("ascii"):
                    raise _Died
                size = int(header[2])
                body = proc.stdout.read(size + 1)
                if len(body) != size + 1:
                    raise _Died
                out.append((header[1].decode("ascii", "replace"), body[:size]))
        except (_Died, OSError, ValueError):
            self.close()
            raise _Died from None
        return out

    def _ask_again(self, oids: list[str]) -> list[tuple[str, bytes] | None]:
        """On a fresh process (objects written since it started, a new pack), one id at a time when git dies:
        the id it dies on is the corrupt one."""
        self.close()
        try:
            return self._ask(oids)
        except _Died:
            out: list[tuple[str, bytes] | None] = []
            for oid in oids:
                try:
                    out += self._ask([oid])
                except _Died:
                    raise ForgedObject(oid, self.repo) from None
            return out

    def read_many(self, oids: list[str]) -> dict[str, tuple[str, bytes]]:
        """Verified (type, body) of each id; MissingObject or ForgedObject otherwise."""
        result: dict[str, tuple[str, bytes]] = {}
        with self._lock:
            wanted = []
            for oid in dict.fromkeys(oids):
                if not isinstance(oid, str) or not _OID.fullmatch(oid):
                    raise UserError(f"{oid!r} is not a full object id", "pass a full 40-character sha")
                if oid in self._known:
                    result[oid] = self._known[oid]
                else:
                    wanted.append(oid)
            for chunk in (wanted[i:i + 256] for i in range(0, len(wanted), 256)):
                try:
                    answers = self._ask(chunk)
                except _Died:
                    answers = self._ask_again(chunk)
                missing = [o for o, a in zip(chunk, answers) if a is None]
                if missing:
                    again = dict(zip(missing, self._ask_again(missing)))
                    answers = [again[o] if o in again else a for o, a in zip(chunk, answers)]
                for oid, answer in zip(chunk, answers):
                    if answer is None:  # a loose file git cannot read is an altered store, not a missing object
                        if (self.objects_dir() / oid[:2] / oid[2:]).exists():
                            raise ForgedObject(oid, self.repo)
                        raise MissingObject(oid, self.repo)
                    kind, body = answer
                    if kind not in ("blob", "tree", "commit", "tag") or (
                            _REHASH and object_id(kind, body, len(oid)) != oid):
                        raise ForgedObject(oid, self.repo)
                    if kind != "blob" or self._kept + len(body) <= _KEEP_BYTES:  # re-read (re-hashed) past it
                        self._known[oid] = answer
                        self._kept += len(body) if kind == "blob" else 0
                    result[oid] = answer
        return result

    def read(self, oid: str, kind: str | None = None) -> bytes:
        found, body = self.read_many([oid])[oid]
        if kind is not None and found != kind:
            raise GitError(f"object {oid} in {self.repo} is a {found}, not a {kind}")
        return body

    def has(self, oid: str) -> bool:
        try:
            self.read_many([oid])
            return True
        except MissingObject:
            return False

    # -- commits and trees, from verified bytes only
    def tree_of(self, oid: str) -> str:
        """The root tree of a commit (or tag, or a tree itself)."""
        for _ in range(8):
            kind, body = self.read_many([oid])[oid]
            if kind == "tree":
                return oid
            if kind not in ("commit", "tag"):
                raise GitError(f"object {oid} in {self.repo} is a {kind}, not a commit")
            first = body.split(b"\n", 1)[0].split(b" ")
            if len(first) != 2 or first[0] not in (b"tree", b"object"):
                raise ForgedObject(oid, self.repo)
            oid = first[1].decode("ascii", "replace")
        raise GitError(f"{oid}: too many tags in a row")

    def entries(self, tree: str) -> list[tuple[str, str, str]]:
        """(mode as git prints it, e.g. 100644 / 040000 / 160000, name, id) of a verified tree."""
        body = self.read(tree, "tree")
        width = len(tree) // 2
        out = []
        i = 0
        while i < len(body):
            space = body.index(b" ", i)
            nul = body.index(b"\0", space)
            mode = body[i:space].decode("ascii").zfill(6)
            out.append((mode, body[space + 1:nul].decode("utf-8", "surrogateescape"), body[nul + 1:nul + 1 + width].hex()))
            i = nul + 1 + width
        return out

    def entry(self, rev: str, path: str) -> tuple[str, str, str] | None:
        """(mode, type, id) of `path` in the tree of commit `rev`, or None."""
        mode, sha = "040000", self.tree_of(rev)
        for part in [p for p in path.split("/") if p]:
            if mode != "040000":
                return None
            found = next(((m, s) for m, n, s in self.entries(sha) if n == part), None)
            if found is None:
                return None
            mode, sha = found
        return mode, _kind_of(mode), sha

    def walk(self, rev: str, blobs: bool = True, prefix: str = "") -> list[tuple[str, str, str]]:
        """Every (mode, id, path) below commit or tree `rev`, each tree (and blob) verified on the way."""
        out: list[tuple[str, str, str]] = []
        stack = [(self.tree_of(rev), prefix)]
        while stack:
            tree, base = stack.pop()
            entries = self.entries(tree)
            if blobs:
                self.read_many([s for m, _, s in entries if _kind_of(m) == "blob"])
            for mode, name, sha in entries:
                path = f"{base}{name}"
                out.append((mode, sha, path))
                if mode == "040000":
                    stack.append((sha, path + "/"))
        return out

    def diff(self, old: str | None, new: str | None) -> list[tuple[str, str, str, str, str, str]]:
        """(status A/D/M/T, old mode, new mode, old id, new id, path) of every non-tree path that differs
        between two commits or trees (no renames), from verified trees: git's `diff-tree -r` without git."""
        zero = "0" * (len(old or new or "0" * 40))
        out: list[tuple[str, str, str, str, str, str]] = []

        def listing(tree: str | None) -> dict[str, tuple[str, str]]:
            return {n: (m, s) for m, n, s in self.entries(tree)} if tree else {}

        def side(tree: str, base: str, added: bool) -> None:
            for mode, sha, path in self.walk(tree, blobs=False, prefix=base):
                if mode != "040000":
                    out.append(("A", "000000", mode, zero, sha, path) if added else ("D", mode, "000000", sha, zero, path))

        def compare(a: str | None, b: str | None, base: str) -> None:
            left, right = listing(a), listing(b)
            for name in sorted(set(left) | set(right)):
                (om, os_), (nm, ns) = left.get(name, ("", "")), right.get(name, ("", ""))
                path = base + name
                if (om, os_) == (nm, ns):
                    continue
                if om == "040000" and nm == "040000":
                    compare(os_, ns, path + "/")
                    continue
                if om == "040000":
                    side(os_, path + "/", added=False)
                    om = ""
                if nm == "040000":
                    side(ns, path + "/", added=True)
                    nm = ""
                if om and nm:
                    status = "M" if _kind_of(om) == _kind_of(nm) and (om == nm or "120000" not in (om, nm)) else "T"
                    out.append((status, om, nm, os_, ns, path))
                elif om:
                    out.append(("D", om, "000000", os_, zero, path))
                elif nm:
                    out.append(("A", "000000", nm, zero, ns, path))

        compare(self.tree_of(old) if old else None, self.tree_of(new) if new else None, "")
        return out

    # -- a private object directory holding only verified objects, for the git commands that read objects
    def objects_dir(self) -> Path:
        if self._objects_dir is None:
            where = Path(run_git(["rev-parse", "--git-path", "objects"], self.repo).strip())
            self._objects_dir = where if where.is_absolute() else (self.repo / where).resolve()
        return self._objects_dir

    def export(self, oids, dest: Path) -> None:
        """Write each (verified) object as a loose object under `dest`: correct by construction."""
        import zlib

        for oid, (kind, body) in self.read_many(list(oids)).items():
            target = Path(dest) / oid[:2] / oid[2:]
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f"tmp_{oid[2:]}")  # never trust a file found there: write ours over it
            tmp.write_bytes(zlib.compress(b"%s %d\0" % (kind.encode("ascii"), len(body)) + body, 1))
            os.replace(tmp, target)

    def adopt(self, private: Path, exported: set[str]) -> None:
        """Copy the objects git wrote into `private` (hashed by git as it wrote them) into the repository's
        store; an id already stored there is left alone (read back verified, a forged one still refuses)."""
        store = self.objects_dir()
        for folder in Path(private).iterdir():
            if len(folder.name) != 2 or not folder.is_dir():
                continue
            for obj in folder.iterdir():
                oid = folder.name + obj.name
                target = store / folder.name / obj.name
                if oid in exported or target.exists() or not _OID.fullmatch(oid):
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f"tmp_obj_{os.getpid()}_{obj.name}")
                tmp.write_bytes(obj.read_bytes())
                os.chmod(tmp, 0o444)
                os.replace(tmp, target)


def _kind_of(mode: str) -> str:
    return {"040000": "tree", "160000": "commit"}.get(mode, "blob")


_STORES: dict[Path, ObjectStore] = {}


def objects(repo: Path | str) -> ObjectStore:
    """The verifying reader of `repo` (one process per repository per command, the last 8 kept open)."""
    key = Path(repo).resolve()
    store = _STORES.pop(key, None)
    if store is None:
        if not _STORES:
            import atexit

            atexit.register(close_object_stores)
        store = ObjectStore(key)
        while len(_STORES) >= 8:
            _STORES.pop(next(iter(_STORES))).close()
    _STORES[key] = store  # most recently used last
    return store


def close_object_stores() -> None:
    while _STORES:
        _STORES.popitem()[1].close()


def read_object(repo: Path | str, rev: str) -> tuple[str, str, bytes] | None:
    """(id, type, body) of an object given by full id, or by `COMMIT:path` (walked through verified trees),
    re-hashed through `objects(repo)`; None when absent. The one verifying reader: ForgedObject on a mismatch."""
    store = objects(repo)
    commit, sep, path = rev.partition(":")
    try:
        if sep:
            commit = commit if _OID.fullmatch(commit) else (resolve_commit(Path(repo), commit) or "")
            entry = store.entry(commit, path) if commit else None
            if entry is None or entry[1] == "commit":
                return None
            rev = entry[2]
        if not _OID.fullmatch(rev):
            return None
        kind, body = store.read_many([rev])[rev]
    except MissingObject:
        return None
    return rev, kind, body


@contextmanager
def batch_reads() -> Iterator[None]:
    """Reads inside share one `git cat-file --batch` per repository: `objects(repo)` already keeps it for the
    whole command (kept so callers can mark where reads come in bulk)."""
    yield
