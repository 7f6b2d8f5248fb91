"""Checks for what reading real multi-service repositories found and the other checks missed: production building
its images on the server, floating tags, database admin UIs published, end-of-life bases, the host gateway name
without its mapping, and GitHub workflow security as zizmor audits it."""
from __future__ import annotations

import posixpath
import re
from typing import Iterator

from tools import compose as compose_tool
from tools.checks.dockerfile_checks import DockerfileUse, dockerfile_uses, is_test_image
from tools.checks.registry import check, services_text
from tools.facts.exposure import (admin_ui_of, docker_socket_mount, is_docker_tool, database_studio_of, default_login_ui_of, is_loopback, management_api_of, maps_host_gateway, names_host_gateway,
                                  branch_fixed_by_trigger, expands_only_known_text, expands_outsider_text,
                                  names_pull_request_head,
                                  outsider_triggers, unauthenticated_ui_of, insecure_dashboard_of,
                                  TRAEFIK_API_PORT, host_privileges)
from tools.facts.secrets import is_placeholder
from tools.facts.lifecycle import DATABASES, STAND_IN, STAND_IN_DETAIL, TABLE_WRITTEN, end_of_life, is_stand_in, product_of
from tools.facts.tags import tag_chosen_by, tag_mutability
from tools.facts.variables import with_written_defaults
from tools.facts.suppressions import SAME_AS_OURS as LINTERS_SAME_AS_OURS
from tools.findings import SEVERITIES, Location
from tools.platform import Environment, Platform

STABILITY = ("guardrails", "stabilité et à la reproductibilité")
CI_BUILDS = ("responsibilities", "build d'images via CI GitHub")
SECURITY_RISK = ("authority", "sécurité")
AVAILABILITY = ("authority", "risque de disponibilité")
_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_UNSET = re.compile(r'The "([^"]+)" variable is not set')


def _platform(ctx) -> Platform:
    return ctx.models["platform"]


def _services(ctx) -> Iterator[tuple[Environment, bool, str, dict]]:
    """(environment, is production, service, model) over every environment Compose loaded."""
    platform = _platform(ctx)
    prods = {e.name for e in platform.prod_envs()}
    for env in platform.environments.values():
        if env.project is not None:
            for name, svc in env.services.items():
                yield env, env.name in prods, name, svc


def _written(env: Environment, service: str, key: str) -> str | None:
    """A service's key as written in the compose files (variables kept); a later -f file wins."""
    found = None
    for _, data, _ in env.project.raw_files if env.project else []:
        svc = ((data or {}).get("services") or {}).get(service) if isinstance(data, dict) else None
        if isinstance(svc, dict) and isinstance(svc.get(key), str):
            found = svc[key]
    return found


def _unknown_vars(env: Environment) -> set[str]:
    """Variables nothing in the repository sets: Compose left them empty or the review assumed a placeholder."""
    project = env.project
    if project is None:
        return set()
    unset = {m.group(1) for w in project.warnings if (m := _UNSET.match(w))}
    return unset | {name for name, (_, where) in getattr(project, "assumed", {}).items() if where == "placeholder"}


def _example_vars(env: Environment) -> set[str]:
    """Variables whose value the review took from an example env file the repository documents."""
    from tools.facts.variables import EXAMPLE_ENV_NAMES, EXAMPLE_ENV_SUFFIXES

    assumed = getattr(env.project, "assumed", {}) if env.project else {}
    return {name for name, (_, where) in assumed.items()
            if posixpath.basename(where) in EXAMPLE_ENV_NAMES or where.endswith(EXAMPLE_ENV_SUFFIXES)}


def _set_from(env: Environment, names: list[str]) -> str:
    """Where the values of `names` come from, for a message."""
    assumed = getattr(env.project, "assumed", {}) if env.project else {}
    wheres = sorted({assumed[n][1] for n in names if n in assumed})
    return ", ".join(wheres) if wheres else "the environment or .env"


def _line_with(ctx, loc: Location, needle: str, span: int = 12) -> Location:
    """The line at or below `loc` (a key) whose text holds `needle`: list items have no location of their own."""
    src = next((s for s in ctx.sources if s.path == loc.path and s.text), None)
    if src is None or not loc.line:
        return loc
    lines = src.text.splitlines()
    for number in range(loc.line, min(len(lines), loc.line + span) + 1):
        if needle in lines[number - 1]:
            return Location(loc.path, number)
    return loc


# -- PRD001 ------------------------------------------------------------------------------------

@check("PRD001", "Production builds its image on the server", "high", "reproducibility", CI_BUILDS,
       "Replace `build:` with the `image:` the workflow pushes (with its CI tag), or add the build and push to a "
       "workflow: the server then runs what CI built and tested, and a rollback is a tag. High when a workflow "
       "already pushes that Dockerfile's image, medium when none does.")
