"""`devops-agent verify`: from git alone, every infra commit on the branch and whether Product signed it.

The trust root is the first commit of the branch's history that adds the signer list (`.allowed_signers`),
signed by a key it lists. Every later commit that touches an infrastructure path (by what the file is:
tools/facts.py) must carry a valid SSH signature by a signer listed in its first parent, the signer list
itself included; a submodule move is checked commit by commit inside the submodule, against the platform's
signers. Nothing here reads the work tree, the state database or the audit log.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from agent.core.trailers import TrailerError, parse_trailers
from agent.gate import commits as gc
from agent.gate import ssh
from sources.git import GitError, read_blob_at, run_git, run_git_bytes

MAX_CONTENT = 256 * 1024


@dataclass
class InfraCommit:
    repo: str  # "" for the platform, else the submodule path
    sha: str
    subject: str
    paths: list[str]
    status: str  # signed | unsigned | bad-signature | bad-trailers | no-signers | unverifiable
    signer: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("signed", "accepted")

    def to_dict(self) -> dict:
        return {"repo": self.repo, "sha": self.sha, "subject": self.subject, "paths": self.paths,
                "status": self.status, "signer": self.signer, "detail": self.detail}


@dataclass
class TrustRoot:
    sha: str
    signer: str
    fingerprint: str
    no_passphrase: bool

    def to_dict(self) -> dict:
        return {"commit": self.sha, "signer": self.signer, "fingerprint": self.fingerprint,
                "no_passphrase": self.no_passphrase}


@dataclass
class VerifyReport:
    branch: str
    trust_root: TrustRoot | None
    commits_examined: int = 0
    before_root: int = 0
    infra: list[InfraCommit] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    demo_signers: list[str] = field(default_factory=list)  # fingerprints declared without passphrase

    @property
    def failures(self) -> list[InfraCommit]:
        return [c for c in self.infra if not c.ok]

    def accept(self, accepted: dict[str, str]) -> None:
        """Unsigned infra commits that a later Product-signed commit accepts (`Accepts: SHA` trailers)."""
        for c in self.infra:
            if not c.ok and c.status != "unverifiable" and c.sha in accepted:
                c.status, c.detail = "accepted", f"accepted by Product in {accepted[c.sha][:12]}"

    @property
    def ok(self) -> bool:
        return self.trust_root is not None and not self.failures and not self.problems

    def to_dict(self) -> dict:
        return {"ok": self.ok, "branch": self.branch,
                "trust_root": self.trust_root.to_dict() if self.trust_root else None,
                "commits_examined": self.commits_examined, "before_trust_root": self.before_root,
                "infra_commits": [c.to_dict() for c in self.infra], "problems": self.problems,
                "demo_signers": self.demo_signers}


def _log(repo: Path, spec: list[str]) -> list[tuple[str, list[str], list[tuple[str, str]]]]:
    """(sha, parents, [(mode, path)]) oldest first; merges diffed against their first parent."""
    out = run_git_bytes(["log", "--reverse", "--topo-order", "--no-renames", "--diff-merges=first-parent",
                         "--raw", "-z", "--no-abbrev", "--format=%x01%H %P", *spec, "--"], repo)
    result = []
    for chunk in out.decode("utf-8", "surrogateescape").split("\x01")[1:]:
        header, _, rest = chunk.partition("\n")
        ids = header.strip("\0").split()
        files: list[tuple[str, str]] = []
        parts = rest.strip("\n\0").split("\0") if rest.strip("\n\0") else []
        i = 0
        while i + 1 < len(parts):
            meta = parts[i].lstrip("\n")
            if meta.startswith(":"):
                fields = meta[1:].split()
                old_mode, new_mode = fields[0], fields[1]
                files.append((new_mode if new_mode != "000000" else old_mode, parts[i + 1]))
                i += 2
            else:
                i += 1
        result.append((ids[0], ids[1:], files))
    return result


# Files that steer the gate itself: a hand-made change to one of them could turn a check or a policy
# rule off, so it must be Product-signed like an infra change (the charter, the config, the signers...).
_GATE_INPUTS = (ssh.SIGNERS_FILE, ".gitmodules", ".gitattributes", ".devops-agent.yaml", ".devops-agent.yml")
_GATE_PREFIXES = (".codex/agents/",)


@lru_cache(maxsize=256)
def _config_inputs(repo_dir: str, sha: str) -> tuple[str, ...]:
    """The paths the committed config of `sha` binds as sources (Notion export, rules, deploy notes, charter)."""
    import yaml

    from agent.core import yaml_safe

    data = read_blob_at(Path(repo_dir), sha, ".devops-agent.yaml") or read_blob_at(Path(repo_dir), sha, ".devops-agent.yml")
    try:
        cfg = yaml_safe.load(data, ".devops-agent.yaml") if data else None
    except (yaml.YAMLError, yaml_safe.YamlLimitError):
        return ()
    if not isinstance(cfg, dict):
        return ()
    raw = cfg.get("notion")
    notion: dict = raw if isinstance(raw, dict) else {}
    out = [notion.get("export_dir"), cfg.get("rules_file"), cfg.get("charter"), *(cfg.get("deploy_notes") or [])]
    return tuple(str(p).strip("/") for p in out if isinstance(p, str) and p and not p.startswith("/"))


def _gate_input(repo: Path, sha: str, parents: list[str], path: str) -> bool:
    if path in _GATE_INPUTS or path.endswith("/.gitattributes") or path.startswith(_GATE_PREFIXES):
        return True
    bound = set(_config_inputs(str(repo), sha)) | (set(_config_inputs(str(repo), parents[0])) if parents else set())
    return any(path == p or path.startswith(p + "/") for p in bound)


def _is_infra(repo: Path, sha: str, parents: list[str], mode: str, path: str) -> bool:
    """By what the file is (tools/facts.py), before or after the commit (removing a Makefile's docker target
    is an infra change too); symlinks and the gate's own inputs always count."""
    from tools.facts import infra_kind, is_deploy_doc_path, is_infra_path, needs_text

    if mode == "160000":
        return False  # a gitlink: its commits are checked inside the submodule
    if mode == "120000" or _gate_input(repo, sha, parents, path):
        return True
    kind = infra_kind(path, None)
    if kind == "docs":  # a proposal may edit docs; only deployment notes are infra on the branch
        return is_deploy_doc_path(path)
    if kind is not None:
        return True
    if not needs_text(path):
        return False
    for rev in [sha, *parents[:1]]:
        data = read_blob_at(repo, rev, path)
        if data is not None and len(data) <= MAX_CONTENT and is_infra_path(path, data.decode("utf-8", "replace")):
            return True
    return False


