"""Issue 20: each realistic secret form, planted in each source kind, never reaches a byte the model is sent, the
turn log keeps, the chat state checkpoints, a cassette records or the MCP server serves; and the useful values
that look like secrets (a token count, a TTL, a header name, a checksum, a public analytics key) stay readable.

Kinds: the compose file, the Notion export (a cell of its database), the deploy notes, the user's chat input.
Forms: `sshpass -p'V'`, `curl -u admin:V`, prose (`mot de passe prod : V`), a short quoted literal (its quotes
become `\\"` in a tool result's JSON), a value starting with `$` (Compose's `$$` escape), a value with a stray `${`
(Compose's own error message quotes it).
"""
from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai import FakeOpenAI  # noqa: E402
from loop_fixtures import template  # noqa: E402,F401  (fixture)

KINDS = {"compose": 7, "notion": 8, "notes": 9, "chat": 6}
COMPOSE, NOTION, NOTES = "docker-compose.yml", "notion-export/Release 3f2a9c1e.csv", "docs/deploiement.md"
SHA = hashlib.sha256(b"front.tar.gz").hexdigest()
POSTHOG = "phc_" + "Rk3vQ9xLm2Tz8WbN4cYp6HdJ1sFg7Ae5"
KEPT = ["MAX_TOKENS: 4096", "TOKEN_TTL_SECONDS: 3600", "X-Api-Key", SHA, POSTHOG]


def _forms(k: int) -> dict[str, tuple[str, str]]:
    """form -> (the line as written in a note or a message, the part that must never be sent)."""
    return {
        "sshpass": (f"sshpass -p'Sp{k}Cq2Lm' ssh deploy@10.0.0.5 uptime", f"Sp{k}Cq2Lm"),
        "curl -u": (f"curl -u admin:Cu{k}Lq2Pm https://registry.acme.io/v2/_catalog", f"Cu{k}Lq2Pm"),
        "prose": (f"mot de passe prod : Zp{k}Cm4Xv", f"Zp{k}Cm4Xv"),
        "short quoted": (f'DB_PASSWORD: "Wq{k}k"', f"Wq{k}k"),
        "starts with $": (f"REDIS_PASSWORD: $$Wz{k}Lm2p", f"Wz{k}Lm2p"),
        "stray ${": (f"API_SECRET: pa${{ssWy{k}Q", f"ssWy{k}Q"),
    }


def _useful() -> list[str]:
    return ["MAX_TOKENS: 4096", "TOKEN_TTL_SECONDS: 3600", "API_KEY_HEADER: X-Api-Key", f"ASSET_CHECKSUM: {SHA}",
            f"NEXT_PUBLIC_POSTHOG_KEY: {POSTHOG}"]


SECRETS = {(kind, form): core for kind, k in KINDS.items() for form, (_, core) in _forms(k).items()}


def _plant(root: Path) -> None:
    k = KINDS["compose"]
    service = f"""  leaky:
    image: busybox:1.36
    # mot de passe prod : Zp{k}Cm4Xv
    environment:
      LEAK_DB_PASS: "Wq{k}k"
      LEAK_PASSWORD: "$$Wz{k}Lm2p"
      LEAK_SECRET: "pa${{ssWy{k}Q"
      MAX_TOKENS: 4096
      TOKEN_TTL_SECONDS: 3600
      API_KEY_HEADER: X-Api-Key
      ASSET_CHECKSUM: {SHA}
      NEXT_PUBLIC_POSTHOG_KEY: {POSTHOG}
    healthcheck:
      test: ["CMD-SHELL", "sshpass -p'Sp{k}Cq2Lm' ssh deploy@10.0.0.5 true && curl -u admin:Cu{k}Lq2Pm https://registry.acme.io/v2/"]
"""
    compose = root / COMPOSE
    compose.write_text(compose.read_text(encoding="utf-8").replace("services:\n", "services:\n" + service, 1),
                       encoding="utf-8")
    notion = root / NOTION
    cell = "\n".join(line for line, _ in _forms(KINDS["notion"]).values()) + "\n" + "\n".join(_useful())
    out = io.StringIO()
    csv.writer(out).writerow(["Notes prod", "0.9.0", "Idée", "June 1, 2026", cell])
    notion.write_text(notion.read_text(encoding="utf-8").rstrip("\n") + "\n" + out.getvalue(), encoding="utf-8")
    notes = root / NOTES
    block = "\n".join(line for line, _ in _forms(KINDS["notes"]).values()) + "\n" + "\n".join(_useful())
    notes.write_text(notes.read_text(encoding="utf-8") + f"\n## Accès prod\n\n```\n{block}\n```\n", encoding="utf-8")


CHAT = ("Voici les accès, vérifie la prod :\n" + "\n".join(line for line, _ in _forms(KINDS["chat"]).values()))


def _leaks(blob: str) -> list[tuple[str, str]]:
    return sorted(key for key, core in SECRETS.items() if core in blob)


def _no_leak(where: str, blob: str) -> None:
    leaked = _leaks(blob)
    assert not leaked, f"{where}: {leaked}"


@pytest.fixture
def planted(template, tmp_path):
    import shutil

    dest = tmp_path / "animesphere"
    shutil.copytree(template, dest, symlinks=True)
    shutil.rmtree(dest / ".devops-agent", ignore_errors=True)
    _plant(dest)
    return dest


