"""HTTP-level record and replay of a model endpoint: a scenario's `cassette.jsonl`.

Recording puts a proxy on 127.0.0.1 between the loop's OpenAI client and the real endpoint and keeps,
for each chat-completions request in order (the model's turns; what the runtime asks of the server before the
first turn, its models and context, passes through unrecorded and is not answered on replay), what was asked (the request body) and what came back (status, content type,
body, secrets redacted). Replaying serves those answers in the same order from a local server, so the
real client, its parsing, streaming and retries all run as they did live, with no network and no model.

A request the cassette has no answer for gets an HTTP 500 saying so: the scenario fails with that line
(the runtime now asks more than the model answered when it was recorded) rather than hanging.
Headers, and so the API key, are never written.
"""
from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from agent.core.errors import UserError

EXHAUSTED = "the cassette has no answer for this request"
DRIFT = "the request differs from the recorded one"


@dataclass
class Entry:
    request: dict
    status: int
    content_type: str
    body: str

    def to_json(self) -> str:
        return json.dumps({"request": self.request, "status": self.status, "content_type": self.content_type,
                           "body": self.body}, ensure_ascii=False)


def load(path: Path) -> list[Entry]:
    """The entries of a cassette file; UserError naming the line that is wrong."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read cassette {path}: {exc.strerror}", "record it with --mode record") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(Entry(d["request"], int(d["status"]), str(d["content_type"]), str(d["body"])))
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{path}:{n}: not a cassette entry", "each line is {request, status, "
                                                                "content_type, body}; re-record it") from None
    return out


def redacted(entries: list[Entry], redact: Callable[[str], str]) -> list[Entry]:
    """The entries with every secret the session knows masked, in the request and in the answer."""
    out = []
    for e in entries:
        try:
            request = json.loads(redact(json.dumps(e.request, ensure_ascii=False)))
        except ValueError:  # a mask that broke the JSON: keep only what cannot leak
            request = {"redacted": True}
        out.append(Entry(request, e.status, e.content_type, redact(e.body)))
    return out


def slim(entries: list[Entry]) -> list[Entry]:
    """The entries with each request's system prompt (the runtime rebuilds it; ~10 KB a turn) and tool schemas kept
    as their digest and length: replay matches requests by their roles, and the rest of a request stays readable."""
    import hashlib

    def digest(text: str) -> str:
        return f"[sha256 {hashlib.sha256(text.encode('utf-8', 'replace')).hexdigest()[:16]}, {len(text)} characters]"
    out = []
    for e in entries:
        request = dict(e.request)
        messages = request.get("messages")
        if isinstance(messages, list):
            request["messages"] = [{**m, "content": digest(m["content"])} if isinstance(m, dict) and
                                   m.get("role") == "system" and isinstance(m.get("content"), str) else m
                                   for m in messages]
        if isinstance(request.get("tools"), list):
            request["tools"] = digest(json.dumps(request["tools"], ensure_ascii=False, sort_keys=True))
        out.append(Entry(request, e.status, e.content_type, e.body))
    return out


def save(entries: list[Entry], path: Path) -> None:
    """Written whole then renamed: a cassette is never half-written. Slimmed (`slim`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(e.to_json() + "\n" for e in slim(entries)), encoding="utf-8")
    tmp.replace(path)


