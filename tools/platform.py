"""The platform read together: compose environments, Dockerfiles, CI workflows and nginx configs,
linked to each other (which Dockerfile builds which service, which nginx config a proxy runs,
which CI workflow pushes which image). Read-only; the checks run over it.
"""
from __future__ import annotations

import os
import posixpath
import re
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from tools import ci as ci_tool
from tools import compose as compose_tool
from tools import dockerfile as df_tool
from tools import nginx as nginx_tool
from tools.findings import Location

NGINX_TARGETS = re.compile(r"^/etc/nginx/(nginx\.conf|conf\.d/[^/]+\.conf|sites-enabled/[^/]+)$")


@dataclass
class Environment:
    name: str
    files: list[str]
    project: compose_tool.ComposeProject | None = None
    error: compose_tool.ComposeError | None = None

    @property
    def services(self) -> dict[str, dict]:
        return (self.project.model.get("services") or {}) if self.project else {}

    def location(self, service: str, key: str | None = None) -> Location:
        if self.project:
            return self.project.location(service, key)
        return Location(self.files[0] if self.files else "")


@dataclass
class ServiceImage:
    """Where a service's image comes from in one environment."""

    dockerfile: str | None  # repo-relative path of the Dockerfile that builds it, when known
    how: str  # build | build-in-other-env | ci | submodule | unknown
    ci_images: list[ci_tool.BuiltImage] = field(default_factory=list)


@dataclass
class Platform:
    root: Path
    environments: dict[str, Environment]
    dockerfiles: dict[str, df_tool.DockerfileInfo]
    workflows: dict[str, ci_tool.Workflow]
    built_images: list[ci_tool.BuiltImage]
    nginx: dict[str, nginx_tool.NginxConfig]
    hadolint: Future | None = None
    notes: list[str] = field(default_factory=list)
    submodules: dict[str, str] = field(default_factory=dict)  # path -> github "owner/repo" when known

    # -- links ----------------------------------------------------------------------

    def prod_envs(self) -> list[Environment]:
        """Environments that deploy: named like prod, else all but dev when there are several."""
        named = [e for e in self.environments.values() if re.search(r"prod|production|live", e.name, re.I)]
        return named

    def dev_envs(self) -> list[Environment]:
        prods = {e.name for e in self.prod_envs()}
        return [e for e in self.environments.values() if e.name not in prods]

    def service_image(self, env: Environment, service: str) -> ServiceImage:
        svc = env.services.get(service) or {}
        build = svc.get("build")
        if isinstance(build, dict) and build.get("context"):
            return ServiceImage(self._build_dockerfile(build), "build")
        for other in self.environments.values():
            if other is env:
                continue
            obuild = (other.services.get(service) or {}).get("build")
            if isinstance(obuild, dict) and obuild.get("context"):
                return ServiceImage(self._build_dockerfile(obuild), "build-in-other-env",
                                    self.images_for(svc.get("image")))
        ci_images = self.images_for(svc.get("image"))
        for built in ci_images:
            path = self._ci_dockerfile(built)
            if path:
                return ServiceImage(path, "ci", ci_images)
        for sub in self.submodules:
            if sub == service and (self.root / sub / "Dockerfile").is_file():
                return ServiceImage(f"{sub}/Dockerfile", "submodule", ci_images)
        return ServiceImage(None, "unknown", ci_images)

    def final_stage(self, env: Environment, service: str) -> df_tool.Stage | None:
        info = self.dockerfiles.get(self.service_image(env, service).dockerfile or "")
        if info is None:
            return None
        target = ((env.services.get(service) or {}).get("build") or {}).get("target")
        return info.stage(target) if target else info.final_stage

    def images_for(self, image: str | None) -> list[ci_tool.BuiltImage]:
        """CI-built images with the same name (registry/repository, case-insensitive) as `image`."""
        if not image:
            return []
        name = _image_name(image)
        return [b for b in self.built_images if b.name.lower() == name.lower()]

    def nginx_for(self, env: Environment, service: str) -> list[tuple[str, str]]:
        """(repo-relative nginx config, how) that the service runs with in this environment."""
        svc = env.services.get(service) or {}
        out: list[tuple[str, str]] = []
        for vol in svc.get("volumes") or []:
            if vol.get("type") == "bind" and NGINX_TARGETS.match(str(vol.get("target", ""))):
                rel = self.rel(vol.get("source", ""))
                if rel:
                    out.append((rel, "volume"))
        if out:
            return out
        image = self.service_image(env, service)
        info = self.dockerfiles.get(image.dockerfile or "")
        stage = info.final_stage if info else None
        if stage:
            context = posixpath.dirname(image.dockerfile or "")
            build = svc.get("build")
            if isinstance(build, dict) and build.get("context"):
                context = self.rel(build["context"]) or context
            for copy in stage.copies:
                if copy.from_ or not NGINX_TARGETS.match(_copy_target(copy)):
                    continue
                for src in copy.sources:
                    rel = posixpath.normpath(posixpath.join(context, src))
                    if rel in self.nginx:
                        out.append((rel, "COPY in " + (image.dockerfile or "")))
        return out

    def dockerfiles_of(self, service: str) -> list[str]:
        """Dockerfiles behind a compose service (any environment), a submodule, or a Dockerfile path."""
        if service in self.dockerfiles:
            return [service]
        found: dict[str, None] = {}
        for env in self.environments.values():
            if service in env.services:
                path = self.service_image(env, service).dockerfile
                if path:
                    found[path] = None
        if not found:
            for path in self.dockerfiles:
                if path.startswith(service.rstrip("/") + "/"):
                    found[path] = None
        return list(found)

    def repo_of(self, rel_path: str) -> tuple[str | None, str]:
        """(submodule path or None, path inside that repo) of a platform-relative path."""
        for sub in sorted(self.submodules, key=len, reverse=True):
            if rel_path.startswith(sub + "/"):
                return sub, rel_path[len(sub) + 1:]
        return None, rel_path

    def rel(self, path: str) -> str | None:
        """A path as compose resolved it (absolute), made repo-relative; None when outside the repo."""
        try:
            rel = Path(os.path.relpath(path, self.root)).as_posix()
        except ValueError:
            return None
        return None if rel.startswith("..") else rel

    def _build_dockerfile(self, build: dict) -> str | None:
        context = build.get("context", "")
        if compose_tool._is_remote(str(context)):
            return None
        ctx = self.rel(str(context))
        if ctx is None:
            return None
        dockerfile = build.get("dockerfile") or "Dockerfile"
        if os.path.isabs(dockerfile):
            return self.rel(dockerfile)
        return posixpath.normpath(posixpath.join(ctx, dockerfile))

    def _ci_dockerfile(self, built: ci_tool.BuiltImage) -> str | None:
        """The Dockerfile a CI image is built from, relative to the platform root."""
        wf_repo = workflow_repo(built.location.path)
        context = (built.context or ".").strip()
        dockerfile = built.dockerfile
        candidates = []
        for base in ([wf_repo, ""] if wf_repo else [""]):
            ctx = posixpath.normpath(posixpath.join(base, context))
            path = posixpath.normpath(posixpath.join(base, dockerfile)) if dockerfile else posixpath.join(ctx, "Dockerfile")
            candidates.append(path)
        for path in candidates:
            if path in self.dockerfiles:
                return path
        return None


