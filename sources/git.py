"""Every git call of the project lives here (one home per outside system)."""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

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
    env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1", "GIT_OPTIONAL_LOCKS": "0",
                "GIT_NO_REPLACE_OBJECTS": "1", "GIT_GRAFT_FILE": os.devnull})
    if extra:
        env.update(extra)
    return env


def _argv(args: list[str]) -> list[str]:
    """The full command line; commands that can diff never run an external diff or textconv program."""
    if args and args[0] in _DIFFING:
        return [*_BASE, args[0], "--no-ext-diff", "--no-textconv", *args[1:]]
    return [*_BASE, *args]


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
    """(name, path, url) from .gitmodules, read with git's own config parser."""
    if not (root / ".gitmodules").is_file():
        return []
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
    """Submodule path -> the commit id that `commit` records for it."""
    out = run_git_bytes(["ls-tree", "-r", "-z", "--full-tree", commit], repo).decode("utf-8", "surrogateescape")
    links = {}
    for entry in out.split("\0"):
        meta, _, path = entry.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "commit":
            links[path] = parts[2]
    return links


def tree_entry(repo: Path, commit: str, path: str) -> tuple[str, str, str] | None:
    """(mode, type, sha) of `path` in `commit`'s tree, or None."""
    out = run_git_bytes(["ls-tree", "-z", "--full-tree", commit, "--", path], repo).decode("utf-8", "surrogateescape")
    for entry in out.split("\0"):
        meta, _, name = entry.partition("\t")
        if name == path:
            mode, kind, sha = meta.split()
            return mode, kind, sha
    return None


def read_blob_at(cwd: Path, rev: str, path: str) -> bytes | None:
    """The bytes of `path` at commit `rev` as stored (no textconv, no filter); None when absent there."""
    if not rev or rev.startswith("-"):
        return None
    try:
        return run_git_bytes(["cat-file", "blob", f"{rev}:{path}"], cwd)
    except GitError:
        return None


def materialize(root: Path, commit: str, dest: Path, gitlinks: dict[str, str] | None = None) -> dict[str, str | None]:
    """Write `commit`'s tree into `dest`, and each submodule at its gitlink (or `gitlinks[path]`) when its
    objects are here. Returns submodule path -> the commit written (None when its objects are absent)."""
    subs: dict[str, str | None] = {}
    _write_tree(Path(root), commit, Path(dest), subs)
    for path in list(subs):
        sha = (gitlinks or {}).get(path) or subs[path]
        sub_repo = Path(root) / path
        if sha and _has_commit(sub_repo, sha):
            _write_tree(sub_repo, sha, Path(dest) / path, {})
            subs[path] = sha
        else:
            subs[path] = None
    return subs


def _write_tree(repo: Path, commit: str, dest: Path, gitlinks: dict[str, str | None]) -> None:
    listing = run_git_bytes(["ls-tree", "-r", "-z", "--full-tree", commit], repo).decode("utf-8", "surrogateescape")
    entries = []
    for entry in listing.split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        mode, kind, sha = meta.split()
        if kind == "commit":
            gitlinks[path] = sha
            (dest / path).mkdir(parents=True, exist_ok=True)
        elif kind == "blob":
            entries.append((mode, sha, path))
    if not entries:
        return
    stream = run_git_bytes(["cat-file", "--batch"], repo, input_bytes="".join(f"{s}\n" for _, s, _ in entries).encode())
    offset = 0
    for mode, sha, path in entries:
        newline = stream.index(b"\n", offset)
        size = int(stream[offset:newline].split()[2])
        data = stream[newline + 1:newline + 1 + size]
        offset = newline + 1 + size + 1
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":
            os.symlink(data.decode("utf-8", "surrogateescape"), target)
        else:
            target.write_bytes(data)


def _has_commit(repo: Path, sha: str) -> bool:
    if not (repo / ".git").exists():
        return False
    out = run_git(["rev-parse", "--verify", "-q", f"{sha}^{{commit}}"], repo, check=False).strip()
    return out == sha


def snapshot_state(root: Path, commit: str, dest: Path, links: dict[str, str] | None = None) -> RepoState:
    """Write `commit` (and its submodules at their gitlinks) into `dest`; the RepoState describing it.
    A session over `dest` reads exactly the committed blobs: its config, charter and Notion export included."""
    subs = materialize(root, commit, dest, links)
    recorded = {**gitlinks_of(root, commit), **(links or {})}
    modules = tuple(SubmoduleState(name, path, url, subs.get(path) is not None, subs.get(path), recorded.get(path))
                    for name, path, url in _gitmodules(Path(dest)))
    return RepoState(root=Path(dest), is_git=True, commit=commit, dirty=frozenset(), submodules=modules,
                     submodule_dirty={m.path: frozenset() for m in modules if m.initialized})
