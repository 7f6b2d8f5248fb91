"""Infra history: when each finding entered the platform and when it left, and who let each change in.

`history(repo, since, until)` reviews every state the platform went through between two revisions: each commit
of the platform, and before a commit that moves a submodule's gitlink, each commit of that submodule it brings in
(reviewed on the platform as it was, the submodule at that commit). A finding is known by its fingerprint (check,
files, what it is about: never its lines; tools/findings.py); a file renamed carries its findings with it. Each
finding's life: the commit that introduced it (author, date, Product's signature, the gate's proposal) and the one
that removed it; a finding removed and brought back has two lives.

Cost. A state is reviewed in full only when it differs from the state before it in a file the review read: the
files each review opened are recorded (a Python audit hook on `open`), and a commit that only edits other files
(application code) inherits its predecessor's findings, provided the gate's verify report of the branch is the same
at both (the GATE checks read history, not files). A file added, removed, renamed or changed in mode is never
inherited over (a check may look for its existence). Each state reviewed is kept in the user cache, keyed by the
commit ids (a commit id is its content and ancestry), the submodule commits present, the code of the checks and the
environment variables its Compose runs used; a second run is served from it. Compose and hadolint keep their own
content-keyed caches, so a review of a state whose compose files did not change runs no Compose.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from agent.core.errors import UserError
from tools.findings import Finding, Location

CACHE_VERSION = 1
UNTAGGED_MAX = 200  # without a tag, a history since the first commit is walked up to this many commits


# ------------------------------------------------------------------------------ what a step of history is

@dataclass
class Commit:
    """One step of the history: a platform commit, or a submodule commit a platform commit's gitlink brought in."""

    repo: str  # "" for the platform, else the submodule's path
    sha: str
    author: str = ""
    date: str = ""  # ISO 8601, the author date
    subject: str = ""
    signed_by: str | None = None  # Product's principal, when signed by a signer in force at its parent
    proposal: str | None = None  # the gate's proposal id (`Proposal:` trailer)
    via: "Commit | None" = None  # the platform commit whose gitlink brought this submodule commit in

    def to_dict(self) -> dict:
        return {"repo": self.repo or None, "commit": self.sha, "author": self.author, "date": self.date,
                "subject": self.subject, "product_signed": self.signed_by is not None, "signed_by": self.signed_by,
                "proposal": self.proposal, "via": self.via.to_dict() if self.via else None}

    def label(self) -> str:
        where = f"{self.repo}@" if self.repo else ""
        return f"{where}{self.sha[:12]}"


@dataclass
class Life:
    """One finding from the commit that introduced it to the one that removed it (None: before `since`; still
    standing at `until`)."""

    fingerprint: str
    finding: Finding
    introduced: Commit | None
    removed: Commit | None = None

    @property
    def status(self) -> str:
        return "fixed" if self.removed is not None else "open"

    def to_dict(self) -> dict:
        return {"fingerprint": self.fingerprint, "status": self.status, "finding": self.finding.to_dict(),
                "introduced": self.introduced.to_dict() if self.introduced else None,
                "removed": self.removed.to_dict() if self.removed else None}


@dataclass
class History:
    repo: str
    since: str  # as asked (a tag, a revision), or the root commit when there is no tag
    since_commit: str
    until_commit: str
    lives: list[Life] = field(default_factory=list)
    steps: list[Commit] = field(default_factory=list)  # every commit reviewed, in order
    reviewed: int = 0  # states reviewed in full
    inherited: int = 0  # states whose reviewed files did not change
    cached: int = 0  # states served from the cache
    notes: list[str] = field(default_factory=list)

    def introduced(self) -> list[Life]:
        """Findings this range brought in that still stand at its end."""
        return [life for life in self.lives if life.introduced is not None and life.removed is None]

    def fixed(self) -> list[Life]:
        """Findings standing at some point of the range (or before it) that its end no longer has."""
        return [life for life in self.lives if life.removed is not None]

    def unchanged(self) -> list[Life]:
        """Findings standing before the range and still at its end."""
        return [life for life in self.lives if life.introduced is None and life.removed is None]

    def to_dict(self) -> dict:
        return {"repo": self.repo, "since": self.since, "since_commit": self.since_commit,
                "until_commit": self.until_commit,
                "counts": {"introduced": len(self.introduced()), "fixed": len(self.fixed()),
                           "unchanged": len(self.unchanged()), "commits": len(self.steps),
                           "reviewed": self.reviewed, "inherited": self.inherited, "cached": self.cached},
                "introduced": [life.to_dict() for life in self.introduced()],
                "fixed": [life.to_dict() for life in self.fixed()],
                "unchanged": [life.to_dict() for life in self.unchanged()],
                "commits": [c.to_dict() for c in self.steps], "notes": self.notes}


