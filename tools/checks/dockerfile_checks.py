"""Checks over each Dockerfile: parse errors, base images, root, secrets, COPY sources, .dockerignore, hadolint."""
from __future__ import annotations

import fnmatch
import glob
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from agent.core import hints
from tools import dockerfile as df_tool
from tools.checks.registry import check
from tools.facts import image_users
from tools.dockerfile import parse as df_parse
from tools.dockerfile.imageref import image_pin
from tools.facts import secrets as secret_facts
from tools.facts.tags import tag_mutability
from tools.facts.suppressions import SAME_AS_OURS as LINTERS_SAME_AS_OURS
from tools.findings import SEVERITIES, Location
from tools.platform import Platform, workflow_repo

CONTAINER_RULES = ("sources", "Regles")  # the rules file's Containerisation section, as the charter names it
STABILITY = ("guardrails", "stabilité et à la reproductibilité")
COHERENCE = ("responsibilities", "coherence des Dockerfiles")
SECURITY_RISK = ("authority", "sécurité")

# Processes that must start as root to bind 80/443 and drop privileges themselves (the rules allow it).
ROOT_ACCEPTED_IMAGES = {"nginx", "openresty", "httpd", "caddy", "traefik", "haproxy"}
ROOT_USERS = {"root", "0"}
_REMOTE = re.compile(r"^(?:https?://|git@|git://|ssh://)")
HADOLINT_SEVERITY = {"error": "medium", "warning": "low", "info": "info", "style": "info"}
HADOLINT_WAIT = 120.0


def _platform(ctx) -> Platform:
    return ctx.models["platform"]


@dataclass
class DockerfileUse:
    """How the platform uses one Dockerfile: compose services, CI builds, build contexts."""

    services: list[tuple[str, str]] = field(default_factory=list)  # (environment, service)
    pushed: list[str] = field(default_factory=list)  # image names CI pushes from it
    ci_built: list[str] = field(default_factory=list)  # image names CI builds without pushing
    contexts: dict[str, None] = field(default_factory=dict)  # repo-relative build contexts
    # No compose service or workflow builds it here (a script may, with a context of its own): its folder
    # stands in as the context, which no check may hold against it.
    guessed: bool = False

    @property
    def deployed(self) -> bool:
        return bool(self.services or self.pushed)


def dockerfile_uses(platform: Platform) -> dict[str, DockerfileUse]:
    """Every Dockerfile's uses, built once per platform."""
    cached = getattr(platform, "_dockerfile_uses", None)
    if cached is not None:
        return cached
    uses = {path: DockerfileUse() for path in platform.dockerfiles}
    for env in platform.environments.values():
        for name, svc in env.services.items():
            build = svc.get("build")
            if not (isinstance(build, dict) and build.get("context")):
                continue
            path = platform.dockerfile_of_build(build)
            if path in uses:
                uses[path].services.append((env.name, name))
                ctx_rel = platform.rel(str(build["context"]))
                if ctx_rel is not None:
                    uses[path].contexts[ctx_rel] = None
    for built in platform.built_images:
        path = platform.dockerfile_of_ci_image(built)
        if path not in uses:
            continue
        (uses[path].pushed if built.pushed else uses[path].ci_built).append(built.name)
        uses[path].contexts[_ci_context(built, path)] = None
    for path, use in uses.items():
        if not use.contexts:
            use.contexts[_guessed_context(platform.root, path, platform.dockerfiles[path])] = None
            use.guessed = True
    platform._dockerfile_uses = uses
    return uses


def _guessed_context(root: Path, path: str, info) -> str:
    """The build context of a Dockerfile nothing here builds (a script or another repository's CI does): the
    nearest of its folder and the folders above where every file its COPY and ADD instructions name exists, else
    where most of them do (`docker/Dockerfile` copying `docker/scripts/install-s6` and a `frontend/dist` built
    first is built from the root); its own folder when none is found anywhere."""
    folder = posixpath.dirname(path)
    named = [src.strip().lstrip("/") for stage in info.stages for copy in stage.copies
             if not copy.from_ and not copy.heredoc for src in copy.sources
             if src.strip() not in ("", ".", "./") and "$" not in src and not any(ch in src for ch in "*?[")
             and not re.match(r"[a-z]+://", src)]
    best, found, candidate = folder, 0, folder
    while named:
        present = sum((root / candidate / src).exists() for src in named)
        if present == len(named):
            return candidate or "."
        if present > found:  # `frontend/dist` is built before the image: the most files found, the nearest first
            best, found = candidate, present
        if not candidate:
            break
        candidate = posixpath.dirname(candidate)
    return best or "."


def _ci_context(built, dockerfile: str) -> str:
    """The platform-relative context of a CI build, from the same base `Platform._ci_dockerfile` resolved it with."""
    repo = workflow_repo(built.location.path)
    context = (built.context or ".").strip()
    folder = posixpath.normpath(posixpath.join(repo, context))
    in_repo = {posixpath.normpath(posixpath.join(repo, built.dockerfile))} if built.dockerfile \
        else {posixpath.join(folder, "Dockerfile"), posixpath.join(folder, "dockerfile")}  # BuildKit's fallback
    base = repo if repo and dockerfile in in_repo else ""
    return posixpath.normpath(posixpath.join(base, context))


def is_test_image(path: str, use: DockerfileUse) -> bool:
    """A test image: named like one, or used by no compose service and pushed by no CI job."""
    name = posixpath.basename(path).lower()
    named = bool(re.search(r"(^|[._-])tests?($|[._-])", name))
    return (named and not use.pushed) or not use.deployed


def _ins_line(info: df_tool.DockerfileInfo, ins: df_tool.Instruction, key: str) -> int:
    """The line of `key` inside a multi-line instruction (ENV A=1 \\ B=2); BuildKit joins `original`."""
    lines = info.text.splitlines()[ins.start_line - 1:ins.end_line]
    rx = re.compile(rf"(?<![\w-]){re.escape(key)}(?=[= \t]|$)")
    for offset, text in enumerate(lines):
        if rx.search(text if offset else text.split(None, 1)[-1]):
            return ins.start_line + offset
    return ins.start_line


# -- DKF001 ----------------------------------------------------------------------------------

@check("DKF001", "Dockerfile does not parse", "high", "infra-regression", COHERENCE,
       "Fix the instruction at that line: `docker build` stops there.")
def dockerfile_parse_error(ctx, spec):
    platform = _platform(ctx)
    for path, info in platform.dockerfiles.items():
        invalid_from = {s.line for s in info.stages if s.base is not None and not s.base.valid}
        for err in info.errors:
            if err.line in invalid_from:
                continue  # an invalid base image reference is DKF002's
            if not info.instructions and not platform.is_built(path):  # an exercise's or a future service's stub
                yield spec.finding(ctx, f"{path}: {err.message}; nothing here builds it", [Location(path, err.line)],
                                   severity="low", remediation="Write it, or delete it if nothing is meant to build it.")
                continue
            yield spec.finding(ctx, f"{path}: {err.message}", [Location(path, err.line)])


# -- DKF002 ----------------------------------------------------------------------------------

def _repo_text(root: Path, path: Path, cap: int = 200_000) -> str | None:
    """A repository file's text for a check: a regular file inside the checkout, read up to `cap` bytes (the
    sources' own reader, so a symlink out of the repository or to a device reads nothing); None otherwise."""
    from agent.core.files import SourceReadError, read_source_file

    try:
        if not path.resolve().is_relative_to(root.resolve()):
            return None
        return read_source_file(path, cap, str(path)).text
    except (SourceReadError, OSError, ValueError):
        return None


_BAKE_CONTEXTS = re.compile(r"\bcontexts\s*=\s*\{([^}]*)\}")
_BAKE_NAME = re.compile(r"^[ \t]*\"?([A-Za-z0-9][\w.-]*)\"?\s*=", re.M)


def _bake_contexts(platform: Platform) -> set[str]:
    """The named build contexts the repository's bake files give (`contexts = { base = "target:base" }`): a FROM
    that names one builds on that context (another target's output, a folder), not on an image."""
    cached = getattr(platform, "_bake_contexts", None)
    if cached is not None:
        return cached
    names: set[str] = set()
    for pattern in ("*.hcl", "*/*.hcl", "*/*/*.hcl", "docker-bake*.json"):
        for found in sorted(platform.root.glob(pattern))[:50]:
            for block in _BAKE_CONTEXTS.findall(_repo_text(platform.root, found, 500_000) or ""):
                names |= set(_BAKE_NAME.findall(block))
    platform._bake_contexts = names
    return names


