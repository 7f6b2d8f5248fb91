"""The JSON schemas vendored by check-jsonschema (compose-spec, GitHub workflows), read without
importing check_jsonschema itself: its package __init__ pulls in its CLI, requests and ssl (~130 ms)."""
from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def vendored_schema(name: str) -> dict:
    """`name` is the file name under check_jsonschema/builtin_schemas/vendor/, e.g. compose-spec.json."""
    spec = importlib.util.find_spec("check_jsonschema")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("check-jsonschema is not installed: it carries the compose and workflow schemas")
    path = Path(list(spec.submodule_search_locations)[0]) / "builtin_schemas" / "vendor" / name
    return json.loads(path.read_text(encoding="utf-8"))


def cache_root() -> Path:
    """Where content-keyed caches live (outside any repo): `$DEVOPS_AGENT_HOME/cache`, else the user cache dir."""
    import os

    home = os.environ.get("DEVOPS_AGENT_HOME")
    if home:
        return Path(home) / "cache"
    import sys

    if sys.platform.startswith("linux"):  # what platformdirs says there (XDG), without importing it (~4 ms)
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        return Path(xdg if os.path.isabs(xdg) else os.path.expanduser("~/.cache")) / "devops-agent"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("devops-agent"))


def _cache_dir() -> Path:
    return cache_root() / "schema"


@lru_cache(maxsize=None)
def _schema_digest(name: str) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(vendored_schema(name), sort_keys=True).encode()).hexdigest()


def schema_errors(name: str, instance, reduce, make_validator) -> list[dict]:
    """Validation errors of `instance` against a vendored schema, each reduced to a JSON-able dict.

    Results are cached per content (outside the repo, in the user cache dir): jsonschema costs about
    80 ms to import and 20-50 ms to run, which is most of a warm `review`. The key covers the schema,
    the reducer and the instance, so any change recomputes.
    """
    import hashlib

    try:
        blob = json.dumps(instance, sort_keys=True, default=str)
    except (TypeError, ValueError):
        blob = None
    path = None
    if blob is not None:
        key = hashlib.sha256(f"{name}|{_schema_digest(name)}|{reduce.__module__}.{reduce.__qualname__}|{blob}"
                             .encode()).hexdigest()
        path = _cache_dir() / key[:2] / f"{key}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    validator = make_validator(vendored_schema(name))
    result = [reduce(err) for err in validator.iter_errors(instance)]
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(result), encoding="utf-8")
            tmp.replace(path)
        except OSError:
            pass  # a read-only home only costs the speed-up
    return result
