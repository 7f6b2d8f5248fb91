"""Compose variables: which ones a file uses, where the repository documents or its deploy sets them,
and the placeholder the review assumes for the rest. One home for the checks (CMP016), the compose
model (tools/compose.py) and the cache key of Compose runs.

Every pattern here is linear: a single left-to-right scan, no nested quantifiers.
"""
from __future__ import annotations

import re
from pathlib import Path

# Files that document a project's variables, as projects name them (beside the compose file).
EXAMPLE_ENV_NAMES = (".env.example", "env.example", "example.env", ".env.template", ".env.sample", ".env.dist",
                     ".env.defaults", ".env.default", "sample.env", "template.env", ".env.tmpl", ".env.local.example")
EXAMPLE_ENV_SUFFIXES = (".env.example", ".env.sample", ".env.template", ".env.dist")
MAX_EXAMPLE_BYTES = 256 * 1024

# `$$` (Compose's escape), `${NAME...}` with its operator, or `$NAME`.
_REF = re.compile(r"\$(?:(?P<escape>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(?P<value>.*)$")
# Values a deploy sets that the review cannot know: GitHub expressions, a secret store, and any shell expansion
# a script left unexpanded (`${X:-$PWD}`, `$(cat f)`, backticks): the review does not run the shell.
_UNKNOWN_VALUE = re.compile(r"\$|`")


def referenced_variables(text: str) -> dict[str, str]:
    """Variables a compose file interpolates, each with how: `required` (`${X?}`/`${X:?}`), `default`
    (`${X-d}`/`${X:-d}`/`${X:+a}`) or `bare` (`${X}`, `$X`); `$$X` is the container's, not Compose's."""
    out: dict[str, str] = {}
    rank = {"default": 0, "bare": 1, "required": 2}
    for m in _REF.finditer(text):
        if m.group("escape"):
            continue
        name = m.group("braced") or m.group("bare")
        op = m.group("op") or ""
        how = "required" if op.endswith("?") else "default" if op else "bare"
        prev = out.get(name)
        if prev is None or rank[how] > rank[prev]:
            out[name] = how
    return out


def parse_env_text(text: str) -> dict[str, str]:
    """KEY=value lines of a dotenv file (comments, `export`, quotes), in order."""
    return {name: value for _, name, value in env_lines(text)}


def env_lines(text: str) -> list[tuple[int, str, str]]:
    """(1-based line, KEY, value) of a dotenv file's assignments: comments and blank lines skipped, `export`
    accepted, a quoted value unquoted, an unquoted value's ` # comment` cut."""
    out: list[tuple[int, str, str]] = []
    for no, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _ENV_LINE.match(line)
        if not m:
            continue
        value = m.group("value").strip()
        close = value.find(value[0], 1) if value and value[0] in "\"'" else -1
        if close > 0 and (close == len(value) - 1 or value[close + 1:].lstrip().startswith("#")):
            value = value[1:close]  # `KEY = '8080'   # the port`: the quoted value, its comment dropped
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out.append((no, m.group("name"), value))
    return out


# An install step that makes the folder's .env from a file of the repository: `cp sample.conf .env`.
_COPIED_TO_ENV = re.compile(r"\bcp[ \t]+(?:-[a-zA-Z]+[ \t]+)*(?:\./)?([\w.-]+)[ \t]+(?:\./)?\.env\b")
_README = re.compile(r"^readme(?:\.[\w-]+)?(?:\.md|\.txt|\.rst)?$", re.I)


def example_env_files(folder: Path) -> list[Path]:
    """The files beside a compose file that document its variables: named as examples are, or the one its
    README copies to `.env` (`cp sample.conf .env`)."""
    try:
        names = sorted(p.name for p in folder.iterdir() if p.is_file())
    except OSError:
        return []
    copied: list[str] = []
    for readme in (n for n in names if _README.match(n)):
        try:
            with open(folder / readme, "rb") as fh:
                text = fh.read(MAX_EXAMPLE_BYTES).decode("utf-8", errors="replace")
        except OSError:
            continue
        copied += [m.group(1) for m in _COPIED_TO_ENV.finditer(text) if m.group(1) in names and m.group(1) != ".env"]
    return [folder / n for n in names if n in EXAMPLE_ENV_NAMES or n.endswith(EXAMPLE_ENV_SUFFIXES)] + \
        [folder / n for n in dict.fromkeys(copied) if not (n in EXAMPLE_ENV_NAMES or n.endswith(EXAMPLE_ENV_SUFFIXES))]


