"""`extra_globs` patterns that are empty or reach outside the repository are one line and exit 2 at
load (they ended in an internal error: Path.glob refuses them)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("pattern", "said"), [
    ('"/etc/*.yml"', "extra_globs.compose[0]: '/etc/*.yml' reaches outside the repository"),
    ('""', "extra_globs.compose[0]: an empty pattern"),
    ('"../other/*.yml"', "extra_globs.compose[0]: '../other/*.yml' reaches outside the repository"),
])
def test_a_bad_extra_glob_is_one_line(tmp_path, pattern, said):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "docker-compose.yml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    (tmp_path / ".devops-agent.yaml").write_text(f"extra_globs:\n  compose: [{pattern}]\n")
    r = subprocess.run([sys.executable, "-m", "agent.cli", "review", "--repo", str(tmp_path)], capture_output=True,
                       text=True, cwd=ROOT, env={**os.environ, "NO_COLOR": "1"}, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"devops-agent: .devops-agent.yaml: {said}; write a glob relative to the repository")
    assert r.stderr.count("\n") == 1 and "internal error" not in r.stderr