# ------------------------------------------------------------------------------ the states to review

@dataclass
class _State:
    commit: Commit | None  # None: a boundary state (`since` and the range's other outside parents)
    platform: str  # the platform commit whose tree is reviewed
    links: dict[str, str]  # submodule path -> the commit reviewed instead of the platform's gitlink
    parents: list[int]  # indexes of the states this one follows
    result: "_Result | None" = None


@dataclass
class _Result:
    findings: list[tuple[str, Finding]]  # (fingerprint, finding), standing findings only
    reads: frozenset[str]  # files the review opened, relative to the reviewed tree
    signatures: str  # the verify report's digest at this state (what the GATE checks read)
    not_run: list[str]
    reviewable: bool = True  # False: the state could not be reviewed (its parent's findings stand in): never inherited
    env_names: list[str] = field(default_factory=list)  # the variables its Compose runs read (its cache entry's key)


def _gitlinks(root: Path, commit: str) -> dict[str, str]:
    """Submodule path -> gitlink of a platform commit, read once per commit (a commit never changes)."""
    key = (str(root), commit)
    if key not in _LINKS:
        from sources.git import gitlinks_of

        _LINKS[key] = gitlinks_of(root, commit)
    return _LINKS[key]


_LINKS: dict[tuple[str, str], dict[str, str]] = {}


def _git(repo: Path, args: list[str], check: bool = True) -> str:
    from sources.git import run_git

    return run_git(args, repo, check=check)


def resolve(repo: Path, rev: str, what: str) -> str:
    from sources.git import resolve_commit

    sha = resolve_commit(repo, rev)
    if sha is None:
        raise UserError(f"{what} {rev!r} is not a commit of {repo}", "pass a tag, branch or sha git knows "
                                                                      "(`git tag --list` shows the tags)")
    return sha


def _commit_info(repo: Path, sha: str, label: str, signers_at: str | None, root: Path) -> Commit:
    """Author, date, subject, Product's signature (judged with the signer list in force at the platform's
    `signers_at`) and proposal id of one commit, read from the verified object."""
    from agent.core.trailers import TrailerError, parse_trailers
    from agent.gate import commits as gc

    obj = gc.read_commit(repo, sha)
    name, _, rest = obj.author.rpartition(">")
    author = name.split("<")[0].strip() or obj.author
    date = ""
    try:
        stamp, tz = rest.split()[:2]
        sign = -1 if tz.startswith("-") else 1
        offset = sign * (int(tz[1:3]) * 3600 + int(tz[3:5]) * 60)
        from datetime import timedelta

        date = datetime.fromtimestamp(int(stamp), timezone(timedelta(seconds=offset))).isoformat()
    except (ValueError, IndexError):
        pass
    try:
        proposal = (parse_trailers(obj.message).get("Proposal") or [None])[0]
    except TrailerError:
        proposal = None
    signed_by = _signer(root, obj, signers_at)
    # a `Proposal:` trailer is the gate's only on a commit Product signed: anyone can write one in a hand commit
    return Commit(repo=label, sha=sha, author=author, date=date, subject=obj.subject, signed_by=signed_by,
                  proposal=proposal if signed_by else None)


def _signer(root: Path, obj, signers_at: str | None) -> str | None:
    from agent.gate.verify import signed_by

    return signed_by(root, obj, signers_at) if signers_at is not None else None