def documented_values(folder: Path, root: Path) -> dict[str, tuple[str, str]]:
    """name -> (value, repo-relative file) of every variable the example env files beside a compose file
    document (the first file wins)."""
    out: dict[str, tuple[str, str]] = {}
    for path, text in _example_texts(folder):
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            continue  # outside the repository: not the repository's word
        for name, value in parse_env_text(text).items():
            out.setdefault(name, (value, rel))
    return out


def _example_texts(folder: Path) -> list[tuple[Path, str]]:
    """(path, text) of the example env files beside a compose file, each read up to MAX_EXAMPLE_BYTES."""
    out: list[tuple[Path, str]] = []
    for path in example_env_files(folder):
        try:
            with open(path, "rb") as fh:
                out.append((path, fh.read(MAX_EXAMPLE_BYTES).decode("utf-8", errors="replace")))
        except OSError:
            continue
    return out


def deploy_value(value: str) -> str | None:
    """A value a deploy step sets, as the review may use it: None when it is an expression the review
    cannot evaluate (`${{ secrets.X }}`, `${X:-$PWD}`): then only the fact that it is set counts."""
    return None if _UNKNOWN_VALUE.search(value) else value


def placeholder_for(name: str) -> str:
    """A value of the right shape for a variable nothing sets, so that Compose can still compute the model
    (a port stays a number, a duration a duration, an image part a valid name); anything else stays the
    reference `${NAME}` itself (Compose does not interpolate a value it was given). The review says so."""
    upper = name.upper()
    if upper.endswith("PORT") or "_PORT_" in upper:
        return "1024"
    if re.search(r"(?:INTERVAL|TIMEOUT|PERIOD|DELAY)$", upper):
        return "10s"
    if re.search(r"(?:REPLICAS|COUNT|WORKERS|NUM|CPUS?)$", upper):
        return "1"
    if re.search(r"(?:MEM|MEMORY|MEM_LIMIT|SHM_SIZE)$", upper):
        return "512m"
    if re.search(r"(?:_IP|_ADDR|_ADDRESS|_BINDING|_BIND|_LISTEN)$|^(?:IP|BIND|LISTEN)_", upper):
        return "0.0.0.0"  # a host address a port binds to: Docker's own default when none is given
    if re.search(r"(?:UID|GID|PUID|PGID)$", upper):
        return "1000"
    if re.search(r"(?:IMAGE|REGISTRY|REPO|REPOSITORY|TAG|VERSION|NAMESPACE|ORG|NAME)$", upper):
        return "placeholder"  # a valid part of an image reference, a valid project or container name
    if re.search(r"(?:PATH|DIR|DIRECTORY|ROOT|HOME|FOLDER|VOLUME)$", upper):
        return "./placeholder"  # a path: a bind mount stays a bind mount
    return "${" + name + "}"  # kept as the reference it is: no check reads a host, a secret or a path in it


def example_mentioning(folder: Path, root: Path, name: str) -> str | None:
    """The repo-relative example env file, beside a compose file or in a folder above it up to the repository's
    root, that mentions `name` as an assignment, commented out or not (`# TRIGGER_API_URL=https://…` under "in split
    setups, set it"), or None: the repository tells users to set that variable."""
    mention = re.compile(rf"^[ \t]*#?[ \t]*(?:export[ \t]+)?{re.escape(name)}[ \t]*=", re.M)
    try:
        folder, root = folder.resolve(), root.resolve()
    except OSError:
        return None
    while True:
        for path, text in _example_texts(folder):
            if mention.search(text):
                return path.relative_to(root).as_posix()
        if folder == root or root not in folder.parents:
            return None
        folder = folder.parent


_WITH_DEFAULT = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^${}]*)\}")


def with_written_defaults(text: str) -> str:
    """The text as Compose runs it when nothing sets its variables: each `${VAR:-default}` its default
    (`${REGISTRY:-ghcr.io/acme}/app:${TAG:-2026.8.0}` -> `ghcr.io/acme/app:2026.8.0`); other references kept."""
    return _WITH_DEFAULT.sub(r"\1", text)
