"""The charter's deliverables: release checklist and production notes, built from the real state
(compose, Dockerfiles, CI, deployment notes, the gate's applied proposals and the git history)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.core.errors import UserError
from tools.findings import Location

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class ServiceChecklist:
    service: str
    image: str | None
    tag_variable: str | None
    built_by: list[str]
    env_vars: list[str]
    env_files: list[str]
    volumes: list[str]
    healthcheck: str | None
    location: Location | None = None


@dataclass
class Checklist:
    release: str | None
    environment: str
    services: list[ServiceChecklist]
    migrations: list[str]
    deploy_steps: list[str]
    changes: list[dict]
    blocks: list[dict]
    verdict: str
    notes: list[str] = field(default_factory=list)


def _raw_service(session, env, name: str) -> dict:
    by_path = {s.path: s for s in session.sources if s.kind == "compose" and s.ok}
    raw: dict = {}
    for rel in env.files:
        svc = ((by_path.get(rel).data or {}).get("services") or {}).get(name) if by_path.get(rel) else None
        if isinstance(svc, dict):
            raw.update(svc)
    return raw


def _vars_in(value) -> list[str]:
    text = repr(value)
    return list(dict.fromkeys(m.group(1) or m.group(2) for m in _VAR.finditer(text)))


def deploy_steps(session) -> list[str]:
    """Manual steps from the deployment notes (shell lines in code blocks), else the compose defaults."""
    steps: list[str] = []
    for src in session.sources:
        if src.kind == "docs" and src.ok and src.text:
            in_code = False
            for line in src.text.splitlines():
                if line.strip().startswith("```"):
                    in_code = not in_code
                    continue
                if in_code and line.strip() and not line.strip().startswith("#"):
                    steps.append(line.strip())
    if steps:
        return steps
    prod = session.platform().prod_envs()
    files = " ".join(f"-f {f}" for f in (prod[0].files if prod else ["docker-compose.prod.yml"]))
    return [f"docker compose {files} pull", f"docker compose {files} up -d", f"docker compose {files} ps"]


def checklist(session, store, env_name: str | None = None, blocks: list[dict] | None = None) -> Checklist:
    platform = session.platform()
    prods = platform.prod_envs()
    env = platform.environments.get(env_name) if env_name else (prods[0] if prods else None)
    if env is None:
        raise UserError("no production compose environment", "name it `prod` under environments in .devops-agent.yaml")
    services = []
    for name, svc in (env.services or {}).items():
        raw = _raw_service(session, env, name)
        image = raw.get("image") or svc.get("image")
        tag_vars = _vars_in(image) if image else []
        built = [f"{b.name} ({', '.join(p.pattern for p in b.tag_patterns)}) by {b.location}"
                 for b in platform.images_for(svc.get("image"))]
        health = svc.get("healthcheck") or {}
        test = health.get("test")
        health_text = " ".join(map(str, test[1:])) if isinstance(test, list) and test else None
        if health_text is None:
            stage = platform.final_stage(env, name)
            if stage and stage.healthcheck and not stage.healthcheck.disabled:
                health_text = f"{stage.healthcheck.command_text()} (Dockerfile HEALTHCHECK)"
        volumes = []
        for vol in svc.get("volumes") or []:
            source = vol.get("source", "")
            shown = (platform.rel(source) or source) if vol.get("type") == "bind" else source
            volumes.append(f"{vol.get('type')} {shown} -> {vol.get('target')}{' (ro)' if vol.get('read_only') else ''}")
        listed = env.project.env_files.get(name, []) if env.project is not None else []
        env_files = [platform.rel(e.get("path", "")) or e.get("path", "") for e in listed if isinstance(e, dict)]
        services.append(ServiceChecklist(
            service=name, image=image, tag_variable=tag_vars[0] if tag_vars else None, built_by=built,
            env_vars=[v for v in _vars_in(raw) if v not in tag_vars], env_files=env_files, volumes=volumes,
            healthcheck=health_text, location=env.location(name)))
    migrations = sorted({v for s in services for v in s.volumes if "docker-entrypoint-initdb.d" in v})
    release = session.release
    applied = release_changes(session, store)
    blocks = store.open_blocks() if blocks is None else blocks
    verdict = release_verdict(session, blocks)
    notes = []
    if migrations:
        notes.append("MySQL init scripts only run on an empty data volume: take a mysqldump before any schema change.")
    return Checklist(release=f"{release.name} {release.version or ''}".strip() if release else None,
                     environment=env.name, services=services, migrations=migrations,
                     deploy_steps=deploy_steps(session), changes=applied, blocks=blocks, verdict=verdict, notes=notes)


def release_verdict(session, blocks: list[dict]) -> str:
    """The delivery gate: the review's verdict (GO, NO-GO or CANNOT-TELL), and NO-GO while Product keeps a
    block open; a release is never GO while a part of the review could not run."""
    from tools.findings import NO_GO

    return NO_GO if blocks else session.verdict


def last_release_tag(root, until: str = "HEAD") -> str | None:
    """The nearest tag `until` contains, its own tag left out (a tagged release is compared with the one before);
    None when there is none."""
    from sources.git import resolve_commit, run_git

    here = resolve_commit(root, until)
    for rev in (until, f"{until}^"):
        tag = run_git(["describe", "--tags", "--abbrev=0", "--end-of-options", rev], root, check=False).strip()
        if tag and resolve_commit(root, tag) != here:
            return tag
    return None


_KEYS = ("reason", "risk", "rollback", "approved-by", "proposal", "reverts", "intention")
_PROPOSAL_LINE = re.compile(r"^[ \t]*proposal\s*:", re.M | re.I)


def _gate_commits(repo, rev_range: list[str]) -> list[tuple[str, list[str], str, dict]]:
    """(sha, parents, subject, trailers) of each commit of `rev_range` in `repo` that names a proposal, oldest
    first. Read NUL-delimited (a commit message holds no NUL); trailers by the gate's one strict reader: a
    message it refuses is listed with the reason (`refused`), never read "first value wins"."""
    from agent.core.trailers import TrailerError, parse_trailers
    from sources.git import run_git_bytes

    out = run_git_bytes(["log", "-z", "--reverse", "--format=%H%n%P%n%B", *rev_range, "--"], repo,
                        check=False).decode("utf-8", "replace")
    found = []
    for record in out.split("\0"):
        sha, _, rest = record.lstrip("\n").partition("\n")
        parents, _, message = rest.partition("\n")
        if len(sha) != 40:
            continue
        subject = message.partition("\n")[0]
        try:
            parsed = parse_trailers(message)
        except TrailerError as exc:
            if _PROPOSAL_LINE.search(message):
                found.append((sha, parents.split(), subject, {"proposal": f"unreadable ({exc})", "refused": str(exc)}))
            continue
        trailers = {key.lower(): values[0] for key, values in parsed.items() if key.lower() in _KEYS and values}
        if trailers.get("proposal"):
            found.append((sha, parents.split(), subject, trailers))
    return found


def _signature(verdicts: dict | None, repo: str, sha: str) -> tuple[bool | None, str]:
    """Whether the branch's verification found `sha` signed by a Product signer (None: not verified)."""
    if verdicts is None:
        return None, "not verified"
    verdict = verdicts.get((repo, sha))
    if verdict is None:
        return None, "no infra path of its own (verify judges the commits it carries)"
    if verdict.ok:
        return True, f"{verdict.status} by {verdict.signer}" if verdict.signer else verdict.status
    return False, f"NOT signed by Product ({verdict.status})"


