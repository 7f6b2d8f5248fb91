"""What a file is (its infra kind, from its name and text): Compose, Dockerfile, workflow, Makefile, nginx, docs, env files."""
from __future__ import annotations

import os
import posixpath
import re
import tempfile

from agent.core.charter import fold
from tools.facts.shell import makefile_is_infra, runs_docker

# ------------------------------------------------------------------------------------ nginx

_NGINX_NAME = re.compile(r"(\.conf|\.conf\.template|\.nginx)$|^nginx")


def is_nginx_text(text: str | None) -> bool:
    """The text parses as nginx configuration (crossplane, strict directives, any context) with at least one
    directive."""
    if not text or not text.strip() or len(text) > 2_000_000:
        return False
    import crossplane

    fd, tmp = tempfile.mkstemp(suffix=".conf")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            payload = crossplane.parse(tmp, single=True, strict=True, check_ctx=False, check_args=False,
                                       comments=False, catch_errors=True)
        except Exception:  # crossplane raises on inputs its lexer cannot read
            return False
        if payload.get("status") != "ok" or not payload.get("config"):
            return False
        return bool(payload["config"][0].get("parsed"))
    finally:
        os.unlink(tmp)


# ------------------------------------------------------------------------------------ what a file is

_WORKFLOW = re.compile(r"(^|/)\.github/workflows/[^/]+\.ya?ml$")
_ACTION = re.compile(r"(^|/)\.github/actions/(.+/)?action\.ya?ml$")
_COMPOSE = re.compile(r"^(docker-)?compose([._-][^/]*)?\.ya?ml$", re.I)
_MAKEFILE = re.compile(r"^(GNUmakefile|[Mm]akefile|.+\.mk)$")
_DEPLOY_DOC = re.compile(r"deploi|deploy|runbook|rollback|mise-en-prod|production|release|exploitation|operations")
_ENV_EXAMPLE = re.compile(r"^\.env(\.[\w-]+)?\.example$")
SIGNERS_FILE = ".allowed_signers"
# Kinds decided by name alone; the others need the file's text.
NAME_KINDS = ("compose", "dockerfile", "dockerignore", "ci", "env_example", "docs", "signers")


def is_compose_path(path: str) -> bool:
    return bool(_COMPOSE.match(posixpath.basename(path)))


def is_dockerfile_path(path: str) -> bool:
    name = posixpath.basename(path)
    return (name.startswith(("Dockerfile", "Containerfile")) or name.endswith((".Dockerfile", ".dockerfile"))
            or name.lower() == "dockerfile") and not name.endswith(".dockerignore")


def is_workflow_path(path: str) -> bool:
    return bool(_WORKFLOW.search(path) or _ACTION.search(path))


def is_makefile_path(path: str) -> bool:
    return bool(_MAKEFILE.match(posixpath.basename(path)))


def is_shell_path(path: str) -> bool:
    return posixpath.basename(path).endswith((".sh", ".bash"))


def is_doc_path(path: str) -> bool:
    name = posixpath.basename(path)
    if not name.lower().endswith(".md"):
        return False
    return "docs" in path.split("/")[:-1] or name == "README.md" or bool(_DEPLOY_DOC.search(fold(name)))


def is_deploy_doc_path(path: str) -> bool:
    name = posixpath.basename(path)
    return name.lower().endswith(".md") and bool(_DEPLOY_DOC.search(fold(name)))


def is_real_env_file(path: str) -> bool:
    """A real env file (`.env`, `.env.prod`, `prod.env`): it holds secrets, unlike `.env.example`."""
    name = posixpath.basename(path)
    if name.endswith((".example", ".sample", ".template", ".dist")):
        return False
    return bool(re.match(r"^\.env(\..+)?$", name) or re.match(r"^[\w.-]+\.env$", name))


def is_git_file(path: str) -> bool:
    """git's own configuration files in a tree: `.gitattributes` (filters), `.gitmodules` (URLs), `.gitignore`..."""
    name = posixpath.basename(path)
    return name.startswith(".git") and name != ".github"


def infra_kind(path: str, text: str | None) -> str | None:
    """What kind of infrastructure file `path` is, by what it is (its name and, where needed, its text), or None
    for application code and data. Kinds that need the text (nginx, makefile, deploy_script) are None without it."""
    name = posixpath.basename(path)
    if path == SIGNERS_FILE:
        return "signers"
    if is_compose_path(path):
        return "compose"
    if is_dockerfile_path(path):
        return "dockerfile"
    if name == ".dockerignore" or name.endswith(".dockerignore"):
        return "dockerignore"
    if is_workflow_path(path):
        return "ci"
    if _ENV_EXAMPLE.match(name):
        return "env_example"
    if is_doc_path(path):
        return "docs"
    if is_makefile_path(path):
        return "makefile" if text is not None and makefile_is_infra(text) else None
    if is_shell_path(path):
        if re.search(r"entrypoint|^healthcheck", name):
            return "deploy_script"
        return "deploy_script" if runs_docker(text) else None
    if _NGINX_NAME.search(name) and is_nginx_text(text):
        return "nginx"
    return None


def is_infra_path(path: str, text: str | None = None) -> bool:
    """`infra_kind(path, text) is not None`. Pass the committed text: Makefiles, shell scripts and nginx configs
    are infrastructure only by their content."""
    return infra_kind(path, text) is not None


def needs_text(path: str) -> bool:
    """Whether `infra_kind` of this path depends on the file's text (so a caller knows to read it)."""
    return infra_kind(path, None) is None and (is_makefile_path(path) or is_shell_path(path)
                                                or bool(_NGINX_NAME.search(posixpath.basename(path))))
