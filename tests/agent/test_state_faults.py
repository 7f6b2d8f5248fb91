"""The turn log's state folder on a full disk or a read-only mount (real mounts: root only, else skipped):
`ask` says the gate's one line, exit 2; the MCP server keeps no turn log, says so once, and its read-only
tools answer (they all answered `Read-only file system` before)."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai import FakeOpenAI  # noqa: E402
from loop_fixtures import repo, template  # noqa: E402,F401  (fixtures)


def _mount(*args: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting needs root: a full disk and a read-only mount cannot be made here")
    r = subprocess.run(["mount", *args], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount here: {r.stderr.strip()}")


@pytest.fixture
def small_state(repo):
    """The repo's .devops-agent/ on a small tmpfs."""
    state = repo / ".devops-agent"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir()
    _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(state))
    try:
        yield repo
    finally:
        subprocess.run(["umount", "-l", str(state)], capture_output=True)


def fill(where: Path) -> None:
    fd = os.open(where / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    for size in (65536, 4096, 512, 1):
        try:
            while True:
                os.write(fd, b"\0" * size)
        except OSError:
            pass
    os.close(fd)


@pytest.fixture
def read_only(repo):
    """The whole checkout bind-mounted read-only."""
    _mount("--bind", str(repo), str(repo))
    try:
        _mount("-o", "remount,bind,ro", str(repo))
        yield repo
    finally:
        subprocess.run(["umount", "-l", str(repo)], capture_output=True)


def test_ask_when_the_disk_fills_during_a_conversation_is_the_gates_one_line(small_state):
    from agent.core.errors import UserError
    from agent.loop import Conversation, ModelSettings

    with FakeOpenAI([{"content": "first answer"}, {"content": "never read"}]) as fake:
        conv = Conversation(small_state, ModelSettings(model="scripted", base_url=fake.url, api_key="dummy",
                                                       timeout=20, max_retries=0))
        assert conv.ask("hi").answer == "first answer"
        fill(small_state / ".devops-agent")
        with pytest.raises(UserError) as err:
            conv.ask("and now?")
    line = err.value.line()
    assert line.startswith("disk full writing .devops-agent/") and line.endswith(
        " — free space and retry; nothing was recorded"), line
    assert "internal error" not in line and "model call failed" not in line


def test_the_mcp_server_on_a_read_only_checkout_answers_its_read_only_tools(read_only, tmp_path):
    from mcp import ClientSession, StdioServerParameters, stdio_client

    errlog = tmp_path / "stderr.txt"

    async def go():
        params = StdioServerParameters(command=sys.executable, args=["-m", "agent.cli", "mcp", "--repo",
                                                                     str(read_only)], cwd=str(ROOT),
                                       env={**os.environ, "NO_COLOR": "1"})
        with errlog.open("w") as err:
            async with stdio_client(params, errlog=err) as (r, w):
                async with ClientSession(r, w) as s:
                    await s.initialize()
                    return [await s.call_tool(name, args) for name, args in
                            (("review", {"min_severity": "blocker"}), ("sources", {}))]

    review, sources = asyncio.run(asyncio.wait_for(go(), 240))
    assert not review.is_error, review.content[0].text
    assert review.structured_content["verdict"] == "NO-GO"
    assert not sources.is_error, sources.content[0].text
    said = [line for line in errlog.read_text().splitlines() if "turn log" in line]
    assert said == ["devops-agent: the turn log is not kept (.devops-agent/turns.sqlite is on a read-only file "
                    "system); read-only tools still answer"], errlog.read_text()
