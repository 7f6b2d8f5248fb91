"""Read-only views: compose, dockerfile diff, ci."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from agent.commands import kit

from agent.commands.common import (ConfigOpt, Fmt, RepoOpt, _session, app)

# A workflow file of the checkout that `ci` could not read (a submodule not checked out is said, not an exit code).
UNREAD_STATUSES = ("parse-error", "unreadable")


@app.command()
def compose(
    env: Optional[str] = kit.Option(None, "--env", help="Environment (default: every one)."),
    service: Optional[str] = kit.Option(None, "--service", help="Only this service."),
    repo: Optional[Path] = RepoOpt,
    config: Optional[Path] = ConfigOpt,
    fmt: Fmt = kit.Option(Fmt.text, "--format"),
) -> None:
    """The effective compose model of an environment, as `docker compose config` computes it (secrets redacted)."""
    from agent import render

    session = _session(repo, None, config, run_checks=False)
    views = session.compose_views(env, service)
    files = {name: session.platform().environments[name].files for name in views}
    unset = {name: session.unset_variables(name) for name in views}
    render.print_compose(views, files, single=env is not None, json_out=fmt is Fmt.json, unset=unset)


dockerfile_app = kit.Group(help="Dockerfile views.", no_args_is_help=True)
app.add_group(dockerfile_app, name="dockerfile")


@dockerfile_app.command("diff")
def dockerfile_diff(
    service: str = kit.Argument(..., help="Compose service, submodule, or Dockerfile path."),
    from_rev: str = kit.Option(..., "--from", help="Revision in the service's repository (submodule)."),
    to_rev: Optional[str] = kit.Option(None, "--to", help="Revision (default: the working tree)."),
    repo: Optional[Path] = RepoOpt,
    fmt: Fmt = kit.Option(Fmt.text, "--format"),
) -> None:
    """Instruction-level, stage-aware diff of a service's Dockerfile between two revisions, plus the unified diff."""
    from agent import render

    session = _session(repo, None, None, run_checks=False)
    diffs = session.dockerfile_diffs(service, from_rev, to_rev)
    render.print_dockerfile_diffs(diffs, json_out=fmt is Fmt.json)


@app.command()
def ci(
    repo: Optional[Path] = RepoOpt,
    fmt: Fmt = kit.Option(Fmt.text, "--format"),
) -> None:
    """Every CI workflow: triggers, jobs, images built and their tags, deploy steps, secrets, schema issues."""
    from agent import render

    session = _session(repo, None, None, run_checks=False)
    not_loaded = session.ci_not_loaded()
    render.print_ci(session.ci_summaries(), json_out=fmt is Fmt.json, not_loaded=not_loaded)
    if any(w["status"] in UNREAD_STATUSES for w in not_loaded):  # a workflow of the checkout was not read
        raise kit.Exit(3)
