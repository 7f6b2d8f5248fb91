"""A session: the charter, every source it lists (with provenance), the release, findings, verdict.

Every front end (CLI, REPL, MCP, evals) opens one of these; none holds rules of its own.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from agent.core import hints
from agent.core.charter import Charter, parse_charter
from agent.core.collect import few_collections
from agent.core.config import ProjectConfig, load_config
from agent.core.errors import UserError
from sources import notion_export
from sources.git import RepoState, find_repo_root, repo_state
from sources.loader import SourceLoader
from sources.provenance import LoadedSource
from tools.findings import Finding

REPO_CHARTER = Path(".codex/agents/devops-engineer.md")


def resolve_repo(repo: str | Path | None) -> Path:
    """--repo, else the platform's git root above the current directory, else the current directory."""
    if repo is not None:
        path = Path(repo).expanduser()
        if not path.exists():
            raise UserError(f"--repo {repo} does not exist", "pass the platform's root directory")
        if not path.is_dir():
            raise UserError(f"--repo {repo} is not a directory", "pass the platform's root directory")
        return _not_bare(path.resolve())
    cwd = Path.cwd()
    return _not_bare((find_repo_root(cwd) or cwd).resolve())


def gitmodules_problem(root: Path) -> str | None:
    """A .gitmodules git's config parser refuses: its submodules vanish from the review, so it is said."""
    if not (root / ".gitmodules").is_file():
        return None
    from sources.git import GitError, run_git

    try:
        run_git(["config", "-f", ".gitmodules", "--list"], root)
    except GitError as exc:
        said = str(exc).split(": ", 1)[-1].split(" — ")[0]
        return (f".gitmodules cannot be parsed by git ({said}): its submodules are not listed, read or reviewed; "
                "fix the file (`git config -f .gitmodules --list` shows the error)")
    except OSError:  # no git binary: said elsewhere
        return None
    return None


def _not_bare(root: Path) -> Path:
    """A bare repository has no work tree to review (it read as "no git" and every source missing)."""
    if (root / "HEAD").is_file() and (root / "objects").is_dir() and (root / "refs").is_dir() \
            and not (root / ".git").exists():
        from sources.git import run_git

        try:
            bare = run_git(["rev-parse", "--is-bare-repository"], root, check=False).strip() == "true"
        except OSError:  # no git binary: the layout alone says it
            bare = True
        if bare:
            raise UserError(f"{root} is a bare repository: review a checkout (git clone / git worktree add)",
                            "then pass --repo with the checkout's folder")
    return root


def packaged_charter() -> Path:
    import importlib.resources

    return Path(str(importlib.resources.files("prompts") / "devops-engineer.md"))


def discover_charter(root: Path, explicit: str | Path | None, config: ProjectConfig) -> tuple[Path | None, str]:
    """(path, origin): --charter, the config's charter, the repo's own; else (None, "generic"): the
    repository has no charter, and is reviewed against the generic one (`load_charter`)."""
    if explicit is not None:
        return Path(explicit).expanduser(), "--charter"
    if config.charter:
        return (root / config.charter), ".devops-agent.yaml"
    if os.path.lexists(root / REPO_CHARTER):  # a directory or a broken link is reported, not skipped for the generic one
        return root / REPO_CHARTER, "repo"
    return None, "generic"


def load_charter(root: Path, explicit: str | Path | None, config: ProjectConfig) -> tuple[Charter, str]:
    """The session's charter and where it came from; a repository without one gets the generic DevOps
    charter of the template (no AnimeSphere file, no Notion, none of a platform's own decisions)."""
    path, origin = discover_charter(root, explicit, config)
    if path is None:
        from agent.core.charter import parse_charter_text
        from agent.core.charter_template import generic_charter_text

        text = generic_charter_text(root.name, notion=config.notion is not None, rules=bool(config.rules_file))
        return parse_charter_text(text, GENERIC_CHARTER), origin
    if origin == "--charter":  # the user's own file, wherever it is: still a regular file under the cap
        return parse_charter(path, config.max_file_bytes), origin
    # The repository's charter or the config's: a file of the repository, read as its sources are.
    rel = REPO_CHARTER.as_posix() if origin == "repo" else str(config.charter)
    return parse_charter(Path(rel), config.max_file_bytes, root=root), origin


