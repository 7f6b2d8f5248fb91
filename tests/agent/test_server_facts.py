"""Issue 22, 1: the runtime asks a local server what it serves before the first turn: the model when none was
named, and the context the prompt must fit (llama.cpp's /props, vLLM's max_model_len, Ollama's num_ctx)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_openai import FakeOpenAI  # noqa: E402
from loop_fixtures import repo, template  # noqa: E402,F401  (fixtures)

from agent.core.errors import UserError  # noqa: E402
from agent.loop import Conversation, ModelSettings  # noqa: E402
from agent.server import probe  # noqa: E402

MODELS = {"object": "list", "data": [{"id": "qwen2.5-coder-1.5b", "object": "model"}]}


def _settings(fake: FakeOpenAI, **kw) -> ModelSettings:
    env = {"OPENAI_BASE_URL": fake.url, **kw}
    return ModelSettings.resolve(env=env)


def test_each_server_kind_says_its_context():
    with FakeOpenAI([], {"/v1/models": MODELS, "/props": {"default_generation_settings": {"n_ctx": 4096}}}) as fake:
        facts = probe(fake.url, "k")
    assert (facts.models, facts.context, facts.where.endswith("/props (n_ctx)")) == (("qwen2.5-coder-1.5b",), 4096, True)
    vllm = {"data": [{"id": "m", "max_model_len": 32768}]}
    with FakeOpenAI([], {"/v1/models": vllm}) as fake:
        assert probe(fake.url, "k").context == 32768
    with FakeOpenAI([], {"/v1/models": MODELS, "/api/show": {"parameters": "num_ctx 8192\nstop \"<|im_end|>\""}}) as fake:
        assert probe(fake.url, "k").context == 8192
    with FakeOpenAI([]) as fake:  # llama-cpp-python: neither; a chat reply is never spent on the question
        assert probe(fake.url, "k").context is None and fake.requests == []


def test_the_servers_model_is_taken_when_none_is_named_and_the_prompt_fits_its_context(repo):
    pages = {"/v1/models": MODELS, "/props": {"default_generation_settings": {"n_ctx": 8192}}}
    with FakeOpenAI([{"content": "ok"}], pages) as fake:
        conv = Conversation(repo, _settings(fake))
        result = conv.ask("verdict?")
    body = fake.requests[0]
    assert body["model"] == "qwen2.5-coder-1.5b"
    from agent import prompt

    assert prompt.count_tokens(body["messages"][0]["content"]) < 8192 - 1024 - 1536
    assert result.answer == "ok"
    logged = [e["content"] for e in conv.log.entries(conv.thread) if e["kind"] == "runtime"]
    assert any("qwen2.5-coder-1.5b" in t for t in logged) and any("prompt budget" in t for t in logged)
    # a model named by the user stays; the budget still fits
    with FakeOpenAI([{"content": "ok"}], pages) as fake:
        Conversation(repo, _settings(fake, DEVOPS_AGENT_MODEL="mine")).ask("verdict?")
    assert fake.requests[0]["model"] == "mine"


def test_a_context_too_small_for_the_tools_is_one_line_naming_the_setting(repo):
    pages = {"/v1/models": MODELS, "/props": {"default_generation_settings": {"n_ctx": 2048}}}
    with FakeOpenAI([{"content": "never"}], pages) as fake, pytest.raises(UserError) as err:
        Conversation(repo, _settings(fake))
    line = str(err.value)
    assert "context of 2048 tokens" in line and "-c 8192" in line and "\n" not in line
    assert fake.requests == []
