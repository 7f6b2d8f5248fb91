"""What `history` costs against one `review`, on a generated history and on the example's own, as ratios to a
review timed in the same run (the machine is shared: the ratios are the targets, never the seconds).

Run: PYTHONPATH=. python benchmarks/bench_history.py [--commits 100] [--runs 5]
The generated history starts at a tag on the example platform; each commit changes one file, as a platform's
history does: most commits edit application code in a submodule (and a platform commit moves its gitlink), some
edit an infra file (a compose value, a Dockerfile label, the nginx config), some the platform's docs.
Targets (exit 1 when one is missed), from issue 24:
- a history of 100 commits, first run (empty cache home), <= 10x one warm review;
- the second run is served from the cache: no state reviewed or inherited again (its ratio is reported).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST_TARGET = 10.0
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.org", "-c", "commit.gpgsign=false",
       "-c", "core.hooksPath=/dev/null"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def cli(repo: Path, home: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "NO_COLOR": "1", "DEVOPS_AGENT_HOME": str(home)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "agent.cli", *args, "--repo", str(repo)], capture_output=True,
                          text=True, env=env, cwd=str(Path(__file__).resolve().parent.parent))
    return time.perf_counter() - t0, proc


# (submodule, file, a line to append) edited by the application commits, in turn
APP = [("anime-saas-api", "AnimeSaasApi/AnimeDb.cs", "// {i}"), ("anime-saas-front", "pages/index.vue", "<!-- {i} -->"),
       ("anime-saas-mlservice", "app/recommender.py", "# {i}"), ("anime-saas-agent", "anime_agent/status.py", "# {i}")]


def generate(repo: Path, commits: int) -> int:
    """`commits` one-file commits on top of a tag `bench`; returns how many touched an infra file."""
    git(repo, "tag", "bench")
    infra = 0
    for i in range(commits):
        kind = i % 10
        if kind == 0:  # a compose value in production
            path = repo / "docker-compose.prod.yml"
            path.write_text(path.read_text() + f"# deploy note {i}\n")
            git(repo, "commit", "-qam", f"chore: deploy note {i}")
            infra += 1
        elif kind == 5:  # a Dockerfile label in a submodule, and its gitlink
            sub = repo / "anime-saas-mlservice"
            (sub / "Dockerfile").write_text((sub / "Dockerfile").read_text() + f"LABEL build.note=\"{i}\"\n")
            git(sub, "commit", "-qam", f"chore: label {i}")
            git(repo, "commit", "-qam", f"chore: bump mlservice {i}")
            infra += 1
        else:  # application code in a submodule, and its gitlink
            name, rel, line = APP[i % len(APP)]
            sub = repo / name
            (sub / rel).write_text((sub / rel).read_text() + "\n" + line.format(i=i) + "\n")
            git(sub, "commit", "-qam", f"feat: change {i}")
            git(repo, "commit", "-qam", f"chore: bump {name} {i}")
    return infra


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from agent.example import init_example

    base = Path(tempfile.mkdtemp(prefix="bench-history-"))
    repo = init_example(base / "platform")
    warm = base / "home-warm"
    cli(repo, warm, "review", "--format", "json")  # the review's own caches (Compose, hadolint) warm
    reviews = [cli(repo, warm, "review", "--format", "json")[0] for _ in range(args.runs)]
    one = statistics.median(reviews)
    load = os.getloadavg()[0]
    out: dict = {"review_s": round(one, 3), "review_spread_s": [round(min(reviews), 3), round(max(reviews), 3)],
                 "load": round(load, 2)}
    # the example's own history since its tag
    own, proc = cli(repo, base / "home-own", "history", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)["counts"]
    out["example"] = {"states": data["commits"], "reviewed": data["reviewed"], "seconds": round(own, 3),
                      "ratio": round(own / one, 2)}
    infra = generate(repo, args.commits)
    cold_home = base / "home-cold"
    first, proc = cli(repo, cold_home, "history", "--since", "bench", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout)["counts"]
    second, proc = cli(repo, cold_home, "history", "--since", "bench", "--format", "json")
    again = json.loads(proc.stdout)["counts"]
    out["generated"] = {"commits": args.commits, "infra_commits": infra, "states": counts["commits"],
                        "reviewed": counts["reviewed"], "inherited": counts["inherited"],
                        "first_s": round(first, 3), "first_ratio": round(first / one, 2),
                        "second_s": round(second, 3), "second_ratio": round(second / one, 2),
                        "second_cached": again["cached"]}
    out["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=1))
    missed = []
    if out["generated"]["first_ratio"] > FIRST_TARGET:
        missed.append(f"first run {out['generated']['first_ratio']}x > {FIRST_TARGET}x")
    if again["reviewed"] or again["inherited"]:
        missed.append(f"second run reviewed {again['reviewed']} and inherited {again['inherited']} state(s) again")
    for m in missed:
        print("MISSED:", m)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
