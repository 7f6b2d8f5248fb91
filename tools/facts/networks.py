"""Which names a container of a Compose model can resolve: Docker's embedded DNS answers, on each network a container
joins, the names of the other containers on that network (service name, `container_name`) and the aliases they
declare for it. Two services that share no network cannot reach each other by name, whatever their configs say.

Networks are compared by the name Docker gives them (the model's top-level `networks.<key>.name`), so two keys for
the same external network are one network."""
from __future__ import annotations


def _network_names(model: dict) -> dict[str, str]:
    nets = model.get("networks") or {}
    return {str(key): str((spec or {}).get("name") or key) if isinstance(spec, dict) else str(key) for key, spec in
            nets.items()}


def networks_of(model: dict, service: str) -> frozenset[str] | None:
    """The networks (Docker's names) a service's container joins, or None when it has no network of its own to tell
    (`network_mode: host`, `none`, `container:…`; `service:<other>` is the other's networks)."""
    services = model.get("services") or {}
    svc = services.get(service)
    if not isinstance(svc, dict):
        return None
    mode = str(svc.get("network_mode") or "")
    if mode:
        other = mode.split(":", 1)[1] if mode.startswith("service:") else None
        return networks_of(model, other) if other and other != service and other in services else None
    names = _network_names(model)
    joined = svc.get("networks")
    keys = list(joined) if isinstance(joined, (dict, list)) else ["default"]
    return frozenset(names.get(str(k), str(k)) for k in keys)


def names_on(model: dict) -> dict[str, set[str]]:
    """Each network (Docker's name) -> the names its embedded DNS resolves there: each member's service name,
    `container_name` and the aliases declared for that network."""
    names = _network_names(model)
    out: dict[str, set[str]] = {}
    for name, svc in (model.get("services") or {}).items():
        if not isinstance(svc, dict) or svc.get("network_mode"):
            continue
        joined = svc.get("networks")
        entries = joined.items() if isinstance(joined, dict) else ((k, None) for k in (joined or ["default"]))
        for key, spec in entries:
            bucket = out.setdefault(names.get(str(key), str(key)), set())
            bucket.add(str(name))
            if svc.get("container_name"):
                bucket.add(str(svc["container_name"]))
            aliases = spec.get("aliases") if isinstance(spec, dict) else None
            bucket.update(str(alias) for alias in aliases or [])
    return out


def owner_of(model: dict, host: str) -> str | None:
    """The service a name belongs to (its service name, `container_name` or a network alias), or None."""
    services = model.get("services") or {}
    if host in services:
        return host
    for name, svc in services.items():
        if not isinstance(svc, dict):
            continue
        if str(svc.get("container_name") or "") == host:
            return str(name)
        joined = svc.get("networks")
        if isinstance(joined, dict) and any(host in ((spec or {}).get("aliases") or []) for spec in joined.values()
                                            if isinstance(spec, dict)):
            return str(name)
    return None


def _extra_hosts(model: dict, service: str) -> set[str]:
    """The names a service's `extra_hosts` writes into its /etc/hosts (`db:10.0.0.5`, `db=10.0.0.5`)."""
    svc = (model.get("services") or {}).get(service) or {}
    entries = svc.get("extra_hosts") or []
    if isinstance(entries, dict):
        return {str(k) for k in entries}
    return {str(e).replace("=", ":").split(":", 1)[0] for e in entries}


def unresolved(model: dict, service: str, host: str, index: dict[str, set[str]] | None = None) -> tuple[
        str, frozenset[str], frozenset[str]] | None:
    """(the service `host` names, the networks of `service`, the networks of that service) when `host` is a name of
    another service of the model that `service`'s container cannot resolve (they share no network where the name
    is registered); None when it resolves, names no service, or either side's networks cannot be told."""
    target = owner_of(model, host)
    if target is None or target == service:
        return None
    mine, theirs = networks_of(model, service), networks_of(model, target)
    if mine is None or theirs is None or host in _extra_hosts(model, service):
        return None
    index = names_on(model) if index is None else index
    if any(host in index.get(net, ()) for net in mine):
        return None
    return target, mine, theirs