def _signers_at(root: Path, commit: str | None) -> list[ssh.Signer] | None:
    if commit is None:
        return None
    data = read_blob_at(root, commit, ssh.SIGNERS_FILE)
    if data is None:
        return None
    try:
        return ssh.parse_signers(data.decode("utf-8", "replace"))
    except Exception:
        return []


def _judge(repo: Path, sha: str, signers: list[ssh.Signer] | None) -> tuple[str, str | None, str]:
    return _judge_cached(str(repo), sha, tuple(signers) if signers is not None else None)


@lru_cache(maxsize=4096)
def _judge_cached(repo_dir: str, sha: str, signers: tuple[ssh.Signer, ...] | None) -> tuple[str, str | None, str]:
    """A commit object never changes (its id is its content): one ssh-keygen run per commit and signer list."""
    repo = Path(repo_dir)
    commit = gc.read_commit(repo, sha)
    if commit.signature is None:
        return "unsigned", None, "no signature"
    if signers is None:
        return "no-signers", None, "its parent has no signer list"
    found = ssh.verify(commit.payload, commit.signature, list(signers), ssh.GIT_NAMESPACE)
    if found is None:
        return "bad-signature", None, "not signed by a signer of its parent"
    return _trailers_verdict(commit.message, found.principal)


def verify_branch(root: Path, rev_range: str | None = None, trust_root: str | None = None) -> VerifyReport:
    root = Path(root)
    tip = rev_range.split("..")[-1] if rev_range and ".." in rev_range else (rev_range or "HEAD")
    branch = run_git(["rev-parse", "--abbrev-ref", tip], root, check=False).strip() or tip
    report = VerifyReport(branch=branch, trust_root=None)
    if run_git(["rev-parse", "--is-shallow-repository"], root, check=False).strip() == "true":
        report.problems.append("shallow clone: the history before the trust root is cut; "
                               "fetch it all (actions/checkout with fetch-depth: 0)")
    try:
        history = _log(root, [tip])
    except GitError as exc:
        report.problems.append(f"cannot read the history of {tip}: {exc.message}")
        return report
    root_sha = None
    for sha, parents, files in history:
        if any(path == ssh.SIGNERS_FILE for _, path in files) and _signers_at(root, parents[0] if parents else None) is None:
            root_sha = sha
            break
    if root_sha is None:
        report.problems.append(f"no trust root: no commit adds {ssh.SIGNERS_FILE}; "
                               "run `devops-agent product-key init` in Product's terminal")
        return report
    if trust_root and not root_sha.startswith(trust_root.lower()):
        report.problems.append(f"the trust root is {root_sha[:12]}, not the pinned {trust_root[:12]}: "
                               "the history was rewritten or the signer list replaced")
    signers = _signers_at(root, root_sha) or []
    status, principal, _ = _judge(root, root_sha, signers)
    first = signers[0] if signers else None
    report.trust_root = TrustRoot(root_sha, principal or "?", ssh.fingerprint(first.public_line) if first else "?",
                                  bool(first and first.no_passphrase))
    if status != "signed":
        report.problems.append(f"the trust root {root_sha[:12]} is not signed by a key it lists")
    report.demo_signers = [ssh.fingerprint(s.public_line) for s in (_signers_at(root, tip) or []) if s.no_passphrase]
    after = set(run_git(["rev-list", f"{root_sha}..{tip}"], root).split())
    if rev_range and ".." in rev_range:
        after &= set(run_git(["rev-list", rev_range], root).split())
    report.before_root = len(history) - len(after) - 1
    for sha, parents, files in history:
        if sha not in after:
            continue
        report.commits_examined += 1
        parent_signers = _signers_at(root, parents[0] if parents else None)
        infra = [p for m, p in files if _is_infra(root, sha, parents, m, p)]
        for mode, path in files:
            if mode == "160000" and _verify_submodule(root, path, parents[0] if parents else None, sha,
                                                      parent_signers, report):
                infra.append(path)  # the pointer itself: added, removed, or moved anywhere but forward
        if infra:
            status, principal, detail = _judge(root, sha, parent_signers)
            report.infra.append(InfraCommit("", sha, gc.read_commit(root, sha).subject, infra, status, principal, detail))
    candidates = set(run_git(["log", "--format=%H", "-i", "--grep=accepts[[:space:]]*:", tip], root,
                             check=False).split())
    report.accept(_acceptances(root, [sha for sha, _, _ in history if sha in after and sha in candidates],
                               report.problems))
    return report


