"""Incident diagnosis on a Docker engine, read-only, correlated with the compose model.

What runs on the engine (containers matched to compose services by Compose's own labels) is compared
with what the environment's effective model says should run, and the probable causes of an incident are
ranked with their evidence: containers missing or down, crash loops, exit codes, OOM kills, failing
health checks, images or tags that differ from the model, port conflicts, services up while a
dependency is down, and the log lines that explain a crash (quoted with their timestamps, redacted).

Read-only, in code: the SDK client is wrapped in `ReadOnly`, an allow-list of read methods per SDK
class (anything else raises `ReadOnlyViolation` before a request is built), and its HTTP session refuses
any verb but GET and HEAD. Nothing is executed: remediations are described, for a human or a proposal.

The `docker` SDK is imported inside `connect` only: `--help`, `review` and `sources` never load it.
"""
from __future__ import annotations

import atexit
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from agent.core.deadline import Overdue, within
from agent.core.errors import UserError
from agent.core.text import escape_terminal
from tools.findings import SEVERITIES, Finding, Location

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
DEFAULT_SINCE = "30m"
LOG_TAIL = 200  # lines per container
QUOTED_LINES = 3  # log lines quoted per finding
HEALTH_OUTPUTS = 3  # last health-check outputs quoted
CONNECT_TIMEOUT = 10
BUDGET_ENV = "DEVOPS_AGENT_DOCKER_TIMEOUT"
DEFAULT_BUDGET = 120.0  # the whole read of one diagnosis, wall clock
READ_VERBS = frozenset({"GET", "HEAD"})
# SDK objects that are data, not endpoints: the event stream of `events()` (iterating it only reads).
DATA_KINDS = frozenset({"CancellableStream"})

# The read calls, per SDK class: every other attribute of these classes is refused (ReadOnlyViolation).
ALLOWED: dict[str, frozenset[str]] = {
    "DockerClient": frozenset({"ping", "version", "info", "df", "events", "containers", "images", "api", "close"}),
    "ContainerCollection": frozenset({"get", "list"}),
    "Container": frozenset({"attrs", "id", "short_id", "name", "labels", "status", "health", "image", "ports",
                            "logs", "stats", "reload"}),
    "ImageCollection": frozenset({"get", "list"}),
    "Image": frozenset({"attrs", "id", "short_id", "tags", "labels", "reload"}),
    "APIClient": frozenset({"ping", "version", "info", "df", "events", "containers", "inspect_container", "logs",
                            "stats", "images", "inspect_image", "base_url", "api_version", "close"}),
}


class ReadOnlyViolation(UserError):
    """A call the diagnosis may not make: it could change the engine."""

    def __init__(self, what: str) -> None:
        super().__init__(f"refused {what}: diagnosis is read-only (only GET/HEAD read calls are allowed)",
                         "describe the change as a remediation or a proposal; nothing is executed")


class EngineUnavailable(UserError):
    """No Docker engine answers at the host given."""


# ---------------------------------------------------------------- the read-only client

class ReadOnly:
    """An SDK object behind the allow-list of its class in ALLOWED; what it returns is wrapped the same way."""

    __slots__ = ("_target", "_kind")

    def __init__(self, target: Any, kind: str) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_kind", kind)

    def __getattr__(self, name: str) -> Any:
        kind = object.__getattribute__(self, "_kind")
        if name not in ALLOWED[kind]:
            raise ReadOnlyViolation(f"{kind}.{name}")
        return _guarded(getattr(object.__getattribute__(self, "_target"), name))

    def __setattr__(self, name: str, value: Any) -> None:
        raise ReadOnlyViolation(f"setting {object.__getattribute__(self, '_kind')}.{name}")

    def __repr__(self) -> str:
        return f"<read-only {object.__getattribute__(self, '_kind')}>"


def _sdk_kind(value: Any) -> str | None:
    """The SDK class name of `value` when it is an object of the docker package (None for plain data)."""
    for cls in type(value).__mro__:
        if cls.__module__.split(".")[0] == "docker":
            return cls.__name__
    return None


def _guarded(value: Any) -> Any:
    import inspect

    if isinstance(value, ReadOnly):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_guarded(v) for v in value)
    if inspect.ismethod(value) and _sdk_kind(value.__self__):
        def call(*args: Any, **kwargs: Any) -> Any:
            return _guarded(value(*args, **kwargs))
        call.__name__ = value.__name__
        call.__doc__ = value.__doc__
        return call
    kind = _sdk_kind(value)  # before `callable`: the SDK's collections define __call__
    if kind is None or kind in DATA_KINDS:
        return value  # data: dicts, strings, bytes, the event stream
    if kind not in ALLOWED:
        raise ReadOnlyViolation(f"reaching {kind}")
    return ReadOnly(value, kind)


def refuse_writes(api: Any) -> None:
    """The transport's own guard: the low-level client's HTTP session sends GET and HEAD only."""
    send = api.request

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if str(method).upper() not in READ_VERBS:
            raise ReadOnlyViolation(f"HTTP {str(method).upper()} {url}")
        return send(method, url, *args, **kwargs)

    api.request = request


