"""The agent loop: langchain's `create_agent` over the session and the tool catalogue.

The model reasons; the runtime holds the rules. The system prompt comes from the session
(agent/prompt.py); every tool is the catalogue's (tools/catalog.py) bound to this platform
(agent/toolbox.py); everything sent to the model passes the one redactor (agent/redact.py).
`apply_change` pauses in HumanInTheLoopMiddleware with approve and reject only (never edit: an edited
call is a known bypass of that middleware); the front end decides with Product's signature, and the
gate verifies everything again at apply whatever the middleware said.

Conversations persist in SQLite under `.devops-agent/` (langgraph-checkpoint-sqlite, one thread per
conversation); every model request and response, tool call and result goes to the turn log, redacted
as sent. langchain, langgraph and openai are imported here only, when a conversation starts.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from agent.core.config import STATE_DIR
from agent.core.errors import UserError
from agent.turnlog import TurnLog, _plain, connect as _connect, state_fault as _state_fault

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT = 60.0


# A model that fails this many tool calls in a row, or calls this many tools in one turn, answers without tools:
# a small model otherwise loops on the same failing call until the graph's recursion limit ends the turn.
FAILED_CALLS_IN_A_ROW = 3
TOOL_CALLS_PER_TURN = 15  # the default; DEVOPS_AGENT_MAX_TOOL_CALLS or model.max_tool_calls set it


@dataclass
class ModelSettings:
    model: str
    base_url: str | None
    api_key: str
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = 2
    max_tokens: int | None = None  # a cap on each answer (DEVOPS_AGENT_MAX_TOKENS), for small local models
    model_given: bool = True  # False: no flag, variable or config named the model (the server's own is taken)
    max_tool_calls: int = TOOL_CALLS_PER_TURN  # tool calls in one turn before it must answer in text (DEVOPS_AGENT_MAX_TOOL_CALLS)
    tool_choice: str = "auto"  # or "two-step" (DEVOPS_AGENT_TOOL_CHOICE, model.tool_choice): see `_two_step`

    @classmethod
    def resolve(cls, model: str | None = None, base_url: str | None = None, timeout: float | None = None,
                env: dict | None = None, config: Any = None) -> "ModelSettings":
        """Flags, then the environment, then the config's `model:` section."""
        env = dict(os.environ if env is None else env)
        cfg = getattr(config, "model", None)
        base_url = base_url or env.get("OPENAI_BASE_URL") or (cfg.base_url if cfg else None) or None
        key = env.get("OPENAI_API_KEY")
        if not key and not base_url:
            raise UserError("no model configured: set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL "
                            "(an OpenAI-compatible server: Ollama, vLLM, llama.cpp)",
                            "e.g. OPENAI_BASE_URL=http://127.0.0.1:11434/v1 devops-agent chat")
        try:
            timeout = timeout or float(env.get("DEVOPS_AGENT_TIMEOUT") or (cfg.timeout if cfg else None)
                                       or DEFAULT_TIMEOUT)
            cap = int(env["DEVOPS_AGENT_MAX_TOKENS"]) if env.get("DEVOPS_AGENT_MAX_TOKENS") else \
                (cfg.max_tokens if cfg else None)
            calls = int(env.get("DEVOPS_AGENT_MAX_TOOL_CALLS") or (cfg.max_tool_calls if cfg else None)
                        or TOOL_CALLS_PER_TURN)
            if calls < 1:
                raise ValueError
        except ValueError:
            raise UserError("DEVOPS_AGENT_TIMEOUT takes seconds, DEVOPS_AGENT_MAX_TOKENS and "
                            "DEVOPS_AGENT_MAX_TOOL_CALLS a number (1 or more for the tool calls)",
                            "e.g. DEVOPS_AGENT_TIMEOUT=120 DEVOPS_AGENT_MAX_TOKENS=512 DEVOPS_AGENT_MAX_TOOL_CALLS=4"
                            ) from None
        given = model or env.get("DEVOPS_AGENT_MODEL") or (cfg.name if cfg else None)
        from agent.core.config import TOOL_CHOICES

        choice = env.get("DEVOPS_AGENT_TOOL_CHOICE") or (cfg.tool_choice if cfg else None) or "auto"
        if choice not in TOOL_CHOICES:
            raise UserError(f"DEVOPS_AGENT_TOOL_CHOICE is {choice!r}: it takes {' or '.join(TOOL_CHOICES)}",
                            "two-step needs a server that forces a named tool (OpenAI, llama.cpp, vLLM)")
        return cls(model=given or DEFAULT_MODEL, base_url=base_url, api_key=key or "not-needed", timeout=timeout,
                   max_tokens=cap, model_given=bool(given), max_tool_calls=calls, tool_choice=choice)


