"""Workflows checked against GitHub's schema and by actionlint."""
from __future__ import annotations

import logging
import json
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from tools.ci.model import ACTIONLINT_SKIPPED, ActionlintIssue, SchemaIssue, Workflow

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- schema, actionlint

@lru_cache(maxsize=1)
def _schema_validator():
    import jsonschema

    from tools.schemas import vendored_schema

    schema = vendored_schema("github-workflows.json")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema)


def _reduce_error(err) -> dict:
    best = _deepest(err)
    return {"path": list(best.absolute_path), "validator": best.validator, "message": best.message}


def validate_schema(raw: Any, workflow: Workflow | None = None) -> list[SchemaIssue]:
    """Validate against check-jsonschema's vendored GitHub workflow schema; lines come from `workflow` when given."""
    if isinstance(raw, dict) and True in raw and "on" not in raw:
        raw = {("on" if k is True else k): v for k, v in raw.items()}
    raw = _null_values_as_empty(_expression_strategies(_scalar_filters_as_lists(raw)))
    from tools.schemas import schema_errors

    issues = []
    for err in schema_errors("github-workflows.json", raw, _reduce_error, lambda schema: _schema_validator()):
        path = tuple(err["path"])
        extra = re.search(r"\('([^']+)' was unexpected\)", err["message"])
        if extra and err["validator"] == "additionalProperties":
            path = path + (extra.group(1),)
        line = None
        if workflow is not None:
            for n in range(len(path), -1, -1):
                line = workflow.line_of(*path[:n])
                if line:
                    break
        dotted = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        issues.append(SchemaIssue(dotted, _short(err["message"]), line))
    issues.sort(key=lambda i: (i.line or 0, i.path))
    return issues


_FILTERS = ("branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore", "types")


def _scalar_filters_as_lists(raw: Any) -> Any:
    """`branches: '**'`: GitHub takes a single string where the schema asks for a list (a filter of one
    pattern), so the schema is asked about the list it stands for."""
    on = raw.get("on") if isinstance(raw, dict) else None
    if not isinstance(on, dict) or not any(isinstance(ev, dict) and any(isinstance(ev.get(k), str) for k in _FILTERS)
                                           for ev in on.values()):
        return raw
    events = {name: ({k: ([v] if k in _FILTERS and isinstance(v, str) else v) for k, v in ev.items()}
                     if isinstance(ev, dict) else ev) for name, ev in on.items()}
    return {**raw, "on": events}


def _expression_strategies(raw: Any) -> Any:
    """`strategy: ${{ fromJSON(needs.init.outputs.strategy) }}`: GitHub evaluates the whole strategy at run time
    (the schema, written for a literal mapping, cannot judge it), so the schema is asked about a matrix computed so, which it allows."""
    jobs = raw.get("jobs") if isinstance(raw, dict) else None
    if not isinstance(jobs, dict) or not any(isinstance(j, dict) and _is_expression(j.get("strategy"))
                                             for j in jobs.values()):
        return raw
    return {**raw, "jobs": {name: ({**job, "strategy": {"matrix": job["strategy"]}} if isinstance(job, dict) and _is_expression(job.get("strategy"))
                                   else job) for name, job in jobs.items()}}


def _null_values_as_empty(raw: Any) -> Any:
    """`cache-to:` left empty under a step's `with:` (or a variable under `env:`): GitHub reads the null as an empty
    string, as it does for any input not given; the schema, which asks for a string, is asked about that string."""
    def blanked(mapping: Any) -> Any:
        return {k: ("" if v is None else v) for k, v in mapping.items()} if isinstance(mapping, dict) else mapping

    def inputs(node: Any) -> Any:  # a workflow, a job or a step: its own `with:` and `env:`
        return {k: blanked(v) if k in ("with", "env") else v for k, v in node.items()} if isinstance(node, dict) else node

    def job(node: Any) -> Any:
        node = inputs(node)
        if isinstance(node, dict) and isinstance(node.get("steps"), list):
            node = {**node, "steps": [inputs(step) for step in node["steps"]]}
        return node

    if not isinstance(raw, dict) or not isinstance(raw.get("jobs"), dict):
        return raw
    return {**inputs(raw), "jobs": {name: job(j) for name, j in raw["jobs"].items()}}


def _is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.strip().startswith("${{") and value.strip().endswith("}}")


def _deepest(err):
    # oneOf/anyOf errors say little; the deepest sub-error names the real problem.
    best = err
    while best.context:
        best = max(best.context, key=lambda e: len(e.absolute_path))
        if len(best.absolute_path) <= len(err.absolute_path) and not best.context:
            break
    return best if len(best.absolute_path) >= len(err.absolute_path) else err


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."


def run_actionlint(paths: list[Path]) -> list[ActionlintIssue] | None:
    """Run actionlint once over `paths` when it is on PATH; None (and a log line) when it is not."""
    exe = shutil.which("actionlint")
    if exe is None:
        log.info(ACTIONLINT_SKIPPED)
        return None
    if not paths:
        return []
    try:
        proc = subprocess.run([exe, "-format", "{{json .}}", *map(str, paths)], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [ActionlintIssue("", None, None, "actionlint", f"actionlint failed to run: {exc}")]
    try:
        items = json.loads(proc.stdout or "[]") or []
    except json.JSONDecodeError:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        return [ActionlintIssue("", None, None, "actionlint", msg[0] if msg else f"actionlint exited {proc.returncode}")]
    return [ActionlintIssue(i.get("filepath", ""), i.get("line"), i.get("column"), i.get("kind", ""), i.get("message", "")) for i in items]
