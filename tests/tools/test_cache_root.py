"""The cache folder is platformdirs' own on Linux, computed without importing it (issue 25: imports of a review)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("xdg", [None, "/tmp/xdg-cache", "relative/ignored", ""])
def test_the_cache_root_is_platformdirs_user_cache_dir(monkeypatch, xdg):
    import platformdirs

    from tools.schemas import cache_root

    monkeypatch.delenv("DEVOPS_AGENT_HOME", raising=False)
    if xdg is None:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    assert str(cache_root()) == platformdirs.user_cache_dir("devops-agent")


def test_devops_agent_home_wins(monkeypatch, tmp_path):
    from tools.schemas import cache_root

    monkeypatch.setenv("DEVOPS_AGENT_HOME", str(tmp_path))
    assert cache_root() == tmp_path / "cache"


def test_a_review_imports_no_platformdirs_on_linux(tmp_path):
    import subprocess

    if not sys.platform.startswith("linux"):
        pytest.skip("platformdirs is asked elsewhere")
    code = ("import sys; from tools.schemas import cache_root; cache_root(); "
            "print('platformdirs' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"HOME": str(tmp_path),
                         "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2])})
    assert out.stdout.strip() == "False", out.stderr
