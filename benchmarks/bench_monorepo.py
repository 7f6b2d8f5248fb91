"""How `review` scales with the size of the repository, the infrastructure staying the same.

Run: python benchmarks/bench_monorepo.py [--runs 5] [--files 5000] [--in-process] [--keep DIR]
Generates two git repositories with the same charter and the same infrastructure (two compose files, three Dockerfiles,
two workflows, an nginx config): a monorepo of about 5,000 files (source files, many YAML files that
are not infrastructure: locales, OpenAPI specs, fixtures, lint configs) and a 50-file repository.
Runs `devops-agent review --format json` on each, interleaved (small, big, small, big...: a burst
of load on the shared machine hits both), after one warm-up each (the compose and hadolint caches
are warm, as on a second review), and prints the medians, the spread (min-max) and the load average.
The charter is the packaged one (prompts/devops-engineer.md) committed as the repository's own, so the checks
resting on the platform's decisions (no new tools: CHR001 reads every YAML file) run; `--no-charter` reviews
against the generic charter instead, as a new user's first run does.
Target (exit 1 when missed): median(big) / median(small) <= 3.
`--in-process` times `open_session` in this process instead of the CLI (no interpreter start-up).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 3.0

DEV = """services:
  api:
    build: ./services/api
    ports: ["8000:8000"]
    environment:
      DATABASE_URL: postgres://app:${POSTGRES_PASSWORD:-dev}@db:5432/app
    depends_on: [db]
  web:
    build: ./services/web
    ports: ["3000:3000"]
  worker:
    build: ./services/worker
    depends_on: [db]
  db:
    image: postgres:16.3
    volumes: [dbdata:/var/lib/postgresql/data]
volumes:
  dbdata:
"""

PROD = """services:
  api:
    image: ghcr.io/acme/api:main-${API_TAG:-abc1234}
    restart: unless-stopped
    env_file: [.env.prod]
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:8000/health"]
  web:
    image: ghcr.io/acme/web:main-${WEB_TAG:-abc1234}
    restart: unless-stopped
  worker:
    image: ghcr.io/acme/worker:main-${WORKER_TAG:-abc1234}
    restart: unless-stopped
  proxy:
    image: nginx:1.27.0
    restart: unless-stopped
    ports: ["80:80"]
    volumes: [./nginx/default.conf:/etc/nginx/conf.d/default.conf:ro]
  db:
    image: postgres:16.3
    restart: unless-stopped
    volumes: [dbdata:/var/lib/postgresql/data]
volumes:
  dbdata:
"""

DOCKERFILES = {
    "api": 'FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nRUN pip install --no-cache-dir -r requirements.txt\n'
           'USER nobody\nEXPOSE 8000\nCMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]\n',
    "web": 'FROM node:20.15-alpine\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\nUSER node\n'
           'EXPOSE 3000\nCMD ["node", "dist/server.js"]\n',
    "worker": 'FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nRUN pip install --no-cache-dir -r requirements.txt\n'
              'USER nobody\nCMD ["python", "-m", "worker"]\n',
}

WORKFLOW = """name: {name}
on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        service: [api, web, worker]
    steps:
      - uses: actions/checkout@v4
      - uses: docker/build-push-action@v5
        with:
          context: services/${{{{ matrix.service }}}}
          push: true
          tags: ghcr.io/acme/${{{{ matrix.service }}}}:main-${{{{ github.sha }}}}
