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
from typing import Callable

from sources.git import GitError, run_git
from agent.core.files import default_dockerfile
from tools import ci as ci_tool
from tools import compose as compose_tool
from tools import dockerfile as df_tool
from tools import nginx as nginx_tool
from tools.facts.paths import is_template
from tools.findings import Location



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
class BuiltStage:
    """A Dockerfile stage that some build turns into a running image."""

    stage: df_tool.Stage
    services: list[tuple[str, str]] = field(default_factory=list)  # (environment, service) building it
    ci: bool = False  # a CI job builds this stage (its `target:`, else the final stage)


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
    nginx_sources: dict = field(default_factory=dict)  # repo path -> LoadedSource of each nginx file read
    nginx_placed: dict = field(default_factory=dict, repr=False)  # (env, service) -> its nginx Placements, once
    _builds: dict | None = field(default=None, init=False, repr=False)  # built_stages' index, built on first use
    _by_name: dict | None = field(default=None, init=False, repr=False)  # images_for's index, built on first use
    _images: dict = field(default_factory=dict, init=False, repr=False)  # service_image's answers, per service
    _owners: frozenset | None = field(default=None, init=False, repr=False)  # image_owners, computed once
    _pushed: list | None = field(default=None, init=False, repr=False)  # pushed_images, computed once

    # -- links ----------------------------------------------------------------------

    def prod_envs(self) -> list[Environment]:
        """Environments that deploy: named like prod, else all but dev when there are several."""
        from tools.environments import is_production_name

        named = [e for e in self.environments.values() if is_production_name(e.name)]
        return named

    def unnamed_sets(self) -> list[Environment]:
        """When no set is taken for production, the loaded sets a self-hosting user may run as they are (development,
        examples; not a test's nor staging's); else none: a repository that names its production said what ships."""
        if self.prod_envs():
            return []
        return [e for e in self.environments.values() if e.project is not None and self.role(e) not in ("test", "staging")]

    def role(self, env: Environment) -> str:
        """prod, staging, test or dev (tools.environments.environment_role); an environment taken for
        production is prod whatever its files' words."""
        from tools.environments import environment_role

        if env in self.prod_envs():
            return "prod"
        return environment_role(env.name, env.files)

    def dev_envs(self) -> list[Environment]:
        prods = {e.name for e in self.prod_envs()}
        return [e for e in self.environments.values() if e.name not in prods]

    def service_image(self, env: Environment, service: str) -> ServiceImage:
        """Where a service's image comes from; answered once per (environment, service): the checks ask for
        each service several times (10,000 services made 50,000 walks of every environment)."""
        key = (env.name, service)
        if key not in self._images:
            self._images[key] = self._service_image(env, service)
        return self._images[key]

    def _service_image(self, env: Environment, service: str) -> ServiceImage:
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

    def dockerfile_info(self, env: Environment, service: str) -> df_tool.DockerfileInfo | None:
        """The parsed Dockerfile behind a service in this environment, when known."""
        return self.dockerfiles.get(self.service_image(env, service).dockerfile or "")

    def built_stages(self, dockerfile: str) -> list[BuiltStage]:
        """The stages of a Dockerfile that end up as a running image, with who builds each: every compose
        `build.target` naming one, and the final stage when a build has no target (compose without `target:`,
        CI, or no known build at all). Indexed once for every Dockerfile."""
        info = self.dockerfiles.get(dockerfile)
        if info is None or info.final_stage is None:
            return []
        if self._builds is None:
            self._builds = self._index_builds()
        compose, ci_targets = self._builds.get(dockerfile, ([], []))
        found: dict[int, BuiltStage] = {}
        for target, where in compose:
            stage = (info.stage(target) if target else None) or info.final_stage
            found.setdefault(stage.index, BuiltStage(stage)).services.append(where)
        for target in ci_targets:
            stage = (info.stage(target) if target else None) or info.final_stage
            found.setdefault(stage.index, BuiltStage(stage)).ci = True
        if not found:
            found[info.final_stage.index] = BuiltStage(info.final_stage)
        return [found[i] for i in sorted(found)]

    def is_built(self, dockerfile: str) -> bool:
        """Whether a compose `build:` of an environment or a CI job builds this Dockerfile."""
        if self._builds is None:
            self._builds = self._index_builds()
        return dockerfile in self._builds

    def _index_builds(self) -> dict[str, tuple[list[tuple[str | None, tuple[str, str]]], list[str | None]]]:
        """Dockerfile -> (compose builds as (target, (environment, service)), CI build targets)."""
        index: dict[str, tuple[list, list]] = {}
        for env in self.environments.values():
            for name, svc in env.services.items():
                build = svc.get("build")
                if isinstance(build, dict) and build.get("context"):
                    path = self.dockerfile_of_build(build)
                    if path:
                        target = str(build["target"]) if build.get("target") else None
                        index.setdefault(path, ([], []))[0].append((target, (env.name, name)))
        for built in self.built_images:
            path = self.dockerfile_of_ci_image(built)
            if path:
                index.setdefault(path, ([], []))[1].append(built.target)
        return index

    def runtime_env(self, env: Environment, service: str) -> dict[str, str]:
        """The environment a service's process starts with: base image ENV, Dockerfile ENV, then compose's."""
        info, stage = self.dockerfile_info(env, service), self.final_stage(env, service)
        out = info.runtime_env(stage) if info is not None and stage is not None else {}
        svc = env.services.get(service) or {}
        if not stage and svc.get("image"):
            out = df_tool.image_env(str(svc["image"]))
        out.update({str(k): str(v) for k, v in (svc.get("environment") or {}).items() if v is not None})
        return out

    def listen(self, env: Environment, service: str) -> tuple[df_tool.Listen, str] | None:
        """Where a service's process listens, and where that comes from (compose command or the Dockerfile's CMD)."""
        svc = env.services.get(service) or {}
        stage = self.final_stage(env, service)
        entry = (compose_tool.command_argv(svc.get("entrypoint"))
                 or (stage.entrypoint.words() if stage and stage.entrypoint else []))
        cmd = (compose_tool.command_argv(svc.get("command"))
               or (stage.cmd.words() if stage and stage.cmd and not svc.get("entrypoint") else []))
        if not entry + cmd:
            return None
        found = df_tool.listen_from_command(entry + cmd, self.runtime_env(env, service))
        if found is None:
            return None
        how = "compose command" if svc.get("command") or svc.get("entrypoint") \
            else f"CMD of {self.service_image(env, service).dockerfile}"
        return found, how

    def image_ships(self, env: Environment, service: str, binary: str) -> tuple[bool | None, str | None]:
        """(whether the service's image has `binary`, the base image judged): True when a RUN of the stage
        installs it (apk, apt-get, pip...), else the base image's known contents; None when unknown."""
        stage = self.final_stage(env, service)
        info = self.dockerfile_info(env, service)
        if stage is not None and info is not None:
            if stage.installs(binary):
                return True, None
            base = info.root_stage(stage).base_ref
        else:
            base = str((env.services.get(service) or {}).get("image") or "") or None
        return df_tool.image_has_binary_guess(base, binary), base

    def images_for(self, image: str | None) -> list[ci_tool.BuiltImage]:
        """CI-built images with the same name (registry/repository, case-insensitive, Docker Hub's implied
        `docker.io/` either way) as `image`."""
        if not image:
            return []
        if self._by_name is None:
            self._by_name = {}
            for b in self.built_images:  # `solidnerd/bookstack` and `docker.io/solidnerd/bookstack` are one name
                self._by_name.setdefault(_image_name(b.name).lower(), []).append(b)
        return list(self._by_name.get(_image_name(image).lower(), ()))

    def pushed_images(self) -> list[str]:
        """The images (registry/repository, lower case, sorted) a workflow of the platform builds and pushes: the
        platform's own images, known alike to the review (XF001 points prod at them) and to the gate (POL003)."""
        if self._pushed is None:
            self._pushed = sorted({b.name.lower() for b in self.built_images if b.pushed})
        return self._pushed

    def image_owners(self) -> frozenset[str]:
        """The registry namespaces (lower case) the CI pushes images to, for example `acme` of ghcr.io/acme/api."""
        if self._owners is None:
            self._owners = frozenset(b.name.split("/")[1].lower() for b in self.built_images if b.name.count("/") >= 2)
        return self._owners

    def nginx_for(self, env: Environment, service: str) -> list[tuple[str, str]]:
        """(repo-relative nginx config, how) that the service runs with in this environment: each file nginx reads
        by itself (nginx.conf, conf.d/, templates/), not one it reaches only through another's include."""
        placed = [p for p in self.nginx_placements(env, service) if p.path in self.nginx]
        reached = {f for p in placed for f in self.nginx[p.path].files[1:]}
        return [(p.path, p.how) for p in placed if str(self.root / p.path) not in reached]

    def nginx_files_for(self, env: Environment, service: str) -> list[str]:
        """Every repo nginx file the service's nginx reads: those it reads by itself and those they include."""
        out: dict[str, None] = {}
        for p in self.nginx_placements(env, service):
            conf = self.nginx.get(p.path)
            if conf is not None:
                out[p.path] = None
                out.update((rel, None) for rel in map(self.rel, conf.files[1:]) if rel)
        return list(out)

    def nginx_placements(self, env: Environment, service: str) -> list[nginx_tool.Placement]:
        """The nginx files in the service's container: COPY'd by the stage it runs, then bind mounts, which
        replace what the image had at the same path (a mounted folder hides everything under it)."""
        if (env.name, service) in self.nginx_placed:
            return self.nginx_placed[(env.name, service)]
        svc = env.services.get(service) or {}
        image = self.service_image(env, service)
        stage = self.final_stage(env, service)
        context = posixpath.dirname(image.dockerfile or "")
        build = svc.get("build")
        if isinstance(build, dict) and build.get("context"):
            context = self.rel(str(build["context"])) or context
        placed: dict[str, nginx_tool.Placement] = {}
        if stage is not None:
            for p in _copy_placements(self.root, stage, context, image.dockerfile or ""):
                placed[p.target] = p
        for vol in svc.get("volumes") or []:
            target = posixpath.normpath(str(vol.get("target", "")))
            rel = self.rel(str(vol.get("source", ""))) if vol.get("type") == "bind" else None
            if not rel or not target.startswith(nginx_tool.NGINX_DIR):
                continue
            if (self.root / rel).is_dir():
                placed = {t: p for t, p in placed.items() if not t.startswith(target.rstrip("/") + "/")}
            for p in nginx_tool.placements(self.root, rel, target, f"volume in {env.name}"):
                placed[p.target] = p
        self.nginx_placed[(env.name, service)] = list(placed.values())
        return self.nginx_placed[(env.name, service)]

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

    def uninitialised_submodule(self, rel_path: str) -> str | None:
        """The submodule holding a platform-relative path when it is not checked out (an empty folder or none):
        what is inside it cannot be told."""
        sub, _ = self.repo_of(rel_path.rstrip("/") + "/")
        if sub is None:
            return None
        folder = self.root / sub
        try:
            return None if folder.is_dir() and any(folder.iterdir()) else sub
        except OSError:
            return sub

    def is_tracked(self, rel_path: str) -> bool:
        """Whether git's index holds the path (a file, or files under a folder): absent from the work tree, it is a
        checkout that left it out (sparse, an LFS file not fetched, an object the clone lacks), not a missing file."""
        return self._git_lists("ls-files", rel_path)

    def is_gitignored(self, rel_path: str) -> bool:
        """Whether git ignores a platform-relative path (asked of the submodule that holds it, if any): a
        gitignored `.env` is a deploy-time file, absent from every clone on purpose."""
        return self._git_lists("check-ignore", rel_path)

    def _git_lists(self, command: str, rel_path: str) -> bool:
        """Whether `git <command> -- <path>`, asked of the repository (or submodule) holding the path, prints it."""
        sub, inner = self.repo_of(rel_path)
        repo = self.root / sub if sub else self.root
        if not (repo / ".git").exists():
            return False
        try:
            return bool(run_git([command, "--", inner], repo, check=False).strip())
        except (OSError, GitError):
            return False

    def rel(self, path: str) -> str | None:
        """A path as compose resolved it (absolute), made repo-relative; None when outside the repo."""
        try:
            rel = Path(os.path.relpath(path, self.root)).as_posix()
        except ValueError:
            return None
        return None if rel.startswith("..") else rel

    def dockerfile_of_build(self, build: dict) -> str | None:
        """The repo-relative Dockerfile a compose `build:` section builds; None when remote or outside the repo."""
        return self._build_dockerfile(build)

    def dockerfile_of_ci_image(self, built: ci_tool.BuiltImage) -> str | None:
        """The repo-relative Dockerfile a CI job builds an image from, when it is one of the platform's."""
        return self._ci_dockerfile(built)

    def _build_dockerfile(self, build: dict) -> str | None:
        context = build.get("context", "")
        if compose_tool.is_remote(str(context)):
            return None
        ctx = self.rel(str(context))
        if ctx is None:
            return None
        dockerfile = default_dockerfile(self.root / ctx, build.get("dockerfile") or "Dockerfile")
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
            path = posixpath.join(base, dockerfile) if dockerfile else \
                posixpath.join(ctx, default_dockerfile(self.root / ctx))
            candidates.append(posixpath.normpath(path))  # `context: .` with no `file:` is ./Dockerfile, that is Dockerfile
        for path in candidates:
            if path in self.dockerfiles:
                return path
        return None


