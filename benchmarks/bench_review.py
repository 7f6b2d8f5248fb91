"""Wall time of `devops-agent review` on the example platform and of CLI start-up, as ratios to references
timed in the same run (the machine is shared: the ratios are the targets, never the seconds).

Run: python benchmarks/bench_review.py [--runs N]
Targets (exit 1 when one is missed):
- `review` <= 2x the reference: `python -c pass` plus one `hadolint` run over the example's Dockerfiles;
- `--help` <= 3x `python -c pass`;
- --help, charter, sources and review import none of langchain, openai, mcp, docker.
Bytecode is compiled first (`compileall`), as the README's install does.
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

REVIEW_TARGET = 2.0
HELP_TARGET = 3.0
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


def compile_bytecode() -> None:
    """What the README's install does: bytecode for the venv and the project, so no run pays for compiling."""
    project = Path(__file__).resolve().parent.parent
    dirs = [str(project / d) for d in ("agent", "sources", "tools") if (project / d).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs, *sys.path[1:]], capture_output=True)


def hadolint_binary() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else (shutil.which("hadolint") or "hadolint")


def dockerfiles(repo: Path) -> list[str]:
    return sorted(str(p) for p in repo.rglob("Dockerfile*") if ".git" not in p.parts and p.is_file())


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
        compile_bytecode()
        base = cli()
        print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}, runs={args.runs}")
        timed([*base, "review", "--repo", str(repo)], 1)  # warm: schema cache, OS file cache
        python, _ = timed([sys.executable, "-c", "pass"], args.runs)
        files = dockerfiles(repo)
        hadolint, _ = timed([hadolint_binary(), "--no-fail", *files], args.runs)
        reference = python + hadolint
        print(f"python -c pass                 median {python * 1000:7.1f} ms")
        print(f"hadolint, {len(files)} Dockerfiles        median {hadolint * 1000:7.1f} ms")
        print(f"reference (sum)                       {reference * 1000:7.1f} ms")
        t_help, _ = timed([*base, "--help"], args.runs)
        print(f"cli start-up (--help)          median {t_help * 1000:7.1f} ms")
        t_review = 0.0
        for fmt in ("text", "json"):
            t, code = timed([*base, "review", "--repo", str(repo), "--format", fmt], args.runs)
            t_review = max(t_review, t)
            print(f"review --format {fmt:5} (process) median {t * 1000:7.1f} ms  (exit {code})")
        t, code = timed([*base, "review", "--repo", str(repo), "--format", "json"], args.runs, cold=True)
        print(f"review, cold cache    (process) median {t * 1000:7.1f} ms  (exit {code})")
        t = in_process(repo, args.runs)
        print(f"review session (in process)    median {t * 1000:7.1f} ms")
        bad = False
        for name, ratio, target in (("review / reference", t_review / reference, REVIEW_TARGET),
                                    ("--help / python -c pass", t_help / python, HELP_TARGET)):
            missed = ratio > target
            bad |= missed
            print(f"{name:28} {ratio:5.2f}x  (target <= {target:.0f}x){'  MISSED' if missed else ''}")
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
