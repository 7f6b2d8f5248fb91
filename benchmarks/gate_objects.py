"""The cost of re-hashing every object the gate reads (issue 19, cause 1) on the example's propose + approve.

Run: python benchmarks/gate_objects.py [--runs N] [--baseline REV]
Each run: a fresh copy of the example platform (demo Product key, no passphrase), then `propose` and
`approve --yes` of one platform file and of one submodule file, three ways in alternation: this tree's code;
the same code with the re-hashing switched off in-process (`sources.git._REHASH = False`: the cost of the
hashing alone); the code of REV (default: the commit before the verifying reader, `git archive`d to a
temporary folder: the cost of the whole change, private object directories included, and of whatever else
changed in between). Prints the median wall time of each step and the ratios to this tree's code.
The machine is shared: compare the ratios, not the seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gate import diff  # noqa: E402  (one diff helper for the gate benchmarks)
CASES = {
    "platform": ("docker-compose.prod.yml", "main-${IMAGE_TAG_MLSCHEDULER}\n",
                 "main-${IMAGE_TAG_MLSCHEDULER}\n    restart: unless-stopped\n", "compose"),
    "submodule": ("anime-saas-mlservice/Dockerfile", "EXPOSE 8000",
                  "EXPOSE 8000\nLABEL org.opencontainers.image.source=mlservice", "mlservice"),
}
META = ["--reason", "the mlscheduler must restart by itself after a crash (INT-13)",
        "--risk", "a crash loop restarts forever and hides the error in the logs",
        "--rollback", "revert the commit to remove the line from docker-compose.prod.yml",
        "--format", "json"]


def baseline_rev() -> str:
    """The parent of the commit that brought the verifying reader (`class ObjectStore` in sources/git.py)."""
    out = subprocess.run(["git", "log", "--reverse", "--format=%H", "-S", "class ObjectStore", "--", "sources/git.py"],
                         cwd=HERE, capture_output=True, text=True, check=True).stdout.split()
    return f"{out[0]}^" if out else "HEAD"


def code_at(rev: str, dest: Path) -> Path:
    archive = subprocess.run(["git", "archive", "--format=tar", rev, "agent", "sources", "tools", "prompts"],
                             cwd=HERE, capture_output=True, check=True).stdout
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


NO_REHASH = "import sys, sources.git as g; g._REHASH = False; from agent.cli import main; sys.argv[0] = 'devops-agent'; main()"


def cli(code: Path | None, repo: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    """`devops-agent ARGS --repo REPO` with the code at `code` (None: this tree with the re-hashing off)."""
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(code or HERE)}
    head = ["-m", "agent.cli"] if code is not None else ["-c", NO_REHASH]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *head, *args, "--repo", str(repo)], capture_output=True,
                          text=True, env=env, cwd=str(code or HERE))
    return time.perf_counter() - t0, proc


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", default=None, help="the code to compare with (default: before the reader)")
    args = parser.parse_args()
    rev = args.baseline or baseline_rev()
    os.environ.setdefault("DEVOPS_AGENT_HOME", tempfile.mkdtemp(prefix="bench-objects-home-"))
    base = Path(tempfile.mkdtemp(prefix="bench-objects-"))
    codes: dict[str, Path | None] = {"verified": HERE, "hash off": None, "baseline": code_at(rev, base / "baseline-code")}
    template, key = base / "template", base / "keys" / "product"
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "example", "init", str(template), "--demo-product-key",
                           str(key)], capture_output=True, text=True, cwd=str(HERE))
    if proc.returncode != 0:
        print(proc.stderr)
        return 2
    times: dict[tuple[str, str], list[float]] = {}
    for i in range(args.runs):
        for case, (rel, old, new, scope) in CASES.items():
            for label, code in (codes.items() if i % 2 == 0 else reversed(list(codes.items()))):
                repo = base / f"run{i}-{case}-{label.replace(' ', '-')}"
                shutil.copytree(template, repo, symlinks=True)
                shutil.rmtree(repo / ".devops-agent", ignore_errors=True)
                patch = repo.with_suffix(".diff")
                patch.write_text(diff(repo, rel, old, new))
                t, p = cli(code, repo, "propose", "--patch", str(patch), *META, "--scope", scope)
                if p.returncode != 0:
                    print(f"{label} {case} propose failed: {p.stderr.strip() or p.stdout[-400:]}")
                    return 1
                times.setdefault((f"{case}: propose", label), []).append(t)
                t2, p = cli(code, repo, "approve", json.loads(p.stdout)["id"], "--key", str(key), "--yes")
                if p.returncode != 0:
                    print(f"{label} {case} approve failed: {p.stderr.strip()}")
                    return 1
                times.setdefault((f"{case}: approve", label), []).append(t2)
                times.setdefault((f"{case}: propose+approve", label), []).append(t + t2)
    print(f"baseline: {subprocess.run(['git', 'rev-parse', '--short', rev], cwd=HERE, capture_output=True, text=True).stdout.strip()}"
          f", {args.runs} run(s)")
    print(f"{'step':26} {'verified s':>10} {'hash off s':>10} {'baseline s':>10} {'/hash off':>9} {'/baseline':>9}")
    for step in dict.fromkeys(s for s, _ in times):
        new, off, old = (statistics.median(times[(step, k)]) for k in ("verified", "hash off", "baseline"))
        print(f"{step:26} {new:10.3f} {off:10.3f} {old:10.3f} {new / off:9.2f} {new / old:9.2f}")
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