def _copy_placements(root: Path, stage: df_tool.Stage, context: str, dockerfile: str) -> list[nginx_tool.Placement]:
    """The nginx files a stage's COPY/ADD instructions put in the image (sources relative to the build context)."""
    out: list[nginx_tool.Placement] = []
    for copy in stage.copies:
        dest = copy.dest or ""
        if copy.from_ or copy.heredoc or not posixpath.normpath(dest).startswith(nginx_tool.NGINX_DIR):
            continue
        into = dest.endswith("/") or len(copy.sources) > 1 or posixpath.normpath(dest) in nginx_tool.IMAGE_DIRS
        for src in copy.sources:
            rel = posixpath.normpath(posixpath.join(context, src))
            if not rel.startswith(".."):
                out += nginx_tool.placements(root, rel, posixpath.normpath(dest), f"COPY in {dockerfile}", into)
    return out


def workflow_repo(rel_path: str) -> str:
    """The repo (platform-relative folder) a workflow belongs to: the part before .github/."""
    head, sep, _ = rel_path.partition(".github/")
    return head.rstrip("/") if sep else ""


_image_name = df_tool.image_name  # one key for an image's name, the discovery's and the platform's


def github_repository(url: str | None) -> str | None:
    """owner/repo of a GitHub remote URL (https or ssh); None for anything else."""
    if not url:
        return None
    m = re.search(r"github\.com[:/]+([^/]+)/([^/]+?)(?:\.git)?/?$", url)
    return f"{m.group(1)}/{m.group(2)}" if m else None


