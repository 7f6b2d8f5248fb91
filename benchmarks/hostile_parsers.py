"""`review` on hostile inputs: per parser, the slowest of several hostile 1 MB files, as seconds and as a ratio
to a benign 1 MB file of the same kind; and the large-but-legal inputs of issue 20 (2,000 charter paths,
25,000 nginx servers, 10,000 compose services, a 65k-port range, a 50 MB .env) as ratios to the bundled
example's own review, timed in the same run (the machine is shared: the ratios are the targets).

A large case is a fresh copy: nothing of it is in Compose's cache, so its reference is a fresh copy of the
unchanged example (`first review`, Compose run too); the ratio to a second review of the example (Compose
cached) is printed beside it. Compose's own `config` on the case's compose files is timed alone too (`compose`),
and `ours` is the review without that time, over the first review: what this project's code costs.

Each case is the example platform (`devops-agent example init`) with one file replaced or added; each
`review` runs as a subprocess with a deadline, so an input that never finishes is reported, not waited for.

Run: python benchmarks/hostile_parsers.py [--size BYTES] [--timeout S] [--only PARSER] [--skip-large]
Targets (exit 1 when one is missed): every hostile input <= HOSTILE_TARGET x its benign input; every
large input's review, less Compose's own `config` time on it (the floor: `docker compose config` alone costs
that to anyone), <= LARGE_TARGET x the example's review; the 50 MB .env names the file and its size.
Run it with the repository on PYTHONPATH (`PYTHONPATH=. python benchmarks/hostile_parsers.py`) or installed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

HOSTILE_TARGET = 3.0
LARGE_TARGET = 5.0
MB = 1_000_000


def cli() -> list[str]:
    return [sys.executable, "-m", "agent.cli"]  # the code on PYTHONPATH, when set (a before/after comparison)


def _fill(head: str, piece: str, tail: str, size: int) -> str:
    """`head` + `piece` repeated to about `size` characters + `tail`."""
    room = max(size - len(head) - len(tail), len(piece))
    return head + piece * (room // len(piece)) + tail


def _lines(line: str, size: int, head: str = "", tail: str = "") -> str:
    return head + line * max(1, (size - len(head) - len(tail)) // len(line)) + tail


_WF_HEAD = "name: ci\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
_CHARTER = ".codex/agents/devops-engineer.md"
_ENV_LINE = "APP_SETTING_{i}=value-{i}\n"

# parser -> (where the file goes in the example, how it is written: "replace" or "append", benign, hostile)
Case = Callable[[int], str]
PARSERS: dict[str, dict] = {
    "workflow": {
        "path": ".github/workflows/hostile.yml", "how": "replace",
        "benign": lambda n: _lines("      - name: step\n        run: echo building && make build\n", n, _WF_HEAD),
        "hostile": {
            "run line of spaces": lambda n: _fill(_WF_HEAD + "      - run: echo a", " ", "b\n", n),
            "run line of tabs before &&": lambda n: _fill(_WF_HEAD + "      - run: echo a", "\t", "x\n", n),
            "run block of blank lines": lambda n: _fill(_WF_HEAD + "      - run: |\n          echo a\n", "          \n", "          echo b\n", n),
            "if: of spaces": lambda n: _fill(_WF_HEAD + "      - if: ${{ success(", " ", ") }}\n        run: echo a\n", n),
            "docker compose call of spaces": lambda n: _fill(_WF_HEAD + "      - run: docker compose -f", " ", "x.yml up\n", n),
            "env of ${ ": lambda n: _fill(_WF_HEAD + "      - run: echo \"", "${ ", "\"\n", n),
        },
    },
    "dockerfile": {
        "path": "Dockerfile", "how": "replace",
        "benign": lambda n: _lines("RUN echo building && apk add --no-cache curl\n", n, "FROM alpine:3.19\n", "USER app\n"),
        "hostile": {
            "# syntax= of spaces": lambda n: _fill("# syntax=", " ", "x\nFROM alpine:3.19\n", n),
            "# syntax= of tabs": lambda n: _fill("# syntax=docker/dockerfile:1", "\t", "x\nFROM alpine:3.19\n", n),
            "RUN of spaces": lambda n: _fill("FROM alpine:3.19\nRUN echo a", " ", "b\nUSER app\n", n),
            "FROM of spaces": lambda n: _fill("FROM", " ", "alpine:3.19\nUSER app\n", n),
            "EXPOSE of spaces": lambda n: _fill("FROM alpine:3.19\nEXPOSE 80", " ", "81\n", n),
            "ENV of $": lambda n: _fill("FROM alpine:3.19\nENV A=", "${", "\n", n),
            "lines of blanks": lambda n: _fill("FROM alpine:3.19\n", " \n", "USER app\n", n),
        },
    },
    "nginx": {
        "path": "anime-saas-reverseproxy/nginx.conf", "how": "replace",
        "benign": lambda n: _lines("        location /api/ { proxy_pass http://api:8080; }\n", n,
                                   "events {}\nhttp {\n    server {\n        listen 80;\n", "    }\n}\n"),
        "hostile": {
            "server_name of spaces": lambda n: _fill("events {}\nhttp {\n  server {\n    listen 80;\n    server_name a", " ", "b;\n  }\n}\n", n),
            "proxy_pass of spaces": lambda n: _fill("events {}\nhttp {\n  server {\n    listen 80;\n    location / { proxy_pass \"http://api", " ", ":8080\"; }\n  }\n}\n", n),
            "comment of spaces": lambda n: _fill("events {}\nhttp {\n  server {\n    listen 80;\n    #", " ", "x\n  }\n}\n", n),
            "listen of spaces": lambda n: _fill("events {}\nhttp {\n  server {\n    listen \"80", " ", "\";\n  }\n}\n", n),
        },
    },
    "compose": {
        "path": "docker-compose.yml", "how": "append",
        "benign": lambda n: _lines("# the services above are the platform's dev stack\n", n),
        "hostile": {
            "comment of spaces": lambda n: _fill("#", " ", "x\n", n),
            "image line of spaces": lambda n: _fill("# image:", " ", "x\n", n),
            "lines of blanks": lambda n: _fill("", " \n", "", n),
            "lines of '- '": lambda n: _fill("#", "- ", "x\n", n),
        },
    },
    "notion export": {
        "path": "notion-export/Release 3f2a9c1e.csv", "how": "replace",
        "benign": lambda n: _lines("Release {i},0.1.0,Livrée,\"March 14, 2026\",\"Idée (https://www.notion.so/Idee-5679030def78b5ba2c2631a9d78ec944?pvs=21)\"\n",
                                   n, "\ufeffName,Version,Status,Target date,Intentions\n"),
        "hostile": {
            "relation of spaces": lambda n: _fill("\ufeffName,Version,Status,Target date,Intentions\nR,0.5.0,En cours,\"May 1, 2026\",\"a", " ", "b (https://x\"\n", n),
            "relation of spaces and commas": lambda n: _fill("\ufeffName,Version,Status,Target date,Intentions\nR,0.5.0,En cours,\"May 1, 2026\",\"a", " ,", "b\"\n", n),
            "relation of '('": lambda n: _fill("\ufeffName,Version,Status,Target date,Intentions\nR,0.5.0,En cours,\"May 1, 2026\",\"a", " (", "b\"\n", n),
        },
    },
    "charter": {
        "path": _CHARTER, "how": "append",
        "benign": lambda n: _lines("- Chaque changement d'infrastructure est proposé avec une raison et un rollback.\n", n,
                                   "\n## Notes\n"),
        "hostile": {
            "stray quote and spaces": lambda n: _fill("\n## Notes\n- `a", " ", "b\n", n),
            "stray paren and spaces": lambda n: _fill("\n## Notes\n- a (", " ", "b\n", n),
            "bullet of spaces": lambda n: _fill("\n## Notes\n-", " ", "x\n", n),
            "numbered of spaces": lambda n: _fill("\n## Notes\n1.", " ", "x\n", n),
            "path-like run": lambda n: _fill("\n## Notes\n- ", "a/", "x\n", n),
        },
    },
    ".env": {
        "path": ".env", "how": "replace",
        "benign": lambda n: "".join(_ENV_LINE.format(i=i) for i in range(n // 30)),
        "hostile": {
            "value of spaces": lambda n: _fill("A=a", " ", "b\n", n),
            "export of spaces": lambda n: _fill("export", " ", "A=b\n", n),
            "value of ${": lambda n: _fill("A=", "${", "\n", n),
            "lines of blanks": lambda n: _fill("", " \n", "A=b\n", n),
        },
    },
    "makefile": {
        "path": "Makefile", "how": "replace",
        "benign": lambda n: _lines("build:\n\tdocker compose -f docker-compose.yml build\n", n),
        "hostile": {
            "target of words": lambda n: _fill("a", " a", "\n", n),
            "compose call of spaces": lambda n: _fill("up:\n\tdocker compose -f", " ", "x.yml up\n", n),
            "variable of spaces": lambda n: _fill("FILES", " ", "= x.yml\n", n),
            "continued lines": lambda n: _fill("up:\n\tdocker compose", " \\\n", " up\n", n),
        },
    },
}


def _large_cases() -> dict[str, Callable[[Path], str | None]]:
    """The large-but-legal inputs of issue 20 (7), each written into an example copy."""

    def charter_paths(root: Path) -> None:
        path = root / _CHARTER  # 2,000 repo files as sources, each its own bullet
        text = path.read_text(encoding="utf-8")
        listed = "".join(f"- page {i} : `docs/page-{i}.md`\n" for i in range(2000))
        path.write_text(text.replace("(a charger)\n", "(a charger)\n" + listed, 1), encoding="utf-8")

    def nginx_servers(root: Path) -> None:
        body = "".join(f"server {{ listen 80; server_name s{i}.io; }}\n" for i in range(25_000))  # under the cap
        (root / "anime-saas-reverseproxy/nginx.conf").write_text(f"events {{}}\nhttp {{\n{body}}}\n", encoding="utf-8")

    def compose_services(root: Path) -> None:
        body = "".join(f"  svc{i}:\n    image: nginx:1.25\n" for i in range(10_000))
        (root / "docker-compose.yml").write_text("services:\n" + body, encoding="utf-8")

    def port_range(root: Path) -> None:
        (root / "docker-compose.yml").write_text(
            "services:\n  web:\n    image: nginx:1.25\n    ports:\n      - \"1-65535:1-65535\"\n", encoding="utf-8")

    def big_env(root: Path) -> str:
        line = "X" * 99 + "\n"
        with open(root / ".env", "w", encoding="utf-8") as fh:
            fh.write("A=1\n")
            for _ in range(50 * MB // len(line)):
                fh.write("#" + line)
        return ".env"

    return {"charter listing 2,000 paths": charter_paths, "nginx of 25,000 servers": nginx_servers,
            "10,000 compose services": compose_services, "65k-port range": port_range, "50 MB .env": big_env}


def _copy(example: Path, work: Path, name: str) -> Path:
    dest = work / name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(example, dest, symlinks=True)
    return dest


def _review(root: Path, timeout: float) -> tuple[float | None, subprocess.CompletedProcess | None]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([*cli(), "review", "--repo", str(root)], capture_output=True, text=True, env=env,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, None
    return time.perf_counter() - t0, proc


def _compose_alone(root: Path, timeout: float) -> float | None:
    """Seconds of Compose's own `config` on the dev file, as the review calls it (the case changes only that
    file; the review runs the prod file beside it, in parallel)."""
    from tools import compose

    argv = compose.compose_binary()
    if argv is None:
        return None
    env = {**getattr(compose, "GO_RUNTIME", {}), **os.environ}  # the Go runtime's settings the review runs it with
    t0 = time.perf_counter()
    try:
        subprocess.run([*argv, "--project-directory", str(root), "-f", str(root / "docker-compose.yml"), "--profile", "*",
                        "config", "--format", "json", "--no-env-resolution"], capture_output=True, timeout=timeout,
                       cwd=root, stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        return None
    return time.perf_counter() - t0


def _write(root: Path, spec: dict, text: str) -> None:
    path = root / spec["path"]
    path.parent.mkdir(parents=True, exist_ok=True)
    if spec["how"] == "append":
        with open(path, "a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    else:
        path.write_text(text, encoding="utf-8")


def _show(seconds: float | None, timeout: float) -> str:
    return f">{timeout:.0f} s (did not finish)" if seconds is None else f"{seconds:.2f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=MB)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--only", action="append", help="a parser name (repeatable)")
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--skip-hostile", action="store_true")
    args = ap.parse_args()
    failed = []
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        work = Path(tmp)
        example = work / "example"
        subprocess.run([*cli(), "example", "init", str(example)], check=True, capture_output=True)
        _review(example, args.timeout)  # warms the caches (Compose, hadolint, schemas) every case shares
        if not args.skip_hostile:
            print(f"hostile {args.size}-byte inputs, per parser (review wall time; ratio to the benign input)")
            for parser, spec in PARSERS.items():
                if args.only and parser not in args.only:
                    continue
                root = _copy(example, work, "case")
                _write(root, spec, spec["benign"](args.size))
                benign, _ = _review(root, args.timeout)
                worst: tuple[float, str, float | None] = (-1.0, "", None)
                for name, make in spec["hostile"].items():
                    root = _copy(example, work, "case")
                    _write(root, spec, make(args.size))
                    took, _ = _review(root, args.timeout)
                    ratio = float("inf") if took is None or benign is None else took / benign
                    print(f"  {parser:14} {name:32} {_show(took, args.timeout):>26}  x{ratio:.1f}", flush=True)
                    if ratio > worst[0]:
                        worst = (ratio, name, took)
                print(f"{parser:14} slowest: {worst[1]}: {_show(worst[2], args.timeout)}, x{worst[0]:.1f} "
                      f"the benign input ({_show(benign, args.timeout)})", flush=True)
                if worst[0] > HOSTILE_TARGET:
                    failed.append(f"{parser}: {worst[1]} x{worst[0]:.1f}")
        if not args.skip_large:
            warm, _ = _review(example, args.timeout)
            firsts = []
            for i in range(2):  # each a fresh copy at a path of its own: Compose runs, as for every large case
                took, _ = _review(_copy(example, work, f"first{i}"), args.timeout)
                firsts.append(took if took is not None else float("inf"))
            base = min(firsts)
            print(f"large inputs (ratio to the example's first review, {_show(base, args.timeout)}; "
                  f"to its second review, Compose cached, {_show(warm, args.timeout)})")
            for name, make in _large_cases().items():
                root = _copy(example, work, "large")
                named = make(root)
                took, proc = _review(root, args.timeout)
                alone = None if named else _compose_alone(root, args.timeout)  # a named file: refused before Compose
                ratio = float("inf") if took is None else took / base
                second = float("inf") if took is None or warm is None else took / warm
                ours = float("inf") if took is None else max(took - (alone or 0.0), 0.0) / base
                line = ""
                if named and proc is not None:
                    said = [ln for ln in (proc.stdout + proc.stderr).splitlines() if named in ln]
                    line = f"  says: {said[0].strip()[:150]}" if said else "  (never names the file)"
                    if not said:
                        failed.append(f"{name}: the file is not named")
                print(f"  {name:32} {_show(took, args.timeout):>26}  x{ratio:.1f} (x{second:.1f} a second review)  "
                      + (f"compose {_show(alone, args.timeout)}, ours x{ours:.1f}" if alone is not None else "") + line, flush=True)
                if ours > LARGE_TARGET:  # Compose's own `config` time is the floor any user of Compose pays
                    failed.append(f"{name}: x{ratio:.1f}, ours x{ours:.1f}")
    for miss in failed:
        print(f"MISSED {miss}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
