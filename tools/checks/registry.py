"""Registry and runner of checks (a small registry instead of an if-chain)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from agent.core.charter import Charter
from tools.findings import CATEGORIES, SEVERITIES, Finding, Location


@dataclass
class CheckContext:
    """Everything a check may read: the session's loaded sources and the parsed models."""

    root: Path
    charter: Charter
    sources: list  # list[LoadedSource]
    release: Any = None  # sources.notion_export.Release | None
    releases: list = field(default_factory=list)
    models: dict[str, Any] = field(default_factory=dict)  # filled by tools (compose, dockerfiles, ...)
    not_run: list["NotRun"] = field(default_factory=list)  # what could not be checked: no GO while one stands
    _said: set["NotRun"] = field(default_factory=set, repr=False)  # could_not_run's entries, to skip repeats

    def could_not_run(self, spec: "CheckSpec", what: str, reason: str) -> None:
        """Say that a part of `spec`'s check did not run (a model not computed, a tool missing or timed out,
        a parser that gave up): the verdict becomes CANNOT-TELL unless a blocker makes it NO-GO."""
        gap = NotRun(spec.id, what, reason)
        if gap not in self._said:  # a set beside the list: 2,000 missing sources were 2,000 list scans each
            self._said.add(gap)
            self.not_run.append(gap)


@dataclass(frozen=True)
class NotRun:
    """A part of the review that could not run, and why."""

    check: str  # the id of the check whose findings may be missing
    what: str  # what did not run: the check itself, `compose prod`, `hadolint`, a file
    reason: str

    def __str__(self) -> str:
        return f"{self.check}: {self.what}: {self.reason}"

    def to_dict(self) -> dict:
        return {"check": self.check, "what": self.what, "reason": self.reason}


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    severity: str
    category: str
    clause: tuple[str, str]  # (charter section key, words of the clause) — resolved against the charter
    remediation: str
    func: Callable[["CheckContext", "CheckSpec"], Iterable[Finding]]
    command: str = ""  # the shell line that fixes every finding of the check (agent/core/hints.py), if one does

    def finding(self, ctx: CheckContext, title: str | None = None, locations: list[Location] | None = None,
                detail: str = "", severity: str | None = None, remediation: str | None = None,
                command: str = "", subject: str = "") -> Finding:
        """`subject`: what the finding is about when its title holds more (counts, a tool's message with a
        line): what its fingerprint rests on (tools/findings.py)."""
        return Finding(
            id=self.id, severity=severity or self.severity, category=self.category,
            title=title or self.title, locations=locations or [], clause=self.clause_text(ctx.charter),
            remediation=remediation or self.remediation, detail=detail, command=command or self.command,
            subject=subject,
        )

    def stated_by(self, charter: Charter | None) -> bool:
        """Whether the charter states the rule this check enforces: a check resting on one of a platform's
        own decisions (DECISION_CLAUSES) runs only when the charter says so; general practice always runs."""
        if charter is None or self.clause not in DECISION_CLAUSES:
            return True
        return charter.find_clause(*self.clause) is not None

    def clause_text(self, charter: Charter | None) -> str:
        key, needle = self.clause
        found = charter.find_clause(key, needle) if charter else None
        return found.ref() if found else needle


CHECKS: dict[str, CheckSpec] = {}

# What a blocker is (docs/checks.md prints it): every other finding is at most high, whatever rule it breaks.
BLOCKER_RULE = ("A blocker is what breaks a deploy, loses data or opens production. Everything else, a "
                "charter rule broken or a practice missed included, is at most high: it never makes the verdict "
                "NO-GO on its own.")
# Each check whose default severity is blocker, and how it meets the rule (a test holds the two lists equal).
BLOCKER_REASONS = {
    "CMP001": "breaks a deploy: Compose refuses to load the environment",
    "CMP002": "breaks a deploy: Compose refuses a file that violates its schema",
    "CMP004": "breaks a deploy: an invalid image reference cannot be pulled",
    "CMP005": "breaks a deploy: Compose refuses a dependency on a service that does not exist",
    "XF001": "breaks a deploy: production pulls an image that no workflow pushes",
    "XF003": "breaks a deploy: the build context or Dockerfile a build names does not exist",
    "XF006": "breaks a deploy: nginx sends the traffic to a service or port where nothing listens",
    "XF009": "breaks a deploy: nginx does not start without the certificate its config names",
    "PRD003": "opens production: a database admin UI published on the server's ports",
    "PRD005": "breaks a deploy: host.docker.internal does not resolve on a Linux server without host-gateway",
    "GATE001": "opens production: an infrastructure change landed that Product never approved",
}
# Clauses that are a platform's own decisions, not general practice: a check enforcing one runs only when
# the charter states it (see CheckSpec.stated_by); the generic charter states none of them.
DECISION_CLAUSES = frozenset({
    ("guardrails", "Pas d’ajout de nouveaux outils"),  # no Kubernetes, Terraform... without an intention
    ("guardrails", "Pas de staging"),
    ("work_rules", "tout est sur `main`"),
    ("responsibilities", "deploiement manuel sur serveur"),
})