"""

NGINX = """server {
    listen 80;
    location /api/ { proxy_pass http://api:8000/; }
    location / { proxy_pass http://web:3000; }
}
"""


def _infra(root: Path) -> int:
    files = {
        "docker-compose.yml": DEV,
        "docker-compose.prod.yml": PROD,
        ".env.example": "POSTGRES_PASSWORD=\nAPI_TAG=\n",
        "nginx/default.conf": NGINX,
        ".github/workflows/ci.yml": WORKFLOW.format(name="CI"),
        ".github/workflows/release.yml": WORKFLOW.format(name="Release"),
        "README.md": "# Acme\n\n`docker compose -f docker-compose.yml -f docker-compose.prod.yml up -d`\n",
        ".gitignore": "node_modules/\n.env\n",
    }
    for svc, text in DOCKERFILES.items():
        files[f"services/{svc}/Dockerfile"] = text
        files[f"services/{svc}/.dockerignore"] = ".git\nnode_modules\n"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return len(files)


def _filler(root: Path, n: int) -> None:
    """`n` files that are not infrastructure: ~75 % source files, ~20 % YAML, the rest docs and JSON."""
    kinds = [("py", 0.40), ("ts", 0.35), ("yaml", 0.20), ("md", 0.03), ("json", 0.02)]
    counts = {k: int(n * share) for k, share in kinds}
    counts["py"] += n - sum(counts.values())
    for i in range(counts["py"]):
        svc = ("api", "worker")[i % 2]
        p = root / f"services/{svc}/app/pkg{i // 50:03d}/mod_{i:04d}.py"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f'"""Module {i}."""\n\n\ndef handler_{i}(event: dict) -> dict:\n'
                     f'    return {{"id": {i}, "ok": bool(event)}}\n' * 3)
    for i in range(counts["ts"]):
        p = root / f"services/web/src/components/group{i // 40:03d}/Widget{i:04d}.ts"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"export function widget{i}(props: {{ id: number }}) {{\n  return `widget-${{props.id}}`;\n}}\n")
    for i in range(counts["yaml"]):
        kind = i % 4
        if kind == 0:
            rel, text = f"services/web/locales/lang{i // 4:03d}.yml", "".join(
                f"key_{j}: \"Message {j} in language {i}\"\n" for j in range(40))
        elif kind == 1:
            rel = f"services/api/openapi/paths/resource{i:04d}.yaml"
            text = (f"get:\n  operationId: get{i}\n  summary: Read resource {i}\n  responses:\n"
                    f"    '200':\n      description: OK\n      content:\n        application/json:\n"
                    f"          schema:\n            type: object\n            properties:\n"
                    + "".join(f"              field{j}:\n                type: string\n" for j in range(15)))
        elif kind == 2:
            rel = f"services/worker/tests/fixtures/case{i:04d}.yaml"
            text = "".join(f"- input: {{a: {j}, b: {j * 2}}}\n  expected: {j * 3}\n" for j in range(20))
        else:
            rel = f"packages/lib{i:04d}/.lint.yml"
            text = "rules:\n  max-line-length: 120\n  no-unused: error\nignore:\n  - dist/\n  - build/\n"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for i in range(counts["md"]):
        p = root / f"docs/notes/note{i:03d}.md"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"# Note {i}\n\nNothing about deployment.\n")
    for i in range(counts["json"]):
        p = root / f"packages/lib{i:04d}/package.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f'{{"name": "@acme/lib{i}", "version": "1.0.{i}"}}\n')


def generate(root: Path, total: int, charter: bool) -> Path:
    root.mkdir(parents=True)
    infra = _infra(root)
    if charter:
        import importlib.resources

        own = root / ".codex/agents/devops-engineer.md"
        own.parent.mkdir(parents=True)
        own.write_text((importlib.resources.files("prompts") / "devops-engineer.md").read_text(encoding="utf-8"))
        infra += 1
    _filler(root, max(total - infra, 0))
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "core.hooksPath=/dev/null"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "generated"], cwd=root, check=True)
    return root


def cli() -> list[str]:
    exe = shutil.which("devops-agent") or str(Path(sys.executable).parent / "devops-agent")
    return [exe] if Path(exe).exists() else [sys.executable, "-m", "agent.cli"]


def run_once(root: Path, in_process: bool) -> tuple[float, int]:
    """Seconds of one review, and its number of findings (the two repositories must agree)."""
    if in_process:
        from agent.session import open_session

        t0 = time.perf_counter()
        session = open_session(root, signatures=False)
        hl = session.platform().hadolint
        if hl is not None:
            hl.result()  # the review waits for hadolint too
        return time.perf_counter() - t0, len(session.findings)
    import json

    t0 = time.perf_counter()
    proc = subprocess.run([*cli(), "review", "--format", "json", "--repo", str(root)], capture_output=True,
                          env={**os.environ, "NO_COLOR": "1"})
    took = time.perf_counter() - t0
    if proc.returncode not in (0, 1, 3):
        raise SystemExit(f"review of {root} failed ({proc.returncode}): {proc.stderr.decode()[-400:]}")
    return took, len(json.loads(proc.stdout)["findings"])


def compile_bytecode() -> None:
    project = Path(__file__).resolve().parent.parent
    dirs = [str(project / d) for d in ("agent", "sources", "tools") if (project / d).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs, *sys.path[1:]], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--small", type=int, default=50)
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--no-charter", action="store_true", help="no charter of their own: the generic one")
    parser.add_argument("--keep", type=Path, help="generate into DIR and keep it (for profiling)")
    args = parser.parse_args()
    compile_bytecode()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-monorepo-"))
    try:
        repos = {}
        for name, n in (("small", args.small), ("big", args.files)):
            root = work / name
            if not root.exists():
                generate(root, n, charter=not args.no_charter)
            repos[name] = root
        counts = {name: int(subprocess.run(["git", "ls-files"], cwd=r, capture_output=True, text=True).stdout.count("\n"))
                  for name, r in repos.items()}
        times: dict[str, list[float]] = {name: [] for name in repos}
        findings: dict[str, int] = {}
        loads = [os.getloadavg()[0]]
        for name, root in repos.items():
            run_once(root, args.in_process)  # warm-up: caches filled, pages in memory
        for _ in range(args.runs):
            for name, root in repos.items():
                took, findings[name] = run_once(root, args.in_process)
                times[name].append(took)
            loads.append(os.getloadavg()[0])
        for name in repos:
            t = times[name]
            print(f"{name:5s} ({counts[name]:5d} files, {findings[name]} findings): median {statistics.median(t):6.2f} s"
                  f"  spread {min(t):6.2f}-{max(t):6.2f} s")
        ratio = statistics.median(times["big"]) / statistics.median(times["small"])
        print(f"load average (1 min) during the runs: {min(loads):.2f}-{max(loads):.2f} on {os.cpu_count()} CPUs")
        missed = ratio > TARGET
        print(f"big/small: {ratio:.2f}x  (target <= {TARGET}x){'  MISSED' if missed else ''}")
        if findings["big"] != findings["small"]:
            print(f"note: the big repository has {findings['big']} findings, the small {findings['small']}")
        return 1 if missed else 0
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
