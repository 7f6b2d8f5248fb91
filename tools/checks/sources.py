"""Checks on the session's sources themselves: the charter says every listed source loads each session."""
from __future__ import annotations

from agent.core import hints
from tools.checks.registry import check
from tools.findings import Location

_ALL_SOURCES = ("sources", "Toutes les sources")


@check("SRC001", "Required source not loaded", "high", "charter", _ALL_SOURCES,
       "Make the source available (the message says how), then run the review again.")
def required_source_not_loaded(ctx, spec):
    """One finding per source not loaded; the sources of one uninitialised submodule are one cause, one fix:
    one finding for the submodule, its files as the locations, at medium: the checkout lacks them, the repository
    is not known to be wrong (the verdict is CANNOT-TELL all the same, as for every source not read)."""
    in_submodule: dict[str, list] = {}
    for src in ctx.sources:
        if src.blocking:  # the checks over it could not run: no GO (CANNOT-TELL), yet nothing found broken
            ctx.could_not_run(spec, f"{src.kind} source {src.path}", f"{src.status}: {src.message}".rstrip(": "))
            if getattr(src, "submodule", None) and src.status == "missing" and "not initialised" in src.message:
                in_submodule.setdefault(src.submodule, []).append(src)
                continue
            loc = [Location(src.path, src.line)] if not src.path.startswith(("<", "notion:")) else []
            yield spec.finding(ctx, f"{src.kind} source {src.path} is {src.status}", loc, detail=src.message)
    for submodule, srcs in in_submodule.items():
        names = ", ".join(src.path.removeprefix(submodule.rstrip("/") + "/") for src in srcs)
        yield spec.finding(ctx, f"submodule {submodule} is not initialised: {len(srcs)} required source(s) in it "
                                f"not read ({names})", [Location(src.path, src.line) for src in srcs],
                           detail=srcs[0].message, command=hints.submodule_init(submodule),
                           subject=f"submodule {submodule}", severity="medium")


@check("SRC002", "Optional source absent", "info", "charter", _ALL_SOURCES,
       "Add the deployment notes (or bind them in .devops-agent.yaml) so the session can read them.")
def optional_source_absent(ctx, spec):
    for src in ctx.sources:
        if src.optional and src.status == "optional-absent":
            yield spec.finding(ctx, f"optional {src.kind} source {src.path} is absent", [], detail=src.message)


@check("SRC003", "No current release in Notion", "high", "charter", ("authority", "Release/Intention"),
       "Mark the release in progress as 'En cours' in the Notion Release database and re-export it.")
def no_current_release(ctx, spec):
    notion_ok = [s for s in ctx.sources if s.kind == "notion" and s.ok]
    if notion_ok and ctx.release is None:
        names = ", ".join(f"{r.name} ({r.status})" for r in ctx.releases) or "none"
        yield spec.finding(ctx, "no release is 'En cours' (or has the --release tag) in Notion",
                           [Location(s.path) for s in notion_ok if not s.path.startswith("notion:")],
                           detail=f"releases: {names}")


@check("SRC004", "Source file changed since its commit", "low", "reproducibility", ("work_rules", "reproductibilit"),
       "Commit or discard the local change so the review reads what is deployed.")
def dirty_sources(ctx, spec):
    for src in ctx.sources:
        if src.ok and src.dirty:
            where = f"submodule {src.submodule}" if src.submodule else "the platform repo"
            yield spec.finding(ctx, f"{src.path} has uncommitted changes in {where}", [Location(src.path)])


@check("SRC008", "Source read from a stale cache", "medium", "charter", _ALL_SOURCES,
       "Let the session reach Notion (network, token) and run it again: the cache is the last read, not now.")
def stale_sources(ctx, spec):
    for src in ctx.sources:
        if src.status == "stale":
            yield spec.finding(ctx, f"{src.kind} source {src.path} is the cache of a read at {src.fetched_at}", [],
                               detail=src.message)
