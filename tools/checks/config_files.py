"""XF013: a secret written in a configuration file the deploy hands to a container.

A password in `application.conf`, `nats-server.conf` or `config/base.yaml` ships as surely as one in the compose file:
a Dockerfile copies the file (or its folder) into an image that runs, a compose service mounts it, or the compose
file's top-level `secrets:` points at a file git tracks. Every install that does not replace the file runs with the
value the repository publishes."""
from __future__ import annotations

import os
import posixpath
import re
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
# Folders whose files a build or a mount never means to run with (fixtures, examples, tests), or that hold no
# configuration (translations, API schemas, dependencies).
_NOT_SHIPPED = frozenset({"test", "tests", "testing", "unittests", "spec", "fixtures", "testdata", "e2e", "acceptance",
                          "examples", "example", "node_modules", "vendor", ".git", "locale", "locales", "lang", "langs",
                          "i18n", "l10n", "translations", "schema", "schemas", "docs", "templates", "tutorial",
                          "tutorials", "demo", "demos", "samples", "sample"})
# A file inside a mounted or copied folder counts when it lands where a service reads its configuration.
_CONFIG_PLACES = frozenset({"etc", "conf", "config", "configs", "configuration", "settings", "conf.d", "secrets"})
_NOT_CONFIG = re.compile(r"(?:^|/)(?:package(?:-lock)?\.json|composer\.(?:json|lock)|[\w.-]*lock[\w.-]*\.(?:json|yaml|yml)"
                         r"|tsconfig[\w.-]*\.json|\.?eslintrc[\w.-]*|[\w.-]*\.schema\.json"
                         # a project's build and test settings, API specs, the libc's name-service switch
                         r"|pyproject\.toml|setup\.cfg|tox\.ini|Cargo\.toml|(?:openapi|swagger)[\w.-]*|nsswitch\.conf)$", re.I)


# One `key = value` / `key: value` / `"key": "value",` line of a configuration file (HOCON, TOML, YAML, JSON,
# .properties, nginx-style `key value;`), the value one scalar (at most one inner space: `RanD0m STR1ng`).
_SETTING = re.compile(r"""^\s*(?:-\s+)?["']?(?P<key>[A-Za-z_][\w.\-]*)["']?\s*(?:[:=]|\s)\s*"""
                      r"""(?P<q>["']?)(?P<value>\$\{\w+:?-[^"'\s{}]*\}|[^"'\s,;#{}\[\]]+(?: [^"'\s,;#{}\[\]]+)?)(?P=q)"""
                      r"""\s*[,;]?\s*(?:(?:#|//).*)?$""")
_WRITTEN_DEFAULT = re.compile(r"\$\{\w+:?-([^}]*)\}")
# Key names that hold a secret in a configuration file, read on the last two parts of the key
# (`play.http.secret.key` -> `secret.key`): a password, a secret, a passphrase, a credential, a signing or API key,
# a token with a kind. A bare `key`, `token` or `pass` (a module id, `keys_zone`, a lock file's `js-tokens`,
# rspamd's `pass = "R_SPF_ALLOW"`) is no secret.
_SECRET_KEY = re.compile(r"(?:^|[._-])(?:pass(?:word|wd|phrase)|pwd|secret|credentials?"
                         r"|(?:api|secret|private|encryption|signing|master|access|auth|session|jwt|cookie|hmac|"
                         r"shared|client|app)[._-]?(?:key|token|secret)|key[._-]?seed"
                         r"|(?:auth|access|api|bearer|authorization|refresh|bot|admin)[._-]?token)$", re.I)
# A value a framework resolves at start: Symfony's `%env(APP_SECRET)%` and `%kernel.secret%`, Spring's `${X}`,
# ERB's `<%= ENV["X"] %>`, Jinja's and Go's `{{ … }}`, Dovecot's `</path/key.pem` (the file's content).
_RESOLVED = re.compile(r"%[\w.()\-:]+%|\$\{|<%|\{\{|\$[A-Za-z_]|^env\(|^ENV\[|^<\s*[/.]", re.I)
# nginx's directives that name where to pass a request (`fastcgi_pass php:9000;`), not a password.
_PASS_DIRECTIVES = frozenset({"proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass", "memcached_pass"})
_VERSION = re.compile(r"[\^~>=<]*v?\d+(?:\.\d+)+(?:[-+.][\w.]+)?")