def _parsed_compose(sources: list) -> dict:
    return {s.path: (s.data, s.lines) for s in sources
            if s.kind == "compose" and s.ok and isinstance(s.data, dict) and s.lines is not None}


def start_environments(root: Path, sources: list, environments: dict[str, list[str]],
                       max_file_bytes: int = nginx_tool.DEFAULT_MAX_FILE_BYTES,
                       variables: dict[str, dict] | None = None,
                       env_files: dict[str, list] | None = None) -> Future:
    """Each environment's model from Compose, loaded in a background thread (`build_platform(loading=...)`
    takes the Future): Compose is a subprocess, so this process's own work goes on while it runs."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="compose")
    try:
        return pool.submit(_load_environments, Path(root), environments, max_file_bytes, _parsed_compose(sources),
                           variables, env_files)
    finally:
        pool.shutdown(wait=False)


def build_platform(root: Path, sources: list, environments: dict[str, list[str]], submodules=(),
                   platform_repository: str | None = None, hadolint: bool = True,
                   max_file_bytes: int = nginx_tool.DEFAULT_MAX_FILE_BYTES,
                   variables: dict[str, dict] | None = None, env_files: dict[str, list] | None = None,
                   read_source: Callable[[str], object] | None = None, loading: Future | None = None) -> Platform:
    """Read everything together. `sources` are the session's LoadedSource objects (their text is reused);
    files they do not hold (nginx configs) are read with the same size cap, `max_file_bytes`. `loading`: the
    environments `start_environments` began loading with the same arguments (else they are loaded here)."""
    root = Path(root)
    if loading is None:
        loading = start_environments(root, sources, environments, max_file_bytes, variables, env_files)
    # the Dockerfiles and workflows the sources hold are parsed while Compose runs
    dockerfiles: dict[str, df_tool.DockerfileInfo] = {}
    for src in sources:
        if src.kind == "dockerfile" and src.ok and not is_template(src.path, src.text):
            dockerfiles[src.path] = df_tool.parse_dockerfile_text(src.text, src.path)
    texts = {s.path: s.text for s in sources if s.ok and s.text is not None}
    repos = {}
    for sub in submodules:
        repos[sub.path] = github_repository(sub.url) or (
            f"{platform_repository.split('/')[0]}/{sub.name}" if platform_repository else None)
    workflows: dict[str, ci_tool.Workflow] = {}
    built: list[ci_tool.BuiltImage] = []
    for src in sources:
        if src.kind == "ci_workflow" and src.ok:
            wf = ci_tool.load_workflow(root / src.path, src.path, texts.get(src.path), src.node)
            workflows[src.path] = wf
            if wf.ok:
                repo = repos.get(workflow_repo(src.path)) or platform_repository
                built += ci_tool.built_images(wf, repository=repo)

    envs = loading.result()
    _match_sources(envs, sources)
    if read_source is not None:  # Dockerfiles named through variables (`dockerfile: ${X}`): known only now
        for src in _built_dockerfiles(root, envs, sources, read_source):
            sources.append(src)
            if src.kind == "dockerfile" and src.ok and not is_template(src.path, src.text):
                dockerfiles[src.path] = df_tool.parse_dockerfile_text(src.text, src.path)
    # hadolint in the background: it runs while nginx is read and the checks run
    linted = list(dict.fromkeys(s.path for s in sources if s.kind == "dockerfile" and s.ok and s.path in dockerfiles))
    sub_paths = [s.path for s in submodules]
    configs = {root / p: (root / c if (c := df_tool.hadolint_config(root, p, sub_paths)) else None) for p in linted}
    hadolint_future = (df_tool.start_hadolint([root / p for p in linted], root, configs=configs)
                       if hadolint and linted else None)

    platform = Platform(root=root, environments=envs, dockerfiles=dockerfiles, workflows=workflows,
                        built_images=built, nginx={}, hadolint=hadolint_future,
                        submodules={s.path: repos.get(s.path) for s in submodules})
    _read_nginx(platform, sources, max_file_bytes)
    return platform


def _existing(root: Path, candidates: list[tuple[str, ...]]) -> list[Path]:
    """For each env file a call names, the first of its candidate paths that is a file of the repository."""
    out = []
    for options in candidates:
        hit = next((root / c for c in options if (root / c).is_file()), None)
        if hit is not None:
            out.append(hit)
    return out


def _built_dockerfiles(root: Path, envs: dict[str, Environment], sources: list, read_source) -> list:
    """The Dockerfiles the effective models build that the sources do not hold yet, read as sources."""
    have = {s.path for s in sources if s.kind == "dockerfile"}
    out = []
    for env in envs.values():
        for svc in env.services.values():
            build = svc.get("build") if isinstance(svc, dict) else None
            if not isinstance(build, dict) or compose_tool.is_remote(str(build.get("context", ""))):
                continue
            context = str(build.get("context") or "")
            dockerfile = default_dockerfile(context, str(build.get("dockerfile") or "Dockerfile"))
            full = os.path.normpath(os.path.join(context, dockerfile))
            try:
                rel = Path(full).relative_to(root).as_posix()
            except ValueError:
                continue  # outside the repository: XF003 says so
            if rel not in have and os.path.isfile(full):
                have.add(rel)
                out.append(read_source(rel))
    return out


def _match_sources(envs: dict[str, Environment], sources: list) -> None:
    """The review's sha256s must describe what was checked: a compose file whose bytes differ between the
    loaded source and what Compose read (it changed meanwhile) leaves its environment unloaded."""
    shas = {s.path: s.sha256 for s in sources if s.kind == "compose" and s.ok and s.sha256}
    for env in envs.values():
        if env.project is None:
            continue
        for rel, sha in env.project.inputs.items():
            if rel in shas and sha is not None and sha != shas[rel]:
                env.error = compose_tool.ComposeError(
                    f"{rel} changed while it was reviewed (sources read sha256 {shas[rel][:12]}, Compose read "
                    f"{sha[:12]}): review again", rel)
                env.project = None
                break


def _load_environments(root: Path, environments: dict[str, list[str]], max_file_bytes: int,
                       parsed: dict | None = None,
                       variables: dict[str, dict[str, tuple[str, str]]] | None = None,
                       env_files: dict[str, list[tuple[str, ...]]] | None = None) -> dict[str, Environment]:
    """Each environment's model from Compose, all at once (each is a short subprocess, cached by content)."""
    from concurrent.futures import ThreadPoolExecutor

    def load(item: tuple[str, list[str]]) -> Environment:
        name, files = item
        env = Environment(name, list(files))
        try:
            # Compose's project directory is the first file's folder (no --project-directory): relative
            # paths, `.env` and the project name are resolved from there, not from the repository's root.
            project_dir = root / posixpath.dirname(files[0]) if files else root
            env.project = compose_tool.load_compose([root / f for f in files], project_dir, root=root,
                                                    max_file_bytes=max_file_bytes, parsed=parsed, profiles=["*"],
                                                    defaults=(variables or {}).get(name),
                                                    env_files=_existing(root, (env_files or {}).get(name, [])),
                                                    assume_unset=True)
        except compose_tool.ComposeError as exc:
            env.error = exc
        return env

    items = list(environments.items())
    if len(items) <= 1:
        loaded = [load(i) for i in items]
    else:
        with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
            loaded = list(pool.map(load, items))
    return {env.name: env for env in loaded}


