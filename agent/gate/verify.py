"""`devops-agent verify`: from git alone, every infra commit on the branch and whether Product signed it.

The trust root is the first commit of the branch's history that adds the signer list (`.allowed_signers`),
signed by a key it lists. Every later commit that touches an infrastructure path (by what the file is:
tools/facts.py) must carry a valid SSH signature by a signer listed in its first parent, the signer list
itself included; a submodule move is checked commit by commit inside the submodule, against the platform's
signers. Nothing here reads the work tree, the state database or the audit log.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from agent.core.config import MAX_APPROVAL_TTL_DAYS
from agent.core.errors import UserError
from agent.core.trailers import TrailerError, parse_trailers, trailer
from agent.core import hints
from agent.gate import commits as gc
from agent.gate import ssh
from sources.git import GitError, batch_reads, read_blob_at, read_object, run_git, run_git_bytes

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


_ZERO_IDS = ("0" * 40, "0" * 64)
_HEX_ID = re.compile(rb"[0-9a-f]{40}|[0-9a-f]{64}")
MAX_SUBMODULE_DEPTH = 4  # submodules of submodules are walked this deep; a gitlink deeper is "unverifiable"

# One changed path against one parent: (old mode, new mode, old id, new id, path).
Change = tuple[str, str, str, str, str]


def _mode(change: Change) -> str:
    return change[1] if change[1] != "000000" else change[0]


def _log(repo: Path, spec: list[str], cache: _VerdictCache | None = None) -> list[tuple[str, list[str], list[list[Change]]]]:
    """(sha, parents, one diff per parent) oldest first; a root commit has one diff, against the empty tree.
    Every parent is diffed: a merge carrying an older parent's tree reverts what the others brought. Two git
    processes for any length of history, read positionally from NUL-separated output: no file name can fake
    a record (a name holding `\\x01` once hid its commit's other paths)."""
    listing = run_git(["rev-list", "--topo-order", "--reverse", "--parents", *spec, "--"], repo)
    commits = [(ids[0], ids[1:]) for ids in (line.split() for line in listing.splitlines()) if ids]
    # A commit already classified needs no diff: its cached facts stand in (its signer-list change only).
    known = cache.facts([sha for sha, _ in commits]) if cache is not None else {}
    lines = [pair for sha, parents in commits if sha not in known
             for pair in ([f"{sha} {p}" for p in parents] or [sha])]
    if not lines:
        return [(sha, parents, _stand_in(known[sha], parents)) for sha, parents in commits]
    out = run_git_bytes(["diff-tree", "--stdin", "--root", "--always", "-r", "-z", "--raw", "--no-renames",
                         "--no-abbrev"], repo, input_bytes=("\n".join(lines) + "\n").encode("ascii"))
    diffs: list[list[Change]] = []
    tokens = out.split(b"\0")
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith(b":") and diffs and i + 1 < len(tokens):
            old_mode, new_mode, old, new = token[1:].decode("ascii").split()[:4]
            diffs[-1].append((old_mode, new_mode, old, new, tokens[i + 1].decode("utf-8", "surrogateescape")))
            i += 2
            continue
        if token.strip(b"\n"):
            if not _HEX_ID.fullmatch(token.strip(b"\n")):
                raise GitError(f"git diff-tree printed an unexpected record in {repo}: {token[:40]!r}")
            diffs.append([])
        i += 1
    if len(diffs) != len(lines):
        raise GitError(f"git diff-tree answered {len(diffs)} of {len(lines)} comparisons in {repo}")
    result, k = [], 0
    for sha, parents in commits:
        if sha in known:
            result.append((sha, parents, _stand_in(known[sha], parents)))
            continue
        n = max(1, len(parents))
        result.append((sha, parents, diffs[k:k + n]))
        k += n
    return result


def _stand_in(signers_change: str | None, parents: list[str]) -> list[list[Change]]:
    """The diffs of a commit whose classification is cached: only its change of the signer list (new blob
    id, zeros when removed) against its first parent, which the trust-root walk follows."""
    first: list[Change] = [] if signers_change is None else [("100644", "100644", "", signers_change, ssh.SIGNERS_FILE)]
    return [first] + [[] for _ in parents[1:]]


def _signers_change(diffs: list[list[Change]]) -> str | None:
    change = next((c for c in diffs[0] if c[4] == ssh.SIGNERS_FILE), None) if diffs else None
    return None if change is None else change[3]


def _has_control(path: str) -> bool:
    """A C0 or C1 control, DEL, or a byte that is not UTF-8 in a path: such a name can break whoever parses
    or shows it, so the commit holding it is an infra change to sign, whatever the file is."""
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0xDC80 <= ord(c) <= 0xDCFF for c in path)


