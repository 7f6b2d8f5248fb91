"""Every git call of the project lives here (one home per outside system)."""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from agent.core.errors import UserError

# Local submodule clones need the file protocol, which git disables by default.
_BASE = ["git", "-c", "protocol.file.allow=always", "-c", "core.quotepath=off"]


class GitError(UserError):
    """A git command failed; the message carries git's own stderr (one line, exit 2 at the CLI)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "check the repository state with `git status`")


def run_git(args: list[str], cwd: Path | str, check: bool = True, env: dict | None = None,
            input_text: str | None = None) -> str:
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [*_BASE, *args], cwd=str(cwd), capture_output=True, text=True, env=full_env, input=input_text
    )
    if check and proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise GitError(f"git {' '.join(args)}: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    return proc.stdout


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


def _status_paths(cwd: Path) -> frozenset[str]:
    out = run_git(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignore-submodules=dirty"], cwd)
    paths = set()
    entries = out.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        if len(entry) > 3:
            paths.add(entry[3:])
            if entry[0] in "RC":  # renames carry the old path as the next entry
                i += 1
        i += 1
    return frozenset(paths)


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


def repo_state(root: Path) -> RepoState:
    root = Path(root)
    try:
        commit = run_git(["rev-parse", "--verify", "-q", "HEAD"], root, check=False).strip() or None
        inside = run_git(["rev-parse", "--show-toplevel"], root, check=False).strip()
    except FileNotFoundError:  # no git binary: files still load, without commit provenance
        return RepoState(root=root, is_git=False, commit=None, dirty=frozenset())
    if not inside or Path(inside).resolve() != root.resolve():
        # Outside git a submodule counts as present when its folder has files (a plain copy).
        modules = tuple(
            SubmoduleState(n, p, u, (root / p).is_dir() and any((root / p).iterdir()), None, None)
            for n, p, u in _gitmodules(root)
        )
        return RepoState(root=root, is_git=False, commit=None, dirty=frozenset(), submodules=modules)
    dirty = _status_paths(root)
    recorded: dict[str, str] = {}
    for line in run_git(["ls-files", "-s"], root).splitlines():
        meta, _, path = line.partition("\t")
        parts = meta.split()
        if parts and parts[0] == "160000":
            recorded[path] = parts[1]
    modules = _gitmodules(root)

    def inspect(path: str) -> tuple[str | None, frozenset[str] | None]:
        sub_dir = root / path
        if not (sub_dir / ".git").exists():
            return None, None
        head = run_git(["rev-parse", "--verify", "-q", "HEAD"], sub_dir, check=False).strip() or None
        return head, (_status_paths(sub_dir) if head else None)

    # Each submodule costs two git processes; they wait on I/O, so run them side by side.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, len(modules) or 1)) as pool:
        states = list(pool.map(inspect, [path for _, path, _ in modules]))
    subs: list[SubmoduleState] = []
    sub_dirty: dict[str, frozenset[str]] = {}
    for (name, path, url), (head, dirty_paths) in zip(modules, states):
        subs.append(SubmoduleState(name, path, url, head is not None, head, recorded.get(path)))
        if dirty_paths is not None:
            sub_dirty[path] = dirty_paths
    return RepoState(root=root, is_git=True, commit=commit, dirty=dirty,
                     submodules=tuple(subs), submodule_dirty=sub_dirty)


def resolve_commit(cwd: Path, rev: str) -> str | None:
    """The full sha of `rev` as a commit in the repo at `cwd`, or None when git does not know it."""
    if not rev or rev.startswith("-"):  # never let a revision be read as an option
        return None
    out = run_git(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"], cwd, check=False)
    return out.strip() or None


def read_blob_at(cwd: Path, rev: str, path: str) -> bytes | None:
    """The bytes of `path` at commit `rev` (git show REV:path); None when the path is absent there."""
    proc = subprocess.run(
        [*_BASE, "show", f"{rev}:{path}"], cwd=str(cwd), capture_output=True,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
    )
    return proc.stdout if proc.returncode == 0 else None