def engine_host(host: str | None) -> str:
    return host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(host: str | None = None, timeout: int = CONNECT_TIMEOUT) -> ReadOnly:
    """The engine at `host` (unix://, ssh://user@server, tcp://), else DOCKER_HOST, read-only; pinged."""
    import docker
    from docker.errors import DockerException

    where = engine_host(host)
    environment = dict(os.environ)
    environment["DOCKER_HOST"] = where
    hint = "start the engine, set DOCKER_HOST or pass --host (unix:///path/docker.sock, ssh://user@server, tcp://h:2376)"
    tunnel = None
    if where.startswith("ssh://"):  # the system's ssh, through a local socket (tools/ssh_tunnel.py)
        from tools.ssh_tunnel import SshTunnel

        try:
            tunnel = SshTunnel(where, connect_timeout=max(1, int(timeout)))
        except (ValueError, OSError) as exc:
            raise EngineUnavailable(f"no Docker engine at {where}: {_short(exc)}", hint) from None
        _TUNNELS.append(tunnel)
        environment["DOCKER_HOST"] = tunnel.url
    try:
        client = docker.from_env(timeout=timeout, environment=environment)
    except DockerException as exc:
        raise EngineUnavailable(f"no Docker engine at {where}: {_short(exc)}", hint) from None
    except Exception as exc:  # requests' own errors
        raise EngineUnavailable(f"no Docker engine at {where}: {type(exc).__name__}: {_short(exc)}", hint) from None
    refuse_writes(client.api)
    engine = ReadOnly(client, "DockerClient")
    try:
        engine.ping()
    except Exception as exc:
        said = f" (ssh: {tunnel.errors[-1]})" if tunnel is not None and tunnel.errors else ""
        raise EngineUnavailable(f"the Docker engine at {where} does not answer: {_short(exc)}{said}", hint) from None
    return engine


_TUNNELS: list = []  # closed when the process ends


def _close_tunnels() -> None:
    for tunnel in _TUNNELS:
        tunnel.close()


atexit.register(_close_tunnels)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 240 else text[:237] + "..."


# ---------------------------------------------------------------- the window

_SINCE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?$")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """`30m`, `2h`, `1d`, `90s` ago, or an ISO 8601 time: seconds since the epoch (a float: the API keeps
    fractions, a datetime would be cut to whole seconds)."""
    now = time.time() if now is None else now
    value = (text or "").strip()
    m = _SINCE.match(value)
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--since {text!r} is not a duration or a time",
                        "use 30m, 2h, 1d, 90s or an ISO time such as 2025-05-01T10:00:00Z") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------- what the model expects

@dataclass
class Expected:
    """A service as the environment's effective compose model says it runs."""

    name: str
    image: str | None
    written: str | None  # the image as written in the compose file, variables kept
    variables: dict[str, str | None]  # the env values the image reference used
    ports: list[str]  # published host ports, `8080/tcp`
    healthcheck: bool
    depends_on: dict[str, str]  # dependency -> condition
    location: Location


def expected_services(project: Any) -> dict[str, Expected]:
    """The services of a ComposeProject (tools/compose.py), with the image as written and its variables."""
    written: dict[str, str] = {}
    first_files = {_posix_rel(f, project.project_dir) for f in project.files}
    for rel, raw, _ in sorted(project.raw_files, key=lambda r: r[0] in first_files):  # -f files override
        for name, svc in ((raw or {}).get("services") or {}).items():
            if isinstance(svc, dict) and isinstance(svc.get("image"), str):
                written[name] = svc["image"]
    out: dict[str, Expected] = {}
    for name, svc in (project.model.get("services") or {}).items():
        image = svc.get("image")
        raw = written.get(name)
        hc = svc.get("healthcheck") or {}
        has_hc = bool(hc) and not hc.get("disable") and hc.get("test") not in (["NONE"], None)
        deps = svc.get("depends_on") or {}
        out[name] = Expected(
            name=name, image=image, written=raw, variables=image_variables(raw, image) if raw and image else {},
            ports=[p for p in (_published(port) for port in svc.get("ports") or []) if p],
            healthcheck=has_hc,
            depends_on={d: str((c or {}).get("condition") or "service_started") for d, c in deps.items()}
            if isinstance(deps, dict) else {d: "service_started" for d in deps},
            location=project.location(name, "image" if raw else None))
    return out


def _posix_rel(path: Any, base: Any) -> str:
    try:
        return os.path.relpath(path, base).replace(os.sep, "/")
    except ValueError:
        return str(path)


def _published(port: Any) -> str | None:
    if not isinstance(port, dict) or not port.get("published"):
        return None
    return f"{port['published']}/{port.get('protocol') or 'tcp'}"


_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def image_variables(written: str, resolved: str) -> dict[str, str | None]:
    """The value each `${VAR}` of the image as written took in Compose's resolved reference (None: not
    derivable). `api:${TAG:-latest}` resolved to `api:2.1` gives {"TAG": "2.1"}."""
    pattern, names, pos = "", [], 0
    for m in _VAR.finditer(written):
        pattern += re.escape(written[pos:m.start()])
        pos = m.end()
        if m.group(0) == "$$":
            pattern += re.escape("$")
            continue
        names.append(m.group(1) or m.group(2))
        pattern += f"(?P<v{len(names) - 1}>.*?)"
    pattern += re.escape(written[pos:])
    if not names:
        return {}
    found = re.fullmatch(pattern, resolved)
    return {n: (found.group(f"v{i}") if found else None) for i, n in enumerate(names)}


def normalise_image(ref: str | None) -> str:
    """`nginx` -> `docker.io/library/nginx:latest`; a digest is kept."""
    from tools.dockerfile import parse_image_ref

    if not ref:
        return ""
    parsed = parse_image_ref(ref)
    if not parsed.valid:
        return ref
    out = f"{parsed.registry}/{parsed.repository}"
    if parsed.tag or not parsed.digest:
        out += f":{parsed.tag or 'latest'}"
    return out + (f"@{parsed.digest}" if parsed.digest else "")


# ---------------------------------------------------------------- what runs

@dataclass
class LogLine:
    time: str  # as the engine stamped it (RFC 3339, UTC)
    text: str  # redacted