# Files that steer the gate itself: a hand-made change to one of them could turn a check or a policy
# rule off, so it must be Product-signed like an infra change (the charter, the config, the signers...).
_GATE_INPUTS = (ssh.SIGNERS_FILE, ".gitmodules", ".gitattributes", ".devops-agent.yaml", ".devops-agent.yml")
_GATE_PREFIXES = (".codex/agents/",)


@lru_cache(maxsize=256)
def _config_inputs(repo_dir: str, sha: str) -> tuple[str, ...]:
    """The paths the committed config of `sha` binds as sources (Notion export, rules, deploy notes, charter) or
    as the review's baseline (what it accepts)."""
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
    out = [notion.get("export_dir"), cfg.get("rules_file"), cfg.get("charter"), cfg.get("baseline"),
           *(cfg.get("deploy_notes") or [])]
    return tuple(str(p).strip("/") for p in out if isinstance(p, str) and p and not p.startswith("/"))


def _gate_input(repo: Path, sha: str, parents: list[str], path: str) -> bool:
    if path in _GATE_INPUTS or path.endswith("/.gitattributes") or path.startswith(_GATE_PREFIXES):
        return True
    bound = set(_config_inputs(str(repo), sha)) | (set(_config_inputs(str(repo), parents[0])) if parents else set())
    return any(path == p or path.startswith(p + "/") for p in bound)


def _is_infra(repo: Path, sha: str, parents: list[str], mode: str, path: str) -> bool:
    """By what the file is (tools/facts), before or after the commit (removing a Makefile's docker target
    is an infra change too), and by what the deploy uses at the commit or any parent (`deploy_set`: a mounted
    init folder, an included compose file, a script a recipe runs); symlinks and the gate's own inputs always
    count, and so does a file too large to classify (fail closed)."""
    if mode == "160000":
        return False  # a gitlink: its commits are checked inside the submodule
    if mode == "120000" or _gate_input(repo, sha, parents, path):
        return True
    with batch_reads():
        return _is_infra_by_use(repo, sha, parents, path)


def _is_infra_by_use(repo: Path, sha: str, parents: list[str], path: str) -> bool:
    from tools.facts import MAX_CLASSIFIED, infra_kind, is_deploy_doc_path, is_infra_path, needs_text

    kind = infra_kind(path, None)
    if kind is not None and kind != "docs":
        return True
    if any(path in deploy_set(repo, rev) for rev in [sha, *parents]):
        return True
    if kind == "docs":  # a proposal may edit docs; only deployment notes are infra on the branch
        return is_deploy_doc_path(path)
    if not needs_text(path):
        return False
    for rev in [sha, *parents[:1]]:
        data = _blob_at(str(repo), rev, path)
        if data is not None and (len(data) > MAX_CLASSIFIED or is_infra_path(path, data.decode("utf-8", "replace"))):
            return True
    return False


# -- what the deploy uses, per commit: one cat-file process per repository, cached by tree id ----------------

def _object(repo_dir: str, sha: str | None, kind: str) -> bytes | None:
    """A re-hashed object by id (sources.git.read_object: one process per repo inside `batch_reads`)."""
    if not sha or len(sha) not in (40, 64) or any(c not in "0123456789abcdef" for c in sha):
        return None
    obj = read_object(Path(repo_dir), sha)
    return obj[2] if obj is not None and obj[1] == kind else None


@lru_cache(maxsize=8192)
def _tree_of(repo_dir: str, sha: str) -> str | None:
    body = _object(repo_dir, sha, "commit")
    if body is None or not body.startswith(b"tree "):
        return None
    return body[5:body.index(b"\n")].decode()


@lru_cache(maxsize=65536)
def _entries(repo_dir: str, tree: str) -> dict[str, tuple[str, str]]:
    """name -> (mode, sha) of one tree object (objects never change: cached by id)."""
    body, out, i = _object(repo_dir, tree, "tree") or b"", {}, 0
    width = 32 if len(tree) == 64 else 20
    while i < len(body):
        space = body.index(b" ", i)
        nul = body.index(b"\0", space)
        out[body[space + 1:nul].decode("utf-8", "surrogateescape")] = (body[i:space].decode(),
                                                                        body[nul + 1:nul + 1 + width].hex())
        i = nul + 1 + width
    return out


_ROOTS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}


@lru_cache(maxsize=65536)
def _maybe_root(name: str) -> bool:
    """Whether a file of this name may start the deploy walk in some folder (the full path decides later)."""
    from tools.facts import is_deploy_root

    return is_deploy_root(f".github/workflows/{name}") or is_deploy_root(name)