def release_changes(session, store, signatures=None) -> list[dict]:
    """Each gate change (a proposal's forward or revert commits) since the last release tag, read from the
    repository's own git, on the platform and in each submodule (the commits between the gitlinks the tag
    and HEAD record): reason, risk, rollback, intention, approver, what it reverts, and whether the branch's
    verification (`signatures`, else the session's) found each commit signed by Product (`signed`: False when
    one of its infra commits is not, True when they all are, None when none was verified)."""
    from sources.git import gitlinks_of, resolve_commit

    root = session.repo_root or session.root
    head = resolve_commit(root, "HEAD")
    if head is None:
        return []
    tag = last_release_tag(root)
    report = signatures if signatures is not None else session.signatures
    verdicts = {(c.repo, c.sha): c for c in report.infra} if report is not None else None
    repos: list[tuple[str, object, list[str]]] = [("", root, [f"{tag}..{head}" if tag else head])]
    before = gitlinks_of(root, tag) if tag else {}
    for path, new in sorted(gitlinks_of(root, head).items()):
        old = before.get(path)
        sub = root / path
        if new != old and (sub / ".git").exists() and resolve_commit(sub, new) == new:
            repos.append((path, sub, [new, f"^{old}"] if old and resolve_commit(sub, old) == old else [new]))
    changes: dict[tuple[str, bool], dict] = {}
    for repo, where, rev_range in repos:
        for sha, parents, subject, trailers in _gate_commits(where, rev_range):
            pid, reverts = trailers["proposal"], trailers.get("reverts")
            signed, signature = _signature(verdicts, repo, sha)
            if trailers.get("refused"):
                signed, signature = False, f"its gate trailers are refused: {trailers['refused']}"
            entry = changes.get((pid, bool(reverts)))
            if entry is None:
                entry = changes[(pid, bool(reverts))] = {
                    "proposal": pid, "kind": "revert" if reverts else "change", "subject": subject,
                    "commit": sha, "commits": {}, "reason": trailers.get("reason"), "risk": trailers.get("risk"),
                    "rollback": trailers.get("rollback"), "intention": trailers.get("intention"),
                    "approved_by": trailers.get("approved-by"), "revert": bool(reverts), "reverts": reverts,
                    "reverts_commits": {}, "signed": None, "signatures": {}, "status": None, "services": []}
            label = repo or "platform"
            entry["commits"][label] = sha
            entry["signatures"][label] = signature
            if entry["signed"] is not False and signed is not None:  # one unsigned commit: not signed
                entry["signed"] = signed
            if reverts and parents:
                entry["reverts_commits"][label] = parents[0]
            if not repo:
                entry["commit"], entry["subject"] = sha, subject
    for entry in changes.values():
        try:
            rec = store.get_proposal(entry["proposal"])
            entry["status"], entry["services"] = rec.status, rec.services
        except UserError:  # a commit whose proposal is not in this machine's state: still listed
            entry["status"] = "unknown here"
    return list(changes.values())


def notes(session, store, signatures=None) -> dict:
    tag = last_release_tag(session.repo_root or session.root)
    release = session.release
    return {"release": release.to_dict() if release else None, "since": tag,
            "changes": release_changes(session, store, signatures)}
