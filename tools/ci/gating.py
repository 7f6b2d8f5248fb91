"""Whether a job waits for the tests: what it needs (transitively), the reusable workflows it calls, its own steps.

A job "tests" when it is named for the tests, or one of its steps runs a test suite (`runs_tests` on the script, or
a step named for tests), or it calls a reusable workflow of the repository that does. A job is gated by the tests
when it or a job it needs does; a workflow started by `workflow_run` runs after another workflow finished, and
counts as gated.
"""
from __future__ import annotations

import posixpath
import re

from tools.ci.model import Job, Workflow
from tools.facts.shell import runs_tests

# A linter or type checker run, or a step or job named for one: what a publish waits for when a repository has no
# test suite in CI.
_LINT_RUN = re.compile(r"\b(?:eslint|ruff|flake8|pylint|rubocop|golangci-lint|hadolint|shellcheck|stylelint|mypy|"
                       r"phpstan|psalm|clippy|tsc)\b|\b(?:npm|pnpm|yarn|bun)\s+(?:run\s+)?(?:lint|typecheck|type-check)\b|"
                       r"\bmake\s+lint\b|\bname:[^\n]*\b(?:[Ll]int(?:s|ing|er)?|[Tt]ype-?check)\b")


def _runs(text: str | None, lint: bool) -> bool:
    return runs_tests(text) or (lint and bool(_LINT_RUN.search(text or "")))

# Events on which an image pushed becomes what users pull: a push (branch or tag), a published release, and a
# release made by hand (a `workflow_dispatch` that pushes the release's tags).
PUBLISH_EVENTS = ("push", "release", "workflow_dispatch")


def _local_workflow(uses: str, workflows: dict[str, Workflow]) -> Workflow | None:
    """The repository's own workflow a job calls (`uses: ./.github/workflows/test.yml`), if loaded."""
    if not uses.startswith("./"):
        return None
    return workflows.get(posixpath.normpath(uses[2:]))


def job_tests(wf: Workflow, job: Job, workflows: dict[str, Workflow], _seen: frozenset = frozenset(),
              lint: bool = False) -> bool:
    """The job runs a test suite itself (or, with `lint`, a linter or type checker), in a step or through a reusable
    workflow of the repository."""
    if job.uses is not None:
        called = _local_workflow(job.uses.action, workflows)
        if called is not None and called.rel_path not in _seen:
            return any(job_tests(called, j, workflows, _seen | {called.rel_path}, lint) for j in called.jobs.values())
        return _runs(f"name: {job.id} {job.name or ''}", lint)
    if job.steps and _runs(f"name: {job.id} {job.name or ''}", lint):
        return True  # a job named for the tests (`test-build`, `e2e`) whose steps build and check the image
    for step in job.steps:
        if _runs(step.run, lint) or (step.name and _runs(f"name: {step.name}", lint)):
            return True
    return False


def gated_by_tests(wf: Workflow, job_id: str, workflows: dict[str, Workflow], lint: bool = False) -> bool:
    """The job, or a job it needs (transitively), runs the tests (with `lint`, a linter counts); or the workflow runs
    after another one."""
    if "workflow_run" in wf.triggers:
        return True
    todo, seen = [job_id], set()
    while todo:
        jid = todo.pop()
        if jid in seen or jid not in wf.jobs:
            continue
        seen.add(jid)
        if job_tests(wf, wf.jobs[jid], workflows, lint=lint):
            return True
        todo.extend(wf.jobs[jid].needs)
    return False


def testing_jobs(workflows: dict[str, Workflow], lint: bool = False) -> list[tuple[str, str]]:
    """(workflow path, job id) of every job of the repository that runs a test suite (with `lint`, or a linter)."""
    return [(path, jid) for path, wf in workflows.items() if wf.ok
            for jid, job in wf.jobs.items() if job_tests(wf, job, workflows, lint=lint)]


def publish_events(wf: Workflow) -> list[str]:
    """The triggers of this workflow on which what it pushes reaches users: `push` (to a branch or a tag), `release`,
    `workflow_dispatch`."""
    return [event for event in PUBLISH_EVENTS if event in wf.triggers]
