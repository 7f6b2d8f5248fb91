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
    def __init__(self, repo: Path | None, charter: Path | None = None, config: Path | None = None) -> None:
        from agent.session import resolve_repo

        self.root = resolve_repo(repo)
        self.charter = charter
        self.config = config
        self._sessions: dict[bool, Any] = {}
        self._gate = None
        # (tool, arguments) -> (the redactor, the answer) of a tool that reads only the session (SESSION_READS):
        # redacted once per session state, forgotten with the sessions (`refresh`).
        self.answers: dict[tuple[str, str], tuple[Callable[[str], str], "Outcome"]] = {}

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
        self.answers.clear()

    def propose(self, meta: dict, patch: bytes | str | None = None, sets: list[str] | None = None) -> Any:
        """The one propose (the CLI, the catalogue's propose_change, the chat): a unified diff, or structured YAML
        edits (`FILE:KEY.PATH=VALUE`, comments and order kept) turned into one; the gate records it with its reason,
        risk and rollback and judges it once, here."""
        from agent.gate.policy import ProposalMeta

        if bool(patch) == bool(sets):
            raise UserError("give either a patch or YAML edits", "a patch is a unified diff; an edit is "
                                                                 "FILE:KEY.PATH=VALUE")
        rec = self.gate().propose(patch if patch else self.yaml_sets(list(sets or [])), ProposalMeta(**meta))
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

    def history(self, since: str | None, until: str | None) -> dict:
        """The one history (the CLI's `history`, the catalogue's, the MCP resource): each finding's life since a tag."""
        from agent.history import history

        return history(self.root, since=since, until=until).to_dict()

    def release_checklist(self, env: str | None = None) -> Any:
        """The one release checklist (the CLI's `release checklist`, the chat's /checklist, the catalogue): per
        service of the production environment, with the gate's signatures and open blocks."""
        from tools import deliverables

        gate = self.gate()
        return deliverables.checklist(gate.session(run_checks=True, signatures=True), gate.store, env,
                                      gate.open_blocks())

    def checklist(self, env: str | None) -> dict:
        from dataclasses import asdict

        return json.loads(json.dumps(asdict(self.release_checklist(env)), default=str))

    def proposal_view(self, rec: Any, approvals: bool = False) -> dict:
        """The one JSON shape of a proposal (agent/gate/store.py), with the commit Product signed, if any."""
        from agent.gate import commits
        from agent.gate.store import proposal_view

        gate = self.gate()
        return proposal_view(rec, gate.store.approvals(rec.id) if approvals else None,
                             commits.rev(self.root, commits.APPROVED_REF + rec.id))

    def known_values(self) -> dict[str, list[str]]:
        """What the runtime knows this session, by the kinds the catalogue marks (tools/catalog.py `_known`): the
        sources' paths, the environments, the services of every environment, what `dockerfile_diff` builds from
        (services, submodules, Dockerfiles), and the proposals still open (pending or signed). Every valid value is
        listed (for `read_source`, every source it can read): a schema that lists them never leaves a valid call
        out."""
        session = self.session(run_checks=False)
        platform = session.platform()
        services = sorted({name for env in platform.environments.values() for name in env.services})
        dockerfiles = sorted({s.path for s in session.sources if s.kind == "dockerfile"} | set(platform.dockerfiles))
        submodules = sorted(sub.path for sub in session.git.submodules)
        open_ids = [r.id for r in self.proposals() if r.status in ("pending", "approved")]
        return {"sources": [s.path for s in session.sources if s.ok and s.text is not None],
                "environments": sorted(platform.environments),
                "services": services, "build_targets": list(dict.fromkeys(services + submodules + dockerfiles)),
                "open_proposals": open_ids}

    def schemas(self) -> dict[str, dict]:
        """Each catalogue tool's argument schema for this session (tools/catalog.py `session_schema`); the
        catalogue's own when the session cannot tell its values."""
        from tools.catalog import CATALOG, session_schema

        try:
            known = self.known_values()
        except UserError:
            known = {}
        return {t.name: session_schema(t, known) for t in CATALOG}

    def redactor(self) -> Callable[[str], str]:
        """The session's redactor (agent/redact.py), for text a tool quotes from outside (engine logs)."""
        from agent.redact import for_session

        return for_session(self.session(run_checks=False))

    def yaml_sets(self, sets: list[str]) -> bytes:
        from tools.yaml_edit import apply_sets, parse_set

        text = apply_sets(self.root, [parse_set(s) for s in sets])
        return text.encode("utf-8") if isinstance(text, str) else text


OK, ERROR, WAITS_FOR_PRODUCT = "ok", "error", "waits_for_product"