GENERIC_CHARTER = "<generic DevOps charter>"


@dataclass
class Session:
    root: Path
    charter: Charter
    charter_origin: str
    config: ProjectConfig
    config_path: Path | None
    git: RepoState
    sources: list[LoadedSource]
    releases: list[notion_export.Release] = field(default_factory=list)
    release: notion_export.Release | None = None
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # READMEs and docs pages read only to find how the repo runs Compose: no charter source, so never in the
    # brief's sources nor readable by the model (`read_source`): their text is nobody's instruction.
    readmes: list[LoadedSource] = field(default_factory=list)
    not_run: list = field(default_factory=list)  # tools.checks.registry.NotRun: what could not be checked

    _platform: object = field(default=None, repr=False)
    _environments: object = field(default=None, repr=False)  # a Future of Compose's models (start_platform)
    _discovery: object = field(default=None, repr=False)
    hidden: int = 0  # findings below a --min-severity filter
    # Findings accepted by a comment, a hadolint config, an `ignore:` entry or a baseline: listed, never counted.
    suppressed: list = field(default_factory=list)  # tools.suppressions.Suppression
    fail_on: str = "blocker"  # the lowest severity that makes the verdict NO-GO (`review --fail-on`)
    _verdict: str | None = field(default=None, repr=False)
    snapshot: object = field(default=None, repr=False)  # the TemporaryDirectory of a session of a commit
    signatures: object = None  # agent.gate.verify.VerifyReport of the branch, when checked
    repo_root: Path | None = None  # the repository itself (a session of a commit reads a snapshot without .git)
    since: object = None  # agent.history.Comparison: each finding new or unchanged against a tag (`review --since`)
    fail_on_new: bool = False  # the verdict counts only findings new since `since` (`review --fail-on-new`)
    _since_tag: object = field(default=None, repr=False)

    def filtered(self, min_severity: str | None) -> "Session":
        """The same session showing only findings at `min_severity` or above; the verdict still counts all."""
        from dataclasses import replace

        from tools.findings import SEVERITIES

        if not min_severity:
            return self
        cut = SEVERITIES.index(min_severity)
        shown = [f for f in self.findings if SEVERITIES.index(f.severity) <= cut]
        return replace(self, findings=shown, hidden=len(self.findings) - len(shown), _verdict=self.verdict)

    def fingerprints(self) -> dict[int, str]:
        """id(finding) -> its fingerprint, for the findings and the suppressed ones together, numbered as if none
        were suppressed: an accepted finding keeps the identity it has when it stands (code scanning, baselines)."""
        from tools.findings import Finding, fingerprints

        everyone = sorted([*self.findings, *(s.finding for s in self.suppressed)], key=Finding.sort_key)
        return {id(f): fp for f, fp in zip(everyone, fingerprints(everyone))}

    def compare_baseline(self, path: Path, write: bool = False) -> str:
        """`review --baseline FILE`: write it (absent, or `write`) with every finding standing, else compare: the
        findings it holds are accepted (listed as suppressed), so only new ones decide the verdict."""
        import datetime

        from tools.suppressions import apply_baseline, read_baseline, write_baseline

        path = Path(path).expanduser()
        fps = self.fingerprints()
        if write or not path.exists():
            write_baseline(path, self.findings, fps, datetime.date.today())
            said = f"baseline {path} written with {len(self.findings)} finding(s)"
        else:
            said = f"compared with baseline {path}"
        where = self._shown_path(path)
        self.findings, accepted = apply_baseline(self.findings, fps, read_baseline(path), where)
        self.suppressed += accepted
        self.notes.append(f"{said}: {len(accepted)} accepted, {len(self.findings)} new")
        return said

    def compare_since(self, rev: str, new_only: bool = False) -> None:
        """`review --since REV`: each finding new or unchanged against REV, REV's findings gone listed as fixed;
        with `new_only` the verdict counts only the new ones."""
        from agent.history import compare

        self.since = compare(self, rev)
        self.fail_on_new = new_only
        counts = self.since.counts(self.findings)
        self.notes.append(f"since {rev} ({self.since.since_commit[:12]}): {counts['new']} new, "
                          f"{counts['unchanged']} unchanged, {counts['fixed']} fixed"
                          + ("; only the new ones decide the verdict" if new_only else ""))

    def since_last_tag(self):
        """The findings against the last release tag (the model's brief): agent.history.Comparison, or None when
        the branch has no tag (or the session is no git repository)."""
        if self._since_tag is None:
            self._since_tag = False
            if self.git.is_git and self.git.commit:
                from agent.history import compare
                from tools.deliverables import last_release_tag

                root = self.repo_root or self.root
                tag = last_release_tag(root, self.git.commit)
                if tag:
                    try:
                        self._since_tag = compare(self, tag)
                    except UserError as exc:  # the tag's commit cannot be reviewed: said, the session goes on
                        self.notes.append(f"cannot compare with the last tag {tag}: {exc.line()}")
        return self._since_tag or None

    def _shown_path(self, path: Path) -> str:
        try:
            return path.resolve().relative_to((self.repo_root or self.root).resolve()).as_posix()
        except ValueError:
            return str(path)

    def discovery(self):
        """Compose environments and where each came from (tools.environments.Discovery), found once."""
        if self._discovery is None:
            from tools.environments import discover

            cfg = self.config_path.name if self.config_path else ".devops-agent.yaml"
            self._discovery = discover(self.sources + self.readmes, self.config.environments, cfg)
        return self._discovery

    def environments(self) -> dict[str, list[str]]:
        """Compose environments: the config's, then how the repo calls Compose, then file-name conventions."""
        return self.discovery().files()

    def start_platform(self) -> None:
        """Start Compose's runs for every environment in the background (Compose on 10,000 services takes
        seconds of its own): the session's other work proceeds meanwhile, `platform()` waits for them."""
        if self._platform is None and self._environments is None:
            from tools.platform import start_environments

            self._environments = start_environments(self.root, self.sources, self.environments(),
                                                    **self._environment_options())

    def _environment_options(self) -> dict:
        discovery = self.discovery()
        return {"max_file_bytes": self.config.max_file_bytes,
                "variables": {n: e.variables for n, e in discovery.environments.items()},
                "env_files": {n: e.env_files for n, e in discovery.environments.items()}}

    def platform(self):
        """Compose, Dockerfiles, CI and nginx read together (built once per session)."""
        if self._platform is None:
            from tools.platform import build_platform

            self._platform = build_platform(self.root, self.sources, self.environments(), self.git.submodules,
                                            platform_repository=self.config.github_repository,
                                            read_source=self._read_dockerfile, loading=self._environments,
                                            **self._environment_options())
            self._environments = None
            self._add_nginx_sources(self._platform)
        return self._platform

    def _read_dockerfile(self, rel: str):
        """A Dockerfile a compose model builds through a variable (`dockerfile: ${X}`), read as a source."""
        spec = next((s for s in self.charter.sources if s.kind == "dockerfile"), None)
        if spec is None:
            from agent.core.charter import SourceSpec

            spec = SourceSpec(kind="dockerfile", label="Dockerfiles", text="", line=0, optional=True)
        return SourceLoader(self.root, self.charter, self.config, self.git).read(spec, rel)

    def _add_nginx_sources(self, platform) -> None:
        """The nginx files the platform read become sources like the others, with their provenance."""
        known = {s.path for s in self.sources}
        for src in platform.nginx_sources.values():
            if src.path in known:
                continue
            sub = self.git.submodule_of(src.path)
            src.submodule = sub.path if sub else None
            src.commit = (sub.commit if sub else self.git.commit) if self.git.is_git else None
            src.dirty = self.git.is_dirty(src.path) if self.git.is_git else None
            src.priority = src.priority or 2  # the charter's repo files
            self.sources.append(src)

    def compose_views(self, env_name: str | None, service: str | None) -> dict[str, dict]:
        """The effective model of one or every environment (or one service of it), secrets redacted."""
        from tools.compose import redacted

        platform = self.platform()
        names = [env_name] if env_name else list(platform.environments)
        views = {}
        for name in names:
            env = platform.environments.get(name)
            if env is None:
                raise UserError(f"unknown environment {name!r}", f"use one of: {', '.join(platform.environments) or 'none'}"
                                " (`devops-agent sources` shows where each comes from; name more in .devops-agent.yaml)")
            if env.error is not None:
                raise env.error
            model = redacted(env.project.model)
            if service:
                if service not in model.get("services", {}):
                    raise UserError(f"no service {service!r} in {name}",
                                    f"use one of: {', '.join(model.get('services', {}))}")
                model = model["services"][service] if env_name else {"services": {service: model["services"][service]}}
            views[name] = model
        return views

    def dockerfile_diffs(self, service: str, from_rev: str, to_rev: str | None) -> list:
        from tools.dockerfile import diff_service_dockerfile

        platform = self.platform()
        paths = platform.dockerfiles_of(service)
        if not paths:
            known = sorted({s for e in platform.environments.values() for s in e.services})
            raise UserError(f"no Dockerfile found for {service!r}",
                            f"name a compose service ({', '.join(known) or 'none'}) or a Dockerfile path")
        out = []
        for path in paths:
            sub, inner = platform.repo_of(path)
            out.append(diff_service_dockerfile(self.root / sub if sub else self.root, inner, from_rev, to_rev))
        return out

    def ci_summaries(self) -> list[dict]:
        from tools import ci as ci_tool
        from tools.platform import workflow_repo

        platform = self.platform()
        return [ci_tool.summary(wf, repository=platform.submodules.get(workflow_repo(path))
                                or self.config.github_repository)
                for path, wf in platform.workflows.items()]

    def ci_not_loaded(self) -> list[dict]:
        """The workflows that could not be read, each with its path, status, submodule and the message that says
        what to do: workflow sources not loaded, and the workflows folder of each submodule not checked out."""
        unread = [(s.path, s.status, s.submodule, s.message) for s in self.sources
                  if s.kind == "ci_workflow" and not s.ok and s.status != "optional-absent"]
        covered = {sub for _, _, sub, _ in unread}
        unread += [(f"{sub.path}/.github/workflows/", "missing", sub.path,
                    f"submodule {sub.path} is not initialised: run `{hints.submodule_init(sub.path)}`")
                   for sub in self.git.submodules if not sub.initialized and sub.path not in covered]
        empty = {"name": None, "ok": False, "triggers": {}, "env": {}, "jobs": [], "images": [], "deploys": [],
                 "secrets": [], "branches": [], "unpinned_actions": [], "schema_issues": []}  # a summary's shape
        return [{"path": path, **empty, "errors": [{"message": message, "line": None, "column": None}],
                 "status": status, "submodule": sub, "message": message} for path, status, sub, message in unread]

    def unset_variables(self, env_name: str) -> dict[str, str]:
        """Variables an environment's files use that nothing sets (no shell variable, no .env), each with what
        its model took instead: a documented example value, a placeholder, or a blank."""
        env = self.platform().environments.get(env_name)
        project = env.project if env is not None else None
        if project is None:
            return {}
        out = {name: where for name, (_, where) in (getattr(project, "assumed", None) or {}).items()}
        for warning in project.warnings:
            m = re.match(r'The "([^"]+)" variable is not set', warning)
            if m:
                out.setdefault(m.group(1), "blank")
        return dict(sorted(out.items()))

    @property
    def verdict(self) -> str:
        """NO-GO (a blocker), else CANNOT-TELL (a part could not run: a check, Compose, a tool, a required
        source not loaded), else GO."""
        from tools.findings import verdict_of

        if self._verdict is not None:
            return self._verdict
        from tools.findings import SEVERITIES

        cut = SEVERITIES.index(self.fail_on)
        counted = [f for f in self.findings if self.since.state(f) == "new"] \
            if self.fail_on_new and self.since is not None else self.findings
        blocked = any(SEVERITIES.index(f.severity) <= cut for f in counted)
        return verdict_of(blocked, bool(self.not_run) or any(s.blocking for s in self.sources))

    @property
    def exit_code(self) -> int:
        """0 GO, 1 NO-GO, 3 CANNOT-TELL (README's command table)."""
        from tools.findings import VERDICT_EXIT_CODES

        return VERDICT_EXIT_CODES[self.verdict]

    def next_steps(self) -> list:
        """The commands that fix or propose what the findings ask for, worst first (agent/next_steps.py)."""
        from agent.next_steps import next_steps

        return next_steps(self)

    def _finding_dict(self, finding: Finding) -> dict:
        data = finding.to_dict()
        if self.since is not None:
            data["baseline_state"] = self.since.state(finding)  # new | unchanged against `review --since`
        return data

    def source_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for src in self.sources:
            counts[src.status] = counts.get(src.status, 0) + 1
        return counts

    def brief(self) -> dict:
        """The stable JSON of `review`."""
        return {
            "role": self.charter.role,
            "project": self.charter.project,
            "verdict": self.verdict,
            "not_run": [gap.to_dict() for gap in self.not_run],
            "repo": str(self.root),
            "commit": self.git.commit,
            "charter": {"path": self.charter.path, "origin": self.charter_origin, "sha256": self.charter.sha256},
            "config": str(self.config_path) if self.config_path else None,
            "mission": [c.text for c in self.charter.clauses("mission")],
            "authority": [c.text for c in self.charter.clauses("authority")],
            "guardrails": [c.text for c in self.charter.clauses("guardrails")],
            "sources": [s.to_dict() for s in self.sources],
            "environments": self.discovery().to_list(),
            "source_counts": self.source_counts(),
            "release": self.release.to_dict() if self.release else None,
            "findings": [self._finding_dict(f) for f in self.findings],
            "findings_hidden": self.hidden,
            "suppressed": [{**s.finding.to_dict(), "suppression": s.to_dict()} for s in self.suppressed],
            "fail_on": self.fail_on,
            "since": self.since.to_dict(self.findings) if self.since is not None else None,
            "fail_on_new": self.fail_on_new,
            "notes": self.notes,
            "signatures": self.signatures.to_dict() if self.signatures is not None else None,
            "next_steps": [{"command": s.command, "what": s.what, "findings": sorted(set(s.findings)),
                            "severity": s.severity} for s in self.next_steps()],
        }


