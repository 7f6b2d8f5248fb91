"""The change gate: propose → Product signs the exact commits → apply (verify, fast-forward) → rollback.

Authority is Product's SSH signature on the commit a proposal produces, checked against the signer list
committed at `.allowed_signers` in the commit's parent; nothing rests on a variable, a terminal or a
secret the DevOps role's user can read. The state database and the audit log say what happened; git's
objects and refs are what counts: `apply` only fast-forwards a branch to a verified signed commit whose
parent is the current HEAD, and `verify` finds every infra commit on the branch that no signer signed.
See docs/gate-security.md for the threat model.
"""
from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from agent.core import hints
from agent.core.config import MAX_APPROVAL_TTL_DAYS
from agent.core.errors import RefusedError, UserError
from agent.gate import commits as gc
from agent.gate import ssh

FAULT_ENV = "DEVOPS_AGENT_FAULT"  # tests: kill the process at a named step of apply/rollback
SEVERE = ("blocker", "high")


def fault_point(step: str) -> None:
    """Simulated kill -9 at `step` when DEVOPS_AGENT_FAULT names it (fault-injection tests)."""
    if os.environ.get(FAULT_ENV) == step:
        os._exit(137)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None


def new_id() -> str:
    return f"p-{_now().strftime('%Y%m%d')}-{secrets.token_hex(3)}"


def short_hash(content_hash: str) -> str:
    return content_hash[:8]


@dataclass
class RepoPlan:
    """One repository's part of a proposal: the base it was built on and the trees it produces."""
    repo: str  # "" for the platform, else the submodule path
    path: Path
    base: str
    patch: str | None
    forward_tree: str = ""
    revert_tree: str = ""
    forward: str = ""  # signed commit ids, once signed
    revert: str = ""
    forward_payload: bytes = b""
    revert_payload: bytes = b""


@dataclass
class Plan:
    proposal: str
    repos: list[RepoPlan]  # submodules first, the platform last
    signer: ssh.Signer
    message: str
    revert_message: str
    preview: list[str] = field(default_factory=list)  # unsigned forward commit ids, for `git show`

    @property
    def platform(self) -> RepoPlan:
        return self.repos[-1]


