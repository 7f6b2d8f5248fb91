"""Conflicts between sources on the same fact, settled by the charter's priority list.

Product's validated intentions (Notion) and the rules file state facts about the platform
("healthcheck on every prod service", "never latest in production"); the repo files state
what is actually there. When they disagree, the finding names both sides and the winner.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator

from agent.core.charter import fold
from tools import dockerfile as df_tool
from tools import facts
from tools.checks.compose_checks import (INTERNAL_PORTS, _has_healthcheck, _loaded_envs, _prod_services,
                                         _raw_image_tag)
from tools.checks.registry import check
from tools.findings import Location

Violation = tuple[str, Location]


@dataclass(frozen=True)
class Claim:
    key: str
    pattern: re.Pattern
    violations: Callable[[object], list[Violation]]
    checked_by: str | None = None  # the check that reports the same fact: the review itself sides with the statement


def _latest_in_prod(ctx) -> list[Violation]:
    return [(f"{name} runs {svc['image']}", env.location(name, "image"))
            for env, name, svc in _prod_services(ctx)
            if svc.get("image") and not svc.get("build") and df_tool.image_pin(svc["image"]) in ("latest", "untagged")]


def _no_healthcheck_in_prod(ctx) -> list[Violation]:
    platform = ctx.models["platform"]
    return [(f"{name} has no healthcheck", env.location(name))
            for env, name, _ in _prod_services(ctx) if not _has_healthcheck(platform, env, name)]


def _tag_not_main_sha(ctx) -> list[Violation]:
    out = []
    for env, name, svc in _prod_services(ctx):
        tag = _raw_image_tag(ctx, env, name)
        own = svc.get("image") and "/" in str(svc["image"]) and "." in str(svc["image"]).split("/")[0]
        if own and tag is not None and not tag.startswith("main-"):
            out.append((f"{name} is tagged {tag!r}", env.location(name, "image")))
    return out


def _new_environment(ctx) -> list[Violation]:
    out = []
    from tools import ci as ci_tool

    for wf in ctx.models["platform"].workflows.values():
        for target in ci_tool.deploy_targets(wf) if wf.ok else []:
            if target.environment and target.environment.lower() not in ("prod", "production", "main"):
                out.append((f"CI job {target.job} deploys to {target.environment}", target.location))
    for name, env in ctx.models["platform"].environments.items():
        if facts.is_staging_name(name):
            out.append((f"compose environment {name}", Location(env.files[0])))
    return out


def _db_port_published(ctx) -> list[Violation]:
    return [(f"{name} publishes {port.get('published')}:{port.get('target')}", env.location(name, "ports"))
            for _, env, _ in _loaded_envs(ctx) for name, svc in env.services.items()
            for port in svc.get("ports") or [] if int(port.get("target") or 0) in INTERNAL_PORTS]


def _no_restart_in_prod(ctx) -> list[Violation]:
    return [(f"{name} has no restart policy", env.location(name))
            for env, name, svc in _prod_services(ctx) if not svc.get("restart")]


def _other_branches(ctx) -> list[Violation]:
    from tools import ci as ci_tool

    out = []
    for wf in ctx.models["platform"].workflows.values():
        for fact in ci_tool.branch_facts(wf) if wf.ok else []:
            if not fact.negated and fact.branch not in ("main", "*", "**"):
                out.append((f"{wf.rel_path} {fact.detail} names branch {fact.branch}", fact.location))
    return out


# Possessive blanks: the two optional `\s*` around the separator split each blank run every way (2.7 s for 300 tabs).
_PORT_STATEMENT = re.compile(r"\b([a-z][a-z0-9_-]{1,40})\s*+(?:[:=]|sur|on|port|ecoute sur|listens on)?\s*+(?:le )?(?:port )?(\d{2,5})\b")


def _service_matcher(ctx):
    from sources.loader import ServiceMatcher

    names = {n for _, env, _ in _loaded_envs(ctx) for n in env.services}
    return names, ServiceMatcher(names)


def _port_claims(sentence: str, ctx, matcher=None) -> list[tuple[str, int]]:
    """(service, port) pairs a sentence states, e.g. 'front 3000, api 8080, mlservice 5000'. `matcher`:
    the services' names and their index (`_service_matcher`), built once for many sentences."""
    if not re.search(r"\bports?\b|ecoute|listen", sentence):
        return []
    names, index = matcher or _service_matcher(ctx)
    out = []
    for word, port in _PORT_STATEMENT.findall(sentence):
        hits = sorted(index.matching(word) | ({word} & names))
        if len(hits) >= 1 and word not in ("port", "ports", "le", "sur"):
            out += [(n, int(port)) for n in hits]
    return out


def _port_violations(ctx, claims: list[tuple[str, int]]) -> list[Violation]:
    """Where the repo says another port than the statement: the command, the Dockerfile EXPOSE, compose expose."""
    from tools.checks.compose_checks import exposed_ports, listen_port

    platform = ctx.models["platform"]
    out: list[Violation] = []
    for _, env, _ in _loaded_envs(ctx):
        for name, port in claims:
            if name not in env.services:
                continue
            listen = listen_port(platform, env, name)
            if listen and listen[0] != port:
                out.append((f"{env.name}: {name} listens on {listen[0]} ({listen[1]}), not {port}",
                            env.location(name, "command")))
            stage = platform.final_stage(env, name)
            exposes = {p for p, _ in stage.exposes if p} if stage else set()
            if exposes and port not in exposes:
                line = min(stage.expose_lines.values()) if stage.expose_lines else stage.line
                out.append((f"{name}: EXPOSE {sorted(exposes)}, not {port}",
                            Location(platform.service_image(env, name).dockerfile or env.files[0], line)))
            compose_ports = exposed_ports(env.services[name])
            if compose_ports and port not in compose_ports:
                out.append((f"{env.name}: {name} exposes {sorted(compose_ports)}, not {port}",
                            env.location(name, "expose")))
    return list(dict.fromkeys(out))


