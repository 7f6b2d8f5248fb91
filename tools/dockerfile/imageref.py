"""Image references read with the distribution grammar: registry, repository, tag, digest, and the pin they carry."""
from __future__ import annotations

import re
from dataclasses import dataclass

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


def image_name(image: str) -> str:
    """An image's name without its tag or digest, Docker Hub's implied registry made explicit: the key under which
    `solidnerd/bookstack:26.5.1` and a workflow's `docker.io/solidnerd/bookstack` are one image."""
    ref = parse_image_ref(image)
    if not ref.valid:
        return image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
    return f"{ref.registry}/{ref.path}" if ref.registry else ref.path


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