@check("DKF002", "Base image not pinned to a version", "medium", "reproducibility", CONTAINER_RULES,
       "Pin the base image to a precise version (`python:3.11-slim`), never `latest` nor untagged.")
def base_image_not_pinned(ctx, spec):
    for path, info in _platform(ctx).dockerfiles.items():
        frontend = info.directives.get("syntax")
        if frontend:
            pin = image_pin(frontend)
            if pin in ("latest", "untagged"):
                line = next((i + 1 for i, l in enumerate(info.text.splitlines()[:20]) if "syntax" in l.lower()), 1)
                yield spec.finding(ctx, f"{path}: # syntax={frontend} builds with whatever frontend is newest",
                                   [Location(path, line)],
                                   remediation="Pin the frontend's major version (`# syntax=docker/dockerfile:1`) or a digest.")
        named = _bake_contexts(_platform(ctx))
        for stage in info.stages:
            loc = [Location(path, stage.line)]
            if stage.pinned == "untagged" and stage.base_ref in named:
                continue  # `FROM base` where a bake file gives `contexts = { base = "target:base" }`: a build's output
            if stage.pinned in ("latest", "untagged"):
                how = "uses `latest`" if stage.pinned == "latest" else "has no tag (means `latest`)"
                yield spec.finding(ctx, f"{path}: FROM {stage.base_ref} {how}", loc)
            elif stage.pinned == "tag" and (moving := tag_mutability(stage.base)) and moving.any_version:
                # `golang:alpine`, `node:lts-slim`: a builder stage too, what it compiles ships
                yield spec.finding(ctx, f"{path}: FROM {stage.base_ref}: {moving.why}", loc)
            elif stage.pinned == "invalid":
                yield spec.finding(ctx, f"{path}: FROM {stage.base_ref}: {stage.base.error}", loc, severity="high",
                                   remediation="Write the image as registry/repository:tag in lower case so it can be pulled.")
            elif stage.pinned == "unresolved":
                yield spec.finding(ctx, f"{path}: FROM {stage.base_image} depends on a build arg without a default",
                                   loc, severity="info",
                                   detail="the base image is chosen at build time; its pin cannot be checked here")
            for copy in stage.copies:
                # `COPY --from=ghcr.io/mlocati/php-extension-installer`: an image pulled for its files
                if not copy.from_ or info.stage(copy.from_) is not None or copy.from_.isdigit() or "$" in copy.from_ \
                        or copy.from_ in named:
                    continue
                moving = tag_mutability(copy.from_)
                if moving is not None and moving.any_version:
                    how = {"latest": "uses `latest`", "untagged": "has no tag (means `latest`)"}.get(moving.kind,
                                                                                             moving.why)
                    yield spec.finding(ctx, f"{path}: {copy.instruction} --from={copy.from_} {how}",
                                       [Location(path, copy.line)])


# -- DKF003 ----------------------------------------------------------------------------------

def _resolved_user(info: df_tool.DockerfileInfo, stage: df_tool.Stage) -> str | None:
    """The user name/uid of the final stage; None when a variable is set by the base image (not root)."""
    if stage.user is None:
        return "root"
    known = {k: (v if v is not None else info.args.get(k)) for k, v in stage.args.items()}
    known.update(stage.env)
    value = df_tool.substitute(stage.user, known)
    return None if value is None else value.split(":")[0]


@check("DKF003", "Container runs as root", "medium", "security", CONTAINER_RULES,
       "Create a user and add `USER <name>` to the final stage (root only when the process needs it, like nginx on 80/443).")
def runs_as_root(ctx, spec):
    platform = _platform(ctx)
    uses = dockerfile_uses(platform)
    for path, info in platform.dockerfiles.items():
        prods = {e.name for e in platform.prod_envs()}
        for built in platform.built_stages(path):  # a stage no build targets (`build.target`) never runs
            use = uses.get(path, DockerfileUse())
            if built.stage is not info.final_stage:
                if not built.ci and all(e not in prods for e, _ in built.services):
                    continue  # a dev-only target (an SDK stage for `dotnet watch`) is not what is deployed
                finding = _root_finding(ctx, spec, path, info, built.stage, DockerfileUse(services=built.services))
            else:
                finding = _root_finding(ctx, spec, path, info, built.stage, use)
            if finding is not None:
                yield finding


def _root_finding(ctx, spec, path: str, info: df_tool.DockerfileInfo, stage: df_tool.Stage, use: DockerfileUse):
    user = _resolved_user(info, stage)
    if user is None or user not in ROOT_USERS:
        return None
    base = info.root_stage(stage)
    if base.base is not None and base.base.short_name in ROOT_ACCEPTED_IMAGES:
        return None  # the master process needs root to bind privileged ports, then drops it
    if stage.user is None and _base_user(ctx, base) is not None:
        return None  # the base image runs as a non-root user of its own
    why = f"USER {stage.user}" if stage.user else "no USER"
    line = stage.user_line if stage.user else stage.line
    what = "final stage" if stage is info.final_stage else f"stage {stage.label}"
    if is_test_image(path, use):
        return spec.finding(ctx, f"{path}: test image runs as root ({why}); it is not deployed",
                            [Location(path, line)], severity="info")
    where = ", ".join([f"{s} ({e})" for e, s in use.services] + [f"{img} (pushed by CI)" for img in use.pushed])
    return spec.finding(ctx, f"{path}: {what} runs as root ({why})", [Location(path, line)],
                        detail=f"used by {where}" if where else "")


def _base_user(ctx, root: df_tool.Stage) -> str | None:
    """The non-root user the first stage's base image runs as: a known non-root base (tools/facts), or an
    image the platform builds itself (compose `build:` + `image:`, or a CI build) whose final stage sets one."""
    ref = root.base
    if ref is None or not ref.valid:
        return None
    known = image_users.base_image_user(ref.registry, ref.repository, ref.tag)
    if known:
        return known
    platform = _platform(ctx)
    for path in _dockerfiles_building(platform, ref):
        info = platform.dockerfiles.get(path)
        final = info.final_stage if info else None
        if final is not None and final.user is not None:
            user = _resolved_user(info, final)
            if user is not None and user not in ROOT_USERS:
                return user
    return None


def _dockerfiles_building(platform: Platform, ref: df_tool.ImageRef) -> list[str]:
    """The platform's Dockerfiles that build the image `ref` names (by registry/repository)."""
    want = f"{ref.registry}/{ref.repository}".lower()
    out = [platform.dockerfile_of_ci_image(b) for b in platform.built_images
           if _image_id(b.name) == want]
    for env in platform.environments.values():
        for svc in env.services.values():
            if isinstance(svc.get("build"), dict) and svc.get("image") and _image_id(str(svc["image"])) == want:
                out.append(platform.dockerfile_of_build(svc["build"]))
    return [p for p in dict.fromkeys(out) if p]


def _image_id(image: str) -> str:
    ref = df_tool.parse_image_ref(image)
    return f"{ref.registry}/{ref.repository}".lower() if ref.valid else image.lower()


# -- DKF004 ----------------------------------------------------------------------------------

_DEV_PATH_WORDS = frozenset({"dev", "development", "local", "test", "tests", "testing", "e2e", "ci", "debug"})


def _dockerfile_exposure(platform: Platform, path: str) -> str:
    """`prod`, `staging` or `dev`: pushed by CI or built for production is prod; built only for dev or test
    environments (or by CI without a push), or named so (`Dockerfile.dev`, `e2e/Dockerfile`), is dev; a Dockerfile
    nothing known builds counts as prod."""
    use = dockerfile_uses(platform).get(path) or DockerfileUse()
    roles = {platform.role(platform.environments[env]) for env, _ in use.services if env in platform.environments}
    if use.pushed or "prod" in roles:
        return "prod"
    if "staging" in roles:
        return "staging"
    if use.services or use.ci_built:
        return "dev"
    words = set(re.split(r"[/._-]+", path.lower()))
    return "dev" if words & _DEV_PATH_WORDS else "prod"


@check("DKF004", "Secret in ENV or ARG", "high", "security", CONTAINER_RULES,
       "Remove the value: pass the secret at run time (env_file, a mounted secret, or `RUN --mount=type=secret`).")
