"""Shared fixtures: where the real platform files are, and a skip when they are absent."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# CI lays shared/ beside the clone; a developer may point elsewhere.
SHARED = Path(os.environ.get("DEVOPS_AGENT_SHARED", ROOT.parent / "shared"))
REALWORLD = SHARED / "realworld" / "animesphere"
IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def realworld() -> Path:
    """The real AnimeSphere files; skipped (with the reason) off CI when absent, failed in CI."""
    if not REALWORLD.is_dir():
        if IN_CI:
            pytest.fail(f"{REALWORLD} is missing: CI must run the real-platform tests")
        pytest.skip(f"real platform files not found at {REALWORLD} (set DEVOPS_AGENT_SHARED)")
    return REALWORLD


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not on PATH: .ci/run must install it")
        pytest.skip(f"{name} not on PATH")
    return path
