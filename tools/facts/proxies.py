"""Which services of a Compose environment a reverse proxy of the same environment routes to.

- Traefik reads routing from the routed service's own labels (`traefik.enable=true`, `traefik.http.routers.*`);
  `traefik.enable=false` opts a service out.
- Caddy routes with `reverse_proxy <service>:<port>` in the Caddyfile bind-mounted into it, or with its command
  (`caddy reverse-proxy --from example.org --to app:3000`).
- nginx routes with `proxy_pass http://<service>:<port>` (or an `upstream` naming it) in the configs bind-mounted
  into it.
A service the proxy routes to is meant to be reached through it: published on every interface as well, it is
reachable around the proxy (plain HTTP, no TLS, none of the proxy's headers or limits), and Docker's port rules
bypass a host firewall such as ufw.
"""
from __future__ import annotations

import re
from typing import Callable

from tools.facts.exposure import image_basename

# The reverse proxies' programs (what an image installs or copies in) and their images' names -> the proxy.
PROXY_PROGRAMS = ("caddy", "nginx", "haproxy", "traefik", "envoy", "openresty")
_PROXY_IMAGES = {**{name: name for name in PROXY_PROGRAMS}, "nginx-unprivileged": "nginx", "openresty": "nginx"}
_CADDY_ROUTE = re.compile(r"\breverse_proxy\s+((?:[^\s{}#]+\s*)+)")
_NGINX_ROUTE = re.compile(r"\bproxy_pass\s+https?://([\w.-]+)|\bserver\s+([\w.-]+)(?::\d+)?\s*[;\s]")


def proxy_kind(image: str | None) -> str | None:
    """traefik, caddy, nginx or haproxy for a proxy's image (any registry, any tag), else None."""
    if not image:
        return None
    return _PROXY_IMAGES.get(image_basename(image))


def _labels(svc: dict) -> dict[str, str]:
    labels = svc.get("labels") or {}
    if isinstance(labels, list):
        labels = dict(str(entry).split("=", 1) if "=" in str(entry) else (str(entry), "") for entry in labels)
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _hosts(text: str, kind: str) -> set[str]:
    out: set[str] = set()
    if kind == "caddy":
        for m in _CADDY_ROUTE.finditer(text):
            for upstream in m.group(1).split():
                host = re.sub(r"^[a-z]+://", "", upstream).split("/", 1)[0].rsplit(":", 1)[0]
                out.add(host)
    elif kind == "nginx":
        for m in _NGINX_ROUTE.finditer(text):
            out.add(m.group(1) or m.group(2))
    return out


def asks_traefik(labels: dict[str, str]) -> bool:
    """A service's labels ask Traefik to route to it: `traefik.enable=true`, or a router without
    `traefik.enable=false`."""
    enable = labels.get("traefik.enable", "").lower()
    return enable != "false" and (enable == "true" or any(k.startswith("traefik.http.routers.") for k in labels))


def routed_services(services: dict[str, dict], read: Callable[[str], str | None]) -> dict[str, str]:
    """Each service a proxy of these services routes to -> the proxy's service name (the first proxy, in the
    file's order, when several do). `read(source)` gives the text of a bind-mounted file (or None): the proxy's
    Caddyfile or nginx configs. Linear in the services: every service may itself be a proxy."""
    proxies = [(name, kind) for name, svc in services.items() if isinstance(svc, dict)
               and (kind := proxy_kind(svc.get("image")))]
    order = {name: i for i, (name, _) in enumerate(proxies)}
    first: dict[str, str] = {}  # service -> the earliest proxy routing to it, among those that name it

    def claim(name: str, proxy: str) -> None:
        if name != proxy and name in services and (name not in first or order[proxy] < order[first[name]]):
            first[name] = proxy

    traefiks = [name for name, kind in proxies if kind == "traefik"]
    if traefiks:  # Traefik routes every service whose own labels ask for it
        for name, svc in services.items():
            if isinstance(svc, dict) and asks_traefik(_labels(svc)):
                proxy = traefiks[0] if traefiks[0] != name else traefiks[1] if len(traefiks) > 1 else None
                if proxy:  # the first Traefik that is not the service itself
                    claim(name, proxy)
    for proxy, kind in proxies:
        if kind == "traefik":
            continue
        hosts: set[str] = set()
        command = services[proxy].get("command")
        words = [str(w) for w in command] if isinstance(command, list) else str(command or "").split()
        if kind == "caddy" and "reverse-proxy" in words:  # `caddy reverse-proxy --from $HOST --to app:3000`
            for i, word in enumerate(words):
                target = words[i + 1] if word == "--to" and i + 1 < len(words) else \
                    word.split("=", 1)[1] if word.startswith("--to=") else None
                if target:
                    hosts.add(re.sub(r"^[a-z]+://", "", target).split("/", 1)[0].rsplit(":", 1)[0])
        for volume in services[proxy].get("volumes") or []:
            source = volume.get("source") if isinstance(volume, dict) and volume.get("type") == "bind" else None
            text = read(source) if source else None
            if text:
                hosts |= _hosts(text, kind)
        for name in hosts:
            claim(name, proxy)
    return {name: first[name] for name in services if name in first}


def routed_from_outside(services: dict[str, dict]) -> dict[str, str]:
    """Each service whose own settings ask a proxy that discovers containers to route to it, when no proxy of these
    services was found to (routed_services): Traefik labels (`traefik.enable=true`, `traefik.http.routers.*`),
    caddy-docker-proxy's `caddy` labels, nginx-proxy's `VIRTUAL_HOST`. The proxy runs in another stack on the same
    host (a shared external network) -> how the service asks for it. A proxy's own labels (Traefik's dashboard)
    are left out: it publishes its ports on purpose."""
    out: dict[str, str] = {}
    for name, svc in services.items():
        if not isinstance(svc, dict) or proxy_kind(svc.get("image")):
            continue
        labels = _labels(svc)
        environment = svc.get("environment") if isinstance(svc.get("environment"), dict) else {}
        if asks_traefik(labels):
            out[name] = "Traefik (its labels)"
        elif "caddy" in labels or any(k.startswith("caddy.reverse_proxy") for k in labels):
            out[name] = "caddy-docker-proxy (its labels)"
        elif environment.get("VIRTUAL_HOST"):
            out[name] = "nginx-proxy (its VIRTUAL_HOST)"
    return out