def _releases(sources: list[LoadedSource], tag: str | None = None
              ) -> tuple[list[notion_export.Release], notion_export.Release | None]:
    releases: list[notion_export.Release] = []
    intentions: list[notion_export.Intention] = []
    for src in sources:
        if src.kind == "notion" and src.ok and isinstance(src.data, dict):
            releases += src.data.get("releases", [])
            intentions += src.data.get("intentions", [])
    return releases, notion_export.link(releases, intentions, tag)


def _with_called_files(loader: SourceLoader, loaded: list[LoadedSource]) -> list[LoadedSource]:
    """The sources, plus the compose files the repo's own Compose calls name outside the usual places."""
    from tools.environments import discover

    spec = next((s for s in loader.charter.sources if s.kind == "compose"), None)
    if spec is None:
        return loaded
    have = {s.path for s in loaded if s.kind == "compose"}
    extra = []
    for rel, _ in discover(loaded, loader.config.environments).absent:
        if rel in have or rel.startswith("/") or rel.startswith(".."):
            continue
        have.add(rel)
        src = loader.read(spec, rel, parse="compose")
        if src.status == "ok":
            extra.append(src)
    return loaded + extra


def open_session(repo: str | Path | None = None, charter: str | Path | None = None,
                 config: str | Path | None = None, run_checks: bool = True, rev: str | None = None,
                 gitlinks: dict[str, str] | None = None, signatures: bool = True,
                 release: str | None = None, snapshot_dir: Path | None = None, verified=None) -> Session:
    """The session of the work tree, or with `rev` of a commit's blobs only (its config, charter,
    Notion export and submodules at their gitlinks, or at `gitlinks`), never of the work tree.
    `snapshot_dir`: a folder that holds that commit's tree already (agent/history.py keeps one up to date from
    state to state); `verified`: the gate's verify report of the branch at `rev`, when the caller has it."""
    with few_collections():
        return _open(repo, charter, config, run_checks, rev, gitlinks, signatures, release, snapshot_dir, verified)