def _is_openai(base_url: str | None) -> bool:
    """OpenAI's own API (no base URL, or api.openai.com), as opposed to a compatible server (llama.cpp, Ollama...)."""
    return not base_url or "api.openai.com" in base_url


def wire_payload(payload: dict, local: bool) -> dict:
    """The chat-completions request as OpenAI-compatible servers read it (../shared/API-NOTES.md, f):
    `tool_choice: "auto"` whenever tools are offered (llama.cpp's function-calling formats leave the tools out of
    the prompt without it); an assistant message's `content` is "" rather than null after a tool call (the same
    server answers 500 to null); and, for a server that is not OpenAI's, the answer cap as `max_tokens`, the field
    it reads (langchain-openai writes `max_completion_tokens`)."""
    if payload.get("tools") and "tool_choice" not in payload:
        payload["tool_choice"] = "auto"
    for message in payload.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "assistant" and message.get("content") is None:
            message["content"] = ""
    if local and "max_completion_tokens" in payload:
        payload["max_tokens"] = payload.pop("max_completion_tokens")
    return payload


def _object_arguments(arguments: Any) -> bool:
    try:
        return isinstance(json.loads(arguments), dict) if isinstance(arguments, str) and arguments.strip() else True
    except ValueError:
        return True  # not JSON at all: langchain already makes it an invalid call


def tools_closed(messages: list, limit: int = TOOL_CALLS_PER_TURN) -> str | None:
    """Why the rest of this turn runs without tools (None: it does not): the tool results since the user's
    last message, counted in all (`limit`) and failed in a row at the end; or the same call (tool and arguments)
    made twice in a row, whose second result can only repeat the first (a small model loops on it)."""
    results = []
    calls: list[str] = []
    for m in reversed(messages):
        if getattr(m, "type", "") == "human":
            break
        if getattr(m, "type", "") == "tool":
            results.append(getattr(m, "status", "success") == "error")
        for call in getattr(m, "tool_calls", None) or []:
            calls.append(json.dumps([call.get("name"), call.get("args")], sort_keys=True, default=str))
    if len(calls) >= 2 and calls[0] == calls[1] and len(results) >= 2 and not results[0] and not results[1]:
        return "the same call was made twice in a row"  # a failed one repeated is the rule below's
    failed = 0
    for error in results:  # newest first
        if not error:
            break
        failed += 1
    if failed >= FAILED_CALLS_IN_A_ROW:
        return f"{failed} tool calls in a row failed"
    if len(results) >= limit:
        return f"{len(results)} tool calls in this turn"
    return None


def _empty_reply(response: Any) -> bool:
    messages = [m for m in (getattr(response, "result", None) or [response]) if getattr(m, "type", "") == "ai"]
    last = messages[-1] if messages else None
    return last is not None and not str(last.content or "").strip() and not last.tool_calls \
        and not last.invalid_tool_calls


def _answer_in_text(note: Callable[[str], None], limit: int = TOOL_CALLS_PER_TURN):
    """Middleware: the model answers in plain text, without tools, when tools are closed for the turn
    (`tools_closed`), and once more when a reply offered tools came back empty (llama-cpp-python's
    chatml-function-calling format can only return a tool call or nothing under `tool_choice: "auto"`)."""
    from langchain.agents.middleware import wrap_model_call
    from langchain_core.messages import SystemMessage

    def without_tools(request, why: str):  # noqa: ANN001, ANN202
        note(f"tools closed for the rest of this turn: {why}")
        text = (f"{request.system_prompt or ''}\n\nTools are closed for the rest of this turn ({why}). Answer "
                "the user now in plain text: what you found, and what you could not do.").strip()
        return request.override(tools=[], tool_choice=None, system_message=SystemMessage(content=text))

    @wrap_model_call
    def answer_in_text(request, handler):  # noqa: ANN001, ANN202
        why = tools_closed(request.messages, limit) if request.tools else None
        if why:
            return handler(without_tools(request, why))
        response = handler(request)
        if request.tools and _empty_reply(response):
            return handler(without_tools(request, "the reply offered tools came back empty"))
        if request.tools:
            _repair_calls(response, [getattr(t, "name", None) or (t.get("name") if isinstance(t, dict) else None)
                                     for t in request.tools], note)
        return response
    return answer_in_text