def prod_builds_on_server(ctx, spec):
    # XF001 judges services that pull an image; this one the services that build, so no service is reported twice.
    platform = _platform(ctx)
    for env, prod, name, svc in _services(ctx):
        build = svc.get("build")
        if not prod or svc.get("image") or not (isinstance(build, dict) and build.get("context")):
            continue
        dockerfile = platform.dockerfile_of_build(build)
        what = dockerfile or str(build.get("context"))
        # what CI pushes, decided as XF001 and DKF003 decide it: the Dockerfile each CI build resolves to
        pushers = [b for b in platform.built_images
                   if b.pushed and dockerfile and platform.dockerfile_of_ci_image(b) == dockerfile]
        public = [b for b in pushers if not b.name.split("/", 1)[0].startswith("<")]
        if public:
            yield spec.finding(ctx, f"{env.name}: {name} builds {what} on the server; {public[0].location.path} "
                                    f"pushes it as {public[0].name}",
                               [env.location(name, "build"), public[0].location])
        elif pushers:  # `${{ steps.ecr.outputs.registry }}/app`: a registry the workflow logs in to, maybe private
            yield spec.finding(ctx, f"{env.name}: {name} builds {what} on the server; {pushers[0].location.path} "
                                    f"pushes it as {pushers[0].name}, a registry whose name the workflow computes "
                                    f"(which the server may not be able to pull from)",
                               [env.location(name, "build"), pushers[0].location], severity="medium")
        else:
            yield spec.finding(ctx, f"{env.name}: {name} builds {what} on the server; no workflow builds or pushes it",
                               [env.location(name, "build")], severity="medium")


# -- the documented deployment (README and docs code blocks) --------------------------------------

def documented_uses(ctx) -> dict[str, list]:
    """The images the repository's READMEs and docs pages tell a user to run, by page (tools/facts/documented.py),
    without those a compose file of the review already names (its own findings say them)."""
    cached = ctx.models.get("documented_images")
    if cached is not None:
        return cached
    from tools.facts.documented import documented_images as of_page

    # the compose files as the loader parsed them (each YAML file is parsed once per review)
    in_compose = {svc["image"] for src in ctx.sources if src.kind == "compose" and isinstance(src.data, dict)
                  and isinstance(src.data.get("services"), dict) for svc in src.data["services"].values()
                  if isinstance(svc, dict) and isinstance(svc.get("image"), str)}
    pages: dict[str, list] = {}
    for src in ctx.models.get("readmes", []):
        if src.ok and src.text:
            found = [d for d in of_page(src.path, src.text) if d.image not in in_compose]
            if found:
                pages[src.path] = found
    ctx.models["documented_images"] = pages
    return pages


def documented_findings(ctx, spec, judge) -> Iterator:
    """Low findings on the images of the documented deployment that `judge(image)` says something of (a text, or
    None): each image once, on the first page that shows it (pages in the order the review reads them, the root
    README first), with every line of every page that shows it; one finding per page for the images it shows first."""
    said: dict[str, tuple[str, str, list[Location]]] = {}  # image -> (first page, text, locations)
    for path, uses in documented_uses(ctx).items():
        for use in uses:
            if use.image not in said:
                text = judge(use.image)
                if text is None:
                    continue
                said[use.image] = (path, text, [])
            said[use.image][2].append(Location(path, use.line))
    by_page: dict[str, list[tuple[str, str, list[Location]]]] = {}
    for image, (page, text, locations) in said.items():
        by_page.setdefault(page, []).append((image, text, locations))
    for page, images in by_page.items():
        shown = [f"{image} ({text})" for image, text, _ in images[:4]]
        more = f" and {len(images) - 4} more" if len(images) > 4 else ""
        others = sorted({loc.path for _, _, locs in images for loc in locs} - {page})
        also = f" (also on {len(others)} other page{'s' if len(others) > 1 else ''})" if others else ""
        verb = "runs" if len(images) == 1 else "run"
        yield spec.finding(ctx, f"{page}: the documented deployment {verb} {', '.join(shown)}{more}{also}",
                           [loc for _, _, locs in images for loc in locs], severity="low",
                           subject=f"documented {page}",
                           detail="a user who copies these pages' commands or compose blocks runs these images as "
                                  "written")


# -- PRD002 ------------------------------------------------------------------------------------

@check("PRD002", "Floating image tag in production", "high", "reproducibility", STABILITY,
       "Pin a version that names a release line (`postgres:16.4`, `redis:7.4-alpine`, `node:22-alpine`) or a digest. "
       "Floating: channel tags (`stable`, `lts`, `mainline`, `edge`, `current`...), tags naming no version (`alpine`, "
       "`slim`, `main`) and tags naming less than a release line (`python:3`, `mysql:8`, `redis:7`): each pulls "
       "another release on the next deploy. A tag naming a line (`postgres:16`, `node:20-alpine`) moves only with "
       "its fixes; a digest never floats; `latest` and no tag are CMP003's. A tag a release script rewrites "
       "(`sed -i` on the variable in .env) is info: what users install carries the release's version.")
