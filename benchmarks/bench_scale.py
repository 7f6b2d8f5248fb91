"""How `review` scales: generated platforms of N services, N Dockerfiles and N CI workflows.

Run: python benchmarks/bench_scale.py [--sizes 200 500 1000 2000] [--runs 3]
Prints the median time of a full review session (sources, compose, Dockerfiles, CI, nginx, checks,
hadolint), ms per service, and the max/min ratio of ms per service across sizes.
Target (exit 1 when missed): that ratio <= 1.5, i.e. cost linear in the number of services.
Bytecode is compiled first (`compileall`), as the README's install does.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import statistics
import sys
import tempfile
import time
from pathlib import Path

CHARTER = """# Agent: DevOps Engineer (Generated)

## Sources de vérité (à charger)
- Docker: `docker-compose.yml`, `docker-compose.prod.yml`.
- Dockerfiles: dans chaque service.
- CI/CD: workflows GitHub Actions par service.

## Priorité des sources
1. Fichiers du repo (docker-compose*, Dockerfiles, workflows CI)
"""

WORKFLOW = """name: CI
on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: meta
        uses: docker/metadata-action@v5
        with:
          images: ghcr.io/acme/{name}
          tags: |
            type=sha,prefix={{{{branch}}}}-
      - uses: docker/build-push-action@v5
        with:
          context: .
          push: true
          tags: ${{{{ steps.meta.outputs.tags }}}}
"""


def generate(root: Path, n: int) -> Path:
    (root / ".codex/agents").mkdir(parents=True)
    (root / ".codex/agents/devops-engineer.md").write_text(CHARTER)
    (root / ".devops-agent.yaml").write_text(
        "environments:\n  dev: [docker-compose.yml]\n  prod: [docker-compose.prod.yml]\n"
        "extra_globs:\n  dockerfile: ['svc-*/Dockerfile']\n  ci_workflow: ['svc-*/.github/workflows/*.yml']\n")
    dev, prod = ["services:"], ["services:"]
    for i in range(n):
        name = f"svc-{i:03d}"
        d = root / name
        (d / ".github/workflows").mkdir(parents=True)
        port = 8000 + i
        (d / "Dockerfile").write_text(
            f"FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nUSER app\nEXPOSE {port}\n"
            f'CMD ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "{port}"]\n')
        (d / ".dockerignore").write_text(".git\n")
        (d / ".github/workflows/ci.yml").write_text(WORKFLOW.format(name=name))
        dep = f"\n    depends_on: [svc-{i - 1:03d}]" if i else ""
        dev.append(f"  {name}:\n    build: ./{name}\n    expose: ['{port}']{dep}")
        prod.append(f"  {name}:\n    image: ghcr.io/acme/{name}:main-${{TAG:-abc1234}}\n    restart: unless-stopped\n"
                    f"    expose: ['{port}']\n    healthcheck:\n      test: ['CMD', 'python', '-c', 'print(1)']{dep}")
    (root / "docker-compose.yml").write_text("\n".join(dev) + "\n")
    (root / "docker-compose.prod.yml").write_text("\n".join(prod) + "\n")
    return root


TARGET = 1.5


def compile_bytecode() -> None:
    project = Path(__file__).resolve().parent.parent
    dirs = [str(project / d) for d in ("agent", "sources", "tools") if (project / d).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs, *sys.path[1:]], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500, 1000, 2000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="an empty cache home for every run")
    args = parser.parse_args()
    import os

    compile_bytecode()
    from agent.session import open_session

    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    per_service: dict[int, float] = {}
    try:
        roots = {n: generate(work / f"p{n}", n) for n in args.sizes}
        times: dict[int, list[float]] = {n: [] for n in args.sizes}
        last = {}
        for _ in range(args.runs):  # rounds over every size, so a burst of load on the shared machine hits all of them
            for n, root in roots.items():
                if args.cold:
                    os.environ["DEVOPS_AGENT_HOME"] = tempfile.mkdtemp(prefix="bench-home-")
                t0 = time.perf_counter()
                session = open_session(root)
                session.platform().hadolint.result()  # the review waits for hadolint too
                times[n].append(time.perf_counter() - t0)
                last[n] = (len(session.sources), len(session.findings))
        for n in args.sizes:
            med = statistics.median(times[n])
            per_service[n] = med * 1000 / n
            print(f"{n:4d} services: median {med * 1000:8.1f} ms  ({med * 1000 / n:6.2f} ms/service, "
                  f"{last[n][0]} sources, {last[n][1]} findings)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if len(per_service) < 2:
        return 0
    ratio = max(per_service.values()) / min(per_service.values())
    missed = ratio > TARGET
    print(f"ms/service max/min across sizes: {ratio:.2f}x  (target <= {TARGET}x){'  MISSED' if missed else ''}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
