"""The HTTP MCP server while one big call works: how long a second request waits, and how long Ctrl-C takes.

Run: python benchmarks/mcp_busy.py [--mb 3]
On the bundled example, `devops-agent mcp --transport http` gets a `propose_change` whose patch is --mb MB (sent
in one session); 0.3 s later, each of these is timed while that call is in progress: a request without the token
(401), a 5 MB body (413), `tools/list` and a `sources` call from a second session. Then a big call again and
SIGINT: the time until the process exits. The reference is a `sources` call on the idle server, in the same run.
Targets (exit 1 when one is missed): the 401 and the 413 within 1 s, `tools/list` within 2 s, the big call answered
(an error is an answer) within 30 s, and the process gone within 10 s of SIGINT.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(root: Path, port: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "mcp", "--repo", str(root), "--transport", "http",
                             "--port", str(port)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd=str(PROJECT))
    lines = [proc.stderr.readline().decode() for _ in range(2)]
    token = lines[1].rsplit(" ", 1)[1].strip()
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, token


@asynccontextmanager
async def _session(url: str, token: str):
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=900) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1]) as s:
                await s.initialize()
                yield s


def _patch(mb: float) -> str:
    line = "+      SOME_SETTING: a value that repeats to make a big patch\n"
    n = int(mb * 1_000_000 / len(line))
    return "--- a/docker-compose.yml\n+++ b/docker-compose.yml\n@@ -1,1 +1,%d @@\n services:\n%s" % (n + 1, line * n)


async def _timed(coro) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = await coro
    return time.perf_counter() - t0, out


async def _busy(url: str, token: str, mb: float) -> dict:
    import httpx2

    results: dict = {}
    async with _session(url, token) as idle:
        results["idle sources call"] = (await _timed(idle.call_tool("sources", {})))[0]
    big_args = {"patch": _patch(mb), "reason": "r", "risk": "r", "rollback": "r"}

    async def big():
        async with _session(url, token) as s:
            took, out = await _timed(s.call_tool("propose_change", big_args))
            results["the big call itself"] = took
            results["big call answer"] = out.content[0].text[:160]

    async def second():
        await asyncio.sleep(0.3)
        async with httpx2.AsyncClient(timeout=900) as http:
            headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
            took, r = await _timed(http.post(url, content=b"{}", headers=headers))
            results[f"no token -> {r.status_code}"] = took
            body = b'{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"sources","arguments":{"x":"' \
                + b"a" * 5_000_000 + b'"}}}'
            took, r = await _timed(http.post(url, content=body, headers={**headers, "Authorization": f"Bearer {token}"}))
            results[f"5 MB body -> {r.status_code}"] = took
        async with _session(url, token) as s:
            results["tools/list (second session)"] = (await _timed(s.list_tools()))[0]
            results["sources call (second session)"] = (await _timed(s.call_tool("sources", {})))[0]

    await asyncio.gather(big(), second())
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=3.0)
    args = parser.parse_args()
    from agent.example import init_example

    work = Path(tempfile.mkdtemp(prefix="bench-mcp-busy-"))
    os.environ["DEVOPS_AGENT_HOME"] = str(work / "home")
    missed = []
    try:
        root = init_example(work / "ex")
        port = _free_port()
        proc, token = _start(root, port)
        try:
            results = asyncio.run(asyncio.wait_for(_busy(f"http://127.0.0.1:{port}/mcp", token, args.mb), 1200))
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        for what, value in results.items():
            print(f"{what:38} {value:9.3f} s" if isinstance(value, float) else f"{what:38} {value}")
        port = _free_port()
        proc, token = _start(root, port)

        async def start_big():
            async with _session(f"http://127.0.0.1:{port}/mcp", token) as s:
                await s.call_tool("propose_change", {"patch": _patch(min(args.mb, 2.4)), "reason": "r", "risk": "r",
                                                     "rollback": "r"})

        async def interrupt():
            task = asyncio.ensure_future(start_big())
            await asyncio.sleep(0.5)
            t0 = time.perf_counter()
            proc.send_signal(signal.SIGINT)
            while proc.poll() is None and time.perf_counter() - t0 < 60:
                await asyncio.sleep(0.05)
            task.cancel()
            return time.perf_counter() - t0

        stopped = asyncio.run(interrupt())
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        print(f"{'SIGINT during a big call -> exit':38} {stopped:9.3f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for what, limit in (("no token -> 401", 1), ("5 MB body -> 413", 1), ("tools/list (second session)", 2),
                        ("the big call itself", 30)):
        if results.get(what, float("inf")) > limit:
            missed.append(f"{what} over {limit} s")
    if stopped > 10:
        missed.append("SIGINT took over 10 s")
    print("MISSED: " + "; ".join(missed) if missed else "all targets met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