# A tool call a model wrote as text instead of making it: `functions.review:\n{...}` (llama.cpp's ChatML
# function-calling syntax), or a JSON object `{"name": "review", "arguments": {...}}` alone in the answer.
_TEXT_CALL = re.compile(r"^\s*(?:functions\.)?([A-Za-z_][\w-]*)\s*:\s*(\{.*\})\s*$", re.S)


def _text_call(content: str, known: set[str]) -> tuple[str, dict] | None:
    text = content.strip().strip("`").removeprefix("json").strip()
    m = _TEXT_CALL.match(text)
    if m and m.group(1) in known:
        try:
            args = json.loads(m.group(2))
        except ValueError:
            return None
        return (m.group(1), args) if isinstance(args, dict) else None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("name") in known and isinstance(data.get("arguments", {}), dict) \
            and set(data) <= {"name", "arguments", "type"}:
        return str(data["name"]), dict(data.get("arguments") or {})
    return None


def _repair_calls(response: Any, names: list, note: Callable[[str], None]) -> None:
    """Make what a small model meant a real call the runtime judges like any other: a call written as text
    becomes a call; a misspelt tool name (`read_sources`) snaps to the one known name it is close to. A name close
    to none stays as written (langchain answers that no such tool exists)."""
    import difflib
    import uuid as _uuid

    known = {n for n in names if n}
    for message in getattr(response, "result", None) or [response]:
        if getattr(message, "type", "") != "ai":
            continue
        if not message.tool_calls and isinstance(message.content, str) and \
                (call := _text_call(message.content, known)) is not None:
            message.tool_calls = [{"name": call[0], "args": call[1], "id": f"call_{_uuid.uuid4().hex[:8]}",
                                   "type": "tool_call"}]
            message.content = ""
            note(f"a call to {call[0]} written as text was made a call")
        for call in message.tool_calls:
            if call.get("name") not in known:
                close = difflib.get_close_matches(str(call.get("name")), sorted(known), n=2, cutoff=0.85)
                if len(close) == 1:
                    note(f"tool {call.get('name')!r} read as {close[0]!r}")
                    call["name"] = close[0]


def _session_schemas(box):
    """Middleware: the tools as the model sees them carry this session's argument schemas (toolbox.schemas: the
    source paths, environments, services and open proposals as enums), read again at each model call so that a
    proposal made a step before can be named. A server that constrains arguments by the schema (llama.cpp's
    grammars) then writes only valid ones. The tools that run are the catalogue's: they validate again."""
    from langchain.agents.middleware import wrap_model_call
    from langchain_core.tools import BaseTool, StructuredTool

    @wrap_model_call
    def session_schemas(request, handler):  # noqa: ANN001, ANN202
        if not request.tools:
            return handler(request)
        schemas = box.schemas()
        tools = [StructuredTool(name=t.name, description=t.description, args_schema=schemas[t.name], func=t.func)
                 if isinstance(t, BaseTool) and t.name in schemas else t for t in request.tools]
        return handler(request.override(tools=tools))
    return session_schemas


PICK = "choose_next_step"  # the one function of a two-step pick; never a tool of the catalogue, never run
ANSWER = "answer_the_user"


def _two_step(note: Callable[[str], None]):
    """Middleware, for small models on servers that force a named tool (OpenAI, llama.cpp, vLLM): one step of the
    turn is two requests. First a constrained pick: one function whose only argument is an enum of the tools offered
    and `answer_the_user`, forced by name, so the model can only name a real tool. Then that tool forced by name, its
    arguments constrained by this session's schema; or, when it picked the answer, the answer with tools off. The
    pick's call is consumed here: it never reaches the graph, the turn log sees both requests."""
    from langchain.agents.middleware import wrap_model_call

    @wrap_model_call
    def two_step(request, handler):  # noqa: ANN001, ANN202
        if not request.tools or request.tool_choice not in (None, "auto"):
            return handler(request)
        names = [getattr(t, "name", None) for t in request.tools]
        names = [n for n in names if n]
        pick = {"type": "function", "function": {
            "name": PICK, "description": "Choose what to do next: one tool to call, or answer the user.",
            "parameters": {"type": "object", "properties": {"next": {"type": "string", "enum": [*names, ANSWER]}},
                           "required": ["next"], "additionalProperties": False}}}
        picked = handler(request.override(tools=[pick], tool_choice=PICK))
        messages = [m for m in (getattr(picked, "result", None) or [picked]) if getattr(m, "type", "") == "ai"]
        calls = messages[-1].tool_calls if messages else []
        choice = str((calls[0].get("args") or {}).get("next", "")) if calls and calls[0].get("name") == PICK else ""
        if choice in names:
            note(f"two-step: the model picked {choice}")
            return handler(request.override(tool_choice=choice))
        note("two-step: the model picked the answer" if choice == ANSWER else
             f"two-step: no tool picked ({choice or 'no call'}): answering without tools")
        return handler(request.override(tools=[], tool_choice=None))
    return two_step


