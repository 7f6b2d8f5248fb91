"""The MCP server's start-up and per-call cost, with the SDK's own stdio client, on the bundled example.

Run: python benchmarks/bench_mcp.py [--runs 7]
- start-up: from spawning `devops-agent mcp` to `initialize` returning, against `python -c "import mcp"`
  (the SDK's own import, the floor of any server built on it), both medians of --runs in this process;
- per call: `review` through MCP (a warm server: stdio, the protocol, the source watch, redaction, the turn
  log) against the same catalogue call in process (Toolbox + `tool("review").call`, the session open), and
  against `toolbox.run_tool`, the call as the chat makes it (the same call plus the redactor).
Target (exit 1 when missed): start-up <= 1.5x the import of mcp.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "benchmarks"))
TARGET_RATIO = 1.5

from timing import median_ms  # noqa: E402


def _import_mcp_ms(runs: int) -> float:
    return median_ms(lambda: subprocess.run([sys.executable, "-c", "import mcp"], check=True), runs)


async def _startup_ms(root: Path) -> float:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "agent.cli", "mcp", "--repo", str(root)],
                                   env=dict(os.environ), cwd=str(PROJECT))
    t0 = time.perf_counter()
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            took = (time.perf_counter() - t0) * 1000
            await session.call_tool("sources", {})  # the session loaded: the next run starts from a quiet box
    return took


async def _review_ms(root: Path, runs: int) -> float:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "agent.cli", "mcp", "--repo", str(root)],
                                   env=dict(os.environ), cwd=str(PROJECT))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            await session.call_tool("review", {})
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                result = await session.call_tool("review", {})
                times.append((time.perf_counter() - t0) * 1000)
                assert not result.is_error, result.content[0].text
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    from agent.example import init_example
    from agent import redact
    from agent.toolbox import Toolbox, run_tool
    from tools.catalog import tool

    work = Path(tempfile.mkdtemp(prefix="bench-mcp-"))
    os.environ["DEVOPS_AGENT_HOME"] = str(work / "home")
    root = init_example(work / "ex")
    try:
        _import_mcp_ms(1)  # warm the page cache for both sides
        asyncio.run(_startup_ms(root))
        import_mcp = _import_mcp_ms(args.runs)
        startup = statistics.median(asyncio.run(_startup_ms(root)) for _ in range(args.runs))
        box = Toolbox(root)
        box.session(run_checks=True)
        review = tool("review")
        in_process = median_ms(lambda: review.call(box, {}), args.runs * 3)
        redactor = redact.for_session(box.session(run_checks=True))
        as_the_chat = median_ms(lambda: run_tool(box, redactor, "review", {}), args.runs * 3)
        through_mcp = asyncio.run(_review_ms(root, args.runs * 3))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = startup / import_mcp
    print(f"python -c 'import mcp'               {import_mcp:7.1f} ms")
    print(f"devops-agent mcp: start to initialized {startup:7.1f} ms  ({ratio:.2f}x)")
    print(f"review in process (Toolbox)           {in_process:7.1f} ms")
    print(f"review as the chat runs it (redacted) {as_the_chat:7.1f} ms  (the redactor: {as_the_chat - in_process:.1f} ms)")
    print(f"review through MCP (stdio)            {through_mcp:7.1f} ms  (overhead {through_mcp - in_process:.1f} ms; "
          f"{through_mcp - as_the_chat:.1f} ms beyond the chat's own call)")
    missed = ratio > TARGET_RATIO
    print(f"start-up: {ratio:.2f}x the import of mcp (target <= {TARGET_RATIO}x){'  MISSED' if missed else ''}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