def _read_nginx(platform: Platform, sources: list, max_file_bytes: int) -> None:
    """Parse each nginx file a container reads, in the context it is read in (main or http), its includes
    resolved through the same container's mounts and COPYs; the files read become `nginx_sources`."""
    owners: dict[str, list[nginx_tool.Placement]] = {}  # file -> the placements of the container that has it
    first: dict[str, nginx_tool.Placement] = {}
    for env in platform.environments.values():
        for name in env.services:
            placed = platform.nginx_placements(env, name)
            for p in placed:
                first.setdefault(p.path, p)
                owners.setdefault(p.path, placed)
    for path, info in platform.dockerfiles.items():  # Dockerfiles no compose service builds
        if info.final_stage is not None:
            for p in _copy_placements(platform.root, info.final_stage, posixpath.dirname(path), path):
                if p.path not in first:
                    first[p.path], owners[p.path] = p, [p]
    reader = nginx_tool.SourceReader(platform.root, sources, max_file_bytes)
    ordered = sorted(first.values(), key=lambda p: (p.context == "unknown", p.path))
    reached: set[str] = set()
    for p in ordered:
        if p.context == "unknown" and str(platform.root / p.path) in reached:
            continue  # an include of another config, parsed there in its context
        text, why = reader.read(p.path)
        full = str(platform.root / p.path)
        if text is None:
            conf = nginx_tool.NginxConfig(full, context=p.context or "unknown", placed_at=p.target)
            conf.errors.append(nginx_tool.ConfigProblem(why or "cannot read", nginx_tool.Where(full, None),
                                                        "unreadable"))
        else:
            conf = nginx_tool.parse_nginx_text(text, full, p.context or "unknown", reader.resolver(owners[p.path]))
            conf.placed_at = p.target
        reached.update(conf.files[1:])
        platform.nginx[p.path] = conf
    platform.nginx_sources = dict(reader.sources)