@dataclass
class Observed:
    """One container of the project as the engine reports it (inspect, logs, events, one stats snapshot)."""

    id: str
    name: str
    service: str
    status: str
    running: bool
    restarting: bool
    exit_code: int | None
    oom_killed: bool
    error: str
    restart_count: int
    restart_policy: str
    started_at: str
    finished_at: str
    health: str | None
    health_log: list[dict]
    image_ref: str  # Config.Image: what it was started from
    image_id: str
    image_tags: list[str]
    host_ports: list[str]  # `8080/tcp` bound on the host
    memory_limit: int
    created: str
    logs: list[LogLine] = field(default_factory=list)
    exits: list[tuple[str, int]] = field(default_factory=list)  # die events in the window: (time, exit code)
    oom_events: int = 0
    memory_usage: int | None = None

    @property
    def up(self) -> bool:
        return self.running and not self.restarting

    def summary(self) -> dict:
        return {"container": self.name, "id": self.id[:12], "status": self.status, "health": self.health,
                "restarts": self.restart_count, "exit_code": self.exit_code, "oom_killed": self.oom_killed,
                "image": self.image_ref, "image_id": self.image_id[:19], "started_at": self.started_at,
                "finished_at": self.finished_at}


def _host_ports(attrs: dict) -> list[str]:
    bound = set()
    for container_port, bindings in ((attrs.get("HostConfig") or {}).get("PortBindings") or {}).items():
        proto = container_port.split("/", 1)[1] if "/" in container_port else "tcp"
        for b in bindings or []:
            if b.get("HostPort"):
                bound.add(f"{b['HostPort']}/{proto}")
    for container_port, bindings in ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).items():
        proto = container_port.split("/", 1)[1] if "/" in container_port else "tcp"
        for b in bindings or []:
            if b.get("HostPort"):
                bound.add(f"{b['HostPort']}/{proto}")
    return sorted(bound)


def _secret_values(attrs: dict) -> list[str]:
    """Values of the container's env vars that are secrets (tools/facts/secrets.py): scrubbed from what is quoted."""
    from tools.facts.secrets import is_masked

    out = []
    for item in (attrs.get("Config") or {}).get("Env") or []:
        name, _, value = str(item).partition("=")
        if len(value) >= 4 and is_masked(name, value):
            out.append(value)
    return out


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """tools/'s own redaction of a quoted line: known secret values, then what tools/facts/secrets.py finds by
    shape (`DB_PASSWORD=…`, URL credentials, `-p…`, tokens); the front ends pass their session redactor on top."""
    from tools.compose import REDACTED
    from tools.facts.secrets import replace_secrets

    for value in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return replace_secrets(text, lambda _: REDACTED)


@dataclass
class Observation:
    engine: dict
    containers: list[Observed]  # of the project
    others: list[dict]  # every other container: name, project, service, status, host_ports
    projects: dict[str, list[str]]  # compose project -> its services, as labelled on the engine
    images: dict[str, dict | None]  # expected reference -> {id, tags} or None when absent


