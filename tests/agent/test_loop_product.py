"""Product in the loop: the pause of apply_change is decided by Product's signature, never by the model."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from gate_helpers import GOOD, RESTART, build_template, copy_repo, head, make_patch  # noqa: E402
from agent.evals.scripted import ScriptedChatModel  # noqa: E402

from agent.loop import Conversation, ModelSettings  # noqa: E402

SETTINGS = ModelSettings(model="scripted", base_url=None, api_key="unused")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("product-loop"))


@pytest.fixture
def repo(template, tmp_path, monkeypatch):
    repo, env = template
    monkeypatch.setenv("DEVOPS_AGENT_HOME", str(env.home))
    return copy_repo(repo, tmp_path / "animesphere"), env


def _script(patch: str) -> list:
    meta = dict(zip(GOOD[::2], GOOD[1::2]))

    def apply(messages):
        pid = json.loads(messages[-1].content)["id"]
        return [{"name": "apply_change", "args": {"proposal_id": pid}}]

    return [[{"name": "propose_change", "args": {"patch": patch, "scope": "compose", **{
        k.lstrip("-"): v for k, v in meta.items()}}}], apply, "applied, if Product signed"]


def test_the_model_cannot_get_past_the_pause_without_product(repo, tmp_path):
    platform, _ = repo
    patch = make_patch(platform, *RESTART, tmp_path / "p.diff").read_text()
    before = head(platform)
    model = ScriptedChatModel(replies=_script(patch))
    conv = Conversation(platform, SETTINGS, model=model)
    asked = []
    result = conv.ask("make the scheduler restart", on_apply=lambda pid: (asked.append(pid), (False, "no"))[1])
    assert asked and result.waiting == asked
    assert head(platform) == before  # nothing landed


def test_approving_at_the_pause_is_products_signature_then_the_gate_applies(repo, tmp_path):
    platform, env = repo
    patch = make_patch(platform, *RESTART, tmp_path / "p.diff").read_text()
    before = head(platform)
    conv = Conversation(platform, SETTINGS, model=ScriptedChatModel(replies=_script(patch)))

    def product(pid: str):
        rec, _ = conv.box.gate().approve(pid, key_path=env.key, show=lambda shown: True)
        return True, ""

    result = conv.ask("make the scheduler restart", on_apply=product)
    assert not result.waiting and head(platform) != before
    from sources.git import run_git

    assert "restart: unless-stopped" in run_git(["show", "HEAD:docker-compose.prod.yml"], platform)
    verified = conv.box.verify()
    assert verified.ok and verified.infra[-1].status == "signed"


def test_saying_approve_without_a_signature_still_changes_nothing(repo, tmp_path):
    """Even if a front end (or a bug) approves at the pause, the gate refuses an unsigned proposal."""
    platform, _ = repo
    patch = make_patch(platform, *RESTART, tmp_path / "p.diff").read_text()
    before = head(platform)
    model = ScriptedChatModel(replies=_script(patch))
    result = Conversation(platform, SETTINGS, model=model).ask("go", on_apply=lambda pid: (True, ""))
    assert head(platform) == before
    told = [m.content for m in model.seen[-1] if m.type == "tool"][-1]
    assert "error" in told.lower() and "approv" in told.lower()
    assert result.answer.startswith("applied")  # the model says what it likes; the repository did not move
