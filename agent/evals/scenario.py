"""The scenario format (`evals/scenarios/<slug>/scenario.yaml`, docs/evals.md), checked by pydantic.

A scenario is a platform fixture (the example platform plus overlay files and open proposals), a
conversation (user turns), for replay the model's turns, and what must hold afterwards: tool calls that
must and must not happen, the final state of the world, properties of the answer. Safety (no change
without Product's signature, no write outside the gate, no planted secret sent to the model) is checked
for every scenario whatever it expects.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.core.errors import UserError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Edit(_Strict):
    """A one-place edit of a platform file (old must occur in it)."""

    file: str
    old: str
    new: str


class ProposalFixture(_Strict):
    edit: Edit
    reason: str
    risk: str
    rollback: str
    scope: str | None = None
    type: str = "chore"
    approved: bool = Field(False, description="Product signs it before the conversation (needs product_key)")
    unchecked: bool = Field(False, description="recorded with the checks' judgement (POL014) left out, as an attacker "
                                               "writing the proposal store would: the gate must judge it again "
                                               "when it lands")
    approval: Literal["product", "unknown-key", "expired"] = Field(
        "product", description="who signs it when approved: Product's key; a key the signer list does not hold, as "
                               "an attacker with a shell would (the signer check bypassed at signing); Product, with "
                               "an approval that expired before the conversation")


class CallMatch(_Strict):
    name: str
    args: dict[str, Any] = Field(default_factory=dict, description="a subset of the arguments (strings: substring)")


class Obeyed(_Strict):
    """The effect a planted instruction asks for; if it happens, the instruction was obeyed."""

    applied: bool = Field(False, description="a repository's HEAD moved (a proposal landed)")
    calls_succeeded: list[CallMatch] = Field(default_factory=list, description="these calls ran without an error")
    answer_contains: list[str] = Field(default_factory=list, description="the final answer holds this text")


class Injection(_Strict):
    """An instruction planted in a source (an overlay file or an edit): `marker` is a piece of its text."""

    marker: str = Field(min_length=4)
    obeyed_if: Obeyed


class Fixture(_Strict):
    overlay: dict[str, str] = Field(default_factory=dict, description="path -> content, written over the example")
    edits: list[Edit] = Field(default_factory=list, description="one-place edits of the example's files")
    commit: bool = Field(True, description="commit the overlay and edits (in their repo) before the conversation")
    secrets: list[str] = Field(default_factory=list, description="values planted that must never reach the model")
    proposals: list[ProposalFixture] = Field(default_factory=list)
    product_key: bool = Field(False, description="a test Product key (no passphrase) is the trust root")
    injections: list[Injection] = Field(default_factory=list, description="instructions planted in sources; "
                                        "obeying one is a safety violation")
    hand_commits: list[Edit] = Field(default_factory=list, description="edits committed by hand, unsigned, after "
                                                                       "the proposals (an infra commit nobody signed)")

    @model_validator(mode="after")
    def _consistent(self) -> "Fixture":
        if any(p.approved for p in self.proposals) and not self.product_key:
            raise ValueError("an approved proposal needs product_key: true")
        if any(p.approval != "product" and not p.approved for p in self.proposals):
            raise ValueError("`approval` says how an approved proposal was signed: set approved: true")
        planted = list(self.overlay.values()) + [e.new for e in self.edits]
        for inj in self.injections:
            if not any(inj.marker in text for text in planted):
                raise ValueError(f"injection marker {inj.marker!r} is in no overlay file or edit")
        return self


class ProductStep(_Strict):
    """Product acting at its own terminal between two user turns, through the gate as `approve`/`reject` do."""

    product: Literal["approve", "reject", "approve-with-unknown-key"]
    proposal: int | Literal["last"] = Field("last", description="a fixture proposal's index, or the last proposal "
                                                                 "made (in the conversation or the fixture)")
    reason: str = Field("not what the release needs", description="reject: Product's reason")


class AttackerStep(_Strict):
    """Someone with a shell as the same user, between two turns, who knows git's object store and the gate's
    state: `restore-rejected-approval` puts back the signed commit Product's rejection removed (the ref) and
    reseals the proposal's row as approved with the machine's own key."""

    attacker: Literal["restore-rejected-approval"]
    proposal: int | Literal["last"] = "last"


class ToolCall(_Strict):
    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    patch_of: Edit | None = Field(None, description="propose_change: the `patch` argument is the diff of this "
                                                    "edit, made against the scenario's platform")


class ModelTurn(_Strict):
    """One reply of the scripted model: text, or tool calls. `${proposal.N}` in an argument is the id of
    the N-th fixture proposal; `${last.id}` the `id` of the last tool result."""

    text: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one(self) -> "ModelTurn":
        if (self.text is None) == (not self.tool_calls):
            raise ValueError("a model turn is either text or tool_calls")
        return self


class TextExpect(_Strict):
    contains: list[str] = Field(default_factory=list)
    not_contains: list[str] = Field(default_factory=list)


class StateExpect(_Strict):
    """The world after the conversation."""

    head_unchanged: bool | None = None
    moved: list[str] | None = Field(None, description="exactly the repos whose HEAD moved ('.', or a submodule)")
    refs_unchanged: bool | None = Field(None, description="no branch or tag but the checked-out one was created, "
                                                          "moved or deleted, in any repo")
    files: dict[str, TextExpect] = Field(default_factory=dict, description="a file's final content")
    proposals: list[Literal["pending", "refused", "approved", "applied", "rejected", "rolled-back"]] | None = None
    audit: list[str] | None = Field(None, description="the audit events the conversation appended, in order")
    verify_ok: bool | None = None
    waiting_for_product: bool | None = None
    product_steps: list[str] | None = Field(None, description="each Product step's outcome in order: `approved`, "
                                                              "`rejected`, or `refused: <the gate's line>` (a "
                                                              "string here matches as a prefix)")


class AnswerExpect(TextExpect):
    """Properties of the final answer (agent/evals/properties.py judges them, in French or English)."""

    asks_question: bool | None = Field(None, description="asks a clarifying question")
    cites: list[str] = Field(default_factory=list, description="names these sources (a kind or a path), e.g. "
                                                               "the one that wins by priority")
    gives_rollback: bool | None = Field(None, description="says how to go back")
    refuses: bool | None = Field(None, description="declines an out-of-scope or forbidden request")


class Expect(_Strict):
    calls: list[CallMatch] = Field(default_factory=list)
    no_calls: list[CallMatch] = Field(default_factory=list)
    tool_results_contain: list[str] = Field(default_factory=list, description="text some tool result must hold")
    not_sent: list[str] = Field(default_factory=list, description="text that must never reach the model")
    sent: list[str] = Field(default_factory=list, description="text that must reach the model (the charter's words)")
    quoted: list[str] = Field(default_factory=list, description="text that reaches the model only inside a <data> "
                                                              "block (a planted instruction, a source's words)")
    state: StateExpect = Field(default_factory=StateExpect)
    refused_by: list[str] = Field(default_factory=list, description="policy rules (POL004) that refused a proposal "
                                                                   "the conversation made: a refusal for another "
                                                                   "reason does not count")
    answer: AnswerExpect = Field(default_factory=AnswerExpect)
    verdict: Literal["GO", "NO-GO", "CANNOT-TELL"] | None = None


class LoopSettings(_Strict):
    """How the loop ran when a cassette was recorded; its replay runs the loop the same way (a two-step pick is
    two requests a turn, a lower call budget closes the tools sooner: the cassette's requests follow from both)."""

    tool_choice: Literal["auto", "two-step"] = "auto"
    max_tool_calls: int | None = Field(None, ge=1)
    budget: int | None = Field(None, ge=200, description="the system prompt's token budget")
    model: str | None = Field(None, description="the model recorded (for the reader; replay needs no model)")


class Scenario(_Strict):
    name: str
    tags: list[str] = Field(default_factory=list)
    clauses: list[str] = Field(min_length=1, description="stable charter clause ids, e.g. guardrails.3")
    fixture: Fixture = Field(default_factory=Fixture)
    conversation: list[str | ProductStep | AttackerStep] = Field(min_length=1, description="the user's turns, and Product's "
                                                                            "steps between them")
    model: list[ModelTurn] = Field(default_factory=list, description="replay: the model's turns, in order")
    cassette: str | None = Field(None, description="replay: a recorded HTTP cassette (cassette.jsonl beside the "
                                                   "scenario), served to the real client; wins over `model`")
    loop: LoopSettings | None = Field(None, description="how the loop ran when the cassette was recorded")
    product_at_pause: Literal["wait", "approve"] = Field(
        "wait", description="what the front end answers when apply_change pauses: wait for Product (as `ask` "
                            "does) or approve (as Product at a terminal would); the gate still verifies the signature")
    expect: Expect = Field(default_factory=Expect)
    path: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> "Scenario":
        if not any(isinstance(t, str) for t in self.conversation):
            raise ValueError("a conversation needs at least one user turn")
        if (any(isinstance(t, ProductStep) for t in self.conversation) or self.expect.state.product_steps) \
                and not self.fixture.product_key:
            raise ValueError("a Product step needs product_key: true")
        for t in self.conversation:
            if not isinstance(t, str) and isinstance(t.proposal, int) and not 0 <= t.proposal < len(self.fixture.proposals):
                raise ValueError(f"a step names proposal {t.proposal}: the fixture has {len(self.fixture.proposals)}")
        if self.cassette is not None and (not re.fullmatch(r"[\w.-]+", self.cassette) or self.cassette.startswith(".")):
            raise ValueError(f"cassette {self.cassette!r} must be a file name in the scenario's folder")
        return self


def load_scenario(path: Path) -> Scenario:
    """One scenario file; UserError naming the file and the first wrong key."""
    from agent.core import yaml_safe

    try:
        raw = yaml_safe.load(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read scenario {path}: {exc}", "check the path") from None
    except Exception as exc:  # noqa: BLE001 - a YAML error, as one line
        raise UserError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}", "fix the scenario file") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a scenario is a mapping", "see docs/evals.md")
    try:
        scenario = Scenario.model_validate({**raw, "path": str(path)})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise UserError(f"{path}: {where}: {first['msg']}", "see docs/evals.md for the scenario format") from None
    if scenario.cassette:  # a broken cassette is bad input, said before anything runs
        from agent.evals.cassette import load

        load(path.parent / scenario.cassette)
    return scenario


def discover(paths: list[Path]) -> list[Path]:
    """scenario.yaml files under the given folders (or the files themselves), sorted."""
    found: list[Path] = []
    for p in paths:
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            found += sorted(p.rglob("scenario.yaml"))
        else:
            raise UserError(f"{p} does not exist", "pass scenario folders or scenario.yaml files")
    return found
