"""A local OpenAI-compatible chat-completions server on 127.0.0.1 for the loop's end-to-end tests.

It answers from a script (text, or tool calls), as JSON or as SSE when the request streams, with
usage, and records every request body so a test can assert what reached the model endpoint.
Run standalone (for a CLI in a subprocess): `python fake_openai.py SCRIPT.json PORTFILE LOGFILE`.
"""
from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Script:
    """Replies in order: {"content": "..."} or {"tool_calls": [{"name", "args"}]} or {"status": 500}, or a
    function of the request body returning one of those.
    When it runs out: a plain "done" answer."""

    def __init__(self, replies: list[dict], pages: dict | None = None) -> None:
        self.replies = list(replies)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.pages = dict(pages or {})  # path -> JSON a GET (or POST /api/show) answers: what the server says it serves

    def next(self, body: dict) -> dict:
        with self.lock:
            self.requests.append(body)
            reply = self.replies.pop(0) if self.replies else {"content": "done"}
        return reply(body) if callable(reply) else reply


def _message(reply: dict) -> dict:
    msg: dict = {"role": "assistant", "content": reply.get("content")}
    if reply.get("tool_calls"):
        msg["content"] = None
        msg["tool_calls"] = [{"id": f"call_{uuid.uuid4().hex[:8]}", "type": "function",
                              "function": {"name": c["name"], "arguments": c["args"] if isinstance(c["args"], str)
                                           else json.dumps(c["args"])}} for c in reply["tool_calls"]]
    return msg


def make_handler(script: Script):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _json(self, value: object) -> None:
            data = json.dumps(value).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _page(self) -> bool:
            page = script.pages.get(self.path)
            if page is None:
                return False
            self._json(page)
            return True

        def do_GET(self) -> None:  # noqa: N802
            if not self._page():
                self.send_error(404)

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if self.path.endswith("/api/show"):
                if not self._page():
                    self.send_error(404)
                return
            reply = script.next(body)
            if reply.get("sleep"):
                time.sleep(reply["sleep"])
            if reply.get("status"):
                self.send_response(reply["status"])
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"error": {"message": reply.get("message", "scripted error"),
                                                       "type": "server_error"}}).encode())
                return
            msg = _message(reply)
            usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
            base = {"id": f"chatcmpl-{uuid.uuid4().hex[:8]}", "created": int(time.time()), "model": body.get("model")}
            if body.get("stream"):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                delta: dict = {"role": "assistant"}
                if msg.get("tool_calls"):
                    delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(msg["tool_calls"])]
                else:
                    delta["content"] = msg["content"]
                for chunk in ({**base, "object": "chat.completion.chunk",
                               "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
                              {**base, "object": "chat.completion.chunk",
                               "choices": [{"index": 0, "delta": {}, "finish_reason":
                                            "tool_calls" if msg.get("tool_calls") else "stop"}]},
                              {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                return
            self._json({**base, "object": "chat.completion", "usage": usage,
                        "choices": [{"index": 0, "message": msg,
                                     "finish_reason": "tool_calls" if msg.get("tool_calls") else "stop"}]})

    return Handler


class FakeOpenAI:
    def __init__(self, replies: list[dict], pages: dict | None = None) -> None:
        self.script = Script(replies, pages)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.script))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def requests(self) -> list[dict]:
        return self.script.requests

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:  # a server in its own process, for CLI subprocess tests
    script_path, port_file, log_file = sys.argv[1:4]
    replies = json.loads(open(script_path).read())
    fake = FakeOpenAI(replies)
    original = fake.script.next

    def logged(body: dict) -> dict:
        with open(log_file, "a") as fh:
            fh.write(json.dumps(body) + "\n")
        return original(body)

    fake.script.next = logged  # type: ignore[method-assign]
    with open(port_file + ".tmp", "w") as fh:
        fh.write(str(fake.server.server_address[1]))
    import os

    os.replace(port_file + ".tmp", port_file)
    fake.server.serve_forever()


if __name__ == "__main__":
    main()
