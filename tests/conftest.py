"""Shared fixtures: where the real platform files are, and a skip when they are absent."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# CI lays shared/ beside the clone; a developer may point elsewhere.
SHARED = Path(os.environ.get("DEVOPS_AGENT_SHARED", ROOT.parent / "shared"))
REALWORLD = SHARED / "realworld" / "animesphere"
IN_CI = os.environ.get("CI") == "true"
# Keys, the machine secret and caches of a test run never touch the real home.
os.environ["DEVOPS_AGENT_HOME"] = tempfile.mkdtemp(prefix="devops-agent-home-")
# `python -m agent.cli` in a subprocess, from any folder: the editable install maps only `devops_agent` (the
# wheel's one top-level name), so the checkout's own packages come first on the path, as pytest has them.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)


@pytest.fixture(scope="session")
def realworld() -> Path:
    """The real AnimeSphere files; skipped (with the reason) off CI when absent, failed in CI."""
    if not REALWORLD.is_dir():
        if IN_CI:
            pytest.fail(f"{REALWORLD} is missing: CI must run the real-platform tests")
        pytest.skip(f"real platform files not found at {REALWORLD} (set DEVOPS_AGENT_SHARED)")
    return REALWORLD


def require_binary(name: str) -> str:
    """A tool installed by the test extra: next to this Python (a venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / name
    path = str(beside) if beside.is_file() else shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not on PATH: .ci/run must install it")
        pytest.skip(f"{name} not on PATH")
    return path


def _git(cwd: Path, *args: str) -> str:
    from sources.git import TOOL_IDENTITY, run_git

    return run_git(list(args), cwd, env=TOOL_IDENTITY)


def _copy_writable(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, copy_function=shutil.copyfile)
    for path in [dst, *dst.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.fixture
def real_platform_repo(tmp_path, realworld) -> Path:
    """A git repo made of the real platform files: the reverse proxy a real submodule, the four
    private services uninitialised gitlinks (as a clone without --recurse-submodules leaves them)."""
    platform = tmp_path / "anime-saas-platform"
    _copy_writable(realworld, platform)
    upstream = tmp_path / "upstream" / "anime-saas-reverseproxy"
    shutil.move(str(platform / "anime-saas-reverseproxy"), upstream)
    _git(upstream, "init", "-q", "-b", "main")
    _git(upstream, "add", "-A")
    _git(upstream, "commit", "-q", "-m", "reverse proxy")
    _git(platform, "init", "-q", "-b", "main")
    _git(platform, "submodule", "add", "-q", "-b", "main", str(upstream), "anime-saas-reverseproxy")
    for i, name in enumerate(["anime-saas-api", "anime-saas-front", "anime-saas-mlservice", "anime-saas-agent"]):
        (platform / name).mkdir()  # a clone leaves an empty folder for each uninitialised submodule
        _git(platform, "update-index", "--add", "--cacheinfo", f"160000,{str(i + 1) * 40},{name}")
    _git(platform, "add", "-A")
    _git(platform, "commit", "-q", "-m", "platform")
    return platform


@pytest.fixture(autouse=True)
def agent_home(tmp_path, monkeypatch) -> Path:
    """Each test its own DEVOPS_AGENT_HOME: Product keys, the machine secret and caches."""
    home = tmp_path / "agent-home"
    monkeypatch.setenv("DEVOPS_AGENT_HOME", str(home))
    return home