def secret_in_dockerfile(ctx, spec):
    """A secret value (tools/facts/secrets.py) baked into an image: high in an image that ships, low in a dev or
    test image, a placeholder to replace only in one that ships, at medium."""
    platform = _platform(ctx)
    uses = dockerfile_uses(platform)
    for path, info in platform.dockerfiles.items():
        shipped = _shipped_lines(platform, info, path)
        # nothing here builds it (no compose service, no workflow): it may ship, but nothing says so
        unbuilt = not (uses.get(path) or DockerfileUse()).deployed and not (uses.get(path) or DockerfileUse()).ci_built
        for ins in info.instructions:
            if ins.cmd == "ENV":
                pairs = list(zip(ins.value[::2], ins.value[1::2]))
            elif ins.cmd == "ARG":
                pairs = [(k, v) for k, v in df_tool.arg_pairs(ins.value).items()]
            else:
                continue
            for key, value in pairs:
                value = df_tool.unquote(value or "")
                if not value or secret_facts.is_secret_reference(key, value):
                    continue  # `ENV DB_PASSWORD_FILE=/run/secrets/db` names where the secret is mounted
                kind = secret_facts.secret_value_kind(key, value)
                placeholder = not kind and secret_facts.is_placeholder_secret(key, value)
                severity = (secret_facts.secret_severity(_dockerfile_exposure(platform, path), placeholder)
                            if kind or placeholder else None)
                if severity is None:
                    continue
                # The value itself never goes into the finding.
                what = "a placeholder to replace" if placeholder else "a literal value"
                public = secret_facts.marked_public(info.text.splitlines(), _ins_line(info, ins, key))
                if public and not placeholder:
                    yield spec.finding(ctx, f"{path}: {ins.cmd} {key} has a literal value its comment says is public "
                                            f"on purpose", [Location(path, _ins_line(info, ins, key))],
                                       severity="low", detail=f"{kind}; the comment above says \"{public}\": "
                                       "whoever pulls the image reads it, which the comment accepts")
                    continue
                if shipped is not None and ins.start_line not in shipped:
                    # a build stage's ENV stays in that stage: the image that runs never holds it
                    if placeholder:
                        continue
                    yield spec.finding(ctx, f"{path}: {ins.cmd} {key} has {what} in a build stage",
                                       [Location(path, _ins_line(info, ins, key))], severity="low",
                                       detail=(kind + "; " if kind else "") + "not in the image that runs (a later "
                                       "stage copies files only), but in that stage's layers and build cache")
                    continue
                reset = _reset_in_every_image(platform, info, path, ins, key) if ins.cmd == "ENV" else None
                if reset:
                    if placeholder:
                        continue
                    yield spec.finding(ctx, f"{path}: {ins.cmd} {key} has {what} in a stage every image that runs "
                                            f"sets again", [Location(path, _ins_line(info, ins, key))],
                                       severity="low", detail=(kind + "; " if kind else "") + f"{reset}: the value "
                                       "stays only in the image's history (`docker history`)")
                    continue
                if unbuilt and severity == "high":
                    severity, kind = "medium", (kind + "; " if kind else "") + "no compose file or workflow here builds it"
                elif severity == "high" and _set_by_every_service(platform, uses.get(path), key):
                    severity, kind = "low", (kind + "; " if kind else "") + (
                        f"every service built from it sets {key} at build or run time and no workflow publishes the "
                        f"image: the default shows only in the image's metadata")
                yield spec.finding(ctx, f"{path}: {ins.cmd} {key} has {what} baked into the image",
                                   [Location(path, _ins_line(info, ins, key))], detail=kind or "", severity=severity)


def _reset_in_every_image(platform: Platform, info: df_tool.DockerfileInfo, path: str, ins, key: str) -> str:
    """Where every stage that runs sets `key` again after this ENV (`ENV DATABASE_URL=` in the dev and prod stages
    built FROM a base stage that holds a sample URL), or "" when one image keeps the value."""
    built = platform.built_stages(path) if len(info.stages) > 1 else []
    where: list[str] = []
    for stage in list({id(b.stage): b.stage for b in built}.values()):
        chain = _stage_chain(info, stage)
        later = [i for st in chain for i in st.instructions if i.cmd == "ENV" and i.start_line > ins.start_line
                 and key in i.value[::2]]
        if not any(ins in st.instructions for st in chain):
            continue  # this image does not descend from the ENV's stage
        if not later:
            return ""
        where.append(f"line {later[-1].start_line} ({stage.name or 'stage'})")
    return "set again at " + ", ".join(where) if where else ""


def _set_by_every_service(platform: Platform, use: DockerfileUse | None, key: str) -> bool:
    """Every compose service built from the Dockerfile sets `key` (its `environment`, or its `build.args`), and no
    workflow pushes the image: the Dockerfile's default for it never reaches a container this repository runs."""
    if use is None or not use.services or use.pushed:
        return False
    for env_name, name in use.services:
        env = platform.environments.get(env_name)
        svc = env.services.get(name) if env is not None else None
        if not isinstance(svc, dict):
            return False
        environment = svc.get("environment") if isinstance(svc.get("environment"), dict) else {}
        build = svc.get("build") if isinstance(svc.get("build"), dict) else {}
        args = build.get("args") if isinstance(build.get("args"), dict) else {}
        if environment.get(key) is None and args.get(key) is None:
            return False
    return True


def _shipped_lines(platform: Platform, info: df_tool.DockerfileInfo, path: str) -> set[int] | None:
    """The lines of the instructions inside stages that end up as a running image (and the stages they build
    FROM); None when the file has a single stage (everything ships)."""
    if len(info.stages) < 2:
        return None
    shipped = {ins.start_line for built in platform.built_stages(path) for stage in _stage_chain(info, built.stage)
               for ins in stage.instructions}
    # an ARG before the first FROM belongs to no stage: judged as before, as shipping
    return shipped | {ins.start_line for ins in info.instructions if ins.start_line < info.stages[0].line}


# -- DKF008 ----------------------------------------------------------------------------------

@check("DKF008", "Build fetches code from a moving source", "medium", "reproducibility", CONTAINER_RULES,
       "Pin the ref: a release tag or a commit id (`pip install https://github.com/acme/lib/archive/v1.4.2.zip`, "
       "`git+https://…@v1.4.2`, `raw.githubusercontent.com/acme/x/<commit>/install.sh`), or vendor the file.")
def moving_source_in_build(ctx, spec):
    """A RUN or ADD that fetches a branch's archive, a git URL with no pinned ref or a raw file on a branch
    (tools/facts/moving_sources.py): medium in an image that ships, low in a dev or test image."""
    from tools.facts.moving_sources import moving_sources

    platform = _platform(ctx)
    for path, info in platform.dockerfiles.items():
        severity = "medium" if _dockerfile_exposure(platform, path) in ("prod", "staging") else "low"
        for stage in info.stages:
            known = df_parse.known_vars(info, stage)
            for ins in stage.instructions:
                if ins.cmd not in ("RUN", "ADD") or any(f.startswith("--checksum") for f in ins.flags):
                    continue  # `ADD --checksum=sha256:…` fails the build when the file changes: it does not move
                text = " ".join(ins.value) + " " + " ".join(ins.heredocs)
                if ins.cmd == "ADD":  # `ADD ${URL} /tmp/app.tar.gz` fetches the ARG's default
                    text = df_parse.substitute(text, known) or text
                for what in moving_sources(text):
                    yield spec.finding(ctx, f"{path}: {ins.cmd} fetches {what}", [Location(path, ins.start_line)],
                                       severity=severity)


# -- DKF009 .. DKF013: what the build's commands do ------------------------------------------

def _ship_severity(platform: Platform, path: str, shipped: str = "medium", other: str | None = "low") -> str | None:
    return shipped if _dockerfile_exposure(platform, path) in ("prod", "staging") else other


def ship_severity(platform: Platform, path: str, shipped: str, other: str) -> str:
    """`shipped` for a Dockerfile whose image reaches production or staging (deployed, or published by CI), else
    `other`: the one reading of what a Dockerfile is for, for checks in other modules."""
    return _ship_severity(platform, path, shipped, other) or other


def _run_text(ins: df_tool.Instruction) -> str:
    return " ".join(ins.value) + "\n" + "\n".join(ins.heredocs)


def _stage_chain(info: df_tool.DockerfileInfo, stage: df_tool.Stage) -> list[df_tool.Stage]:
    """The stage and the stages it builds FROM, first stage first."""
    chain = [stage]
    while chain[-1].base_stage is not None and len(chain) <= len(info.stages):
        parent = info.stage(chain[-1].base_stage)
        if parent is None or parent in chain:
            break
        chain.append(parent)
    return chain[::-1]


def _each_run(ctx, spec, reader, verb: str):
    """A finding for each thing `reader` says a RUN of any stage does (every stage: a builder's download or
    install shapes what ships too): medium in an image that ships, low in a dev or test image."""
    platform = _platform(ctx)
    for path, info in platform.dockerfiles.items():
        severity = _ship_severity(platform, path)
        for ins in info.instructions:
            if ins.cmd == "RUN":
                for what in reader(_run_text(ins)):
                    yield spec.finding(ctx, f"{path}: RUN {verb} {what}", [Location(path, ins.start_line)],
                                       severity=severity)


