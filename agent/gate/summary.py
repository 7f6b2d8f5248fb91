"""What Product reads before signing, in words: per file and per service what changes, the reason, risk and
rollback, the intention relied on, the checks' verdict on the proposed tree, the commits that will be
signed (the change and its revert, in each repository) and why the passphrase is asked that often.

Built by the gate from the plan it is about to sign (structured data); front ends only render it. The raw
commits still follow it: this is a reading aid, the signature covers the commits."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from agent.core import hints
from agent.gate import commits as gc
from agent.gate import ssh

if TYPE_CHECKING:
    from agent.gate.gate import Gate, Plan


@dataclass
class FileChange:
    path: str  # platform-relative
    repo: str  # "" for the platform, else the submodule path
    services: list[str]  # the compose services this file builds, mounts or defines
    said: list[str]  # the change in words


@dataclass
class CommitToSign:
    repo: str
    kind: str  # change | revert
    parent: str  # a commit id, or words when the parent is itself signed in this approval
    tree: str | None  # the tree id signed, when known before signing (None: it names commits signed here)
    what: str


@dataclass
class Passphrase:
    runs: int  # ssh-keygen signing runs (one per level of commits that name each other)
    asked: int  # how many times Product is asked (passphrase or security-key touch)
    why: str
    tip: str = ""


@dataclass
class ChecksVerdict:
    verdict: str  # the review's verdict on the proposed tree (GO, NO-GO, CANNOT-TELL)
    base_verdict: str
    new_severe: list[str]  # new blocker/high findings (none, or the gate refuses before this is shown)
    new: list[str]  # every finding of the proposed tree the base does not have, with its severity
    fixed: list[str]  # findings of the base that the proposed tree no longer has
    counts: dict[str, int]  # findings of the proposed tree by severity
    not_run: list[str]
    judged: str  # when the gate's refusal rule was applied: at propose on these bases, or again now


@dataclass
class ApprovalSummary:
    proposal: str
    reason: str
    risk: str
    rollback: str
    intentions: list[str]
    expires: str
    changes: list[FileChange]
    checks: ChecksVerdict
    commits: list[CommitToSign]
    passphrase: Passphrase
    ids_note: str
    signed: dict[str, dict[str, str]] = field(default_factory=dict)  # after signing: repo -> change/revert ids

    def to_dict(self) -> dict:
        return asdict(self)


def approval_summary(gate: Gate, rec, plan: Plan, key_path: Path, *, expires: str, intentions: list[str],
                     judged_now: bool, same_finding: Callable) -> ApprovalSummary:
    """The summary of `plan` (whose unsigned preview commits are written: `plan.preview`); `intentions` as the
    signed message names them, `same_finding` the gate's identity of a finding between two trees."""
    base = gate.session(run_checks=True, rev=plan.platform.base)
    return ApprovalSummary(
        proposal=rec.id, reason=rec.meta.get("reason", ""), risk=rec.meta.get("risk", ""),
        rollback=rec.meta.get("rollback", ""), intentions=intentions, expires=expires,
        changes=_file_changes(base.platform(), rec, plan),
        checks=_checks(gate, base, plan, judged_now, same_finding),
        commits=_commits(plan), passphrase=_passphrase(plan, key_path, gate),
        ids_note=("A commit's id is a hash of its content, signature included: the ids of the commits above are "
                  "known only once signed. What you sign is each tree id shown, on its parent; the raw commits "
                  "below are unsigned previews (their ids differ from the signed ones, printed after signing)."))


def _file_changes(platform, rec, plan: Plan) -> list[FileChange]:
    """Per target file: the services it concerns (on the base's platform) and its change in words."""
    from tools import change_words, changes

    patch = changes.parse_patch(rec.diff)
    out = []
    for t in rec.targets:
        target = changes.Target(**t)
        part = next(p for p in plan.repos if p.repo == target.repo)
        before = _blob(part.path, part.base, target.repo_path)
        tree = gc.build_tree(part.path, part.base, part.patch)
        after = _blob(part.path, tree, target.repo_path)
        services = changes.impacted_services(platform, [target], patch)
        out.append(FileChange(target.path, target.repo, services, change_words.describe(target.path, before, after)))
    return out


def _blob(repo: Path, treeish: str, path: str) -> bytes | None:
    entry = gc.tree_entry(repo, treeish, path)
    return gc.blob(repo, entry[2]) if entry and entry[1] == "blob" else None


def _checks(gate: Gate, base, plan: Plan, judged_now: bool, _key: Callable) -> ChecksVerdict:
    from agent.gate.gate import SEVERE

    after = gate.session(run_checks=True, rev=plan.preview[-1])
    known = {_key(f) for f in base.findings}
    now = {_key(f) for f in after.findings}
    counts: dict[str, int] = {}
    for f in after.findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return ChecksVerdict(
        verdict=after.verdict, base_verdict=base.verdict,
        new_severe=[f"{f.id} {f.title}" for f in after.findings if f.severity in SEVERE and _key(f) not in known],
        new=[f"{f.id} {f.title} ({f.severity})" for f in after.findings if _key(f) not in known],
        fixed=[f"{f.id} {f.title} ({f.severity})" for f in base.findings if _key(f) not in now],
        counts=counts, not_run=[str(gap) for gap in after.not_run],
        judged=("judged again now (the platform moved since it was proposed)" if judged_now
                else "judged when it was proposed, on these same base commits"))


def _commits(plan: Plan) -> list[CommitToSign]:
    subs = [p for p in plan.repos if p.repo]
    out = []
    for part in plan.repos:
        where = part.repo or "platform"
        named = part is plan.platform and subs
        out.append(CommitToSign(
            part.repo, "change", part.base,
            None if named else part.forward_tree,
            f"{where}: the change, on parent {part.base}"
            + (f" (its tree names the signed {', '.join(s.repo for s in subs)} commit)" if named else "")))
    for part in plan.repos:
        where = part.repo or "platform"
        named = part is plan.platform and subs
        base_tree = gc.rev(part.path, f"{part.base}^{{tree}}")
        out.append(CommitToSign(
            part.repo, "revert", f"the {where} change above", None if named else base_tree,
            f"{where}: its revert, signed now so that `{hints.rollback(plan.proposal)}` needs no new signature: "
            f"it restores the files of {part.base}"))
    return out


def _passphrase(plan: Plan, key_path: Path, gate: Gate) -> Passphrase:
    runs = 3 if len(plan.repos) > 1 else 2
    why = ("each run signs commits that name the ones signed before (a commit's id includes its signature): "
           + ("the submodule changes; then the platform change (it names them) and the submodule reverts; "
              "then the platform revert" if runs == 3 else "the change; then its revert (it names the change)"))
    public = plan.signer.public_line if plan.signer.key else ssh.read_public_key(Path(key_path))
    security_key = "-sk" in public.split(" ", 1)[0]
    if ssh.key_in_agent(public):
        return Passphrase(runs, 0, f"the key is loaded in ssh-agent: nothing is asked ({runs} signing runs: {why})")
    if security_key:
        return Passphrase(runs, runs, f"touch the security key {runs} times: {why}")
    if not ssh.asks_passphrase(Path(key_path)):
        return Passphrase(runs, 0, f"this key has no passphrase (demo only): nothing is asked ({runs} signing runs)")
    return Passphrase(runs, runs, f"the passphrase is asked {runs} times: {why}",
                      tip=f"to type it once: `{hints.ssh_add(str(key_path))}`, then approve with `--key "
                          f"{key_path}.pub`")