def _plain_reply():
    """Middleware: every AI message as `_plain` data before it is checkpointed, logged or sent back."""
    from langchain.agents.middleware import wrap_model_call

    @wrap_model_call
    def plain_reply(request, handler):  # noqa: ANN001, ANN202
        response = handler(request)
        for m in getattr(response, "result", None) or [response]:
            if getattr(m, "type", "") == "ai":
                m.content = _plain(m.content)
                m.tool_calls = [{**c, "args": _plain(c.get("args") or {})} for c in m.tool_calls]
                m.invalid_tool_calls = [_plain(dict(c)) for c in m.invalid_tool_calls]
        return response
    return plain_reply


def _log_handler(log: TurnLog, thread: str):
    from langchain_core.callbacks import BaseCallbackHandler

    class Handler(BaseCallbackHandler):
        raise_error = True  # a log that cannot be written ends the turn with its one line, not a warning

        def __init__(self) -> None:
            self.started: dict = {}

        def on_chat_model_start(self, serialized, messages, *, run_id, **kw):  # noqa: ANN001
            self.started[run_id] = time.monotonic()
            log.add(thread, "model_request", "", [[{"role": m.type, "content": m.content,
                                                    "tool_calls": getattr(m, "tool_calls", None) or None}
                                                   for m in batch] for batch in messages])

        def on_llm_end(self, response, *, run_id, **kw):  # noqa: ANN001
            latency = (time.monotonic() - self.started.pop(run_id, time.monotonic())) * 1000
            for gens in response.generations:
                for g in gens:
                    msg = getattr(g, "message", None)
                    usage = getattr(msg, "usage_metadata", None) or {}
                    log.add(thread, "model_response", "", {"content": getattr(msg, "content", g.text),
                                                           "tool_calls": getattr(msg, "tool_calls", None) or []},
                            usage.get("input_tokens"), usage.get("output_tokens"), latency)

        def on_tool_start(self, serialized, input_str, *, run_id, **kw):  # noqa: ANN001
            self.started[run_id] = time.monotonic()
            log.add(thread, "tool_call", (serialized or {}).get("name", ""), input_str)

        def on_tool_end(self, output, *, run_id, **kw):  # noqa: ANN001
            latency = (time.monotonic() - self.started.pop(run_id, time.monotonic())) * 1000
            log.add(thread, "tool_result", kw.get("name") or "", getattr(output, "content", output),
                    latency_ms=latency)

        def on_tool_error(self, error, *, run_id, **kw):  # noqa: ANN001
            self.started.pop(run_id, None)
            log.add(thread, "tool_error", kw.get("name") or "", str(error))

    return Handler()


# ---------------------------------------------------------------- the conversation

@dataclass
class TurnResult:
    thread: str
    answer: str
    tool_calls: list[dict] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    waiting: list[str] = field(default_factory=list)  # proposals whose apply waits for Product
    notes: list[str] = field(default_factory=list)  # what the runtime did on its own (tools closed)

    def to_dict(self) -> dict:
        return {"thread": self.thread, "answer": self.answer, "tool_calls": self.tool_calls,
                "tokens": {"input": self.tokens_in, "output": self.tokens_out}, "waiting_for_product": self.waiting,
                "notes": self.notes}


# The front end's answer to a paused apply: (approved, message to the model).
ApplyDecision = Callable[[str], tuple[bool, str]]


def waits_for_product(proposal_id: str) -> tuple[bool, str]:
    """Outside a terminal nobody can sign: the model is told what Product runs (agent/toolbox.py's line)."""
    from agent import toolbox

    return False, toolbox.waits_for_product(proposal_id)