@check("DKF009", "Build runs downloaded code it did not verify", "medium", "security", CONTAINER_RULES,
       "Download to a file, compare its checksum (`echo \"<sha256>  file\" | sha256sum -c`) or verify its signature, "
       "then run it; or install from the distribution's signed packages.")
def unverified_download(ctx, spec):
    """`curl … | sh`, `wget x.deb && dpkg -i x.deb`, an archive unpacked or a binary made executable with no checksum
    or signature checked (in the same RUN or between the download and its use in the stage; `ADD <url>` without
    `--checksum` counts as a download), and packages or downloads whose signature or TLS check the step turns off
    (`apk add --allow-untrusted`, `curl -k`)
    (tools/facts/build_steps.py): medium in an image that ships, low in a dev or test image."""
    from tools.facts.build_steps import checks_turned_off, unverified_downloads

    platform = _platform(ctx)
    uses = dockerfile_uses(platform)
    for path, info in platform.dockerfiles.items():
        severity = _ship_severity(platform, path)
        use = uses.get(path)
        context = next((c for c in (use.contexts if use else []) if (platform.root / c).is_dir()), None)
        for stage in info.stages:
            scripts = _copied_scripts(platform.root, context, stage) if context is not None else {}
            fetched: dict[str, str] = {}  # what earlier steps of the stage downloaded: file name -> URL
            for ins in stage.instructions:
                if ins.cmd == "ADD" and not any(f.startswith("--checksum") for f in ins.flags) and len(ins.value) >= 2:
                    url = df_parse.substitute(ins.value[0], df_parse.known_vars(info, stage)) or ins.value[0]
                    if re.match(r"https?://", url) and not url.endswith(".git"):
                        dest = ins.value[-1]
                        name = posixpath.basename(url.split("?", 1)[0]) if dest.endswith("/") else dest
                        fetched[posixpath.basename(name)] = url
                elif ins.cmd == "RUN":
                    text = _run_text(ins)
                    for what in unverified_downloads(text, fetched):
                        yield spec.finding(ctx, f"{path}: RUN runs {what}", [Location(path, ins.start_line)],
                                           severity=severity)
                    for what in checks_turned_off(text):
                        yield spec.finding(ctx, f"{path}: RUN {what}", [Location(path, ins.start_line)],
                                           severity=severity)
                    # a script of the repository the stage copied in and runs here (`RUN /tmp/install-s6`)
                    for target, (rel, script) in scripts.items():
                        if re.search(rf"(?<![\w./-]){re.escape(target)}(?![\w.-])", text):
                            for what in unverified_downloads(script):
                                yield spec.finding(ctx, f"{path}: RUN {target} ({rel}) runs {what}",
                                                   [Location(path, ins.start_line), Location(rel)], severity=severity)


def _copied_scripts(root: Path, context: str, stage) -> dict[str, tuple[str, str]]:
    """The repository's files a stage copies in that a RUN may run: container path -> (repo path, text). Only
    files (not folders), read up to 200 KB."""
    out: dict[str, tuple[str, str]] = {}
    for copy in stage.copies:
        if copy.from_ or copy.heredoc or any("$" in s or any(ch in s for ch in "*?[") for s in copy.sources):
            continue
        for src in copy.sources:
            rel = posixpath.normpath(posixpath.join(context, src.lstrip("/")))
            text = _repo_text(root, root / rel) if not rel.startswith("..") else None
            if text is None:
                continue
            dest = copy.dest if not copy.dest.endswith("/") and len(copy.sources) == 1 else \
                posixpath.join(copy.dest, posixpath.basename(src))
            out[dest] = (rel, text)
    return out


@check("DKF010", "Build installs dependencies at no fixed version", "medium", "reproducibility", CONTAINER_RULES,
       "Name exact versions (`pip wheel uwsgi==2.0.28`, `go get example.com/m@v1.4.2`, `npm i -g turbo@2.10.0`), "
       "or install from the lock file the repository keeps.")
def unpinned_dependencies(ctx, spec):
    """Dependencies hadolint's DL3008/DL3013/DL3016/DL3018/DL3028 do not cover: `pip wheel`/`pip download`
    with no version, `go get` with none, `go install …@latest`, version ranges in global npm installs and
    corepack (tools/facts/build_steps.py)."""
    from tools.facts.build_steps import unpinned_installs

    yield from _each_run(ctx, spec, unpinned_installs, "installs")


@check("DKF016", "Dependencies installed without their lock file", "medium", "reproducibility", CONTAINER_RULES,
       "Copy the lock file in before the install (`COPY package.json package-lock.json ./`) and install from it "
       "(`npm ci`, `yarn install --frozen-lockfile`, `composer install` with composer.lock, `uv sync --locked`); "
       "pin a requirements file (`pip-compile`, `==` on each line) or pass a constraints file.")
def installs_without_lock(ctx, spec):
    """What a build step installs from a project's manifest where the lock file never entered the build (`COPY
    package.json .` then `npm install`; a .dockerignore that keeps composer.lock out), an install that may rewrite
    the lock it was given (`npm install`, `yarn` without --frozen-lockfile: low), and a pip requirements file of
    version ranges. Every stage counts: a builder's node_modules is what the final image serves."""
    from tools.facts.build_steps import LOCK_FILES, lock_installs, pip_requirement_files

    platform = _platform(ctx)
    for path, use in dockerfile_uses(platform).items():
        info = platform.dockerfiles[path]
        contexts = [c for c in use.contexts if (platform.root / c).is_dir() and not platform.uninitialised_submodule(c)]
        if not contexts:
            continue
        context = contexts[0]  # a guessed one (the Dockerfile's folder) is judged only on sources found in it
        ignored = [p.strip().lstrip("/") for p in _dockerignore(platform.root, context, path) or []
                   if p.strip() and not p.strip().startswith(("#", "!"))]
        severity = _ship_severity(platform, path)
        for stage in info.stages:
            chain = _stage_chain(info, stage)
            for ins in stage.instructions:
                if ins.cmd != "RUN":
                    continue
                copies = [c for st in chain for c in st.copies if st is not stage or c.line < ins.start_line]
                if any(c.from_ and _may_carry_project(c) for c in copies):
                    continue  # another stage brings a project folder or a lock in: what it carries cannot be told
                sources = [src for c in copies if not c.heredoc and not c.from_ for src in c.sources]
                text = _run_text(ins)
                for manager, command, frozen in lock_installs(text):
                    locks = LOCK_FILES[manager]
                    found = _lock_copied(platform.root, context, sources, locks, ignored)
                    if found is None:
                        continue
                    if not found:
                        what = f"{command}: no {' or '.join(locks)} entered the build before it"
                        yield spec.finding(ctx, f"{path}: RUN {what}", [Location(path, ins.start_line)],
                                           severity=severity, subject=f"{manager} without lock",
                                           detail="each build resolves the dependencies again, at whatever "
                                                  "versions the registry holds that day")
                    elif not frozen:
                        how = "npm ci" if manager == "npm" else f"{manager} with its frozen-lock flag"
                        yield spec.finding(ctx, f"{path}: RUN {command} may rewrite {locks[0]} instead of "
                                                f"refusing a lock out of step (use {how})",
                                           [Location(path, ins.start_line)], severity="low",
                                           subject=f"{manager} not frozen")
                for requirements, pinned in pip_requirement_files(text):
                    if pinned:
                        continue
                    loose = _loose_requirement_file(platform.root, context, sources, requirements)
                    if loose:
                        shown = ", ".join(loose[:3]) + (f" and {len(loose) - 3} more" if len(loose) > 3 else "")
                        yield spec.finding(ctx, f"{path}: RUN pip installs {requirements} at no fixed version "
                                                f"({shown})", [Location(path, ins.start_line)], severity=severity,
                                           subject=f"pip {requirements}")


def _may_carry_project(copy) -> bool:
    """A `COPY --from` that may bring a project's files (a folder, a lock, installed dependencies), not a tool's
    binary (`COPY --from=composer:2 /usr/bin/composer /usr/bin/composer`)."""
    from tools.facts.build_steps import LOCK_FILES

    names = {lock for group in LOCK_FILES.values() for lock in group} | {"node_modules", "vendor"}
    return any(src.endswith("/") or src.strip() in (".", "./") or posixpath.basename(src.rstrip("/")) in names
               for src in copy.sources)