@dataclass(frozen=True)
class Outcome:
    """One tool call's answer, as every front end gets it: `ok` (the typed result as JSON), `error` (one line
    saying what is wrong and what to do) or `waits_for_product` (an apply Product has not signed: not run, the line
    names Product's command). The text is quoted and redacted already."""

    status: str
    text: str

    @property
    def ok(self) -> bool:
        return self.status == OK


# What one call may carry, as JSON: a patch at the default 2 MiB file cap with its escapes fits; a bigger call is
# refused before anything reads it (the redactor, the turn log, the gate).
MAX_CALL_BYTES = 5 * 512 * 1024


def oversized(name: str, arguments: dict | None) -> Outcome | None:
    """The error a call too big to carry gets, or None."""
    size = len(json.dumps(arguments or {}, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass"))
    if size <= MAX_CALL_BYTES:
        return None
    return Outcome(ERROR, f"error: the arguments of {name} are {size:,} bytes, over the {MAX_CALL_BYTES:,}-byte cap "
                          "of one call (hint: split the change into smaller proposals, or read a source by line range)")


def pauses(name: str) -> bool:
    """Whether a tool waits for Product before it runs: the catalogue's `apply` kind, the one fact the loop's pause
    and the MCP server's answer both derive from."""
    from tools.catalog import CATALOG

    return any(t.name == name and t.kind == "apply" for t in CATALOG)


def waits_for_product(proposal_id: str) -> str:
    """What the model is told when an apply waits for Product (the chat's pause, the MCP server's answer)."""
    from agent.core import hints

    return (f"apply_change({proposal_id}) was not run: it waits for Product, who reads and signs the "
            f"proposal with `{hints.approve(proposal_id)}`, then `{hints.apply(proposal_id)}` lands it. "
            "You cannot approve it.")


# The tools whose answer is a function of the session and the arguments only (no git ref, no engine, no gate store):
# an answer is kept until the session is reopened (a source changed, a proposal, an apply).
SESSION_READS = frozenset({"sources", "read_source", "compose_view", "ci_view", "review"})


def run_tool(box: Toolbox, redact: Callable[[str], str], name: str, arguments: dict | None,
             log: Callable[[str, str, str, float | None], None] | None = None, shown: str | None = None) -> Outcome:
    """One catalogue call as every front end answers it (the chat, the MCP server, the eval runner): refused when
    too big to carry; `waits_for_product` for an apply of a proposal Product has not signed (never run); the typed
    result as JSON with a source's text quoted as data (agent/prompt.py), or the error line; both through the
    session's redactor, so no front end formats, quotes or scrubs on its own. `log(kind, name, text, latency_ms)`
    records the call and its outcome in the turn log (the MCP server's; the chat's loop logs at the model's layer,
    where it also sees arguments the catalogue's models refuse); `shown`: the arguments already redacted for it."""
    import time

    from tools.catalog import tool

    started = time.monotonic()
    refused = oversized(name, arguments)
    if log is not None:  # an oversized call is logged by its size only: nothing reads its arguments
        log("tool_call", name, refused.text if refused else shown if shown is not None else redact(
            json.dumps(arguments or {}, ensure_ascii=False, default=str)), None)
    out = refused or _waiting(box, redact, name, arguments)
    key = (name, json.dumps(arguments or {}, sort_keys=True, default=str)) if name in SESSION_READS else None
    if out is None and key is not None and key in box.answers and box.answers[key][0] is redact:
        out = box.answers[key][1]  # the same session, the same question: its answer, redacted once
    if out is None:
        try:
            result = tool(name).call(box, arguments)
        except UserError as exc:
            out = Outcome(ERROR, redact(f"error: {exc.line()}"))
        else:
            data = result.model_dump()
            if name == "read_source":
                data["text"] = _quoted_source(data)
            out = Outcome(OK, redact(json.dumps(data, ensure_ascii=False, default=str)))
            if key is not None:
                box.answers[key] = (redact, out)
    if log is not None:
        log("tool_result" if out.ok else "tool_error", name, out.text, (time.monotonic() - started) * 1000)
    return out


def _waiting(box: Toolbox, redact: Callable[[str], str], name: str, arguments: dict | None) -> Outcome | None:
    """An apply of a proposal still pending (Product has not signed it): not run, whatever the front end. A signed
    one goes to the gate, which verifies the signature again; an unknown id gets the gate's own error."""
    pid = (arguments or {}).get("proposal_id")
    if not pauses(name) or not isinstance(pid, str):
        return None
    try:
        rec = box.proposal(pid)
    except UserError:
        return None
    if rec.status != "pending":
        return None
    return Outcome(WAITS_FOR_PRODUCT, redact(f"error: {waits_for_product(pid)}"))


def _quoted_source(data: dict) -> str:
    """read_source's text quoted as data, with its provenance, for every front end's model."""
    from agent.prompt import quoted

    return quoted(f"{data['kind']} {data['path']} lines {data['start_line']}-{data['end_line']} {data['provenance']}",
                  data["text"], data["priority"])
