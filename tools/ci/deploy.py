"""Deploy steps: which job deploys, to which environment, and whether it can run."""
from __future__ import annotations

import re

from tools.ci.expr import evaluate, strip_expr
from tools.ci.metadata_action import case_context, run_cases, shell_commands
from tools.ci.model import DeployTarget, ENV_NAMES, Job, Workflow

# ---------------------------------------------------------------- deploys

_DEPLOY_CMDS = (
    ("compose", re.compile(r"\bdocker[ -]compose\b(?:(?!&&|;|\|).)*\bup\b")),
    ("compose", re.compile(r"\bdocker\s+stack\s+deploy\b")),
    ("ssh", re.compile(r"(?:^|[\s;&|(])ssh\s")),
    ("scp", re.compile(r"(?:^|[\s;&|(])scp\s")),
    ("rsync", re.compile(r"(?:^|[\s;&|(])rsync\s.*\S+@\S+:")),
    ("kubectl", re.compile(r"\bkubectl\s+(?:apply|create|replace|set|rollout|patch|delete|scale)\b")),
    ("helm", re.compile(r"\bhelm\s+(?:upgrade|install|rollback|uninstall)\b")),
)
_DEPLOY_ACTIONS = {
    "appleboy/ssh-action": "ssh-action",
    "appleboy/scp-action": "scp-action",
    "azure/k8s-deploy": "kubectl",
    "azure/webapps-deploy": "azure",
    "aws-actions/amazon-ecs-deploy-task-definition": "ecs",
    "google-github-actions/deploy-cloudrun": "cloudrun",
}
_DEPLOY_WORDS = re.compile(r"deploy|release|rollout|staging|production|\bprod\b", re.I)


def named_for_deploy(text: str | None) -> bool:
    """A job or step named for a deploy or a release (`deploy-prod`, `Release`)."""
    return bool(text and _DEPLOY_WORDS.search(text))


def _env_from_text(text: str | None) -> str | None:
    if not text:
        return None
    words = re.split(r"[^a-z0-9]+", text.lower())
    for name in ENV_NAMES:
        if name in words:
            return {"prod": "production", "stage": "staging", "development": "dev"}.get(name, name)
    return None


def _job_environment(job: Job) -> tuple[str | None, str | None]:
    if job.environment:
        return job.environment.name, "environment"
    for text, source in ((job.id, "job id"), (job.name, "job name")):
        env = _env_from_text(text)
        if env:
            return env, source
    return None, None


def reachable(wf: Workflow, condition: str | None, default_branch: str = "main") -> bool | None:
    """Whether some run the triggers allow can satisfy `condition` (None when it cannot be told)."""
    cases = run_cases(wf, None, default_branch)
    if not cases:
        return None if wf.triggers else False
    results = [evaluate(condition, case_context(c, default_branch)) for c in cases]
    other = [e for e in wf.triggers if e not in ("push", "pull_request", "pull_request_target", "schedule", "workflow_dispatch")]
    if any(r is True for r in results):
        return True
    if any(r is None for r in results) or other:
        return None
    return False


def deploy_targets(wf: Workflow, default_branch: str = "main") -> list[DeployTarget]:
    """Steps that deploy (compose up, ssh, kubectl, helm, deploy actions), or deploy jobs with no such step."""
    out: list[DeployTarget] = []
    for job in wf.jobs.values():
        env, env_source = _job_environment(job)
        found = False
        for step in job.steps:
            step_env, step_source = (env, env_source) if env else (_env_from_text(step.name), "step name" if _env_from_text(step.name) else None)
            cond = " && ".join(f"({strip_expr(c)})" for c in (job.if_, step.if_) if c) or None
            if job.if_ and not step.if_:
                cond = strip_expr(job.if_)
            if step.uses and step.uses.action.lower() in _DEPLOY_ACTIONS:
                script = str(step.with_.get("script") or "") or None
                out.append(DeployTarget(job.id, step_env, step_source, _DEPLOY_ACTIONS[step.uses.action.lower()], script, cond,
                                        wf.loc(step.line), step.label, _compose_files(script or "")))
                found = True
                continue
            if not step.run:
                continue
            for offset, cmd in shell_commands(step.run):
                for kind, rx in _DEPLOY_CMDS:
                    if rx.search(cmd):
                        line = (step.run_line + offset) if step.run_line else step.line
                        out.append(DeployTarget(job.id, step_env, step_source, kind, cmd, cond, wf.loc(line), step.label,
                                                _compose_files(cmd) if kind == "compose" else []))
                        found = True
                        break
        if not found and (job.environment or _DEPLOY_WORDS.search(job.id) or _DEPLOY_WORDS.search(job.name or "")):
            out.append(DeployTarget(job.id, env, env_source, "job", None, strip_expr(job.if_) if job.if_ else None, wf.loc(job.line)))
    for d in out:
        d.reachable = reachable(wf, d.condition, default_branch)
    return out


def _compose_files(cmd: str) -> list[str]:
    return re.findall(r"(?:-f|--file)[ =]+['\"]?([^\s'\"]+)", cmd)