def _lock_copied(root: Path, context: str, sources: list[str], locks: tuple[str, ...],
                 ignored: list[str]) -> bool | None:
    """Whether a COPY before the install brought one of the lock files into the build: named (or matched by a
    glob), or inside a folder copied whole, and not kept out by the .dockerignore. None when a source is a
    variable (the build passes it)."""
    base = root / context
    for raw in sources:
        if "$" in raw:
            return None
        src = raw.strip().lstrip("/")
        src = "" if src in (".", "./") else src.rstrip("/")
        candidates: list[str] = []
        if any(ch in src for ch in "*?["):
            candidates = [posixpath.join(posixpath.dirname(src), lock) for lock in locks
                          if fnmatch.fnmatch(lock, posixpath.basename(src))]
        elif posixpath.basename(src) in locks:
            candidates = [src]
        elif not src or (base / src).is_dir():
            for depth in ("", "*/", "*/*/"):
                for lock in locks:
                    candidates += [posixpath.relpath(m, base) for m in glob.glob(str(base / src / f"{depth}{lock}"))]
        elif not (base / src).exists():
            return None  # a source not in this context (DKF005's): what it holds cannot be told
        for cand in candidates:
            if (base / cand).is_file() and not any(fnmatch.fnmatch(cand, pat) or fnmatch.fnmatch(posixpath.basename(cand), pat)
                                                   or cand.startswith(pat.rstrip("/") + "/") for pat in ignored):
                return True
    return False


def _loose_requirement_file(root: Path, context: str, sources: list[str], requirements: str,
                            depth: int = 0) -> list[str]:
    """The unpinned lines of a requirements file the build copied in (and of the files it includes with -r)."""
    from tools.facts.build_steps import loose_requirements

    base = root / context
    name = requirements.lstrip("./")
    found = None
    for raw in [""] + [s.strip().lstrip("/").rstrip("/") for s in sources if "$" not in s]:
        for cand in (posixpath.join(raw, name), posixpath.join(raw, posixpath.basename(name)), raw):
            if cand and (base / cand).is_file() and posixpath.basename(cand) == posixpath.basename(name):
                found = base / cand
                break
        if found:
            break
    text = _repo_text(root, found) if found is not None else None
    if text is None:
        return []
    loose = loose_requirements(text)
    if depth < 2:
        for m in re.finditer(r"^[ \t]*(?:-r|--requirement)[ =]\s*(\S+)", text, re.M):
            rel = posixpath.normpath(posixpath.join(posixpath.dirname(posixpath.relpath(found, base)), m.group(1)))
            loose += _loose_requirement_file(root, context, [posixpath.dirname(rel) or "."], posixpath.basename(rel),
                                             depth + 1)
    return loose


@check("DKF011", "Build makes files writable by every user", "medium", "security", CONTAINER_RULES,
       "Give the folder to the user the process runs as (`COPY --chown=app:app`, `chown app:app`) with 755/644, "
       "or 1777 for a shared scratch folder.")
def world_writable_files(ctx, spec):
    """chmod 777, o+w or a+w on anything but a scratch folder, in a stage that ends up as a running image."""
    from tools.facts.build_steps import world_writable

    platform = _platform(ctx)
    for path, info in platform.dockerfiles.items():
        severity = _ship_severity(platform, path)
        seen: set[int] = set()
        for built in platform.built_stages(path):
            for stage in _stage_chain(info, built.stage):
                for ins in stage.instructions:
                    if ins.cmd != "RUN" or ins.start_line in seen:
                        continue
                    seen.add(ins.start_line)
                    for what in world_writable(_run_text(ins)):
                        yield spec.finding(ctx, f"{path}: RUN makes {what} writable by every user",
                                           [Location(path, ins.start_line)], severity=severity)


_INITS = frozenset({"tini", "dumb-init", "catatonit", "s6-svscan", "su-exec", "gosu", "setpriv"})
_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh"})
_STOP_KILLS = re.compile(r"^(?:SIG)?KILL$|^9$", re.I)


def _started_script(words: list[str], workdir: str | None) -> str | None:
    """The container path of the script an ENTRYPOINT/CMD starts: `["/docker-entrypoint.sh"]`, `["sh",
    "/entrypoint.sh"]`, `["tini", "--", "./start.sh"]` (past an init, which signals only its one child)."""
    i = 0
    while i < len(words) and (posixpath.basename(words[i]) in _INITS or words[i].startswith("-")):
        i += 1
    if i < len(words) and posixpath.basename(words[i]) in _SHELLS:
        i += 1
        while i < len(words) and words[i].startswith("-") and "c" not in words[i]:
            i += 1
        if i >= len(words) or words[i].startswith("-"):
            return None  # `sh -c '…'`: a command string, not a script file
    if i >= len(words):
        return None
    script = words[i]
    if "$" in script or not (script.endswith((".sh", ".bash")) or "/" in script) or \
            script.endswith((".py", ".js", ".mjs", ".rb", ".pl", ".php")):
        return None
    return posixpath.normpath(script if script.startswith("/") else posixpath.join(workdir or "/", script))


def _script_in_copied_folder(root: Path, context: str, chain, script: str) -> tuple[str, str] | None:
    """(repo path, text) of a script a stage brought in with a folder (`COPY . .` into WORKDIR /srv puts
    docker-entrypoint.sh at /srv/docker-entrypoint.sh), the last copy that holds it winning."""
    for stage in reversed(chain):
        for copy in reversed(stage.copies):
            if copy.from_ or copy.heredoc or len(copy.sources) != 1 or any(ch in copy.sources[0] for ch in "$*?["):
                continue
            dest = posixpath.normpath(copy.dest if copy.dest.startswith("/") else
                                      posixpath.join(stage.workdir or "/", copy.dest))
            if not (script == dest or script.startswith(dest.rstrip("/") + "/")):
                continue
            inside = posixpath.relpath(script, dest)
            rel = posixpath.normpath(posixpath.join(context, copy.sources[0].lstrip("/"), inside))
            if rel.startswith("..") or not (root / rel).is_file():
                continue
            text = _repo_text(root, root / rel)
            if text is not None:
                return rel, text
    return None


@check("DKF017", "Stop signal never reaches the server", "medium", "availability", CONTAINER_RULES,
       "End the entrypoint script with `exec` (`exec gunicorn app:app`, `exec \"$@\"`) so the server becomes the "
       "process docker stop signals; keep STOPSIGNAL to SIGTERM (or the server's own graceful signal), never SIGKILL.")
def stop_signal_lost(ctx, spec):
    """docker stop sends SIGTERM to PID 1 and kills the container 10 s later. An entrypoint script that starts its
    server as a child (no `exec`) is PID 1 (or tini's only child): a shell passes no signal on, so every stop,
    redeploy and rollback kills the server mid-request, with no flush of what it holds. STOPSIGNAL SIGKILL does the
    same by design. Medium in an image that ships, low otherwise."""
    from tools.facts.shell import runs_without_exec

    platform = _platform(ctx)
    prods = {e.name for e in platform.prod_envs()}
    stopped: set[tuple[str, int | None]] = set()
    for env in platform.environments.values():
        for name, svc in (env.services or {}).items() if env.project is not None else []:
            signal = str(svc.get("stop_signal") or "")
            loc = env.location(name, "stop_signal")
            if _STOP_KILLS.match(signal) and (loc.path, loc.line) not in stopped:
                stopped.add((loc.path, loc.line))
                yield spec.finding(ctx, f"{env.name}: {name} sets stop_signal {signal}: docker compose stop kills it at "
                                        f"once, nothing shuts down cleanly", [loc],
                                   severity="medium" if env.name in prods else "low")
    uses = dockerfile_uses(platform)
    for path, info in platform.dockerfiles.items():
        use = uses.get(path)
        context = next((c for c in (use.contexts if use else []) if (platform.root / c).is_dir()), None)
        said: set[str] = set()
        for built in platform.built_stages(path):
            chain = _stage_chain(info, built.stage)
            severity = _ship_severity(platform, path)
            stop = next((ins for stage in reversed(chain) for ins in reversed(stage.instructions)
                         if ins.cmd == "STOPSIGNAL"), None)
            if stop is not None and stop.value and _STOP_KILLS.match(stop.value[0]) and "stop" not in said:
                said.add("stop")
                yield spec.finding(ctx, f"{path}: STOPSIGNAL {stop.value[0]}: docker stop kills the server at once, "
                                        f"nothing shuts down cleanly", [Location(path, stop.start_line)],
                                   severity=severity)
            entrypoint = next((st.entrypoint for st in reversed(chain) if st.entrypoint is not None), None)
            cmd = next((st.cmd for st in reversed(chain) if st.cmd is not None), None)
            started = entrypoint or cmd
            if started is None or context is None:
                continue
            workdir = next((st.workdir for st in reversed(chain) if st.workdir), None)
            # Docker runs an exec-form ENTRYPOINT with CMD as its arguments (`["tini", "--"]` then `["/start.sh"]`)
            words = started.words() + (cmd.words() if entrypoint is not None and not entrypoint.shell and cmd else [])
            script = _started_script(words, workdir)
            copied = _copied_scripts(platform.root, context, built.stage) if script else {}
            for stage in chain[:-1]:
                copied = {**_copied_scripts(platform.root, context, stage), **copied}
            found = copied.get(script) if script else None
            if found is None and script:
                found = _script_in_copied_folder(platform.root, context, chain, script)
            if found is None or script in said:
                continue
            said.add(script)
            rel, text = found
            last = runs_without_exec(text)
            if last:
                yield spec.finding(ctx, f"{path}: {rel} runs `{last}` without exec: the shell stays the process "
                                        f"docker stop signals, and SIGTERM never reaches the server",
                                   [Location(path, started.line), Location(rel)], severity=severity,
                                   subject=f"{path} {rel} exec")