@lru_cache(maxsize=4096)
def _deploy_roots(candidates: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    from tools.facts import is_deploy_root

    return tuple((p, b) for p, b in candidates if is_deploy_root(p))


def _roots_under(repo_dir: str, tree: str) -> tuple[tuple[str, str], ...]:
    """(relative path, blob id) of the files under a tree that may start the deploy walk (by name), subtrees
    cached by id so a commit re-reads only the folders it changed (fetched together: one round trip a level)."""
    from sources.git import MissingObject, objects

    found = _ROOTS.get((repo_dir, tree))
    if found is not None:
        return found
    entries = _entries(repo_dir, tree)
    new = [sha for mode, sha in entries.values() if mode == "40000" and (repo_dir, sha) not in _ROOTS]
    if len(new) > 1:
        try:
            objects(repo_dir).read_many(new)
        except MissingObject:
            pass  # read one by one below, where a missing folder reads as empty
    out: list[tuple[str, str]] = []
    for name, (mode, sha) in entries.items():
        if mode == "40000":
            out += [(f"{name}/{rel}", blob) for rel, blob in _roots_under(repo_dir, sha)]
        elif mode != "160000" and _maybe_root(name):
            out.append((name, sha))
    if len(_ROOTS) > 65536:
        _ROOTS.clear()
    _ROOTS[(repo_dir, tree)] = tuple(out)
    return _ROOTS[(repo_dir, tree)]


def _blob_id(repo_dir: str, tree: str, path: str) -> str | None:
    for part in path.split("/")[:-1]:
        entry = _entries(repo_dir, tree).get(part)
        if entry is None or entry[0] != "40000":
            return None
        tree = entry[1]
    entry = _entries(repo_dir, tree).get(path.rsplit("/", 1)[-1])
    return entry[1] if entry is not None and entry[0] not in ("40000", "160000") else None


def _blob(repo_dir: str, blob: str | None) -> bytes | None:
    return _object(repo_dir, blob, "blob")


def _blob_at(repo_dir: str, rev: str, path: str) -> bytes | None:
    tree = _tree_of(repo_dir, rev)
    return _blob(repo_dir, _blob_id(repo_dir, tree, path)) if tree else None


# roots (path, blob) -> [(every file the walk read, as path -> blob id), the result]: a commit whose deploy
# files are the same blobs as a commit already walked gets the same answer without reading them again.
_DEPLOY_MEMO: dict[tuple, list[tuple[dict[str, str | None], object]]] = {}


@lru_cache(maxsize=4096)
def _deploy_of_tree(repo_dir: str, tree: str):
    from tools.facts import deploy_paths

    roots = _deploy_roots(_roots_under(repo_dir, tree))
    for reads, result in _DEPLOY_MEMO.get((repo_dir, roots), []):
        if all(_blob_id(repo_dir, tree, p) == b for p, b in reads.items()):
            return result
    seen: dict[str, str | None] = {}

    def read(path: str) -> bytes | None:
        blob = _blob_id(repo_dir, tree, path) if path else None
        seen[path] = blob
        return _blob(repo_dir, blob)

    result = deploy_paths([p for p, _ in roots], read)
    variants = _DEPLOY_MEMO.setdefault((repo_dir, roots), [])
    variants[:] = [*variants[-7:], (seen, result)]
    return result


def deploy_set(repo: Path, sha: str):
    """The paths the deploy uses at commit `sha` (tools.facts.deploy_paths over its committed files): the
    gate's classification of a proposal's paths reads the same set as `verify`."""
    from tools.facts import DeployPaths

    with batch_reads():
        tree = _tree_of(str(repo), sha)
        return _deploy_of_tree(str(repo), tree) if tree else DeployPaths()


def _signers_id(repo: Path, commit: str) -> str | None:
    """The blob id of the signer list at `commit`, or None when it has none."""
    found = read_object(repo, f"{commit}:{ssh.SIGNERS_FILE}")
    return found[0] if found is not None and found[1] == "blob" else None


@lru_cache(maxsize=256)
def _signers_of(repo_dir: str, blob: str | None) -> tuple[ssh.Signer, ...] | None:
    """The signers a signer-list blob names (parsed once per blob id); () when it cannot be read."""
    if blob is None:
        return None
    found = read_object(Path(repo_dir), blob)
    if found is None or found[1] != "blob":
        return None
    try:
        return tuple(ssh.parse_signers(found[2].decode("utf-8", "replace")))
    except Exception:
        return ()


def _signers_at(root: Path, commit: str | None) -> list[ssh.Signer] | None:
    if commit is None:
        return None
    signers = _signers_of(str(root), _signers_id(root, commit))
    return None if signers is None else list(signers)


def _judge(repo: Path, sha: str, signers: list[ssh.Signer] | None) -> tuple[str, str | None, str]:
    return _judge_cached(str(repo), sha, tuple(signers) if signers is not None else None)


@lru_cache(maxsize=4096)
def _judge_cached(repo_dir: str, sha: str, signers: tuple[ssh.Signer, ...] | None) -> tuple[str, str | None, str]:
    """A commit object never changes (its id is its content): one ssh-keygen run per commit and signer list."""
    return _check_signature(gc.read_commit(Path(repo_dir), sha), signers)


def _check_signature(commit: gc.CommitObject, signers: tuple[ssh.Signer, ...] | None) -> tuple[str, str | None, str]:
    if commit.signature is None:
        return "unsigned", None, "no signature"
    if signers is None:
        return "no-signers", None, "its parent has no signer list"
    found = ssh.verify(commit.payload, commit.signature, list(signers), ssh.GIT_NAMESPACE)
    if found is None:
        return "bad-signature", None, "not signed by a signer of its parent"
    return _trailers_verdict(commit, found.principal)


def _commit(repo: Path, sha: str) -> gc.CommitObject:
    """A commit through the run's one `cat-file --batch` process, re-hashed against its id."""
    found = read_object(repo, sha)
    if found is None or found[1] != "commit":
        return gc.read_commit(repo, sha)  # the gate's own refusal: the commit is not here
    return gc.parse_commit(sha, found[2])


class _VerdictCache:
    """What never changes for a commit id, on disk under the tool's cache dir: its signature verdict under a
    signer list (keyed by commit id, signer-list blob id and `_rules_id`, the digest of the code judging it)
    and the infra paths it touches (keyed by commit id and `_rules_id`). `review` then need
    not re-run ssh-keygen nor re-classify the whole history on every run. It is as trusted as the install
    that reads it (the same user writes both); CI starts from an empty one. Unwritable: everything is
    computed, nothing is kept."""

    VERDICTS, INFRA = "verdict_v1", "infra_v2"

    def __init__(self, enabled: bool = True) -> None:
        import sqlite3

        self._new: dict[str, tuple[str, str | None, str, str]] = {}
        self._new_infra: dict[str, tuple[list[str], str | None]] = {}
        self._read_infra: dict[str, list[str]] = {}
        self._db: sqlite3.Connection | None = None
        if not enabled:
            return
        try:
            from tools.schemas import cache_root

            folder = cache_root() / "verify"
            folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(folder / "verdicts.sqlite3"), timeout=2)
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {self.VERDICTS} (key TEXT PRIMARY KEY, "
                             "status TEXT NOT NULL, principal TEXT, detail TEXT NOT NULL, subject TEXT NOT NULL)")
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {self.INFRA} (key TEXT PRIMARY KEY, paths TEXT NOT NULL, "
                             "signers TEXT)")
        except (OSError, sqlite3.Error):
            self._db = None

    def _row(self, sql: str, key: str) -> tuple | None:
        import sqlite3

        if self._db is None:
            return None
        try:
            return self._db.execute(sql, (key,)).fetchone()
        except sqlite3.Error:
            return None

    def get(self, key: str) -> tuple[str, str | None, str, str] | None:
        if key in self._new:
            return self._new[key]
        row = self._row(f"SELECT status, principal, detail, subject FROM {self.VERDICTS} WHERE key = ?", key)
        return (row[0], row[1], row[2], row[3]) if row else None

    def put(self, key: str, value: tuple[str, str | None, str, str]) -> None:
        self._new[key] = value

    def get_infra(self, key: str) -> list[str] | None:
        if key in self._new_infra:
            return list(self._new_infra[key][0])
        if key in self._read_infra:
            return list(self._read_infra[key])
        row = self._row(f"SELECT paths FROM {self.INFRA} WHERE key = ?", key)
        return _paths(row[0]) if row else None

    def put_infra(self, key: str, paths: list[str], signers_change: str | None) -> None:
        self._new_infra[key] = (list(paths), signers_change)

    def facts(self, shas: list[str]) -> dict[str, str | None]:
        """sha -> its signer-list change (None: unchanged) for the commits whose classification is cached."""
        import sqlite3

        if self._db is None or not shas:
            return {}
        rules = _rules_id()
        out: dict[str, str | None] = {}
        for start in range(0, len(shas), 500):
            keys = [f"{sha}:{rules}" for sha in shas[start:start + 500]]
            try:
                rows = self._db.execute(f"SELECT key, paths, signers FROM {self.INFRA} WHERE key IN "
                                        f"({', '.join('?' * len(keys))})", keys).fetchall()
            except sqlite3.Error:
                return {}
            for key, paths, signers in rows:
                parsed = _paths(paths)
                if parsed is not None:  # a commit stands in for its diffs only with its paths at hand
                    self._read_infra[key] = parsed
                    out[key.split(":", 1)[0]] = signers or None
        return out

    def close(self) -> None:
        import json
        import sqlite3

        if self._db is None:
            return
        try:
            if self._new or self._new_infra:
                with self._db:
                    self._db.executemany(f"INSERT OR REPLACE INTO {self.VERDICTS} VALUES (?, ?, ?, ?, ?)",
                                         [(k, *v) for k, v in self._new.items()])
                    self._db.executemany(f"INSERT OR REPLACE INTO {self.INFRA} VALUES (?, ?, ?)",
                                         [(k, json.dumps(v, ensure_ascii=False), c)
                                          for k, (v, c) in self._new_infra.items()])
        except sqlite3.Error:
            pass
        finally:
            self._db.close()
            self._db = None


