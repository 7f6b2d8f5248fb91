"""What every command module shares: the command group (agent/commands/kit.py), the option types, and how a command opens
the session or the gate. No rules here: those live in the session, tools and gate."""
from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

from agent.commands import kit

from agent.core.errors import UserError

app = kit.Group(
    name="devops-agent",
    help="Run the DevOps Engineer charter of a platform: sources with provenance, infra checks, a gated change flow.\n"
         "`devops-agent --version` prints its version and its bundled binaries' (hadolint, compose, zizmor).",
    no_args_is_help=True,
)
example_app = kit.Group(help="The bundled example platform.", no_args_is_help=True)
app.add_group(example_app, name="example")


class Fmt(str, Enum):
    text = "text"
    json = "json"


class ReviewFmt(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    sarif = "sarif"
    github = "github"  # workflow-command annotations
    junit = "junit"
    compact = "compact"  # findings only, one line each


class Severity(str, Enum):
    blocker = "blocker"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


class MdFmt(str, Enum):
    markdown = "markdown"
    json = "json"


class CatalogueFmt(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


# The modules each front end needs beyond the base install (review, the gate, verify, deliverables): the
# `agent` extra of pyproject.toml brings them. A command without them says so in one line (exit 2).
EXTRA_NEEDS: dict[str, tuple[str, ...]] = {
    "ask": ("langchain", "langchain_core", "langchain_openai", "langgraph", "pydantic"),
    "chat": ("langchain", "langchain_core", "langchain_openai", "langgraph", "pydantic", "prompt_toolkit"),
    "mcp": ("mcp", "anyio", "uvicorn", "pydantic"),
    "eval": ("langchain", "langchain_core", "langchain_openai", "langgraph", "pydantic"),
    "diagnose": ("docker",),
    "tools": ("pydantic",),
}


def require_extra(command: str) -> None:
    """One line and exit 2 when the [agent] extra `command` needs is not installed (never an ImportError)."""
    import importlib.util

    missing = [m for m in EXTRA_NEEDS[command] if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"`devops-agent {command}` needs the [agent] extra ({', '.join(missing)} not installed)",
                        "pip install 'devops-agent[agent]'")


RepoOpt = kit.Option(None, "--repo", help="Platform root (default: the git root above the current directory).")
CharterOpt = kit.Option(None, "--charter", help="Charter file (default: .codex/agents/devops-engineer.md, else the shipped one).")
ConfigOpt = kit.Option(None, "--config", help="Config file (default: .devops-agent.yaml at the repo root).")
ReleaseOpt = kit.Option(None, "--release", metavar="TAG",
                        help="Read this Notion release (its Tag, e.g. 0.4.0) instead of the one in progress.")


def _session(repo, charter, config, run_checks=True, rev=None, release=None):
    if rev is None:  # git's processes run while the session's modules import
        from sources.git import find_repo_root, prefetch_repo_state

        root = Path(repo).expanduser() if repo is not None else find_repo_root(Path.cwd())
        if root is not None and root.is_dir():
            prefetch_repo_state(root)
    from agent.session import open_session

    if repo is None:
        _require_git_root()
    return open_session(repo=repo, charter=charter, config=config, run_checks=run_checks, rev=rev, release=release)


def _require_git_root() -> None:
    """Without --repo the platform is the git root above the current directory; outside any repository,
    refuse rather than review whatever the current directory holds."""
    from sources.git import find_repo_root

    if find_repo_root(Path.cwd()) is None:
        from agent.session import resolve_repo

        resolve_repo(Path.cwd())  # a bare repository says so
        raise UserError(f"{Path.cwd()} is not inside a git repository",
                        "run it in the platform's repository, or pass --repo DIR to review a directory as it is")



def _gate(repo):
    from agent.gate import Gate
    from agent.session import resolve_repo

    return Gate(resolve_repo(repo))


def _read_patch(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    p = Path(path)
    if not p.is_file():
        raise UserError(f"patch file {path} does not exist", "pass a unified diff made with `git diff`")
    return p.read_bytes()
