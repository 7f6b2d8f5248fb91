"""XF014: a service that reaches another by name over no network they share.

Docker's embedded DNS resolves a service's name only on the networks it joins: a proxy on `default` that
`proxy_pass`es to an app on `front-tier`, or an API whose `DATABASE_URL` names a database on `back-tier` alone, fails
at its first request ("host not found", 502) although both services start (tools/facts/networks.py)."""
from __future__ import annotations

import functools
import posixpath

from tools.checks.compose_checks import COHERENCE, _cap_for_environments, _loaded_envs, mounted_file_reader
from tools.checks.registry import check
from tools.facts.hosts import hosts_in
from tools.facts.networks import names_on, unresolved
from tools.facts.proxies import routed_services


def _joined(model: dict, nets: frozenset[str]) -> str:
    """The networks as the compose file names them (`back-tier`, not `shop_back-tier`)."""
    prefix = f"{model.get('name')}_"
    return ", ".join(sorted(n[len(prefix):] if n.startswith(prefix) else n for n in nets)) or "no network"


@check("XF014", "Service reaches another over no shared network", "high", "availability", COHERENCE,
       "Put both services on a network they share (add the proxy to the app's network, or the app to `default`), "
       "so the name resolves.")
def no_shared_network(ctx, spec):
    """A service that names another of the same environment (an environment value's host, or a reverse proxy's
    route: nginx `proxy_pass`, Caddy `reverse_proxy`, Traefik labels) while no network they share registers that
    name. High in production; a development or test set's at its role's cap."""
    platform = ctx.models["platform"]
    reader = functools.partial(mounted_file_reader, platform)
    for _, env, _ in _loaded_envs(ctx):
        if env.project is None:
            continue
        model = env.project.model
        index = names_on(model)
        severity = _cap_for_environments(platform, [env.name])
        # (service, host it names, how, where): environment values, then the proxies' routes
        reaches = [(name, host, f"{key} reaches {host}", env.location(name, f"environment.{key}"))
                   for name, svc in env.services.items()
                   for key, value in (svc.get("environment") if isinstance(svc.get("environment"), dict) else {}).items()
                   if value for host, _ in hosts_in(str(value), str(key)) if host]
        routes = {(proxy, target) for target, proxy in routed_services(
            env.services, reader(platform.root / posixpath.dirname(env.files[0]))).items()}
        for name in env.services:  # nginx configs copied into an image as well as mounted (Platform.nginx_for)
            for conf_path, _ in platform.nginx_for(env, name):
                conf = platform.nginx.get(conf_path)
                routes |= {(name, host) for target in (conf.proxy_targets() if conf else ())
                           for host, _ in target.endpoints()}
        reaches += [(proxy, target, f"routes to {target}", env.location(proxy, "networks"))
                    for proxy, target in sorted(routes)]
        seen: set[tuple[str, str]] = set()
        for name, host, how, where in reaches:
            gap = unresolved(model, name, host, index) if (name, host) not in seen else None
            if gap is None:
                continue
            seen.add((name, host))
            target, mine, theirs = gap
            yield spec.finding(
                ctx, f"{env.name}: {name} {how}, but {name} is on {_joined(model, mine)} and {target} on "
                     f"{_joined(model, theirs)}: no network they share resolves the name",
                [where, env.location(target, "networks")], severity=severity, subject=f"{name} {target}")