def _paths(text: str) -> list[str] | None:
    import json

    try:
        paths = json.loads(text)
    except (TypeError, ValueError):
        return None
    return paths if isinstance(paths, list) and all(isinstance(p, str) for p in paths) else None


@lru_cache(maxsize=1)
def _rules_id() -> str:
    """A digest of the code that judges a commit (the gate, agent/core, tools/facts): a cached verdict or
    classification holds only under the code that made it."""
    import hashlib

    import tools.facts

    digest = hashlib.sha256()
    gate, core, facts = Path(__file__).parent, Path(__file__).parents[1] / "core", Path(tools.facts.__file__).parent
    for path in [*sorted(gate.glob("*.py")), *sorted(core.rglob("*.py")), *sorted(facts.rglob("*.py"))]:
        digest.update(str(path.name).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


class _Walk:
    """One verify run: its report, the verdict cache, the submodule ranges already walked."""

    def __init__(self, report: VerifyReport, cached: bool = False) -> None:
        self.report = report
        self.cache = _VerdictCache(enabled=cached)
        self.ranges: set[tuple[str, str, str]] = set()
        self._index: dict[tuple[str, str], InfraCommit] = {}

    def add(self, item: InfraCommit) -> None:
        """Once per (repository, commit): a merge reached through several parents adds its paths."""
        known = self._index.get((item.repo, item.sha))
        if known is None:
            self._index[(item.repo, item.sha)] = item
            self.report.infra.append(item)
        else:
            known.paths.extend(p for p in item.paths if p not in known.paths)

    def verdict(self, repo: Path, sha: str, signers_id: str | None,
                signers: tuple[ssh.Signer, ...] | None) -> tuple[str, str | None, str, str]:
        key = f"{sha}:{signers_id or '-'}:{_rules_id()}"
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        commit = _commit(repo, sha)
        value = (*_check_signature(commit, signers), commit.subject)
        self.cache.put(key, value)
        return value

    def examine(self, repo: Path, label: str, sha: str, parents: list[str], diffs: list[list[Change]],
                signers_id: str | None, signers: tuple[ssh.Signer, ...] | None, depth: int) -> None:
        """Judge one commit against each of its parents: infra when any parent diff touches an infra path."""
        # A commit moving no gitlink is classified once per rules: the answer depends on its id alone.
        links = any("160000" in (change[0], change[1]) for diff in diffs for change in diff)
        key = f"{sha}:{_rules_id()}"
        cached = None if links else self.cache.get_infra(key)
        infra: list[str] = cached if cached is not None else []
        against: list[str | None] = list(parents) or [None]  # a root commit: against the empty tree
        for parent, diff in zip(against, diffs if cached is None else []):
            for change in diff:
                path, mode = change[4], _mode(change)
                if _has_control(path):
                    flagged = True
                elif "160000" in (change[0], change[1]) and change[0] != change[1] and "000000" not in (change[0], change[1]):
                    flagged = True  # a gitlink turned into a file or back (`T`): the pointer itself is removed
                elif mode == "160000":
                    flagged = _verify_submodule(self, repo, label, change, parent, sha, signers_id, signers, depth)
                else:
                    flagged = _is_infra(repo, sha, [parent] if parent else [], mode, path)
                if flagged and path not in infra:
                    infra.append(path)
        if cached is None and not links:
            self.cache.put_infra(key, infra, _signers_change(diffs))
        if infra:
            status, principal, detail, subject = self.verdict(repo, sha, signers_id, signers)
            self.add(InfraCommit(label, sha, subject, infra, status, principal, detail))


def _full_id(pin: str) -> str:
    """A trust-root pin is a full commit id, compared for equality (a prefix is ground in seconds)."""
    value = pin.strip().lower()
    if not _HEX_ID.fullmatch(value.encode("ascii", "replace")):
        raise UserError(f"--trust-root {pin[:20]!r} is not a full commit id (40 hex characters, 64 for sha256)",
                        "pin the whole id `devops-agent verify` names: `git rev-parse <trust root>`")
    return value


def verify_branch(root: Path, rev_range: str | None = None, trust_root: str | None = None,
                  new_since: str | None = None, cached: bool = False) -> VerifyReport:
    """Every infra commit of the branch and whether Product signed it. `cached` reads and writes the on-disk
    verdict cache: only `review` (advice, on every run) asks for it. `verify` (CI), approve, accept and restore
    never do: the same user can write that cache, and a Product signature must never rest on it."""
    pin = _full_id(trust_root) if trust_root is not None else None
    with batch_reads():
        report = _verify_branch(Path(root), rev_range, pin, cached)
        if new_since is not None:
            report.problems += expired_on_landing(Path(root), new_since, rev_range)
        return report


def _verify_branch(root: Path, rev_range: str | None, pin: str | None, cached: bool = False) -> VerifyReport:
    tip = rev_range.split("..")[-1] if rev_range and ".." in rev_range else (rev_range or "HEAD")
    branch = run_git(["rev-parse", "--abbrev-ref", tip], root, check=False).strip() or tip
    report = VerifyReport(branch=branch, trust_root=None)
    walk = _Walk(report, cached)
    try:
        return _verify_history(root, rev_range, pin, tip, walk)
    finally:
        walk.cache.close()


def _verify_history(root: Path, rev_range: str | None, pin: str | None, tip: str, walk: _Walk) -> VerifyReport:
    report = walk.report
    if run_git(["rev-parse", "--is-shallow-repository"], root, check=False).strip() == "true":
        report.problems.append("shallow clone: the history before the trust root is cut; "
                               "fetch it all (actions/checkout with fetch-depth: 0)")
    try:
        history = _log(root, [tip], walk.cache)
    except GitError as exc:
        report.problems.append(f"cannot read the history of {tip}: {exc.message}")
        return report
    # The signer list's blob id at each commit, followed along the diffs: read only where it changes.
    ids: dict[str, str | None] = {}

    def signers_id(sha: str | None) -> str | None:
        if sha is None:
            return None
        if sha not in ids:
            ids[sha] = _signers_id(root, sha)
        return ids[sha]

    root_sha = None
    for sha, parents, diffs in history:
        change = next((c for c in diffs[0] if c[4] == ssh.SIGNERS_FILE), None)
        before = signers_id(parents[0]) if parents else None
        ids[sha] = before if change is None else (None if change[3] in _ZERO_IDS else change[3])
        if root_sha is None and change is not None and ids[sha] is not None and before is None:
            root_sha = sha
        elif change is not None and root_sha is not None and not _signs_list_change(root, sha, before):
            ids[sha] = before  # a signer-list change no signer in force signed: that list stays in force
    if root_sha is None:
        report.problems.append(f"no trust root: no commit adds {ssh.SIGNERS_FILE}; "
                               f"run `{hints.product_key_init()}` in Product's terminal")
        return report
    if pin and root_sha != pin:
        report.problems.append(f"the trust root is {root_sha[:12]}, not the pinned {pin[:12]}: "
                               "the history was rewritten or the signer list replaced")
    _walk_branch(root, rev_range, history, root_sha, signers_id, walk)
    return report


def _walk_branch(root: Path, rev_range: str | None, history, root_sha: str, signers_id, walk: _Walk) -> None:
    report = walk.report
    root_signers = _signers_of(str(root), signers_id(root_sha)) or ()
    status, principal, _, _ = walk.verdict(root, root_sha, signers_id(root_sha), root_signers)
    first = root_signers[0] if root_signers else None
    report.trust_root = TrustRoot(root_sha, principal or "?", ssh.fingerprint(first.public_line) if first else "?",
                                  bool(first and first.no_passphrase))
    if status != "signed":
        report.problems.append(f"the trust root {root_sha[:12]} is not signed by a key it lists")
    tip_sha = history[-1][0]
    report.demo_signers = [ssh.fingerprint(s.public_line) for s in (_signers_of(str(root), signers_id(tip_sha)) or ())
                           if s.no_passphrase]
    parents_of = {sha: parents for sha, parents, _ in history}
    before, stack = {root_sha}, [root_sha]
    while stack:  # the trust root and its ancestors: not checked
        for parent in parents_of.get(stack.pop(), []):
            if parent not in before:
                before.add(parent)
                stack.append(parent)
    after = {sha for sha in parents_of if sha not in before}
    if rev_range and ".." in rev_range:
        after &= set(run_git(["rev-list", rev_range], root).split())
    report.before_root = len(history) - len(after) - 1
    for sha, parents, diffs in history:
        if sha not in after:
            continue
        report.commits_examined += 1
        parent_id = signers_id(parents[0]) if parents else None
        walk.examine(root, "", sha, parents, diffs, parent_id, _signers_of(str(root), parent_id), 0)
    candidates = set(run_git(["log", "--format=%H", "-i", "--grep=accepts[[:space:]]*:", tip_sha], root,
                             check=False).split())
    report.accept(_acceptances(root, [sha for sha, _, _ in history if sha in after and sha in candidates],
                               report.problems, lambda parent: _signers_of(str(root), signers_id(parent))))


def accepted_by(message: str) -> list[str]:
    """The commit ids an acceptance commit's `Accepts:` trailers name, read strictly (agent.core.trailers:
    TrailerError when one is outside the trailer block, twice, or malformed)."""
    return parse_trailers(message).get("Accepts", [])


def _trailers_verdict(commit: gc.CommitObject, principal: str) -> tuple[str, str | None, str]:
    """A signed commit whose gate trailers are not unique and in their block is refused: what it binds
    (proposal, hash, expiry, acceptances) would read differently to another reader. So is an approval valid
    for longer than the cap after it was signed: both times are under the signature, so git alone proves it."""
    try:
        trailers = parse_trailers(commit.message)
    except TrailerError as exc:
        return "bad-trailers", principal, f"signed, but refused: {exc}"
    value = trailer(trailers, "Approval-Expires")
    if value is not None:
        expires, signed_at = _iso_time(value), _signed_time(commit)
        cap = timedelta(days=MAX_APPROVAL_TTL_DAYS, minutes=2)  # the gate computes both a moment apart
        if expires is None or signed_at is None or expires - signed_at > cap:
            return "bad-trailers", principal, (f"signed, but refused: its Approval-Expires {value!r} is not within "
                                               f"{MAX_APPROVAL_TTL_DAYS} days of when it was signed")
    return "signed", principal, ""


def expired_on_landing(root: Path, since: str, rev_range: str | None = None,
                       now: datetime | None = None) -> list[str]:
    """The commits of SINCE..TIP are landing now (CI on push: `github.event.before`): each signed approval
    among them (`Approval-Expires`, not a revert) must not be expired on this machine's clock. Git records no
    landing time (a fast-forward writes no commit; a committer date is what its author typed), so after
    `apply` this is where expiry is judged: at push, by a clock the agent does not set."""
    tip = rev_range.split("..")[-1] if rev_range and ".." in rev_range else (rev_range or "HEAD")
    if set(since) == {"0"}:
        return []  # a branch pushed for the first time: nothing was on it before
    base = run_git(["rev-parse", "--verify", "-q", "--end-of-options", f"{since}^{{commit}}"], root, check=False).strip()
    if not base:
        return [f"--new-since {since[:40]!r} is not a commit here: fetch the whole history (fetch-depth: 0)"]
    now = now or datetime.now(timezone.utc)
    problems = []
    for sha in run_git(["rev-list", "--reverse", f"{base}..{tip}"], root).split():
        commit = gc.read_commit(root, sha)
        try:
            trailers = parse_trailers(commit.message)
        except TrailerError:
            continue  # a signed one is refused by the walk (bad-trailers); an unsigned one has no authority
        value = trailer(trailers, "Approval-Expires")
        if commit.signature is None or value is None or "Reverts" in trailers:
            continue
        expires = _iso_time(value)
        if expires is None or expires <= now:
            problems.append(f"commit {sha[:12]} '{commit.subject[:50]}' landed after its approval expired "
                            f"({value}): revert it, or have Product approve the change again")
    return problems


def _iso_time(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _signed_time(commit: gc.CommitObject) -> datetime | None:
    """The committer time of a commit (`Name <email> EPOCH +ZONE`): under its signature when signed."""
    parts = commit.committer.rsplit(" ", 2)
    try:
        return datetime.fromtimestamp(int(parts[-2]), timezone.utc) if len(parts) == 3 else None
    except ValueError:
        return None


def _acceptances(root: Path, shas: list[str], problems: list[str], signers_at) -> dict[str, str]:
    """accepted sha -> the signed commit accepting it, among `shas` (only commits signed by a signer in force
    at their parent, `signers_at(parent)`); a signed one whose trailers are not read strictly accepts nothing,
    and is named in `problems`."""
    out: dict[str, str] = {}
    for sha in shas:
        commit = gc.read_commit(root, sha)
        if commit.signature is None:
            continue
        parent_signers = signers_at(commit.parents[0]) if commit.parents else None
        verdict, _, detail = _judge(root, sha, None if parent_signers is None else list(parent_signers))
        if verdict == "bad-trailers":
            problems.append(f"commit {sha[:12]} ({detail}) accepts nothing")
        elif verdict == "signed":
            for acc in accepted_by(commit.message):
                out.setdefault(acc, sha)
    return out


def _verify_submodule(walk: _Walk, root: Path, label: str, change: Change, parent: str | None, commit: str,
                      signers_id: str | None, signers: tuple[ssh.Signer, ...] | None, depth: int) -> bool:
    """Judge a gitlink change of `root` (the platform at depth 0, a submodule deeper). Moving forward: each
    infra commit of the submodule in `old..new` must be signed, its own submodules walked the same way.
    Returns True when the commit of `root` itself is the infra change to sign: a pointer added, removed, or
    moved back or sideways (which can undo signed work without a single submodule commit)."""
    path = change[4]
    where = f"{label}/{path}" if label else path
    old_sha = change[2] if change[0] == "160000" else None
    new_sha = change[3] if change[1] == "160000" else None
    if new_sha is None:
        return True
    if depth >= MAX_SUBMODULE_DEPTH:
        walk.add(InfraCommit(where, new_sha, f"(submodule {where} moved by {commit[:12]})", [], "unverifiable", None,
                             f"submodules nested more than {MAX_SUBMODULE_DEPTH} deep are not walked"))
        return False
    sub = root / path
    if old_sha is None:
        # Added, or re-added after a removal: its commits since the last value it had are judged too.
        old_sha = _last_gitlink(root, parent, path) if parent else None
        if old_sha is None or not gc.has_commit(sub, old_sha) or not gc.has_commit(sub, new_sha):
            return True
        _verify_submodule_range(walk, sub, where, old_sha, new_sha, signers_id, signers, depth + 1)
        return True
    if not gc.has_commit(sub, new_sha) or not gc.has_commit(sub, old_sha):
        walk.add(InfraCommit(where, new_sha, f"(submodule {where} moved by {commit[:12]})", [], "unverifiable",
                             None, f"the objects of {where} are not here: "
                                   f"run `{hints.submodule_init()}` to verify it"))
        return False
    forward = run_git(["rev-list", "-1", f"{new_sha}..{old_sha}"], sub, check=False).strip() == ""
    _verify_submodule_range(walk, sub, where, old_sha, new_sha, signers_id, signers, depth + 1)
    return not forward


def _verify_submodule_range(walk: _Walk, sub: Path, label: str, old_sha: str, new_sha: str, signers_id: str | None,
                            signers: tuple[ssh.Signer, ...] | None, depth: int) -> None:
    """Every commit of `old..new` in the submodule, against each of its parents, under the platform's signers."""
    if (label, old_sha, new_sha) in walk.ranges:
        return
    walk.ranges.add((label, old_sha, new_sha))
    for sha, parents, diffs in _log(sub, [f"{old_sha}..{new_sha}"], walk.cache):
        walk.examine(sub, label, sha, parents, diffs, signers_id, signers, depth)


def _last_gitlink(root: Path, before: str, path: str) -> str | None:
    """The last commit id the gitlink `path` recorded in the history of `before`."""
    for sha in run_git(["rev-list", before, "--", path], root, check=False).split():
        entry = gc.tree_entry(root, sha, path)
        if entry is not None and entry[0] == "160000":
            return entry[2]
    return None


def trusted_signers(root: Path, commit: str) -> list[ssh.Signer]:
    """The signer list in force at `commit`: the trust root's (signed by a key it lists), then each change to
    it signed by a signer of the list in force before. A change nobody in force signed (a hand commit) gives
    no authority and changes nothing: the list Product last signed stays in force, so Product can still sign
    its way back (`product-key restore`). [] when there is no trust root or Product removed the list."""
    return signer_chain(root, commit)[0]


def signed_by(root: Path, commit: gc.CommitObject, signers_at: str) -> str | None:
    """The principal of the signer in force at the platform's `signers_at` (trusted_signers) who signed
    `commit`, with the gate's trailers in order; None for any other commit (`history`'s "Product-signed")."""
    if commit.signature is None:
        return None
    signers = _in_force(str(root), signers_at)
    if not signers:
        return None
    status, principal, _ = _check_signature(commit, signers)
    return principal if status == "signed" else None


@lru_cache(maxsize=256)
def _in_force(root: str, commit: str) -> tuple[ssh.Signer, ...]:
    return tuple(trusted_signers(Path(root), commit))


def signer_chain(root: Path, commit: str) -> tuple[list[ssh.Signer], str | None]:
    """(the signer list in force at `commit`, the commit that last set it by a valid signature)."""
    out = run_git(["log", "--reverse", "--first-parent", "--format=%H", commit, "--", ssh.SIGNERS_FILE],
                  root, check=False)
    signers: list[ssh.Signer] | None = None
    set_by: str | None = None
    for sha in out.split():
        current = _signers_at(root, sha)
        if signers is None:  # the trust root: signed by a key it lists, else no authority at all
            if current is None or _judge(root, sha, current)[0] != "signed":
                return [], None
            signers, set_by = current, sha
        elif _judge(root, sha, signers)[0] == "signed":
            signers, set_by = current or [], sha
    return signers or [], set_by


def _signs_list_change(root: Path, sha: str, list_id: str | None) -> bool:
    """Whether commit `sha` is validly signed by a signer of the list blob `list_id` (the list in force)."""
    signers = _signers_of(str(root), list_id)
    return signers is not None and _judge(root, sha, list(signers))[0] == "signed"
