"""Wall time of the signed gate on the example platform, as ratios to `review` timed in the same run.

Run: python benchmarks/bench_gate.py [--runs N]
Each run: a fresh copy of the example (demo Product key, no passphrase), then propose, approve
(build + checks on the proposed tree + 2 ssh-keygen signing rounds), apply (verify + checks + fast-forward),
verify, rollback; for a platform file and for a submodule file (two signed commits and their reverts).
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

CASES = {
    "platform file": ("docker-compose.prod.yml", "main-${IMAGE_TAG_MLSCHEDULER}\n",
                      "main-${IMAGE_TAG_MLSCHEDULER}\n    restart: unless-stopped\n"),
    "submodule file": ("anime-saas-mlservice/Dockerfile", "EXPOSE 8000",
                       "EXPOSE 8000\nLABEL org.opencontainers.image.source=mlservice"),
}
META = ["--reason", "a reason long enough for the policy", "--risk", "what could go wrong, in one line",
        "--rollback", "git revert the commit to restore the previous docker-compose.prod.yml",
        "--scope", "compose", "--format", "json"]


def run(repo: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "agent.cli", *args, "--repo", str(repo)], capture_output=True,
                          text=True, env={**os.environ, "NO_COLOR": "1"})
    return time.perf_counter() - t0, proc


def diff(repo: Path, rel: str, old: str, new: str) -> str:
    path = repo / rel
    text = path.read_text()
    path.write_text(text.replace(old, new, 1))
    sub = rel.split("/")[0] if "/" in rel else None
    cwd, inner = (repo / sub, rel[len(sub) + 1:]) if sub else (repo, rel)
    extra = [f"--src-prefix=a/{sub}/", f"--dst-prefix=b/{sub}/"] if sub else []
    out = subprocess.run(["git", "diff", *extra, "--", inner], cwd=cwd, capture_output=True, text=True).stdout
    subprocess.run(["git", "checkout", "-q", "--", inner], cwd=cwd, check=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    os.environ.setdefault("DEVOPS_AGENT_HOME", tempfile.mkdtemp(prefix="bench-gate-home-"))
    base = Path(tempfile.mkdtemp(prefix="bench-gate-"))
    template = base / "template"
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "example", "init", str(template),
                           "--demo-product-key", str(base / "keys" / "product")], capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr)
        return 2
    key = str(base / "keys" / "product")
    times: dict[str, list[float]] = {}
    for i in range(runs):
        for case, (rel, old, new) in CASES.items():
            repo = base / f"run{i}-{case.split()[0]}"
            shutil.copytree(template, repo, symlinks=True)
            shutil.rmtree(repo / ".devops-agent", ignore_errors=True)
            patch = base / f"run{i}-{case.split()[0]}.diff"
            patch.write_text(diff(repo, rel, old, new))
            steps = {"review (reference)": ["review", "--format", "json"]}
            for name, args in steps.items():
                times.setdefault(name, []).append(run(repo, *args)[0])
            t, p = run(repo, "propose", "--patch", str(patch), *META)
            pid = json.loads(p.stdout)["id"]
            times.setdefault(f"{case}: propose", []).append(t)
            for name, args in (("approve", ["approve", pid, "--key", key, "--yes"]), ("apply", ["apply", pid]),
                               ("verify", ["verify"]), ("rollback", ["rollback", pid])):
                t, p = run(repo, *args)
                if p.returncode != 0:
                    print(f"{case} {name} failed: {p.stderr.strip()}")
                    return 1
                times.setdefault(f"{case}: {name}", []).append(t)
    ref = statistics.median(times["review (reference)"])
    print(f"{'step':32} {'median s':>9} {'x review':>9}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:32} {med:9.3f} {med / ref:9.2f}")
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