class Gate:
    """One platform repo's gate. Front ends (CLI, REPL, MCP) call these methods and hold no rules."""

    clock = staticmethod(_now)  # when an approval is made and from when it runs (a fixture dates one in the past)

    def __init__(self, root: Path, session=None) -> None:
        from agent.gate.audit import AuditLog
        from agent.gate.store import Store

        self.root = Path(root)
        self._session = session
        self.store = Store(self.root)
        self.audit = AuditLog(self.root, self.store)
        self.recover()

    # -- what the gate reads: git objects, never the work tree ----------------------------------------

    def session(self, run_checks: bool = False, rev: str | None = None, gitlinks: dict[str, str] | None = None,
                signatures: bool = False):
        """The session of a commit (default HEAD): its config, charter, Notion export and sources; with
        `signatures`, its checks include the branch's signature verification (release check)."""
        from agent.session import open_session

        if rev is None and not run_checks and self._session is not None:
            return self._session
        session = open_session(self.root, rev=rev or gc.head(self.root), run_checks=run_checks, gitlinks=gitlinks,
                               signatures=signatures)
        if rev is None and not run_checks:
            self._session = session
        return session

    def _require_git(self) -> None:
        from sources.git import run_git

        top = run_git(["rev-parse", "--show-toplevel"], self.root, check=False).strip()
        if not top or Path(top).resolve() != self.root.resolve():
            raise UserError(f"{self.root} is not the root of a git repository",
                            "the gate works on commits: point --repo at the platform's git root")

    def _submodules(self, commit: str) -> dict[str, str]:
        """Submodule path -> the gitlink `commit` records."""
        from sources.git import gitlinks_of

        return gitlinks_of(self.root, commit)

    def signers(self, commit: str | None = None) -> list[ssh.Signer]:
        """The signer list in force at `commit` (default HEAD): the committed list, trusted only when every
        change to it since the trust root was signed by a signer of the list before (else empty: no
        authority comes from a signer list the role committed by hand)."""
        from agent.gate.verify import trusted_signers

        return trusted_signers(self.root, commit or gc.head(self.root))

    def _bases(self, targets) -> dict[str, str]:
        """Repo -> base commit: the platform's HEAD, and for a submodule the gitlink HEAD records, which
        must also be the submodule's own HEAD (commits made in it by hand are never carried along)."""
        self._require_git()
        gc.branch(self.root)
        platform = gc.head(self.root)
        links = self._submodules(platform)
        bases = {"": platform}
        for repo in sorted({t.repo for t in targets if t.repo}):
            recorded = links.get(repo)
            if recorded is None:
                raise UserError(f"{repo} is not a submodule at HEAD", "target files of the platform or its submodules")
            sub = self.root / repo
            if not gc.has_commit(sub, recorded):
                raise UserError(f"submodule {repo} is not initialised here (the platform records {recorded[:12]})",
                                f"run `{hints.submodule_init(repo)}`")
            current = gc.rev(sub, "HEAD^{commit}")
            if current != recorded:
                raise RefusedError(
                    f"submodule {repo} is at {str(current)[:12]}, not at {recorded[:12]} that the platform records "
                    f"(commits made there by hand are not Product-approved)",
                    f"run `git -C {repo} checkout {recorded[:12]}` or propose those commits' content as a change")
            bases[repo] = recorded
        return bases

    def _targets(self, patch, bases: dict[str, str] | None = None):
        """Each path of the patch located in its repository, with its blob in that repo's base commit."""
        from tools import changes

        platform = gc.head(self.root)
        links = self._submodules(platform)
        known = {"": platform, **{r: links[r] for r in links if gc.has_commit(self.root / r, links[r])}}
        return changes.resolve_targets(self.root, patch, list(links), {**known, **(bases or {})})

    def _read_base(self, bases: dict[str, str]) -> Callable[[str], str | None]:
        from tools import changes


        subs = [r for r in bases if r]

        def read(path: str) -> str | None:
            repo, repo_path = changes.repo_of(path, subs)
            entry = gc.tree_entry(self.root / repo, bases[repo], repo_path) if repo in bases else None
            if entry is None or entry[1] != "blob":
                return None
            return gc.blob(self.root / repo, entry[2]).decode("utf-8", "replace")
        return read

    # -- propose -------------------------------------------------------------------------------------

    def propose(self, patch_text: str | bytes, meta, actor: str = "devops"):
        """Record a proposal. Policy refusals are recorded too (status refused); malformed input raises UserError."""
        from agent.gate import policy
        from agent.gate.store import ProposalRecord
        from agent.gate.verify import deploy_set
        from tools import changes

        self._require_git()
        meta_d = _meta_dict(meta)
        changes.check_metadata(meta_d)
        session = self.session()
        patch = changes.parse_patch(patch_text, max_bytes=session.config.max_file_bytes)
        refusals = list(policy.evaluate(session.charter, patch, [], meta, session.release, self.root))
        targets: list = []
        if not any(r.rule == "POL007" for r in refusals):
            targets = self._targets(patch)
            bases = self._bases(targets)
            refusals = list(policy.evaluate(session.charter, patch, targets, meta, session.release, self.root,
                                            read_base=self._read_base(bases),
                                            inventory=self._inventory(session),
                                            deploy=deploy_set(self.root, bases[""])))
            if not refusals:
                for repo, text in changes.split_by_repo(patch, targets).items():
                    changes.crosscheck(patch, self.root / repo, text)
                    gc.build_tree(self.root / repo, bases[repo], text)  # it applies to the committed base
                # The checks judge the proposed tree here, once: approve re-uses this judgement.
                judged = self._judge(self._draft_plan(patch, targets, bases))
                refusals = [policy.check_refusal(session.charter, f, note) for f, note in judged]
        content_hash = changes.content_hash(patch.text, meta_d, targets)
        services = changes.impacted_services(session.platform(), targets) if targets else []
        now = _iso(_now())
        rec = ProposalRecord(
            id=new_id(), created_at=now, status="refused" if refusals else "pending", hash=content_hash,
            diff=patch.text, meta=meta_d, targets=[_target_dict(t) for t in targets], services=services,
            refusals=[asdict(r) for r in refusals], applied_commits={}, rollback_commits={}, updated_at=now,
        )
        judgement = {"judged": {"bases": bases}} if targets and not refusals else {}
        _, stored = self.audit.record("refusal" if refusals else "proposal", actor, {
            "proposal": rec.id, "hash": rec.hash, "targets": [t["path"] for t in rec.targets],
            "refusals": rec.refusals, "reason": meta_d.get("reason"), **judgement},
            apply=lambda: self.store.add_proposal(rec))
        return stored

    @staticmethod
    def _inventory(session):
        """What the platform already runs: the images and tools of its loaded sources, and the images its
        workflows build and push (the platform's own, which XF001 points production at)."""
        from tools import facts

        known = facts.inventory_from_sources(session.sources)
        pushed = {facts.image_key(name) for name in session.platform().pushed_images()}
        return facts.Inventory(images=known.images | pushed, tools=known.tools)

    def _proposal_in(self, pid: str, statuses: set[str], verb: str):
        from tools import changes

        changes.check_proposal_id(pid)
        rec = self.store.get_proposal(pid)
        if rec.status not in statuses:
            raise RefusedError(f"proposal {rec.id} is {rec.status}, not {' or '.join(sorted(statuses))}",
                               f"only a {' or '.join(sorted(statuses))} proposal is {verb}")
        return rec

    def _checked(self, rec, bases: dict[str, str] | None = None):
        """The stored proposal, re-parsed and re-hashed; its targets still hold the approved base blobs at
        `bases` (default: the current bases; else stale). Returns (patch, targets, bases)."""
        from tools import changes

        changes.check_metadata(rec.meta)
        stored = [changes.Target(**t) for t in rec.targets]
        if changes.content_hash(rec.diff, rec.meta, stored) != rec.hash:
            raise RefusedError(f"proposal {rec.id} does not match its hash: it was modified", "propose it again")
        patch = changes.parse_patch(rec.diff)
        bases = bases or self._bases(stored)
        now = {t.path: t for t in self._targets(patch, bases)}
        for t in stored:
            cur = now.get(t.path)
            if cur is None or cur.base_blob != t.base_blob:
                raise RefusedError(f"stale: {t.path} changed since the proposal was made; re-propose",
                                   "propose the change again against the current file, then approve it")
        return patch, stored, bases

    # -- the commits a proposal produces -------------------------------------------------------------

    def _plan(self, rec, signer: ssh.Signer, expires: str) -> Plan:
        from tools import changes

        patch, targets, bases = self._checked(rec)
        per_repo = changes.split_by_repo(patch, targets)
        repos = [RepoPlan(repo=r, path=self.root / r, base=bases[r], patch=per_repo.get(r))
                 for r in sorted(bases, key=lambda r: (r == "", r))]
        message, revert_message = self._messages(rec, signer, expires)
        return Plan(proposal=rec.id, repos=repos, signer=signer, message=message, revert_message=revert_message)

    def _messages(self, rec, signer: ssh.Signer, expires: str) -> tuple[str, str]:
        """The signed messages: every field one line (metadata checked again: the row may be resealed; what is
        read from outside, the Notion status, escaped into one line), each trailer once."""
        from agent.core.text import one_line
        from agent.core.trailers import TrailerError, parse_trailers
        from tools.changes import META_FIELDS, check_metadata

        meta = rec.meta
        check_metadata({k: v for k, v in meta.items() if k in META_FIELDS})
        scope = f"({meta['scope']})" if meta.get("scope") else ""
        summary = (meta.get("summary") or meta["reason"]).strip()
        summary = summary if len(summary) <= 60 else summary[:57].rstrip() + "..."
        from agent.gate.audit import format_head

        head = format_head(self.audit.head())
        trailers = [
            f"Reason: {meta['reason']}", f"Risk: {meta['risk']}", f"Rollback: {meta['rollback']}",
            f"Proposal: {rec.id}", f"Content-Hash: {rec.hash}",
            *[f"Intention: {one_line(line)}" for line in self._intentions_relied_on(meta)],
            f"Approval-Expires: {expires}",
            f"Audit-Head: {head}",
            f"Approved-by: {one_line(signer.principal, 200)} ({ssh.fingerprint(signer.public_line)})",
        ]
        kind = meta.get("type") or "chore"
        body = "\n".join(trailers) + "\n"
        messages = (f"[devops] {kind}{scope}: {summary}\n\n{body}",
                    f"[devops] revert {kind}{scope}: {summary}\n\nReverts: {rec.id}\n{body}")
        for text in messages:
            try:
                parse_trailers(text)
            except TrailerError as exc:
                raise RefusedError(f"the message to sign is not one a verifier would read: {exc}",
                                   "nothing was signed; check the proposal's fields") from None
        return messages

    def _intentions_relied_on(self, meta: dict) -> list[str]:
        """The intention the proposal names, as read now: its status, last edit, where it was read from
        (live Notion, a stale cache, or an export on disk anyone with a shell can edit) and the sha256
        of what was read, so that Product signs knowing what the decision rests on."""
        wanted = meta.get("intention")
        if not wanted:
            return []
        session = self.session()
        for src in session.sources:
            if src.kind != "notion" or not src.ok or not isinstance(src.data, dict):
                continue
            for i in src.data.get("intentions", []):  # sources.notion_export.Intention
                if i.id == wanted:
                    via = f" via {i.endpoint}" if i.endpoint else ""
                    read = {"notion": f"live{via} {src.fetched_at}",
                            "cache": f"STALE cache{via} of {src.fetched_at}"}.get(i.origin, f"EXPORT on disk {src.path}")
                    edited = f"; last edited {i.last_edited}" if i.last_edited else ""
                    by = f" by {i.last_edited_by}" if i.last_edited_by else ""
                    return [f"{wanted} ({i.status}{edited}{by}; read {read}; sha256 {i.sha256 or src.sha256})"]
        return [f"{wanted} (not found in the Notion sources at HEAD)"]

    def _unsigned(self, plan: Plan, part: RepoPlan, forward: bool, links: dict[str, str], when: datetime) -> bytes:
        identity = gc.identity_of(plan.signer.principal)
        if forward:
            part.forward_tree = gc.build_tree(part.path, part.base, part.patch, links)
            return gc.unsigned_commit(part.forward_tree, [part.base], identity, plan.message, when)
        base_tree = gc.tree_of(part.path, part.base)
        part.revert_tree = gc.build_tree(part.path, part.base, None, links) if links else base_tree
        return gc.unsigned_commit(part.revert_tree, [part.forward], identity, plan.revert_message, when)

    def _sign_plan(self, plan: Plan, key: Path) -> None:
        """Sign level by level (a commit's id includes its signature, and a parent's id is in its child):
        submodule forwards; then the platform forward and submodule reverts; then the platform revert."""
        when = _now()
        subs, platform = plan.repos[:-1], plan.platform

        def sign(parts: list[tuple[RepoPlan, bool]]) -> None:
            payloads = []
            for part, forward in parts:
                links = {s.repo: (s.forward if forward else s.revert) for s in subs} if part is platform else {}
                payloads.append(self._unsigned(plan, part, forward, links, when))
            signatures = ssh.sign_many(payloads, key, ssh.GIT_NAMESPACE)
            for (part, forward), payload, sig in zip(parts, payloads, signatures):
                sha = gc.write_commit(part.path, gc.with_signature(payload, sig))
                if forward:
                    part.forward, part.forward_payload = sha, payload
                else:
                    part.revert, part.revert_payload = sha, payload
        if subs:
            sign([(s, True) for s in subs])
        sign([(platform, True)] + [(s, False) for s in subs])
        sign([(platform, False)])

    def preview(self, plan: Plan) -> list[str]:
        """Unsigned objects of the forward commits and of their reverts, written so that `git show` displays
        exactly what will be signed (a signed commit differs only by its gpgsig header, hence by its id).
        The forward ids are kept in `plan.preview` (the platform's last)."""
        when = _now()
        links: dict[str, str] = {}
        shown = []
        plan.preview = []
        note = "unsigned preview: this commit id changes once signed; the tree and parent are what is signed"
        for part in plan.repos:
            payload = self._unsigned(plan, part, True, links if part is plan.platform else {}, when)
            sha = gc.write_commit(part.path, payload)
            if part is not plan.platform:
                links[part.repo] = sha
            plan.preview.append(sha)
            shown.append(show_commit(part.path, sha, f"{part.repo or 'platform'}: the change ({note})"))
        revert_links: dict[str, str] = {}
        for part, forward in zip(plan.repos, plan.preview):
            part.forward = forward  # the revert's parent, for this preview only: reset below, set when signed
            payload = self._unsigned(plan, part, False, revert_links if part is plan.platform else {}, when)
            part.forward = ""
            sha = gc.write_commit(part.path, payload)
            if part is not plan.platform:
                revert_links[part.repo] = sha
            shown.append(show_commit(part.path, sha, f"{part.repo or 'platform'}: its revert ({note})"))
        return shown

    # -- approve / reject -----------------------------------------------------------------------------

    def approve(self, pid: str, key_path: Path, show: Callable[[list[str]], bool] | None = None,
                ttl_days: int | None = None, summary: Callable[[Any], None] | None = None):
        """Product signs the commits this proposal produces (and their revert) with the key at `key_path`.
        `summary` first receives what will be signed in words (agent.gate.summary.ApprovalSummary, whose
        `signed` is filled once signed); `show` receives the raw commits and returns whether to go on."""
        from agent.gate.store import ApprovalRecord

        rec = self._proposal_in(pid, {"pending"}, "approved")
        signers = self.signers()
        if not signers:
            raise RefusedError(f"no Product signer is committed at {ssh.SIGNERS_FILE}",
                               f"run `{hints.product_key_init()}` in Product's own terminal first")
        public = ssh.read_public_key(Path(key_path))
        signer = next((s for s in signers if s.public_line == public), None)
        if signer is None:
            raise RefusedError(f"{key_path} is not a Product signer of this platform ({ssh.SIGNERS_FILE} at HEAD)",
                               f"use the key registered by `{hints.product_key_init()}`")
        self._branch_accounted_for()
        config = self.session().config
        ttl = min(ttl_days or config.approval_ttl_days, config.approval_ttl_days, MAX_APPROVAL_TTL_DAYS)
        expires = _iso(self.clock() + timedelta(days=ttl))
        plan = self._plan(rec, signer, expires)
        judged_now = not self._judged_on(rec, plan)
        if judged_now:
            self._checks_pass(plan, preview=True)  # the platform moved since propose: judged again, the same way
        shown_commits = self.preview(plan) if show is not None or summary is not None else []
        said = None
        if summary is not None:
            from agent.gate.summary import approval_summary

            said = approval_summary(self, rec, plan, Path(key_path), expires=expires, judged_now=judged_now,
                                    intentions=self._intentions_relied_on(rec.meta), same_finding=_key)
            summary(said)
        if show is not None and not show(shown_commits):
            raise RefusedError("Product did not confirm", "nothing was signed")
        # The platform tree names the submodule commits, whose ids change once signed: compare it only alone.
        compared = [p for p in plan.repos if p.repo or len(plan.repos) == 1]
        shown = {p.repo: p.forward_tree for p in compared}
        self._sign_plan(plan, Path(key_path))
        if show is not None and {p.repo: p.forward_tree for p in compared} != shown:
            # Same base and patch give the same tree; another one means the object store changed under us.
            raise RefusedError("the signed tree differs from the one Product was shown",
                               "nothing was recorded; check the repository's objects (git fsck) and approve again")
        approval = ApprovalRecord(id=f"a-{secrets.token_hex(4)}", proposal_id=rec.id, hash=rec.hash,
                                  approver=signer.principal, method="ssh", created_at=_iso(self.clock()),
                                  expires_at=expires, signature=plan.platform.forward)
        # The row, the status and the audit entry in one transaction; the signed objects stay unreferenced
        # until it commits, so a concurrent approval that loses writes no ref, no row and no entry.
        _, rec = self.audit.record("approval", signer.principal, {
            "proposal": rec.id, "hash": rec.hash, "expires": expires,
            "commits": {p.repo: p.forward for p in plan.repos}, "reverts": {p.repo: p.revert for p in plan.repos}},
            apply=lambda: self.store.record_approval(approval))
        for part in plan.repos:
            gc.keep_ref(part.path, gc.APPROVED_REF + rec.id, part.forward)
            gc.keep_ref(part.path, gc.ROLLBACK_REF + rec.id, part.revert)
        if said is not None:
            said.signed = {p.repo or "platform": {"change": p.forward, "change_tree": p.forward_tree,
                                                 "revert": p.revert, "revert_tree": p.revert_tree} for p in plan.repos}
        return rec, approval

    def reject(self, pid: str, reason: str, key_path: Path):
        from agent.gate import decisions

        if not reason or len(reason.strip()) < 3:
            raise UserError("a rejection needs a reason", "pass --reason 'why'")
        rec = self._proposal_in(pid, {"pending", "approved"}, "rejected")
        signer, decision = decisions.sign_decision(
            "reject", self.root, {"proposal": rec.id, "hash": rec.hash, "reason": reason}, Path(key_path),
            self.signers(), self.audit)
        _, rec = decisions.record(self.audit, signer, decision, apply=lambda: self.store.reject(rec.id))
        for part in [""] + [t["repo"] for t in rec.targets if t["repo"]]:
            gc.delete_ref(self.root / part, gc.APPROVED_REF + rec.id)
            gc.delete_ref(self.root / part, gc.ROLLBACK_REF + rec.id)
        return rec

    def _branch_accounted_for(self) -> None:
        """Product never signs on top of infra commits nobody signed: the checks of the proposed tree would
        read a config, charter or Notion export the role committed by hand."""
        from agent.gate.verify import verify_branch

        report = verify_branch(self.root)
        bad = [c for c in report.failures if c.status != "unverifiable"]
        if bad or report.problems:
            first = f"{bad[0].sha[:12]} '{bad[0].subject[:50]}'" if bad else report.problems[0]
            raise RefusedError(f"the branch carries {len(bad)} infra commit(s) Product did not sign ({first})",
                               f"revert them, or have Product read and accept them: `{hints.accept()}`")

    # -- verification of signed commits ---------------------------------------------------------------

    def _verified(self, repo_dir: Path, sha: str, signers: list[ssh.Signer], what: str) -> gc.CommitObject:
        commit = gc.read_commit(repo_dir, sha)
        if commit.signature is None:
            raise RefusedError(f"{what} {sha[:12]} is not signed", "ask Product to approve it")
        if ssh.verify(commit.payload, commit.signature, signers, ssh.GIT_NAMESPACE) is None:
            raise RefusedError(f"{what} {sha[:12]} is not signed by a Product signer of its parent",
                               "ask Product to approve it again")
        return commit

    def _approved_plan(self, rec, ref_prefix: str, revert: bool) -> Plan:
        """The signed commits of an approval, each verified against the signers of the platform commit its
        change is based on, bound to this proposal (id, content hash, expiry), with trees recomputed now."""
        from tools import changes

        targets = [changes.Target(**t) for t in rec.targets]
        repos = sorted({""} | {t.repo for t in targets if t.repo}, key=lambda r: (r == "", r))
        platform_sha = gc.rev(self.root, ref_prefix + rec.id)
        if platform_sha is None:
            raise RefusedError(f"proposal {rec.id} has no signed commit ({ref_prefix}{rec.id} is missing)",
                               "ask Product to approve it again")
        platform = self._bound(rec, gc.read_commit(self.root, platform_sha), revert)
        if not revert and self._rejected(rec):
            raise RefusedError(f"Product rejected {rec.id} (a signed rejection is in the audit log)",
                               "propose the change again if it is still needed")
        parent = platform.parents[0] if len(platform.parents) == 1 else None
        if parent is None:
            raise RefusedError(f"signed commit {platform_sha[:12]} has not exactly one parent", "approve again")
        trust_commit = parent if not revert else (gc.read_commit(self.root, parent).parents or [parent])[0]
        signers = self.signers(trust_commit)
        self._verified(self.root, platform_sha, signers, "the platform commit")
        parent_links, new_links = self._submodules(parent), self._submodules(platform_sha)
        plans = []
        for repo in repos:
            if repo == "":
                plans.append(RepoPlan("", self.root, parent, None, forward=platform_sha, forward_tree=platform.tree))
                continue
            sub_sha = new_links.get(repo)
            if sub_sha is None or sub_sha == parent_links.get(repo):
                raise RefusedError(f"the signed platform commit does not move {repo}", "approve again")
            sub = self._bound(rec, self._verified(self.root / repo, sub_sha, signers, f"the {repo} commit"), revert)
            if sub.parents != [parent_links.get(repo)]:
                raise RefusedError(f"the signed {repo} commit is not based on the commit the platform records",
                                   "approve again")
            plans.append(RepoPlan(repo, self.root / repo, sub.parents[0], None, forward=sub_sha, forward_tree=sub.tree))
        changed = {r for r in new_links if new_links.get(r) != parent_links.get(r)}
        if changed - set(repos):
            raise RefusedError(f"the signed commit also moves {', '.join(sorted(changed - set(repos)))}",
                               "approve again")
        hint = "propose the revert as a new change" if revert else "re-approve"
        self._check_heads(plans, hint)
        if not revert:
            bases = {p.repo: p.base for p in plans}
            patch, targets, _ = self._checked(rec, bases)
            per_repo = changes.split_by_repo(patch, targets)
            for part in plans:
                links = {p.repo: p.forward for p in plans if p.repo} if part.repo == "" else {}
                tree = gc.build_tree(part.path, bases[part.repo], per_repo.get(part.repo), links)
                if tree != part.forward_tree:
                    raise RefusedError(f"the signed {part.repo or 'platform'} commit is not base + the approved patch",
                                       "approve again")
        return Plan(proposal=rec.id, repos=plans, signer=ssh.Signer("", "", ""), message="", revert_message="")

    def _rejected(self, rec) -> bool:
        from agent.gate import decisions

        signers = self.signers()
        return bool(signers) and decisions.rejected(self.audit, signers, decisions.repo_id(self.root), rec.id, rec.hash)

    def _bound(self, rec, commit: gc.CommitObject, revert: bool) -> gc.CommitObject:
        from agent.core.trailers import trailer

        trailers = commit.trailers()  # strict: a trailer twice or outside the block refuses the commit
        if trailer(trailers, "Proposal") != rec.id or trailer(trailers, "Content-Hash") != rec.hash:
            raise RefusedError(f"signed commit {commit.sha[:12]} is for another proposal or content",
                               "ask Product to approve this proposal")
        if revert != ("Reverts" in trailers):
            raise RefusedError(f"signed commit {commit.sha[:12]} is not the expected {'revert' if revert else 'change'}",
                               "approve again")
        expires = _parse_iso(trailer(trailers, "Approval-Expires") or "")
        if not revert and (expires is None or expires <= _now()):
            raise RefusedError(f"Product's approval of {rec.id} expired on {trailer(trailers, 'Approval-Expires') or '?'}",
                               "ask Product to approve it again")
        return commit

    # -- apply-time checks on the tree itself ---------------------------------------------------------

    def _draft_plan(self, patch, targets, bases: dict[str, str]) -> Plan:
        """The plan of a proposal before anyone signs it: its trees on the committed bases."""
        from tools import changes

        per_repo = changes.split_by_repo(patch, targets)
        repos = [RepoPlan(repo=r, path=self.root / r, base=bases[r], patch=per_repo.get(r))
                 for r in sorted(bases, key=lambda r: (r == "", r))]
        draft = ssh.Signer(principal="devops-agent", key_type="", key="")
        return Plan(proposal="draft", repos=repos, signer=draft, message="[devops] draft\n",
                    revert_message="[devops] draft revert\n")

    def _judge(self, plan: Plan, preview: bool = True) -> list[tuple[Any, str | None]]:
        """The checks' judgement of the proposed tree against its base: each new blocker/high finding as
        (finding, None), each part that ran on the base but not on it as (None, what); empty: allowed. Both
        sessions read commits (config, charter, Notion export of that tree), never the work tree."""
        base = self.session(run_checks=True, rev=plan.platform.base)
        if preview:
            when = _now()
            links: dict[str, str] = {}
            for part in plan.repos[:-1]:
                links[part.repo] = gc.write_commit(part.path, self._unsigned(plan, part, True, {}, when))
            tip = gc.write_commit(self.root, self._unsigned(plan, plan.platform, True, links, when))
        else:
            tip = plan.platform.forward
        try:
            after = self.session(run_checks=True, rev=tip)
        except gc.ForgedObject:
            raise  # the object store was altered: refuse as such, not as a platform the change breaks
        except UserError as exc:
            return [(None, f"the change leaves a platform the session cannot open: {exc.message}")]
        known = {_key(f) for f in base.findings if f.severity in SEVERE}
        new = [f for f in after.findings if f.severity in SEVERE and _key(f) not in known]
        broken = [str(gap) for gap in after.not_run if gap not in base.not_run]
        return [(f, None) for f in new] + [(None, n) for n in broken]

    def _judged_on(self, rec, plan: Plan) -> bool:
        """Whether propose judged this very proposal (its content hash) on the bases the plan is built on."""
        for entry in reversed(self.audit.entries()):
            data = entry.get("data") or {}
            if entry.get("event") == "proposal" and data.get("proposal") == rec.id:
                judged = data.get("judged") or {}
                return data.get("hash") == rec.hash and judged.get("bases") == {p.repo: p.base for p in plan.repos}
        return False

    def _checks_pass(self, plan: Plan, preview: bool = False) -> None:
        """New blocker/high findings, or a check that could not run, on the proposed tree refuse the change."""
        judged = self._judge(plan, preview)
        opened = next((n for f, n in judged if f is None and n and n.startswith("the change leaves")), None)
        if opened:
            raise RefusedError(opened, "nothing was changed; revise the proposal")
        new = [f for f, _ in judged if f is not None]
        broken = [n for f, n in judged if f is None and n]
        if new or broken:
            self.audit.append("apply-refused", "devops-agent", {
                "proposal": plan.proposal, "new_findings": [f.to_dict() for f in new], "not_run": broken})
            what = (f"{len(new)} new {new[0].severity} finding(s): {new[0].id} {new[0].title}" if new
                    else f"a check that cannot run on it ({broken[0]})")
            raise RefusedError(f"the change introduces {what}", "nothing was changed; revise the proposal")

    # -- apply and rollback: verify, then fast-forward ------------------------------------------------

    @contextmanager
    def _apply_lock(self):
        """One apply, rollback or recovery at a time per repo; yields False when busy."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.store.state_dir / "apply.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    def _require_lock(self, held: bool) -> None:
        if not held:
            raise RefusedError("another apply or rollback is running on this repo", "wait for it and retry")

    def apply(self, pid: str, actor: str = "devops"):
        with self._apply_lock() as held:
            self._require_lock(held)
            self._require_git()
            rec = self._proposal_in(pid, {"approved", "applying"}, "applied")
            plan = self._approved_plan(rec, gc.APPROVED_REF, revert=False)
            self._work_tree_safe(plan)
            self._checks_pass(plan)
            if rec.status == "approved":
                rec = self.store.transition(rec.id, {"approved"}, "applying")
            commits = self._fast_forward(plan, f"devops-agent apply {rec.id}")
            _, rec = self.audit.record("apply", actor, {"proposal": rec.id, "hash": rec.hash, "commits": commits},
                                       apply=lambda: self.store.transition(rec.id, {"applying"}, "applied",
                                                                           applied_commits=commits))
            return rec

    def rollback(self, pid: str, actor: str = "devops"):
        """Fast-forward to the revert commits Product signed with the approval, when nothing landed since."""
        with self._apply_lock() as held:
            self._require_lock(held)
            self._require_git()
            rec = self._proposal_in(pid, {"applied", "rolling_back"}, "rolled back")
            try:
                plan = self._approved_plan(rec, gc.ROLLBACK_REF, revert=True)
            except RefusedError as exc:
                raise RefusedError(f"cannot roll back {rec.id}: {exc.message}", "propose the revert as a new change") from None
            self._work_tree_safe(plan)
            if rec.status == "applied":
                rec = self.store.transition(rec.id, {"applied"}, "rolling_back")
            commits = self._fast_forward(plan, f"devops-agent rollback {rec.id}", prefix="rollback")
            _, rec = self.audit.record("rollback", actor, {"proposal": rec.id, "commits": commits},
                                       apply=lambda: self.store.transition(rec.id, {"rolling_back"}, "rolled_back",
                                                                           rollback_commits=commits))
            return rec

    def _check_heads(self, parts: list[RepoPlan], hint: str) -> None:
        """Each repo's HEAD is the signed commit's parent (not yet moved), or already the signed commit."""
        gc.branch(self.root)
        for part in parts:
            current = gc.rev(part.path, "HEAD^{commit}")
            if current not in (part.base, part.forward):
                where = part.repo or "the platform"
                raise RefusedError(f"stale: HEAD of {where} moved since Product approved "
                                   f"({str(current)[:12]}, approved on {part.base[:12]}); {hint}", hint)

    def _work_tree_safe(self, plan: Plan) -> None:
        """Never overwrite work that is not committed: each file the change writes holds the base content or
        already the approved content (hashed here, not through git's filters)."""
        for part in plan.repos:
            for status, mode, sha, path in gc.changed_paths(part.path, part.base, part.forward):
                if mode == "160000" or (part.repo == "" and path in {p.repo for p in plan.repos}):
                    continue
                base = gc.tree_entry(part.path, part.base, path)
                ok_blobs = {base[2] if base else None, sha if status != "D" else None}
                if not any(gc.work_tree_matches(part.path, path, b) for b in ok_blobs):
                    raise RefusedError(f"{(part.repo + '/' if part.repo else '') + path} has uncommitted changes",
                                       "commit or stash them first: the gate writes the approved content there")

    def _fast_forward(self, plan: Plan, reason: str, prefix: str = "apply") -> dict[str, str]:
        """Submodules first, then the platform: each ref by compare-and-swap, then exactly the changed files
        of the work tree from the committed blobs. A kill leaves each ref old or new; `recover` finishes."""
        for part in plan.repos:
            gc.no_stale_locks(part.path)
            gc.blobs_to_write(part.path, part.base, part.forward)  # re-hashed before any ref moves
        for part in plan.repos:
            if gc.rev(part.path, "HEAD^{commit}") != part.forward:
                ref = "HEAD" if part.repo else gc.branch(self.root)
                gc.update_ref(part.path, ref, part.forward, part.base, reason)
            fault_point(f"{prefix}-after-ref-{part.repo or 'platform'}")
        for part in plan.repos:
            gc.checkout_paths(part.path, part.base, part.forward)
            fault_point(f"{prefix}-after-files-{part.repo or 'platform'}")
        return {p.repo: p.forward for p in plan.repos}

    # -- recovery --------------------------------------------------------------------------------------

    def recover(self) -> str | None:
        """Finish or undo an apply/rollback that was killed, from the refs and the signed commits only."""
        with self._apply_lock() as held:
            if not held:
                return None
            done = None
            for rec in self.store.in_flight():
                if rec.status in ("applying", "rolling_back"):
                    try:
                        done = self._recover_one(rec) or done
                    except (RefusedError, UserError) as exc:
                        # Say it, and let every other command run: the refs are old or new, never half.
                        import sys

                        print(f"devops-agent: could not finish {rec.id} yet: {exc.message}", file=sys.stderr)
            return done

    def _recover_one(self, rec) -> str | None:
        revert = rec.status == "rolling_back"
        back, forward = ("applied", "rolled_back") if revert else ("approved", "applied")
        try:
            plan = self._approved_plan(rec, gc.ROLLBACK_REF if revert else gc.APPROVED_REF, revert=revert)
        except (RefusedError, UserError) as exc:
            # The row may be forged (resealed with the machine secret): the status it goes back to is what git
            # shows, never what the row claims.
            back = self._standing(rec)
            self.store.transition(rec.id, {rec.status}, back)
            self.audit.append("rollback-aborted" if revert else "apply-aborted", "devops-agent",
                              {"proposal": rec.id, "recovered": back, "why": exc.message})
            return "as-before"
        heads = {p.repo: gc.rev(p.path, "HEAD^{commit}") for p in plan.repos}
        if all(heads[p.repo] == p.base for p in plan.repos):
            self.store.transition(rec.id, {rec.status}, back)
            self.audit.append("rollback-aborted" if revert else "apply-aborted", "devops-agent",
                              {"proposal": rec.id, "recovered": "as before"})
            return "as-before"
        if any(heads[p.repo] not in (p.base, p.forward) for p in plan.repos):
            return None  # something else moved: leave it for a human (verify will tell)
        commits = self._fast_forward(plan, f"devops-agent recover {rec.id}", prefix="recover")
        field_name = "rollback_commits" if revert else "applied_commits"
        self.store.transition(rec.id, {rec.status}, forward, **{field_name: commits})
        self.audit.append("rollback" if revert else "apply", "devops-agent",
                          {"proposal": rec.id, "commits": commits, "recovered": "completed"})
        return "completed"

    def _standing(self, rec) -> str:
        """What git shows of a proposal whose in-flight row cannot finish: `applied` when its signed change is
        on the branch, `approved` when a valid signed approval of it (this id and content hash, a Product
        signer of its parent, not expired) is kept, else `pending`: no approval stands."""
        from agent.core.trailers import trailer
        from sources.git import git_succeeds

        sha = gc.rev(self.root, gc.APPROVED_REF + rec.id)
        if sha is None:
            return "pending"
        try:
            commit = gc.read_commit(self.root, sha)
            trailers = commit.trailers()
            if (trailer(trailers, "Proposal"), trailer(trailers, "Content-Hash")) != (rec.id, rec.hash) \
                    or len(commit.parents) != 1:
                return "pending"
            self._verified(self.root, sha, self.signers(commit.parents[0]), "the platform commit")
            if git_succeeds(["merge-base", "--is-ancestor", sha, "HEAD"], self.root):
                return "applied"
            self._bound(rec, commit, revert=False)  # not expired
        except (RefusedError, UserError):
            return "pending"
        return "approved"

    # -- verify -----------------------------------------------------------------------------------------

    def audit_verify(self) -> tuple[bool, list[str], int]:
        """The audit log's chain, every Product entry's signature (against the trusted signers at HEAD), and
        its length against the `Audit-Head:` trailers of the gate commits on the branch (truncation, an old
        copy restored). Returns (ok, problems, entries)."""
        from agent.gate import decisions
        from agent.gate.audit import parse_head

        signers = self.signers() if gc.rev(self.root, "HEAD") else []
        ok, problems = self.audit.verify(signers=signers, repo_id=decisions.repo_id(self.root) if signers else None)
        from agent.core.trailers import TrailerError, parse_trailers, trailer

        tip = gc.rev(self.root, "HEAD^{commit}")
        heads, more = [], []
        for commit in gc.history(self.root, tip) if tip else []:  # commits re-hashed, never git's own walk
            sha, body = commit.sha, commit.message
            if "audit-head" not in body.casefold():
                continue
            try:  # the gate's own trailer reader, never git's (which reads "first value wins" differently)
                value = trailer(parse_trailers(body), "Audit-Head")
            except TrailerError as exc:
                more.append(f"commit {sha.strip()[:12]}: {exc}")
                continue
            head = parse_head(value) if value else None
            if head is not None:
                heads.append((*head, f"commit {sha.strip()[:12]}"))
        more += self.audit.check_heads(heads)
        entries = len(self.audit.entries())
        return ok and not more, problems + more, entries

    def verify(self, rev_range: str | None = None, trust_root: str | None = None, new_since: str | None = None):
        from agent.gate.verify import verify_branch

        return verify_branch(self.root, rev_range, trust_root, new_since)

    # -- Product's signer list ------------------------------------------------------------------------

    def init_product_key(self, out: Path | None, identity: str, passphrase: bool = True,
                         key_type: str = "ed25519", signed_by: Path | None = None) -> tuple[Path, str, str | None]:
        """A new SSH key for Product, outside the repo, added to the committed signer list."""
        from agent.gate.keys import default_key_path

        path = Path(out).expanduser() if out else default_key_path()
        if _inside(path, self.root):
            raise UserError(f"refusing to write the Product key inside the repo ({path})",
                            "pass --out PATH outside the platform (the DevOps role reads the repo)")
        self._require_git()
        signers = self.signers()
        if signers and signed_by is None:
            raise RefusedError(f"{ssh.SIGNERS_FILE} already names {len(signers)} signer(s)",
                               "a new signer is added by an existing one: pass --signed-by THEIR_KEY")
        public = ssh.generate_key(path, identity, passphrase=passphrase, key_type=key_type)
        commit = self.add_signer(public, identity, signed_by or path, no_passphrase=not passphrase)
        return path, ssh.fingerprint(public), commit

    def add_signer(self, public: str, identity: str, signing_key: Path, no_passphrase: bool = False) -> str:
        """Commit a signer list with `public` added, signed by a signer of HEAD (or, for the first list,
        by the new key itself: the trust root)."""
        from tools.changes import check_metadata

        check_metadata({"scope": "signers", "reason": identity})
        key_type, _, blob_b64 = public.partition(" ")
        new = ssh.Signer(identity, key_type, blob_b64, no_passphrase=no_passphrase)
        signers = self.signers()
        if any(s.public_line == public for s in signers):
            raise UserError("this key is already a Product signer", "nothing to do")
        signing_public = ssh.read_public_key(Path(signing_key))
        if signers and not any(s.public_line == signing_public for s in signers):
            raise RefusedError(f"{signing_key} is not a Product signer at HEAD", "sign with a current signer's key")
        if not signers and signing_public != public:
            raise RefusedError("the first signer list is signed by its own key", "sign with the new key itself")
        text = ssh.format_signers([*signers, new])
        platform = gc.head(self.root)
        branch = gc.branch(self.root)
        blob = _write_blob(self.root, text.encode("ascii"))
        tree = _tree_with(self.root, platform, ssh.SIGNERS_FILE, blob)
        first = not signers
        message = (f"[devops] chore(signers): {'trust root: ' if first else 'add '}{identity}\n\n"
                   f"Signer: {identity} ({ssh.fingerprint(public)})\n"
                   f"Approved-by: {identity if first else next(s.principal for s in signers if s.public_line == signing_public)}\n")
        payload = gc.unsigned_commit(tree, [platform], gc.identity_of(identity), message)
        sig = ssh.sign(payload, Path(signing_key), ssh.GIT_NAMESPACE)
        sha = gc.write_commit(self.root, gc.with_signature(payload, sig))
        gc.update_ref(self.root, branch, sha, platform, f"devops-agent signer {identity}")
        gc.checkout_paths(self.root, platform, sha)
        self.audit.append("product-key", identity, {"fingerprint": ssh.fingerprint(public), "commit": sha,
                                                    "trust_root": first})
        return sha

    def restore_signers(self, key_path: Path) -> tuple[str, list[str]]:
        """Product's way back after a hand commit to the signer list: one commit, signed by a signer of the list
        in force (the one Product last signed, verify.signer_chain), that writes that list back and accepts
        the unsigned commits that changed it (they are undone). Returns (the commit, the commits it accepts)."""
        from agent.gate.verify import signer_chain, verify_branch
        from sources.git import read_blob_at

        self._require_git()
        platform, branch = gc.head(self.root), gc.branch(self.root)
        signers, set_by = signer_chain(self.root, platform)
        if not signers or set_by is None:
            raise RefusedError(f"no signer list Product signed is in the history of {ssh.SIGNERS_FILE}",
                               f"run `{hints.product_key_init()}` in Product's own terminal first")
        public = ssh.read_public_key(Path(key_path))
        signer = next((s for s in signers if s.public_line == public), None)
        if signer is None:
            raise RefusedError(f"{key_path} is not a signer of the list Product last signed ({set_by[:12]})",
                               "sign with a Product signer's key")
        data = read_blob_at(self.root, set_by, ssh.SIGNERS_FILE) or b""
        if read_blob_at(self.root, platform, ssh.SIGNERS_FILE) == data:
            raise UserError(f"{ssh.SIGNERS_FILE} at HEAD is the list Product last signed ({set_by[:12]}): "
                            "nothing to restore", "see `devops-agent verify` for unsigned commits")
        # Only commits whose sole infra change is the signer list: anything else they carry, Product reads and
        # accepts (or reverts) on its own, never as a side effect of restoring the list.
        undone = [c.sha for c in verify_branch(self.root).failures
                  if not c.repo and c.status != "unverifiable" and c.paths == [ssh.SIGNERS_FILE]]
        tree = _tree_with(self.root, platform, ssh.SIGNERS_FILE, _write_blob(self.root, data))
        message = (f"[devops] chore(signers): restore the signer list of {set_by[:12]}\n\n"
                   f"Restores: {set_by}\n" + "".join(f"Accepts: {s}\n" for s in undone)
                   + f"Approved-by: {signer.principal} ({ssh.fingerprint(signer.public_line)})\n")
        payload = gc.unsigned_commit(tree, [platform], gc.identity_of(signer.principal), message)
        sha = gc.write_commit(self.root, gc.with_signature(payload, ssh.sign(payload, Path(key_path), ssh.GIT_NAMESPACE)))
        gc.update_ref(self.root, branch, sha, platform, "devops-agent signer list restored")
        gc.checkout_paths(self.root, platform, sha)
        self.audit.append("product-key-restore", signer.principal, {"commit": sha, "restores": set_by,
                                                                    "accepts": undone})
        return sha, undone

    def accept(self, shas: list[str], reason: str, key_path: Path, show: Callable[[list[str]], bool] | None = None) -> str:
        """Product accepts infra commits that landed without a signature (after reading them): a signed
        commit with the same tree as HEAD whose `Accepts:` trailers name them, so `verify` counts them."""
        from agent.gate.verify import verify_branch
        from tools.changes import check_metadata

        check_metadata({"reason": reason})
        report = verify_branch(self.root)
        unsigned = {c.sha: c for c in report.failures if c.status != "unverifiable"}
        wanted = []
        for sha in shas:
            full = [s for s in unsigned if s.startswith(sha.lower())] if len(sha) >= 7 else []
            if len(full) != 1:
                raise UserError(f"{sha} is not one unsigned infra commit of this branch",
                                "see `devops-agent verify` for their ids")
            wanted.append(full[0])
        signers = self.signers()
        public = ssh.read_public_key(Path(key_path))
        signer = next((s for s in signers if s.public_line == public), None)
        if signer is None:
            raise RefusedError(f"{key_path} is not a Product signer of this platform", "sign with a signer's key")
        if show is not None:
            shown = [show_commit(self.root / unsigned[s].repo, s, unsigned[s].repo or "platform") for s in wanted]
            if not show(shown):
                raise RefusedError("Product did not confirm", "nothing was signed")
        platform, branch = gc.head(self.root), gc.branch(self.root)
        tree = gc.tree_of(self.root, platform)
        message = (f"[devops] chore(gate): Product accepts {len(wanted)} unsigned infra commit(s)\n\n"
                   f"Reason: {reason}\n" + "".join(f"Accepts: {s}\n" for s in wanted)
                   + f"Approved-by: {signer.principal} ({ssh.fingerprint(signer.public_line)})\n")
        payload = gc.unsigned_commit(tree, [platform], gc.identity_of(signer.principal), message)
        sha = gc.write_commit(self.root, gc.with_signature(payload, ssh.sign(payload, Path(key_path), ssh.GIT_NAMESPACE)))
        gc.update_ref(self.root, branch, sha, platform, "devops-agent accept")
        self.audit.append("acceptance", signer.principal, {"commit": sha, "accepts": wanted, "reason": reason})
        return sha

    # -- delivery blocks --------------------------------------------------------------------------------

    def block(self, reason: str, key_path: Path) -> dict:
        from agent.gate import decisions

        if not reason or len(reason.strip()) < 12:
            raise UserError("a delivery block needs a reason (what risk, on what)", "pass --reason 'the risk'")
        signer, decision = decisions.sign_decision("block", self.root, {"reason": reason}, Path(key_path),
                                                   self.signers(), self.audit)
        _, block = decisions.record(self.audit, signer, decision, apply=lambda: self.store.add_block(
            reason, signer.principal, "ssh", decision["signature"], statement=decision["statement"]))
        return block

    def open_blocks(self) -> list[dict]:
        """The delivery blocks that stand (fail closed: only a validly signed unblock lifts one)."""
        from agent.gate import decisions

        return decisions.open_blocks(self.store, self.signers(), audit=self.audit)

    def unblock(self, block_id, key_path: Path) -> None:
        from agent.gate import decisions

        signer, decision = decisions.sign_decision("unblock", self.root, {"block": str(block_id)}, Path(key_path),
                                                   self.signers(), self.audit)
        decisions.record(self.audit, signer, decision, apply=lambda: self.store.lift_block(
            block_id, signer.principal, "ssh", decision["signature"], statement=decision["statement"]),
            shown={"block": block_id})


def expiry_note(expires: str) -> str:
    """What an approval's expiry really bounds, as every front end says it after `approve`."""
    return (f"`apply` lands it until {expires} and refuses it after; a copy of the signed commit can still be "
            "fast-forwarded by hand while the branch has not moved (`reject` removes the refs here, not copies): "
            "CI's `verify --new-since` on push fails one that lands after its expiry")


def show_commit(repo: Path, sha: str, label: str = "") -> str:
    """`git show` of an object as stored (no textconv, external diff, color or mailmap), every control
    character made visible: what Product reads is what the signature covers. A merge is shown against each
    of its parents (`--diff-merges=separate`): git's combined diff hides a line the merge takes back from one."""
    from agent.core.text import escape_terminal
    from sources.git import run_git_bytes

    # git reads only objects re-hashed here (a forged blob or tree refuses before anything is shown)
    with gc.verified_objects(repo, gc.shown_objects(repo, sha)) as view:
        out = run_git_bytes(["show", "--no-color", "--no-mailmap", "--text", "--format=raw", "--diff-merges=separate",
                             "--stat", "--patch", "--binary", sha, "--"], repo, env=view).decode("utf-8", "replace")
    title = f"== {label or 'platform'} ==\n" if label is not None else ""
    return title + escape_terminal(out)


def _write_blob(repo: Path, data: bytes) -> str:
    from sources.git import run_git_bytes

    return run_git_bytes(["hash-object", "-w", "--no-filters", "--stdin"], repo, input_bytes=data).decode().strip()


def _tree_with(repo: Path, base: str, path: str, blob: str) -> str:
    return gc.build_tree(repo, base, None, entries={path: ("100644", blob)})


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def _target_dict(target) -> dict:
    return {k: getattr(target, k) for k in ("path", "repo", "repo_path", "exists", "base_blob")}


def _meta_dict(meta) -> dict:
    data = asdict(meta) if hasattr(meta, "__dataclass_fields__") else dict(meta)
    return {k: v for k, v in data.items() if v not in (None, "")}


def _key(finding) -> tuple:
    return (finding.id, finding.title)
