"""Checks over the GitHub Actions workflows: parse and schema, staging, branches, pins, deploys, pushes, secrets."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from tools import ci as ci_tool
from tools.checks.charter_checks import allowing_intentions
from tools.facts import STAGING_WORDS
from tools.facts import is_staging_name as is_staging
from tools.checks.registry import check
from tools.findings import Location
from tools.platform import Platform
from tools.facts import secrets as secret_facts
from tools.ci.gating import gated_by_tests, publish_events, testing_jobs
from tools.facts.shell import program_of, runs_tests, split_shell, split_words

NO_STAGING = ("guardrails", "Pas de staging")
MAIN_ONLY = ("work_rules", "tout est sur `main`")
MANUAL_DEPLOY = ("responsibilities", "deploiement manuel sur serveur")
CI_COHERENCE = ("responsibilities", "pipelines CI/CD")
SECURITY_RISK = ("authority", "sécurité")
MAIN = "main"
_DEPLOY_HINT = re.compile(r"deploy|release|rollout|staging|production|\bprod\b", re.I)
_DEPLOY_VERB = re.compile(r"deploy|rollout|release|promote", re.I)
_REMOTE_ENGINE = re.compile(r"(?:^|\s)(?:-H|--host|--context)[ =]|DOCKER_HOST=")
_ECHO = re.compile(r"^(?:echo|printf)\b")
_SECRET_EXPR = re.compile(r"\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SHELL_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def _shell_commands(script: str) -> list[tuple[int, str]]:
    """(line offset, command) of a run script, as tools.ci splits it."""
    return ci_tool.shell_commands(script)


def _platform(ctx) -> Platform:
    return ctx.models["platform"]


def _workflows(ctx):
    for path, wf in _platform(ctx).workflows.items():
        if wf.ok:
            yield path, wf


# -- CI001 / CI002 ---------------------------------------------------------------------------

@check("CI001", "Workflow does not parse", "high", "infra-regression", CI_COHERENCE,
       "Fix the YAML at that line and column: GitHub ignores a workflow it cannot read.")
def workflow_parse_error(ctx, spec):
    for src in ctx.sources:
        if src.kind == "ci_workflow" and src.status == "parse-error":
            col = f", column {src.column}" if src.column else ""
            yield spec.finding(ctx, f"{src.path}: line {src.line}{col}: {src.message}", [Location(src.path, src.line)],
                               detail="the CI checks could not run on this workflow")
    for path, wf in _platform(ctx).workflows.items():
        for err in wf.errors:
            col = f", column {err.column}" if err.column else ""
            yield spec.finding(ctx, f"{path}: line {err.line}{col}: {err.message}" if err.line else f"{path}: {err.message}",
                               [Location(path, err.line)])


@check("CI002", "Workflow violates the GitHub workflow schema", "high", "infra-regression", CI_COHERENCE,
       "Fix the key named (the schema is the one GitHub's editor uses); GitHub rejects the run otherwise.")
def workflow_schema(ctx, spec):
    for path, wf in _workflows(ctx):
        for issue in ci_tool.validate_schema(_as_github_reads(wf.raw), wf):
            yield spec.finding(ctx, f"{path}: {issue.path}: {issue.message}", [Location(path, issue.line)])


_FILTERS = ("branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore")


def _as_github_reads(raw):
    """The workflow with what GitHub accepts but the schema refuses left out: empty trigger filters (`branches:`
    and nothing under it: as its docs say of a filter not defined, the event runs for every branch and tag), an
    empty `needs: []` (a job that waits for nothing), and a `strategy:` of `fail-fast`/`max-parallel` with no
    matrix (GitHub runs the job once)."""
    if not isinstance(raw, dict):
        return raw
    out = dict(raw)
    key = "on" if "on" in raw else (True if True in raw else None)
    triggers = raw.get(key) if key is not None else None
    if isinstance(triggers, dict):
        out[key] = {event: ({k: v for k, v in body.items() if not (k in _FILTERS and v is None)}
                            if isinstance(body, dict) else body) for event, body in triggers.items()}
    jobs = raw.get("jobs")
    if isinstance(jobs, dict):
        out["jobs"] = {name: ({k: v for k, v in job.items() if not (k == "needs" and v == [])
                               and not (k == "strategy" and isinstance(v, dict) and "matrix" not in v
                                        and set(v) <= {"fail-fast", "max-parallel"})}
                              if isinstance(job, dict) else job) for name, job in jobs.items()}
    return out


# -- CI003 -----------------------------------------------------------------------------------

def _deploys(wf: ci_tool.Workflow, job: ci_tool.Job) -> bool:
    """A job deploys when it names a GitHub environment, has a deploying step (compose up, ssh, kubectl, a
    deploy action: tools/ci.py `deploy_targets`), or says it deploys (`deploy-staging` running a script);
    a job that only names staging (`e2e-staging` running the tests) deploys nothing."""
    if job.environment:
        return True
    targets = [t for t in ci_tool.deploy_targets(wf) if t.job == job.id]
    return any(t.kind != "job" for t in targets) or (
        bool(targets) and bool(_DEPLOY_VERB.search(" ".join(filter(None, [job.id, job.name])))))


def _staging_reasons(job: ci_tool.Job) -> list[str]:
    reasons = []
    if job.environment and is_staging(job.environment.name):
        reasons.append(f"environment {job.environment.name}")
    if is_staging(job.id):
        reasons.append(f"job id {job.id}")
    if job.name and is_staging(job.name):
        reasons.append(f"job name {job.name!r}")
    for step in job.steps:
        if step.run and any(is_staging(cmd) for _, cmd in _shell_commands(step.run)):
            reasons.append(f"step {step.label!r} runs a staging command")
            break
    return reasons


@check("CI003", "CI job targets a staging environment", "high", "charter", NO_STAGING,
       "Remove the staging job, or have Product validate an intention of the current release that asks for staging.")
def staging_job(ctx, spec):
    allowed = allowing_intentions(ctx, STAGING_WORDS)
    for path, wf in _workflows(ctx):
        for job in wf.jobs.values():
            reasons = _staging_reasons(job)
            if not reasons:
                continue
            loc = [Location(path, job.line)]
            if not _deploys(wf, job):
                builds = any(b.job == job.id and b.location.path == path for b in _platform(ctx).built_images)
                what = "builds images with a staging name" if builds else "names staging"
                yield spec.finding(ctx, f"{path}: job {job.id} {what}; it deploys nothing",
                                   loc, severity="info", detail="; ".join(reasons))
                continue
            if allowed:
                names = ", ".join(f"{i.id} {i.name}" for i in allowed)
                yield spec.finding(ctx, f"{path}: job {job.id} deploys to staging (asked by {names})", loc,
                                   severity="info", detail="; ".join(reasons), subject=f"job {job.id} deploys to staging")
            else:
                yield spec.finding(ctx, f"{path}: job {job.id} deploys to staging, which the current release does not ask for",
                                   loc, detail="; ".join(reasons), subject=f"job {job.id} deploys to staging")


# -- CI004 -----------------------------------------------------------------------------------

def _is_main(branch: str) -> bool:
    return branch in (MAIN, f"refs/heads/{MAIN}")


@check("CI004", "Workflow runs on a branch other than main", "medium", "charter", MAIN_ONLY,
       "Filter the trigger and the `if:` conditions on `main` only: every submodule works on `main`.")
def non_main_branch(ctx, spec):
    for path, wf in _workflows(ctx):
        for fact in ci_tool.branch_facts(wf):
            if fact.negated or _is_main(fact.branch):
                continue
            where = f"trigger {fact.detail}" if fact.source == "trigger" else f"condition `{fact.detail}` of job {fact.job}"
            yield spec.finding(ctx, f"{path}: {where} names branch {fact.branch}", [fact.location])
        for event in ("push", "pull_request", "pull_request_target"):
            trig = wf.triggers.get(event)
            if trig and not trig.branches and not trig.branches_ignore and trig.matches_branch("any-feature-branch"):
                yield spec.finding(ctx, f"{path}: `on: {event}` has no branch filter: it runs for every branch",
                                   [Location(path, trig.line)], severity="low")


# -- CI010 -----------------------------------------------------------------------------------

def _contexts_text(contexts: list[ci_tool.Context]) -> str:
    return ", ".join(f"{c.event} to {c.branch}" if c.branch else str(c.event) for c in contexts)


@check("CI010", "Job condition never true under the workflow's triggers", "high", "infra-regression", CI_COHERENCE,
       "Make the job's `if:` name a branch the workflow's `on:` triggers run on (`refs/heads/<branch>`), or fix the trigger.")
def job_never_runs(ctx, spec):
    for path, wf in _workflows(ctx):
        for job in wf.jobs.values():
            contexts = ci_tool.never_runs(wf, job)
            if contexts is None:
                continue
            named = sorted({f.branch for f in ci_tool.branch_facts(wf) if f.job == job.id and not f.negated})
            why = f"; it names {', '.join(named)}" if named else ""
            yield spec.finding(ctx, f"{path}: job {job.id} can never run: `if: {ci_tool.strip_expr(job.if_)}` is false "
                                    f"for every trigger ({_contexts_text(contexts)}){why}",
                               [Location(path, wf.line_of("jobs", job.id, "if") or job.line)])


# -- CI015 -----------------------------------------------------------------------------------

@check("CI015", "Condition always true: text around its expressions", "medium", "infra-regression", CI_COHERENCE,
       "Write the whole condition inside one expression (`if: ${{ a || b != '' }}`) or without `${{ }}` at all.")
def condition_always_true(ctx, spec):
    """`if: ${{ a }} || ${{ b }} != ''`: GitHub evaluates an `if:` as a boolean only when it is bare or one whole
    `${{ }}`; with text around its expressions it is a string, never empty, so always true (actionlint's rule, here
    when actionlint is not installed)."""
    for path, wf in _workflows(ctx):
        for job in wf.jobs.values():
            places = [(job.if_, ("jobs", job.id, "if"), f"job {job.id}", job.line)]
            places += [(step.if_, None, f"job {job.id} step {step.label}", step.line) for step in job.steps]
            for condition, key, who, line in places:
                if condition and ci_tool.always_true_condition(condition):
                    at = (wf.line_of(*key) if key else None) or line
                    yield spec.finding(ctx, f"{path}: {who} runs whatever its `if:` says: `{condition.strip()[:120]}` "
                                            f"has text around its expressions, a string that is always true",
                                       [Location(path, at)])


# -- CI017 -----------------------------------------------------------------------------------

# Workflow commands GitHub disabled (`set-env`, `add-path`: the step fails) or deprecated (`set-output`,
# `save-state`: a warning today, an error once GitHub removes them), as a run script prints them.
_WORKFLOW_COMMAND = re.compile(r"::(set-env|add-path|set-output|save-state)\b")
_COMMAND_FILES = {"set-env": "$GITHUB_ENV", "add-path": "$GITHUB_PATH", "set-output": "$GITHUB_OUTPUT",
                  "save-state": "$GITHUB_STATE"}


@check("CI017", "Workflow command GitHub disabled or deprecated", "medium", "infra-regression", CI_COHERENCE,
       "Write to the environment files instead: `echo \"name=value\" >> \"$GITHUB_OUTPUT\"` (`$GITHUB_ENV`, "
       "`$GITHUB_PATH`, `$GITHUB_STATE`).")
def deprecated_workflow_command(ctx, spec):
    """A run step that prints `::set-env`/`::add-path` (disabled since 2020: the step fails) or `::set-output`/
    `::save-state` (deprecated: a warning now, the step's outputs lost once GitHub removes them). Each workflow
    once, with every step; high when a disabled command is among them, low for deprecated ones only."""
    for path, wf in _workflows(ctx):
        hits: list[tuple[str, int | None]] = []
        for job in wf.jobs.values():
            for step in job.steps:
                for line_no, line in enumerate((step.run or "").splitlines()):
                    if line.lstrip().startswith("#"):
                        continue
                    for m in _WORKFLOW_COMMAND.finditer(line):
                        at = (step.run_line + line_no) if step.run_line else step.line
                        hits.append((m.group(1), at))
        if not hits:
            continue
        commands = list(dict.fromkeys(c for c, _ in hits))
        disabled = [c for c in commands if c in ("set-env", "add-path")]
        what = ", ".join(f"::{c} (use {_COMMAND_FILES[c]})" for c in commands)
        yield spec.finding(ctx, f"{path}: run steps print {what}", [Location(path, at) for _, at in hits[:10]],
                           severity="high" if disabled else "low", subject=f"{path} {' '.join(commands)}",
                           detail="GitHub disabled ::set-env and ::add-path in 2020 (the step fails) and deprecated "
                                  "::set-output and ::save-state (warnings now, lost outputs once removed)")


# -- CI005 -----------------------------------------------------------------------------------

@check("CI005", "Actions not pinned to a commit SHA", "low", "security", SECURITY_RISK,
       "Pin each action to its full commit SHA (`uses: actions/checkout@<40-hex> # v4`); a tag can be moved.")
def unpinned_actions(ctx, spec):
    for path, wf in _workflows(ctx):
        first: dict[str, int | None] = {}
        refs = [(s.uses, s.line) for j in wf.jobs.values() for s in j.steps if s.uses]
        refs += [(j.uses, j.line) for j in wf.jobs.values() if j.uses]
        for uses, line in refs:
            if uses.kind != "local" and not uses.pinned and uses.raw not in first:
                first[uses.raw] = line
        if first:
            yield spec.finding(ctx, f"{path}: {len(first)} action(s) not pinned to a SHA: {', '.join(first)}",
                               [Location(path, line) for line in first.values()],
                               subject="actions not pinned to a SHA")  # one finding per file, whatever the count


# -- CI006 -----------------------------------------------------------------------------------

def _is_deploy(job: ci_tool.Job, target: ci_tool.DeployTarget) -> bool:
    if target.kind == "job":
        return False  # a job named deploy with no deploying step: CI003 and the reviewer see it
    if target.kind != "compose":
        return True
    # compose up on the runner is an integration test unless it aims at a server or the job deploys.
    named = _DEPLOY_HINT.search(" ".join(filter(None, [job.id, job.name, target.step or ""])))
    remote = _REMOTE_ENGINE.search(target.command or "") or "DOCKER_HOST" in {str(k) for k in job.env}
    return bool(job.environment or named or remote)


@check("CI006", "CI deploys automatically", "high", "charter", MANUAL_DEPLOY,
       "Keep CI to building and pushing images; deploy by hand on the server as the deployment notes say.")
def automated_deploy(ctx, spec):
    for path, wf in _workflows(ctx):
        seen: set = set()
        for target in ci_tool.deploy_targets(wf):
            job = wf.jobs.get(target.job)
            if job is None or not _is_deploy(job, target) or target.location in seen:
                continue
            seen.add(target.location)
            what = target.command or target.kind
            yield spec.finding(ctx, f"{path}: job {target.job} deploys from CI ({target.kind}: {what})", [target.location],
                               subject=f"job {target.job} deploys from CI ({target.kind})")


# -- CI007 -----------------------------------------------------------------------------------

@check("CI007", "Image pushed from a pull request or a branch other than main", "medium", "reproducibility",
       MAIN_ONLY, "Push only on `push` to `main` (`push: ${{ github.event_name == 'push' && github.ref == 'refs/heads/main' }}`).")
def push_outside_main(ctx, spec):
    for built in _platform(ctx).built_images:
        if not built.pushed:
            continue
        cases: dict[str, None] = {}
        for pattern in built.tag_patterns:
            event = "push" if pattern.event == "tag" else pattern.event
            if event == "push" and (pattern.branch is None or _is_main(pattern.branch)):
                continue
            if event != "push":
                continue  # a pull request's push is CI016's, whatever the charter
            if built.push_condition:
                when = ci_tool.Context(event=event, branch=pattern.branch if event == "push" else None)
                if ci_tool.evaluate(built.push_condition, when) is False:
                    continue
            cases["a pull request" if event != "push" else f"a push to {pattern.branch}"] = None
        if cases:
            yield spec.finding(ctx, f"{built.location.path}: job {built.job} pushes {built.name} on {' and '.join(cases)}",
                               [built.location])


@check("CI016", "Image pushed from a pull request", "medium", "security", SECURITY_RISK,
       "Build on pull requests without pushing (`push: ${{ github.event_name != 'pull_request' }}`); push from the "
       "default branch or a release tag only.")
def push_from_pull_request(ctx, spec):
    """A job that pushes an image on `pull_request` or `pull_request_target`: code nobody has reviewed yet lands in
    the project's registry (`pr-42` tags, or over the tag users pull), and a fork's run either fails to log in or,
    under `pull_request_target`, pushes with the project's token. General practice, whatever the charter."""
    for built in _platform(ctx).built_images:
        if not built.pushed:
            continue
        events: dict[str, None] = {}
        for pattern in built.tag_patterns:
            if pattern.event not in ("pull_request", "pull_request_target"):
                continue
            if built.push_condition and ci_tool.evaluate(
                    built.push_condition, ci_tool.Context(event=pattern.event, branch=None)) is False:
                continue
            events[pattern.event] = None
        if events:
            yield spec.finding(ctx, f"{built.location.path}: job {built.job} pushes {built.name} on "
                                    f"{' and '.join(events)}", [built.location], subject=f"{built.job} {built.name}")


# -- CI013 -----------------------------------------------------------------------------------

@check("CI013", "Image published without waiting for the tests", "medium", "reproducibility", CI_COHERENCE,
       "Make the publishing job need the test job (`needs: [test]`), or start the publishing workflow with "
       "`workflow_run` on the test workflow (`types: [completed]`, and check its conclusion).")
def published_untested(ctx, spec):
    platform = _platform(ctx)
    workflows = {p: wf for p, wf in platform.workflows.items() if wf.ok}
    testers, lint = testing_jobs(workflows), False
    if not testers:  # no test suite in CI: the linters and type checkers are what a publish should wait for
        testers, lint = testing_jobs(workflows, lint=True), True
    if not testers:
        yield from _published_with_no_tests(ctx, spec, platform, workflows)
        return
    seen: set[tuple[str, str]] = set()
    for built in platform.built_images:
        wf = workflows.get(built.location.path)
        if not built.pushed or wf is None or (built.location.path, built.job) in seen:
            continue
        events = publish_events(wf)
        if not events or gated_by_tests(wf, built.job, workflows, lint=lint):
            continue
        if _build_runs_tests(ctx, platform, built):
            continue
        seen.add((built.location.path, built.job))
        path, jid = next(((p, j) for p, j in testers if p != built.location.path), testers[0])
        where = f"{path} (job {jid})" if path != built.location.path else f"job {jid}"
        names = sorted({b.name for b in platform.built_images
                        if b.pushed and (b.location.path, b.job) == (built.location.path, built.job)})
        what = "the linters" if lint else "the tests"
        yield spec.finding(ctx, f"{built.location.path}: job {built.job} pushes {', '.join(names)} on "
                                f"{' and '.join(events)} without waiting for {what} ({where} runs them)",
                           [built.location],
                           detail="a build the tests would fail is published all the same, under the tag users pull")


def _build_runs_tests(ctx, platform, built) -> bool:
    """The image's own build runs the tests (its Dockerfile has a RUN of a test suite)."""
    dockerfile = platform.dockerfile_of_ci_image(built)
    return any(runs_tests(src.text) for src in ctx.sources
               if src.kind == "dockerfile" and src.ok and src.path == dockerfile)


# CI services other than GitHub Actions: tests may run there, and a GitHub workflow that publishes does not wait
_OTHER_CI = (".travis.yml", ".circleci/config.yml", "Jenkinsfile", ".gitlab-ci.yml", ".drone.yml", ".woodpecker.yml",
             "azure-pipelines.yml", "bitbucket-pipelines.yml", ".cirrus.yml", "appveyor.yml", ".buildkite/pipeline.yml")


def _published_with_no_tests(ctx, spec, platform, workflows):
    """No workflow runs a test or a linter, every submodule is checked out, and a workflow pushes images on a push, a
    tag or a release: what users pull was never tested by the CI that publishes it (another CI service's tests, when
    one is configured, are not waited for: said in the title). One low finding for the repository, at each
    publishing workflow (the image's own build may still test it, which is checked)."""
    others = [name for name in _OTHER_CI if (platform.root / name).is_file()] + \
        ([".woodpecker/"] if (platform.root / ".woodpecker").is_dir() else [])
    if any(platform.uninitialised_submodule(sub) for sub in platform.submodules):
        return  # a submodule not checked out may hold the workflow that tests: cannot tell
    jobs: dict[str, dict[str, set[str]]] = {}
    for built in platform.built_images:
        wf = workflows.get(built.location.path)
        if not built.pushed or wf is None or not publish_events(wf):
            continue
        if _build_runs_tests(ctx, platform, built):
            continue
        jobs.setdefault(built.location.path, {}).setdefault(built.job, set()).add(built.name)
    if not jobs:
        return
    # one fact for the repository: its publishing workflows, each located once
    paths = sorted(jobs)
    names = sorted({n for by_job in jobs.values() for ns in by_job.values() for n in ns})
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    events = sorted({e for path in paths for e in publish_events(workflows[path])})
    where = paths[0] if len(paths) == 1 else f"{paths[0]} and {len(paths) - 1} more workflow(s)"
    locations = [next(b.location for b in platform.built_images if b.pushed and b.location.path == path)
                 for path in paths]
    elsewhere = f" ({', '.join(others)} may; the publish does not wait for it)" if others else ""
    yield spec.finding(ctx, f"{where}: push {shown} on {' and '.join(events)} and no workflow runs tests or "
                            f"linters{elsewhere}", locations, severity="low", subject="published untested",
                       detail="what users pull was built but never tested by the CI that publishes it")


# -- CI018 -----------------------------------------------------------------------------------

@check("CI018", "Workflow refers to a step, job, matrix key or input it does not define", "medium", "infra-regression",
       CI_COHERENCE,
       "Give the step the id the expression names (`id: meta`), add the job to `needs:`, or fix the name; GitHub "
       "reads an undefined reference as an empty string and says nothing.")
def undefined_reference(ctx, spec):
    """actionlint's type check of contexts, for the four a job defines itself, without actionlint installed: a
    digest, a tag list or a condition that reads `steps.meta.outputs.tags` when no step has `id: meta` is empty on
    every run. One finding per reference and line."""
    for path, wf in _workflows(ctx):
        grouped: dict[tuple, list] = {}
        for ref in ci_tool.undefined_references(wf):
            grouped.setdefault((ref.job, ref.what), []).append(ref)
        for (job, what), refs in grouped.items():
            texts = list(dict.fromkeys(r.text for r in refs))
            shown = ", ".join(texts[:3]) + (f" and {len(texts) - 3} more" if len(texts) > 3 else "")
            lines = list(dict.fromkeys(r.line for r in refs))
            yield spec.finding(ctx, f"{path}: job {job} reads {shown}: {what}", [wf.loc(n) for n in lines],
                               subject=f"{job} {what}",
                               detail="GitHub evaluates it to an empty string without an error")


# -- CI019 -----------------------------------------------------------------------------------

@check("CI019", "Workflow uses an action version or a runner GitHub no longer runs", "high", "infra-regression",
       CI_COHERENCE,
       "Move the step to the current major (`actions/upload-artifact@v4`, `actions/cache@v4`) and pin its commit SHA "
       "with the version in a comment; move `runs-on` to a current image (`ubuntu-24.04`, `ubuntu-latest`).")
def retired_action(ctx, spec):
    """A dated table (tools/ci/retired.py): GitHub fails the step, or never starts the job on a removed runner
    image, so the job, and with it whatever the job publishes or deploys, fails on every run. One finding per
    workflow and action version or runner label."""
    from tools.ci.retired import retired, retired_runner

    platform = _platform(ctx)
    workflows = {p: wf for p, wf in platform.workflows.items() if wf.ok}
    for path, wf in _workflows(ctx):
        grouped: dict[str, list] = {}
        for job in wf.jobs.values():
            why = retired_runner(job.runs_on)
            if why:
                grouped.setdefault(why, []).append((job.id, wf.line_of("jobs", job.id, "runs-on") or job.line))
            for step in job.steps:
                why = retired(step.uses)
                if why:
                    grouped.setdefault(why, []).append((job.id, step.line))
        if not grouped:
            continue
        # a workflow only run by hand or on a timer breaks no push, pull request or release: what fails waits for
        # someone to run it
        manual = bool(wf.triggers) and set(wf.triggers) <= {"workflow_dispatch", "schedule"}
        matters = _jobs_that_ship_or_gate(platform, wf, workflows)
        for why, places in grouped.items():
            jobs = list(dict.fromkeys(j for j, _ in places))
            stops = [j for j in jobs if _downstream(wf, j) & matters]
            note = "; the workflow runs only by hand or on a schedule" if manual else "" if stops else \
                "; nothing it stops publishes, deploys or tests (a build whose output nothing here ships)"
            yield spec.finding(ctx, f"{path}: {why}", [wf.loc(line) for _, line in places],
                               subject=why.split(":", 1)[0], severity="medium" if manual or not stops else None,
                               detail=(f"jobs {', '.join(jobs)} fail" if len(jobs) > 1 else f"job {jobs[0]} fails")
                               + (" before its first step" if why.startswith("runs-on") else " at that step") + note)


def _jobs_that_ship_or_gate(platform, wf, workflows) -> set[str]:
    """The jobs of a workflow whose failure costs more than a red mark: they push an image, deploy, publish a
    release (the workflow runs on a release or a tag), or run the tests a merge waits for."""
    from tools.ci.deploy import deploy_targets, named_for_deploy
    from tools.ci.gating import job_tests

    if "release" in wf.triggers or any(t.tags for t in wf.triggers.values()):
        return set(wf.jobs)
    out = {b.job for b in platform.built_images if b.pushed and b.location.path == wf.rel_path}
    # a deploy step, or a job named for one; a job that only takes a GitHub environment's secrets (to sign a build)
    # deploys nothing
    out |= {d.job for d in deploy_targets(wf) if d.kind != "job" or named_for_deploy(
        f"{d.job} {getattr(wf.jobs.get(d.job), 'name', '') or ''}")}
    out |= {jid for jid, job in wf.jobs.items() if job_tests(wf, job, workflows)}
    return out


def _downstream(wf, job_id: str) -> set[str]:
    """The job and every job that needs it, transitively: what does not run when it fails."""
    out, todo = {job_id}, [job_id]
    while todo:
        current = todo.pop()
        for jid, job in wf.jobs.items():
            if jid not in out and current in (job.needs or []):
                out.add(jid)
                todo.append(jid)
    return out


# -- CI014 -----------------------------------------------------------------------------------

@check("CI014", "Workflow runs downloaded code it did not verify", "medium", "security", SECURITY_RISK,
       "Pin the tool to a release and check its checksum (`echo \"<sha256>  tool\" | sha256sum -c`), or use a "
       "SHA-pinned action that installs it; never pipe a download into a shell in a job that holds secrets.")
def workflow_unverified_download(ctx, spec):
    """What DKF009 says of a Dockerfile, said of a workflow's `run:` steps: `curl … | bash`, a binary fetched and made
    executable, an archive unpacked, with no checksum or signature checked. Medium in a job that holds a secret or a
    token with write access (what it runs can take them); low elsewhere."""
    from tools.facts.build_steps import unverified_downloads

    for path, wf in _workflows(ctx):
        for jid, job in wf.jobs.items():
            fetched: dict[str, str] = {}
            holds = _holds_secrets(job)
            for step in job.steps:
                if not step.run:
                    continue
                for what in unverified_downloads(_one_word_expressions(step.run), fetched):
                    yield spec.finding(ctx, f"{path}: job {jid} runs {what}",
                                       [wf.loc(step.run_line or step.line)], severity=None if holds else "low",
                                       detail="the job holds secrets or a write token" if holds else "")


def _one_word_expressions(script: str) -> str:
    """`launcher-linux-${{ env.ARCH }}.tar.gz` as one word (`${{env.ARCH}}`), in one pass (no backtracking)."""
    out, i = [], 0
    while True:
        start = script.find("${{", i)
        end = script.find("}}", start + 3) if start >= 0 else -1
        if start < 0 or end < 0:
            out.append(script[i:])
            return "".join(out)
        out.append(script[i:start] + "${{" + "".join(script[start + 3:end].split()) + "}}")
        i = end + 2


def _holds_secrets(job) -> bool:
    """The job reads a secret or the token (`secrets.X`, `github.token`) or grants itself write access."""
    text = json.dumps([job.env, [(s.env, s.with_, s.run) for s in job.steps]], default=str)
    permissions = json.dumps(job.permissions, default=str)
    return bool(re.search(r"secrets\.|github\.token", text) or re.search(r"\bwrite\b|write-all", permissions))


# -- CI008 -----------------------------------------------------------------------------------

def _secret_env(*envs: dict) -> dict[str, str]:
    """Each variable set from a secret: its name -> the secret's name (`CF_ZONE_ID: ${{ secrets.ZONE }}`)."""
    out: dict[str, str] = {}
    for env in envs:
        for key, value in env.items():
            m = _SECRET_EXPR.search(str(value))
            if m:
                out[str(key)] = m.group(1)
    return out


# A value derived from a secret in the printed text defeats GitHub's masking, which hides the secret's exact value:
# a substring or substitution (`${TOKEN:0:8}`, `${TOKEN//-/}`), or a command substitution that encodes it.
_DERIVED = re.compile(r"\$\{#?[A-Za-z_]\w*(?::[-+=?]?\d|//?|##?|%%?|\^|,)|\$\((?:[^()]*)\b(?:base64|xxd|od|rev|tr|sed|cut|"
                      r"openssl|sha\d*sum|md5sum)\b")


def _printed(cmd: str) -> bool:
    """echo/printf whose output reaches the log: not piped into a command, not redirected to a file."""
    try:
        words = split_words(cmd, comments=True)  # linear: shlex is quadratic on a long quoted word
    except ValueError:
        words = cmd.split()
    if not words or not _ECHO.match(words[0]):
        return False
    bare = re.sub(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"", "", cmd)  # operators inside quotes do not count
    return "|" not in bare and ">" not in bare


@check("CI008", "Secret printed in a run script", "high", "security", SECURITY_RISK,
       "Never echo a secret: pass it by environment or stdin (`--password-stdin`); masked logs do not cover derived values.")
def secret_echoed(ctx, spec):
    for path, wf in _workflows(ctx):
        for job in wf.jobs.values():
            for step in job.steps:
                if not step.run:
                    continue
                secret_vars = _secret_env(wf.env, job.env, step.env)
                for offset, cmd in _shell_commands(step.run):
                    if not _printed(cmd):
                        continue
                    names = set(_SECRET_EXPR.findall(cmd))
                    names |= {v for v in _SHELL_VAR.findall(cmd) if v in secret_vars}
                    if names:
                        line = (step.run_line + offset) if step.run_line else step.line
                        # GitHub masks a secret's exact value in the log: printed as is, it is a habit to fix
                        # (medium), an identifier kept as a secret (a zone or account id) less; derived, it leaks
                        secrets = {secret_vars.get(n, n) for n in names}
                        severity = "high" if _DERIVED.search(cmd) else \
                            "medium" if any(secret_facts.is_secret_name(n) for n in secrets) else "low"
                        yield spec.finding(ctx, f"{path}: job {job.id} prints {', '.join(sorted(names))} to the log",
                                           [Location(path, line)], severity=severity)


# -- CI011 -----------------------------------------------------------------------------------

_HOSTED = re.compile(r"^(?:ubuntu|windows|macos)-(?:latest|\d[\w.-]*)$")
_INSTALLS_COMPOSE_V1 = re.compile(r"docker-compose", re.I)  # a step that fetches, installs or links it


def _command_name(command: str) -> str:
    """The program a command line runs, past `sudo`, `env` and a path."""
    return next((program_of(words)[0] for words in split_shell(command)), "")


def _hosted_runner(runs_on) -> bool:
    """The job runs on a GitHub-hosted image (a self-hosted runner may have anything installed)."""
    labels = runs_on if isinstance(runs_on, list) else [runs_on]
    return bool(labels) and all(isinstance(l, str) and _HOSTED.match(l.strip()) for l in labels)


def _self_hosted(runs_on) -> bool:
    """The job asks for a self-hosted runner: the `self-hosted` label (or one that contains it) or a runner group."""
    if isinstance(runs_on, dict):
        return "group" in runs_on or _self_hosted(runs_on.get("labels"))
    labels = runs_on if isinstance(runs_on, list) else [runs_on]
    return any(isinstance(l, str) and "self-hosted" in l.lower() and "${{" not in l for l in labels)


# A job condition that keeps forks' pull requests out (same repository, owner, author association, fork flag) or
# waits for a label only a maintainer can put on.
_FORKS_KEPT_OUT = re.compile(r"head\.repo\.(?:full_name|fork|owner)|repository_owner|author_association|"
                             r"pull_request\.user\.login|github\.actor\b|\blabels?\b", re.I)


@check("GHA009", "Pull requests run on a self-hosted runner", "medium", "security", SECURITY_RISK,
       "Run pull-request jobs on GitHub-hosted runners, or keep forks out (`if: github.event.pull_request.head.repo."
       "full_name == github.repository`); a self-hosted runner keeps what a job leaves behind for the next one.")
def pull_request_on_self_hosted(ctx, spec):
    """`on: pull_request` and a job on a self-hosted runner: in a public repository any fork's pull request runs its
    own code on that machine, which persists between jobs and sits inside the project's network (GitHub's own
    advice: self-hosted runners only with private repositories). One finding per job."""
    for path, wf in _workflows(ctx):
        if "pull_request" not in wf.triggers:
            continue
        for job in wf.jobs.values():
            if not _self_hosted(job.runs_on) or (job.if_ and _FORKS_KEPT_OUT.search(str(job.if_))):
                continue
            if job.if_ and ci_tool.evaluate(job.if_, ci_tool.Context(event="pull_request")) is False:
                continue
            yield spec.finding(ctx, f"{path}: job {job.id} runs pull requests on a self-hosted runner",
                               [wf.loc(wf.line_of("jobs", job.id, "runs-on") or job.line)],
                               subject=f"{job.id} self-hosted",
                               detail="a fork's pull request runs its code on that machine")


@check("CI011", "Workflow runs docker-compose v1, which GitHub's runners no longer ship", "medium", "infra-regression",
       CI_COHERENCE,
       "Call Compose v2 as `docker compose` (a space): GitHub removed the `docker-compose` v1 binary from its hosted "
       "runner images in July 2024.")
def compose_v1_on_hosted_runner(ctx, spec):
    """A `docker-compose …` command in a job on a GitHub-hosted runner (ubuntu-/windows-/macos-) with no earlier step
    that installs it: the step fails with `docker-compose: command not found`."""
    for path, wf in _workflows(ctx):
        for job in wf.jobs.values():
            if not _hosted_runner(job.runs_on):
                continue
            for step in job.steps:
                if step.uses is not None and _INSTALLS_COMPOSE_V1.search(step.uses.action or ""):
                    break  # an action sets it up
                if not step.run:
                    continue
                commands = _shell_commands(step.run)
                calls = [(o, c) for o, c in commands if _command_name(c) == "docker-compose"]
                installs = [c for _, c in commands
                            if _INSTALLS_COMPOSE_V1.search(c) and _command_name(c) != "docker-compose"]
                if installs:
                    break
                if calls:
                    offset = calls[0][0]
                    line = (step.run_line + offset) if step.run_line else step.line
                    yield spec.finding(ctx, f"{path}: job {job.id} runs docker-compose, absent from {job.runs_on}",
                                       [Location(path, line)])
                    break


# -- CI012 -----------------------------------------------------------------------------------

@check("CI012", "Secret written into a run script", "low", "security", SECURITY_RISK,
       "Map the secret to the step's `env:` (`env: {DOCKER_PASS: ${{ secrets.DOCKER_PASS }}}`) and use \"$DOCKER_PASS\" "
       "in the script; pass it on stdin (`--password-stdin`) rather than as an argument.")
def secret_in_script(ctx, spec):
    """`${{ secrets.X }}` inside `run:` is pasted into the script file before the shell starts: the value sits in
    the runner's temporary script, a quote in it breaks or rewrites the command, and as an argument it shows in the
    process list. Printing it is CI008's; one finding per step."""
    for path, wf in _workflows(ctx):
        for job in wf.jobs.values():
            for step in job.steps:
                if not step.run:
                    continue
                for offset, cmd in _shell_commands(step.run):
                    names = sorted(set(_SECRET_EXPR.findall(cmd)))
                    if names and not _printed(cmd):
                        line = (step.run_line + offset) if step.run_line else step.line
                        yield spec.finding(ctx, f"{path}: job {job.id} writes secrets.{names[0]} into its run script",
                                           [Location(path, line)])
                        break


# -- CI009 -----------------------------------------------------------------------------------

def _rel(root: Path, path: str) -> str:
    p = Path(path)
    try:
        return p.resolve().relative_to(Path(root).resolve()).as_posix() if p.is_absolute() else p.as_posix()
    except ValueError:
        return p.as_posix()


def run_actionlint(paths: list[Path]) -> tuple[list[ci_tool.ActionlintIssue] | None, str | None]:
    """(issues, None) when actionlint ran; (None, None) when it is not on PATH; (None, why) when it failed."""
    exe = shutil.which("actionlint")
    if exe is None or not paths:
        return (None if exe is None else []), None
    try:
        proc = subprocess.run([exe, "-format", "{{json .}}", *map(str, paths)], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"actionlint failed to run: {exc}"
    # exit 0: clean, 1: problems found; anything else is actionlint itself failing.
    if proc.returncode not in (0, 1):
        first = (proc.stderr or proc.stdout).strip().splitlines()
        return None, first[0] if first else f"actionlint exited {proc.returncode}"
    try:
        items = json.loads(proc.stdout or "[]") or []
    except json.JSONDecodeError:
        return None, "actionlint printed unreadable JSON"
    return [ci_tool.ActionlintIssue(i.get("filepath", ""), i.get("line"), i.get("column"), i.get("kind", ""),
                                    i.get("message", "")) for i in items], None


@check("CI009", "actionlint", "medium", "infra-regression", CI_COHERENCE,
       "Fix what actionlint reports (https://github.com/rhysd/actionlint/blob/main/docs/checks.md).")
def actionlint_results(ctx, spec):
    platform = _platform(ctx)
    paths = [platform.root / p for p, wf in platform.workflows.items() if wf.ok]
    issues, error = run_actionlint(paths)
    if error:
        yield spec.finding(ctx, "actionlint could not run on the workflows", [], severity="info", detail=error,
                           remediation="Check the actionlint install (`actionlint -version`); the other CI checks ran.")
    for issue in issues or []:  # None: not on PATH, never required
        rel = _rel(platform.root, issue.path)
        yield spec.finding(ctx, f"{rel}: actionlint {issue.kind}: {issue.message}", [Location(rel, issue.line)])