def observe(engine: ReadOnly, project: str, expected: dict[str, Expected], since: float, until: float,
            services: set[str] | None = None, redact: Callable[[str], str] | None = None,
            tail: int = LOG_TAIL) -> Observation:
    """Read what the engine runs, for `project` (and every container, for ports and other projects)."""
    from docker.errors import APIError, InvalidVersion, NotFound

    version = engine.version()
    engine_info: dict[str, Any] = {"version": version.get("Version"), "api_version": version.get("ApiVersion"),
                                   "os": version.get("Os"), "arch": version.get("Arch")}
    try:
        df = engine.df()
        engine_info["disk"] = {"images": len(df.get("Images") or []), "containers": len(df.get("Containers") or []),
                               "volumes": len(df.get("Volumes") or []), "layers_bytes": df.get("LayersSize")}
    except APIError as exc:
        engine_info["disk"] = {"error": _short(exc)}
    mine: list[Observed] = []
    others: list[dict] = []
    projects: dict[str, list[str]] = {}
    for c in engine.containers.list(all=True):
        attrs = c.attrs
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        proj, svc = labels.get(PROJECT_LABEL), labels.get(SERVICE_LABEL)
        if proj and svc:
            projects.setdefault(proj, [])
            if svc not in projects[proj]:
                projects[proj].append(svc)
        name = str(attrs.get("Name") or "").lstrip("/")
        state = attrs.get("State") or {}
        if proj != project or not svc or labels.get(ONEOFF_LABEL, "False") == "True" or \
                (services and svc not in services):
            others.append({"name": name, "project": proj, "service": svc, "status": state.get("Status"),
                           "running": bool(state.get("Running")), "host_ports": _host_ports(attrs)})
            continue
        health = state.get("Health") or None
        secrets = _secret_values(attrs)
        quoted = (lambda text, s=secrets: redact(scrub(text, s)) if redact else scrub(text, s))
        obs = Observed(
            id=str(attrs.get("Id")), name=name, service=svc, status=str(state.get("Status") or ""),
            running=bool(state.get("Running")), restarting=bool(state.get("Restarting")),
            exit_code=state.get("ExitCode"), oom_killed=bool(state.get("OOMKilled")),
            error=quoted(str(state.get("Error") or "")), restart_count=int(attrs.get("RestartCount") or 0),
            restart_policy=str(((attrs.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or "no"),
            started_at=str(state.get("StartedAt") or ""), finished_at=str(state.get("FinishedAt") or ""),
            health=health.get("Status") if health else None,
            health_log=[{"start": h.get("Start"), "exit_code": h.get("ExitCode"),
                         "output": quoted(str(h.get("Output") or "").strip())}
                        for h in (health.get("Log") or [])[-HEALTH_OUTPUTS:]] if health else [],
            image_ref=str((attrs.get("Config") or {}).get("Image") or ""), image_id=str(attrs.get("Image") or ""),
            image_tags=[], host_ports=_host_ports(attrs),
            memory_limit=int((attrs.get("HostConfig") or {}).get("Memory") or 0),
            created=str(attrs.get("Created") or ""))
        try:
            obs.image_tags = list(c.image.tags)
        except (NotFound, APIError):
            obs.image_tags = []
        obs.logs = _logs(c, obs, since, until, tail, quoted)
        if obs.up:
            try:
                stats = c.stats(stream=False, one_shot=True)
            except InvalidVersion:  # one_shot needs API 1.41: an older engine samples twice
                stats = c.stats(stream=False)
            except APIError:
                stats = {}
            obs.memory_usage = (stats.get("memory_stats") or {}).get("usage")
        mine.append(obs)
    _events(engine, project, since, until, mine)
    images: dict[str, dict | None] = {}
    for exp in expected.values():
        if exp.image and exp.image not in images and (not services or exp.name in services):
            try:
                img = engine.images.get(exp.image)
                images[exp.image] = {"id": img.id, "tags": list(img.tags)}
            except (NotFound, APIError):
                images[exp.image] = None
    return Observation(engine_info, mine, others, projects, images)


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT[\d:.]+Z?)\s?(.*)$")


def _logs(c: ReadOnly, obs: Observed, since: float, until: float, tail: int,
          quoted: Callable[[str], str]) -> list[LogLine]:
    """The last lines: within the window for a running container; before it stopped for one that is down."""
    from docker.errors import APIError

    kwargs: dict[str, Any] = {"stdout": True, "stderr": True, "timestamps": True, "tail": tail, "until": until}
    if obs.up:
        kwargs["since"] = since
    try:
        raw = c.logs(**kwargs)
    except APIError:
        return []
    out = []
    for line in raw.decode("utf-8", "replace").splitlines():
        m = _STAMP.match(line)
        stamp, text = (m.group(1), m.group(2)) if m else ("", line)
        if text.strip():
            out.append(LogLine(stamp, quoted(text.rstrip())))
    return out


def _events(engine: ReadOnly, project: str, since: float, until: float, mine: list[Observed]) -> None:
    by_id = {o.id: o for o in mine}
    stream = engine.events(since=since, until=until, decode=True,
                           filters={"type": "container", "label": f"{PROJECT_LABEL}={project}"})
    for event in stream:
        obs = by_id.get(event.get("id") or (event.get("Actor") or {}).get("ID"))
        if obs is None:
            continue
        action = str(event.get("Action") or event.get("status") or "")
        when = _iso(event["timeNano"] / 1e9) if event.get("timeNano") else str(event.get("time", ""))
        if action == "die":
            code = ((event.get("Actor") or {}).get("Attributes") or {}).get("exitCode")
            obs.exits.append((when, int(code) if str(code).lstrip("-").isdigit() else -1))
        elif action == "oom":
            obs.oom_events += 1


# ---------------------------------------------------------------- findings

@dataclass(frozen=True)
class Kind:
    id: str
    title: str
    severity: str
    category: str
    score: int  # how likely the cause (higher first); see docs/diagnose.md
    remediation: str


KINDS: dict[str, Kind] = {k.id: k for k in (
    Kind("DIAG001", "Service has no container", "high", "availability", 55,
         "Check whether it was ever started in this project (`docker compose -p PROJECT ps -a`) or runs under another "
         "project name (--project); start it with `docker compose -p PROJECT -f FILES up -d SERVICE`."),
    Kind("DIAG002", "Service is not running", "high", "availability", 50,
         "Read the exit code and the quoted log lines, fix the cause (command, image, configuration), then "
         "`docker compose -p PROJECT -f FILES up -d SERVICE`."),
    Kind("DIAG003", "Crash loop", "high", "availability", 75,
         "Fix what the logs and exit codes show; while investigating, the restart policy keeps retrying: "
         "`docker update --restart=no CONTAINER` stops the loop (a change: propose it)."),
    Kind("DIAG004", "Killed for lack of memory (OOM)", "high", "availability", 95,
         "Raise the service's memory limit (`mem_limit` or `deploy.resources.limits.memory`) in the compose file, "
         "or find what grows (a leak, a batch too large); a proposal can carry the new limit."),
    Kind("DIAG005", "Health check failing", "high", "availability", 70,
         "Read the health-check outputs: fix the service, or the check (its command, `start_period`, `interval`) "
         "in the compose file if the check is wrong."),
    Kind("DIAG006", "Image or tag differs from the compose model", "medium", "consistency", 45,
         "Deploy what the model says (`docker compose -p PROJECT -f FILES pull SERVICE && ... up -d SERVICE`), or "
         "fix the env value that chose the tag; recreate the container when the tag moved."),
    Kind("DIAG007", "Port conflict", "high", "availability", 88,
         "Free the host port (stop the other container or process) or publish the service on another port in "
         "the compose file."),
    Kind("DIAG008", "Up while a dependency is down", "medium", "availability", 40,
         "Repair the dependency first (its own findings rank above); then restart this service so it reconnects. "
         "`depends_on: condition: service_healthy` only orders start-up, it does not stop a running service."),
    Kind("DIAG009", "Logs explain a crash", "high", "availability", 60,
         "Act on the quoted lines: set the missing variable, free the address, start the dependency, or fix the "
         "code path in the traceback."),
)}
ROOT_CAUSE_BONUS = 15  # a failing service others depend on: its causes rank above theirs

EXIT_CODES = {
    0: "exited normally (a one-shot task, or stopped cleanly)",
    1: "the application failed (an uncaught error: see the logs)",
    2: "misuse of a shell builtin or a command-line usage error",
    125: "the container could not be run (the engine refused the configuration)",
    126: "the command was found but cannot be executed (permissions, not executable, wrong architecture)",
    127: "the command was not found (a binary missing from the image, a wrong entrypoint or PATH)",
    130: "interrupted (SIGINT)",
    134: "aborted (SIGABRT)",
    137: "killed with SIGKILL (OOM killer, `docker kill`, or a stop that timed out)",
    139: "segmentation fault (SIGSEGV)",
    143: "stopped with SIGTERM (`docker stop`, `compose down` or a redeploy): usually not a crash",
}


def explain_exit(code: int | None, oom_killed: bool = False) -> str:
    if code is None:
        return "no exit code"
    if code == 137 and oom_killed:
        return "killed by the kernel's OOM killer: the container hit its memory limit"
    if code in EXIT_CODES:
        return EXIT_CODES[code]
    if code > 128:
        return f"killed by signal {code - 128}"
    return "the application exited with an error (see the logs)"


# Log lines that explain a crash: kind -> (pattern, what it means, score bonus over DIAG009's).
LOG_PATTERNS: tuple[tuple[str, re.Pattern, str, int], ...] = (
    ("missing-env", re.compile(r"KeyError: ['\"]?[A-Z][A-Z0-9_]+['\"]?|environment variable\s+\S+\s+(?:is\s+)?"
                               r"(?:not set|missing|required|undefined)|missing (?:required )?env(?:ironment)? var"
                               r"|\b[A-Z][A-Z0-9_]{2,} (?:is )?(?:not set|must be set|is required)", re.I),
     "a required environment variable is missing", 25),
    ("address-in-use", re.compile(r"address already in use|EADDRINUSE|port is already allocated"
                                  r"|bind(?:\(\))?: .*in use", re.I),
     "the port the process binds is taken", 28),
    ("connection-refused", re.compile(r"connection refused|ECONNREFUSED|could not connect to|can't connect to"
                                      r"|Name or service not known|getaddrinfo .*(?:ENOTFOUND|EAI_AGAIN)", re.I),
     "a dependency (database, broker, API) does not answer", 5),
    ("not-found", re.compile(r"(?:exec|sh|bash|/bin/\w+): .*(?:not found|No such file or directory)"
                             r"|executable file not found", re.I),
     "the command or a file it needs is missing from the image", 20),
    ("out-of-memory", re.compile(r"out of memory|Cannot allocate memory|heap out of memory|MemoryError", re.I),
     "the process ran out of memory", 20),
    ("permission", re.compile(r"permission denied|EACCES|Operation not permitted", re.I),
     "a file or socket is not accessible to the process's user", 10),
    ("traceback", re.compile(r"Traceback \(most recent call last\)|^\s*panic:|Unhandled exception"
                             r"|Exception in thread|^\s*(?:Uncaught )?[A-Z]\w*(?:Error|Exception)\b[:(]", re.I),
     "the application crashed with an uncaught error", 0),
)


@dataclass
class Cause:
    """A probable cause: a finding like the review's, the service it concerns, its evidence, its rank."""

    finding: Finding
    service: str
    evidence: list[str]
    score: int
    rank: int = 0

    def to_dict(self) -> dict:
        return {"rank": self.rank, "service": self.service, **self.finding.to_dict(), "evidence": self.evidence}


@dataclass
class Diagnosis:
    host: str
    env: str
    project: str
    since: float
    until: float
    engine: dict
    services: list[dict]
    causes: list[Cause]
    notes: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not any(c.finding.severity in ("blocker", "high") for c in self.causes)

    def to_dict(self) -> dict:
        return {"host": self.host, "env": self.env, "project": self.project,
                "window": {"since": _iso(self.since), "until": _iso(self.until)}, "engine": self.engine,
                "read_only": True, "services": self.services, "causes": [c.to_dict() for c in self.causes],
                "notes": self.notes}


def _cause(kind_id: str, service: str, title: str, location: Location, evidence: list[str], detail: str = "",
           score: int | None = None, severity: str | None = None, remediation: str | None = None) -> Cause:
    kind = KINDS[kind_id]
    finding = Finding(kind_id, severity or kind.severity, kind.category, title, [location] if location.path else [],
                      clause="diagnose", remediation=remediation or kind.remediation, detail=detail)
    return Cause(finding, service, evidence, kind.score if score is None else score)


def _quote(line: LogLine) -> str:
    return f"{line.time} {line.text}" if line.time else line.text


def _log_causes(exp: Expected, obs: Observed, failing: bool) -> list[Cause]:
    """The crash's own words: the last lines matching each pattern (a traceback with its final error line)."""
    out = []
    for kind, pattern, meaning, bonus in LOG_PATTERNS:
        hits = [i for i, line in enumerate(obs.logs) if pattern.search(line.text)]
        if not hits:
            continue
        quoted: list[str] = []
        last_of: dict[str, int] = {}  # the same line repeated by each restart: its last occurrence
        for i in hits:
            last_of[obs.logs[i].text] = i
        for i in sorted(last_of.values())[-QUOTED_LINES:]:
            quoted.append(_quote(obs.logs[i]))
            if kind == "traceback" and "Traceback" in obs.logs[i].text:
                last = next((obs.logs[j] for j in range(i + 1, len(obs.logs))
                             if obs.logs[j].text[:1] not in (" ", "\t") and obs.logs[j].text.strip()), None)
                if last is not None and _quote(last) not in quoted:
                    quoted.append(_quote(last))
        out.append(_cause("DIAG009", exp.name, f"{exp.name}: logs show {meaning} ({kind})", exp.location,
                          [f"{obs.name}: {q}" for q in quoted[-QUOTED_LINES - 1:]],
                          detail=f"{len(hits)} matching line(s) among the last {len(obs.logs)}",
                          score=KINDS["DIAG009"].score + bonus, severity="high" if failing else "medium"))
        if kind == "traceback" and any(c.finding.title.endswith("(missing-env)") for c in out):
            out.pop()  # the KeyError already says it
    return out


def _service_causes(exp: Expected, containers: list[Observed], project: str, obs_all: Observation) -> list[Cause]:
    out: list[Cause] = []
    name = exp.name
    if not containers:
        elsewhere = sorted(p for p, svcs in obs_all.projects.items() if name in svcs and p != project)
        evidence = [f"no container labelled {PROJECT_LABEL}={project}, {SERVICE_LABEL}={name}"]
        if elsewhere:
            evidence.append(f"a service {name!r} runs under project(s): {', '.join(elsewhere)} (--project?)")
        out.append(_cause("DIAG001", name, f"{name}: no container of project {project}", exp.location, evidence,
                          detail=f"the model expects image {exp.image or '(build)'}"))
        return out
    for obs in containers:
        failing = not obs.up or obs.health == "unhealthy" or obs.restart_count > 0
        codes = [code for _, code in obs.exits]
        limit = f"{obs.memory_limit // (1024 * 1024)} MiB" if obs.memory_limit else "no container limit (host memory)"
        if obs.oom_killed or obs.oom_events:
            out.append(_cause("DIAG004", name, f"{name}: {obs.name} was killed for lack of memory", exp.location,
                              [f"State.OOMKilled={obs.oom_killed}, exit code {obs.exit_code}",
                               f"memory limit: {limit}", *([f"{obs.oom_events} oom event(s) in the window"]
                                                           if obs.oom_events else [])],
                              detail=explain_exit(137, True)))
        elif not obs.running and obs.exit_code == 137 and obs.memory_limit:
            # the engine can miss the kernel's OOM notice (cgroup v1): SIGKILL under a limit is the likely story
            out.append(_cause("DIAG004", name, f"{name}: {obs.name} was probably killed for lack of memory",
                              exp.location,
                              ["State.OOMKilled=False, exit code 137 (SIGKILL), no oom event in the window",
                               f"memory limit: {limit}"],
                              detail="SIGKILL under a memory limit; the engine may miss the kernel's OOM notice, "
                                     "or something ran `docker kill`", score=80))
        crash_loop = obs.restarting or (obs.restart_count >= 2) or len([c for c in codes if c != 0]) >= 2
        if crash_loop:
            last = ", ".join(str(c) for c in codes[-5:]) or str(obs.exit_code)
            code = codes[-1] if codes else obs.exit_code  # a restarted container reports 0 while it runs
            out.append(_cause("DIAG003", name, f"{name}: {obs.name} is crash-looping ({obs.restart_count} restarts)",
                              exp.location,
                              [f"RestartCount={obs.restart_count}, restart policy {obs.restart_policy}, "
                               f"status {obs.status}", f"last exit codes: {last}",
                               f"exit {code}: {explain_exit(code, obs.oom_killed)}"],
                              detail=f"{len(codes)} exit(s) in the window"))
        elif not obs.running:
            code = obs.exit_code
            never = obs.status == "created"
            evidence = [f"status {obs.status}, exit code {code}, finished {obs.finished_at or '-'}"]
            if obs.error:
                evidence.append(f"engine: {obs.error}")
            score = {127: 92, 126: 90, 125: 85, 139: 70, 137: 60, 1: 50, 143: 25, 0: 20}.get(code or 0, 50)
            if never and obs.error:
                score = max(score, 90)
            what = "never started" if never else f"exited with {code}"
            out.append(_cause("DIAG002", name, f"{name}: {obs.name} {what}: {explain_exit(code, obs.oom_killed)}",
                              exp.location, evidence, detail=explain_exit(code, obs.oom_killed), score=score,
                              severity="medium" if code in (0, 143) and not never else None))
        if obs.health == "unhealthy":
            outputs = [f"{h['start']}: exit {h['exit_code']}: {h['output'] or '(no output)'}" for h in obs.health_log]
            out.append(_cause("DIAG005", name, f"{name}: {obs.name} is unhealthy", exp.location,
                              outputs or ["State.Health.Status=unhealthy"],
                              detail="the last health-check outputs, oldest first"))
        want = normalise_image(exp.image)
        have = normalise_image(obs.image_ref)
        if want and have and want != have:
            used = ", ".join(f"{k}={v if v is not None else '?'}" for k, v in exp.variables.items())
            out.append(_cause("DIAG006", name, f"{name}: runs {obs.image_ref}, the model says {exp.image}",
                              exp.location,
                              [f"container {obs.name}: Config.Image={obs.image_ref} ({obs.image_id[:19]})",
                               f"model: image {exp.image}" + (f" (written {exp.written}; {used})" if used else "")],
                              detail="the tag was chosen by " + (used or "the compose file as written"),
                              score=KINDS["DIAG006"].score + (20 if failing else 0)))
        elif want and want == have and obs_all.images.get(exp.image) and \
                obs_all.images[exp.image]["id"] != obs.image_id:
            out.append(_cause("DIAG006", name, f"{name}: {exp.image} now names another image than the one running",
                              exp.location,
                              [f"container {obs.name} runs {obs.image_id[:19]}",
                               f"{exp.image} is {obs_all.images[exp.image]['id'][:19]} on the engine"],
                              detail="the tag moved (a pull or a build) and the container was not recreated",
                              score=35, severity="low"))
        out += _log_causes(exp, obs, failing)
        if obs.error and re.search(r"port is already allocated|address already in use", obs.error, re.I):
            out.append(_cause("DIAG007", name, f"{name}: {obs.name} could not bind its host port", exp.location,
                              [f"engine: {obs.error}"]))
    return out


def _port_causes(expected: dict[str, Expected], mine: list[Observed], others: list[dict],
                 services: set[str] | None) -> list[Cause]:
    holders: dict[str, list[tuple[str, str, bool]]] = {}  # host port -> (container, service or '', running)
    for o in mine:
        for p in o.host_ports:
            holders.setdefault(p, []).append((o.name, o.service, o.running))
    for o in others:
        for p in o["host_ports"]:
            holders.setdefault(p, []).append((o["name"], "", o["running"]))
    out = []
    for exp in expected.values():
        if services and exp.name not in services:
            continue
        for port in exp.ports:
            claim = holders.get(port, [])
            alive = [h for h in claim if h[2]]
            foreign = [h for h in alive if h[1] != exp.name]
            if len(alive) >= 2 or (foreign and not any(h[1] == exp.name and h[2] for h in claim)):
                out.append(_cause("DIAG007", exp.name, f"{exp.name}: host port {port} is claimed by "
                                  f"{len(claim)} containers", exp.location,
                                  [f"{n} ({'running' if r else 'not running'})" + (f", service {s}" if s else "")
                                   for n, s, r in claim],
                                  detail=f"the model publishes {port} for {exp.name}; only one process can bind it"))
    return out


def _dependency_causes(expected: dict[str, Expected], by_service: dict[str, list[Observed]],
                       services: set[str] | None) -> tuple[list[Cause], set[str]]:
    out, roots = [], set()
    for exp in expected.values():
        if services and exp.name not in services:
            continue
        if not any(o.up for o in by_service.get(exp.name, [])):
            continue
        for dep, condition in exp.depends_on.items():
            deps = by_service.get(dep, [])
            state = ("missing" if not deps else "not running" if not any(o.up for o in deps)
                     else "unhealthy" if any(o.health == "unhealthy" for o in deps) else None)
            if state is None:
                continue
            roots.add(dep)
            what = "database " if _looks_like_db(expected.get(dep)) else ""
            out.append(_cause("DIAG008", exp.name, f"{exp.name} is up while its {what}dependency {dep} is {state}",
                              exp.location,
                              [f"{exp.name}: depends_on {dep} (condition {condition})",
                               f"{dep}: " + (", ".join(f"{o.name} {o.status}" + (f" ({o.health})" if o.health else "")
                                                       for o in deps) or "no container")]))
    return out, roots


def _looks_like_db(exp: Expected | None) -> bool:
    text = f"{exp.name} {exp.image or ''}".lower() if exp else ""
    return bool(re.search(r"mysql|mariadb|postgres|\bdb\b|database|mongo|redis|sqlserver|mssql", text))


def diagnose(engine: ReadOnly, project: Any, env: str, *, host: str, project_name: str | None = None,
             service: str | None = None, since: float, until: float | None = None,
             redact: Callable[[str], str] | None = None) -> Diagnosis:
    """Compare what `engine` runs for the compose project with its model (a tools/compose.py ComposeProject)
    and rank the probable causes. `redact` is the front end's redactor, applied to every quoted line."""
    until = time.time() if until is None else until
    expected = expected_services(project)
    if service is not None and service not in expected:
        raise UserError(f"no service {service!r} in {env}", f"use one of: {', '.join(expected) or 'none'}")
    name = project_name or project_name_of(project)
    only = {service} if service else None
    obs = observe(engine, name, expected, since, until, only, redact)
    by_service: dict[str, list[Observed]] = {}
    for o in obs.containers:
        by_service.setdefault(o.service, []).append(o)
    causes: list[Cause] = []
    for exp in expected.values():
        if only and exp.name not in only:
            continue
        causes += _service_causes(exp, by_service.get(exp.name, []), name, obs)
    causes += _port_causes(expected, obs.containers, obs.others, only)
    deps, roots = _dependency_causes(expected, by_service, only)
    causes += deps
    for c in causes:
        if c.service in roots and c.finding.id != "DIAG008":
            c.score += ROOT_CAUSE_BONUS
    causes.sort(key=lambda c: (-c.score, SEVERITIES.index(c.finding.severity), c.service, c.finding.id))
    for i, c in enumerate(causes, 1):
        c.rank = i
    notes = []
    unknown = sorted(set(by_service) - set(expected))
    if unknown:
        notes.append(f"containers of project {name} for services the model does not have: {', '.join(unknown)}")
    if not obs.containers and obs.projects:
        notes.append(f"no container of project {name}; compose projects on the engine: "
                     f"{', '.join(sorted(obs.projects))} (pass --project)")
    rows = []
    for exp in expected.values():
        if only and exp.name not in only:
            continue
        rows.append({"service": exp.name, "expected_image": exp.image, "written": exp.written,
                     "variables": exp.variables, "ports": exp.ports, "depends_on": exp.depends_on,
                     "containers": [o.summary() for o in by_service.get(exp.name, [])]})
    return Diagnosis(host=host, env=env, project=name, since=since, until=until, engine=obs.engine,
                     services=rows, causes=causes, notes=notes)


def project_name_of(project: Any) -> str:
    """The project name as Compose defaults it: the model's `name:`, else the project directory's basename,
    lowercased, only [a-z0-9_-]."""
    if getattr(project, "name", ""):
        return str(project.name)
    base = os.path.basename(os.path.abspath(str(project.project_dir))).lower()
    return re.sub(r"[^a-z0-9_-]", "", base).lstrip("_-") or "default"


# ---------------------------------------------------------------- text and markdown

def to_text(d: Diagnosis) -> str:
    """Plain text for a terminal: untrusted text (log lines, engine errors) has its control characters shown."""
    e = escape_terminal
    lines = [f"Diagnosis of {d.project} ({d.env}) on {d.host}, engine {d.engine.get('version')}, "
             f"window {_iso(d.since)[:19]}Z .. {_iso(d.until)[:19]}Z (read-only)", ""]
    for row in d.services:
        states = ", ".join(f"{c['container']} {c['status']}" + (f"/{c['health']}" if c['health'] else "")
                           + (f" restarts={c['restarts']}" if c["restarts"] else "") for c in row["containers"])
        lines.append(f"  {row['service']:<20} {e(states or 'no container')}   expects {row['expected_image']}")
    lines.append("")
    if not d.causes:
        lines.append("No probable cause found: every service runs as the model says.")
    for c in d.causes:
        f = c.finding
        lines.append(f"{c.rank}. [{f.severity}] {f.id} {e(f.title)}")
        if f.detail:
            lines.append(f"   {e(f.detail)}")
        lines += [f"   > {e(ev)}" for ev in c.evidence]
        lines.append(f"   remediation: {f.remediation}")
    lines += [f"note: {e(n)}" for n in d.notes]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return escape_terminal(text).replace("|", "\\|").replace("`", "'")


def to_markdown(d: Diagnosis) -> str:
    out = [f"# Diagnosis: {_md(d.project)} ({_md(d.env)})", "",
           f"Engine `{_md(d.host)}` ({d.engine.get('version')}), window {_iso(d.since)} to {_iso(d.until)}. "
           "Read-only: nothing was changed.", "",
           "| service | containers | expected image |", "| --- | --- | --- |"]
    for row in d.services:
        states = ", ".join(f"{c['container']} {c['status']}" + (f"/{c['health']}" if c['health'] else "")
                           for c in row["containers"]) or "no container"
        out.append(f"| {_md(row['service'])} | {_md(states)} | `{_md(str(row['expected_image']))}` |")
    out += ["", "## Probable causes, most likely first", ""]
    if not d.causes:
        out.append("None: every service runs as the model says.")
    for c in d.causes:
        f = c.finding
        out += [f"{c.rank}. **{f.severity}** `{f.id}` {_md(f.title)}"]
        if f.detail:
            out.append(f"   - {_md(f.detail)}")
        out += [f"   - `{_md(ev)}`" for ev in c.evidence]
        out.append(f"   - remediation: {_md(f.remediation)}")
    if d.notes:
        out += ["", *[f"- {_md(n)}" for n in d.notes]]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- one entry for every front end

def select_environment(platform: Any, env: str | None) -> Any:
    """The environment to diagnose: `env`, else `prod`, else the only production-like one, else the only one."""
    envs = platform.environments
    if env is None:
        prods = [e.name for e in platform.prod_envs()]
        env = "prod" if "prod" in envs else prods[0] if len(prods) == 1 else next(iter(envs)) if len(envs) == 1 \
            else None
        if env is None:
            raise UserError("which environment runs on this engine?",
                            f"pass --env with one of: {', '.join(envs) or 'none'}")
    chosen = envs.get(env)
    if chosen is None:
        raise UserError(f"unknown environment {env!r}",
                        f"use one of: {', '.join(envs) or 'none'} (`devops-agent sources` shows where each comes from)")
    if chosen.error is not None:
        raise chosen.error
    return chosen


def diagnose_platform(platform: Any, env: str | None = None, *, host: str | None = None,
                      project_name: str | None = None, service: str | None = None, since: str = DEFAULT_SINCE,
                      redact: Callable[[str], str] | None = None,
                      connect_to: Callable[[str | None], ReadOnly] = connect) -> Diagnosis:
    """Check the input (environment, service, window) first, then read the engine and diagnose."""
    chosen = select_environment(platform, env)
    if service is not None and service not in chosen.services:
        raise UserError(f"no service {service!r} in {chosen.name}",
                        f"use one of: {', '.join(chosen.services) or 'none'}")
    start = parse_since(since)
    now = time.time()
    if start >= now:
        raise UserError(f"--since {since!r} is not in the past", "use a duration such as 30m or an earlier time")
    budget = engine_budget()

    def read() -> Diagnosis:
        engine = connect_to(host)
        try:
            return diagnose(engine, chosen.project, chosen.name, host=engine_host(host), project_name=project_name,
                            service=service, since=start, until=now, redact=redact)
        finally:
            engine.close()

    try:  # a read timeout restarts at every byte: the whole read gets one wall-clock budget
        return within(budget, read)
    except Overdue:
        raise EngineUnavailable(f"the Docker engine at {engine_host(host)} did not answer within {budget:g} s (1 try); "
                                f"{BUDGET_ENV} sets the wait", "check the engine (docker info) or raise the wait, "
                                f"e.g. {BUDGET_ENV}=300") from None


def engine_budget() -> float:
    """Seconds of wall clock for the whole engine read of one diagnosis ($DEVOPS_AGENT_DOCKER_TIMEOUT)."""
    raw = os.environ.get(BUDGET_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_BUDGET
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise UserError(f"{BUDGET_ENV}={raw!r} is not a number of seconds", f"e.g. {BUDGET_ENV}=120")
    return value