def _open(repo, charter, config, run_checks, rev, gitlinks, signatures, release, snapshot_dir, verified) -> Session:
    root = resolve_repo(repo)
    repo_root = root
    snapshot = None
    if rev is not None:
        import tempfile

        from sources.git import resolve_commit, snapshot_state

        commit = resolve_commit(root, rev)
        if commit is None:
            raise UserError(f"{rev!r} is not a commit of {root}", "pass a branch, tag or sha that git knows")
        if snapshot_dir is not None:
            git = snapshot_state(root, commit, Path(snapshot_dir), gitlinks, write=False)
            root = Path(snapshot_dir)
        else:
            snapshot = tempfile.TemporaryDirectory(prefix="devops-agent-rev-")
            git = snapshot_state(root, commit, Path(snapshot.name), gitlinks)
            root = Path(snapshot.name)
    cfg, cfg_path = load_config(root, Path(config) if config else None)
    if release:  # --release TAG: that release rather than the one in progress
        from dataclasses import replace

        from agent.core.config import NotionConfig

        cfg.notion = replace(cfg.notion or NotionConfig(), release=release)
    parsed, origin = load_charter(root, charter, cfg)
    if snapshot is None:
        git = repo_state(root)
    from agent.core.config import STATE_DIR

    loader = SourceLoader(root, parsed, cfg, git, state_dir=repo_root / STATE_DIR)
    loaded = _with_called_files(loader, loaded=loader.load())
    readmes = [s for s in loaded if s.kind in ("readme", "folder_readme")]  # read by discovery, not sources shown
    loaded = [s for s in loaded if s.kind not in ("readme", "folder_readme")]
    releases, current = _releases(loaded, cfg.notion.release if cfg.notion else None)
    session = Session(root=root, charter=parsed, charter_origin=origin, config=cfg, config_path=cfg_path,
                      git=git, sources=loaded, releases=releases, release=current, readmes=readmes)
    session.snapshot = snapshot  # keeps the snapshot's folder alive as long as the session
    problem = gitmodules_problem(root)
    if problem:
        session.notes.append(problem)
    session.repo_root = repo_root
    if run_checks:
        session.start_platform()  # Compose runs while the checks are imported and the branch is verified
        from tools.checks import CheckContext, run_checks as run_all

        if verified is None and signatures and git.is_git:
            from agent.gate.verify import verify_branch

            # The gate's signature check of the branch (GATE00x): from git alone, at the reviewed commit.
            verified = verify_branch(repo_root, git.commit if rev is not None else None, cached=True)
        models = {"platform": session.platform()}
        if verified is not None:
            models["signatures"] = verified
        session.signatures = models.get("signatures")
        ctx = CheckContext(root=root, charter=parsed, sources=loaded, release=current, releases=releases,
                           models=models)
        models["environments"] = session.discovery()
        models["charter_origin"] = origin
        models["readmes"] = session.readmes
        models["submodules"] = list(git.submodules)
        models["suppressions"] = inputs = _suppression_inputs(session, root, loaded, cfg, cfg_path)
        findings, notes = run_all(ctx)
        session.notes += notes
        session.findings, session.suppressed, notes = _accepted(findings, inputs)
        session.notes += notes
        session.not_run = ctx.not_run
    return session


def _suppression_inputs(session: Session, root: Path, loaded: list[LoadedSource], cfg: ProjectConfig,
                        cfg_path: Path | None):
    from tools.suppressions import gather

    return gather(root, loaded, list(session.platform().dockerfiles), [s.path for s in session.git.submodules],
                  cfg.ignore, cfg_path)


def _accepted(findings: list[Finding], inputs) -> tuple[list[Finding], list, list[str]]:
    import datetime

    from tools.checks import CHECKS
    from tools.suppressions import accept

    return accept(findings, inputs, CHECKS, datetime.date.today())
