"""`devops-agent example init DIR`: the AnimeSphere example platform as a real git repo.

The five services become real git submodules whose upstream repositories live
inside the platform's own git dir, so the example needs no network and can be
moved as one folder. Commit dates and identity are fixed: two runs give the
same commit ids, which keeps eval recordings stable.
"""
from __future__ import annotations

import shutil
import tempfile
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from agent.core.errors import UserError
from sources.git import TOOL_IDENTITY, GitError, run_git

SERVICES = (
    "anime-saas-api",
    "anime-saas-front",
    "anime-saas-mlservice",
    "anime-saas-agent",
    "anime-saas-reverseproxy",
)
RELEASE_TAG = "0.4.0"
# Relative to the platform root; a relative submodule URL resolves against it.
UPSTREAMS_DIR = ".git/example-upstreams"
# The answer key of the checks' tests, not part of the platform.
DEFECTS_FILE = "DEFECTS.md"
# examples/history/<name>: older files for the first commit; "platform" is the superproject.
PLATFORM_HISTORY = "platform"

_SKIP_NAMES = {"__pycache__", ".DS_Store"}
_SKIP_SUFFIXES = (".pyc", ".pyo")

# Second commit of each service: what changed since the version the 0.4.0 release pinned.
_SERVICE_CHANGES = {
    "anime-saas-api": "chore(docker): runtime aspnet alpine, utilisateur non-root, port 8080",
    "anime-saas-front": "chore(docker): passage a node 20",
    "anime-saas-mlservice": "chore(docker): python 3.11, utilisateur non-root, port 8000",
    "anime-saas-agent": "chore(deps): openai 1.35",
    "anime-saas-reverseproxy": "fix(nginx): restreindre /ml/ par IP",
}

# Fixed timestamps, in history order.
_DATE_SERVICE_FIRST = "2026-03-02T10:00:00+01:00"
_DATE_RELEASE = "2026-03-14T18:00:00+01:00"
_DATE_SERVICE_SECOND = "2026-04-07T11:00:00+02:00"
_DATE_BUMP = "2026-04-08T09:30:00+02:00"
_DATE_DOCS = "2026-04-09T16:00:00+02:00"

# Settings that would make the result depend on the user's git config.
_NEUTRAL = ["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", "-c", "core.autocrlf=false"]


def example_data() -> Traversable:
    """The platform's files, as shipped in the package (works from a wheel too)."""
    return resources.files("examples") / "animesphere"


def history_data() -> Traversable:
    return resources.files("examples") / "history"


def init_example(dest: Path) -> Path:
    """Build the example platform in `dest` (new or empty) and return its path."""
    dest = Path(dest).expanduser().resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserError(f"{dest} exists and is not an empty directory",
                        "pass a new or empty directory to `devops-agent example init`")
    if shutil.which("git") is None:
        raise UserError("git is not on PATH", "install git (2.28 or later) and run again")
    data = example_data()
    if not data.is_dir():
        raise UserError("the example platform is missing from the installed package",
                        "reinstall devops-agent")
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        _build(dest, data, history_data())
    except GitError as exc:
        _undo(dest, created)
        raise UserError(f"example init failed: {exc.message}", "check that git 2.28 or later is installed") from exc
    except BaseException:
        _undo(dest, created)
        raise
    return dest


def _build(dest: Path, data: Traversable, history: Traversable) -> None:
    run_git(["init", "-q", "-b", "main"], dest)
    for service in SERVICES:
        _make_upstream(service, data / service, history / service, dest / UPSTREAMS_DIR / service)

    # Release 0.4.0: the root files as they were, each service at its first commit.
    _copy_tree(data, dest, skip=set(SERVICES) | {DEFECTS_FILE})
    _copy_tree(history / PLATFORM_HISTORY, dest)
    for service in SERVICES:
        run_git(["submodule", "add", "-q", "-b", "main", f"./{UPSTREAMS_DIR}/{service}", service], dest)
        run_git(["checkout", "-q", "HEAD~1"], dest / service)
    _commit(dest, "chore(release): 0.4.0", _DATE_RELEASE)
    run_git([*_NEUTRAL, "tag", "-a", RELEASE_TAG, "-m", f"Release {RELEASE_TAG} - Lancement MVP"],
            dest, env=_identity(_DATE_RELEASE))

    # Since the release: the submodule pointers move in their own commit, then the docs change.
    for service in SERVICES:
        run_git(["checkout", "-q", "main"], dest / service)
    _commit(dest, "chore(submodules): services a jour sur main", _DATE_BUMP)
    _copy_tree(data, dest, skip=set(SERVICES) | {DEFECTS_FILE})
    _commit(dest, "docs(deploiement): sauvegarde MySQL et rollback par IMAGE_TAG_*", _DATE_DOCS)


def _make_upstream(service: str, files: Traversable, old_files: Traversable, upstream: Path) -> None:
    """A bare repo on `main`: commit 1 with the older files overlaid, commit 2 the current files."""
    with tempfile.TemporaryDirectory(prefix=f"{service}-") as tmp:
        work = Path(tmp)
        run_git(["init", "-q", "-b", "main"], work)
        _copy_tree(files, work)
        _copy_tree(old_files, work)
        _commit(work, f"feat: {service} initial", _DATE_SERVICE_FIRST)
        _copy_tree(files, work)
        _commit(work, _SERVICE_CHANGES[service], _DATE_SERVICE_SECOND)
        upstream.parent.mkdir(parents=True, exist_ok=True)
        run_git(["init", "-q", "--bare", "-b", "main", str(upstream)], work)
        run_git(["push", "-q", str(upstream), "main"], work)


def _commit(repo: Path, message: str, date: str) -> None:
    # -f: a user's global excludes (often `.env`) must not drop the example's dev env files.
    run_git(["add", "-A", "-f", "."], repo)
    run_git([*_NEUTRAL, "commit", "-q", "--no-verify", "--allow-empty", "-m", message],
            repo, env=_identity(date))


def _identity(date: str) -> dict[str, str]:
    return {**TOOL_IDENTITY, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}


def _copy_tree(src: Traversable, dest: Path, skip: set[str] = frozenset()) -> None:
    """Copy a package resource folder byte for byte (no `as_file` for folders on 3.11)."""
    if not src.is_dir():
        return
    for entry in src.iterdir():
        name = entry.name
        if name in skip or name in _SKIP_NAMES or name.endswith(_SKIP_SUFFIXES):
            continue
        target = dest / name
        if entry.is_dir():
            target.mkdir(exist_ok=True)
            _copy_tree(entry, target)
        else:
            target.write_bytes(entry.read_bytes())


def _undo(dest: Path, created: bool) -> None:
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