def floating_prod_tag(ctx, spec):
    # `latest` and untagged images are CMP003's; the same fact (tag_mutability) judges both. One image in one
    # environment is one finding, with every service that runs it.
    groups: dict[tuple, list] = {}
    # with no set taken for production, the development and example sets are what a self-hosting user may run:
    # their floating tags are said too, low (as CMP003 says their `latest`)
    unnamed = {e.name for e in _platform(ctx).unnamed_sets()}
    for env, prod, name, svc in _services(ctx):
        image = svc.get("image")
        if not image or svc.get("build") or not prod and env.name not in unnamed:
            continue
        mutable = tag_mutability(str(image))
        if mutable is None or mutable.kind != "floating":
            continue
        written = _written(env, name, "image") or str(image)
        names = _VAR.findall(written)
        if set(names) & _unknown_vars(env):
            continue  # the tag is chosen at deploy time; a variable nothing sets says nothing about it
        if mutable.basis == "no-version" and set(names) & _example_vars(env) and \
                is_placeholder(str(image).rsplit(":", 1)[-1]):
            continue  # an example file's `TAG=change-me` is a placeholder; its `TAG=alpine` is the tag users copy
        how = f" (written {written}, set by {_set_from(env, names)})" if written != image else ""
        # `${TAG:-2026.8.0}` pinned in the file, `TAG=dev` in the example env file: Compose runs the pin unless the
        # user copies the example; said, at medium
        by_default = with_written_defaults(written)
        pinned = bool(set(names) & _example_vars(env)) and "$" not in by_default and tag_mutability(by_default) is None
        key = (env.name, str(image), mutable.why, how, tuple(names), pinned, prod)
        groups.setdefault(key, []).append((name, env.location(name, "image")))
    for (env_name, image, why, how, names, pinned, prod), uses in groups.items():
        verb = "runs" if len(uses) == 1 else "run"
        title = f"{env_name}: {services_text([n for n, _ in uses])} {verb} {image}: {why}{how}" + (
            "; the file's own default is pinned" if pinned else "")
        if not prod:
            yield spec.finding(ctx, f"{title} (not a production set)", [loc for _, loc in uses], severity="low",
                               detail="no set is taken for production: a self-hosting user may run this file as it is")
            continue
        chosen = tag_chosen_by(ctx.sources, names, image)
        if chosen:
            yield spec.finding(ctx, f"{title}; {chosen[0]} {chosen[1]}", [loc for _, loc in uses],
                               severity="info", detail="the file's tag is a fallback: what runs carries the version "
                                                       "the release or the deploy writes")
            continue
        mutable = tag_mutability(image)  # floating: the groups were made of floating tags
        database = product_of(image) in DATABASES and mutable.any_version
        if pinned:
            yield spec.finding(ctx, title, [loc for _, loc in uses], severity="medium",
                               detail="an example env file's value floats while the compose file pins the tag: a "
                                      "user who copies the example runs the floating tag")
            continue
        if mutable.basis == "closed-major":
            yield spec.finding(ctx, title, [loc for _, loc in uses], severity="medium",
                               detail="its next major has shipped: an install made on an earlier line of it moves to "
                                      "the last one once, at its next pull, and no further")
            continue
        if is_stand_in(image):  # as CMP003 says it of `latest`
            yield spec.finding(ctx, f"{title}: {STAND_IN}", [loc for _, loc in uses], severity="low",
                               detail=STAND_IN_DETAIL)
            continue
        if product_of(image) in _BASE_SYSTEMS and all(_file_chore(ctx, env_name, n) for n, _ in uses):
            yield spec.finding(ctx, f"{title}: a helper that only prepares files", [loc for _, loc in uses],
                               severity="low", detail="a one-shot helper (chown, mkdir): its system's release changes "
                                                      "nothing the stack keeps")
            continue
        yield spec.finding(ctx, title, [loc for _, loc in uses],
                           detail="a database image can come back as a new major that refuses the data volume"
                                  if database else "")
    yield from documented_findings(ctx, spec, _floating_text)


def _floating_text(image: str) -> str | None:
    mutable = tag_mutability(image)
    return mutable.why if mutable is not None and mutable.kind == "floating" else None


_BASE_SYSTEMS = frozenset({"debian", "ubuntu", "alpine"})


def _file_chore(ctx, env_name: str, service: str) -> bool:
    """The service's entrypoint and command only prepare files (tools/facts/shell.py: `only_file_chores`)."""
    from tools.facts.shell import only_file_chores

    env = _platform(ctx).environments.get(env_name)
    svc = env.services.get(service) if env is not None else None
    if not isinstance(svc, dict):
        return False
    argv = compose_tool.command_argv(svc.get("entrypoint")) + compose_tool.command_argv(svc.get("command"))
    if len(argv) >= 3 and posixpath.basename(argv[0]) in ("sh", "bash", "ash") and argv[1].startswith("-") \
            and "c" in argv[1]:
        return only_file_chores(" ".join(argv[2:]))
    return only_file_chores(" ".join(argv))