def _ignores_secrets(patterns: list[str]) -> bool:
    """A .dockerignore that keeps `.env` out of the context: `.env`, `**/.env`, `.env*`, `*.env`, or an allow
    list (`*` first, then `!` entries)."""
    from tools.facts.build_steps import is_secret_file

    kept_out = False
    for raw in patterns:
        p = raw.strip()
        if not p or p.startswith("#"):
            continue
        negated = p.startswith("!")
        body = p[1:] if negated else p
        body = body.lstrip("/")
        matches = body in ("*", "**", "**/*") or fnmatch.fnmatch(".env", body) \
            or fnmatch.fnmatch(".env", body.split("/")[-1]) and body.startswith("**/")
        if matches:
            kept_out = not negated
        elif negated and is_secret_file(body):
            kept_out = False
    return kept_out


def _dockerignore(root: Path, context: str, dockerfile: str) -> list[str] | None:
    for candidate in (root / f"{dockerfile}.dockerignore", root / context / ".dockerignore"):
        if candidate.is_file():
            text = _repo_text(root, candidate, 1024 * 1024)
            return text.splitlines() if text is not None else None
    return None


def _expects_env_file(root: Path, context: str) -> str | None:
    """Evidence that a `.env` lives in the context folder on the machines that build: an example to copy
    beside it, or the repository ignoring a `.env` there (`.gitignore`)."""
    from sources.git import git_succeeds

    folder = root / context
    for example in (".env.example", ".env.sample", ".env.template", "env.example", "example.env", ".env.dist"):
        if (folder / example).is_file():
            return f"{posixpath.join(context, example) if context != '.' else example} is copied to .env there"
    rel = posixpath.normpath(posixpath.join(context, ".env"))
    try:
        if (folder / ".env").is_file() or git_succeeds(["check-ignore", "-q", "--no-index", "--", rel], root):
            return f".gitignore keeps a local {rel} out of git"
    except OSError:
        return None
    return None


@check("DKF012", "Secrets file copied into the image", "medium", "security", CONTAINER_RULES,
       "Keep `.env` out of the image: add `.env` (and `**/.env`) to the context's .dockerignore and pass the values "
       "at run time (`env_file:`, secrets).")
def secrets_file_in_image(ctx, spec):
    """A COPY/ADD that names a secrets file (`COPY .env .`); a folder copied whole into a stage of the image
    that runs, carrying a committed private key, keystore or `.env` of real values the .dockerignore does not
    keep out; or the whole context copied where a `.env` lives (an example beside it, or one git ignores) and
    the .dockerignore does not keep it out."""
    from tools.facts.build_steps import is_secret_file

    platform = _platform(ctx)
    for path, use in dockerfile_uses(platform).items():
        info = platform.dockerfiles[path]
        severity = _ship_severity(platform, path)
        carried = [] if use.guessed else list(_committed_secrets_copied(platform, path, use.contexts))
        for copy, rel, what, ignore_file in carried:
            yield spec.finding(
                ctx, f"{path}: {copy.instruction} {' '.join(copy.sources)} copies {rel} ({what}) into the image: "
                     + (f"{ignore_file} does not exclude it" if ignore_file else "no .dockerignore keeps it out"),
                [Location(path, copy.line)], severity=severity, subject=rel,
                detail="whoever pulls the image reads the file from its layers, even if a later step deletes it")
        reported = {rel for _, rel, _, _ in carried}
        for stage in info.stages:
            for copy in stage.copies:
                if copy.from_ or copy.heredoc:
                    continue
                named = [s for s in copy.sources if is_secret_file(s)]
                if named:
                    yield spec.finding(ctx, f"{path}: {copy.instruction} {named[0]} puts a secrets file in the image",
                                       [Location(path, copy.line)], severity=severity)
                    continue
                if use.guessed or not any(s.rstrip("/") in (".", "./", "") for s in copy.sources):
                    continue
                for context in use.contexts:
                    patterns = _dockerignore(platform.root, context, path)
                    if patterns is None or _ignores_secrets(patterns):
                        continue  # no .dockerignore at all is DKF006's
                    why = _expects_env_file(platform.root, context)
                    if why and posixpath.normpath(posixpath.join(context, ".env")) not in reported:
                        yield spec.finding(
                            ctx, f"{path}: {copy.instruction} {' '.join(copy.sources)} copies {context}'s .env into the "
                            f"image: its .dockerignore does not exclude it", [Location(path, copy.line)],
                            detail=why, severity=severity)
                        break


def _committed_secrets_copied(platform: Platform, path: str, contexts) -> list:
    """(copy, file, what it holds, the .dockerignore read or "") for each committed secret file that a COPY of a
    whole folder brings into a stage of the image that runs (the built stage and the stages it builds FROM): a
    builder stage's copy that the final image never takes is not counted."""
    from tools.facts.build_steps import dockerignore_excludes, dockerignore_rules

    info = platform.dockerfiles[path]
    found: list = []
    seen: set[str] = set()
    for context in contexts:
        if not (platform.root / context).is_dir() or platform.uninitialised_submodule(context):
            continue
        files = _context_secret_files(platform, context)
        if not files:
            continue
        ignore_file = next((c for c in (f"{path}.dockerignore", posixpath.normpath(posixpath.join(context, ".dockerignore")))
                            if (platform.root / c).is_file()), "")
        rules = dockerignore_rules(_dockerignore(platform.root, context, path) or [])
        for copy, src in _shipped_copy_sources(platform, path, info):
            folder = "" if src == "." else src
            if folder and not (platform.root / context / folder).is_dir():
                continue
            for inner, what in files.items():
                if folder and not inner.startswith(folder + "/"):
                    continue
                rel = posixpath.normpath(posixpath.join(context, inner))
                if rel in seen or dockerignore_excludes(rules, inner):
                    continue
                seen.add(rel)
                found.append((copy, rel, what, ignore_file))
    return found


def _shipped_copy_sources(platform: Platform, path: str, info: df_tool.DockerfileInfo):
    """(copy, source as a clean context-relative path) for each literal source a COPY/ADD brings from the build
    context into a stage of an image that runs (the built stages and the stages they build FROM)."""
    for built in platform.built_stages(path):
        for stage in _stage_chain(info, built.stage):
            for copy in stage.copies:
                if copy.from_ or copy.heredoc:
                    continue
                for raw in copy.sources:
                    if "$" not in raw and not any(ch in raw for ch in "*?["):
                        yield copy, posixpath.normpath(raw.strip().lstrip("/")).rstrip("/") or "."


_SCRIPT_NAMES = re.compile(r"(?:^|[-_.])(?:entrypoint|start|run|init|boot|launch|wait[-_]for[-_]\w+)(?:[-_.]|$)|\.(?:sh|bash)$",
                           re.I)
_NOT_DEPLOYED = frozenset({"test", "tests", "testing", "e2e", "spec", "fixtures", "examples", "example", "dev",
                           ".devcontainer", "docs", "node_modules", "vendor"})


