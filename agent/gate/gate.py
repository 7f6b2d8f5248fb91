"""The change gate: propose → (Product) approve → apply → rollback, every step audited.

An approval is bound to the proposal's content hash (diff, metadata, base blob of every target),
valid only while the targets still hold the approved base content. `apply` works under a lock,
records a journal before it touches anything, verifies with the checks, then commits; a kill at
any step is recovered by the next gate command: back to "as before" if nothing was committed,
forward to "fully committed" if a commit exists (commits happen only after verification).
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from agent.core.errors import RefusedError, UserError

FAULT_ENV = "DEVOPS_AGENT_FAULT"  # tests: kill the process at a named step of apply/rollback
ROLE_ENV = "DEVOPS_AGENT_ROLE"  # set to "devops" by the model's own front ends (chat, MCP)
SEVERE = ("blocker", "high")


def fault_point(step: str) -> None:
    """Simulated kill -9 at `step` when DEVOPS_AGENT_FAULT names it (fault-injection tests)."""
    if os.environ.get(FAULT_ENV) == step:
        os._exit(137)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def new_id() -> str:
    return f"p-{_now().strftime('%Y%m%d')}-{secrets.token_hex(3)}"


def short_hash(content_hash: str) -> str:
    return content_hash[:8]


class Gate:
    """One platform repo's gate. Front ends (CLI, REPL, MCP) call these methods and hold no rules."""

    def __init__(self, root: Path, session=None) -> None:
        from agent.gate.audit import AuditLog
        from agent.gate.store import Store

        self.root = Path(root)
        self._session = session
        self.store = Store(self.root)
        self.audit = AuditLog(self.root, self.store)
        self.journal_path = self.store.state_dir / "journal.json"
        self.recover()

    # -- session --------------------------------------------------------------------

    def session(self, run_checks: bool = False):
        from agent.session import open_session

        if run_checks:
            return open_session(self.root)
        if self._session is None:
            self._session = open_session(self.root, run_checks=False)
        return self._session

    def _submodules(self) -> list[str]:
        return [s.path for s in self.session().git.submodules]

    # -- propose --------------------------------------------------------------------

    def propose(self, patch_text: str | bytes, meta, actor: str = "devops"):
        """Record a proposal. Policy refusals are recorded too (status refused); malformed input raises UserError."""
        from agent.gate import policy
        from agent.gate.store import ProposalRecord
        from tools import changes

        session = self.session()
        patch = changes.parse_patch(patch_text, max_bytes=session.config.max_file_bytes)
        refusals = list(policy.evaluate(session.charter, patch, [], meta, session.release, self.root))
        targets: list = []
        if not any(r.rule == "POL007" for r in refusals):
            targets = changes.resolve_targets(self.root, patch, self._submodules())
            refusals = list(policy.evaluate(session.charter, patch, targets, meta, session.release, self.root))
        if targets and not refusals:
            self._check_clean(targets)
            self._check_applies(patch, targets)
        meta_d = _meta_dict(meta)
        content_hash = changes.content_hash(patch.text, meta_d, targets)
        services = changes.impacted_services(session.platform(), targets) if targets else []
        now = _iso(_now())
        rec = ProposalRecord(
            id=new_id(), created_at=now, status="refused" if refusals else "pending", hash=content_hash,
            diff=patch.text, meta=meta_d, targets=[_target_dict(t) for t in targets], services=services,
            refusals=[asdict(r) for r in refusals], applied_commits={}, rollback_commits={}, updated_at=now,
        )
        self.store.add_proposal(rec)
        self.audit.append("refusal" if refusals else "proposal", actor, {
            "proposal": rec.id, "hash": rec.hash, "targets": [t["path"] for t in rec.targets],
            "refusals": rec.refusals, "reason": meta_d.get("reason")})
        return rec

    def _proposal_in(self, pid: str, status: str, verb: str):
        rec = self.store.get_proposal(pid)
        if rec.status != status:
            raise RefusedError(f"proposal {rec.id} is {rec.status}, not {status}", f"only a {status} proposal is {verb}")
        return rec

    def _require_git(self) -> None:
        if not self.session().git.is_git:
            raise UserError(f"{self.root} is not the root of a git repository",
                            "the gate commits every change: point --repo at the platform's git root")

    def _check_clean(self, targets) -> None:
        git = self.session().git
        dirty = [t.path for t in targets if t.exists and git.is_dirty(t.path)]
        if dirty:
            raise UserError(f"{', '.join(dirty)} has uncommitted changes",
                            "commit or stash them first: a proposal is made against committed content")

    def _check_applies(self, patch, targets, reverse: bool = False) -> None:
        from sources.git import GitError, run_git
        from tools import changes

        for repo, text in changes.split_by_repo(patch, targets).items():
            try:
                run_git(["apply", "--check", *(["-R"] if reverse else []), "-"], self.root / repo,
                        input_text=text)
            except GitError as exc:
                raise UserError(f"the patch does not apply to {repo or 'the platform repo'}: {exc.message}",
                                "regenerate it with `git diff` against the current files") from None

    # -- approve / reject -----------------------------------------------------------

    def approve(self, pid: str, key_path: Path | None = None, approver: str | None = None,
                confirm: Callable[[object, str], str] | None = None, ttl_days: int | None = None):
        """Product approval bound to the content hash: with the Product key, or on a TTY by typing the short hash."""
        from agent.gate import keys
        from agent.gate.store import ApprovalRecord

        rec = self._proposal_in(pid, "pending", "approved")
        self._revalidate(rec)
        ttl = ttl_days or self.session().config.approval_ttl_days
        expires = _iso(_now() + timedelta(days=ttl))
        method = "key" if key_path is not None else "tty"
        who = approver or ("product" if key_path is not None else _login())
        payload = keys.approval_payload(rec.id, rec.hash, expires, who, method)
        show = (lambda _what, code: confirm(rec, code)) if confirm is not None else None
        method, signature = self._product_sign(payload, "approval", key_path, show, code=short_hash(rec.hash))
        approval = ApprovalRecord(id=f"a-{secrets.token_hex(4)}", proposal_id=rec.id, hash=rec.hash, approver=who,
                                  method=method, created_at=_iso(_now()), expires_at=expires, signature=signature)
        self.store.add_approval(approval)
        rec = self.store.transition(rec.id, {"pending"}, "approved")
        self.audit.append("approval", who, {"proposal": rec.id, "hash": rec.hash, "method": method, "expires": expires})
        return rec, approval

    def reject(self, pid: str, reason: str, actor: str = "product"):
        if not reason or len(reason.strip()) < 3:
            raise UserError("a rejection needs a reason", "pass --reason 'why'")
        rec = self.store.transition(pid, {"pending", "approved"}, "rejected")
        self.store.revoke_approvals(rec.id)
        self.audit.append("rejection", actor, {"proposal": rec.id, "hash": rec.hash, "reason": reason})
        return rec

    def _terminal_allowed(self, what: str) -> None:
        if self.session().config.require_product_key:
            raise RefusedError(f"{what} needs the Product key here (require_product_key in .devops-agent.yaml)",
                               "pass --key PRODUCT_KEY")

    def _valid_approval(self, rec):
        from agent.gate import keys

        now = _now()
        problems = []
        for appr in self.store.approvals(rec.id):
            if appr.revoked:
                problems.append(f"approval {appr.id} was revoked")
                continue
            if appr.hash != rec.hash:
                problems.append(f"approval {appr.id} is for another content ({short_hash(appr.hash)})")
                continue
            if _parse_iso(appr.expires_at) <= now:
                problems.append(f"approval {appr.id} expired on {appr.expires_at}")
                continue
            payload = keys.approval_payload(rec.id, appr.hash, appr.expires_at, appr.approver, appr.method)
            if appr.method != "key" and self.session().config.require_product_key:
                problems.append(f"approval {appr.id} was typed at a terminal; this repo requires the Product key")
                continue
            ok = keys.verify(self.store, payload, appr.signature) if appr.method == "key" else \
                secrets.compare_digest(keys.local_mac(payload), appr.signature)
            if not ok:
                problems.append(f"approval {appr.id} has a bad signature")
                continue
            return appr
        raise RefusedError(f"proposal {rec.id} has no valid Product approval"
                           + (f" ({'; '.join(problems)})" if problems else ""), "ask Product to approve it")

    def _revalidate(self, rec) -> None:
        """The stored proposal still hashes to its hash, and its targets still hold the base content."""
        from tools import changes

        targets = [changes.Target(**t) for t in rec.targets]
        if changes.content_hash(rec.diff, rec.meta, targets) != rec.hash:
            raise RefusedError(f"proposal {rec.id} does not match its hash: it was modified", "propose it again")
        current = {t.path: t for t in changes.resolve_targets(self.root, changes.parse_patch(rec.diff),
                                                               self._submodules())}
        for t in targets:
            now = current.get(t.path)
            if now is None or now.base_blob != t.base_blob:
                raise RefusedError(f"stale: {t.path} changed since the proposal was approved; re-approve",
                                   "propose the change again against the current file, then approve it")

    # -- apply ----------------------------------------------------------------------

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
        from agent.gate import policy
        from tools import changes

        with self._apply_lock() as held:
            self._require_lock(held)
            self._require_git()
            rec = self._proposal_in(pid, "approved", "applied")
            self._valid_approval(rec)
            self._revalidate(rec)
            patch = changes.parse_patch(rec.diff)
            targets = [changes.Target(**t) for t in rec.targets]
            session = self.session()
            refusals = policy.evaluate(session.charter, patch, targets, policy.ProposalMeta(**rec.meta),
                                       session.release, self.root)
            if refusals:
                raise RefusedError(f"policy refuses {rec.id} now: {refusals[0].message}", refusals[0].clause)
            self._check_clean(targets)
            self._check_applies(patch, targets)
            baseline = _severe_keys(self.session(run_checks=True).findings)
            self._write_journal(rec, targets)
            fault_point("after-journal")
            rec = self.store.transition(rec.id, {"approved"}, "applying")
            fault_point("after-mark-applying")
            per_repo = changes.split_by_repo(patch, targets)
            for repo, text in per_repo.items():
                from sources.git import run_git

                run_git(["apply", "-"], self.root / repo, input_text=text)
            fault_point("after-write")
            after = self.session(run_checks=True).findings
            new = [f for f in after if f.severity in SEVERE and _key(f) not in baseline]
            if new:
                self._restore_from_journal()
                self.store.transition(rec.id, {"applying"}, "approved")
                self.audit.append("apply-refused", actor, {"proposal": rec.id, "new_findings": [f.to_dict() for f in new]})
                first = new[0]
                raise RefusedError(f"the change introduces {len(new)} new {first.severity} finding(s): "
                                   f"{first.id} {first.title}", "nothing was changed; revise the proposal")
            fault_point("after-verify")
            commits = self._commit(rec, targets, per_repo)
            rec = self.store.transition(rec.id, {"applying"}, "applied", applied_commits=commits)
            fault_point("after-commit")
            self.journal_path.unlink(missing_ok=True)
            self.audit.append("apply", actor, {"proposal": rec.id, "hash": rec.hash, "commits": commits})
            return rec

    def _message(self, rec, subject_prefix: str = "") -> str:
        meta = rec.meta
        scope = f"({meta['scope']})" if meta.get("scope") else ""
        summary = (meta.get("summary") or meta["reason"]).strip().splitlines()[0]
        summary = summary if len(summary) <= 60 else summary[:57].rstrip() + "..."
        approval = self.store.approvals(rec.id)
        approver = next((a for a in approval if not a.revoked and a.hash == rec.hash), None)
        trailers = [
            f"Reason: {_one_line(meta['reason'])}", f"Risk: {_one_line(meta['risk'])}",
            f"Rollback: {_one_line(meta['rollback'])}",
            f"Approved-by: {approver.approver} ({approver.method}, {short_hash(rec.hash)})" if approver else None,
            f"Proposal: {rec.id}",
            f"Intention: {meta['intention']}" if meta.get("intention") else None,
        ]
        return f"[devops] {subject_prefix}{meta.get('type') or 'chore'}{scope}: {summary}\n\n" + \
            "\n".join(t for t in trailers if t) + "\n"

    def _commit(self, rec, targets, per_repo: dict[str, str], message: str | None = None) -> dict[str, str]:
        from sources.git import run_git

        message = message or self._message(rec)
        commits: dict[str, str] = {}
        subs = [r for r in per_repo if r]
        for repo in subs:
            paths = [t.repo_path for t in targets if t.repo == repo]
            run_git(["add", "--", *paths], self.root / repo)
            run_git(["commit", "-q", "-F", "-", "--", *paths], self.root / repo, input_text=message,
                    env=_identity_env(self.root / repo))
            commits[repo] = run_git(["rev-parse", "HEAD"], self.root / repo).strip()
            fault_point(f"after-commit-{repo}")
        root_paths = [t.repo_path for t in targets if t.repo == ""] + subs
        run_git(["add", "--", *root_paths], self.root)
        run_git(["commit", "-q", "-F", "-", "--", *root_paths], self.root, input_text=message,
                env=_identity_env(self.root))
        commits[""] = run_git(["rev-parse", "HEAD"], self.root).strip()
        return commits

    # -- journal and recovery --------------------------------------------------------

    def _write_journal(self, rec, targets, kind: str = "apply") -> None:
        from sources.git import run_git

        repos = {}
        for t in targets:
            entry = repos.setdefault(t.repo, {"head": run_git(["rev-parse", "HEAD"], self.root / t.repo).strip(),
                                              "files": {}})
            path = self.root / t.path
            entry["files"][t.repo_path] = base64.b64encode(path.read_bytes()).decode() if path.is_file() else None
        if "" not in repos:
            repos[""] = {"head": run_git(["rev-parse", "HEAD"], self.root).strip(), "files": {}}
        data = {"proposal": rec.id, "kind": kind, "repos": repos}
        tmp = self.journal_path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.journal_path)

    def _restore_from_journal(self) -> None:
        from sources.git import run_git

        data = json.loads(self.journal_path.read_text(encoding="utf-8"))
        for repo, entry in data["repos"].items():
            for repo_path, content in entry["files"].items():
                path = self.root / repo / repo_path
                if content is None:
                    path.unlink(missing_ok=True)
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(base64.b64decode(content))
            if entry["files"]:
                run_git(["reset", "-q", "--", *entry["files"]], self.root / repo, check=False)
        self.journal_path.unlink(missing_ok=True)

    def recover(self) -> str | None:
        """Finish or undo an apply/rollback that was killed. Returns what was done, if anything.

        Only when no apply is running: a live apply holds the lock (a killed one no longer does)."""
        with self._apply_lock() as held:
            return self._recover() if held else None

    def _recover(self) -> str | None:
        if not self.journal_path.exists():
            # The journal is written before the status moves, so without one nothing was touched.
            for rec in self.store.list_proposals():
                if rec.status in ("applying", "rolling_back"):
                    back = "approved" if rec.status == "applying" else "applied"
                    self.store.transition(rec.id, {rec.status}, back)
                    self.audit.append("apply-aborted", "devops-agent", {"proposal": rec.id, "recovered": "as before"})
            return None
        from sources.git import run_git

        data = json.loads(self.journal_path.read_text(encoding="utf-8"))
        pid = data["proposal"]
        kind = data.get("kind", "apply")
        heads = {repo: run_git(["rev-parse", "HEAD"], self.root / repo).strip() for repo in data["repos"]}
        moved = {repo for repo, entry in data["repos"].items() if heads[repo] != entry["head"]}
        rec = self.store.get_proposal(pid)
        if not moved:
            self._restore_from_journal()
            back = "applied" if kind == "rollback" else "approved"
            if rec.status in ("applying", "rolling_back"):
                self.store.transition(pid, {rec.status}, back)
            self.audit.append(f"{kind}-aborted", "devops-agent", {"proposal": pid, "recovered": "as before"})
            return "as-before"
        # A commit exists, so verification had passed: finish the remaining commits.
        subs = [r for r in data["repos"] if r and r not in moved]
        if subs or "" not in moved:
            from tools import changes

            targets = [changes.Target(**t) for t in rec.targets]
            message = self._message(rec) if kind == "apply" else self._rollback_message(rec)
            self._finish_commits(targets, data, moved, message)
        commits = {repo: run_git(["rev-parse", "HEAD"], self.root / repo).strip() for repo in data["repos"]}
        if kind == "apply" and rec.status == "applying":
            self.store.transition(pid, {"applying"}, "applied", applied_commits=commits)
        elif kind == "rollback" and rec.status == "rolling_back":
            self.store.transition(pid, {"rolling_back"}, "rolled_back", rollback_commits=commits)
        self.journal_path.unlink(missing_ok=True)
        self.audit.append(kind, "devops-agent", {"proposal": pid, "commits": commits, "recovered": "completed"})
        return "completed"

    def _finish_commits(self, targets, data, moved: set[str], message: str) -> None:
        from sources.git import run_git

        for repo in data["repos"]:
            if repo == "" or repo in moved:
                continue
            paths = list(data["repos"][repo]["files"])
            run_git(["add", "--", *paths], self.root / repo)
            run_git(["commit", "-q", "-F", "-", "--", *paths], self.root / repo, input_text=message,
                    env=_identity_env(self.root / repo))
        if "" not in moved:
            paths = list(data["repos"][""]["files"]) + [r for r in data["repos"] if r]
            run_git(["add", "--", *paths], self.root)
            run_git(["commit", "-q", "-F", "-", "--", *paths], self.root, input_text=message,
                    env=_identity_env(self.root))

    # -- the Product key -------------------------------------------------------------

    def init_product_key(self, out: Path | None, force: bool = False) -> tuple[Path, str]:
        from agent.gate import keys

        self._not_the_devops_role("creating the Product key")
        path, fingerprint = keys.init_product_key(out, self.store, force=force)
        self.audit.append("product-key", "product", {"fingerprint": fingerprint})
        return path, fingerprint

    def register_product_key(self, key_path: Path) -> str:
        from agent.gate import keys

        self._not_the_devops_role("registering the Product key")
        fingerprint = keys.register_product_key(key_path, self.store)
        self.audit.append("product-key", "product", {"fingerprint": fingerprint, "registered": True})
        return fingerprint

    @staticmethod
    def _not_the_devops_role(what: str) -> None:
        if os.environ.get(ROLE_ENV, "").lower() == "devops":
            raise RefusedError(f"{what} is Product's act, and this process acts for the DevOps role",
                               "run it yourself, outside the agent's session")

    # -- delivery blocks --------------------------------------------------------------

    def _product_sign(self, payload: bytes, what: str, key_path: Path | None, confirm,
                      code: str | None = None) -> tuple[str, str]:
        """(method, signature) of a Product decision: signed with the Product key, or confirmed at a
        terminal by typing `code` (by default a short digest of the payload) and sealed locally."""
        import hashlib

        from agent.gate import keys

        if key_path is not None:
            signature = keys.sign(Path(key_path), payload)
            if not keys.verify(self.store, payload, signature):
                raise RefusedError("this key is not the registered Product key",
                                   "use the key made by `devops-agent product-key init` for this repo")
            return "key", signature
        self._terminal_allowed(what)
        if not _interactive() or confirm is None:
            raise RefusedError(f"{what} needs Product: no interactive terminal and no --key",
                               "run it in a terminal and type the code shown, or pass --key PRODUCT_KEY")
        code = code or hashlib.sha256(payload).hexdigest()[:8]
        if confirm(what, code).strip() != code:
            raise RefusedError("the typed code does not match", "nothing was recorded")
        return "tty", keys.local_mac(payload)

    def block(self, reason: str, key_path: Path | None = None, confirm=None, approver: str | None = None) -> dict:
        if not reason or len(reason.strip()) < 12:
            raise UserError("a delivery block needs a reason (what risk, on what)", "pass --reason 'the risk'")
        who = approver or ("product" if key_path else _login())
        payload = json.dumps({"block": reason, "at": _iso(_now()), "by": who}, sort_keys=True).encode()
        method, signature = self._product_sign(payload, f"block the delivery: {reason}", key_path, confirm)
        block = self.store.add_block(reason, who, method, signature)
        self.audit.append("block", who, {"block": block.get("id"), "reason": reason, "method": method})
        return block

    def unblock(self, block_id, key_path: Path | None = None, confirm=None, approver: str | None = None) -> None:
        who = approver or ("product" if key_path else _login())
        payload = json.dumps({"unblock": str(block_id), "by": who}, sort_keys=True).encode()
        method, signature = self._product_sign(payload, f"lift block {block_id}", key_path, confirm)
        self.store.lift_block(block_id, who, method, signature)
        self.audit.append("unblock", who, {"block": block_id, "method": method})

    # -- rollback -------------------------------------------------------------------

    def _rollback_message(self, rec) -> str:
        return self._message(rec, subject_prefix="revert ").replace(
            f"Proposal: {rec.id}", f"Proposal: {rec.id}\nReverts: {rec.applied_commits.get('', '')}")

    def rollback(self, pid: str, actor: str = "devops"):
        """Revert an applied proposal with revert commits carrying the same trailers (its approved rollback plan)."""
        from sources.git import GitError, run_git
        from tools import changes

        with self._apply_lock() as held:
            self._require_lock(held)
            self._require_git()
            rec = self._proposal_in(pid, "applied", "rolled back")
            patch = changes.parse_patch(rec.diff)
            targets = [changes.Target(**t) for t in rec.targets]
            self._check_clean(targets)
            try:
                self._check_applies(patch, targets, reverse=True)
            except UserError as exc:
                raise RefusedError(f"cannot roll back {rec.id}: the files changed since it was applied ({exc.message})",
                                   "propose the revert as a new change") from None
            self._write_journal(rec, targets, kind="rollback")
            rec = self.store.transition(rec.id, {"applied"}, "rolling_back")
            fault_point("rollback-after-journal")
            per_repo = changes.split_by_repo(patch, targets)
            for repo, text in per_repo.items():
                try:
                    run_git(["apply", "-R", "-"], self.root / repo, input_text=text)
                except GitError as exc:
                    self._restore_from_journal()
                    self.store.transition(rec.id, {"rolling_back"}, "applied")
                    raise RefusedError(f"cannot roll back {rec.id}: {exc.message}", "nothing was changed") from None
            fault_point("rollback-after-write")
            commits = self._commit(rec, targets, per_repo, message=self._rollback_message(rec))
            rec = self.store.transition(rec.id, {"rolling_back"}, "rolled_back", rollback_commits=commits)
            self.journal_path.unlink(missing_ok=True)
            self.audit.append("rollback", actor, {"proposal": rec.id, "commits": commits})
            return rec


def _target_dict(target) -> dict:
    return {k: getattr(target, k) for k in ("path", "repo", "repo_path", "exists", "base_blob")}


def _meta_dict(meta) -> dict:
    data = asdict(meta) if hasattr(meta, "__dataclass_fields__") else dict(meta)
    return {k: v for k, v in data.items() if v not in (None, "")}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _identity_env(repo: Path) -> dict:
    """Keep the repo's (or the user's) git identity when there is one; the tool's own otherwise."""
    from sources.git import TOOL_IDENTITY, run_git

    named = run_git(["config", "user.name"], repo, check=False).strip()
    mailed = run_git(["config", "user.email"], repo, check=False).strip()
    return {} if named and mailed else dict(TOOL_IDENTITY)


def _interactive() -> bool:
    """A human at a terminal, not the DevOps role's own process (its front ends set DEVOPS_AGENT_ROLE)."""
    if os.environ.get(ROLE_ENV, "").lower() == "devops":
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


def _login() -> str:
    try:
        return os.getlogin()
    except OSError:
        return os.environ.get("USER") or "product"


def _key(finding) -> tuple:
    return (finding.id, finding.title)


def _severe_keys(findings) -> set:
    return {_key(f) for f in findings if f.severity in SEVERE}
