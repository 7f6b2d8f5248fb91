"""XF013: a secret written in a configuration file the deploy hands to a container.

A password in `application.conf`, `nats-server.conf` or `config/base.yaml` ships as surely as one in the compose file:
a Dockerfile copies the file (or its folder) into an image that runs, a compose service mounts it, or the compose
file's top-level `secrets:` points at a file git tracks. Every install that does not replace the file runs with the
value the repository publishes."""
from __future__ import annotations

import os
import re
import posixpath
from pathlib import Path
from typing import Iterator

from tools.checks.compose_checks import CONTAINER_RULES
from tools.checks.registry import check
from tools.facts import secrets as secret_facts
from tools.findings import Location
from tools.platform import Platform

# Files read as configuration: what a service parses at start. `.env` files are CMP008's (env_file, interpolation).
CONFIG_SUFFIXES = (".conf", ".toml", ".yaml", ".yml", ".properties", ".ini", ".cfg", ".cnf", ".json", ".hocon")
MAX_CONFIG_BYTES = 256 * 1024
MAX_FILES_PER_FOLDER = 300
_ROLES = ("prod", "staging", "dev", "test")
_COMMENT = ("#", "//", ";", "<!--", "*", "/*")
# Folders whose files a build or a mount never means to run with: fixtures, examples, tests.
_NOT_SHIPPED = frozenset({"test", "tests", "testing", "spec", "fixtures", "testdata", "e2e", "examples", "example",
                          "node_modules", "vendor", ".git"})


_KEY_BEFORE = re.compile(r"""([\w.\-]+)["']?\s*[:=]?\s*["']?\s*$""")


