"""What an OpenAI-compatible server serves, asked before the first turn: the model's name (when the user gave none)
and the context one request may fill, so the prompt fits it (../shared/API-NOTES.md, f).

- every server: `GET /v1/models` lists the models (`data[].id`); vLLM adds `max_model_len`, llama.cpp's
  llama-server `meta.n_ctx_train` (what the model was trained for, not what the server gives);
- llama.cpp's llama-server: `GET /props` holds `default_generation_settings.n_ctx`, the context it serves;
- Ollama: `POST /api/show {"model": name}` holds `parameters` (`num_ctx N` when set) and the model's
  `*.context_length`; without num_ctx Ollama serves its own default, which this does not guess.
llama-cpp-python's server says neither: the context is then unknown and an overflow is the one line the loop
prints. Each question is bounded in wall-clock time; a server that does not answer leaves the defaults."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from agent.core.deadline import Overdue, within

PROBE_SECONDS = 3.0


@dataclass(frozen=True)
class ServerFacts:
    models: tuple[str, ...] = ()
    context: int | None = None  # tokens one request may hold (prompt and answer)
    where: str = ""  # the endpoint that said what the context is


class _Slow(Exception):
    """The server did not answer a question in its budget: ask it nothing more (the turn's own call will say)."""


def _get(url: str, key: str, body: dict | None = None, seconds: float = PROBE_SECONDS) -> dict | None:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})

    def fetch() -> dict | None:
        with urllib.request.urlopen(request, timeout=seconds) as response:  # noqa: S310 - the user's URL
            data = json.loads(response.read(1_000_000) or b"null")
            return data if isinstance(data, dict) else None
    try:
        return within(seconds, fetch)
    except Overdue:
        raise _Slow from None
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _positive(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def probe(base_url: str, api_key: str, model: str | None = None, seconds: float = PROBE_SECONDS) -> ServerFacts:
    """Ask the server at `base_url` (`http://host:port/v1`) what it serves; empty facts when it does not say, or
    does not answer a question within `seconds` (then nothing more is asked)."""
    try:
        return _probe(base_url, api_key, model, seconds)
    except _Slow:
        return ServerFacts()


def _probe(base_url: str, api_key: str, model: str | None, seconds: float) -> ServerFacts:
    base = base_url.rstrip("/")
    root = base[: -len("/v1")] if base.endswith("/v1") else base
    listed = _get(f"{base}/models", api_key, seconds=seconds) or {}
    entries = [e for e in listed.get("data") or [] if isinstance(e, dict) and isinstance(e.get("id"), str)]
    models = tuple(e["id"] for e in entries)
    chosen = next((e for e in entries if e["id"] == model), entries[0] if entries else {})
    if (n := _positive(chosen.get("max_model_len"))) is not None:
        return ServerFacts(models, n, f"{base}/models (max_model_len)")
    props = _get(f"{root}/props", api_key, seconds=seconds) or {}
    n = _positive((props.get("default_generation_settings") or {}).get("n_ctx")) or _positive(props.get("n_ctx"))
    if n is not None:
        return ServerFacts(models, n, f"{root}/props (n_ctx)")
    name = model if model in models else (models[0] if models else None)
    if name:  # only a server that listed its models is asked by POST (a chat endpoint must not take it for a turn)
        shown = _get(f"{root}/api/show", api_key, {"model": name}, seconds) or {}
        for line in str(shown.get("parameters") or "").splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "num_ctx" and words[1].isdigit():
                return ServerFacts(models, int(words[1]), f"{root}/api/show (num_ctx)")
    return ServerFacts(models)


# What a request holds besides the system prompt: the tools' schemas (counted), the answer (the cap, else this),
# and the turn's own messages and tool results.
ANSWER_RESERVE = 1024
TURN_RESERVE = 1536
MIN_BUDGET = 500


def fitted_budget(context: int, tools_tokens: int, answer_cap: int | None, wanted: int) -> int | None:
    """The system prompt's budget that leaves room in `context` for the tools, the answer and the turn; None when
    even the smallest prompt cannot fit."""
    room = context - tools_tokens - (answer_cap or ANSWER_RESERVE) - TURN_RESERVE
    return min(wanted, room) if room >= MIN_BUDGET else None
