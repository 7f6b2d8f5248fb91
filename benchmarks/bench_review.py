"""Median wall time of `devops-agent review` on the example platform, and of CLI start-up.

Run: python benchmarks/bench_review.py [--runs N]
Also checks that --help, charter, sources and review import none of langchain, openai, mcp, docker.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = re.compile(r"\|\s+(langchain\w*|langgraph\w*|openai|mcp|docker)(\.\w+)*\s*$")


def cli() -> list[str]:
    exe = shutil.which("devops-agent")
    return [exe] if exe else [sys.executable, "-m", "agent.cli"]


def timed(args: list[str], runs: int, cold: bool = False) -> tuple[float, int]:
    """Median wall time; `cold` gives every run an empty cache home (schema validation recomputed)."""
    times = []
    code = 0
    for _ in range(runs):
        env = {**os.environ, "NO_COLOR": "1"}
        if cold:
            env["DEVOPS_AGENT_HOME"] = tempfile.mkdtemp(prefix="bench-home-")
        t0 = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, env=env)
        times.append(time.perf_counter() - t0)
        code = proc.returncode
    return statistics.median(times), code


def heavy_imports(args: list[str]) -> list[str]:
    proc = subprocess.run(args, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    return sorted({m.group(1) for line in proc.stderr.splitlines() if (m := HEAVY.search(line))})


def in_process(repo: Path, runs: int) -> float:
    from agent.session import open_session

    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        open_session(repo)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    from agent.example import init_example

    work = Path(tempfile.mkdtemp(prefix="bench-review-"))
    try:
        repo = init_example(work / "animesphere")
        base = cli()
        print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, runs={args.runs}")
        t, _ = timed([*base, "--help"], args.runs)
        print(f"cli start-up (--help)          median {t * 1000:7.1f} ms")
        for fmt in ("text", "json"):
            t, code = timed([*base, "review", "--repo", str(repo), "--format", fmt], args.runs)
            print(f"review --format {fmt:5} (process) median {t * 1000:7.1f} ms  (exit {code})")
        t, code = timed([*base, "review", "--repo", str(repo), "--format", "json"], args.runs, cold=True)
        print(f"review, cold cache    (process) median {t * 1000:7.1f} ms  (exit {code})")
        t = in_process(repo, args.runs)
        print(f"review session (in process)    median {t * 1000:7.1f} ms")
        bad = False
        for cmd in (["--help"], ["charter", "--repo", str(repo)], ["sources", "--repo", str(repo)],
                    ["review", "--repo", str(repo)]):
            heavy = heavy_imports([*base, *cmd])
            bad |= bool(heavy)
            print(f"heavy imports for {cmd[0]:8}: {', '.join(heavy) or 'none'}")
        return 1 if bad else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
