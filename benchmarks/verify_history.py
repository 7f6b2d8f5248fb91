"""`verify` and `review` over a long signed history, as ratios measured in the same run.

Run: python benchmarks/verify_history.py [--commits 1000] [--runs 3]
Builds the example platform (demo Product key, no passphrase), then N commits on top, every one signed by
Product's key with git's own `commit -S` (one in ten edits docker-compose.prod.yml: infra; the others a
notes file). A second copy gets the same final files in one signed commit: the same platform without the
history. Measured:
- `git log --format=%G?` over the N commits (git's own signature check, allowed-signers configured): the
  reference for `verify`;
- `devops-agent verify` through the CLI, cold (empty verdict cache) and warm (the verdicts of a previous run);
- `devops-agent review` of the long history (warm) against the same review without the history.
Targets (issue 19): verify <= 2x git log %G?; review <= 1.2x the review without the history. The machine is
shared: compare the ratios, not the seconds.
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

QUIET = ["-c", "core.hooksPath=/dev/null", "-c", "user.name=product", "-c", "user.email=product@animesphere"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *QUIET, *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def cli(repo: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "agent.cli", *args, "--repo", str(repo)], capture_output=True,
                          text=True, env={**os.environ, "NO_COLOR": "1"})
    return time.perf_counter() - t0, proc


def timed(fn, runs: int) -> float:
    values = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        values.append(time.perf_counter() - t0)
    return statistics.median(values)


def build_history(repo: Path, key: Path, commits: int) -> None:
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "-c", "commit.gpgsign=true"]
    notes = repo / "notes" / "log.md"
    notes.parent.mkdir(exist_ok=True)
    compose = repo / "docker-compose.prod.yml"
    for i in range(commits):
        if i % 10 == 0:
            with compose.open("a") as fh:
                fh.write(f"# tuning note {i}\n")
            path, subject = "docker-compose.prod.yml", f"compose: tuning note {i}"
        else:
            with notes.open("a") as fh:
                fh.write(f"- note {i}\n")
            path, subject = "notes/log.md", f"notes: entry {i}"
        git(repo, "add", "--", path)
        git(repo, *sign, "commit", "-q", "-m", subject)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-verify-home-"))
    os.environ["DEVOPS_AGENT_HOME"] = str(home)
    cache = home / "cache" / "verify"
    base = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    long, short, key = base / "long", base / "short", base / "keys" / "product"
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "example", "init", str(long), "--demo-product-key",
                           str(key)], capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr)
        return 2
    shutil.rmtree(long / ".devops-agent", ignore_errors=True)
    shutil.copytree(long, short, symlinks=True)
    root = git(long, "rev-parse", "HEAD").strip()  # the trust root (product-key init's commit)
    t0 = time.perf_counter()
    build_history(long, key, opts.commits)
    built = time.perf_counter() - t0
    # The same platform without the history: the final files in one signed commit.
    for rel in ("docker-compose.prod.yml", "notes/log.md"):
        (short / rel).parent.mkdir(exist_ok=True)
        shutil.copyfile(long / rel, short / rel)
    git(short, "add", "--", "docker-compose.prod.yml", "notes/log.md")
    git(short, "-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "commit", "-q", "-S", "-m", "the same files")

    allowed = base / "allowed_signers"
    allowed.write_text(git(long, "show", "HEAD:.allowed_signers"))
    log_cmd = ["git", "-c", f"gpg.ssh.allowedSignersFile={allowed}", "log", "--format=%G?", f"{root}..HEAD"]
    marks = subprocess.run(log_cmd, cwd=long, capture_output=True, text=True, check=True).stdout.split()
    assert len(marks) == opts.commits and set(marks) == {"G"}, set(marks)
    git_log = timed(lambda: subprocess.run(log_cmd, cwd=long, capture_output=True, check=True), opts.runs)

    def verify_cold() -> None:
        shutil.rmtree(cache, ignore_errors=True)
        _, p = cli(long, "verify", "--trust-root", root)
        assert p.returncode == 0, p.stdout + p.stderr

    def verify_warm() -> None:
        _, p = cli(long, "verify", "--trust-root", root)
        assert p.returncode == 0, p.stdout + p.stderr

    cold = timed(verify_cold, opts.runs)
    warm = timed(verify_warm, opts.runs)
    _, report = cli(long, "verify", "--format", "json")
    infra = len(json.loads(report.stdout)["infra_commits"])

    def review(repo: Path):
        def go() -> None:
            _, p = cli(repo, "review", "--format", "json")
            assert p.returncode in (0, 1), p.stderr
        return go

    shutil.rmtree(cache, ignore_errors=True)
    review_cold, _ = cli(long, "review", "--format", "json")
    review_long = timed(review(long), opts.runs)
    review_short = timed(review(short), opts.runs)
    result = {
        "commits": opts.commits, "infra_commits": infra, "build_s": round(built, 1),
        "git_log_G_s": round(git_log, 3),
        "verify_cold_s": round(cold, 3), "verify_warm_s": round(warm, 3),
        "verify_cold_x_git_log": round(cold / git_log, 2), "verify_warm_x_git_log": round(warm / git_log, 2),
        "review_long_cold_s": round(review_cold, 3), "review_long_warm_s": round(review_long, 3),
        "review_without_history_s": round(review_short, 3),
        "review_warm_x_without_history": round(review_long / review_short, 2),
        "review_cold_x_without_history": round(review_cold / review_short, 2),
    }
    print(json.dumps(result, indent=2))
    shutil.rmtree(base, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
