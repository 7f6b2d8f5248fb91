"""Reading a source file safely: confined to the repo, regular files only, size-capped, hashed, decoded.

The one reader of every file the session takes as input: the charter and every source (`sources/` re-exports it).
"""
from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
import stat
from dataclasses import dataclass
from pathlib import Path


class SourceReadError(Exception):
    """A file that cannot be taken as a source. `status` is the LoadedSource status to record."""

    def __init__(self, status: str, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class FileContent:
    path: Path  # absolute, resolved
    data: bytes
    text: str
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)


def confine(root: Path, rel: str, real_root: str | None = None) -> Path:
    """`root/rel` if it stays inside root after resolving `..` and symlinks; else SourceReadError.
    `real_root`: `root` already resolved (a loader reading many files resolves it once)."""
    if os.path.isabs(rel):
        raise SourceReadError("unreadable", f"refused: {rel} is an absolute path; sources are repo-relative")
    if any(part == ".." for part in Path(rel).parts):
        raise SourceReadError("unreadable", f"refused: {rel} leaves the repository through '..'")
    real_root = real_root or os.path.realpath(root)
    candidate = (root / rel)
    try:
        resolved = candidate.resolve()
    except RuntimeError:  # a symlink loop (Python 3.13 raises OSError ELOOP instead)
        raise SourceReadError("unreadable", f"refused: {rel} is a symlink loop") from None
    except OSError as exc:
        problem = "is a symlink loop" if exc.errno == errno.ELOOP else f"cannot be resolved ({exc.strerror})"
        raise SourceReadError("unreadable", f"refused: {rel} {problem}") from None
    inside = str(resolved) == real_root or str(resolved).startswith(real_root.rstrip(os.sep) + os.sep)
    if not inside:
        raise SourceReadError("unreadable", f"refused: {rel} resolves outside the repository (symlink to {resolved})")
    return candidate


