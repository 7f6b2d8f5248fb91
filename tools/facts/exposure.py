"""What opens a service to the outside or to the host: database admin UIs, loopback addresses, the host gateway.

- Tool UIs without a login of their own (`UNAUTHENTICATED_UI_IMAGES`): Prometheus, Alertmanager, Pushgateway,
  MailHog, MailCatcher, Mailpit, Jaeger: whoever reaches them reads metrics, traces or caught mail.
- Management APIs without a login that answer on ports of their own (`MANAGEMENT_API_IMAGES`): Kong's Admin
  API and Manager, Logstash's monitoring API, cAdvisor, Consul's HTTP API and UI: whoever reaches the port
  reconfigures the gateway or reads the host's containers. Only those ports count (Kong's proxy port is public).
- Database admin UIs: web front ends that log in to a database (adminer, phpMyAdmin, pgAdmin, mongo-express,
  redis-commander, RedisInsight, kafka-ui, Kafdrop, AKHQ, pgweb, CloudBeaver, DbGate, sqlpad), known by their
  image repositories (`ADMIN_UI_IMAGES`, matched on the repository's last component, any registry).
- A port published on a loopback address (127.0.0.1, ::1, localhost) is reachable from the host only; any other
  address, or none (Docker's 0.0.0.0), faces the network.
- `host.docker.internal` resolves by itself on Docker Desktop only; a Linux engine needs the service to map it,
  `extra_hosts: ["host.docker.internal:host-gateway"]`.
"""
from __future__ import annotations

import re

# Repository last component -> the product's name as people say it.
ADMIN_UI_IMAGES: dict[str, str] = {
    "adminer": "Adminer",
    "phpmyadmin": "phpMyAdmin",
    "pgadmin4": "pgAdmin",
    "pgadmin": "pgAdmin",
    "mongo-express": "mongo-express",
    "redis-commander": "Redis Commander",
    "redisinsight": "RedisInsight",
    "kafka-ui": "Kafka UI",
    "kafdrop": "Kafdrop",
    "akhq": "AKHQ",
    "pgweb": "pgweb",
    "cloudbeaver": "CloudBeaver",
    "dbgate": "DbGate",
    "sqlpad": "SQLPad",
}

# Tool UIs that answer anyone who reaches them (no login of their own): metrics, traces, caught mail.
UNAUTHENTICATED_UI_IMAGES: dict[str, str] = {
    "prometheus": "Prometheus",
    "alertmanager": "Alertmanager",
    "pushgateway": "Pushgateway",
    "mailhog": "MailHog",
    "mailcatcher": "MailCatcher",
    "mailpit": "Mailpit",
    "jaegertracing/all-in-one": "Jaeger",  # owner/name where the name alone says nothing
    "jaeger-query": "Jaeger",
}

# Management APIs that answer on ports of their own with no login: repository last component -> (what, its ports).
MANAGEMENT_API_IMAGES: dict[str, tuple[str, tuple[int, ...]]] = {
    "kong": ("Kong's Admin API", (8001, 8444, 8002, 8445)),
    "kong-gateway": ("Kong's Admin API", (8001, 8444, 8002, 8445)),
    "logstash": ("Logstash's monitoring API", (9600,)),
    "cadvisor": ("cAdvisor (every container of the host)", (8080,)),
    "consul": ("Consul's HTTP API and UI", (8500,)),
}

# The engine's socket: whoever talks to it starts a privileged container with the host's / mounted, i.e. is root on
# the host (`:ro` on the mount changes nothing: the API is still writable through it).
DOCKER_SOCKETS = frozenset({"/var/run/docker.sock", "/run/docker.sock", "/var/run/podman/podman.sock",
                            "/run/podman/podman.sock"})