def _copy_target(copy: df_tool.Copy) -> str:
    dest = copy.dest or ""
    if dest.endswith("/") and len(copy.sources) == 1:
        return dest + posixpath.basename(copy.sources[0])
    return dest


def workflow_repo(rel_path: str) -> str:
    """The repo (platform-relative folder) a workflow belongs to: the part before .github/."""
    head, sep, _ = rel_path.partition(".github/")
    return head.rstrip("/") if sep else ""


def _image_name(image: str) -> str:
    ref = df_tool.parse_image_ref(image)
    if not ref.valid:
        return image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
    return f"{ref.registry}/{ref.path}" if ref.registry else ref.path


def github_repository(url: str | None) -> str | None:
    """owner/repo of a GitHub remote URL (https or ssh); None for anything else."""
    if not url:
        return None
    m = re.search(r"github\.com[:/]+([^/]+)/([^/]+?)(?:\.git)?/?$", url)
    return f"{m.group(1)}/{m.group(2)}" if m else None


def build_platform(root: Path, sources: list, environments: dict[str, list[str]], submodules=(),
                   platform_repository: str | None = None, hadolint: bool = True) -> Platform:
    """Read everything together. `sources` are the session's LoadedSource objects (their text is reused)."""
    root = Path(root)
    texts = {s.path: s.text for s in sources if s.ok and s.text is not None}
    envs: dict[str, Environment] = {}
    for name, files in environments.items():
        env = Environment(name, list(files))
        try:
            env.project = compose_tool.load_compose([root / f for f in files], root, root=root)
        except compose_tool.ComposeError as exc:
            env.error = exc
        envs[name] = env

    dockerfiles: dict[str, df_tool.DockerfileInfo] = {}
    for src in sources:
        if src.kind == "dockerfile" and src.ok:
            dockerfiles[src.path] = df_tool.parse_dockerfile_text(src.text, src.path)
    hadolint_future = None
    if hadolint and dockerfiles:
        hadolint_future = df_tool.start_hadolint([root / p for p in dockerfiles], root)

    repos = {}
    for sub in submodules:
        repos[sub.path] = github_repository(sub.url) or (
            f"{platform_repository.split('/')[0]}/{sub.name}" if platform_repository else None)
    workflows: dict[str, ci_tool.Workflow] = {}
    built: list[ci_tool.BuiltImage] = []
    for src in sources:
        if src.kind == "ci_workflow" and src.ok:
            wf = ci_tool.load_workflow(root / src.path, src.path, texts.get(src.path))
            workflows[src.path] = wf
            if wf.ok:
                repo = repos.get(workflow_repo(src.path)) or platform_repository
                built += ci_tool.built_images(wf, repository=repo)

    platform = Platform(root=root, environments=envs, dockerfiles=dockerfiles, workflows=workflows,
                        built_images=built, nginx={}, hadolint=hadolint_future,
                        submodules={s.path: repos.get(s.path) for s in submodules})
    for path in _nginx_candidates(root, platform):
        platform.nginx[path] = nginx_tool.parse_nginx(root / path)
    return platform


def _nginx_candidates(root: Path, platform: Platform) -> list[str]:
    """nginx configs the platform runs: bind-mounted into a service, or COPY'd by a Dockerfile."""
    found: dict[str, None] = {}
    for env in platform.environments.values():
        for svc in env.services.values():
            for vol in svc.get("volumes") or []:
                if vol.get("type") == "bind" and NGINX_TARGETS.match(str(vol.get("target", ""))):
                    rel = platform.rel(vol.get("source", ""))
                    if rel and (root / rel).is_file():
                        found[rel] = None
    for path, info in platform.dockerfiles.items():
        for stage in info.stages:
            for copy in stage.copies:
                if copy.from_ or not NGINX_TARGETS.match(_copy_target(copy)):
                    continue
                for src in copy.sources:
                    rel = posixpath.normpath(posixpath.join(posixpath.dirname(path), src))
                    if (root / rel).is_file():
                        found[rel] = None
    return sorted(found)
