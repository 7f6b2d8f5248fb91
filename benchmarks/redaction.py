"""Redaction throughput on a 5 MB mixed text, as a ratio to references timed in the same run.

Run: python benchmarks/redaction.py [--mb 5] [--runs 3]
The text mixes what reaches the redactor: the bundled example's files as written and as a tool result serialises
them (JSON, quotes escaped), a unified diff, prose, secrets of every shape planted in them, and runs that once
made a pattern backtrack (a long word, spaces, `KEY=root` lines, `\\"` runs, `-p'` runs). The redactor is the
example session's own (`MYSQL_ROOT_PASSWORD: root` gives it a short known value).
References: one `str.replace` pass of each known value over the text, and one scan with a simple regex
(`[A-Za-z0-9_]{20,}`, what a high-entropy pass must read at least).
Targets (exit 1 when one is missed): at most 40x the regex scan (the machine is shared: a ratio, not MB/s),
and doubling the input at most ~2x the time (x3). Before issue 20's fix: 201x the scan (0.07 MB/s, loaded box).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
MAX_SCAN_RATIO = 40.0
GROWTH = 3.0

HOSTILE = ["a" * 5000, " " * 5000 + "x", "=" * 4000, "-p'" * 1500, "://a:" * 1000, "$${" * 1500,
           "mot de passe " * 400 + ":", "KEY=root\n" * 600, '\\"' * 3000, "curl -u a:" * 400, "sshpass -p " * 400,
           "a:" * 3000, "Authorization: Bearer " * 200, "${" * 2000, "ghp_" * 1500, "root " * 1500,
           "x_password=" * 400, "0123456789abcdef" * 400]
PLANTED = ["sshpass -p'Zq9xLm2pQ' ssh deploy@10.0.0.5", "curl -u admin:Zq9xLm2pR https://registry.acme.io/v2/",
           "mot de passe prod : Zq9xLm2pS", '    MYSQL_PASSWORD: \\"ap12\\"', "DB_PASSWORD: $$ecretP4ss",
           "DB_PASSWORD: pa${ss0rd", "MAX_TOKENS=4096", "TOKEN_TTL_SECONDS=3600",
           "DATABASE_URL=mysql://app:Zq9xLm2pW@db:3306/anime", "token ghp_" + "a1B2c3D4e5" * 4]


def mixed_text(root: Path, size: int, seed: int = 20) -> str:
    texts = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and ".git" not in path.parts and path.stat().st_size < 200_000:
            try:
                texts.append(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, OSError):
                continue
    corpus = "\n".join(texts)
    diff = "".join(f"+{line}\n" for line in corpus.splitlines()[:400])
    rng = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        start = rng.randrange(0, max(1, len(corpus) - 8000))
        piece = rng.choice([corpus[start:start + 8000], json.dumps({"text": corpus[start:start + 8000]}),
                            "--- a/docker-compose.yml\n+++ b/docker-compose.yml\n" + diff[:6000],
                            rng.choice(HOSTILE), "\n".join(rng.sample(PLANTED, 4))])
        parts.append(piece)
        total += len(piece) + 1
    return "\n".join(parts)[:size]


def _timed(fn, runs: int) -> float:
    """CPU seconds, best of `runs`: every pass here is single-threaded, and the box is shared."""
    best = float("inf")
    for _ in range(runs):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from agent import redact
    from agent.example import init_example
    from agent.session import open_session

    work = Path(tempfile.mkdtemp(prefix="bench-redact-"))
    os.environ["DEVOPS_AGENT_HOME"] = str(work / "home")
    try:
        root = init_example(work / "ex")
        red = redact.for_session(open_session(root, run_checks=False))
        size = int(args.mb * 1_000_000)
        text = mixed_text(root, size)
        half = text[: size // 2]
        red("warm up")
        known = sorted(red.values | red.short_values)

        def replace_pass() -> None:
            out = text
            for value in known:
                out = out.replace(value, "[redacted]")

        simple = re.compile(r"[A-Za-z0-9_]{20,}")
        t_replace = _timed(replace_pass, args.runs)
        t_regex = _timed(lambda: sum(1 for _ in simple.finditer(text)), args.runs)
        t_half = _timed(lambda: red(half), args.runs)
        t_full = _timed(lambda: red(text), args.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mb = len(text) / 1_000_000
    rate = mb / t_full
    growth = t_full / t_half
    print(f"text: {mb:.2f} MB mixed; known values: {len(known)}")
    print(f"str.replace of each known value  {t_replace * 1000:9.1f} ms  ({mb / t_replace:8.1f} MB/s)")
    print(f"one regex scan [A-Za-z0-9_]{{20,}}  {t_regex * 1000:9.1f} ms  ({mb / t_regex:8.1f} MB/s)")
    print(f"redactor, half the text          {t_half * 1000:9.1f} ms")
    print(f"redactor, the whole text         {t_full * 1000:9.1f} ms  ({rate:8.2f} MB/s; "
          f"{t_full / t_replace:.0f}x str.replace, {t_full / t_regex:.0f}x the regex scan)")
    missed = []
    if t_full / t_regex > MAX_SCAN_RATIO:
        missed.append(f"{t_full / t_regex:.0f}x the regex scan > {MAX_SCAN_RATIO:.0f}x")
    if growth > GROWTH:
        missed.append(f"2x the input cost {growth:.1f}x the time (> {GROWTH})")
    print(f"growth: 2x the input, {growth:.2f}x the time" + (f"  MISSED: {'; '.join(missed)}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
