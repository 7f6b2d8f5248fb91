"""Dockerfiles parsed with BuildKit's own parser into the model: directives, variables, stages, installed packages."""
from __future__ import annotations

import re
from pathlib import Path

import dockerfile as _bk

from tools.dockerfile.imageref import image_pin, parse_image_ref
from tools.dockerfile.model import Copy, DockerfileInfo, ExecForm, Healthcheck, Instruction, ParseProblem, Stage
from tools.facts.shell import split_words

KNOWN_INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})
# Parser directives BuildKit honours, only in the leading comment block.
# Matched on a stripped line: the value runs to its end (a lazy `(.*?)\s*$` backtracked over each blank run).
_DIRECTIVE = re.compile(r"^#\s*+([a-zA-Z][a-zA-Z0-9]*)\s*+=\s*+(.*)$")


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
    overlong = _overlong_instruction(text, info.directives.get("escape", "\\")[:1] or "\\")
    if overlong is not None:
        info.errors.append(overlong)
        return info
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


# BuildKit's parser takes time quadratic in one instruction's length (a 60 KB line costs about a second):
# an instruction past this is refused before it, so a hostile file costs what an ordinary one does.
MAX_INSTRUCTION_CHARS = 16 * 1024


def _overlong_instruction(text: str, escape: str) -> ParseProblem | None:
    """The first instruction (its lines joined by continuations, comment and blank lines inside included)
    longer than MAX_INSTRUCTION_CHARS, as a problem; else None."""
    start, size = 0, 0
    for no, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not start:
            start, size = no, 0
        size += len(line) + 1
        if size > MAX_INSTRUCTION_CHARS:
            return ParseProblem(start, f"an instruction of more than {MAX_INSTRUCTION_CHARS:,} characters: not parsed "
                                       f"(BuildKit's parser slows down quadratically on it); split it into shorter ones")
        if stripped.endswith(escape) or (size > len(line) + 1 and (not stripped or stripped.startswith("#"))):
            continue  # continued, or a comment or blank line inside a continued instruction
        start = 0
    return None


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


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_NESTING = 16  # `${A:-${B:-${C}}}` nests; deeper is left as written