def check(id: str, title: str, severity: str, category: str, clause: tuple[str, str], remediation: str,
          command: str = ""):
    if severity not in SEVERITIES or category not in CATEGORIES:
        raise ValueError(f"check {id}: bad severity or category")

    def register(func):
        if id in CHECKS:
            raise ValueError(f"check id {id} registered twice")
        CHECKS[id] = CheckSpec(id, title, severity, category, clause, remediation, func, command)
        return func

    return register


def services_text(names: list[str], limit: int = 3) -> str:
    """`web, worker and api` or `web, worker, api and 25 more`: the services one finding is about."""
    if len(names) <= limit:
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"{', '.join(names[:limit])} and {len(names) - limit} more"


def run_checks(ctx: CheckContext) -> tuple[list[Finding], list[str]]:
    """All findings, sorted, and notes on checks that could not run (each also in `ctx.not_run`)."""
    findings: list[Finding] = []
    notes: list[str] = []
    for spec in CHECKS.values():
        if not spec.stated_by(ctx.charter):
            ctx.models.setdefault("not_stated", []).append(spec.id)
            continue
        try:
            findings.extend(spec.func(ctx, spec))
        except Exception as exc:  # a broken check must say so, not take the review down, and never give GO
            notes.append(f"check {spec.id} could not run: {type(exc).__name__}: {exc}")
            ctx.not_run.append(NotRun(spec.id, f"check {spec.id}", f"it raised {type(exc).__name__}: {exc}"))
    findings = one_per_place(cap_by_role(ctx, findings))
    findings.sort(key=Finding.sort_key)
    return findings, notes


def one_per_place(findings: list[Finding]) -> list[Finding]:
    """One cause, one finding: findings of a check at the very same places whose titles differ only by what
    they name first (`web: X is a literal in F`, `db: X is a literal in F`: a YAML anchor merged into both
    services) become one, naming them all (`web, db: X is a literal in F`)."""
    out: list[Finding] = []
    seen: dict[tuple, Finding] = {}
    for f in findings:
        who, sep, rest = f.title.partition(": ")
        key = (f.id, f.severity, tuple(f.locations), rest) if sep and f.locations else None
        first = seen.get(key) if key else None
        if first is None:
            if key:
                seen[key] = f
            out.append(f)
            continue
        named, _, _ = first.title.partition(": ")
        if who not in named.split(", "):
            first.title = f"{named}, {who}: {rest}"
    return out


# What a finding in a file that never ships can weigh at most: a dev file breaks no deploy and opens no
# production (the blocker rule); a test file less still. The finding stays, its severity says where it is.
ROLE_CAPS = {"dev": "medium", "test": "low"}
_ROLE_ORDER = ("prod", "staging", "dev", "test")


def role_cap(roles) -> str | None:
    """The most a finding weighs when these are the roles of what it is about: the cap (ROLE_CAPS) of the most
    exposed of them; None for production, staging or no role known."""
    roles = [r for r in roles if r in _ROLE_ORDER]
    return ROLE_CAPS.get(min(roles, key=_ROLE_ORDER.index)) if roles else None


def cap_by_role(ctx: CheckContext, findings: list[Finding]) -> list[Finding]:
    """Each finding whose every location is a file used only by dev or test environments is capped (ROLE_CAPS), the
    default severity kept in its detail; nothing is raised. A compose file has the role of the environments that
    load it, a Dockerfile that of the environments that build it (prod when a workflow pushes its image), and a
    Dockerfile nothing builds the role its own folders and name say (`tools/dev/dev.dockerfile`)."""
    from tools.environments import path_role

    platform = ctx.models.get("platform")
    envs = getattr(platform, "environments", None)
    if not envs:
        return findings
    roles: dict[str, str] = {}

    def keep(path: str | None, role: str) -> None:
        if path and (path not in roles or _ROLE_ORDER.index(role) < _ROLE_ORDER.index(roles[path])):
            roles[path] = role

    for env in envs.values():
        role = platform.role(env)
        for f in env.files:
            keep(f, role)
        for svc in env.services.values():  # the Dockerfiles an environment builds take its role
            build = svc.get("build") if isinstance(svc, dict) else None
            if isinstance(build, dict) and build.get("context"):
                keep(platform.dockerfile_of_build(build), role)
    for built in getattr(platform, "built_images", []):  # an image CI pushes is what users pull
        if built.pushed:
            keep(platform.dockerfile_of_ci_image(built), "prod")
    for finding in findings:
        for loc in finding.locations:  # a Dockerfile no environment builds and CI never pushes: its folders say
            if loc.path and loc.path not in roles and loc.path in getattr(platform, "dockerfiles", {}):
                said = path_role(loc.path)
                if said in ("dev", "test"):
                    roles[loc.path] = said
        where = {roles.get(loc.path) for loc in finding.locations}
        if not finding.locations or None in where:
            continue
        role = min(where, key=_ROLE_ORDER.index)
        cap = role_cap(where)
        if cap and SEVERITIES.index(finding.severity) < SEVERITIES.index(cap):
            note = f"{finding.severity} in production; {cap} in a {role} file"
            finding.detail = f"{finding.detail}; {note}" if finding.detail else note
            finding.severity = cap
    return findings