# -- PRD003 ------------------------------------------------------------------------------------

@check("PRD003", "Database admin UI published in production", "blocker", "security", SECURITY_RISK,
       "Remove the admin UI from the production file (keep it in dev), or publish it on 127.0.0.1 and reach it "
       "through an SSH tunnel. A tool UI without a login (Prometheus, Alertmanager, MailHog, Jaeger...) "
       "or a management API (Kong's Admin API, Logstash's API, cAdvisor, Consul) published the same way is high; "
       "the same outside production is low.")
def admin_ui_published(ctx, spec):
    for env, prod, name, svc in _services(ctx):
        image = svc.get("image")
        command = " ".join(compose_tool.command_argv(svc.get("command")))
        admin = admin_ui_of(image) or database_studio_of(command)
        dashboard = insecure_dashboard_of(image, command)
        login = default_login_ui_of(image, svc.get("environment") if isinstance(svc.get("environment"), dict) else None)
        api = management_api_of(image)
        what = admin or unauthenticated_ui_of(image) or dashboard or (login[0] if login else None) or \
            (api[0] if api else None)
        if what is None:
            continue
        severity = (None if admin else "high") if prod else "low"
        detail = ("an admin UI logs in to the database: whoever reaches it can try" if admin else
                  f"{what} has no login of its own: whoever reaches it reads what it shows") + \
            ("" if prod else "; outside production, yet reachable from the network wherever this file runs")
        if svc.get("network_mode") == "host":
            yield spec.finding(ctx, f"{env.name}: {name} runs {what} on the host's network, reachable from the network",
                               [env.location(name, "network_mode")], severity=severity, detail=detail)
            continue
        for port in svc.get("ports") or []:
            if not isinstance(port, dict) or not port.get("published") or is_loopback(port.get("host_ip")):
                continue
            if dashboard and not admin and str(port.get("target")) != str(TRAEFIK_API_PORT):
                continue  # the proxy's own entry points (80, 443) are meant to be public
            if login and not (admin or dashboard) and what == login[0] and str(port.get("target")) != str(login[1]):
                continue  # RabbitMQ's AMQP port, not its UI
            if api and what == api[0] and str(port.get("target")) not in {str(p) for p in api[1]}:
                continue  # Kong's proxy port, not its Admin API
            where = f"{port['host_ip']}:{port['published']}" if port.get("host_ip") else str(port["published"])
            loc = _line_with(ctx, env.location(name, "ports"), str(port["published"]))
            yield spec.finding(ctx, f"{env.name}: {name} publishes {what} on {where}, reachable from the network",
                               [loc], severity=severity, detail=detail)
            break
        else:
            if dashboard and what == dashboard and prod:
                # not published: every container of its networks (an application that makes requests a user chooses,
                # a compromised image) still reads and drives the proxy's routes
                yield spec.finding(ctx, f"{env.name}: {name} serves {what} on :{TRAEFIK_API_PORT} to every container of "
                                        f"its networks", [_line_with(ctx, env.location(name, "command"), "insecure")],
                                   severity="low", detail="unpublished, yet without a login: secure the API (a router "
                                                          "to api@internal with an auth middleware) or turn it off")


# -- PRD007 ------------------------------------------------------------------------------------

@check("PRD007", "Container given the host's privileges", "medium", "security", SECURITY_RISK,
       "Drop what the service does not need: `privileged`, `pid: host`, `seccomp`/`apparmor` `unconfined`, and "
       "capabilities that reach the host's kernel (give a device with `devices:`, one capability such as "
       "`NET_BIND_SERVICE`, or a user that owns its files instead of `user: root`).")
def host_privileges_given(ctx, spec):
    """A service given more of the host than a container's defaults (tools/facts/exposure.py: host_privileges): a
    flaw in it, or in its image's supply chain, reaches the host. Medium in production; low elsewhere and for tools
    whose job is the host or the engine (an exporter, cAdvisor, a CI runner). Each service's file said once."""
    found: dict[tuple[str, int | None], tuple[str, str, bool, bool, list[str], Location]] = {}
    for env, prod, name, svc in _services(ctx):
        given = host_privileges(svc)
        if not given:
            continue
        loc = env.location(name, given[0][0])
        key = (loc.path, loc.line)
        if key in found and (found[key][2] or not prod):
            continue
        tool = is_docker_tool(str(svc.get("image") or ""), name)
        found[key] = (env.name, name, prod, tool, [what for _, what in given], loc)
    for env_name, name, prod, tool, given, loc in found.values():
        only_root = all(g.startswith("user:") for g in given)  # an init or a chown job often needs it: said, low
        yield spec.finding(ctx, f"{env_name}: {name} runs with {', '.join(given)}", [loc],
                           severity="medium" if prod and not tool and not only_root else "low",
                           detail=("a tool of the host or the engine: narrow it to what it reads" if tool else
                                   "a flaw in the service, or in its image's supply chain, reaches the host"))


