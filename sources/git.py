"""Every git call of the project lives here (one home per outside system)."""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Local submodule clones need the file protocol, which git disables by default.
_BASE = ["git", "-c", "protocol.file.allow=always", "-c", "core.quotepath=off"]


class GitError(RuntimeError):
    """A git command failed; the message carries git's own stderr."""


def run_git(args: list[str], cwd: Path | str, check: bool = True, env: dict | None = None) -> str:
    full_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [*_BASE, *args], cwd=str(cwd), capture_output=True, text=True, env=full_env
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