class Conversation:
    """One thread: the model, the tools, the checkpoints, the turn log, the redactor."""

    def __init__(self, repo: Path, settings: ModelSettings, thread: str | None = None, model: Any = None,
                 budget: int | None = None, charter: Path | None = None, config: Path | None = None,
                 background: bool = False) -> None:
        from agent import prompt, redact
        from agent.toolbox import Toolbox

        self.box = Toolbox(repo, charter, config)
        self.root = self.box.root
        self.settings = settings
        self.thread = thread or f"t-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
        session = self.box.session(run_checks=True)
        self.redact = redact.for_session(session)
        cfg = session.config.model
        budget = budget or (cfg.prompt_budget if cfg else None)
        self.server_notes: list[str] = []
        if model is None and not _is_openai(settings.base_url):
            settings, budget = self._fit_to_server(settings, budget)
            self.settings = settings
        self.system_prompt = prompt.build(session, self.box.proposals(), budget or prompt.DEFAULT_BUDGET, self.redact)
        self.log = TurnLog(self.root, required=True)
        for text in self.server_notes:
            self.log.add(self.thread, "runtime", "", text)
        self.notes: list[str] = []  # what the runtime did to this turn on its own (tools closed)
        self._given_model = model
        self._built: dict = {}
        self._building = threading.Thread(target=self._build, name="conversation-build", daemon=True)
        self._building.start()
        if not background:
            self._building.join()
            self.agent  # noqa: B018 - a state fault or a missing extra is raised here, as before

    def _build(self) -> None:
        """The model client and the graph: langchain's imports are most of the cost (seconds), so `chat` shows its
        prompt first and this runs while the user types (`background`)."""
        try:
            self._built["model"] = self._given_model if self._given_model is not None else self._chat_model()
            self._built["agent"] = self._agent()
        except BaseException as exc:  # noqa: BLE001 - raised where the graph is first needed
            self._built["error"] = exc

    def _part(self, name: str) -> Any:
        self._building.join()
        if "error" in self._built:
            raise self._built["error"]
        return self._built[name]

    model = property(lambda self: self._part("model"))
    agent = property(lambda self: self._part("agent"))

    def _fit_to_server(self, settings: ModelSettings, budget: int | None) -> tuple[ModelSettings, int | None]:
        """Ask a local server what it serves (agent/server.py): its model when none was named, and a prompt
        budget that leaves its context room for the tools, the answer and the turn (an explicit budget larger
        than that is lowered too: the server would refuse the request)."""
        from dataclasses import replace

        from agent import prompt
        from agent.server import PROBE_SECONDS, fitted_budget, probe
        from tools.catalog import CATALOG

        facts = probe(str(settings.base_url), settings.api_key, settings.model if settings.model_given else None,
                      seconds=min(PROBE_SECONDS, settings.timeout / 4))
        if not settings.model_given and facts.models:
            settings = replace(settings, model=facts.models[0], model_given=True)
            self.server_notes.append(f"model {facts.models[0]}: the one the server lists first")
        if facts.context:
            schemas = self.box.schemas()  # as sent: with this session's values (agent/toolbox.py)
            tools = prompt.count_tokens(json.dumps([{"name": t.name, "description": t.description,
                                                     "parameters": schemas[t.name]} for t in CATALOG]))
            wanted = budget or prompt.DEFAULT_BUDGET
            fit = fitted_budget(facts.context, tools, settings.max_tokens, wanted)
            if fit is None:
                raise UserError(f"the server serves a context of {facts.context} tokens ({facts.where}): too small "
                                f"for the tools ({tools} tokens), an answer and a prompt",
                                "start it with a larger context: llama.cpp `-c 8192`, Ollama `num_ctx 8192`, "
                                "vLLM `--max-model-len 8192`")
            if fit < wanted:
                self.server_notes.append(f"prompt budget {fit} tokens (not {wanted}): the server serves a context "
                                         f"of {facts.context} ({facts.where}), the tools take {tools}")
                budget = fit
        return settings, budget

    def cancelled(self, partial: str = "") -> None:
        """The user stopped the turn (Ctrl-C): the turn log says so, with what had streamed of the answer."""
        self.log.add(self.thread, "cancelled", "", {"by": "the user (Ctrl-C)", "partial_answer": self.redact(partial)})

    def _note(self, text: str) -> None:
        self.notes.append(text)
        self.log.add(self.thread, "runtime", "", text)

    @classmethod
    def resume_thread(cls, repo: Path) -> str | None:
        """The most recent thread of this repo, for `chat --resume` without an id."""
        path = Path(repo) / STATE_DIR / "turns.sqlite"
        if not path.is_file():
            return None
        threads = TurnLog(Path(repo)).threads()
        return threads[0]["thread"] if threads else None

    def _chat_model(self):
        from langchain_openai import ChatOpenAI

        class Endpoint(ChatOpenAI):
            """Tool-call arguments that are JSON but not an object (`[1]`, `"x"`) would fail the reply's parsing
            in langchain: they become invalid calls, answered to the model as errors."""

            def _create_chat_result(self, response, generation_info=None):  # noqa: ANN001, ANN202
                if not isinstance(response, dict) and hasattr(response, "model_dump"):
                    response = response.model_dump(warnings=False)
                for choice in (response.get("choices") or []) if isinstance(response, dict) else []:
                    for call in ((choice or {}).get("message") or {}).get("tool_calls") or []:
                        fn = call.get("function") or {}
                        if not _object_arguments(fn.get("arguments")):
                            fn["arguments"] = f"not a JSON object: {str(fn.get('arguments'))[:200]}"
                return super()._create_chat_result(response, generation_info)

            def _get_request_payload(self, input_, *, stop=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
                return wire_payload(super()._get_request_payload(input_, stop=stop, **kwargs),
                                    local=not _is_openai(settings.base_url))

            def _generate(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                return _bounded(settings, lambda: iter([super(Endpoint, self)._generate(*args, **kwargs)])).__next__()

            def _stream(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                yield from _bounded(settings, lambda: super(Endpoint, self)._stream(*args, **kwargs))

        s = settings = self.settings
        # The client's own retries are silent and each restarts its read timeout: ours count, within one budget.
        return Endpoint(model=s.model, base_url=s.base_url, api_key=s.api_key, use_responses_api=False,
                        max_retries=0, timeout=s.timeout, stream_usage=True, max_tokens=s.max_tokens)

    def _tools(self) -> list:
        from langchain_core.tools import StructuredTool, ToolException

        from agent.toolbox import run_tool
        from tools.catalog import CATALOG

        def bind(t):
            def run(**kwargs: Any) -> str:
                out = run_tool(self.box, self.redact, t.name, kwargs)
                if not out.ok:
                    raise ToolException(out.text)
                return out.text
            return StructuredTool.from_function(func=run, name=t.name, description=t.description,
                                                args_schema=t.args, handle_tool_error=True,
                                                handle_validation_error=lambda e: self.redact(
                                                    f"error: bad arguments for {t.name}: {str(e).splitlines()[0]}"))
        return [bind(t) for t in CATALOG]

    def _agent(self):
        from langchain.agents import create_agent
        from langchain.agents.middleware import HumanInTheLoopMiddleware
        from langgraph.checkpoint.sqlite import SqliteSaver

        state = self.root / STATE_DIR
        try:
            state.mkdir(exist_ok=True)
            self._db = _connect(state / "chat.sqlite")
        except (OSError, sqlite3.Error) as exc:
            raise _state_fault(exc, state / "chat.sqlite") or exc from None
        saver = SqliteSaver(self._db)
        from agent.toolbox import pauses
        from tools.catalog import CATALOG

        hitl = HumanInTheLoopMiddleware(  # the tools the catalogue's kind says wait for Product (toolbox.pauses)
            interrupt_on={t.name: {"allowed_decisions": ["approve", "reject"]} for t in CATALOG if pauses(t.name)},
            description_prefix="this tool waits for Product's decision")
        return create_agent(self._built["model"], tools=self._tools(), system_prompt=self.system_prompt,
                            middleware=[_plain_reply(), _session_schemas(self.box),
                                        _answer_in_text(self._note, self.settings.max_tool_calls),
                                        *([_two_step(self._note)] if self.settings.tool_choice == "two-step"
                                          else []), hitl],
                            checkpointer=saver)

    def _config(self) -> dict:
        return {"configurable": {"thread_id": self.thread},
                "callbacks": [_log_handler(self.log, self.thread)],
                # each tool call is a model step, its middleware's and a tools step: the graph's limit stays above
                "recursion_limit": 4 * (max(self.settings.max_tool_calls, TOOL_CALLS_PER_TURN) + 2)}

    def history(self) -> list:
        return list((self.agent.get_state(self._config()).values or {}).get("messages", []))

    def ask(self, text: str, on_apply: ApplyDecision = waits_for_product,
            on_event: Callable[[str, Any], None] | None = None) -> TurnResult:
        """One user turn, to the model's final answer; a paused apply is decided by `on_apply`.
        With `on_event`, the turn streams: ("text", chunk), ("tool", call), ("result", tool message)."""
        from langchain_core.messages import HumanMessage

        self.on_event = on_event
        self.notes = []
        before = len(self.history())
        waiting: list[str] = []
        pending = tuple(self.agent.get_state(self._config()).next or ())
        if pending and pending != ("model",):
            # a turn stopped (killed, cancelled) after the model asked for tools: finish that step first,
            # so no tool call stays unanswered; a stop before the model answered needs nothing
            self._steps(None, on_apply, waiting)
        self._steps({"messages": [HumanMessage(self.redact(text))]}, on_apply, waiting)
        return self._result(before, waiting)

    def _steps(self, inputs: Any, on_apply: ApplyDecision, waiting: list[str]) -> None:
        """Run the graph until the model answers: a paused apply is decided by `on_apply`, malformed tool
        calls are answered as errors."""
        from langgraph.types import Command

        for _ in range(20):
            out = self._invoke(inputs)
            interrupts = list(getattr(out, "interrupts", []) or [])
            if not interrupts:
                if self._answer_invalid_calls():
                    inputs = None
                    continue
                return
            decisions = []
            for request in (interrupts[0].value or {}).get("action_requests", []):
                pid = str((request.get("args") or {}).get("proposal_id", ""))
                approved, message = on_apply(pid)
                if not approved:
                    waiting.append(pid)
                decisions.append({"type": "approve"} if approved else {"type": "reject",
                                                                       "message": self.redact(message)})
            inputs = Command(resume={"decisions": decisions})

    def _answer_invalid_calls(self) -> bool:
        """A reply whose tool calls could not be parsed (malformed JSON arguments) ends the graph: answer
        each with an error result so the model can correct itself, as for any other tool error."""
        from langchain_core.messages import ToolMessage

        messages = self.history()
        last = messages[-1] if messages else None
        invalid = list(getattr(last, "invalid_tool_calls", None) or []) if last is not None and last.type == "ai" else []
        if not invalid or getattr(last, "tool_calls", None):
            return False
        replies = [ToolMessage(content=self.redact(f"error: the arguments of {c.get('name')} are not valid JSON; "
                                                   "call it again with a JSON object"),
                               tool_call_id=c.get("id") or "invalid", name=c.get("name") or "unknown", status="error")
                   for c in invalid]
        self.agent.update_state(self._config(), {"messages": replies}, as_node="tools")
        return True

    def _invoke(self, inputs: Any):
        try:
            # None continues the thread from its checkpoint (a paused apply asks again)
            if getattr(self, "on_event", None) is None:
                return self.agent.invoke(inputs, self._config(), version="v2", durability="sync")
            return self._stream(inputs)
        except UserError:
            raise
        except (OSError, sqlite3.Error) as exc:  # the conversation's own state: disk full, read-only
            fault = _state_fault(exc, self.root / STATE_DIR / "chat.sqlite")
            if fault is None:
                raise UserError(_endpoint_problem(exc, self.settings), "the conversation is saved: "
                                f"`devops-agent chat --resume {self.thread}` continues it") from None
            raise fault from None
        except Exception as exc:  # noqa: BLE001 - the model endpoint's errors become one line
            raise UserError(_endpoint_problem(exc, self.settings), "the conversation is saved: "
                            f"`devops-agent chat --resume {self.thread}` continues it") from None

    def _stream(self, inputs: Any) -> "_Streamed":
        """The same step as invoke, streamed (SSE from the endpoint): text as it comes, tool calls and
        results as they happen; the pause of an apply is collected as invoke would return it."""
        emit = self.on_event
        out = _Streamed([])
        seen: set = set()
        for part in self.agent.stream(inputs, self._config(), stream_mode=["messages", "updates"], version="v2",
                                      durability="sync"):
            kind, data = part.get("type"), part.get("data")
            if kind == "messages":
                chunk = data[0] if isinstance(data, tuple) else data
                if getattr(chunk, "type", "") in ("AIMessageChunk", "ai") and isinstance(chunk.content, str) \
                        and chunk.content:
                    emit("text", _plain(chunk.content))
            elif kind == "updates" and isinstance(data, dict):
                if "__interrupt__" in data:
                    out.interrupts.extend(data["__interrupt__"])
                    continue
                for update in data.values():
                    for m in (update or {}).get("messages", []) if isinstance(update, dict) else []:
                        if getattr(m, "type", "") == "ai":
                            for call in getattr(m, "tool_calls", None) or []:
                                if call.get("id") not in seen:
                                    seen.add(call.get("id"))
                                    emit("tool", call)
                        elif getattr(m, "type", "") == "tool":
                            emit("result", m)
        return out

    def _result(self, before: int, waiting: list[str]) -> TurnResult:
        messages = self.history()[before:]
        calls, tin, tout = [], 0, 0
        answer = ""
        for m in messages:
            if m.type == "ai":
                for c in getattr(m, "tool_calls", None) or []:
                    calls.append({"name": c.get("name"), "args": c.get("args")})
                usage = getattr(m, "usage_metadata", None) or {}
                tin += usage.get("input_tokens") or 0
                tout += usage.get("output_tokens") or 0
                if isinstance(m.content, str) and m.content.strip():
                    answer = m.content
        return TurnResult(self.thread, answer, calls, tin, tout, waiting, list(dict.fromkeys(self.notes)))


@dataclass
class _Streamed:
    interrupts: list


# What servers say when the prompt is longer than their context: llama.cpp ("exceeds the available context size",
# "n_ctx"), OpenAI and vLLM ("maximum context length"), Ollama and others ("context window", "too many tokens").
_CONTEXT_OVERFLOW = re.compile(r"context (?:size|length|window)|n_ctx|maximum context|too many tokens|"
                               r"prompt is too long|exceeds? the (?:available )?context", re.I)
TIMEOUT_SETTING = "DEVOPS_AGENT_TIMEOUT (or model.timeout in .devops-agent.yaml, or --timeout) sets the wait"


class ModelOverdue(Exception):
    """One model call (all its tries) did not finish within the settings' timeout, wall clock."""

    def __init__(self, seconds: float, tries: int, last: str = "") -> None:
        super().__init__(f"no answer within {seconds:g} s")
        self.seconds, self.tries, self.last = seconds, tries, last


def _retryable(exc: Exception) -> bool:
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    return name in ("APIConnectionError", "APITimeoutError", "RateLimitError", "InternalServerError") or \
        (isinstance(status, int) and (status == 429 or status >= 500))


def _bounded(s: ModelSettings, call: Callable[[], Any]):
    """The items of one model call, all its tries within `s.timeout` seconds of wall clock (a read timeout
    alone restarts at every byte of a trickling endpoint); tries again on a refused connection, a 429 or
    a 5xx while nothing has come and time is left; ModelOverdue when the budget is spent."""
    from agent.core.deadline import Overdue, stream_within

    deadline = time.monotonic() + s.timeout
    tries, last = 0, ""
    while True:
        tries += 1
        started = False
        try:
            for item in stream_within(deadline, call, s.timeout):
                started = True
                yield item
            return
        except Overdue:
            raise ModelOverdue(s.timeout, tries, last) from None
        except Exception as exc:  # noqa: BLE001 - retried or handed on as is
            pause = min(0.5 * 2 ** (tries - 1), 4.0)
            if started or not _retryable(exc) or tries > s.max_retries or time.monotonic() + pause >= deadline:
                exc.tries = tries  # type: ignore[attr-defined]  # the message says how many were made
                raise
            last = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}"
            time.sleep(pause)


def _endpoint_problem(exc: Exception, s: ModelSettings) -> str:
    name = type(exc).__name__
    where = s.base_url or "api.openai.com"
    if isinstance(exc, ModelOverdue):
        tries = f"{exc.tries} {'try' if exc.tries == 1 else 'tries'}"
        return (f"the model endpoint {where} did not answer within {exc.seconds:g} s ({tries}"
                f"{'; before: ' + exc.last if exc.last else ''}); {TIMEOUT_SETTING}")
    status = getattr(exc, "status_code", None)
    if status == 401 or name == "AuthenticationError":
        return f"the model endpoint {where} refused the key (401): check OPENAI_API_KEY"
    made = getattr(exc, "tries", 1)
    tries = f"{made} {'try' if made == 1 else 'tries'}"
    if status == 429 or name == "RateLimitError":
        return f"the model endpoint {where} is rate-limiting (429) after {tries}"
    if name in ("APITimeoutError", "TimeoutError") or "timed out" in str(exc).lower():
        return f"the model endpoint {where} did not answer within {s.timeout:g} s ({tries}); {TIMEOUT_SETTING}"
    if name == "APIConnectionError" or "connect" in str(exc).lower():
        return f"cannot reach the model endpoint {where}: {str(exc).splitlines()[0][:120]}"
    if status == 400 and _CONTEXT_OVERFLOW.search(str(exc)):
        return (f"the prompt does not fit the context of the model served at {where} ({status}): give a smaller "
                f"--budget (model.prompt_budget in .devops-agent.yaml; the default is 12000 tokens), or serve the "
                f"model with a larger context (llama.cpp: --n_ctx 8192; Ollama: num_ctx)")
    if status:
        return f"the model endpoint {where} answered {status}: {str(exc).splitlines()[0][:120]}"
    return f"the model call failed: {name}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
