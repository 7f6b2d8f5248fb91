"""What installing devops-agent costs: the base install against the `[agent]` extra, each in a fresh venv.

Run: python benchmarks/install_footprint.py [--python python3.11]
Builds the wheel, then for each of `devops-agent` and `devops-agent[agent]`: a fresh venv, pip install (dependencies
from the package index, pip's cache as it is), and prints the seconds pip took, the megabytes the venv grew and the
packages it gained; then, on the base venv with an empty tool cache (a runner's first job), the seconds of the first
and of a second `review` of the bundled example platform. No target: the figures are for the closing note.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def _packages(venv: Path) -> int:
    out = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze",
                          "--disable-pip-version-check"], capture_output=True, text=True, check=True).stdout
    return len(out.split())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", default=sys.executable, help="the interpreter the venvs are made from")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    with tempfile.TemporaryDirectory(prefix="devops-agent-install-") as tmp:
        work = Path(tmp)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work), str(PROJECT)],
                       check=True, env=env)
        wheel, = work.glob("devops_agent-*.whl")
        for name, spec in (("base", str(wheel)), ("[agent]", f"devops-agent[agent] @ {wheel.as_uri()}")):
            venv = work / f"venv-{'agent' if 'agent' in name else 'base'}"
            subprocess.run([args.python, "-m", "venv", str(venv)], check=True, env=env)
            size, count = _size_mb(venv), _packages(venv)
            started = time.monotonic()
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            spec], check=True, env=env)
            seconds = time.monotonic() - started
            print(f"{name:8} pip {seconds:6.1f} s  +{_size_mb(venv) - size:6.0f} MB  "
                  f"+{_packages(venv) - count} packages")
        base = work / "venv-base" / "bin" / "devops-agent"
        platform = work / "animesphere"
        subprocess.run([str(base), "example", "init", str(platform)], check=True, env=env, capture_output=True)
        runner = {**env, "XDG_CACHE_HOME": str(work / "cache")}  # no hadolint, zizmor nor Compose cache yet
        for run in ("first", "second"):
            started = time.monotonic()
            proc = subprocess.run([str(base), "review", "--repo", str(platform), "--format", "sarif"], env=runner,
                                  capture_output=True)
            print(f"review on the base install, {run} run: {time.monotonic() - started:.2f} s "
                  f"(exit {proc.returncode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