# -- PRD006 ------------------------------------------------------------------------------------

@check("PRD006", "Docker engine socket mounted into an application", "high", "security", SECURITY_RISK,
       "Remove the socket mount; if the service must start or inspect containers, give it a socket proxy that allows "
       "only the calls it makes (read-only container listing, for instance). `:ro` on the mount does not protect "
       "the engine: its API stays writable through the socket.")
def docker_socket_mounted(ctx, spec):
    """A service that mounts the engine's socket can start a privileged container with the host's / mounted: root
    on the host. An application image: high in production (medium elsewhere); a tool whose job is the engine
    (a proxy's discovery, an updater, a collector, a CI runner, a container manager): low, by design, still said."""
    for env, prod, name, svc in _services(ctx):
        socket = docker_socket_mount(svc.get("volumes"))
        if socket is None:
            continue
        image = str(svc.get("image") or "")
        tool = is_docker_tool(image, name)
        what = image or "its image"
        loc = _line_with(ctx, env.location(name, "volumes"), posixpath.basename(socket))
        if tool:
            yield spec.finding(ctx, f"{env.name}: {name} ({what}) mounts {socket}: its job is the engine, root on the "
                                    f"host by design", [loc], severity="low",
                               detail="a socket proxy limited to the calls it makes narrows what a compromise of it "
                                      "gives")
            continue
        yield spec.finding(ctx, f"{env.name}: {name} mounts {socket}: whoever controls it is root on the host",
                           [loc], severity=None if prod else "medium",
                           detail=f"{what} is no tool of the engine: a flaw in it, or in the image's supply chain, "
                                  f"starts privileged containers on the host")


# -- PRD004 ------------------------------------------------------------------------------------

def _eol_text(ref: str) -> tuple[str, str] | None:
    """(what ended and when, where each date comes from), or None for a supported or unknown image."""
    ended = end_of_life(ref)
    if not ended:
        return None
    return ("; ".join(f"{e.product} {e.line} reached its end of life on {e.date.isoformat()}" for e in ended),
            "; ".join(f"{e.product}: {e.source}" for e in ended))


@check("PRD004", "End-of-life base image", "medium", "security", SECURITY_RISK,
       "Move to a supported release line of the image (the date and its source are in the finding); "
       f"the table of dates was written {TABLE_WRITTEN.isoformat()} (tools/facts/lifecycle.py).")
def end_of_life_image(ctx, spec):
    platform = _platform(ctx)
    uses = dockerfile_uses(platform)
    seen: set[tuple[str, int | None]] = set()
    # one base image ended is one fact: the Dockerfiles that shipping images build FROM it are its locations
    shipped: dict[tuple[str, str], list[Location]] = {}
    for path, info in platform.dockerfiles.items():
        final = info.root_stage(info.final_stage) if info.final_stage is not None else None
        use = uses.get(path, DockerfileUse())
        # named as a test image (is_test_image of a use that deploys), else used by nothing the review reads
        test = is_test_image(path, DockerfileUse(services=[("", "")], pushed=use.pushed))
        unused = not test and is_test_image(path, use)
        for stage in info.stages:
            if stage.base is None or not stage.base_ref:
                continue
            ended = _eol_text(stage.base_ref)
            if ended is None or (path, stage.line) in seen:
                continue
            seen.add((path, stage.line))
            runs = stage is final and not test and not unused
            if runs:
                shipped.setdefault((stage.base_ref, ended[0]), []).append(Location(path, stage.line))
                continue
            what = ("" if runs else " (a test image)" if test else
                    " (no compose service or workflow builds it)" if unused else f" (build stage {stage.label})")
            yield spec.finding(ctx, f"{path}: FROM {stage.base_ref}{what}: {ended[0]}", [Location(path, stage.line)],
                               severity=None if runs else "info" if test else "low",
                               detail=ended[1] if runs else f"its image is not what production runs; its toolchain "
                                                            f"gets no more fixes ({ended[1]})")
    for (base, ended_text), locations in shipped.items():
        first = locations[0].path
        where = first if len(locations) == 1 else f"{first} and {len(locations) - 1} more Dockerfile(s)"
        yield spec.finding(ctx, f"{where}: FROM {base}: {ended_text}", locations,
                           detail=_eol_text(base)[1], subject=f"FROM {base}")
    by_image: dict[str, tuple[str, str] | None] = {}  # services share images: each judged once
    for env, prod, name, svc in _services(ctx):
        image = svc.get("image")
        if not image or svc.get("build"):
            continue
        if str(image) not in by_image:
            by_image[str(image)] = _eol_text(str(image))
        ended = by_image[str(image)]
        loc = env.location(name, "image")
        if ended is None or (loc.path, loc.line) in seen:
            continue
        seen.add((loc.path, loc.line))
        yield spec.finding(ctx, f"{env.name}: {name} runs {image}: {ended[0]}", [loc], severity=None if prod else "low",
                           detail=ended[1])
    yield from documented_findings(ctx, spec, lambda image: (_eol_text(image) or (None,))[0])