# Tools whose job is to drive or watch the engine: the socket is their purpose (a proxy's discovery, an updater, a
# log or metrics collector, a CI runner, a container manager). Repository last component, any registry.
DOCKER_TOOLS = frozenset({
    "traefik", "nginx-proxy", "docker-gen", "acme-companion", "letsencrypt-nginx-proxy-companion", "watchtower",
    "portainer", "portainer-ce", "portainer-ee", "agent", "cadvisor", "promtail", "alloy", "grafana-agent", "dozzle",
    "autoheal", "docker-autoheal", "docker-socket-proxy", "socket-proxy", "ouroboros", "diun", "homepage",
    "uptime-kuma", "netdata", "datadog-agent", "agent-dev", "filebeat", "metricbeat", "vector", "fluent-bit",
    "logspout", "gitlab-runner", "woodpecker-agent", "drone-runner-docker", "actions-runner", "github-runner",
    "coolify", "coolify-helper", "dockge", "yacht", "komodo", "periphery", "registrator", "swarmpit", "caddy-docker-proxy",
    "otel-collector", "opentelemetry-collector", "opentelemetry-collector-contrib", "telegraf", "beszel-agent",
    "glances", "docker", "dind", "dockerd"})


def docker_socket_mount(volumes) -> str | None:
    """The engine socket a service mounts (`/var/run/docker.sock:/var/run/docker.sock`, a bind whose source is the
    socket), or None."""
    for vol in volumes or []:
        if isinstance(vol, dict):
            source = str(vol.get("source") or "")
        else:
            source = str(vol).split(":", 1)[0]
        if source.rstrip("/") in DOCKER_SOCKETS:
            return source.rstrip("/")
    return None


def image_basename(image: str | None) -> str:
    """An image's repository's last component, lower case, whatever the registry, tag or digest
    (`ghcr.io/acme/Kong:3.7@sha256:…` -> `kong`); "" for none."""
    return str(image or "").split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0].lower()


# Words of an image or service name that say its job is to run or watch containers (a job runner, a scheduler of
# `docker exec`, a connector manager, a proxy generator): the socket is its purpose.
_ENGINE_JOB = re.compile(r"runner|executor|agent|composer|manager|mastercontainer|cron|ofelia|scheduler|-gen\b|gen$|proxy|"
                         r"watch|monitor|exporter|collector|backup|deploy|orchestr|supervis|docker|dind", re.I)


def is_docker_tool(image: str | None, service: str | None = None) -> bool:
    """The image is a tool whose job is the engine itself (`traefik:v3.2`, `containrrr/watchtower`), or its name or
    the service's says it runs or watches containers (`executor`, `mastercontainer`, `caddy-gen`, `cron`)."""
    last = image_basename(image)
    return last in DOCKER_TOOLS or bool(_ENGINE_JOB.search(last)) or bool(service and _ENGINE_JOB.search(service))


LOOPBACK_ADDRESSES = frozenset({"127.0.0.1", "::1", "localhost", "[::1]"})

HOST_GATEWAY_NAME = "host.docker.internal"
_HOST_GATEWAY = re.compile(r"(?<![\w.-])host\.docker\.internal(?![\w-])", re.I)


def admin_ui_of(image: str | None) -> str | None:
    """The database admin UI an image is (`dpage/pgadmin4:8` -> pgAdmin), or None."""
    if not image:
        return None
    return ADMIN_UI_IMAGES.get(image_basename(image))


def management_api_of(image: str | None) -> tuple[str, tuple[int, ...]] | None:
    """The management API without a login an image serves, and the container ports it answers on
    (`kong:3.7` -> Kong's Admin API on 8001, 8444, 8002, 8445), or None."""
    if not image:
        return None
    return MANAGEMENT_API_IMAGES.get(image_basename(image))


_INSECURE_API = re.compile(r"--api\.insecure(?:=true)?(?![\w=-])|--api\.insecure=true", re.I)
TRAEFIK_API_PORT = 8080


def insecure_dashboard_of(image: str | None, command: str | None) -> str | None:
    """Traefik run with `--api.insecure`: its dashboard and API answer on port 8080 with no login (the proxy's
    whole routing table, and what it routes to)."""
    if not image or not _INSECURE_API.search(command or ""):
        return None
    return "Traefik's dashboard and API (--api.insecure)" if image_basename(image) == "traefik" else None


def unauthenticated_ui_of(image: str | None) -> str | None:
    """The tool UI without a login an image is (`prom/prometheus:v2.53.0` -> Prometheus), or None."""
    if not image:
        return None
    path = str(image).split("@", 1)[0].lower()
    path = path.rsplit(":", 1)[0] if ":" in path.rsplit("/", 1)[-1] else path
    parts = path.split("/")
    return UNAUTHENTICATED_UI_IMAGES.get(parts[-1]) or UNAUTHENTICATED_UI_IMAGES.get("/".join(parts[-2:]))