def _plan(root: Path, since: str, until: str, notes: list[str]) -> list[_State]:
    """Every state between `since` (exclusive) and `until`, parents first; boundary states first of all."""
    lines = _git(root, ["rev-list", "--topo-order", "--reverse", "--parents", "--boundary",
                        f"{since}..{until}"]).split("\n")
    boundary, inside = [], []
    for line in lines:
        if not line.strip():
            continue
        if line.startswith("-"):
            boundary.append(line[1:].split()[0])
        else:
            shas = line.split()
            inside.append((shas[0], shas[1:]))
    if since not in boundary:
        boundary.insert(0, since)
    states: list[_State] = []
    index: dict[str, int] = {}  # platform commit -> its state
    links_at: dict[str, dict[str, str]] = {}
    for sha in boundary:
        index[sha] = len(states)
        states.append(_State(None, sha, {}, []))
        links_at[sha] = _gitlinks(root, sha)
    for sha, parents in inside:
        links = _gitlinks(root, sha)
        links_at[sha] = links
        info = _commit_info(root, sha, "", parents[0] if parents else None, root)
        first = index.get(parents[0]) if parents else None
        before = links_at.get(parents[0], {}) if parents else {}
        others = [links_at.get(p, {}) for p in parents[1:]]
        chain = first
        moved: dict[str, str] = {}  # submodules already walked to their new commit, on top of the first parent
        for path, new in sorted(links.items()) if parents else ():
            old = before.get(path)
            if old is None or old == new or any(o.get(path) == new for o in others):
                continue  # added here (the commit brings it whole), unchanged, or walked on a merged branch's line
            subs = _submodule_commits(root, path, old, new, notes)
            for sub_sha in subs:
                sub_info = _commit_info(root / path, sub_sha, path, parents[0] if parents else None, root)
                sub_info.via = info
                moved[path] = sub_sha
                state = _State(sub_info, parents[0], dict(moved), [chain] if chain is not None else [])
                chain = len(states)
                states.append(state)
        own = [chain] if chain is not None else []
        own += [index[p] for p in parents[1:] if p in index]
        index[sha] = len(states)
        states.append(_State(info, sha, {}, own))
    return states


def _submodule_commits(root: Path, path: str, old: str, new: str, notes: list[str]) -> list[str]:
    """The submodule's commits between its old and new gitlink, oldest first; [] when its objects are not here
    (the platform commit then carries the whole move, said in a note)."""
    from agent.core import hints
    from agent.core.text import escape_terminal
    from sources.git import GitError

    sub = root / path
    shown = escape_terminal(path)
    if not (sub / ".git").exists():
        note = (f"{shown} is not initialised: its commits are reviewed as one step with the platform commit that "
                f"moves it (`{hints.submodule_init(path)}`)")
    else:
        try:
            return _linear(sub, old, new) or _git(sub, ["rev-list", "--topo-order", "--reverse", new, f"^{old}",
                                                        "--"]).split()
        except GitError:
            note = (f"{shown}: commits {old[:12]}..{new[:12]} are not all here: each move is reviewed as one step "
                    "with the platform commit that makes it (fetch the submodule's history)")
    if note not in notes:
        notes.append(note)
    return []


def _linear(repo: Path, old: str, new: str, limit: int = 200) -> list[str]:
    """`new`'s ancestors down to `old`, oldest first, when each has one parent (the common case: no git process);
    [] when the line merges, does not reach `old` within `limit`, or a commit is not here (git then answers)."""
    from agent.gate import commits as gc
    from sources.git import MissingObject, objects

    line = []
    sha = new
    for _ in range(limit):
        if sha == old:
            return line[::-1]
        try:
            kind, raw = objects(repo).read_many([sha])[sha]  # re-hashed: an altered object raises, never passed over
        except MissingObject:
            return []
        if kind != "commit":
            return []
        parents = gc.parse_commit(sha, raw).parents
        if len(parents) != 1:
            return []
        line.append(sha)
        sha = parents[0]
    return []


# ------------------------------------------------------------------------------ reviewing one state

_RECORDING: list[set[str]] = []
_HOOKED = False


def _audit(event: str, args: tuple) -> None:
    """`open` is audited with (path, mode, flags): a file opened for reading only (the snapshot's own writes are
    not what the review read)."""
    if event == "open" and _RECORDING and len(args) >= 3 and isinstance(args[0], (str, bytes, os.PathLike)):
        mode, flags = args[1], args[2]
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & (os.O_WRONLY | os.O_RDWR))
        if not writes:
            _RECORDING[-1].add(os.fsdecode(args[0]))


def _record_opens() -> set[str]:
    """Start recording every file this process opens (until `_stop`); the hook is added once and costs one
    Python call per audited event."""
    global _HOOKED
    if not _HOOKED:
        sys.addaudithook(_audit)
        _HOOKED = True
    opened: set[str] = set()
    _RECORDING.append(opened)
    return opened


def _stop(opened: set[str]) -> None:
    if _RECORDING and _RECORDING[-1] is opened:
        _RECORDING.pop()


def _code_digest() -> str:
    """The checks' code: a cache entry made by another version of them is never served."""
    global _CODE
    if _CODE is None:
        import agent
        import sources
        import tools

        h = hashlib.sha256()
        for package in (tools, sources, agent):
            base = Path(package.__file__).parent
            for path in sorted(base.rglob("*.py")):
                if package is agent and path.parent.name not in ("agent", "core", "gate"):
                    continue
                h.update(path.relative_to(base).as_posix().encode() + b"\0" + path.read_bytes())
        _CODE = h.hexdigest()
    return _CODE


