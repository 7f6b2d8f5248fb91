"""The MCP server for IDEs: the tool catalogue, the session's resources and the charter's prompts, served
with the official SDK (mcp 2.x `MCPServer`) over one platform bound through agent/toolbox.py.

A front end: no rules here. Every tool is CATALOG's, run by `toolbox.run_tool` exactly as the chat runs
it (redacted, written to the turn log); the gate records proposals and applies in its own audit log.
`apply_change` of a proposal Product has not signed answers with the command Product runs in its own
terminal: nothing here approves, signs, rejects, blocks or writes the gate's files, and no elicitation is
ever asked (its answer passes through the IDE's model host, so it could never be Product's approval).

The session is opened once, in a background thread while the client initialises, and reopened only when
a file it read changed (stat first, then sha256). mcp is imported here only, when the server is built.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from agent.core.errors import UserError

PROMPT_SECTIONS = {  # prompt -> the charter sections (canonical keys) it quotes
    "release_check": ("deliverables", "guardrails", "authority"),
    "incident_diagnosis": ("responsibilities", "work_rules", "out_of_scope"),
    "propose_change": ("guardrails", "out_of_scope", "authority"),
}


def _stat(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class Watch:
    """The files a session read, by stat then sha256: a touched but identical file reopens nothing."""

    def __init__(self, paths: list[Path]) -> None:
        self.seen = {p: (_stat(p), _digest(p)) for p in paths}

    def changed(self) -> bool:
        for path, (stat, digest) in self.seen.items():
            now = _stat(path)
            if now == stat:
                continue
            if _digest(path) != digest:
                return True
            self.seen[path] = (now, digest)
        return False


def _read_files(session) -> list[Path]:
    paths = [session.root / s.path for s in session.sources]  # an absolute path (the rules file) stays itself
    paths.append(Path(session.charter.path))
    if session.config_path:
        paths.append(Path(session.config_path))
    return paths


class Backend:
    """What the server serves: one platform's toolbox, the redactor of its current session, a turn-log thread.
    Calls run one at a time (the session and the gate are not shared across threads)."""

    def __init__(self, repo: Path | None, charter: Path | None = None, config: Path | None = None) -> None:
        from agent.toolbox import Toolbox

        self.box = Toolbox(repo, charter, config)
        self.root = self.box.root
        self.thread = f"mcp-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        self.lock = threading.Lock()
        self.loaded_at = ""
        self._session = None
        self._watch: Watch | None = None
        self._redact = None
        self._log = None

    def start(self) -> None:
        """Open the session in the background; the first call waits for it (the lock is held until then)."""
        self.lock.acquire()
        threading.Thread(target=self._load, name="devops-agent-session", daemon=True).start()

    def _load(self) -> None:
        try:
            self._current()
        except UserError as exc:  # every call answers it again: the client sees it where it asked
            sys.stderr.write(f"devops-agent mcp: {exc.line()}\n")
        finally:
            self.lock.release()

    def _current(self):
        """The session, reopened when a file it read changed; the redactor and the watch follow it."""
        if self._log is None:
            from agent.turnlog import TurnLog

            self._log = TurnLog(self.root)
        if self._watch is not None and self._watch.changed():
            self.box.refresh()
        session = self.box.session(run_checks=True)
        if session is not self._session:
            from agent import redact

            self._redact = redact.for_session(session)
            self._watch = Watch(_read_files(session))
            self._session = session
            self.loaded_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return session

    # ------------------------------------------------------------ tools

    def call(self, name: str, arguments: dict | None):
        """One tool call, written to the turn log as the chat's are: the `toolbox.Outcome`."""
        from agent.toolbox import ERROR, Outcome, oversized, run_tool

        refused = oversized(name, arguments)  # answered at once, read by nothing, waiting for no other call
        if refused is not None:
            if self._log is not None:  # the log is thread-safe; the arguments are not written, only their size
                self._log.add(self.thread, "tool_call", name, refused.text)
                self._log.add(self.thread, "tool_error", name, refused.text, latency_ms=0)
            return refused
        # The arguments are redacted for the log before the lock (a big patch takes seconds; another call runs
        # meanwhile), by the redactor of the session then current; again under the lock if that session changed.
        text = json.dumps(arguments or {}, ensure_ascii=False, default=str)
        redact = self._redact
        shown = redact(text) if redact is not None else None
        with self.lock:
            try:
                self._current()
            except UserError as exc:
                return Outcome(ERROR, f"error: {exc.line()}")

            def log(kind: str, tool: str, content: str, latency: float | None) -> None:
                self._log.add(self.thread, kind, tool, content, latency_ms=latency)

            try:
                return run_tool(self.box, self._redact, name, arguments, log=log,
                                shown=shown if redact is self._redact else None)
            except Exception as exc:  # noqa: BLE001 - a bug answers this call, not the whole server
                from agent import crash

                path = crash.write(exc, ["devops-agent mcp", f"tools/call {name}"], "mcp")
                if path is None:  # no crash log could be written: the traceback goes to the server's stderr
                    import traceback

                    traceback.print_exc(file=sys.stderr)
                out = Outcome(ERROR, f"error: {crash.line(exc, path, self._redact)}")
                self._log.add(self.thread, "tool_error", name, out.text)
                return out

    def schemas(self) -> dict[str, dict]:
        """Each tool's argument schema with this session's values (toolbox.schemas), or the catalogue's own when
        the session cannot load."""
        from tools.catalog import CATALOG, session_schema

        with self.lock:
            try:
                self._current()
            except UserError:
                return {t.name: session_schema(t) for t in CATALOG}
            return self.box.schemas()

    # ------------------------------------------------------------ resources

    def read(self, what: str, arg: str | None = None) -> str:
        """A resource's text, from the current session, redacted."""
        with self.lock:
            session = self._current()
            return self._redact(getattr(self, f"_{what}")(session, arg))

    def _charter(self, session, _: Any) -> str:
        from agent.prompt import quoted

        c = session.charter
        return quoted(f"charter {c.path} sha256 {c.sha256[:12]}", c.text, 1)  # as the session read it (capped), never re-read

    def _source(self, session, path: str) -> str:
        from agent.prompt import quoted

        src = next((s for s in session.sources if s.path == path), None)
        if src is None:
            raise UserError(f"{path} is not a source of this session", "list the resources for the sources")
        head = json.dumps(self.provenance(src), ensure_ascii=False)
        if not src.ok or src.text is None:
            return head
        label = f"{src.kind} {src.path} sha256 {(src.sha256 or '-')[:12]}"
        return f"{head}\n{quoted(label, src.text, src.priority)}"

    def _brief(self, session, _: Any) -> str:
        return json.dumps(session.brief(), ensure_ascii=False, default=str, indent=1)

    def _findings(self, session, _: Any) -> str:
        return json.dumps([f.to_dict() for f in session.findings], ensure_ascii=False, default=str, indent=1)

    def _proposals(self, session, _: Any) -> str:
        return json.dumps([self._proposal_record(r) for r in self.box.proposals()], ensure_ascii=False,
                          default=str, indent=1)

    def _proposal(self, session, pid: str) -> str:
        from agent.prompt import quoted

        rec = self.box.proposal(pid)
        data = self.box.proposal_view(rec, approvals=True)
        return json.dumps(data, ensure_ascii=False, default=str, indent=1) + "\n" + \
            quoted(f"proposal {rec.id} diff", rec.diff)

    def _proposal_record(self, rec) -> dict:
        """The one proposal view (agent/gate/store.py) with the commit Product signed; its diff apart."""
        return self.box.proposal_view(rec)

    def _history(self, session, _: Any) -> str:
        return json.dumps(self.box.history(None, None), ensure_ascii=False, default=str, indent=1)

    def _verify(self, session, _: Any) -> str:
        return json.dumps(self.box.verify().to_dict(), ensure_ascii=False, default=str, indent=1)

    def source_listing(self) -> list[tuple[str, str, dict]]:
        """(path, description, provenance) of every source of the current session, redacted."""
        with self.lock:
            session = self._current()
            return [(s.path, self._redact(_source_description(s, self.loaded_at)),
                     json.loads(self._redact(json.dumps(self.provenance(s), ensure_ascii=False))))
                    for s in session.sources]

    def provenance(self, src) -> dict:
        return {**src.to_dict(), "loaded_at": self.loaded_at}

    def charter_sections(self, keys: tuple[str, ...]) -> list[tuple[str, str]]:
        with self.lock:
            charter = self._current().charter
            return [(s.heading, self._redact(s.body)) for k in keys if (s := charter.section(k)) is not None]


