"""Inputs under the caps that used to make `review` slow or blame the wrong thing (issue 20, 7)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.test_charter_reads import _repo

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = "services:\n  web:\n    image: nginx:1.25\n    environment:\n      LEVEL: ${LOG_LEVEL:-info}\n"


def test_dotenv_over_the_cap_names_the_file_and_its_size_not_the_compose_install(tmp_path: Path) -> None:
    dotenv = "LOG_LEVEL=debug\n" + "# generated\n" * 500
    repo = _repo(tmp_path, {"docker-compose.yml": COMPOSE, ".env": dotenv,
                            ".devops-agent.yaml": "max_file_bytes: 4000\n"})
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "review", "--repo", str(repo), "--format", "json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode in (1, 3), proc.stderr
    titles = [f["title"] for f in json.loads(proc.stdout)["findings"]]
    said = [t for t in titles if ".env is" in t]
    assert said and f".env is {len(dotenv):,} bytes, over the 4,000-byte cap" in said[0], titles
    assert not any("install Compose" in t or "did not finish" in t for t in titles), titles