def accepted_by(message: str) -> list[str]:
    """The commit ids an acceptance commit's `Accepts:` trailers name, read strictly (agent.core.trailers:
    TrailerError when one is outside the trailer block, twice, or malformed)."""
    return parse_trailers(message).get("Accepts", [])


def _trailers_verdict(message: str, principal: str) -> tuple[str, str | None, str]:
    """A signed commit whose gate trailers are not unique and in their block is refused: what it binds
    (proposal, hash, expiry, acceptances) would read differently to another reader."""
    try:
        parse_trailers(message)
    except TrailerError as exc:
        return "bad-trailers", principal, f"signed, but refused: {exc}"
    return "signed", principal, ""


def _acceptances(root: Path, shas: list[str], problems: list[str]) -> dict[str, str]:
    """accepted sha -> the signed commit accepting it, among `shas` (only commits signed by a trusted signer);
    a signed one whose trailers are not read strictly accepts nothing, and is named in `problems`."""
    out: dict[str, str] = {}
    for sha in shas:
        commit = gc.read_commit(root, sha)
        if commit.signature is None:
            continue
        parent_signers = _signers_at(root, commit.parents[0]) if commit.parents else None
        verdict, _, detail = _judge(root, sha, parent_signers)
        if verdict == "bad-trailers":
            problems.append(f"commit {sha[:12]} ({detail}) accepts nothing")
        elif verdict == "signed":
            for acc in accepted_by(commit.message):
                out.setdefault(acc, sha)
    return out


