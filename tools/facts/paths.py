"""What a file is (its infra kind, from its name and text): Compose, Dockerfile, workflow, Makefile, nginx, docs, env files."""
from __future__ import annotations

import os
import posixpath
import re
import tempfile

from agent.core.charter import fold
from agent.core.files import is_compose_template, is_template, looks_like_compose  # noqa: F401 (the facts of paths)
from tools.facts.shell import makefile_is_infra, runs_docker
from tools.facts.suppressions import is_suppression_file

# ------------------------------------------------------------------------------------ nginx

_NGINX_NAME = re.compile(r"(\.conf|\.conf\.template|\.nginx)$|^nginx")
# Folders whose files nginx reads whatever their names (`sites-enabled/animesphere`).
_NGINX_FOLDER = re.compile(r"(^|/)(nginx|conf\.d|sites-available|sites-enabled|snippets)/[^/]+$")


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
_ACTION = re.compile(r"(^|/)action\.ya?ml$")  # a composite action, in .github/actions/ or anywhere
_BAKE = re.compile(r"^docker-bake(\.[\w-]+)*\.(hcl|json)$")
_KUBERNETES_NAME = re.compile(r"^(kustomization|Chart|skaffold|helmfile)\.ya?ml$")
_MANIFEST = re.compile(r"\.(ya?ml|json)$")
_SHEBANG = re.compile(r"^#!\s*(/usr)?/bin/(env\s+)?(ba|z|da|k)?sh\b")
_SCRIPT_NAME = re.compile(r"entrypoint|^healthcheck|^deploy|^rollback|^release")
_COMPOSE = re.compile(r"^(docker-)?compose([._-][^/]*)?\.ya?ml$", re.I)
_MAKEFILE = re.compile(r"^(GNUmakefile|[Mm]akefile|.+\.mk)$")
_DEPLOY_DOC = re.compile(r"deploi|deploy|runbook|rollback|mise-en-prod|production|release|exploitation|operations")
_ENV_EXAMPLE = re.compile(r"^\.env(\.[\w-]+)?\.example$")
SIGNERS_FILE = ".allowed_signers"
# Kinds decided by name alone; the others need the file's text.
NAME_KINDS = ("compose", "dockerfile", "dockerignore", "ci", "env_example", "docs", "signers", "env", "bake",
              "kubernetes", "suppressions")
# A file larger than this is not classified by its text: it counts as infrastructure (fail closed).
MAX_CLASSIFIED = 256 * 1024


def is_compose_path(path: str) -> bool:
    return bool(_COMPOSE.match(posixpath.basename(path)))


def is_dockerfile_path(path: str) -> bool:
    name = posixpath.basename(path).lower()
    return (name.startswith(("dockerfile", "containerfile")) or name.endswith((".dockerfile", ".containerfile"))
            or ".dockerfile." in name or ".containerfile." in name) and not name.endswith(".dockerignore")


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
    if is_suppression_file(path):  # what the review accepts (hadolint's config, a baseline): the gate's input
        return "suppressions"
    if is_dockerfile_path(path):
        return "dockerfile"
    if name == ".dockerignore" or name.endswith(".dockerignore"):
        return "dockerignore"
    if is_workflow_path(path):
        return "ci"
    if _ENV_EXAMPLE.match(name):
        return "env_example"
    if is_real_env_file(path):
        return "env"
    if _BAKE.match(name):
        return "bake"
    if _KUBERNETES_NAME.match(name):
        return "kubernetes"
    if is_doc_path(path):
        return "docs"
    if is_makefile_path(path):
        return "makefile" if text is not None and makefile_is_infra(text) else None
    if is_shell_path(path) or (text is not None and "." not in name and _SHEBANG.match(text)):
        if _SCRIPT_NAME.search(name):
            return "deploy_script"
        return "deploy_script" if runs_docker(text) else None
    if name.endswith((".yml", ".yaml")) and looks_like_compose(text):
        return "compose"  # a Compose file under another name (`latest.yml` a README copies to compose.yaml)
    if (_NGINX_NAME.search(name) or _NGINX_FOLDER.search(path)) and is_nginx_text(text):
        return "nginx"
    if _MANIFEST.search(name) and text and "apiVersion" in text:
        from tools.facts.tooling import kubernetes_kinds  # tooling imports this module

        return "kubernetes" if kubernetes_kinds(text) else None
    return None


def is_infra_path(path: str, text: str | None = None) -> bool:
    """`infra_kind(path, text) is not None`. Pass the committed text: Makefiles, shell scripts and nginx configs
    are infrastructure only by their content."""
    return infra_kind(path, text) is not None


def needs_text(path: str) -> bool:
    """Whether `infra_kind` of this path depends on the file's text (so a caller knows to read it)."""
    name = posixpath.basename(path)
    return infra_kind(path, None) is None and (is_makefile_path(path) or is_shell_path(path) or "." not in name
                                                or name.endswith((".yml", ".yaml"))
                                                or bool(_NGINX_NAME.search(name) or _NGINX_FOLDER.search(path))
                                                or bool(_MANIFEST.search(name)))