def _brace_pairs(text: str) -> dict[int, int]:
    """For each `${` (the index of its `{`), the index of the `}` that closes it, nested ones inside: one pass with
    a stack, so an unclosed `${` costs nothing more (scanning ahead from each would be quadratic)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "$" and i + 1 < n and text[i + 1] == "{":
            stack.append(i + 1)
            i += 2
            continue
        if c == "}" and stack:
            pairs[stack.pop()] = i
        i += 1
    return pairs


def substitute(text: str, known: dict[str, str | None]) -> str | None:
    """BuildKit-style ${VAR}, ${VAR:-default}, ${VAR:+alt} (defaults may nest: `${A:-${B:-8000}}`); None when
    a needed value is unknown."""
    unresolved = False
    pairs = _brace_pairs(text) if "${" in text else {}

    def expand(lo: int, hi: int, depth: int) -> str:
        out: list[str] = []
        i = lo
        while i < hi:
            dollar = text.find("$", i, hi)
            if dollar < 0:
                out.append(text[i:hi])
                break
            out.append(text[i:dollar])
            i = dollar + 1
            if i < hi and text[i] == "{":
                end = pairs.get(i, -1)
                name = _NAME.match(text, i + 1, hi)
                if end < 0 or end >= hi or name is None or depth >= _MAX_NESTING:
                    out.append("$")
                    continue
                mod_lo = name.end()
                out.append(apply(name.group(0), text[mod_lo:end], mod_lo, end, depth))
                i = end + 1
            else:
                name = _NAME.match(text, i, hi)
                if name is None:
                    out.append("$")
                    continue
                out.append(apply(name.group(0), "", i, i, depth))
                i = name.end()
        return "".join(out)

    def apply(name: str, mod: str, lo: int, hi: int, depth: int) -> str:
        nonlocal unresolved
        value = known.get(name)
        if mod and (mod[0] in "-+?" or mod[0] == ":" and len(mod) > 1 and mod[1] in "-+?"):
            colon = mod.startswith(":")
            op, word_lo = (mod[1], lo + 2) if colon else (mod[0], lo + 1)
            is_set = value is not None and (value != "" or not colon)
            if op == "-":
                return value if is_set else expand(word_lo, hi, depth + 1)
            if op == "+":
                return expand(word_lo, hi, depth + 1) if is_set else ""
            if op == "?" and not is_set:
                unresolved = True
                return ""
        if value is None:
            unresolved = True
            return ""
        return value

    result = expand(0, len(text), 0)
    return None if unresolved else result


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
                for name, default in _arg_pairs(ins.value).items():
                    # a default may name an earlier ARG (`ARG BASE=acme/php:${PHP_VERSION}`): BuildKit expands it
                    if default is not None and "$" in default:
                        default = substitute(default, info.args) or default
                    info.args[name] = default
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
    named = re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", written)
    if resolved is not None and any(str(info.args.get(n)).strip("\"'") == "" for n in named if n in info.args) \
            and resolved.lower() != "scratch" and not parse_image_ref(resolved.strip("\"'")).valid:
        # `ARG distro=""` then `FROM docker.io/library/${distro}`: no image without it, so the build must pass it
        # (an empty `${DOCKER_HUB_PROXY}` prefix is a value: `python:3.12` stays an image)
        resolved = None
    if resolved is not None and ("'" in resolved or '"' in resolved):
        # BuildKit reads FROM's words as the shell does: `FROM "${PROXY}python:3.12-slim"` names python:3.12-slim
        try:
            words = split_words(resolved)
        except ValueError:
            words = []
        resolved = words[0] if len(words) == 1 else resolved
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


def known_vars(info: DockerfileInfo, stage: Stage) -> dict[str, str | None]:
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
            value = substitute(raw, known_vars(info, stage)) if "$" in raw else raw
            stage.env[k] = raw if value is None else value
    elif cmd == "EXPOSE":
        known = known_vars(info, stage)
        for raw in ins.value:
            value = substitute(raw, known)
            if value is not None and "$" in value and "$" in raw:
                value = None  # `ARG PORT`, `ENV PORT=$PORT`, `EXPOSE ${PORT}`: the ENV holds the ARG's unknown value
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
            target = substitute(ins.value[0], known_vars(info, stage)) or ins.value[0]
            if not target.startswith("/") and stage.workdir:
                target = f"{stage.workdir.rstrip('/')}/{target}"
            stage.workdir = target
    elif cmd in ("COPY", "ADD"):
        values = list(ins.value)
        if len(values) < 2:
            info.errors.append(ParseProblem(line, f"{cmd} needs a source and a destination"))
            return
        # `COPY "a b.sln" "a b.sln"`: the builder reads shell-form words, quotes removed
        values = [_unquote(v) for v in values]
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


_OPTION_FLAGS = {"-o", "--option", "-t", "--target-release", "-c", "--config-file"}  # before the verb, with a value
_VALUE_FLAGS = {"-r", "--requirement", "-c", "--constraint", "-t", "--target", "-i", "--index-url",
                "--extra-index-url", "-f", "--find-links", "--repository", "-X", "--prefix", "--root"}


# `INSTALL_PKGS="bash curl tzdata"` in a RUN script, then `apk add ${INSTALL_PKGS}`: a list kept in a shell variable.
_SHELL_LIST = re.compile(r"""(?:^|[\s;&|(])([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"$`\\]*)"|'([^']*)')""")
_LIST_USE = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$")


def _listed(arg: str, lists: dict[str, list[str]]) -> list[str]:
    """An argument as the shell hands it over: `${INSTALL_PKGS}` the words of that list, anything else itself."""
    m = _LIST_USE.match(arg)
    return lists.get(m.group(1), [arg]) if m else [arg]


def installed_packages(script: str) -> list[str]:
    """Packages a RUN script installs with apk, apt-get, yum/dnf, pip or npm (names without versions), those listed
    in a shell variable of the same script (`INSTALL_PKGS="…"` then `apk add ${INSTALL_PKGS}`) included."""
    found: list[str] = []
    script = script.replace("\\\n", " ")
    lists = {m.group(1): (m.group(2) if m.group(2) is not None else m.group(3)).split()
             for m in _SHELL_LIST.finditer(script)} if "=" in script else {}
    for command in re.split(r"&&|\|\||;|\n|\|", script):
        try:
            words = split_words(command)
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
            verb_at = next((j for j, w in enumerate(rest) if not w.startswith("-")
                            and not (j and rest[j - 1] in _OPTION_FLAGS)), None)  # `apt-get -o Dpkg::… install`
            if verb_at is None or rest[verb_at] not in verbs:
                continue
            args = [expanded for arg in rest[verb_at + 1:] for expanded in _listed(arg, lists)]
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
