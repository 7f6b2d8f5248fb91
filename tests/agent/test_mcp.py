"""The MCP server end to end, with the SDK's own clients: `devops-agent mcp` as a subprocess over stdio and
streamable HTTP, the real gate, Product's signature made by the real CLI, and plain git verifying it."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path


sys.path.insert(0, str(Path(__file__).parent))
from gate_helpers import GOOD, RESTART, git, head, make_patch, repo, template  # noqa: E402,F401  (fixtures)

from tools.catalog import CATALOG  # noqa: E402

PROJECT = Path(__file__).resolve().parents[2]


def _command(platform: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "agent.cli", "mcp", "--repo", str(platform), *extra]


@asynccontextmanager
async def stdio(platform: Path, env):
    from mcp import ClientSession, StdioServerParameters, stdio_client

    cmd = _command(platform)
    params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=env.env(), cwd=str(PROJECT))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 240))


def _turns(platform: Path) -> list[dict]:
    from agent.turnlog import TurnLog

    log = TurnLog(platform)
    return [e for t in log.threads() if t["thread"].startswith("mcp-") for e in log.entries(t["thread"])]


def test_the_tools_are_the_catalogue_with_its_schemas_and_the_session_is_served(repo, monkeypatch):
    platform, env = repo

    async def go():
        async with stdio(platform, env) as s:
            tools = (await s.list_tools()).tools
            resources = (await s.list_resources()).resources
            templates = (await s.list_resource_templates()).resource_templates
            prompts = (await s.list_prompts()).prompts
            compose = await s.read_resource("devops://source/docker-compose.yml")
            charter = await s.read_resource("devops://charter")
            brief = await s.read_resource("devops://brief")
            release = await s.get_prompt("release_check", {"env": "prod"})
            every = [await s.read_resource(r.uri) for r in resources]
            return tools, resources, templates, prompts, compose, charter, brief, release, every

    tools, resources, templates, prompts, compose, charter, brief, release, every = run(go())
    assert all(r.contents[0].text for r in every)  # a path with a space (the Notion export) reads too
    assert [t.name for t in tools] == [t.name for t in CATALOG]
    from agent.toolbox import Toolbox
    from tools.catalog import session_schema

    monkeypatch.setenv("DEVOPS_AGENT_HOME", str(env.home))  # the server's state, read in this process
    known = Toolbox(platform).known_values()
    for served, declared in zip(tools, CATALOG):
        assert served.input_schema == session_schema(declared, known)  # this session's values as enums
        assert served.output_schema == declared.result.model_json_schema()
        assert served.annotations.read_only_hint is (declared.kind == "read")
    path = next(t for t in tools if t.name == "read_source").input_schema["properties"]["path"]
    assert "docker-compose.prod.yml" in path["enum"]

    uris = {str(r.uri): r for r in resources}
    assert {"devops://charter", "devops://brief", "devops://findings", "devops://proposals",
            "devops://verify"} <= set(uris)
    sources = {r.meta["path"]: r for r in resources if str(r.uri).startswith("devops://source/")}
    assert "docker-compose.yml" in sources and "anime-saas-mlservice/Dockerfile" in sources
    meta = sources["docker-compose.yml"].meta
    assert meta["kind"] == "compose" and meta["status"] == "ok" and meta["loaded_at"] and "sha256" in meta
    assert "[ok]" in sources["docker-compose.yml"].description
    assert {t.uri_template for t in templates} == {"devops://proposal/{id}", "devops://source/{+path}"}
    assert {p.name for p in prompts} == {"release_check", "incident_diagnosis", "propose_change"}

    text = compose.contents[0].text
    assert '<data source="compose docker-compose.yml' in text and "services:" in text and text.endswith("</data>")
    assert charter.contents[0].text.startswith('<data source="charter ')
    assert json.loads(brief.contents[0].text)["verdict"] == "NO-GO"
    words = release.messages[0].content.text
    assert "Checklists de release" in words and '<data source="charter: Livrables attendus"' in words


def test_review_through_mcp_is_the_sessions_review_and_is_in_the_turn_log(repo):
    platform, env = repo

    async def go():
        async with stdio(platform, env) as s:
            return await s.call_tool("review", {"min_severity": "blocker"})

    result = run(go())
    from agent.toolbox import Toolbox

    box = Toolbox(platform)
    expected = [f.id for f in box.session(run_checks=True).filtered("blocker").findings]
    assert not result.is_error
    assert result.structured_content["verdict"] == "NO-GO"
    assert [f["id"] for f in result.structured_content["findings"]] == expected and expected
    assert json.loads(result.content[0].text) == result.structured_content
    kinds = [(e["kind"], e["name"]) for e in _turns(platform)]
    assert kinds == [("tool_call", "review"), ("tool_result", "review")]


def test_apply_waits_for_product_then_lands_what_product_signed_and_git_verifies_it(repo, tmp_path):
    platform, env = repo
    patch = make_patch(platform, *RESTART, tmp_path / "p.diff").read_text()
    meta = {k.lstrip("-"): v for k, v in zip(GOOD[::2], GOOD[1::2])}
    before = head(platform)

    async def go():
        async with stdio(platform, env) as s:
            proposed = await s.call_tool("propose_change", {"patch": patch, "scope": "compose", **meta})
            pid = proposed.structured_content["id"]
            refused = await s.call_tool("apply_change", {"proposal_id": pid})
            unsigned = json.loads((await s.read_resource(f"devops://proposal/{pid}")).contents[0].text
                                  .split("\n<data")[0])
            approved = await asyncio.to_thread(env.cli, platform, "approve", pid, "--key", str(env.key), "--yes")
            assert approved.returncode == 0, approved.stderr
            signed = json.loads((await s.read_resource(f"devops://proposal/{pid}")).contents[0].text
                                .split("\n<data")[0])
            applied = await s.call_tool("apply_change", {"proposal_id": pid})
            return proposed, refused, unsigned, signed, applied

    proposed, refused, unsigned, signed, applied = run(go())
    pid = proposed.structured_content["id"]
    assert not proposed.is_error and proposed.structured_content["status"] == "pending"
    assert refused.is_error and "waits for Product" in refused.content[0].text
    assert f"devops-agent approve {pid}" in refused.content[0].text
    assert refused.structured_content is None
    assert unsigned["status"] == "pending" and unsigned["signed_commit"] is None
    assert signed["status"] == "approved" and signed["signed_commit"]  # the redactor hides a real commit id
    assert not applied.is_error, applied.content[0].text
    assert applied.structured_content["status"] == "applied"

    landed = head(platform)
    assert landed != before and landed == git(platform, "rev-parse", f"refs/devops-agent/approved/{pid}").strip()
    assert "restart: unless-stopped" in git(platform, "show", "HEAD:docker-compose.prod.yml")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(git(platform, "show", "HEAD:.allowed_signers"))
    plain = subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", landed],
                           cwd=platform, capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    assert 'Good "git" signature for product@animesphere' in plain.stderr
    kinds = [(e["kind"], e["name"]) for e in _turns(platform)]
    assert kinds == [("tool_call", "propose_change"), ("tool_result", "propose_change"),
                     ("tool_call", "apply_change"), ("tool_error", "apply_change"),
                     ("tool_call", "apply_change"), ("tool_result", "apply_change")]


def test_malformed_calls_get_error_results_and_the_server_goes_on(repo):
    platform, env = repo

    async def go():
        async with stdio(platform, env) as s:
            out = [await s.call_tool("approve", {"proposal_id": "p-1"}),
                   await s.call_tool("read_source", {"path": 3}),
                   await s.call_tool("read_source", {}),
                   await s.call_tool("sources", {"extra": True}),
                   await s.call_tool("apply_change", {"proposal_id": "../../etc"})]
            return out, await s.call_tool("sources", {})

    errors, after = run(go())
    assert all(e.is_error and e.content[0].text.startswith("error: ") for e in errors)
    assert "no tool named 'approve'" in errors[0].content[0].text
    assert "bad argument path" in errors[1].content[0].text and "bad argument path" in errors[2].content[0].text
    assert "bad argument extra" in errors[3].content[0].text
    assert not after.is_error and after.structured_content["sources"]


def test_the_session_is_reopened_when_a_source_changes(repo):
    platform, env = repo
    compose = platform / "docker-compose.yml"

    async def go():
        async with stdio(platform, env) as s:
            first = await s.call_tool("read_source", {"path": "docker-compose.yml"})
            compose.write_text(compose.read_text() + "# a line the IDE's shell wrote\n")
            second = await s.call_tool("read_source", {"path": "docker-compose.yml"})
            return first.structured_content, second.structured_content

    first, second = run(go())
    assert first["sha256"] != second["sha256"]
    assert second["total_lines"] == first["total_lines"] + 1
    assert "a line the IDE's shell wrote" in second["text"] and second["text"].startswith("<data source=")


def test_a_touched_but_identical_file_reopens_nothing(tmp_path):
    from agent.mcp_server import Watch

    f = tmp_path / "docker-compose.yml"
    f.write_text("services: {}\n")
    watch = Watch([f, tmp_path / "missing.yml"])
    os.utime(f, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert not watch.changed()
    f.write_text("services: {a: {}}\n")
    assert watch.changed()
    assert Watch([tmp_path / "missing.yml"]).changed() is False
    (tmp_path / "missing.yml").write_text("x")
    assert watch.changed()


def test_stdout_is_protocol_only_and_the_server_exits_cleanly_when_stdin_closes(repo):
    platform, env = repo
    proc = subprocess.Popen(_command(platform), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env.env(), cwd=str(PROJECT))
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "review", "arguments": {}}}
    for message in (init, {"jsonrpc": "2.0", "method": "notifications/initialized"}, call):
        proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.flush()
    replies = [json.loads(proc.stdout.readline()) for _ in range(2)]
    proc.stdin.close()
    started = time.monotonic()
    code = proc.wait(timeout=30)
    took = time.monotonic() - started
    rest = proc.stdout.read()
    proc.stderr.close()
    proc.stdout.close()
    assert code == 0 and took < 5
    assert replies[0]["id"] == 1 and replies[0]["result"]["serverInfo"]["name"] == "devops-agent"
    assert replies[1]["id"] == 2 and replies[1]["result"]["structuredContent"]["verdict"] == "NO-GO"
    assert rest == b""  # nothing but the two replies ever reached stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _token(proc: subprocess.Popen) -> str:
    """The server prints its URL, then its token, on stderr before it listens."""
    lines = [proc.stderr.readline().decode() for _ in range(2)]
    assert lines[1].startswith("devops-agent mcp: bearer token "), lines
    return lines[1].rsplit(" ", 1)[1].strip()


def _wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


def test_http_binds_localhost_and_refuses_a_request_without_the_token(repo):
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    platform, env = repo
    port = _free_port()
    proc = subprocess.Popen(_command(platform, "--transport", "http", "--port", str(port)), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env.env(), cwd=str(PROJECT))
    try:
        token = _token(proc)
        _wait_listening(port)
        url = f"http://127.0.0.1:{port}/mcp"
        body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        headers = {"Accept": "application/json, text/event-stream"}
        assert httpx2.post(url, json=body, headers=headers).status_code == 401
        assert httpx2.post(url, json=body, headers={**headers, "Authorization": "Bearer nope"}).status_code == 401
        assert httpx2.post(url, json=body, headers={**headers, "Authorization": token}).status_code == 401

        async def go():
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
                async with streamable_http_client(url, http_client=http) as streams:
                    async with ClientSession(streams[0], streams[1]) as s:
                        await s.initialize()
                        return await s.call_tool("review", {})

        result = run(go())
        assert not result.is_error and result.structured_content["verdict"] == "NO-GO"
        listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
        assert [line.split()[3] for line in listening.splitlines()] == [f"127.0.0.1:{port}"]
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        rest = proc.stderr.read().decode()
        proc.stdout.close()
        proc.stderr.close()
    assert code == 0 and "Traceback" not in rest, rest


def test_bad_options_and_a_port_in_use_are_one_line_and_exit_2(repo):
    platform, env = repo
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = str(taken.getsockname()[1])
    for args in (["--port", "70000"], ["--transport", "ftp"], ["--transport", "http", "--port", busy]):
        r = subprocess.run(_command(platform, *args), capture_output=True, text=True, env=env.env(),
                           cwd=str(PROJECT), stdin=subprocess.DEVNULL, timeout=60)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stdout == "", r.stderr
    assert "Address already in use" in r.stderr and "bearer token" not in r.stderr
    taken.close()


def test_a_busy_http_server_still_refuses_at_once_and_stops_on_ctrl_c(repo):
    """Issue 20: one big call froze the server (no 401, no 413, SIGINT ignored). The 401 and the 413 are answered
    before any body is read (by Content-Length, or as chunks come); a call over the cap is one error line, and
    nothing of it is logged; Ctrl-C stops the server (a call under the cap may still be working then)."""
    import httpx2

    from agent.mcp_server import MAX_BODY_BYTES
    from agent.toolbox import MAX_CALL_BYTES

    platform, env = repo
    port = _free_port()
    proc = subprocess.Popen(_command(platform, "--transport", "http", "--port", str(port)), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env.env(), cwd=str(PROJECT))
    url = f"http://127.0.0.1:{port}/mcp"
    line = "+  SOME_SETTING: a value repeated to make a big patch\n"
    big = "--- a/docker-compose.yml\n+++ b/docker-compose.yml\n" + line * (MAX_CALL_BYTES // len(line) + 10)
    under = big[: MAX_CALL_BYTES - 4096]
    try:
        token = _token(proc)
        _wait_listening(port)
        auth = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
                "Content-Type": "application/json"}

        async def go():
            from mcp import ClientSession
            from mcp.client.streamable_http import streamable_http_client

            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
                async with streamable_http_client(url, http_client=http) as streams:
                    async with ClientSession(streams[0], streams[1]) as s:
                        await s.initialize()
                        over = await s.call_tool("propose_change", {"patch": big, "reason": "r", "risk": "r",
                                                                    "rollback": "r"})
                        working = asyncio.ensure_future(s.call_tool(
                            "propose_change", {"patch": under, "reason": "r", "risk": "r", "rollback": "r"}))
                        await asyncio.sleep(0.2)
                        async with httpx2.AsyncClient(timeout=60) as other:
                            no_token = await other.post(url, content=b"{}", headers={"Accept": auth["Accept"]})
                            too_big = await other.post(url, content=b"x" * (MAX_BODY_BYTES + 1), headers=auth)

                            async def chunks():
                                for _ in range(MAX_BODY_BYTES // 65536 + 2):
                                    yield b"y" * 65536
                            chunked = await other.post(url, content=chunks(), headers=auth)
                        working.cancel()
                        return over, no_token, too_big, chunked

        over, no_token, too_big, chunked = run(go())
        assert over.is_error and f"over the {MAX_CALL_BYTES:,}-byte cap of one call" in over.content[0].text
        assert no_token.status_code == 401
        assert too_big.status_code == 413 and "over the" in too_big.text
        assert chunked.status_code == 413 and "at least" in chunked.text
        logged = [e for e in _turns(platform) if e["name"] == "propose_change"]
        assert logged and all("SOME_SETTING" not in e["content"] for e in logged[:2])  # the refused one: its size only
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)  # a hang guard, not a timing: it stopped at all while a call worked
        rest = proc.stderr.read().decode()
        proc.stdout.close()
        proc.stderr.close()
    assert code == 0 and "Traceback" not in rest, rest


def test_a_call_over_the_cap_is_one_error_line_through_stdio_too(repo):
    from agent.toolbox import MAX_CALL_BYTES

    platform, env = repo

    async def go():
        async with stdio(platform, env) as s:
            return await s.call_tool("read_source", {"path": "x" * (MAX_CALL_BYTES + 1)})

    result = run(go())
    text = result.content[0].text
    assert result.is_error and text.startswith("error: the arguments of read_source are") and "\n" not in text