def _source_description(src, loaded_at: str) -> str:
    where = f"{src.submodule or 'platform'}@{(src.commit or '-')[:12]}{'+dirty' if src.dirty else ''}"
    text = f"{src.kind} source [{src.status}] priority {src.priority or '-'}, {where}"
    text += f", sha256 {src.sha256}" if src.sha256 else ""
    text += f", loaded {loaded_at}" + (f": {src.message}" if src.message else "")
    return text


def build_server(backend: Backend):
    """The MCPServer: tools listed and called from CATALOG (their pydantic schemas as input and output
    schemas), the session's resources and the charter's prompts."""
    import anyio
    import mcp.types as types
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.resources import ResourceSecurity

    from agent.prompt import RULES, quoted
    from tools.catalog import CATALOG

    class Server(MCPServer):
        """The SDK derives a tool's schemas from a Python signature; the catalogue declares them already,
        so `tools/list` and `tools/call` serve it directly, and every call, even to an unknown tool or with
        wrong arguments, goes through `Backend.call` (the turn log, the redactor)."""

        async def list_tools(self) -> list[types.Tool]:
            schemas = await anyio.to_thread.run_sync(backend.schemas)  # this session's values (agent/toolbox.py)
            return [types.Tool(name=t.name, description=t.description, input_schema=schemas[t.name],
                               output_schema=t.result.model_json_schema(),
                               annotations=types.ToolAnnotations(read_only_hint=t.kind == "read",
                                                                 destructive_hint=False))
                    for t in CATALOG]

        async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> types.CallToolResult:
            # abandoned, not awaited, when the server stops (Ctrl-C): the thread ends on its own
            out = await anyio.to_thread.run_sync(backend.call, name, arguments, abandon_on_cancel=True)
            content = [types.TextContent(type="text", text=out.text)]
            if not out.ok:
                return types.CallToolResult(content=content, is_error=True)
            return types.CallToolResult(content=content, structured_content=json.loads(out.text))

        async def list_resources(self) -> list[types.Resource]:
            listing = await anyio.to_thread.run_sync(backend.source_listing)
            return await super().list_resources() + [
                types.Resource(uri=f"devops://source/{quote(path)}", name=f"source {path}", description=description,
                               mime_type="text/plain", _meta=meta)
                for path, description, meta in listing]

    server = Server("devops-agent", instructions=RULES, version="0.1.0", log_level="WARNING")

    def read(what: str, arg: str | None = None) -> str:
        from mcp.server.mcpserver.exceptions import ResourceError

        try:
            return backend.read(what, arg)
        except UserError as exc:
            raise ResourceError(exc.line()) from None

    fixed = {
        "charter": ("text/markdown", "The role charter, verbatim, quoted as data."),
        "brief": ("application/json", "The session brief (review --format json): sources, release, findings, "
                                      "verdict, next steps."),
        "findings": ("application/json", "Every finding of every check."),
        "proposals": ("application/json", "Every proposal, its status and the commit Product signed, if any."),
        "verify": ("application/json", "verify's report: every infra commit since the trust root and whether "
                                       "Product signed it."),
        "history": ("application/json", "Each finding introduced or fixed since the last release tag, with the "
                                        "commit, its author, date, Product's signature and proposal."),
    }
    for what, (mime, description) in fixed.items():
        server.resource(f"devops://{what}", name=what, description=description, mime_type=mime)(
            (lambda w: lambda: read(w))(what))

    @server.resource("devops://proposal/{id}", name="proposal", mime_type="text/plain",
                     description="One proposal: metadata, approvals, the signed commit if any, and its diff as data.")
    def proposal(id: str) -> str:  # noqa: A002 - the template's variable
        return read("proposal", id)

    # the rules file is bound by an absolute path: lookup is by exact source path, never a file opened from it
    @server.resource("devops://source/{+path}", name="source", mime_type="text/plain",
                     security=ResourceSecurity(exempt_params=frozenset({"path"})),
                     description="One source: its provenance (JSON), then its text quoted as data.")
    def source(path: str) -> str:
        return read("source", path)

    def charter_text(name: str) -> str:
        return "\n\n".join(quoted(f"charter: {heading}", body, 1)
                           for heading, body in backend.charter_sections(PROMPT_SECTIONS[name]))

    @server.prompt(name="release_check", description="Check the release against the charter: review, the "
                                                     "production checklist, Product's signatures.")
    def release_check(env: str = "prod") -> str:
        return (f"Check the current release for `{env}` as the charter below says. Call `review`, "
                f"`release_checklist` (env {env}) and `verify`; give the verdict (a CANNOT-TELL is never a GO: say what "
                f"could not run and why), the blockers with their ids "
                f"and file:line, and the remediation each one's clause asks for.\n\n"
                + charter_text("release_check"))

    @server.prompt(name="incident_diagnosis", description="Diagnose a deployment or production incident from "
                                                          "the sources, as the charter's responsibilities say.")
    def incident_diagnosis(symptom: str) -> str:
        return (f"Diagnose this incident: {quoted('the user', symptom)}\nRead through `sources`, "
                f"`compose_view`, `ci_view`, `read_source` and `review`; cite what you read by file:line; any "
                f"fix is a `propose_change`.\n\n" + charter_text("incident_diagnosis"))

    @server.prompt(name="propose_change", description="Turn a need into one proposal with one reason, one risk "
                                                      "and one rollback, for Product to sign.")
    def propose_change(need: str) -> str:
        return (f"Propose the infra change this need asks for: {quoted('the user', need)}\nRead the files "
                f"first, then call `propose_change` with a unified diff and one reason, one risk, one rollback. "
                f"Product signs it in their own terminal; you cannot approve it.\n\n" + charter_text("propose_change"))

    return server


