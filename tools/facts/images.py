"""The images a file names (FROM, `image:`, workflow `docker://`), and their identity across tags."""
from __future__ import annotations

import posixpath
import re

from tools.facts.documents import yaml_documents
from tools.facts.paths import infra_kind

# ------------------------------------------------------------------------------------ images

_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", re.I | re.M)
_IMAGE_LINE = re.compile(r"""^\s*(?:-\s*)?image\s*:\s*["']?([^\s"'#]+)""", re.M)


def image_key(ref: str) -> str:
    """An image's identity without tag or digest, normalised (`nginx:1.27` -> `docker.io/library/nginx`)."""
    from tools.dockerfile import parse_image_ref

    parsed = parse_image_ref(ref)
    if parsed.valid:
        return f"{parsed.registry}/{parsed.repository}"
    # A tag written with variables (`api:${TAG:-main-${SHA}}`) ends at the name: the first `:` of the last part.
    head, _, last = ref.split("@", 1)[0].rpartition("/")
    name = (head + "/" if head else "") + last.split(":", 1)[0]
    again = parse_image_ref(name)
    return f"{again.registry}/{again.repository}" if again.valid else name


def image_short_name(ref: str) -> str:
    """The name an intention uses for an image: its last path component (`bitnami/redis:7` -> redis)."""
    return image_key(ref).rsplit("/", 1)[-1]


def images_in(path: str, text: str | None) -> list[str]:
    """Image references a file runs or builds from: Dockerfile `FROM` (not earlier stages, not scratch), compose
    `image:`, workflow `container:`/`services:` images and `docker://` steps."""
    if not text:
        return []
    kind = infra_kind(path, text)
    out: list[str] = []
    if kind == "dockerfile":
        stages: set[str] = set()
        for m in _FROM.finditer(text):
            ref = m.group(1)
            if ref.lower() != "scratch" and ref.lower() not in stages:
                out.append(ref)
            if m.group(2):
                stages.add(m.group(2).lower())
        return out
    if kind not in ("compose", "ci") and not posixpath.basename(path).endswith((".yml", ".yaml")):
        return out
    docs = yaml_documents(text)
    if docs is None:
        return [m.group(1) for m in _IMAGE_LINE.finditer(text)]
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        for svc in (doc.get("services") or {}).values() if isinstance(doc.get("services"), dict) else []:
            if isinstance(svc, dict) and isinstance(svc.get("image"), str):
                out.append(svc["image"])
        for job in (doc.get("jobs") or {}).values() if isinstance(doc.get("jobs"), dict) else []:
            if not isinstance(job, dict):
                continue
            container = job.get("container")
            if isinstance(container, str):
                out.append(container)
            elif isinstance(container, dict) and isinstance(container.get("image"), str):
                out.append(container["image"])
            for svc in (job.get("services") or {}).values() if isinstance(job.get("services"), dict) else []:
                if isinstance(svc, dict) and isinstance(svc.get("image"), str):
                    out.append(svc["image"])
            for step in job.get("steps") if isinstance(job.get("steps"), list) else []:
                uses = step.get("uses") if isinstance(step, dict) else None
                if isinstance(uses, str) and uses.startswith("docker://"):
                    out.append(uses[len("docker://"):])
    return out
