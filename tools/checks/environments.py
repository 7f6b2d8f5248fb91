"""Checks on the compose environments themselves: every compose file is checked in an environment,
a Compose call the tool cannot read is said, and the bundled charter is never used in silence."""
from __future__ import annotations

import posixpath

from agent.core import hints
from tools.checks.registry import check
from tools.checks.sources import _ALL_SOURCES
from tools.findings import Location


@check("SRC005", "Compose file in no checked environment", "high", "charter", _ALL_SOURCES,
       "Name the environment that uses it under `environments:` in .devops-agent.yaml "
       "(or call it with `docker compose -f` in the Makefile or a script), or remove the file.")
def compose_file_unchecked(ctx, spec):
    from tools.environments import environment_role

    discovery = ctx.models.get("environments")
    for path in getattr(discovery, "orphans", []):
        # a production file left unchecked may hide anything; a development or test one, little that ships
        role = environment_role(path, [path])
        yield spec.finding(ctx, f"{path} belongs to no checked environment: no compose check ran on it",
                           [Location(path)], severity=None if role in ("prod", "staging") else "low",
                           detail=f"environments: {', '.join(discovery.environments) or 'none'}")


@check("SRC006", "Cannot tell which compose file a call names", "info", "charter", _ALL_SOURCES,
       "Define the variable in the same file (`COMPOSE_FILE=docker-compose.prod.yml`), or name the "
       "environment's files under `environments:` in .devops-agent.yaml.")
def compose_call_unresolved(ctx, spec):
    discovery = ctx.models.get("environments")
    for u in getattr(discovery, "unresolved", []):
        yield spec.finding(ctx, f"cannot tell which compose file `-f {u.argument}` names: the variable is not "
                           f"defined in {u.path}", [Location(u.path, u.line)], detail=u.call)
    for path, origin in getattr(discovery, "absent", []):
        yield spec.finding(ctx, f"cannot tell which environment {origin} means: `-f {path}` names a file that is "
                           f"not in the repo", [Location(origin.path or "", origin.line)])


@check("SRC009", "Override file whose base cannot be told", "info", "charter", _ALL_SOURCES,
       "Name the environment under `environments:` in .devops-agent.yaml with its base first "
       "(`[docker-compose.yml, docker-compose.extra.yml]`), or call it that way in the Makefile or a script.")
def overlay_without_base(ctx, spec):
    discovery = ctx.models.get("environments")
    for path in getattr(discovery, "overlays", []):
        yield spec.finding(ctx, f"{path} patches services it does not define and no base file in its folder or "
                           f"above defines them: cannot tell which files it is used with, so it was not checked "
                           f"(alone, Compose refuses it)", [Location(path, 1)])


@check("SRC010", "Compose environment with no service", "medium", "availability", _ALL_SOURCES,
       "Give its services an image or a build (or enable the profile meant to run), or remove the environment.")
def environment_without_service(ctx, spec):
    platform = ctx.models.get("platform")
    for env in getattr(platform, "environments", {}).values():
        if env.project is not None and not env.services:
            yield spec.finding(ctx, f"environment {env.name} ({' + '.join(env.files)}) has no service, even with "
                               f"every profile enabled: nothing of it would run", [Location(env.files[0], 1)])


@check("SRC011", "Submodule not checked out: its files were not reviewed", "medium", "availability", _ALL_SOURCES,
       "Check the submodules out (`git submodule update --init --recursive`), then review again.",
       command=hints.submodule_init())
def submodule_not_checked_out(ctx, spec):
    subs = [s for s in ctx.models.get("submodules", []) if not s.initialized]
    if subs:
        yield spec.finding(ctx, f"{len(subs)} submodule(s) not checked out: their compose files, Dockerfiles and "
                           f"workflows were not reviewed ({', '.join(s.path for s in subs)})",
                           [Location(".gitmodules", 1)],
                           remediation=f"Run `{hints.submodule_init()}` (or `{hints.submodule_init(subs[0].path)}` "
                                       f"for one), then review again.")


@check("SRC012", "Template of a Dockerfile or compose file: the files rendered from it are what is checked", "info",
       "charter", _ALL_SOURCES, "Nothing to do when the rendered files are in the repository; otherwise render them "
       "(the repository's own make or script target, the generator with its default answers) and review again.")
def templates(ctx, spec):
    """A Dockerfile template (`Dockerfile.j2`, a Jinja `{% if %}` in it, a file of a generator's
    `{{cookiecutter.project_slug}}/` folder) is not a Dockerfile: its template syntax is no instruction and its
    `{{ image }}` no base image. A compose template (the same, or a catalogue under `templates/`) is no Compose
    project. Each is named, never checked as one, never silent; a folder of compose templates is one finding."""
    from tools.facts.paths import is_template

    folders: dict[str, list[str]] = {}
    for src in ctx.sources:
        if src.kind == "dockerfile" and src.ok and is_template(src.path, src.text):
            yield spec.finding(ctx, f"{src.path} is a template: the Dockerfiles rendered from it are checked, "
                                    "not the template", [Location(src.path, 1)], subject=src.path)
        elif src.kind == "compose" and src.status == "template":
            folders.setdefault(posixpath.dirname(src.path), []).append(src.path)
    for folder, paths in folders.items():
        one = len(paths) == 1
        what = paths[0] if one else f"{len(paths)} compose files in {folder or 'the root'}/"
        yield spec.finding(ctx, f"{what} {'is a template' if one else 'are templates'}: read by another tool, not run "
                                f"by Compose as {'it is' if one else 'they are'}; not checked as "
                                f"{'a Compose project' if one else 'Compose projects'}",
                           [Location(p, 1) for p in paths], subject=f"compose templates {folder}")


@check("SRC007", "No charter of its own: the generic DevOps charter is in use", "info", "charter", ("mission", "fiabilite"),
       "Run `devops-agent init` to write a charter (.codex/agents/devops-engineer.md) and .devops-agent.yaml "
       "from what this repo holds, then state the platform's own decisions (staging, new tools, deploys) in it.",
       command=hints.init())
def generic_charter_in_use(ctx, spec):
    if ctx.models.get("charter_origin") == "generic":
        skipped = ", ".join(ctx.models.get("not_stated", []))
        yield spec.finding(ctx, "this repository has no charter (.codex/agents/devops-engineer.md): reviewed "
                           "against the generic DevOps charter" + (f"; the checks of a platform's own decisions "
                                                                  f"did not run ({skipped})" if skipped else ""), [])
