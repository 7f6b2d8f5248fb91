"""The change gate: propose, proposals, approve, reject, apply, rollback, audit, product-key, block."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from agent.commands import kit

from agent.commands.common import (Fmt, RepoOpt, _gate, _read_patch, app)
from agent.core.errors import UserError


@app.command()
def propose(
    patch: Optional[str] = kit.Option(None, "--patch", help="Unified diff (paths relative to the platform root), or - for stdin."),
    sets: list[str] = kit.Option([], "--set", help="Structured YAML edit FILE:KEY.PATH=VALUE (comments and order kept); repeatable."),
    reason: str = kit.Option(..., "--reason", help="Why this change (the charter: one reason)."),
    risk: str = kit.Option(..., "--risk", help="What could go wrong (one risk)."),
    rollback: str = kit.Option(..., "--rollback", help="How to undo it (one rollback)."),
    type_: str = kit.Option("chore", "--type", help="Commit type: fix, chore, feat, refactor, docs, test."),
    scope: Optional[str] = kit.Option(None, "--scope", help="Commit scope, e.g. compose, ci, nginx."),
    intention: Optional[str] = kit.Option(None, "--intention", help="Notion intention id this change serves."),
    repo: Optional[Path] = RepoOpt,
    fmt: Fmt = kit.Option(Fmt.text, "--format"),
) -> None:
    """Record an infra change as a proposal (exit 1 when the charter's policy refuses it)."""
    from agent import render
    from agent.toolbox import Toolbox

    if bool(patch) == bool(sets):
        raise UserError("give either --patch or --set", "--patch FILE takes a diff; --set FILE:KEY=VALUE edits YAML")
    rec = Toolbox(repo).propose({"reason": reason, "risk": risk, "rollback": rollback, "type": type_, "scope": scope,
                       "intention": intention}, patch=_read_patch(patch) if patch else None, sets=sets or None)
    render.print_proposal_result(rec, json_out=fmt is Fmt.json)
    if rec.status == "refused":
        raise kit.Exit(1)


proposals_app = kit.Group(help="Proposals of this repo.", invoke_without_command=True)
app.add_group(proposals_app, name="proposals")


@proposals_app.callback()
def proposals_list(
    ctx: kit.Context,
    status: Optional[str] = kit.Option(None, "--status", help="Only this status."),
    repo: Optional[Path] = RepoOpt,
    fmt: Fmt = kit.Option(Fmt.text, "--format"),
) -> None:
    """List proposals (or `proposals show ID`)."""
    if ctx.invoked_subcommand is not None:
        return
    from agent import render

    gate = _gate(repo)
    render.print_proposals(gate.store.list_proposals(status), json_out=fmt is Fmt.json)


@proposals_app.command("show")
def proposals_show(pid: str, repo: Optional[Path] = RepoOpt, fmt: Fmt = kit.Option(Fmt.text, "--format")) -> None:
    """One proposal: its diff, metadata, policy verdict, approvals."""
    from agent import render

    gate = _gate(repo)
    rec = gate.store.get_proposal(pid)
    render.print_proposal(rec, gate.store.approvals(rec.id), json_out=fmt is Fmt.json)


KeyOpt = kit.Option(..., "--key", help="Product's SSH key: the private key file, or its .pub when the key is in ssh-agent.")


@app.command()
def approve(
    pid: str = kit.Argument(..., help="Proposal id."),
    key: Path = KeyOpt,
    yes: bool = kit.Option(False, "--yes", help="Do not ask before signing (the commits are still shown)."),
    repo: Optional[Path] = RepoOpt,
) -> None:
    """Product signs the exact commits the proposal produces, and their revert, after reading them."""
    from agent import render

    gate = _gate(repo)
    said: list = []

    def summary(s) -> None:
        said.append(s)
        render.print_approval_summary(s)

    rec, approval = gate.approve(pid, key_path=key, show=lambda shown: render.confirm_commits(shown, yes),
                                 summary=summary)
    from agent.core import hints

    for s in said:
        render.print_signed(s)
    from agent.gate.gate import expiry_note

    kit.echo(f"approved {rec.id}: signed {approval.signature[:12]} by {approval.approver}; "
             f"`{hints.apply(rec.id)}` lands it. {expiry_note(approval.expires_at)}")


@app.command()
def reject(
    pid: str = kit.Argument(..., help="Proposal id."),
    reason: str = kit.Option(..., "--reason", help="Why."),
    key: Path = KeyOpt,
    repo: Optional[Path] = RepoOpt,
) -> None:
    """Product rejects a proposal (a signed statement; any signed commits of it are dropped)."""
    rec = _gate(repo).reject(pid, reason, key_path=key)
    kit.echo(f"rejected {rec.id}")


@app.command()
def accept(
    shas: list[str] = kit.Argument(..., help="Unsigned infra commits (see `devops-agent verify`)."),
    reason: str = kit.Option(..., "--reason", help="Why Product accepts them."),
    key: Path = KeyOpt,
    yes: bool = kit.Option(False, "--yes", help="Do not ask before signing (the commits are still shown)."),
    repo: Optional[Path] = RepoOpt,
) -> None:
    """Product reads infra commits that landed without a signature and accepts them with a signed commit."""
    from agent import render

    note = "These are the commits your signature accepts as Product-approved."
    sha = _gate(repo).accept(shas, reason, key, show=lambda shown: render.confirm_commits(shown, yes, note))
    kit.echo(f"accepted in the signed commit {sha[:12]}")


@app.command()
def verify(
    rev_range: Optional[str] = kit.Argument(None, help="A revision or range (default: HEAD since the trust root)."),
    trust_root: Optional[str] = kit.Option(None, "--trust-root", help="The trust root commit this history must start from (pin it in CI)."),
    new_since: Optional[str] = kit.Option(None, "--new-since", help="CI on push (github.event.before): the commits "
                                          "after REV are landing now; an approval among them past its expiry fails."),
    repo: Optional[Path] = RepoOpt,
    fmt: Fmt = kit.Option(Fmt.text, "--format"),
) -> None:
    """Every infra commit since the trust root and its Product signature (exit 1 on any unsigned one)."""
    from agent import render

    report = _gate(repo).verify(rev_range, trust_root, new_since)
    if fmt is Fmt.json:
        render.dump_json(report.to_dict())
    else:
        render.print_verify(report)
    if not report.ok:
        raise kit.Exit(1)


@app.command()
def apply(pid: str = kit.Argument(..., help="Proposal id."), repo: Optional[Path] = RepoOpt,
          fmt: Fmt = kit.Option(Fmt.text, "--format")) -> None:
    """Apply an approved, hash-matching, non-stale proposal: verify, then commit with the trailers."""
    from agent import render

    rec = _gate(repo).apply(pid)
    if fmt is Fmt.json:
        render.dump_json({"id": rec.id, "status": rec.status, "commits": rec.applied_commits})
    else:
        from agent.core import hints

        kit.echo(f"applied {rec.id}: " + ", ".join(f"{r or 'platform'}@{c[:7]}" for r, c in rec.applied_commits.items())
                 + f"; `{hints.rollback(rec.id)}` reverts it (the revert Product signed)")


@app.command()
def rollback(pid: str = kit.Argument(..., help="Proposal id."), repo: Optional[Path] = RepoOpt) -> None:
    """Revert an applied proposal (its approved rollback plan) with commits carrying the same trailers."""
    rec = _gate(repo).rollback(pid)
    kit.echo(f"rolled back {rec.id}: " + ", ".join(f"{r or 'platform'}@{c[:7]}" for r, c in rec.rollback_commits.items()))


audit_app = kit.Group(help="The append-only audit log.", no_args_is_help=True)
app.add_group(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(
    acknowledge_reset: bool = kit.Option(False, "--acknowledge-reset",
                                           help="Accept that state.db was lost (recorded in the log), so the gate works again."),
    repo: Optional[Path] = RepoOpt,
) -> None:
    """Check the audit log: its hash chain, every Product entry's signature, and its length against the
    Audit-Head trailers of the gate commits (exit 1 on any edit, deletion, truncation or forged entry)."""
    gate = _gate(repo)
    if acknowledge_reset:
        entry = gate.audit.acknowledge_reset("product")
        kit.echo("state reset acknowledged in the audit log" if entry else "nothing to acknowledge")
    ok, problems, entries = gate.audit_verify()
    for line in problems:
        kit.echo(line, err=True)
    kit.echo(f"audit log intact: {entries} entries" if ok else f"audit log BROKEN: {len(problems)} problem(s)")
    if not ok:
        raise kit.Exit(1)


key_app = kit.Group(help="Product's SSH signing keys and the committed signer list.", no_args_is_help=True)
app.add_group(key_app, name="product-key")


@key_app.command("init")
def product_key_init(
    identity: str = kit.Option("product", "--identity", help="The signer's name in the signer list (e.g. product@example.org)."),
    out: Optional[Path] = kit.Option(None, "--out", help="Where to write the private key (default: outside the repo)."),
    no_passphrase: bool = kit.Option(False, "--no-passphrase", help="Demo and tests only: `review` reports such a key."),
    key_type: str = kit.Option("ed25519", "--type", help="ed25519 (default) or ed25519-sk (a security key)."),
    signed_by: Optional[Path] = kit.Option(None, "--signed-by", help="A current signer's key, when the platform already has signers."),
    repo: Optional[Path] = RepoOpt,
) -> None:
    """Create Product's SSH key outside the repo and commit it to the signer list, signed (the first one is the trust root)."""
    path, fingerprint, commit = _gate(repo).init_product_key(out, identity, passphrase=not no_passphrase,
                                                             key_type=key_type, signed_by=signed_by)
    kit.echo(f"Product key {path} ({fingerprint}) is a signer since commit {commit[:12]}; "
               f"keep it away from the DevOps role" + (" (no passphrase: demo only)" if no_passphrase else ""))


@key_app.command("add")
def product_key_add(
    public: Path = kit.Argument(..., help="The new signer's public key (.pub)."),
    identity: str = kit.Option(..., "--identity", help="The new signer's name."),
    key: Path = KeyOpt,
    repo: Optional[Path] = RepoOpt,
) -> None:
    """Add a signer (e.g. a security key made with `ssh-keygen -t ed25519-sk`), signed by a current signer."""
    from agent.gate.ssh import read_public_key

    commit = _gate(repo).add_signer(read_public_key(public), identity, key)
    kit.echo(f"{identity} is a Product signer since commit {commit[:12]}")


@key_app.command("restore")
def product_key_restore(key: Path = KeyOpt, repo: Optional[Path] = RepoOpt) -> None:
    """Write back the signer list Product last signed, after a hand commit changed it (signed by a signer of
    that list; the hand commits it undoes are accepted in the same commit)."""
    commit, undone = _gate(repo).restore_signers(key)
    kit.echo(f"signer list restored in commit {commit[:12]}"
             + (f"; it undoes and accepts {', '.join(s[:12] for s in undone)}" if undone else ""))


@key_app.command("show")
def product_key_show(repo: Optional[Path] = RepoOpt, fmt: Fmt = kit.Option(Fmt.text, "--format")) -> None:
    """The committed signer list and the trust root."""
    from agent import render

    gate = _gate(repo)
    report = gate.verify()
    signers = gate.signers()
    render.print_signers(signers, report.trust_root, json_out=fmt is Fmt.json)


@app.command()
def block(
    reason: str = kit.Option(..., "--reason", help="The availability, security or infra-regression risk."),
    key: Path = KeyOpt,
    repo: Optional[Path] = RepoOpt,
) -> None:
    """Block the delivery (a statement Product signs)."""
    b = _gate(repo).block(reason, key_path=key)
    kit.echo(f"delivery blocked ({b.get('id')}): {reason}")


@app.command()
def unblock(
    block_id: str = kit.Argument(..., help="Block id (see `release check`)."),
    key: Path = KeyOpt,
    repo: Optional[Path] = RepoOpt,
) -> None:
    """Lift a delivery block (a statement Product signs)."""
    _gate(repo).unblock(block_id, key_path=key)
    kit.echo(f"block {block_id} lifted")