# -- PRD005 ------------------------------------------------------------------------------------

def _host_gateway_use(ctx, platform: Platform, env: Environment, name: str, svc: dict) -> tuple[str, Location] | None:
    """Where a service names host.docker.internal: its environment, command, entrypoint, healthcheck, or an nginx
    file it runs."""
    for key, value in (svc.get("environment") or {}).items():
        if names_host_gateway(value):
            return f"environment {key}", env.location(name, f"environment.{key}")
    argv = compose_tool.command_argv
    for key in ("command", "entrypoint"):
        if names_host_gateway(" ".join(argv(svc.get(key)))):
            return key, _line_with(ctx, env.location(name, key), "host.docker.internal")
    test = (svc.get("healthcheck") or {}).get("test")
    if names_host_gateway(" ".join(map(str, test)) if isinstance(test, list) else test):
        return "healthcheck", _line_with(ctx, env.location(name, "healthcheck"), "host.docker.internal")
    for rel in platform.nginx_files_for(env, name):
        src = platform.nginx_sources.get(rel)
        for number, line in enumerate((src.text or "").splitlines() if src is not None else [], 1):
            if names_host_gateway(line.split("#", 1)[0]):
                return f"nginx config {rel}", Location(rel, number)
    return None


@check("PRD005", "host.docker.internal used without its extra_hosts mapping", "blocker", "availability",
       AVAILABILITY, 'Add `extra_hosts: ["host.docker.internal:host-gateway"]` to the service: only Docker Desktop '
       "resolves that name by itself, a Linux engine does not.")
def host_gateway_unmapped(ctx, spec):
    platform = _platform(ctx)
    for env, prod, name, svc in _services(ctx):
        if maps_host_gateway(svc.get("extra_hosts")):
            continue
        found = _host_gateway_use(ctx, platform, env, name, svc)
        if found is not None:
            yield spec.finding(ctx, f"{env.name}: {name} reaches host.docker.internal ({found[0]}) without "
                                    "extra_hosts: the name does not resolve on a Linux engine",
                               [found[1]], severity=None if prod else "medium")


# -- GHA000-GHA008: zizmor's audits --------------------------------------------------------------
# A workflow weakness opens the repository and its secrets; it opens production only through what the workflow
# reaches, which zizmor does not judge: so `high` at most, never a blocker. Each finding takes zizmor's own
# severity, capped by its id's ceiling below.

ZIZMOR_SEVERITY = {"High": "high", "Medium": "medium", "Low": "low", "Informational": "info", "Unknown": "info"}
# zizmor audits one of our checks already reports: not reported twice.
ZIZMOR_SAME_AS_OURS = LINTERS_SAME_AS_OURS["zizmor"]  # one table of the linters' rules ours state (tools/facts)
ZIZMOR_CHECKS: list[tuple[str, str, str, tuple[str, ...], str]] = [
    ("GHA001", "Workflow runs on a dangerous trigger", "high", ("dangerous-triggers",),
     "Use `pull_request` (no secrets, read-only token) instead of `pull_request_target`/`workflow_run`, or never "
     "check out nor run the pull request's code in that workflow."),
    ("GHA002", "Template injection in a workflow", "high", ("template-injection",),
     "Pass the expression through `env:` and use the shell variable (`\"$TITLE\"`), never `${{ }}` inside `run:`."),
    ("GHA003", "Cache poisoning in a workflow that publishes", "high", ("cache-poisoning",),
     "Disable the cache in workflows that build release artifacts or push images (`cache: ''`, no actions/cache)."),
    ("GHA004", "Workflow permissions broader than needed", "medium", ("excessive-permissions",),
     "Set `permissions: {}` at the top and grant each job only what it uses (`contents: read`, `packages: write`)."),
    ("GHA005", "Checkout credentials persisted in the workspace", "low", ("artipacked",),
     "Add `persist-credentials: false` to actions/checkout unless a later step pushes with that token."),
    ("GHA006", "Untrusted data written to GITHUB_ENV or GITHUB_PATH", "high", ("github-env", "insecure-commands"),
     "Never write attacker-controllable values to $GITHUB_ENV/$GITHUB_PATH; pass them as step outputs."),
    ("GHA007", "Secrets handed out more widely than needed", "medium",
     ("secrets-inherit", "overprovisioned-secrets", "unredacted-secrets", "hardcoded-container-credentials"),
     "Pass each reusable workflow only the secrets it uses; never index `secrets` dynamically nor write credentials "
     "in the workflow."),
    ("GHA008", "Spoofable bot or actor condition", "high", ("bot-conditions",),
     "Check `github.event.pull_request.user.login` (who opened it), not `github.actor` (who triggered this run)."),
]
_MAPPED = {audit: gid for gid, _, _, audits, _ in ZIZMOR_CHECKS for audit in audits}