# Tool UIs that ship a default login: (the UI's name, its port in the container, the variables that set the password).
_DEFAULT_LOGIN_UIS = {
    "rabbitmq": ("RabbitMQ's management UI (default login guest/guest)", 15672,
                 ("RABBITMQ_DEFAULT_PASS", "RABBITMQ_DEFAULT_PASS_FILE")),
    "grafana": ("Grafana (default login admin/admin)", 3000,
                ("GF_SECURITY_ADMIN_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD__FILE")),
}
_DEFAULT_LOGIN_UIS["grafana-oss"] = _DEFAULT_LOGIN_UIS["grafana-enterprise"] = _DEFAULT_LOGIN_UIS["grafana"]
_PRISMA_STUDIO = re.compile(r"\bprisma\s+studio\b")


def default_login_ui_of(image: str | None, environment: dict | None) -> tuple[str, int] | None:
    """A tool UI still on its shipped login (RabbitMQ's management image without RABBITMQ_DEFAULT_PASS, Grafana
    without GF_SECURITY_ADMIN_PASSWORD): (its name, the container port it answers on), or None."""
    if not image:
        return None
    name = str(image).split("@", 1)[0].rsplit("/", 1)[-1]
    repo, _, tag = name.partition(":")
    ui = _DEFAULT_LOGIN_UIS.get(repo.lower())
    if ui is None or repo.lower() == "rabbitmq" and "management" not in tag.lower():
        return None
    if any((environment or {}).get(var) for var in ui[2]):
        return None
    return ui[0], ui[1]


def database_studio_of(command: str | None) -> str | None:
    """A service that runs a database browser from the app's toolchain (`npx prisma studio`): the whole database,
    read and write, with no login."""
    return "Prisma Studio" if command and _PRISMA_STUDIO.search(command) else None


def is_loopback(host_ip: str | None) -> bool:
    """A published port's host address that only the host itself reaches."""
    return bool(host_ip) and str(host_ip).strip().lower() in LOOPBACK_ADDRESSES or \
        bool(host_ip) and str(host_ip).startswith("127.")


def names_host_gateway(text: str | None) -> bool:
    """The text names `host.docker.internal` as a host (a URL, a connection string, a command's argument)."""
    return bool(text) and bool(_HOST_GATEWAY.search(str(text)))


def maps_host_gateway(extra_hosts) -> bool:
    """A service's `extra_hosts` (list of `name:ip`/`name=ip`, or a mapping) maps `host.docker.internal`."""
    if isinstance(extra_hosts, dict):
        return any(str(k).strip().lower() == HOST_GATEWAY_NAME for k in extra_hosts)
    for entry in extra_hosts or []:
        name = re.split(r"[:=]", str(entry), maxsplit=1)[0].strip().lower()
        if name == HOST_GATEWAY_NAME:
            return True
    return False


# GitHub events that run a workflow with the repository's token and secrets on text outsiders write (a pull
# request's title or branch, an issue, a comment). `pull_request` is not one: a fork's run gets a read-only token
# and no secrets, and its author can already change the code it runs.
OUTSIDER_TRIGGERS = frozenset({"pull_request_target", "issue_comment", "issues", "discussion", "discussion_comment",
                               "pull_request_review_comment", "workflow_run"})
_PR_HEAD = re.compile(r"github\.event\.pull_request\.head\.|github\.head_ref|github\.event\.workflow_run\.head_")


def outsider_triggers(triggers) -> list[str]:
    """The events of a workflow's `on:` that let outsiders start it with the repository's privileges."""
    return sorted(OUTSIDER_TRIGGERS & set(triggers or ()))