READS = [{"name": "read_source", "args": {"path": p}} for p in (COMPOSE, NOTION, NOTES)]


def _state_bytes(root: Path, name: str) -> str:
    """Every byte of a SQLite state file and its WAL, and every row read back through SQL."""
    import sqlite3

    raw = b"".join(p.read_bytes() for p in (root / ".devops-agent").glob(name + "*") if p.is_file())
    db = sqlite3.connect(root / ".devops-agent" / name)
    rows = []
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
        rows += [repr(r) for r in db.execute(f"SELECT * FROM {table}")]  # noqa: S608 - names from the schema
    db.close()
    return raw.decode("utf-8", "replace") + "\n".join(rows)


def test_no_form_reaches_the_model_the_turn_log_or_the_chat_state(planted):
    from agent.loop import Conversation, ModelSettings

    with FakeOpenAI([{"tool_calls": READS}, {"tool_calls": [{"name": "review", "args": {}},
                                                            {"name": "compose_view", "args": {}}]},
                     {"content": "lu"}]) as fake:
        Conversation(planted, ModelSettings(model="scripted", base_url=fake.url, api_key="dummy", timeout=60,
                                            max_retries=0)).ask(CHAT)
    sent = json.dumps(fake.requests)
    assert all(p in sent for p in (COMPOSE, NOTION, NOTES)) and "Voici les acc" in sent  # they were read and sent
    _no_leak("the requests to the model", sent)
    _no_leak("turns.sqlite", _state_bytes(planted, "turns.sqlite"))
    _no_leak("chat.sqlite", _state_bytes(planted, "chat.sqlite"))
    results = [m["content"] for m in fake.requests[-1]["messages"] if m["role"] == "tool"]
    for kept in KEPT:  # what looks like a secret and is none stays readable, in every planted source
        assert all(kept in r for r in results[:3]), (kept, [r[:200] for r in results[:3]])


def test_no_form_is_served_by_the_mcp_server(planted, monkeypatch):
    from urllib.parse import quote

    from mcp import Client

    from agent.mcp_server import Backend, build_server

    monkeypatch.setenv("DEVOPS_AGENT_HOME", str(planted.parent / "home"))
    backend = Backend(planted)
    server = build_server(backend)
    backend.start()

    async def go() -> list[str]:
        out = []
        async with Client(server) as c:
            for call in READS + [{"name": "review", "args": {}}, {"name": "sources", "args": {}}]:
                r = await c.call_tool(call["name"], call["args"])
                out.append(r.content[0].text)
            listing = await c.list_resources()
            out.append(json.dumps([r.model_dump(mode="json") for r in listing.resources]))
            for uri in [f"devops://source/{quote(p)}" for p in (COMPOSE, NOTION, NOTES)] + [
                    "devops://brief", "devops://findings"]:
                res = await c.read_resource(uri)
                out.append("\n".join(getattr(x, "text", "") for x in res.contents))
        return out

    served = asyncio.run(asyncio.wait_for(go(), 240))
    assert all(p in served[0] + served[1] + served[2] for p in (COMPOSE, NOTION, NOTES))
    _no_leak("MCP results and resources", "\n".join(served))
    _no_leak("turns.sqlite (MCP thread)", _state_bytes(planted, "turns.sqlite"))
    for kept in KEPT:
        assert all(kept in s or json.dumps(kept)[1:-1] in s for s in served[:3]), kept


def test_no_form_is_recorded_in_a_cassette(planted, tmp_path):
    import os
    import subprocess

    import yaml

    root = Path(__file__).resolve().parents[2]
    overlay = {p: (planted / p).read_text(encoding="utf-8") for p in (COMPOSE, NOTION, NOTES)}
    scenario = tmp_path / "src" / "s" / "scenario.yaml"
    scenario.parent.mkdir(parents=True)
    scenario.write_text(yaml.safe_dump({
        "name": "secret forms stay out of the cassette", "clauses": ["responsibilities.1"],
        "fixture": {"overlay": overlay, "commit": False}, "conversation": [CHAT],
        "expect": {"state": {"head_unchanged": True}}}, allow_unicode=True), encoding="utf-8")
    with FakeOpenAI([{"tool_calls": READS}, {"content": "lu"}]) as fake:
        r = subprocess.run([sys.executable, "-m", "agent.cli", "eval", "run", str(scenario.parent), "--mode", "record",
                            "--base-url", fake.url, "--out", str(tmp_path / "out")], capture_output=True, text=True,
                           cwd=root, timeout=600, env={**os.environ, "NO_COLOR": "1", "OPENAI_API_KEY": "",
                                                       "DEVOPS_AGENT_HOME": str(tmp_path / "home")})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    recorded = tmp_path / "out" / "recorded" / "s"
    cassette = (recorded / "cassette.jsonl").read_text(encoding="utf-8")
    assert NOTES in cassette and "Voici les acc" in cassette  # the reads and the message were recorded
    _no_leak("the cassette", cassette)
    # The recorded scenario keeps the user's own fixture and conversation as written; the model's turns are redacted.
    written = yaml.safe_load((recorded / "scenario.yaml").read_text(encoding="utf-8"))
    assert written.get("model")
    _no_leak("the recorded model turns", json.dumps({k: v for k, v in written.items()
                                                     if k not in ("fixture", "conversation")}))