CLAIMS = [
    Claim("no-latest-in-prod", re.compile(r"pas de latest|jamais .?latest|no .?latest|never .?latest"), _latest_in_prod,
          "CMP003"),
    Claim("healthcheck-every-prod-service",
          re.compile(r"healthcheck.{0,40}(chaque|tous les|every|each) service|(chaque|every|each) service.{0,60}healthcheck"),
          _no_healthcheck_in_prod, "CMP012"),
    Claim("prod-tag-main-sha", re.compile(r"tagu\w* .?main-<sha>|tagged .?main-<sha>"), _tag_not_main_sha),
    Claim("no-new-environment", re.compile(r"pas de (nouvel )?environnement|pas de staging|no staging|no new environment"),
          _new_environment),
    Claim("db-ports-private", re.compile(r"ports? de base de donnees.{0,40}jamais publi|database ports?.{0,40}never"),
          _db_port_published, "CMP007"),
    Claim("restart-policy", re.compile(r"politique .?restart|restart policy"), _no_restart_in_prod, "CMP011"),
    Claim("branch-main", re.compile(r"tout est sur .?main|everything (is )?on .?main|uniquement sur .?main|only on .?main"),
          _other_branches),
]


def _statements(ctx) -> Iterator[tuple[str, int, str, Location]]:
    """(who, priority, sentence, location) from the sources that state facts: intentions, rules."""
    notion = next((s for s in ctx.sources if s.kind == "notion" and s.ok and "intention" in fold(s.path)), None)
    if ctx.release is not None:
        for intention in ctx.release.intentions:
            if intention.validated:
                for value in intention.fields.values():
                    for sentence in re.split(r"\s*[;\n]\s*", value):
                        yield (f"Notion {intention.id}", _rank(notion), sentence,
                               Location(notion.path) if notion else Location("notion"))
    for src in ctx.sources:
        if src.kind == "rules" and src.ok and src.text:
            for lineno, line in enumerate(src.text.splitlines(), 1):
                if line.strip():
                    yield ("rules file", _rank(src), line.strip(" -*"), Location(src.path))


def _checked(ctx, claim: Claim) -> bool:
    """The claim's fact is reported by a check that runs under this charter."""
    from tools.checks.registry import CHECKS

    spec = CHECKS.get(claim.checked_by or "")
    return spec is not None and spec.stated_by(ctx.charter)


def _rank(src) -> int:
    return src.priority if src is not None and src.priority else 99


@check("XF011", "Sources disagree on a fact", "high", "charter", ("priority", "priorite est la suivante"),
       "Change the losing side to match the winner, or ask Product to change the winning source.")
def source_conflicts(ctx, spec):
    repo_rank = min((s.priority for s in ctx.sources if s.kind in ("compose", "dockerfile", "ci_workflow") and s.priority),
                    default=99)
    reported = set()
    violations: dict[str, list[Violation]] = {}  # each claim's, computed once: every statement reads the same repo
    matcher = None
    for who, rank, sentence, where in _statements(ctx):
        folded = fold(sentence)
        claims = [c for c in CLAIMS if (who, c.key) not in reported and c.pattern.search(folded)]
        for c in claims:
            if c.key not in violations:
                violations[c.key] = list(c.violations(ctx))
        source_wins = rank < repo_rank
        # The repo "wins" nothing on a fact one of the review's own checks reports (CMP003 on a `:latest`):
        # that check says it, at its severity; the same place seen through another claim is left to it too.
        found = [(c.key, v) for c in claims for v in violations[c.key]]
        if not source_wins:
            checked = {(v[1].path, v[1].line) for c in claims if _checked(ctx, c) for v in violations[c.key]}
            found = [(k, v) for k, v in found if (v[1].path, v[1].line) not in checked]
        if matcher is None and re.search(r"\bports?\b|ecoute|listen", folded):
            matcher = _service_matcher(ctx)
        ports = _port_claims(folded, ctx, matcher)
        if ports and (who, "port", tuple(ports)) not in reported:
            reported.add((who, "port", tuple(ports)))
            found += [("port", v) for v in _port_violations(ctx, ports)]
        if not found:
            continue
        reported.update((who, c.key) for c in claims)
        winner = f"{who} wins" if source_wins else "the repo files win"
        keys = sorted({k for k, _ in found})
        unique: dict[tuple, str] = {}
        for _, (text, loc) in found:
            unique.setdefault((loc.path, loc.line), text)
        yield spec.finding(
            ctx,
            f"{who} (priority {rank if rank < 99 else '-'}) says '{sentence[:120]}' but the repo files "
            f"(priority {repo_rank if repo_rank < 99 else '-'}) disagree: {winner}",
            [*(Location(p, l) for p, l in list(unique)[:6]), where],
            detail=f"{', '.join(keys)}: " + "; ".join(list(unique.values())[:6]),
            severity=None if source_wins else "info", subject=f"{who} says '{sentence[:120]}'",
            remediation=None if source_wins else
            "The repo wins by the charter's priority; align the lower-priority source or confirm with Product.",
        )