def shipped_scripts(platform: Platform, sources) -> list[tuple[str, str, str]]:
    """(repo-relative script, severity, why it matters) for the scripts around a deploy: each script a COPY brings
    into a stage of an image that runs (named, or in a folder copied whole; medium in an image that ships, low
    otherwise), a root Procfile (medium), and the repository's shell scripts outside test and example folders
    (low). Each script once, at its highest severity."""
    out: dict[str, tuple[str, str]] = {}

    def add(rel: str, severity: str, why: str) -> None:
        if rel not in out or SEVERITIES.index(severity) < SEVERITIES.index(out[rel][0]):
            out[rel] = (severity, why)

    uses = dockerfile_uses(platform)
    for path, info in platform.dockerfiles.items():
        use = uses.get(path)
        if use is None or use.guessed:
            continue
        severity = _ship_severity(platform, path, "medium", "low") or "low"
        for context in use.contexts:
            base = platform.root / context
            if not base.is_dir():
                continue
            for _, src in _shipped_copy_sources(platform, path, info):
                full = base / src
                if full.is_file() and _SCRIPT_NAMES.search(full.name):
                    add(posixpath.normpath(posixpath.join(context, src)), severity, f"{path} copies it into the image")
                elif full.is_dir() and src != ".":
                    for found in sorted(full.rglob("*.sh"))[:200]:
                        rel = found.relative_to(platform.root).as_posix()
                        if not _NOT_DEPLOYED & set(rel.split("/")[:-1]):
                            add(rel, severity, f"{path} copies it into the image")
    if (platform.root / "Procfile").is_file():
        add("Procfile", "medium", "the platform runs the Procfile's commands")
    for src in sources:
        if src.kind in ("script",) and src.ok and not _NOT_DEPLOYED & set(src.path.split("/")[:-1]):
            add(src.path, "low", "a script of the repository")
    for found in sorted(platform.root.glob("*.sh")) + sorted(platform.root.glob("*/*.sh")):
        rel = found.relative_to(platform.root).as_posix()
        if found.is_file() and not _NOT_DEPLOYED & set(rel.split("/")[:-1]):
            add(rel, "low", "a script of the repository")
    return [(rel, sev, why) for rel, (sev, why) in sorted(out.items())]


_SKIPPED_FOLDERS = frozenset({".git", "node_modules", "vendor", ".venv", "venv", "__pycache__", "bower_components"})


def _context_secret_files(platform: Platform, context: str) -> dict[str, str]:
    """The committed secret files of a build context (path inside the context -> what it holds), read once per
    context: keys, keystores and `.env` files of real values that git does not ignore."""
    from tools.facts.build_steps import could_hold_secrets, secret_file_content

    cache = platform.__dict__.setdefault("_context_secret_files", {})
    if context in cache:
        return cache[context]
    base = platform.root / context
    subs = set(platform.submodules)
    found: dict[str, str] = {}
    seen = 0
    for folder, dirs, names in os.walk(base):
        rel_folder = posixpath.relpath(Path(folder).as_posix(), base.as_posix())
        dirs[:] = [d for d in dirs if d not in _SKIPPED_FOLDERS and posixpath.normpath(
            posixpath.join(context, rel_folder, d)) not in subs]
        seen += len(names)
        if seen > 50_000:
            break
        for name in names:
            if not could_hold_secrets(name):
                continue
            inner = posixpath.normpath(posixpath.join(rel_folder, name))
            full = Path(folder) / name
            if full.is_symlink() or not full.is_file():
                continue
            rel = posixpath.normpath(posixpath.join(context, inner))
            text = _repo_text(platform.root, full, 256 * 1024)
            what = secret_file_content(inner, text)
            if what and not platform.is_gitignored(rel):
                found[inner] = what
    cache[context] = found
    return found


@check("DKF013", "Build tools left in the image that ships", "low", "security", CONTAINER_RULES,
       "Build in a stage of its own and copy only the result into a slim final stage, or remove the tools in the "
       "same RUN (`apt-get purge -y gcc`, `apk add --virtual .build-deps … && apk del .build-deps`).")
def build_tools_in_runtime(ctx, spec):
    """Compilers, make or sudo installed in a stage that runs in production and never removed: more to attack
    and patch, a larger image. Only images that ship; a dev image may keep them."""
    from tools.facts.build_steps import build_packages

    platform = _platform(ctx)
    for path, info in platform.dockerfiles.items():
        if _ship_severity(platform, path, "low", None) is None:
            continue
        for built in platform.built_stages(path):
            added: dict[str, int] = {}
            removed: set[str] = set()
            for stage in _stage_chain(info, built.stage):
                for ins in stage.instructions:
                    if ins.cmd == "RUN":
                        more, gone = build_packages(_run_text(ins))
                        for pkg in more:
                            added.setdefault(pkg, ins.start_line)
                        removed.update(gone)
            left = [p for p in added if p not in removed and "*" not in removed]
            if left:
                what = "final stage" if built.stage is info.final_stage else f"stage {built.stage.label}"
                yield spec.finding(ctx, f"{path}: {what} keeps build tools ({', '.join(left)})",
                                   [Location(path, added[left[0]])])


_BUILD_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")  # a build argument's default, shell variables kept


@check("DKF014", "Development dependencies installed in the image that ships", "low", "security", CONTAINER_RULES,
       "Install only what runs: `npm ci --omit=dev` (or NODE_ENV=production), `composer install --no-dev`, "
       "`poetry install --only main`, `uv sync --no-dev`; or build in a stage of its own and copy the result.")
def dev_dependencies_in_image(ctx, spec):
    """Test runners, linters and build tools of the dev dependency group in a stage that runs in production:
    more code to patch and to attack, a larger image. Build arguments take their defaults (`--only
    $install_groups` with `install_groups=main,dev`). Only images that ship."""
    from tools.facts.build_steps import dev_dependency_installs

    platform = _platform(ctx)
    for path, info in platform.dockerfiles.items():
        if _ship_severity(platform, path, "low", None) is None:
            continue
        seen: set[int] = set()
        for built in platform.built_stages(path):
            env: dict[str, str] = {}
            known: dict[str, str | None] = dict(info.args)
            for stage in _stage_chain(info, built.stage):
                env.update(stage.env)
                known.update(stage.args)
                known.update(stage.env)
                for ins in stage.instructions:
                    if ins.cmd != "RUN" or ins.start_line in seen:
                        continue
                    text = _BUILD_VAR.sub(lambda m: known.get(m.group(1)) or m.group(0), _run_text(ins))
                    found = dev_dependency_installs(text, env)
                    if found:
                        seen.add(ins.start_line)
                        yield spec.finding(ctx, f"{path}: RUN installs development dependencies: {found[0]}",
                                           [Location(path, ins.start_line)])


_JSON_FORMS = ("CMD", "ENTRYPOINT", "RUN", "SHELL", "VOLUME", "COPY", "ADD")


def _broken_json_form(ins: df_tool.Instruction) -> bool:
    """The arguments look like the exec (JSON) form but are not JSON (`VOLUME ['/data']`, `CMD ["a", 'b']`):
    Docker then takes them as the shell form, words with brackets and quotes in them."""
    import json

    body = ins.original.strip()
    body = body.split(None, 1)[1] if " " in body or "\t" in body else ""
    while body.startswith("--"):
        body = body.split(None, 1)[1] if len(body.split(None, 1)) > 1 else ""
    body = body.replace("\\\n", " ").strip()
    if not body.startswith("[") or not body.rstrip().endswith("]"):
        return False
    try:
        value = json.loads(body)
    except ValueError:
        return True
    return not isinstance(value, list)


@check("DKF015", "Instruction in a JSON form that is not JSON", "medium", "infra-regression", COHERENCE,
       "Write the exec form as JSON, with double quotes: `VOLUME [\"/app/data\", \"/app/logs\"]`, "
       "`CMD [\"node\", \"server.js\"]`.")
def broken_exec_form(ctx, spec):
    """`VOLUME ['/app/data', '/app/logs']` declares volumes named `['/app/data',` and `'/app/logs']`; `CMD ['node',
    'server.js']` runs `/bin/sh -c "['node', 'server.js']"` and the container exits at start."""
    platform = _platform(ctx)
    for path, info in platform.dockerfiles.items():
        for ins in info.instructions:
            if ins.cmd in _JSON_FORMS and _broken_json_form(ins):
                yield spec.finding(ctx, f"{path}: {ins.cmd} is written like JSON but is not (single quotes?): "
                                   "Docker reads it as plain words, brackets and quotes included", [Location(path, ins.start_line)])


# -- DKF005 ----------------------------------------------------------------------------------

def _clamped(src: str) -> str:
    """A COPY source as BuildKit reads it: relative to the context's root, a leading `../` going no higher than
    that root (`../go.work` is `go.work`, `a/../../b` is `b`)."""
    return posixpath.normpath("/" + src).lstrip("/") or "."


def _names(raw: str) -> list[str]:
    return re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", raw)