_CODE: str | None = None


def _signatures_digest(report) -> str:
    if report is None:
        return "-"
    data = report.to_dict()
    data.pop("commits_examined", None)
    data.pop("branch", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class _Cache:
    """Reviewed states on disk (the user cache: a commit id names the same content in every clone)."""

    def __init__(self, enabled: bool) -> None:
        from tools.schemas import cache_root

        self.enabled = enabled
        self.dir = cache_root() / "history"

    def key(self, state: _State, present: dict[str, bool]) -> str:
        return hashlib.sha256(json.dumps({"v": CACHE_VERSION, "code": _code_digest(), "commit": state.platform,
                                          "links": state.links, "present": present},
                                         sort_keys=True).encode()).hexdigest()

    def get(self, key: str) -> _Result | None:
        if not self.enabled:
            return None
        try:
            data = json.loads((self.dir / key[:2] / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if data.get("env") != _env_digest(data.get("env_names", [])):
            return None  # a variable its Compose runs used has another value now
        try:
            findings = [(fp, _finding(d)) for fp, d in data["findings"]]
        except (KeyError, TypeError, ValueError):
            return None
        return _Result(findings, frozenset(data["reads"]), data["signatures"], data["not_run"],
                       env_names=list(data.get("env_names", [])))

    def put(self, key: str, result: _Result) -> None:
        if not self.enabled:
            return
        path = self.dir / key[:2] / f"{key}.json"
        data = {"findings": [[fp, f.to_dict()] for fp, f in result.findings], "reads": sorted(result.reads),
                "signatures": result.signatures, "not_run": result.not_run, "env_names": result.env_names,
                "env": _env_digest(result.env_names)}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            tmp.replace(path)
        except OSError:
            pass  # a read-only home only costs the speed-up


def _env_digest(names: list[str]) -> str:
    return hashlib.sha256(json.dumps({n: os.environ.get(n) for n in sorted(names)}).encode()).hexdigest()


def _finding(d: dict) -> Finding:
    return Finding(**{**d, "locations": [Location(loc["path"], loc.get("line")) for loc in d.get("locations", [])]})


def _present(root: Path, state: _State) -> dict[str, bool]:
    """Whether each submodule commit the state reviews is here (absent: the review says it could not read it)."""
    from sources.git import has_commit

    links = {**_gitlinks(root, state.platform), **state.links}
    return {path: has_commit(root / path, sha) for path, sha in sorted(links.items())}


class _Snapshot:
    """One folder that holds the tree of the state being reviewed, updated from state to state with the files
    that differ (a fresh write when the difference cannot be read), and the gate's verify report per commit."""

    def __init__(self, root: Path) -> None:
        import tempfile

        self.root = root
        self.folder = tempfile.TemporaryDirectory(prefix="devops-agent-history-")
        self.dir = Path(self.folder.name)
        self.state: _State | None = None
        self.reports: dict[str, object] = {}

    def verified(self, commit: str):
        if commit not in self.reports:
            self.reports[commit] = _verify(self.root, commit)
        return self.reports[commit]

    def hold(self, state: _State) -> None:
        """Make the folder hold `state`'s tree."""
        import shutil

        from sources.git import materialize

        changes = _changes(self.root, self.state, state) if self.state is not None else None
        if changes is None or not self._apply(state, changes):
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir.mkdir()
            materialize(self.root, state.platform, self.dir, state.links or None)
        self.state = state

    def _apply(self, state: _State, changes: list[tuple[str, str, str]]) -> bool:
        from sources.git import GitError, objects

        links = {**_gitlinks(self.root, state.platform), **state.links}
        try:
            for status, old, new in changes:
                if status in ("D", "R"):
                    self._remove(old)
                if status != "D":
                    sub = next((p for p in links if new.startswith(p + "/")), None)
                    repo, commit = (self.root / sub, links[sub]) if sub else (self.root, state.platform)
                    inner = new[len(sub) + 1:] if sub else new
                    found = objects(repo).entry(commit, inner)
                    if found is None:
                        return False
                    self._remove(new)
                    target = self.dir / new
                    target.parent.mkdir(parents=True, exist_ok=True)
                    data = objects(repo).read(found[2], "blob")
                    if found[0] == "120000":
                        os.symlink(data.decode("utf-8", "surrogateescape"), target)
                    else:
                        target.write_bytes(data)
                        if found[0] == "100755":
                            target.chmod(0o755)
        except (GitError, OSError):
            return False
        return True

    def _remove(self, rel: str) -> None:
        target = self.dir / rel
        if target.is_symlink() or target.is_file():
            target.unlink()
            parent = target.parent
            while parent != self.dir and not any(parent.iterdir()):  # as a fresh write would: no empty folder
                parent.rmdir()
                parent = parent.parent

    def close(self) -> None:
        self.folder.cleanup()


def _review(root: Path, state: _State, snap: _Snapshot | None = None) -> _Result:
    """The review of one state in full."""
    from agent.session import open_session
    from tools.findings import fingerprints

    if snap is not None:
        snap.hold(state)
    opened = _record_opens()
    try:
        session = open_session(root, rev=state.platform, gitlinks=state.links or None,
                               snapshot_dir=snap.dir if snap else None,
                               verified=snap.verified(state.platform) if snap else None)
    finally:
        _stop(opened)
    bases = {str(session.root) + os.sep, str(session.root.resolve()) + os.sep}
    reads = frozenset(p[len(b):].replace(os.sep, "/") for p in (os.path.normpath(q) if os.path.isabs(q)
                                                                 else os.path.realpath(q) for q in opened)
                      for b in bases if p.startswith(b))
    ordered = sorted(session.findings, key=Finding.sort_key)
    result = _Result(list(zip(fingerprints(ordered), ordered)), reads, _signatures_digest(session.signatures),
                     [str(gap) for gap in session.not_run], env_names=sorted(_used_variables(session)))
    session.snapshot.cleanup() if session.snapshot is not None else None
    return result


def _used_variables(session) -> set[str]:
    """The variables a state's Compose runs read from the environment (what its cache entry is keyed by)."""
    from tools.facts.variables import referenced_variables

    names: set[str] = set()
    for src in session.sources:
        if src.kind == "compose" and src.text:
            names.update(referenced_variables(src.text))
    # set or not: a variable set later changes what Compose makes of the files
    return names | {n for n in os.environ if n.startswith(("COMPOSE_", "DOCKER_"))}


def _changes(root: Path, a: _State, b: _State) -> list[tuple[str, str, str]] | None:
    key = (str(root), a.platform, tuple(sorted(a.links.items())), b.platform, tuple(sorted(b.links.items())))
    if key not in _CHANGES:
        _CHANGES[key] = _changes_between(root, a, b)
    return _CHANGES[key]


_CHANGES: dict[tuple, list[tuple[str, str, str]] | None] = {}


def _changes_between(root: Path, a: _State, b: _State) -> list[tuple[str, str, str]] | None:
    """(status, old path, new path) of every file that differs between two states' trees (submodules' files
    under their path), renames found; None when a submodule's move cannot be read here."""
    from sources.git import GitError

    out = _diff(root, a.platform, b.platform, "")
    if out is None:
        return None
    links_a = {**_gitlinks(root, a.platform), **a.links}
    links_b = {**_gitlinks(root, b.platform), **b.links}
    for path in sorted(set(links_a) | set(links_b)):
        old, new = links_a.get(path), links_b.get(path)
        if old == new:
            continue
        if old is None or new is None:
            return None
        try:
            sub = _diff(root / path, old, new, path + "/")
        except GitError:
            return None
        if sub is None:
            return None
        out += sub
    return out


def _diff(repo: Path, old: str, new: str, prefix: str) -> list[tuple[str, str, str]] | None:
    """(status, old path, new path) between two commits of one repository, read from its verified trees; git's
    rename detection (`diff-tree -M`) is asked only when files were both added and removed."""
    from sources.git import objects

    if old == new:
        return []
    plain = [("T" if status == "M" and old_mode != new_mode else status, path)  # a mode change: never inherited
             for status, old_mode, new_mode, _, _, path in objects(repo).diff(old, new)
             if "160000" not in (old_mode, new_mode)]  # a gitlink: its submodule's files are compared on their own
    if not ({"A", "D"} <= {status for status, _ in plain}):
        return [(status, prefix + path, prefix + path) for status, path in plain]
    raw = _git(repo, ["diff-tree", "-r", "-z", "-M", "--raw", "--no-commit-id", old, new, "--"])
    fields = raw.split("\0")
    out = []
    i = 0
    while i < len(fields) - 1:
        meta = fields[i].lstrip(":").split()
        if len(meta) < 5:
            i += 1
            continue
        old_mode, new_mode, status = meta[0], meta[1], meta[4][0]
        if status in ("R", "C"):
            path_a, path_b = fields[i + 1], fields[i + 2]
            i += 3
        else:
            path_a = path_b = fields[i + 1]
            i += 2
        if "160000" in (old_mode, new_mode):
            continue  # a gitlink: its submodule's files are compared on their own
        if status == "M" and old_mode != new_mode:
            status = "T"  # a mode change: never inherited over
        out.append((status, prefix + path_a, prefix + path_b))
    return out


def _inherits(changes: list[tuple[str, str, str]] | None, reads: frozenset[str]) -> bool:
    """A state inherits its predecessor's findings when every file that changed is a content edit of a file
    the predecessor's review never opened (`.gitmodules` is read by git, not by Python: always an input)."""
    return changes is not None and all(status == "M" and old not in reads and not old.endswith(".gitmodules")
                                       for status, old, _ in changes)


# ------------------------------------------------------------------------------ identity across states

def _renamed(f: Finding, renames: dict[str, str]) -> Finding:
    """The finding as it reads after its files were renamed."""
    from dataclasses import replace

    if not any(loc.path in renames for loc in f.locations):
        return f
    import re

    title, subject = f.title, f.subject
    for old, new in renames.items():  # the whole path only (`docker-compose.yml` is not `api/docker-compose.yml`)
        whole = re.compile(rf"(?<![\w./-]){re.escape(old)}(?![\w/-]|\.\w)")
        title, subject = whole.sub(lambda _: new, title), whole.sub(lambda _: new, subject)
    return replace(f, title=title, subject=subject,
                   locations=[Location(renames.get(loc.path, loc.path), loc.line) for loc in f.locations])


def _carried(findings: list[tuple[str, Finding]], renames: dict[str, str]) -> dict[str, str]:
    """Each finding's fingerprint after the renames -> its fingerprint before."""
    if not renames:
        return {fp: fp for fp, _ in findings}
    from tools.findings import fingerprints

    moved = sorted((_renamed(f, renames) for _, f in findings), key=Finding.sort_key)
    # the fingerprints of the same findings, in the order `fingerprints` numbers them
    order = sorted(range(len(findings)), key=lambda i: Finding.sort_key(_renamed(findings[i][1], renames)))
    new = fingerprints(moved)
    return {new[k]: findings[i][0] for k, i in enumerate(order)}


# ------------------------------------------------------------------------------ the walk

def history(repo: str | Path | None = None, since: str | None = None, until: str | None = None,
            cache: bool = True) -> History:
    """Every finding's life between `since` (default: the last tag before `until`) and `until` (default HEAD)."""
    from agent.session import resolve_repo

    root = resolve_repo(repo)
    if not (root / ".git").exists():
        raise UserError(f"{root} is not a git repository: history reads commits", "run it in the platform's clone")
    until_sha = resolve(root, until or "HEAD", "--until")
    notes: list[str] = []
    if since is None:
        from tools.deliverables import last_release_tag

        since = last_release_tag(root, until_sha)
        if since is None:
            first = _git(root, ["rev-list", "--max-parents=0", until_sha]).split()[-1]
            count = int(_git(root, ["rev-list", "--count", until_sha]).strip() or 0)
            if count > UNTAGGED_MAX:
                raise UserError(f"the branch has no tag and {count} commits: name where the history starts",
                                "pass --since REV (a release commit), or tag the last release")
            since = first
            notes.append(f"no tag before {(until or 'HEAD')}: history since the first commit {first[:12]}")
    since_sha = resolve(root, since, "--since")
    from sources.git import git_succeeds

    if not git_succeeds(["merge-base", "--is-ancestor", since_sha, until_sha], root):
        raise UserError(f"--since {since} is not an ancestor of {until or 'HEAD'}",
                        "pass a tag or commit the branch contains (`git tag --merged` lists them)")
    states = _plan(root, since_sha, until_sha, notes)
    out = History(repo=str(root), since=since, since_commit=since_sha, until_commit=until_sha, notes=notes)
    store = _Cache(cache)
    snap = _Snapshot(root)
    try:
        gate = _GateTouch(root, until_sha, states, snap)
        for state in states:
            _evaluate(root, states, state, store, out, gate, snap)
    finally:
        snap.close()
    _lives(root, states, out)
    return out


class _GateTouch:
    """Which platform states can change what the GATE checks read. The verify report of `until` lists every infra
    commit of the range (platform and submodule); a platform commit that is none of them, brings in none of them,
    accepts nothing and leaves the signer list alone has its parent's report: no verify is run for it."""

    def __init__(self, root: Path, until: str, states: list[_State], snap: _Snapshot) -> None:
        self.infra = {c.sha for c in snap.verified(until).infra}
        self.brought: dict[str, set[str]] = {}
        for state in states:
            if state.commit is not None and state.commit.via is not None:
                self.brought.setdefault(state.commit.via.sha, set()).add(state.commit.sha)
        self.root = root

    def may_change(self, state: _State, changes: list[tuple[str, str, str]] | None) -> bool:
        from agent.gate import commits as gc
        from tools.facts.paths import SIGNERS_FILE

        sha = state.commit.sha if state.commit is not None else state.platform
        if sha in self.infra or self.brought.get(sha, set()) & self.infra or changes is None:
            return True
        if any(SIGNERS_FILE in (old, new) for _, old, new in changes):
            return True
        commit = gc.read_commit(self.root, state.platform)
        return "accepts:" in commit.message.lower() or len(commit.parents) > 1


def _evaluate(root: Path, states: list[_State], state: _State, store: _Cache, out: History,
              gate: _GateTouch, snap: _Snapshot) -> None:
    key = store.key(state, _present(root, state))
    hit = store.get(key)
    if hit is not None:
        state.result = hit
        out.cached += 1
        return
    before = states[state.parents[0]] if state.parents else None
    if before is not None and before.result is not None and before.result.reviewable:
        same_branch = before.platform == state.platform  # a submodule commit: the platform's history is the same
        changes = _changes(root, before, state)
        if _inherits(changes, before.result.reads) and (
                same_branch or not gate.may_change(state, changes)
                or _signatures_digest(snap.verified(state.platform)) == before.result.signatures):
            prev = before.result
            state.result = _Result(list(prev.findings), prev.reads, prev.signatures, list(prev.not_run),
                                   env_names=list(prev.env_names))  # a variable it depends on is its parent's
            out.inherited += 1
            store.put(key, state.result)
            return
    try:
        state.result = _review(root, state, snap)
    except UserError as exc:  # a commit whose config or charter cannot be read: said, its parent's findings kept
        where = state.commit.label() if state.commit else state.platform[:12]
        out.notes.append(f"{where} could not be reviewed ({exc.line()}): its findings are taken as the state "
                         "before it")
        prev = before.result if before is not None and before.result is not None else None
        state.result = _Result(list(prev.findings) if prev else [], prev.reads if prev else frozenset(), "-",
                               [], reviewable=False)
        snap.state = None  # the folder may be half written: the next state is written afresh
        return
    out.reviewed += 1
    store.put(key, state.result)


def _verify(root: Path, commit: str):
    from agent.gate.verify import verify_branch

    return verify_branch(root, commit, cached=True)


def _lives(root: Path, states: list[_State], out: History) -> None:
    """Each finding's lives from the states in order: introduced where no state before it had it, removed where
    the states before it had it and it has not; renames carry a finding over."""
    alive: list[dict[str, Life]] = []  # per state: fingerprint -> its life
    for i, state in enumerate(states):
        result = state.result
        assert result is not None
        here: dict[str, Life] = {}
        carried: dict[str, list[Life]] = {}  # fingerprint here -> the parents' lives of that finding
        for p in state.parents:
            renames = _renames(root, states[p], state)
            moved = {old: new for new, old in _carried(states[p].result.findings, renames).items()} if renames else {}
            for fp_before, life in alive[p].items():
                carried.setdefault(moved.get(fp_before, fp_before), []).append(life)
        if state.commit is not None:
            out.steps.append(state.commit)
        for fp, finding in result.findings:
            lives = carried.get(fp)
            if lives:
                life = lives[0]
                life.fingerprint, life.finding = fp, finding
                here[fp] = life
            elif state.commit is None:
                here[fp] = Life(fp, finding, None)  # standing before the range
            else:
                life = Life(fp, finding, state.commit)
                out.lives.append(life)
                here[fp] = life
        if state.commit is not None:
            for fp, lives in carried.items():
                if fp in here:
                    continue
                for life in lives:
                    if life.removed is None:
                        life.removed = state.commit
        if state.commit is None:
            out.lives += [life for life in here.values() if life not in out.lives]
        alive.append(here)
    final = alive[-1] if alive else {}
    for life in final.values():
        life.removed = None  # standing at the end, whatever a branch did on the way
    seen: set[int] = set()
    out.lives = [life for life in out.lives if not (id(life) in seen or seen.add(id(life)))]
    out.lives = [life for life in out.lives if life.removed is not None or any(life is v for v in final.values())]


def _renames(root: Path, a: _State, b: _State) -> dict[str, str]:
    changes = _changes(root, a, b) or []
    return {old: new for status, old, new in changes if status == "R"}


# ------------------------------------------------------------------------------ one state against a tag

@dataclass
class Comparison:
    """`review --since REV`: each finding of the session new or unchanged against REV's, and REV's that are gone."""

    since: str
    since_commit: str
    states: dict[int, str]  # id(finding) -> "new" | "unchanged" (the session's findings and suppressed ones)
    fixed: list[tuple[str, Finding]]  # (fingerprint at REV, finding) standing at REV and gone now

    def state(self, finding: Finding) -> str | None:
        return self.states.get(id(finding))

    def counts(self, findings: list[Finding]) -> dict[str, int]:
        new = sum(1 for f in findings if self.state(f) == "new")
        return {"new": new, "unchanged": len(findings) - new, "fixed": len(self.fixed)}

    def to_dict(self, findings: list[Finding]) -> dict:
        return {"rev": self.since, "commit": self.since_commit, "counts": self.counts(findings),
                "fixed": [{**f.to_dict(), "fingerprint": fp} for fp, f in self.fixed]}


def compare(session, since: str, cache: bool = True) -> Comparison:
    """The session's findings against the state at `since` (its commit's tree and submodules at their gitlinks,
    reviewed as `review --rev` would, from the cache when it was reviewed before). Files renamed since carry their
    findings; a finding accepted now (suppressed) is not fixed."""
    root = Path(session.repo_root or session.root)
    since_sha = resolve(root, since, "--since")
    state = _State(None, since_sha, {}, [])
    store = _Cache(cache)
    key = store.key(state, _present(root, state))
    result = store.get(key)
    if result is None:
        result = _review(root, state)
        store.put(key, result)
    renames = _renames_to(root, since_sha, session)
    moved = {old: new for new, old in _carried(result.findings, renames).items()} if renames else {}
    before = {moved.get(fp, fp): (fp, f) for fp, f in result.findings}
    now = session.fingerprints()
    states = {i: ("unchanged" if fp in before else "new") for i, fp in now.items()}
    gone = [before[fp] for fp in before if fp not in set(now.values())]
    return Comparison(since, since_sha, states, gone)


def _renames_to(root: Path, since_sha: str, session) -> dict[str, str]:
    """Files renamed from `since_sha` to what the session reviews (a commit, or the work tree's tracked files)."""
    if session.snapshot is not None and session.git.commit:
        a = _State(None, since_sha, {}, [])
        b = _State(None, session.git.commit, {}, [])
        return _renames(root, a, b)
    from sources.git import GitError, gitlinks_of

    out: dict[str, str] = {}
    try:
        repos = [("", root, since_sha)] + [(p + "/", root / p, sha) for p, sha in gitlinks_of(root, since_sha).items()
                                           if (root / p / ".git").exists()]
        for prefix, repo, rev in repos:
            raw = _git(repo, ["diff", "-z", "-M", "--raw", "--no-ext-diff", rev, "--"], check=False)
            fields = raw.split("\0")
            i = 0
            while i < len(fields) - 1:
                meta = fields[i].lstrip(":").split()
                if len(meta) >= 5 and meta[4][:1] in ("R", "C"):
                    if meta[4][0] == "R":
                        out[prefix + fields[i + 1]] = prefix + fields[i + 2]
                    i += 3
                else:
                    i += 2
    except GitError:
        return out
    return out


def release_changes(repo: str | Path, until: str = "HEAD") -> History | None:
    """What this release changes against the last one: the history since the last release tag (`release check`,
    `release notes`, the model's brief); None when the branch has no tag."""
    from tools.deliverables import last_release_tag

    root = Path(repo)
    tag = last_release_tag(root, until)
    return history(root, since=tag, until=until) if tag else None


def release_dict(found: History | None) -> dict | None:
    """The part `release check` and `release notes` print: introduced and fixed by this release, with commits."""
    if found is None:
        return None
    return {"since": found.since, "since_commit": found.since_commit, "until_commit": found.until_commit,
            "introduced": [life.to_dict() for life in found.introduced()],
            "fixed": [life.to_dict() for life in found.fixed()]}
