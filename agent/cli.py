"""`devops-agent`: parses arguments and dispatches; the rules live in the session, tools and gate.

Heavy imports (langchain, openai, mcp, docker) happen inside the commands that need them.
"""
from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

try:  # recent typer vendors click; older ones use the real package
    from typer._click.exceptions import ClickException
    from typer.exceptions import Abort
except ImportError:  # pragma: no cover
    from click.exceptions import Abort, ClickException

from agent.errors import UserError

app = typer.Typer(
    name="devops-agent",
    help="Run the DevOps Engineer charter of a platform: sources with provenance, infra checks, a gated change flow.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
example_app = typer.Typer(help="The bundled example platform.", no_args_is_help=True)
app.add_typer(example_app, name="example")


class Fmt(str, Enum):
    text = "text"
    json = "json"


class ReviewFmt(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"
    sarif = "sarif"


class Severity(str, Enum):
    blocker = "blocker"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


class MdFmt(str, Enum):
    markdown = "markdown"
    json = "json"


class CatalogueFmt(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


RepoOpt = typer.Option(None, "--repo", help="Platform root (default: the git root above the current directory).")
CharterOpt = typer.Option(None, "--charter", help="Charter file (default: .codex/agents/devops-engineer.md, else the shipped one).")
ConfigOpt = typer.Option(None, "--config", help="Config file (default: .devops-agent.yaml at the repo root).")


def _session(repo, charter, config, run_checks=True):
    from agent.session import open_session

    return open_session(repo=repo, charter=charter, config=config, run_checks=run_checks)


@app.command()
def charter(
    path: Optional[Path] = typer.Argument(None, help="Charter to parse (default: the one the session would use)."),
    repo: Optional[Path] = RepoOpt,
    fmt: Fmt = typer.Option(Fmt.text, "--format"),
) -> None:
    """The parsed charter: sections, sources with their priority."""
    from agent import render
    from agent.charter import parse_charter
    from agent.config import load_config
    from agent.session import discover_charter, resolve_repo

    if path is None:
        root = resolve_repo(repo)
        cfg, _ = load_config(root)
        path, _ = discover_charter(root, None, cfg)
    parsed = parse_charter(path)
    if fmt is Fmt.json:
        render.dump_json(parsed.to_dict())
    else:
        render.print_charter(parsed)


@app.command()
def sources(
    repo: Optional[Path] = RepoOpt,
    charter: Optional[Path] = CharterOpt,
    config: Optional[Path] = ConfigOpt,
    fmt: Fmt = typer.Option(Fmt.text, "--format"),
) -> None:
    """Every source of the session with provenance and load status (exit 1 if a required one is not loaded)."""
    from agent import render

    session = _session(repo, charter, config, run_checks=False)
    if fmt is Fmt.json:
        render.dump_json({"role": session.charter.role, "repo": str(session.root),
                          "counts": session.source_counts(),
                          "sources": [s.to_dict() for s in session.sources]})
    else:
        render.print_sources(session)
    if any(s.blocking for s in session.sources):
        raise typer.Exit(1)


@app.command()
def review(
    repo: Optional[Path] = RepoOpt,
    charter: Optional[Path] = CharterOpt,
    config: Optional[Path] = ConfigOpt,
    fmt: ReviewFmt = typer.Option(ReviewFmt.text, "--format"),
    min_severity: Optional[Severity] = typer.Option(None, "--min-severity",
                                                    help="Show only findings at this severity or above (the verdict counts all)."),
) -> None:
    """The session brief: sources, release intentions, findings, verdict (exit 1 on NO-GO)."""
    from agent import render

    session = _session(repo, charter, config).filtered(min_severity.value if min_severity else None)
    if fmt is ReviewFmt.json:
        render.dump_json(session.brief())
    elif fmt is ReviewFmt.markdown:
        sys.stdout.write(render.review_markdown(session))
    elif fmt is ReviewFmt.sarif:
        render.dump_json(render.review_sarif(session))
    else:
        render.print_review(session)
    if session.verdict != "GO":
        raise typer.Exit(1)


@app.command()
def checks(
    repo: Optional[Path] = RepoOpt,
    fmt: CatalogueFmt = typer.Option(CatalogueFmt.text, "--format"),
) -> None:
    """The check catalogue: id, severity, category, charter clause, remediation."""
    from agent import render
    from agent.config import load_config
    from agent.session import discover_charter, resolve_repo
    from agent.charter import parse_charter

    root = resolve_repo(repo)
    charter_path, _ = discover_charter(root, None, load_config(root)[0])
    parsed = parse_charter(charter_path)
    if fmt is CatalogueFmt.json:
        render.dump_json(render.catalogue(parsed))
    elif fmt is CatalogueFmt.markdown:
        sys.stdout.write(render.catalogue_markdown(parsed))
    else:
        render.print_catalogue(parsed)


@app.command()
def compose(
    env: Optional[str] = typer.Option(None, "--env", help="Environment (default: every one)."),
    service: Optional[str] = typer.Option(None, "--service", help="Only this service."),
    repo: Optional[Path] = RepoOpt,
    config: Optional[Path] = ConfigOpt,
    fmt: Fmt = typer.Option(Fmt.text, "--format"),
) -> None:
    """The effective compose model of an environment, as `docker compose config` computes it (secrets redacted)."""
    from agent import render

    session = _session(repo, None, config, run_checks=False)
    views = session.compose_views(env, service)
    files = {name: session.platform().environments[name].files for name in views}
    render.print_compose(views, files, single=env is not None, json_out=fmt is Fmt.json)


dockerfile_app = typer.Typer(help="Dockerfile views.", no_args_is_help=True)
app.add_typer(dockerfile_app, name="dockerfile")


@dockerfile_app.command("diff")
def dockerfile_diff(
    service: str = typer.Argument(..., help="Compose service, submodule, or Dockerfile path."),
    from_rev: str = typer.Option(..., "--from", help="Revision in the service's repository (submodule)."),
    to_rev: Optional[str] = typer.Option(None, "--to", help="Revision (default: the working tree)."),
    repo: Optional[Path] = RepoOpt,
    fmt: Fmt = typer.Option(Fmt.text, "--format"),
) -> None:
    """Instruction-level, stage-aware diff of a service's Dockerfile between two revisions, plus the unified diff."""
    from agent import render

    session = _session(repo, None, None, run_checks=False)
    diffs = session.dockerfile_diffs(service, from_rev, to_rev)
    render.print_dockerfile_diffs(diffs, json_out=fmt is Fmt.json)


@app.command()
def ci(
    repo: Optional[Path] = RepoOpt,
    fmt: Fmt = typer.Option(Fmt.text, "--format"),
) -> None:
    """Every CI workflow: triggers, jobs, images built and their tags, deploy steps, secrets, schema issues."""
    from agent import render

    session = _session(repo, None, None, run_checks=False)
    render.print_ci(session.ci_summaries(), json_out=fmt is Fmt.json)


# -- the gate ------------------------------------------------------------------------

def _gate(repo):
    from agent.gate import Gate
    from agent.session import resolve_repo

    return Gate(resolve_repo(repo))


def _read_patch(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    p = Path(path)
    if not p.is_file():
        raise UserError(f"patch file {path} does not exist", "pass a unified diff made with `git diff`")
    return p.read_bytes()


@app.command()
def propose(
    patch: Optional[str] = typer.Option(None, "--patch", help="Unified diff (paths relative to the platform root), or - for stdin."),
    sets: list[str] = typer.Option([], "--set", help="Structured YAML edit FILE:KEY.PATH=VALUE (comments and order kept); repeatable."),
    reason: str = typer.Option(..., "--reason", help="Why this change (the charter: one reason)."),
    risk: str = typer.Option(..., "--risk", help="What could go wrong (one risk)."),
    rollback: str = typer.Option(..., "--rollback", help="How to undo it (one rollback)."),
    type_: str = typer.Option("chore", "--type", help="Commit type: fix, chore, feat, refactor, docs, test."),
    scope: Optional[str] = typer.Option(None, "--scope", help="Commit scope, e.g. compose, ci, nginx."),
    intention: Optional[str] = typer.Option(None, "--intention", help="Notion intention id this change serves."),
    repo: Optional[Path] = RepoOpt,
    fmt: Fmt = typer.Option(Fmt.text, "--format"),
) -> None:
    """Record an infra change as a proposal (exit 1 when the charter's policy refuses it)."""
    from agent import render
    from agent.policy import ProposalMeta

    gate = _gate(repo)
    if bool(patch) == bool(sets):
        raise UserError("give either --patch or --set", "--patch FILE takes a diff; --set FILE:KEY=VALUE edits YAML")
    if sets:
        from tools.yaml_edit import apply_sets, parse_set

        text = apply_sets(gate.root, [parse_set(s) for s in sets])
    else:
        text = _read_patch(patch)
    rec = gate.propose(text, ProposalMeta(reason=reason, risk=risk, rollback=rollback, type=type_,
                                                        scope=scope, intention=intention))
    render.print_proposal_result(rec, json_out=fmt is Fmt.json)
    if rec.status == "refused":
        raise typer.Exit(1)


proposals_app = typer.Typer(help="Proposals of this repo.", invoke_without_command=True)
app.add_typer(proposals_app, name="proposals")


@proposals_app.callback()
def proposals_list(
    ctx: typer.Context,
    status: Optional[str] = typer.Option(None, "--status", help="Only this status."),
    repo: Optional[Path] = RepoOpt,
    fmt: Fmt = typer.Option(Fmt.text, "--format"),
) -> None:
    """List proposals (or `proposals show ID`)."""
    if ctx.invoked_subcommand is not None:
        return
    from agent import render

    gate = _gate(repo)
    render.print_proposals(gate.store.list_proposals(status), json_out=fmt is Fmt.json)


@proposals_app.command("show")
def proposals_show(pid: str, repo: Optional[Path] = RepoOpt, fmt: Fmt = typer.Option(Fmt.text, "--format")) -> None:
    """One proposal: its diff, metadata, policy verdict, approvals."""
    from agent import render

    gate = _gate(repo)
    rec = gate.store.get_proposal(pid)
    render.print_proposal(rec, gate.store.approvals(rec.id), json_out=fmt is Fmt.json)


@app.command()
def approve(
    pid: str = typer.Argument(..., help="Proposal id."),
    key: Optional[Path] = typer.Option(None, "--key", help="The Product key (see `product-key init`)."),
    approver: Optional[str] = typer.Option(None, "--as", help="Name recorded as approver."),
    repo: Optional[Path] = RepoOpt,
) -> None:
    """Product approves exactly this content: on a terminal by typing its short hash, or with --key."""
    from agent import render

    gate = _gate(repo)
    rec, approval = gate.approve(pid, key_path=key, approver=approver, confirm=render.confirm_hash)
    typer.echo(f"approved {rec.id} ({approval.method}, hash {rec.hash[:8]}) until {approval.expires_at}")


@app.command()
def reject(
    pid: str = typer.Argument(..., help="Proposal id."),
    reason: str = typer.Option(..., "--reason", help="Why."),
    repo: Optional[Path] = RepoOpt,
) -> None:
    """Product rejects a proposal."""
    rec = _gate(repo).reject(pid, reason)
    typer.echo(f"rejected {rec.id}")


@app.command()
def apply(pid: str = typer.Argument(..., help="Proposal id."), repo: Optional[Path] = RepoOpt,
          fmt: Fmt = typer.Option(Fmt.text, "--format")) -> None:
    """Apply an approved, hash-matching, non-stale proposal: verify, then commit with the trailers."""
    from agent import render

    rec = _gate(repo).apply(pid)
    if fmt is Fmt.json:
        render.dump_json({"id": rec.id, "status": rec.status, "commits": rec.applied_commits})
    else:
        typer.echo(f"applied {rec.id}: " + ", ".join(f"{r or 'platform'}@{c[:7]}" for r, c in rec.applied_commits.items()))


@app.command()
def rollback(pid: str = typer.Argument(..., help="Proposal id."), repo: Optional[Path] = RepoOpt) -> None:
    """Revert an applied proposal (its approved rollback plan) with commits carrying the same trailers."""
    rec = _gate(repo).rollback(pid)
    typer.echo(f"rolled back {rec.id}: " + ", ".join(f"{r or 'platform'}@{c[:7]}" for r, c in rec.rollback_commits.items()))


audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(repo: Optional[Path] = RepoOpt) -> None:
    """Check the hash chain of .devops-agent/audit.jsonl (exit 1 on any edit, deletion or reordering)."""
    gate = _gate(repo)
    ok, problems = gate.audit.verify()
    for line in problems:
        typer.echo(line, err=True)
    n = len(gate.audit.entries()) if ok else None
    typer.echo(f"audit log intact: {n} entries" if ok else f"audit log BROKEN: {len(problems)} problem(s)")
    if not ok:
        raise typer.Exit(1)


key_app = typer.Typer(help="The Product signature key.", no_args_is_help=True)
app.add_typer(key_app, name="product-key")


@key_app.command("init")
def product_key_init(
    out: Optional[Path] = typer.Option(None, "--out", help="Where to write the private key (default: outside the repo)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing key file."),
    repo: Optional[Path] = RepoOpt,
) -> None:
    """Create the Product key (Ed25519, 0600) and register its public half in this repo's state."""
    path, fingerprint = _gate(repo).init_product_key(out, force=force)
    typer.echo(f"Product key written to {path} (fingerprint {fingerprint}); keep it away from the DevOps role")


release_app = typer.Typer(help="Release deliverables and the delivery gate.", no_args_is_help=True)
app.add_typer(release_app, name="release")


@release_app.command("check")
def release_check(repo: Optional[Path] = RepoOpt, fmt: Fmt = typer.Option(Fmt.text, "--format")) -> None:
    """The review's verdict plus open delivery blocks (exit 0 GO, 1 NO-GO)."""
    from agent import render

    from tools.deliverables import release_verdict

    gate = _gate(repo)
    session = gate.session(run_checks=True)
    blocks = gate.store.open_blocks()
    verdict = release_verdict(session, blocks)
    render.print_release_check(session, blocks, verdict, json_out=fmt is Fmt.json)
    if verdict != "GO":
        raise typer.Exit(1)


@release_app.command("checklist")
def release_checklist(
    repo: Optional[Path] = RepoOpt,
    env: Optional[str] = typer.Option(None, "--env", help="Production environment (default: prod)."),
    fmt: MdFmt = typer.Option(MdFmt.markdown, "--format"),
) -> None:
    """Per service: image and tag, env vars, volumes and migrations, healthchecks, deploy steps, rollbacks."""
    from agent import render
    from tools import deliverables

    gate = _gate(repo)
    cl = deliverables.checklist(gate.session(run_checks=True), gate.store, env)
    if fmt is MdFmt.json:
        render.dump_json(render.asdict_deep(cl))
    else:
        sys.stdout.write(render.checklist_markdown(cl))


@release_app.command("notes")
def release_notes(repo: Optional[Path] = RepoOpt, fmt: MdFmt = typer.Option(MdFmt.markdown, "--format")) -> None:
    """Production notes: each applied change since the last release tag, with its reason, risk and rollback."""
    from agent import render
    from tools import deliverables

    gate = _gate(repo)
    data = deliverables.notes(gate.session(), gate.store)
    if fmt is MdFmt.json:
        render.dump_json(data)
    else:
        sys.stdout.write(render.notes_markdown(data))


@app.command()
def block(
    reason: str = typer.Option(..., "--reason", help="The availability, security or infra-regression risk."),
    key: Optional[Path] = typer.Option(None, "--key", help="The Product key."),
    repo: Optional[Path] = RepoOpt,
) -> None:
    """Block the delivery (a Product decision, approved like a proposal)."""
    from agent import render

    b = _gate(repo).block(reason, key_path=key, confirm=render.confirm_code)
    typer.echo(f"delivery blocked ({b.get('id')}): {reason}")


@app.command()
def unblock(
    block_id: str = typer.Argument(..., help="Block id (see `release check`)."),
    key: Optional[Path] = typer.Option(None, "--key", help="The Product key."),
    repo: Optional[Path] = RepoOpt,
) -> None:
    """Lift a delivery block (a Product decision)."""
    from agent import render

    _gate(repo).unblock(block_id, key_path=key, confirm=render.confirm_code)
    typer.echo(f"block {block_id} lifted")


@key_app.command("register")
def product_key_register(
    key: Path = typer.Option(..., "--key", help="An existing Product key (made by `product-key init` for another repo)."),
    repo: Optional[Path] = RepoOpt,
) -> None:
    """Register an existing Product key for this repo (refused if another key is registered)."""
    gate = _gate(repo)
    fingerprint = gate.register_product_key(key)
    typer.echo(f"Product key {fingerprint} registered for {gate.root}")


@example_app.command("init")
def example_init(dest: Path = typer.Argument(..., help="Directory to create (must not exist or be empty).")) -> None:
    """Build the example platform in DEST as a git repo whose five services are real submodules."""
    from agent.example import init_example

    root = init_example(dest)
    typer.echo(f"example platform ready in {root}; try: devops-agent review --repo {root}")


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("DEVOPS_AGENT_DEBUG"))
    args = [a for a in args if a != "--debug"]
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="devops-agent", standalone_mode=False)
    except UserError as exc:
        if debug:
            raise
        sys.stderr.write(f"devops-agent: {exc.line()}\n")
        sys.exit(exc.exit_code)
    except Abort:
        sys.stderr.write("devops-agent: aborted\n")
        sys.exit(130)
    except ClickException as exc:
        exc.show()
        sys.exit(2)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # never a traceback without --debug
        if debug:
            raise
        sys.stderr.write(f"devops-agent: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)\n")
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