def read_source_file(path: Path, max_bytes: int, shown: str | None = None) -> FileContent:
    """Read, hash and decode one file. Raises SourceReadError with the status to record.
    The file is opened first and judged by what was opened (a regular file, within the cap), and never more
    than the cap is read: a symlink swapped for /dev/zero or a FIFO after a check still reads nothing."""
    shown = shown or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise SourceReadError("missing", f"{shown} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SourceReadError("unreadable", f"refused: {shown} is a symlink loop") from None
        raise SourceReadError("unreadable", f"{shown}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SourceReadError("unreadable", f"refused: {shown} is not a regular file")
        if st.st_size > max_bytes:
            raise SourceReadError("unreadable", _over_cap(shown, st.st_size, max_bytes))
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise SourceReadError("unreadable", f"{shown}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # grew since it was opened
        raise SourceReadError("unreadable", _over_cap(shown, len(data), max_bytes, more=True))
    if b"\0" in data[:8192]:
        raise SourceReadError("unreadable", f"{shown} is a binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceReadError("unreadable", f"{shown} is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    return FileContent(path=path, data=data, text=text, sha256=hashlib.sha256(data).hexdigest())


def _over_cap(shown: str, size: int, max_bytes: int, more: bool = False) -> str:
    return (f"refused: {shown} is {'over ' if more else ''}{size} bytes, over the {max_bytes}-byte cap "
            f"(max_file_bytes in .devops-agent.yaml)")


# -- a Compose file whatever its name ----------------------------------------------------------------

_SERVICES_KEY = re.compile(r"^services:[ \t]*(?:#.*)?$", re.M)
_TOP_KEY = re.compile(r"^([A-Za-z_][\w.-]*)[ \t]*:", re.M)
_SERVICE_SOURCE = re.compile(r"^[ \t]+(?:image|build):", re.M)
_NEXT_CONTENT = re.compile(r"^[ \t]*([^\s#][^\n]*)$", re.M)  # the next line that is neither blank nor a comment
_COMPOSE_TOP_KEYS = frozenset({"version", "name", "services", "networks", "volumes", "configs", "secrets", "include"})
SNIFFED_BYTES = 256 * 1024  # a compose file is read this far to tell what it is


# What installs or upgrades a product on its users' servers (`install.sh`, `upgrade.sh`, `deploy-prod.sh`): read
# beside a compose file by the loader, evidence of production for the environments.
INSTALL_SCRIPT = re.compile(r"^(?:install|installer|setup|deploy|upgrade|update|bootstrap|provision)(?:[-_.][\w.-]*)?"
                            r"\.(?:sh|bash)$", re.I)


def looks_like_compose(text: str | None) -> bool:
    """A YAML text that is a Compose file whatever its name (`manual-install/latest.yml` a README copies to
    compose.yaml): a top-level `services:`, no top-level key Compose does not know (extensions `x-` aside), and a
    service with an `image:` or `build:`. Kubernetes manifests, Helm values and CI files have other top-level keys."""
    if not text:
        return False
    m = _SERVICES_KEY.search(text)
    if m is None:
        return False
    first = _NEXT_CONTENT.search(text, m.end())
    if first is None or first.group(1).startswith("-"):
        return False  # `services:` holding a list (a Render or DigitalOcean blueprint) is no Compose file
    unknown = {k for k in _TOP_KEY.findall(text) if k not in _COMPOSE_TOP_KEYS and not k.startswith("x-")}
    return not unknown and bool(_SERVICE_SOURCE.search(text))


# A file another tool renders into the real one (Jinja, Go templates, ERB, envsubst's *.template).
_TEMPLATE_SUFFIXES = (".j2", ".jinja", ".jinja2", ".tmpl", ".tpl", ".template", ".mustache", ".erb", ".hbs",
                      ".njk", ".gotmpl")
_TEMPLATE_STATEMENT = re.compile(r"^[ \t]*\{%-?\s*(?:if|for|macro|set|include|import|extends|block)\b", re.M)
# In a Dockerfile, which has no block scalars to quote them, also the other engines' statements at the start of a
# line: Go's `{{ if }}`/`{{ range }}` and the scriptlets of ERB, JSP or Groovy (`<% if (…) print 'FROM …' %>`). In a
# compose file those are text inside a block scalar (an alert template, a config's content).
_DOCKERFILE_TEMPLATE_STATEMENT = re.compile(r"^[ \t]*(?:\{\{-?\s*(?:if|range|with|define|template|block)\b|<%(?!%))",
                                            re.M)
# A generator's placeholders in a Dockerfile (`FROM php:8.4-%%VARIANT%%`, `FROM php:{PHP_TAG}`, autoconf's
# `@VERSION@`), and the suffixes such sources carry (`Dockerfile-debian.templ`, `Dockerfile.model`, `Dockerfile.in`).
_DOCKERFILE_PLACEHOLDER = re.compile(r"%%[A-Z][A-Z0-9_]*%%|^[ \t]*(?i:FROM)[ \t][^\n]*?(?<![${\w])\{[A-Z][A-Z0-9_]*\}(?!\})"
                                     r"|^[ \t]*(?i:FROM)[ \t][^\n]*?@[A-Z][A-Z0-9_]*@", re.M)
_DOCKERFILE_TEMPLATE_SUFFIXES = (".templ", ".model", ".in")
# A piece another Dockerfile is assembled from (`Dockerfile.append` a workflow concatenates): no FROM of its own.
_FROM_LINE = re.compile(r"^[ \t]*FROM\s", re.M | re.I)
_INSTRUCTION_LINE = re.compile(r"^[ \t]*(?:RUN|COPY|ADD|ENV|CMD|ENTRYPOINT|WORKDIR|USER|EXPOSE|LABEL)\s", re.M | re.I)


# A project generator's folder (cookiecutter's `{{cookiecutter.project_slug}}/`, copier's `{{ name }}/`): every file
# beneath is a template of the generated project's file.
_GENERATOR_FOLDER = re.compile(r"\{\{[^/]*\}\}")
_TEMPLATE_FOLDERS = {"templates", "template"}


def default_dockerfile(folder: str | os.PathLike[str], name: str = "Dockerfile") -> str:
    """The Dockerfile a build of `folder` reads when it names `Dockerfile` (or none): BuildKit and `docker build`
    fall back to a lowercase `dockerfile` when the folder has no `Dockerfile` (a case-sensitive file system)."""
    from pathlib import Path

    base = Path(folder)
    if name == "Dockerfile" and not (base / name).is_file() and (base / "dockerfile").is_file():
        return "dockerfile"
    return name


def is_template(path: str, text: str | None = None) -> bool:
    """A template of a file, not the file: by its suffix (`Dockerfile.j2`, `Dockerfile.tmpl`), a project
    generator's folder in its path (`{{cookiecutter.project_slug}}/Dockerfile`), or a Jinja statement at the start
    of a line (`{% if base == "alpine" %}`); a Dockerfile also by a generator's placeholders (`%%VARIANT%%`,
    `{PHP_TAG}`) or by having no FROM (a piece another Dockerfile is assembled from). It is still infrastructure
    for the gate."""
    name = posixpath.basename(path).lower()
    dockerfile = "dockerfile" in name or "containerfile" in name
    if dockerfile and name.endswith(_DOCKERFILE_TEMPLATE_SUFFIXES):
        return True
    head = (text or "")[:200_000]
    if dockerfile and head and (_DOCKERFILE_TEMPLATE_STATEMENT.search(head) or _DOCKERFILE_PLACEHOLDER.search(head)
                                or (not _FROM_LINE.search(head) and _INSTRUCTION_LINE.search(head))):
        return True
    return name.endswith(_TEMPLATE_SUFFIXES) or bool(_GENERATOR_FOLDER.search(posixpath.dirname(path))) \
        or bool(head and _TEMPLATE_STATEMENT.search(head))


def is_compose_template(path: str, text: str | None = None) -> bool:
    """A compose file that is a template (`is_template`), or one of a catalogue in a `templates/` folder
    (`templates/compose/<app>.yaml`: the product reads them into stacks of its own, with keys Compose has not)."""
    return is_template(path, text) or bool(_TEMPLATE_FOLDERS & set(posixpath.dirname(path).lower().split("/")))
