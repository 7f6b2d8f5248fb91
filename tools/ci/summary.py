"""One workflow summed up as a dict: what the tool returns to the model."""
from __future__ import annotations

from typing import Any

from tools.ci.deploy import deploy_targets
from tools.ci.expr import branch_facts, secrets_used
from tools.ci.load import as_str
from tools.ci.metadata_action import built_images
from tools.ci.model import ActionRef, TagPattern, Workflow
from tools.ci.schema import validate_schema
from tools.findings import Location

# ---------------------------------------------------------------- summary

def _loc(loc: Location) -> dict:
    return {"path": loc.path, "line": loc.line}


def _tp(p: TagPattern) -> dict:
    return {"pattern": p.pattern, "regex": p.regex, "applies_when": p.applies_when, "event": p.event, "branch": p.branch, "rule": p.rule}


def _uses(u: ActionRef | None) -> dict | None:
    return None if u is None else {"raw": u.raw, "kind": u.kind, "action": u.action, "ref": u.ref, "pinned": u.pinned}


def summary(workflow: Workflow, repository: str | None = None, default_branch: str = "main", validate: bool = True) -> dict:
    """Everything the model knows about one workflow, as JSON-ready data with stable keys."""
    wf = workflow
    data: dict[str, Any] = {
        "path": wf.rel_path,
        "name": wf.name,
        "ok": wf.ok,
        "errors": [{"message": e.message, "line": e.line, "column": e.column} for e in wf.errors],
        "triggers": {},
        "env": {},
        "jobs": [],
        "images": [],
        "deploys": [],
        "secrets": [],
        "branches": [],
        "unpinned_actions": [],
        "schema_issues": [],
    }
    if wf.raw is None or not isinstance(wf.raw, dict):
        return data
    data["env"] = {str(k): as_str(v) for k, v in wf.env.items()}
    for ev, t in wf.triggers.items():
        data["triggers"][ev] = {
            "branches": t.branches, "branches_ignore": t.branches_ignore, "tags": t.tags, "tags_ignore": t.tags_ignore,
            "paths": t.paths, "paths_ignore": t.paths_ignore, "types": t.types, "crons": t.crons, "line": t.line,
        }
    for job in wf.jobs.values():
        data["jobs"].append({
            "id": job.id, "name": job.name, "if": job.if_, "needs": job.needs, "runs_on": job.runs_on,
            "environment": None if job.environment is None else {"name": job.environment.name, "url": job.environment.url},
            "permissions": job.permissions, "env": {str(k): as_str(v) for k, v in job.env.items()}, "line": job.line,
            "uses": _uses(job.uses),
            "steps": [{"index": s.index, "name": s.name, "id": s.id, "uses": _uses(s.uses), "run": s.run, "if": s.if_,
                       "with": {str(k): as_str(v) for k, v in s.with_.items()}, "env": {str(k): as_str(v) for k, v in s.env.items()},
                       "line": s.line} for s in job.steps],
        })
        for s in job.steps:
            if s.uses and s.uses.kind == "action" and not s.uses.pinned:
                data["unpinned_actions"].append({"job": job.id, "step": s.label, "uses": s.uses.raw, "line": s.line})
    for img in built_images(wf, repository, default_branch=default_branch):
        data["images"].append({
            "name": img.name, "tag_patterns": [_tp(p) for p in img.tag_patterns], "context": img.context,
            "dockerfile": img.dockerfile, "pushed": img.pushed, "push_condition": img.push_condition,
            "platforms": img.platforms, "job": img.job, "step": img.step, "source": img.source, "location": _loc(img.location),
        })
    for d in deploy_targets(wf, default_branch):
        data["deploys"].append({
            "job": d.job, "step": d.step, "environment": d.environment, "environment_source": d.environment_source,
            "kind": d.kind, "command": d.command, "condition": d.condition, "reachable": d.reachable,
            "compose_files": d.compose_files,
            "location": _loc(d.location),
        })
    data["secrets"] = [{"kind": s.kind, "name": s.name, "job": s.job, "step": s.step, "location": _loc(s.location)} for s in secrets_used(wf)]
    data["branches"] = [{"branch": b.branch, "source": b.source, "detail": b.detail, "negated": b.negated, "job": b.job,
                         "location": _loc(b.location)} for b in branch_facts(wf)]
    if validate:
        data["schema_issues"] = [{"path": i.path, "message": i.message, "line": i.line} for i in validate_schema(wf.raw, wf)]
    return data