def config_secrets(text: str) -> list[tuple[int, str, str, str]]:
    """(1-based line, the key as written, what it holds: `a literal password`, the value) for each secret a
    configuration file writes on one line (`password: T0pS3cr3t`, `play.http.secret.key="…"`,
    `key_seed = "RanD0m STR1ng"`), and each password written in a URL. The key must name a secret (_SECRET_KEY) and the value be one by the one definition
    (tools/facts/secrets.py): no reference, placeholder, boolean, path, version or framework lookup. Comment lines
    and values a comment tells to replace are left out."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith(_COMMENT) or len(line) > 2000:
            continue
        m = _SETTING.match(line)
        found = None
        if m and _SECRET_KEY.search(".".join(m.group("key").split(".")[-2:])) \
                and m.group("key").lower() not in _PASS_DIRECTIVES:
            value = m.group("value")
            default = _WRITTEN_DEFAULT.fullmatch(value)  # `${SECRET:-ovmpm…}`: the default ships with the file
            value = default.group(1) if default else value
            if value and not _RESOLVED.search(value) and not _VERSION.fullmatch(value):
                found = (m.group("key"), secret_facts.secret_value_kind("SECRET", value), value)
        if (found is None or found[1] is None) and "://" in line:
            url = next(((kind, line[a:b]) for a, b, kind in secret_facts.secret_spans(line)
                        if kind == "a password in a URL"), None)
            found = (m.group("key") if m else "a URL", url[0] if url else None, url[1] if url else "")
        if found and found[1] and not secret_facts.marked_to_change(lines, i):
            out.append((i, found[0], found[1].replace("a literal secret", "a literal " + _noun(found[0])), found[2]))
    return out


def _noun(key: str) -> str:
    low = key.lower()
    return next((w for w in ("password", "passphrase", "token", "key", "credential") if w in low), "secret")


def _is_config(rel: str, named: bool = False) -> bool:
    """A configuration file a service reads: not a compose file, a lock file or manifest, nor a file of a test or docs
    folder; in a folder (not `named` by the mount or the COPY), not an example the install copies and edits
    (`config.example.yml`, `settings.sample.ini`)."""
    base = posixpath.basename(rel).lower()
    return base.endswith(CONFIG_SUFFIXES) and not base.startswith(("docker-compose", "compose")) \
        and (named or not re.search(r"(?:^|[._-])(?:example|sample|dist|tmpl)(?:[._-]|$)", base)) \
        and not _NOT_SHIPPED & {p.lower() for p in rel.split("/")[:-1]} and not _NOT_CONFIG.search(rel)


def _files_under(platform: Platform, rel: str, target: str) -> list[str]:
    """The configuration files at `rel`: the file itself, or, in a folder that lands at `target` in the container,
    the files that land where a service reads its configuration (`/etc/…`, a `conf/` or `config/` folder; not a
    source tree mounted at `/app`), down to MAX_FILES_PER_FOLDER."""
    full = platform.root / rel
    if full.is_file():
        return [rel] if _is_config(rel, named=True) else []
    if not full.is_dir():
        return []
    out: list[str] = []
    for folder, dirs, files in os.walk(full):
        dirs[:] = sorted(d for d in dirs if d.lower() not in _NOT_SHIPPED and not d.startswith("."))
        inside = Path(folder).relative_to(full).as_posix()
        landing = posixpath.join(target or "/", "" if inside == "." else inside)
        if not _CONFIG_PLACES & {p.lower() for p in landing.split("/")}:
            continue
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
                for found in _files_under(platform, rel, str(vol.get("target") or "")):
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
                for found in _files_under(platform, rel, copy.dest or ""):
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
    # the same file in many variant folders (one per version or base image) with the same secrets: one finding
    groups: dict[tuple, list[tuple[str, str, Location, str, list]]] = {}
    for rel, how, where, role in [*_compose_secret_files(platform), *_mounted(platform), *_copied(platform)]:
        if rel in seen or platform.is_gitignored(rel):
            continue
        seen.add(rel)
        text = _read(platform, rel)
        if text is None:
            continue
        if how.split(": ", 1)[-1].startswith("compose secret"):
            if re.search(r"(?i)user|login|(?:^|[._-])name(?:$|[._-])", how.split("compose secret ", 1)[-1].split()[0]) \
                    and not re.search(r"(?i)pass|secret|key|token", how.split("compose secret ", 1)[-1].split()[0]):
                continue  # `MYSQL_USER`, `admin_username`: who logs in, not a secret
            value = text.strip()
            if not value or "\n" in value or secret_facts.is_placeholder(value) \
                    or secret_facts.is_reference(value) or len(value) > 4096:
                continue
            yield spec.finding(ctx, f"{rel} holds a committed secret value ({how})", [Location(rel, 1), where],
                               severity=_severity(role), subject=rel,
                               detail="every install that does not replace the file runs with the value git publishes")
            continue
        found = config_secrets(text)
        if found:
            key = (posixpath.basename(rel), tuple((k, v) for _, k, _, v in found))
            groups.setdefault(key, []).append((rel, how, where, role, found))
    for members in groups.values():
        rel, how, where, role, found = members[0]
        line, _, kind, _ = found[0]
        keys = list(dict.fromkeys(k for _, k, _, _ in found))
        shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        also = f"; the same in {len(members) - 1} more file(s)" if len(members) > 1 else ""
        severity = min((_severity(m[3]) for m in members), key=("medium", "low").index)
        locations = [Location(rel, line), where] + [Location(m[0], m[4][0][0]) for m in members[1:]]
        yield spec.finding(ctx, f"{rel}:{line} writes {kind} under {shown} in a configuration file that ships "
                                f"({how}){also}", locations, severity=severity, subject=rel,
                           detail="every install that does not replace the file runs with the value the repository "
                                  "publishes")