def config_secrets(text: str) -> list[tuple[int, str, str]]:
    """(1-based line, the key as written, what it holds: `a literal password`) for each secret value a configuration
    file writes on one line (`password: T0pS3cr3t`, `play.http.secret.key="…"`, `key_seed = "…"`): the one
    definition of a secret (tools/facts/secrets.py); comment lines and values a comment tells to replace are left
    out."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith(_COMMENT) or len(line) > 2000:
            continue
        spans = secret_facts.secret_spans(line)
        if spans and not secret_facts.marked_to_change(lines, i):
            key = _KEY_BEFORE.search(line[:spans[0][0]])
            out.append((i, key.group(1) if key else "a value", spans[0][2]))
    return out


def _is_config(rel: str) -> bool:
    base = posixpath.basename(rel).lower()
    return base.endswith(CONFIG_SUFFIXES) and not base.startswith(("docker-compose", "compose")) \
        and not _NOT_SHIPPED & set(rel.split("/")[:-1])


def _files_under(platform: Platform, rel: str) -> list[str]:
    """The configuration files at `rel` (a file, or a folder walked down to MAX_FILES_PER_FOLDER files)."""
    full = platform.root / rel
    if full.is_file():
        return [rel] if _is_config(rel) else []
    if not full.is_dir():
        return []
    out: list[str] = []
    for folder, dirs, files in os.walk(full):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_SHIPPED and not d.startswith("."))
        for name in sorted(files):
            inner = Path(folder, name).relative_to(platform.root).as_posix()
            if _is_config(inner):
                out.append(inner)
        if len(out) >= MAX_FILES_PER_FOLDER:
            break
    return out[:MAX_FILES_PER_FOLDER]


def _read(platform: Platform, rel: str) -> str | None:
    path = platform.root / rel
    try:
        if path.is_symlink() or path.stat().st_size > MAX_CONFIG_BYTES:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _mounted(platform: Platform) -> Iterator[tuple[str, str, Location, str]]:
    """(repo-relative file, how it reaches a container, where that is said, the environment's role) for each
    bind mount of a file or folder of the repository, most exposed environment first."""
    envs = sorted(platform.environments.values(), key=lambda e: _ROLES.index(platform.role(e)))
    for env in envs:
        for name, svc in env.services.items():
            for vol in svc.get("volumes") or []:
                if not isinstance(vol, dict) or vol.get("type") != "bind":
                    continue
                rel = platform.rel(str(vol.get("source", "")))
                if not rel or rel == "." or platform.uninitialised_submodule(rel):
                    continue
                for found in _files_under(platform, rel):
                    yield (found, f"{env.name}: {name} mounts it at {vol.get('target')}",
                           env.location(name, f"volumes.{vol.get('target')}"), platform.role(env))


def _copied(platform: Platform) -> Iterator[tuple[str, str, Location, str]]:
    """(repo-relative file, how it reaches a container, the COPY, `prod` or `dev`) for each configuration file a
    COPY brings from the build context into a stage of an image that runs (the context guessed as the Dockerfile's
    folder when nothing here builds it: the file must be there)."""
    from tools.checks.dockerfile_checks import _shipped_copy_sources, dockerfile_uses, ship_severity

    for path, use in dockerfile_uses(platform).items():
        if re.search(r"(^|[._-])tests?($|[._-])", posixpath.basename(path).lower()) and not use.pushed:
            continue  # a test image: what it copies runs in CI only
        role = "prod" if ship_severity(platform, path, "medium", "low") == "medium" else "dev"
        info = platform.dockerfiles[path]
        for context in use.contexts:
            for copy, src in _shipped_copy_sources(platform, path, info):
                rel = posixpath.normpath(posixpath.join(context, src))
                if rel.startswith("..") or src == ".":
                    continue  # the whole context: its configuration is what the mounts and named copies show
                for found in _files_under(platform, rel):
                    yield found, f"{path} copies it into the image", Location(path, copy.line), role


def _compose_secret_files(platform: Platform) -> Iterator[tuple[str, str, Location, str]]:
    """(repo-relative file, how it reaches a container, where, role) for each top-level compose secret whose
    `file:` is a file of the repository: the secret's value is whatever git holds."""
    envs = sorted(platform.environments.values(), key=lambda e: _ROLES.index(platform.role(e)))
    for env in envs:
        if env.project is None:
            continue
        for key, spec in (env.project.model.get("secrets") or {}).items():
            if not isinstance(spec, dict) or not spec.get("file"):
                continue
            rel = platform.rel(str(spec["file"]))
            if rel and (platform.root / rel).is_file():
                yield rel, f"{env.name}: compose secret {key} reads it", Location(env.files[0] if env.files else rel), \
                    platform.role(env)


def _severity(role: str) -> str:
    return "medium" if role in ("prod", "staging") else "low"


@check("XF013", "Secret written in a configuration file that ships", "medium", "security", CONTAINER_RULES,
       "Leave the value out of the committed file: read it from the environment or a mounted secret "
       "(`password: ${NATS_PASSWORD}`, `_FILE` variables), or generate it at install; keep only a placeholder the "
       "service refuses to start with.")
def config_file_secret(ctx, spec):
    """A secret value (tools/facts/secrets.py) in a configuration file that reaches a container: copied into an
    image that runs, mounted by a compose service, or read as a compose secret's `file:`. Medium when the image
    ships or the environment is production or staging, low otherwise; one finding per file, at its first secret.
    Files git ignores are written at deploy time and never read."""
    platform = ctx.models["platform"]
    seen: set[str] = set()
    for rel, how, where, role in [*_compose_secret_files(platform), *_mounted(platform), *_copied(platform)]:
        if rel in seen or platform.is_gitignored(rel):
            continue
        seen.add(rel)
        text = _read(platform, rel)
        if text is None:
            continue
        if how.split(": ", 1)[-1].startswith("compose secret"):
            value = text.strip()
            if not value or "\n" in value or secret_facts.is_placeholder(value) \
                    or secret_facts.is_reference(value) or len(value) > 4096:
                continue
            yield spec.finding(ctx, f"{rel} holds a committed secret value ({how})", [Location(rel, 1), where],
                               severity=_severity(role), subject=rel,
                               detail="every install that does not replace the file runs with the value git publishes")
            continue
        found = config_secrets(text)
        if not found:
            continue
        line, _, kind = found[0]
        keys = list(dict.fromkeys(key for _, key, _ in found))
        shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        yield spec.finding(ctx, f"{rel}:{line} writes {kind} under {shown} in a configuration file that ships ({how})",
                           [Location(rel, line), where], severity=_severity(role), subject=rel,
                           detail="every install that does not replace the file runs with the value the repository "
                                  "publishes")