@dataclass
class Endpoint:
    """A local server on 127.0.0.1 whose handler answers one request; `url` is the base URL (with /v1)."""

    answer: Callable[[str, dict, bytes, dict], tuple[int, str, bytes]]
    entries: list[Entry] = field(default_factory=list)  # recorded exchanges (a recorder's)
    received: list[str] = field(default_factory=list)  # every request body, as it crossed the wire

    def __enter__(self) -> "Endpoint":
        owner = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # the runner's output is the report
                pass

            def _reply(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {}
                with lock:
                    owner.received.append(raw.decode("utf-8", "replace"))
                    status, ctype, data = owner.answer(method, body, raw, dict(self.headers) | {"path": self.path})
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                self._reply("POST")

            def do_GET(self) -> None:  # noqa: N802
                self._reply("GET")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # shutdown() waits for the loop to look again: a short poll keeps each scenario from idling half a second
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _roles(request: dict) -> list[str]:
    return [str(m.get("role")) for m in request.get("messages") or [] if isinstance(m, dict)]


def _is_turn(path: str) -> bool:
    return path.split("?", 1)[0].rstrip("/").endswith("/chat/completions")


def player(entries: list[Entry]) -> Endpoint:
    """Serves the recorded answers in order. A request whose conversation has another shape than the
    recorded one (other roles in another order: the runtime now answers differently) gets a 500 saying
    so, rather than an answer to another question; the texts may differ (a prompt that changed)."""
    queue = list(entries)

    def error(message: str) -> tuple[int, str, bytes]:
        return 500, "application/json", json.dumps({"error": {"message": message, "type": "cassette"}}).encode()

    def answer(method, body, raw, headers):
        if not _is_turn(headers["path"]):  # the runtime asking what the server serves: no recorded turn answers it
            return 404, "application/json", b'{"error": {"message": "not recorded", "type": "cassette"}}'
        if not queue:
            return error(EXHAUSTED)
        e = queue[0]
        want = _roles(e.request)
        if want and _roles(body) != want:
            return error(f"{DRIFT}: the runtime sent the roles {_roles(body)}, the recording {want}")
        queue.pop(0)
        return e.status, e.content_type, e.body.encode("utf-8")
    return Endpoint(answer)


def recorder(upstream: str, api_key: str, timeout: float) -> Endpoint:
    """Forwards each request to `upstream` (a base URL ending in /v1, as the client's) and keeps the
    exchange in `entries` (redact them with `redacted` before saving); the API key is added here and
    never stored."""
    base = upstream.rstrip("/")
    server: Endpoint

    def answer(method, body, raw, headers):
        path = headers["path"]
        suffix = path[len("/v1"):] if path.startswith("/v1") else path
        req = urllib.request.Request(base + suffix, data=raw if method == "POST" else None, method=method,
                                     headers={"Content-Type": headers.get("Content-Type", "application/json"),
                                              "Authorization": f"Bearer {api_key}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, ctype, data = resp.status, resp.headers.get("Content-Type", "application/json"), resp.read()
        except urllib.error.HTTPError as exc:
            status, ctype, data = exc.code, exc.headers.get("Content-Type", "application/json"), exc.read()
        except (OSError, TimeoutError) as exc:
            status, ctype = 502, "application/json"
            data = json.dumps({"error": {"message": f"upstream {base}: {exc}", "type": "proxy"}}).encode()
        if _is_turn(path):  # a model turn; what the runtime asks of the server (its models, context) is not one
            server.entries.append(Entry(body, status, ctype, data.decode("utf-8", "replace")))
        return status, ctype, data

    server = Endpoint(answer)
    return server


def scripted(reply: Callable[[list[dict]], str | list[dict]], model: str = "scripted") -> Endpoint:
    """An OpenAI-compatible chat-completions server whose answers are a script: `reply(messages)` gives the text,
    or the tool calls [{name, args}], of the next turn from the conversation as it crossed the wire. Replay drives
    the real client with it, so what the model was sent is what this server received (`received`), and the
    runtime's own objects are never asked. Answers streamed (SSE) when the request asks for it."""
    import time
    import uuid

    def answer(method, body, raw, headers):
        if not _is_turn(headers["path"]):
            return 404, "application/json", b'{"error": {"message": "not served", "type": "scripted"}}'
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        got = reply(messages)
        text, calls = (got, []) if isinstance(got, str) else ("", got)
        tool_calls = [{"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                       "function": {"name": c["name"], "arguments": json.dumps(c.get("args") or {}, ensure_ascii=False)}}
                      for c in calls]
        usage = {"prompt_tokens": len(raw) // 4 + 1, "completion_tokens": len(text) // 4 + 1 + 8 * len(calls)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        finish = "tool_calls" if calls else "stop"
        rid, now = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())
        if not body.get("stream"):
            message = {"role": "assistant", "content": text or None, **({"tool_calls": tool_calls} if calls else {})}
            return 200, "application/json", json.dumps({
                "id": rid, "object": "chat.completion", "created": now, "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage},
                ensure_ascii=False).encode("utf-8")

        def chunk(delta: dict, reason: str | None = None, with_usage: bool = False) -> str:
            data = {"id": rid, "object": "chat.completion.chunk", "created": now, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": reason}] if not with_usage else []}
            if with_usage:
                data["usage"] = usage
            return "data: " + json.dumps(data, ensure_ascii=False) + "\n\n"
        parts = [chunk({"role": "assistant", "content": ""})]
        parts += [chunk({"content": word}) for word in re.findall(r"\S+\s*|\s+", text)]
        parts += [chunk({"tool_calls": [{"index": i, **c}]}) for i, c in enumerate(tool_calls)]
        parts.append(chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            parts.append(chunk({}, with_usage=True))
        parts.append("data: [DONE]\n\n")
        return 200, "text/event-stream", "".join(parts).encode("utf-8")
    return Endpoint(answer)