def _generated(root: Path, context: str, src: str) -> bool:
    """A path the repository ignores (`.gitignore`): made by a step before the build (a bundle, a generated
    certificate), so its absence in a checkout says nothing."""
    from sources.git import git_succeeds

    rel = posixpath.normpath(posixpath.join(context, src.lstrip("/"))).rstrip("/")
    try:
        return git_succeeds(["check-ignore", "-q", "--no-index", "--", rel], root)
    except OSError:
        return False


def _made_by_building_job(platform, dockerfile: str, context: str, src: str) -> bool:
    """The CI job that builds this Dockerfile writes the source's first folder before the build: an artifact
    downloaded there, another repository checked out into it (`actions/checkout` with `path: dist/lib`), an archive
    unpacked into it (`unzip x.zip -d artifacts/app`), a `mkdir`/`cp`/`mv` into it.
    The folder is absent from every checkout, so its absence says nothing."""
    rel = posixpath.normpath(posixpath.join(context, src.lstrip("/")))
    top = rel.split("/", 1)[0]
    if not top or top in (".", "..") or (platform.root / top).exists():
        return False
    mention = re.compile(r"(?<![\w.\-/])(?:\./)?" + re.escape(top) + r"(?:/|\b)")
    for built in platform.built_images:
        if platform.dockerfile_of_ci_image(built) != dockerfile:
            continue
        wf = platform.workflows.get(built.location.path)
        job = wf.jobs.get(built.job) if wf is not None else None
        for step in job.steps if job is not None else []:
            # an action that writes where `path:` says: an artifact downloaded, a repository checked out, a cache
            written = [str(step.with_.get("path") or "")] if step.uses else []
            if step.run:
                written.append(step.run)
            if any(mention.search(text) for text in written):
                return True
    return False


def _source_exists(root: Path, context: str, src: str) -> bool:
    full = os.path.normpath(os.path.join(root, context, src.lstrip("/")))
    if any(c in src for c in "*?["):
        return bool(glob.glob(full))
    return os.path.exists(full)


@check("DKF005", "COPY/ADD source missing from the build context", "high", "infra-regression", COHERENCE,
       "Fix the path (it is relative to the build context, not to the Dockerfile) or add the file to the context.")
def copy_source_missing(ctx, spec):
    platform = _platform(ctx)
    for path, use in dockerfile_uses(platform).items():
        info = platform.dockerfiles[path]
        for sub in sorted({s for c in use.contexts if (s := platform.uninitialised_submodule(c))}):
            yield spec.finding(ctx, f"{path}: cannot tell whether its COPY sources exist: submodule {sub} is not initialised",
                               [Location(path, 1)], severity="info", remediation=f"run `{hints.submodule_init(sub)}`",
                               command=hints.submodule_init(sub))
        contexts = [c for c in use.contexts if (platform.root / c).is_dir() and not platform.uninitialised_submodule(c)]
        if not contexts or use.guessed:
            continue  # a missing context is XF003's; an unknown one (built by a script) cannot be judged
        for stage in info.stages:
            known = {**{k: v for k, v in info.args.items()}, **stage.args, **stage.env}
            for copy in stage.copies:
                if copy.from_ or copy.heredoc:
                    continue
                for raw in copy.sources:
                    if "$" in raw and any(n in stage.args or n in info.args for n in _names(raw)):
                        continue  # a build argument: the build passes the path (a script, a workflow)
                    src = df_tool.substitute(raw, known) if "$" in raw else raw
                    if not src or _REMOTE.match(src) or any(ch in src for ch in "*?["):
                        continue  # BuildKit accepts a wildcard that matches nothing (`COPY composer.* symfony.* ./`)
                    # BuildKit resolves a source inside its context: `../go.work` is the context's `go.work`
                    src = _clamped(src)
                    # a source inside a submodule this checkout lacks (`COPY calcom/ .` beside .gitmodules) cannot
                    # be judged: the workflows that build it check the submodules out first (SRC011 says it)
                    missing = [c for c in contexts if not platform.uninitialised_submodule(
                        posixpath.normpath(posixpath.join(c, src))) and not _source_exists(platform.root, c, src)
                        and not _generated(platform.root, c, src) and not _made_by_building_job(platform, path, c, src)]
                    tracked = [c for c in missing if platform.is_tracked(posixpath.normpath(posixpath.join(c, src)))]
                    if tracked:
                        rel = posixpath.normpath(posixpath.join(tracked[0], src))
                        yield spec.finding(ctx, f"{path}: cannot tell whether {copy.instruction} {raw} exists: git "
                                                f"tracks {rel} but this checkout lacks it", [Location(path, copy.line)],
                                           severity="info", subject=f"{path} {raw} untold",
                                           remediation="Check the file out (`git checkout -- <path>`, `git lfs pull`, "
                                                       "a full clone) and review again.")
                        continue
                    if missing:
                        read_as = "" if src == posixpath.normpath(raw.lstrip("/") or ".") or "$" in raw else \
                            f" (read as {src}: a build never leaves its context)"
                        yield spec.finding(ctx, f"{path}: {copy.instruction} {raw}{read_as} does not exist in the "
                                                f"build context {missing[0]}", [Location(path, copy.line)],
                                           detail="contexts: " + ", ".join(missing))


# -- DKF006 ----------------------------------------------------------------------------------

def _copies_whole_context(info: df_tool.DockerfileInfo) -> bool:
    return any(not c.from_ and not c.heredoc and any(s.rstrip("/") in (".", "./", "") for s in c.sources)
               for stage in info.stages for c in stage.copies)


@check("DKF006", "Build context without .dockerignore", "low", "reproducibility", CONTAINER_RULES,
       "Add a .dockerignore to the build context (at least .git, .env and local dependencies).")
def no_dockerignore(ctx, spec):
    platform = _platform(ctx)
    by_context: dict[str, list[str]] = {}
    for path, use in dockerfile_uses(platform).items():
        for context in use.contexts:
            by_context.setdefault(context, []).append(path)
    for context, paths in sorted(by_context.items()):
        folder = platform.root / context
        if not folder.is_dir() or (folder / ".dockerignore").is_file() or platform.uninitialised_submodule(context):
            continue
        # BuildKit also reads <Dockerfile>.dockerignore beside the Dockerfile.
        paths = [p for p in paths if not (platform.root / f"{p}.dockerignore").is_file()]
        if not paths:
            continue
        whole = [p for p in paths if _copies_whole_context(platform.dockerfiles[p])]
        detail = ("COPY . sends the whole folder (.git, .env included) into the image: " + ", ".join(whole)) if whole \
            else "every file of the folder is still sent to the builder and can leak through a later COPY"
        yield spec.finding(ctx, f"build context {context} has no .dockerignore",
                           [Location(p, 1) for p in sorted(paths)], detail=detail)


# -- DKF007 ----------------------------------------------------------------------------------

def _rel(root: Path, path: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


# hadolint rules that say what one of our checks already reports at the same line (one table, tools/facts).
SAME_AS_OURS = LINTERS_SAME_AS_OURS["hadolint"]


@check("DKF007", "hadolint", "low", "consistency", COHERENCE,
       "Follow the hadolint rule named in the title (https://github.com/hadolint/hadolint#rules).")
def hadolint_results(ctx, spec):
    platform = _platform(ctx)
    if not platform.dockerfiles:
        return
    if platform.hadolint is None:
        ctx.could_not_run(spec, "hadolint", "the platform was built without hadolint")
        yield spec.finding(ctx, "hadolint did not run on the Dockerfiles", [], severity="info",
                           detail="the platform was built without hadolint")
        return
    run = platform.hadolint.result(timeout=HADOLINT_WAIT)
    for path, issues in run.results.items():
        rel = _rel(platform.root, path)
        for issue in issues:
            if issue.rule in SAME_AS_OURS:
                continue
            loc = [Location(rel, issue.line)]
            if issue.rule in (df_tool.PARSE_LIMIT_RULE, df_tool.COULD_NOT_RUN_RULE):
                what = "could not lint" if issue.rule == df_tool.COULD_NOT_RUN_RULE else "could not lint all of"
                if issue.rule == df_tool.COULD_NOT_RUN_RULE:  # missing, timed out, crashed, or gave up on the file
                    ctx.could_not_run(spec, f"hadolint {rel}" if run.ran else "hadolint", issue.message)
                yield spec.finding(ctx, f"hadolint {what} {rel}", loc, severity="info", detail=issue.message,
                                   remediation="Nothing to fix in the Dockerfile; review that part by hand.")
                continue
            yield spec.finding(ctx, f"{rel}: hadolint {issue.rule}: {issue.message}", loc,
                               severity=HADOLINT_SEVERITY.get(issue.level, "info"))
