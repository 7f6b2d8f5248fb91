"""The README's gate walkthrough runs as written, with the installed console script."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _walkthrough() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The change gate, on the example"):]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


def test_the_readme_gate_walkthrough_works(tmp_path):
    script = _walkthrough().replace('--key "$d/keys/product"', '--key "$d/keys/product" --yes')
    assert "devops-agent approve" in script and "devops-agent verify" in script
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "TMPDIR": str(tmp_path), "NO_COLOR": "1"}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'Good "git" signature for product@animesphere' in proc.stdout + proc.stderr
    assert "all Product-signed or accepted" in proc.stdout
    assert "rolled back" in proc.stdout