# A request's body: one call's cap and the JSON-RPC envelope around it.
MAX_BODY_BYTES = 3 * 1024 * 1024


class BearerAuth:
    """ASGI middleware, answered on the event loop before any body is read: every HTTP request carries
    `Authorization: Bearer <token>`, else 401; a body over MAX_BODY_BYTES gets 413, from its Content-Length, or,
    sent in chunks, as soon as what came exceeds it (the chunks up to the cap are then replayed to the app)."""

    def __init__(self, app: Any, token: str, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.max_body = max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if not hmac.compare_digest(headers.get(b"authorization", b""), self.expected):
                await _answer(send, 401, b"a bearer token is required\n", [(b"www-authenticate", b"Bearer")])
                return
            length = headers.get(b"content-length", b"").strip()
            if length.isdigit() and int(length) > self.max_body:
                await _answer(send, 413, self._too_big(int(length)))
                await _drain(receive, int(length))  # discarded, so the client, still sending, reads the answer
                return
            if not length.isdigit() and scope.get("method") in ("POST", "PUT", "PATCH"):
                received, size = [], 0
                while True:
                    message = await receive()
                    received.append(message)
                    size += len(message.get("body", b""))
                    if size > self.max_body:
                        await _answer(send, 413, self._too_big(size, "at least "))
                        await _drain(receive, 16 * self.max_body)
                        return
                    if message["type"] != "http.request" or not message.get("more_body"):
                        break
                receive = _replay(received, receive)
        await self.app(scope, receive, send)

    def _too_big(self, size: int, at_least: str = "") -> bytes:
        return (f"the request body is {at_least}{size:,} bytes, over the {self.max_body:,}-byte cap of one call: "
                "split the change into smaller proposals\n").encode()


async def _answer(send: Any, status: int, body: bytes, headers: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def _drain(receive: Any, limit: int) -> None:
    """Read and drop what is left of a refused body, up to `limit` bytes (a client that sends more is cut off)."""
    size = 0
    while size <= limit:
        message = await receive()
        size += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            return


def _replay(messages: list[dict], receive: Any):
    async def again() -> dict:
        return messages.pop(0) if messages else await receive()
    return again


def serve(repo: Path | None, transport: str = "stdio", host: str = "127.0.0.1", port: int = 8765,
          charter: Path | None = None, config: Path | None = None) -> int:
    """Run the server until the client goes (stdio: stdin closes) or Ctrl-C (http)."""
    backend = Backend(repo, charter, config)
    server = build_server(backend)
    backend.start()
    if transport == "stdio":
        server.run()
        return 0
    import anyio
    import uvicorn

    sock = _listening_socket(host, port)
    token = secrets.token_urlsafe(32)
    app = BearerAuth(server.streamable_http_app(host=host), token)
    sys.stderr.write(f"devops-agent mcp: http://{host}:{port}/mcp\n"
                     f"devops-agent mcp: bearer token {token}\n")
    sys.stderr.flush()
    # Ctrl-C stops it within seconds even while a call works: open streams get GRACE_SECONDS to close, and a
    # call still running in its worker thread is abandoned (its turn-log entries are each a committed row).
    http = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                         timeout_graceful_shutdown=GRACE_SECONDS))
    try:
        anyio.run(lambda: http.serve(sockets=[sock]))
    except KeyboardInterrupt:  # Ctrl-C is how a server in a terminal is stopped: uvicorn has shut down
        pass
    if backend.lock.locked():
        sys.stderr.write("devops-agent mcp: stopped while a call was running; that call was not answered\n")
        sys.stderr.flush()
        os._exit(0)
    return 0


GRACE_SECONDS = 2


def _listening_socket(host: str, port: int):
    """Bound before the token is printed: a port in use is one line, not a server that never listens."""
    import socket

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", "pick another --port") from None
    return sock