# Injections reach production only when outsiders write the text injected (OUTSIDER_TRIGGERS); otherwise the
# expression is set by someone who can already push, and the finding is low.
_INJECTIONS = ("template-injection", "github-env", "insecure-commands")
# A spoofable actor check guards what the workflow can reach: from a trigger outsiders cannot start with secrets
# (a fork's `pull_request` runs with a read-only token), spoofing it gains nothing a pusher has not already.
_OUTSIDER_ONLY = _INJECTIONS + ("bot-conditions",)


def _lower(severity: str) -> str:
    return SEVERITIES[min(SEVERITIES.index(severity) + 1, len(SEVERITIES) - 1)]


def zizmor_severity(issue, ceiling: str, wf=None) -> tuple[str, str]:
    """(our severity of a zizmor finding, why it differs from zizmor's): zizmor's own, never above the id's
    ceiling, one step lower when zizmor's confidence is low; an injection in a workflow outsiders cannot start
    is low; a dangerous trigger that never checks out nor injects the pull request's text is medium."""
    severity = max(ZIZMOR_SEVERITY.get(issue.severity, "info"), ceiling, key=SEVERITIES.index)
    why = []
    if issue.confidence == "Low":
        severity = _lower(severity)
        why.append("zizmor's confidence is low")
    outsiders = outsider_triggers(getattr(wf, "triggers", None)) if wf is not None else None
    if issue.audit in _OUTSIDER_ONLY and outsiders == [] and SEVERITIES.index(severity) < SEVERITIES.index("low"):
        severity = "low"
        why.append("only who can push starts this workflow")
    elif issue.audit == "template-injection" and expands_only_known_text(getattr(issue, "feature", "")) \
            and SEVERITIES.index(severity) < SEVERITIES.index("low"):
        severity = "low"
        why.append("no expression it expands is text outsiders write (a title, a branch, a comment)")
    elif issue.audit == "template-injection" and wf is not None \
            and branch_fixed_by_trigger(getattr(issue, "feature", ""), getattr(wf, "triggers", None)) \
            and SEVERITIES.index(severity) < SEVERITIES.index("low"):
        severity = "low"
        why.append("the branch it expands can only be one the workflow_run trigger names")
    if issue.audit == "dangerous-triggers" and wf is not None and _only_own_runs(wf) \
            and SEVERITIES.index(severity) < SEVERITIES.index("low"):
        severity = "low"
        why.append("every job's condition leaves out the pull requests of forks (the workflow_run's event or head "
                   "repository)")
    elif issue.audit == "dangerous-triggers" and wf is not None and not _runs_outsider_text(wf) \
            and SEVERITIES.index(severity) < SEVERITIES.index("medium"):
        severity = "medium"
        why.append("no step checks out the pull request's code nor expands its text")
    return severity, "; ".join(why)


# A job condition that keeps a workflow_run to the repository's own code: the run it follows was no pull request
# (`github.event.workflow_run.event != 'pull_request'`, `== 'push'`), or came from this repository's own branch.
_OWN_RUN_GUARD = re.compile(
    r"github\.event\.workflow_run\.event\s*(?:!=\s*'pull_request(?:_target)?'|==\s*'(?:push|release|schedule|"
    r"workflow_dispatch)')|github\.event\.workflow_run\.head_repository\.(?:full_name\s*==\s*github\.repository|"
    r"fork\s*==\s*false)|github\.repository\s*==\s*github\.event\.workflow_run\.head_repository\.full_name")


def _only_own_runs(wf) -> bool:
    """A `workflow_run` workflow whose every job's `if:` leaves forks' pull requests out, itself or through a job it
    needs (a job whose need was skipped is skipped, unless its condition says `always()`)."""
    if set(wf.triggers) != {"workflow_run"} or not wf.jobs:
        return False
    guarded: dict[str, bool] = {}

    def guard(jid: str, seen: frozenset = frozenset()) -> bool:
        if jid not in guarded:
            job = wf.jobs.get(jid)
            cond = " ".join(str(job.if_ or "").split()) if job is not None else ""
            guarded[jid] = job is not None and (bool(_OWN_RUN_GUARD.search(cond)) or "always()" not in cond and any(
                guard(n, seen | {jid}) for n in (job.needs or []) if n not in seen))
        return guarded[jid]

    return all(guard(jid) for jid in wf.jobs)


def _runs_outsider_text(wf) -> bool:
    """A workflow step checks out the pull request's head, or expands text outsiders wrote into a script."""
    for job in wf.jobs.values():
        for step in job.steps:
            if step.uses and step.uses.action.startswith("actions/checkout") and \
                    names_pull_request_head(str((step.with_ or {}).get("ref", ""))):
                return True
            if step.run and expands_outsider_text(step.run) and not branch_fixed_by_trigger(step.run, wf.triggers):
                return True  # a branch name the workflow_run trigger fixes is the repository's own word
    return False


