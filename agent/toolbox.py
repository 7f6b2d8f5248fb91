"""The catalogue's ToolContext bound to a platform: the session of the work tree (for reading), the
gate (for proposing and applying). Shared by the loop, the MCP server and the eval runner.

Nothing here can approve: `apply` lands only what Product signed, and the gate verifies it again.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from agent.core.errors import UserError


class Toolbox:
    def __init__(self, repo: Path, charter: Path | None = None, config: Path | None = None) -> None:
        from agent.session import resolve_repo

        self.root = resolve_repo(repo)
        self.charter = charter
        self.config = config
        self._sessions: dict[bool, Any] = {}
        self._gate = None

    def gate(self):
        if self._gate is None:
            from agent.gate import Gate

            self._gate = Gate(self.root)
        return self._gate

    def session(self, run_checks: bool = True):
        """The session of the work tree, opened once per conversation step (see `refresh`)."""
        if run_checks not in self._sessions:
            if not run_checks and True in self._sessions:
                return self._sessions[True]
            from agent.session import open_session

            self._sessions[run_checks] = open_session(self.root, charter=self.charter, config=self.config,
                                                      run_checks=run_checks)
        return self._sessions[run_checks]

    def refresh(self) -> None:
        """Forget the sessions: the next tool call reads the repo again (after a proposal or an apply)."""
        self._sessions.clear()

    def propose(self, patch: bytes, meta: dict) -> Any:
        from agent.gate.policy import ProposalMeta

        rec = self.gate().propose(patch, ProposalMeta(**meta))
        self.refresh()
        return rec

    def apply(self, proposal_id: str) -> Any:
        rec = self.gate().apply(proposal_id)
        self.refresh()
        return rec

    def proposal(self, proposal_id: str) -> Any:
        return self.gate().store.get_proposal(proposal_id)

    def proposals(self) -> list:
        return self.gate().store.list_proposals(None)

    def verify(self) -> Any:
        return self.gate().verify(None, None)

    def checklist(self, env: str | None) -> dict:
        import json
        from dataclasses import asdict

        from tools import deliverables

        gate = self.gate()
        checklist = deliverables.checklist(gate.session(run_checks=True, signatures=True), gate.store, env,
                                           gate.open_blocks())
        return json.loads(json.dumps(asdict(checklist), default=str))

    def redactor(self) -> Callable[[str], str]:
        """The session's redactor (agent/redact.py), for text a tool quotes from outside (engine logs)."""
        from agent.redact import for_session

        return for_session(self.session(run_checks=False))

    def yaml_sets(self, sets: list[str]) -> bytes:
        from tools.yaml_edit import apply_sets, parse_set

        text = apply_sets(self.root, [parse_set(s) for s in sets])
        return text.encode("utf-8") if isinstance(text, str) else text


@dataclass(frozen=True)
class Outcome:
    ok: bool
    text: str  # the result as JSON, or `error: ...`; redacted either way


# What one call may carry, as JSON: a patch at the default 2 MiB file cap with its escapes fits; a bigger call is
# refused before anything reads it (the redactor, the turn log, the gate).
MAX_CALL_BYTES = 5 * 512 * 1024


def oversized(name: str, arguments: dict | None) -> Outcome | None:
    """The error a call too big to carry gets, or None."""
    size = len(json.dumps(arguments or {}, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass"))
    if size <= MAX_CALL_BYTES:
        return None
    return Outcome(False, f"error: the arguments of {name} are {size:,} bytes, over the {MAX_CALL_BYTES:,}-byte cap of "
                          "one call (hint: split the change into smaller proposals, or read a source by line range)")


def run_tool(box: Toolbox, redact: Callable[[str], str], name: str, arguments: dict | None) -> Outcome:
    """One catalogue call as every front end answers it (the chat, the MCP server): the typed result as JSON
    or the error line, both through the session's redactor, so no front end formats or scrubs on its own."""
    from tools.catalog import tool

    refused = oversized(name, arguments)
    if refused is not None:
        return refused
    try:
        result = tool(name).call(box, arguments)
    except UserError as exc:
        return Outcome(False, redact(f"error: {exc.line()}"))
    return Outcome(True, redact(json.dumps(result.model_dump(), ensure_ascii=False, default=str)))
