"""The change gate: propose, proposals, approve, reject, apply, rollback, audit, product-key, block."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from agent.commands.common import (Fmt, RepoOpt, _gate, _read_patch, app)
from agent.core.errors import UserError


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
    from agent.gate.policy import ProposalMeta

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
