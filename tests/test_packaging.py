"""The wheel carries every module and the example's data: `pip install .` (the README's first
command) must work as well as the editable install the tests run from."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel, = out.glob("devops_agent-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def test_every_module_is_in_the_wheel(wheel_names):
    for package in ("agent", "sources", "tools", "prompts", "evals", "examples"):
        for module in (ROOT / package).rglob("*.py"):
            rel = module.relative_to(ROOT).as_posix()
            assert rel in wheel_names, f"{rel} is missing from the wheel"


def test_the_example_data_is_in_the_wheel(wheel_names):
    for rel in ("prompts/devops-engineer.md", "examples/animesphere/.devops-agent.yaml",
                "examples/animesphere/.env.example", "examples/animesphere/.codex/agents/devops-engineer.md",
                "examples/animesphere/anime-saas-reverseproxy/.github/workflows/ci.yml",
                "examples/animesphere/notion-export/Release 3f2a9c1e.csv", "examples/history/anime-saas-api/Dockerfile"):
        assert rel in wheel_names, f"{rel} is missing from the wheel"