def _zizmor_run(ctx):
    if "zizmor" not in ctx.models:
        from tools.zizmor import run_zizmor

        platform = _platform(ctx)
        paths = [p for p, wf in platform.workflows.items() if wf.ok]
        ctx.models["zizmor"] = run_zizmor(platform.root, paths) if paths else None
    return ctx.models["zizmor"]


def _zizmor_findings(ctx, spec, audits: tuple[str, ...] | None):
    run = _zizmor_run(ctx)
    if run is None:
        return
    workflows = _platform(ctx).workflows
    for path, issues in run.results.items():
        for issue in issues:
            if issue.audit in ZIZMOR_SAME_AS_OURS:
                continue
            if (issue.audit not in audits) if audits is not None else (issue.audit in _MAPPED):
                continue
            where = f" ({issue.annotation})" if issue.annotation else ""
            job = f" job {issue.job}:" if issue.job else ""
            severity, why = zizmor_severity(issue, spec.severity, workflows.get(path))
            yield spec.finding(ctx, f"{path}:{job} zizmor {issue.audit}: {issue.message}{where}",
                               [Location(path, issue.line)], severity=severity,
                               detail=(f"expands {issue.feature}; " if issue.audit == "template-injection"
                                       and issue.feature.startswith("${{") else "")
                               + f"zizmor severity {issue.severity}, confidence {issue.confidence}"
                                      f"{'; ' + why if why else ''}; https://docs.zizmor.sh/audits/#{issue.audit}")


def _write_all(ctx, spec, reported: set[tuple[str, int | None]]):
    """`permissions: write-all` (the workflow's or a job's): every scope writable for every step, whatever zizmor's
    persona makes of a one-job workflow. Not reported twice at a line zizmor already named."""
    for path, wf in _platform(ctx).workflows.items():
        if not wf.ok or not isinstance(wf.raw, dict):
            continue
        spots = [(("permissions",), wf.raw.get("permissions"), "the workflow")]
        spots += [(("jobs", jid, "permissions"), job.permissions, f"job {jid}") for jid, job in wf.jobs.items()]
        for key, value, who in spots:
            if not (isinstance(value, str) and value.strip().lower() == "write-all"):
                continue
            line = wf.line_of(*key)
            if (path, line) in reported:
                continue
            yield spec.finding(ctx, f"{path}: {who} grants permissions: write-all", [Location(path, line)],
                               detail="every scope of the token (contents, packages, actions, deployments...) is "
                                      "writable by every step, and by any action a step runs")


def _register(gid: str, title: str, ceiling: str, audits: tuple[str, ...], remediation: str) -> None:
    def run(ctx, spec):
        found = list(_zizmor_findings(ctx, spec, audits))
        yield from found
        if "excessive-permissions" in audits:
            yield from _write_all(ctx, spec, {(loc.path, loc.line) for f in found for loc in f.locations[:1]})

    run.__name__ = f"zizmor_{gid.lower()}"
    check(gid, title, ceiling, "security", SECURITY_RISK, remediation)(run)


@check("GHA000", "zizmor: other audits, and whether it ran", "medium", "security", SECURITY_RISK,
       "Follow the zizmor audit named in the title (https://docs.zizmor.sh/audits/). zizmor runs offline on the "
       "loaded workflows; GHA001-GHA008 are its main audits, this id the others and its absence (info). Severity is "
       "zizmor's own, capped by the id's default, never a blocker (a workflow weakness opens the repository and its "
       "secrets, production only through what the workflow reaches); `unpinned-uses` is CI005's.")
def zizmor_other(ctx, spec):
    run = _zizmor_run(ctx)
    if run is not None and run.notes:
        ctx.could_not_run(spec, "zizmor", "; ".join(run.notes))
        yield spec.finding(ctx, "zizmor did not run on the workflows", [], severity="info",
                           detail="; ".join(run.notes),
                           remediation="Install zizmor (`pip install zizmor`); the other CI checks ran.")
    for path, why in (run.failed if run is not None else {}).items():  # zizmor's own failure: not audited
        ctx.could_not_run(spec, f"zizmor on {path}", why)
        yield spec.finding(ctx, f"zizmor failed on {path}: {why}", [Location(path)], severity="info",
                           remediation="The other workflows were audited; update zizmor (`pip install -U zizmor`) "
                                       "or report the workflow to zizmor.")
    for path, why in (run.skipped if run is not None else {}).items():  # GitHub refuses it too: nothing runs
        yield spec.finding(ctx, f"zizmor did not audit {path}: {why}", [Location(path)], severity="info",
                           remediation="Make the workflow valid (CI001/CI002 say where); zizmor then audits it.")
    yield from _zizmor_findings(ctx, spec, None)


for _args in ZIZMOR_CHECKS:
    _register(*_args)
