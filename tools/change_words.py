"""A file change in words, for a reader who is not a git expert (what Product reads before signing).

A compose file is read before and after (YAML, Compose's merge tags kept as their value) and each
service's change is said per key: "anime-saas-mlscheduler: restart policy set to unless-stopped". Any
other file, or a YAML file that does not parse, is said by its lines added and removed."""
from __future__ import annotations

import json
from typing import Any

# What a compose key is called in words; a key not listed is shown as written (`key.path`).
_KEY_WORDS = {
    "restart": "restart policy", "image": "image", "build": "build", "command": "command",
    "entrypoint": "entrypoint", "privileged": "privileged mode", "pid": "PID namespace",
    "ipc": "IPC namespace", "network_mode": "network mode", "user": "user", "ports": "published ports",
    "expose": "exposed ports", "volumes": "volumes", "environment": "environment", "env_file": "env files",
    "healthcheck": "healthcheck", "healthcheck.test": "healthcheck command", "depends_on": "dependencies",
    "labels": "labels", "container_name": "container name", "security_opt": "security options",
    "cap_add": "added capabilities", "cap_drop": "dropped capabilities", "read_only": "read-only root filesystem",
    "mem_limit": "memory limit", "cpus": "CPU limit", "deploy.resources.limits.memory": "memory limit",
    "deploy.resources.limits.cpus": "CPU limit", "deploy.restart_policy": "restart policy",
    "deploy.replicas": "replicas", "logging": "logging", "networks": "networks", "profiles": "profiles",
    "secrets": "secrets", "configs": "configs", "devices": "devices", "extra_hosts": "extra hosts",
    "tmpfs": "tmpfs mounts", "ulimits": "ulimits", "working_dir": "working directory",
}
_NAMED_ENTRY = {"environment.": "environment variable {}", "labels.": "label {}", "build.args.": "build argument {}"}
# Lists whose items stand alone (said as items added and removed); any other list (a command) is one value.
_LISTS_OF_ITEMS = frozenset({"ports", "expose", "volumes", "environment", "env_file", "depends_on", "networks",
                             "cap_add", "cap_drop", "security_opt", "profiles", "secrets", "configs", "devices",
                             "extra_hosts", "tmpfs", "labels", "dns", "include"})
_MAX_VALUE = 80
_MAX_LINES = 12  # per file: past it, "and N more change(s)"
_QUOTED_LINES = 4  # a change of a few lines in a file that is not compose is quoted


def describe(path: str, before: bytes | None, after: bytes | None) -> list[str]:
    """Sentences saying what changes in `path` (None: the file does not exist on that side)."""
    if before is None and after is None:
        return []
    if after is None:
        return ["file deleted"]
    old_doc, new_doc = (_compose(before) if before is not None else {}), _compose(after)
    if new_doc is not None and old_doc is not None:
        said = _compose_change(old_doc, new_doc)
        if said:
            return said if len(said) <= _MAX_LINES else said[:_MAX_LINES] + [
                f"and {len(said) - _MAX_LINES} more change(s): see the diff below"]
    return [_lines_said(before, after)]


def _lines_said(before: bytes | None, after: bytes) -> str:
    import difflib

    old = (before or b"").decode("utf-8", "replace").splitlines()
    new = after.decode("utf-8", "replace").splitlines()
    added: list[str] = []
    removed: list[str] = []
    for line in difflib.unified_diff(old, new, lineterm="", n=0):
        if line.startswith("+") and not line.startswith("+++"):
            added.append(line[1:])
        elif line.startswith("-") and not line.startswith("---"):
            removed.append(line[1:])
    what = "new file: " if before is None else ""
    said = f"{what}{len(added)} line(s) added, {len(removed)} removed"
    if 0 < len(added) + len(removed) <= _QUOTED_LINES:  # a small change: the lines themselves
        said += ": " + "; ".join([f"adds `{_shown(line.strip())}`" for line in added]
                                 + [f"removes `{_shown(line.strip())}`" for line in removed])
    return said


def _compose(data: bytes) -> dict | None:
    """The document of a compose file (a mapping with a `services` mapping), else None."""
    import yaml

    from agent.core.errors import UserError
    from agent.core.yaml_safe import load_node

    try:
        doc = load_node(data.decode("utf-8"), "compose file", compose_tags=True)[1]
    except (yaml.YAMLError, UserError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        return None
    return doc


def _compose_change(old: dict, new: dict) -> list[str]:
    said: list[str] = []
    old_services, new_services = old.get("services") or {}, new.get("services") or {}
    for name in list(old_services) + [n for n in new_services if n not in old_services]:
        before, after = old_services.get(name), new_services.get(name)
        if before == after:
            continue
        if before is None:
            image = after.get("image") if isinstance(after, dict) else None
            said.append(f"{name}: service added" + (f" (image {_shown(image)})" if image else ""))
        elif after is None:
            said.append(f"{name}: service removed")
        elif isinstance(before, dict) and isinstance(after, dict):
            said += [f"{name}: {line}" for line in _mapping_change(before, after, "")]
        else:
            said.append(f"{name}: changed from {_shown(before)} to {_shown(after)}")
    for key in list(old) + [k for k in new if k not in old]:
        if key != "services" and old.get(key) != new.get(key):
            said += [f"top-level {line}" for line in _mapping_change({key: old.get(key)}, {key: new.get(key)}, "")]
    return said


def _mapping_change(before: dict, after: dict, prefix: str) -> list[str]:
    said: list[str] = []
    for key in list(before) + [k for k in after if k not in before]:
        dotted = f"{prefix}{key}"
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        words = _KEY_WORDS.get(dotted) or _NAMED_ENTRY.get(prefix, "").format(key) or f"`{dotted}`"
        if isinstance(old, dict) and isinstance(new, dict):
            said += _mapping_change(old, new, dotted + ".")
        elif key not in before:
            said.append(f"{words} set to {_shown(new)}")
        elif key not in after:
            said.append(f"{words} removed (was {_shown(old)})")
        elif isinstance(old, list) and isinstance(new, list) and key in _LISTS_OF_ITEMS:
            added = [v for v in new if v not in old]
            removed = [v for v in old if v not in new]
            parts = ([f"adds {', '.join(_shown(v) for v in added)}"] if added else []) + (
                [f"removes {', '.join(_shown(v) for v in removed)}"] if removed else [])
            said.append(f"{words}: {'; '.join(parts) or 'order changed'}")
        else:
            said.append(f"{words} changed from {_shown(old)} to {_shown(new)}")
    return said


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE - 3] + "..."