# Expressions whose value outsiders write as free text: a title, a body, a branch name, a commit message, an author
# name or e-mail, a page name. Numbers, ids, SHAs, the repository's name and a job's status are not.
_OUTSIDER_TEXT = re.compile(
    r"github\.head_ref\b|github\.event\."
    r"(?:(?:issue|pull_request|discussion)\.(?:title|body)"
    r"|(?:comment|review|review_comment)\.body"
    r"|pull_request\.head\.(?:ref|label|repo\.default_branch)"
    r"|(?:head_commit|commits\b[^}]*?)\.(?:message|author\.(?:name|email)|committer\.(?:name|email))"
    r"|pages\b[^}]*?\.page_name"
    r"|workflow_run\.(?:head_branch|display_title|head_commit\.(?:message|author|committer)"
    r"|pull_requests\b[^}]*?\.head\.ref))", re.I)
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def expands_outsider_text(script: str | None) -> bool:
    """Some `${{ }}` expression of the script is text an outsider writes (a pull request's title, a branch name,
    a comment), so expanding it into a shell lets them inject commands. `github.event.issue.number`,
    `github.repository` or `workflow_run.head_sha` are not."""
    return any(_OUTSIDER_TEXT.search(m.group(1)) for m in _EXPRESSION.finditer(script or ""))


# Expressions whose value another step computed (`steps.x.outputs.y`, `needs.j.outputs.k`, `env.X`): where it came
# from cannot be told from the expression alone.
_RELAYED = re.compile(r"\b(?:steps|needs)\.[\w-]+\.outputs\b|\benv\.\w", re.I)


def expands_only_known_text(script: str | None) -> bool:
    """Every `${{ }}` expression of the script is known not to be outsider text: none is, and none relays the
    value of another step."""
    found = [m.group(1) for m in _EXPRESSION.finditer(script or "")]
    return bool(found) and not any(_OUTSIDER_TEXT.search(e) or _RELAYED.search(e) for e in found)


def names_pull_request_head(text: str | None) -> bool:
    """The text points at the pull request's own code (`ref: ${{ github.event.pull_request.head.sha }}`)."""
    return bool(text) and bool(_PR_HEAD.search(str(text)))


_HEAD_BRANCH = re.compile(r"github\.event\.workflow_run\.head_branch\b", re.I)


def branch_fixed_by_trigger(script: str | None, triggers) -> bool:
    """Every outsider text the script expands is `workflow_run.head_branch`, and the workflow_run trigger lists its
    branches by name (no pattern): the branch can only be one of those names, which the repository chose."""
    found = [m.group(1) for m in _EXPRESSION.finditer(script or "")]
    outsider = [e for e in found if _OUTSIDER_TEXT.search(e)]
    if not outsider or any(_OUTSIDER_TEXT.search(_HEAD_BRANCH.sub("", e)) for e in outsider):
        return False
    trigger = (triggers or {}).get("workflow_run")
    branches = list(getattr(trigger, "branches", None) or [])
    return bool(branches) and all(b and not re.search(r"[*?!\[\]]", b) for b in branches) \
        and not getattr(trigger, "branches_ignore", None)


# ------------------------------------------------------------------------------------ host privileges

# Capabilities that give a container the host's kernel (mounts, modules, raw devices, other processes' memory).
_HOST_CAPABILITIES = frozenset({"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "DAC_READ_SEARCH"})
_UNCONFINED = re.compile(r"^(seccomp|apparmor)[:=]unconfined$|^label[:=]disable$|^systempaths[:=]unconfined$", re.I)
_ROOT_USER = re.compile(r"^(?:0|root)(?::(?:0|root))?$")


def host_privileges(service: dict) -> list[tuple[str, str]]:
    """What a Compose service (its model) is given of the host beyond a container's defaults, as (key, what):
    `privileged: true`, capabilities that reach the host's kernel (`cap_add: [SYS_ADMIN]`), a confinement switched off
    (`security_opt: [seccomp:unconfined]`), the host's process namespace (`pid: host`), and `user: root`/`0:0` set in
    the file (which overrides an image's unprivileged user)."""
    out: list[tuple[str, str]] = []
    if service.get("privileged") is True:
        out.append(("privileged", "privileged: true"))
    caps = [str(c).upper().removeprefix("CAP_") for c in service.get("cap_add") or []]
    for cap in caps:
        if cap in _HOST_CAPABILITIES:
            out.append(("cap_add", f"cap_add {cap}"))
    for opt in service.get("security_opt") or []:
        if _UNCONFINED.match(str(opt).replace(" ", "")):
            out.append(("security_opt", str(opt)))
    if str(service.get("pid") or "") == "host":
        out.append(("pid", "pid: host"))
    if _ROOT_USER.match(str(service.get("user") or "").strip()):
        out.append(("user", f"user: {service['user']}"))
    return out