def _verify_submodule(root: Path, path: str, parent: str | None, commit: str, signers, report: VerifyReport) -> bool:
    """Judge a gitlink change. Moving forward: each infra commit of the submodule in `old..new` must be
    signed. Returns True when the platform commit itself is the infra change to sign: a pointer added,
    removed, or moved back or sideways (which can undo signed work without a single submodule commit)."""
    old = gc.tree_entry(root, parent, path) if parent else None
    new = gc.tree_entry(root, commit, path)
    old_sha = old[2] if old and old[0] == "160000" else None
    new_sha = new[2] if new and new[0] == "160000" else None
    if new_sha is None:
        return True
    sub = root / path
    if old_sha is None:
        # Added, or re-added after a removal: its commits since the last value it had are judged too.
        old_sha = _last_gitlink(root, parent, path) if parent else None
        if old_sha is None or not gc.has_commit(sub, old_sha) or not gc.has_commit(sub, new_sha):
            return True
        _verify_submodule_range(sub, path, old_sha, new_sha, signers, report)
        return True
    if not gc.has_commit(sub, new_sha) or not gc.has_commit(sub, old_sha):
        report.infra.append(InfraCommit(path, new_sha, f"(submodule {path} moved by {commit[:12]})", [], "unverifiable",
                                        None, f"the objects of {path} are not here: "
                                              f"run `git submodule update --init {path}` to verify it"))
        return False
    forward = run_git(["rev-list", "-1", f"{new_sha}..{old_sha}"], sub, check=False).strip() == ""
    _verify_submodule_range(sub, path, old_sha, new_sha, signers, report)
    return not forward


def _verify_submodule_range(sub: Path, path: str, old_sha: str, new_sha: str, signers, report: VerifyReport) -> None:
    for sha, parents, files in _log(sub, [f"{old_sha}..{new_sha}"]):
        infra = [p for m, p in files if _is_infra(sub, sha, parents, m, p)]
        if infra:
            status, principal, detail = _judge(sub, sha, signers)
            report.infra.append(InfraCommit(path, sha, gc.read_commit(sub, sha).subject, infra, status, principal,
                                            detail))


def _last_gitlink(root: Path, before: str, path: str) -> str | None:
    """The last commit id the gitlink `path` recorded in the history of `before`."""
    for sha in run_git(["rev-list", before, "--", path], root, check=False).split():
        entry = gc.tree_entry(root, sha, path)
        if entry is not None and entry[0] == "160000":
            return entry[2]
    return None


def trusted_signers(root: Path, commit: str) -> list[ssh.Signer]:
    """The signer list at `commit` if every commit that changed it since the trust root was signed by a
    signer of the list in its parent (the trust root by a key it lists); else [] (no authority)."""
    out = run_git(["log", "--reverse", "--first-parent", "--format=%H", commit, "--", ssh.SIGNERS_FILE],
                  root, check=False)
    signers: list[ssh.Signer] | None = None
    for sha in out.split():
        current = _signers_at(root, sha)
        if current is None:
            return []  # the list was removed
        if _judge(root, sha, current if signers is None else signers)[0] != "signed":
            return []
        signers = current
    return signers or []
