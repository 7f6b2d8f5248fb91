"""Charter policy over the repository's files: new tools, staging environments, deploy strategies without rollback."""
from __future__ import annotations

import os
import posixpath
import re

from agent.core.charter import fold
from tools import dockerfile as df_tool
from tools import facts
from tools.checks.registry import check
from tools.findings import Location

NEW_TOOLS = ("guardrails", "Pas d’ajout de nouveaux outils")
NO_STAGING = ("guardrails", "Pas de staging")
STRATEGY_ROLLBACK = ("out_of_scope", "plan de rollback")

STAGING_WORDS = facts.STAGING_WORDS

SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".devops-agent", ".nuxt", ".output",
             ".terraform", "bin", "obj", "dist", ".mypy_cache", ".pytest_cache", ".tox", ".idea", ".vscode"}
MAX_FILES = 50_000
MAX_READ = 256 * 1024
_CACHE = "charter_checks.repo_files"

# -- the release: what Product validated ------------------------------------------------------


def allowing_intentions(ctx, words) -> list:
    """Validated intentions of the current release that ask for one of `words` (negations do not count)."""
    release = getattr(ctx, "release", None)
    if release is None:
        return []
    out = []
    for intention in release.intentions:
        if not intention.validated:
            continue
        text = fold(" ".join([intention.name, *(str(v) for v in intention.fields.values())]))
        if facts.mentions(text, words):
            out.append(intention)
    return out


is_staging = facts.is_staging_name  # one fact, one function: the policy's POL004 asks the same question


def _allowed_note(intentions) -> str:
    return ", ".join(f"{i.id} {i.name}" for i in intentions)


# -- the repo's files, listed once per session --------------------------------------------------

def repo_files(ctx) -> list[str]:
    """Repo-relative posix paths of every file, with the usual build and dependency folders pruned."""
    cached = ctx.models.get(_CACHE)
    if cached is not None:
        return cached
    root = str(ctx.root)
    out: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        rel = os.path.relpath(folder, root)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        out.extend(prefix + f for f in sorted(files))
        if len(out) > MAX_FILES:
            break
    ctx.models[_CACHE] = out
    return out


def _read(ctx, rel: str, limit: int = MAX_READ) -> str:
    """A file's text: the session's loaded source when it is one (what the brief's sha256 describes), else the
    first `limit` bytes on disk."""
    loaded = _loaded_texts(ctx).get(rel)
    if loaded is not None:
        return loaded[:limit]
    try:
        with open(os.path.join(ctx.root, rel), "rb") as fh:
            return fh.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _loaded_texts(ctx) -> dict[str, str]:
    cached = ctx.models.get(_CACHE + ".texts")
    if cached is None:
        cached = ctx.models[_CACHE + ".texts"] = {s.path: s.text for s in ctx.sources if s.ok and s.text}
    return cached


def _line_of(text: str, rx: re.Pattern) -> int | None:
    m = rx.search(text)
    return text.count("\n", 0, m.start()) + 1 if m else None


# -- CHR001 ------------------------------------------------------------------------------------

_K8S_DIRS = {"k8s", "kubernetes", "helm", "charts", "kustomize"}
_PARSED = (".yaml", ".yml", ".json", ".tpl", ".hcl", ".nomad", ".tf")
_LABELS = {"kubernetes": "Kubernetes", "helm": "Kubernetes", "terraform": "Terraform", "vault": "Vault"}
_OBS_IMAGE = re.compile(r"(prometheus|grafana|loki|promtail|elasticsearch|kibana|logstash|jaeger|opentelemetry|otel|"
                        r"tempo|alertmanager|datadog|zipkin|fluentd|fluent-bit|victoriametrics|signoz|node-exporter)")
_OBS_FILE = re.compile(r"^(prometheus|alertmanager|loki|promtail|otel-collector|opentelemetry-collector|datadog|filebeat|"
                       r"elasticsearch|kibana|jaeger|tempo)([._-].*)?\.(ya?ml|json|conf|ini)$|^(grafana\.ini|logstash\.conf)$")
_OBS_DIRS = {"grafana", "prometheus", "loki", "alertmanager", "otel", "observability", "monitoring"}

TOOL_WORDS = {
    "Kubernetes": ("kubernetes", "k8s", "helm"),
    "Terraform": ("terraform",),
    "Vault": ("vault",),
}
OBSERVABILITY_WORDS = facts.OBSERVABILITY_WORDS


_HEAD = 4096
# What a data file must say early on to declare a tool: a manifest's `apiVersion`, a playbook's `hosts`, a template.
# Possessive blanks: `\s*-?\s*` split a file head of blank lines every way at every line (cubic: minutes for 4 KB).
_TOOL_HINT = re.compile(r"apiVersion|^[ \t]*+-?[ \t]*+hosts\s*:|\{\{-?\s*+\.(Values|Release|Chart)\b", re.M)


def _tool_text(ctx, rel: str, name: str) -> str | None:
    """The text `facts.tools_in` needs: HCL and Terraform whole; a YAML/JSON file only when its head can
    declare a tool (a monorepo's locale, fixture and spec files are neither read whole nor parsed)."""
    if name.endswith((".tf", ".tf.json", ".hcl", ".nomad")):
        return _read(ctx, rel)
    head = _read(ctx, rel, _HEAD)
    if not ("apiVersion" in head or "hosts" in head or "{{" in head) or not _TOOL_HINT.search(head):
        return None
    return _read(ctx, rel) if len(head) >= _HEAD else head


def _tool_files(ctx) -> list[tuple[str, str, str, int | None]]:
    """(tool, path, what, line) for each file that introduces a tool (tools/facts.py: by name and by parsing)."""
    out = []
    for rel in repo_files(ctx):
        parts = rel.lower().split("/")
        name, dirs = parts[-1], set(parts[:-1])
        if ".github" in dirs:
            continue
        text = _tool_text(ctx, rel, name) if name.endswith(_PARSED) and not facts.is_compose_path(rel) else None
        found = facts.tools_in(rel, text, commands=False, images=False)
        if found:
            tool, what = next(iter(found.items()))
            line = _line_of(text, re.compile(r"^[ \t]*kind\s*:", re.M)) if text and tool == "kubernetes" else None
            out.append((_LABELS.get(tool, tool), rel, what, line))
        elif _OBS_FILE.match(name):
            out.append((name.split(".")[0].split("-")[0].split("_")[0], rel, "observability configuration", None))
        elif name.endswith((".yaml", ".yml")) and not facts.is_compose_path(rel):
            if dirs & _K8S_DIRS:
                out.append(("Kubernetes", rel, "file in a Kubernetes folder", None))
            elif dirs & _OBS_DIRS:
                out.append((sorted(dirs & _OBS_DIRS)[0], rel, "observability configuration", None))
    return out


def _tool_images(ctx) -> list[tuple[str, str, str, int | None]]:
    platform = ctx.models.get("platform")
    if platform is None:
        return []
    out, seen = [], set()
    for env in platform.environments.values():
        for name, svc in env.services.items():
            image = str(svc.get("image") or "")
            ref = df_tool.parse_image_ref(image) if image else None
            repo = ref.repository.lower() if ref and ref.valid else image.lower()
            tool = None
            if repo and (repo.rsplit("/", 1)[-1] == "vault" or repo.startswith("hashicorp/vault")):
                tool = "Vault"
            elif repo and (m := _OBS_IMAGE.search(repo)):
                tool = m.group(1)
            if tool:
                loc = env.location(name, "image")
                if (loc.path, loc.line) not in seen:
                    seen.add((loc.path, loc.line))
                    out.append((tool, loc.path, f"service {name} runs {image}", loc.line))
    for path, info in platform.dockerfiles.items():
        for stage in info.stages:
            if stage.base and stage.base.valid and stage.base.repository.startswith("hashicorp/vault"):
                out.append(("Vault", path, f"FROM {stage.base_ref}", stage.line))
    return out


def _words_for(tool: str) -> tuple[str, ...]:
    if tool in TOOL_WORDS:
        return TOOL_WORDS[tool]
    return facts.tool_words(tool.lower()) if tool.lower() in facts.TOOLS else (tool.lower(), *OBSERVABILITY_WORDS)


@check("CHR001", "New tool without a validated intention", "high", "charter", NEW_TOOLS,
       "Remove it, or have Product validate an intention of the current release that asks for this tool.")
def new_tool_without_intention(ctx, spec):
    # One cause, one finding: a folder of manifests (or one image in several environments) adds a tool once.
    groups: dict[tuple[str, str], list[tuple[str, str, int | None]]] = {}
    for tool, path, what, line in _tool_files(ctx):
        groups.setdefault((tool, posixpath.dirname(path)), []).append((path, what, line))
    for tool, path, what, line in _tool_images(ctx):
        groups.setdefault((tool, what.split(" runs ", 1)[-1]), []).append((path, what, line))
    for (tool, _), items in groups.items():
        path, what, _ = items[0]
        locations = list(dict.fromkeys(Location(p, line) for p, _, line in items))
        if len({p for p, _, _ in items}) > 1:
            folder = posixpath.dirname(path)
            where = f"{folder}/: {len(items)} files" if all(posixpath.dirname(p) == folder for p, _, _ in items) \
                else f"{path} and {len(items) - 1} more"
            what = f"{where} ({what}, ...)"
        else:
            what = f"{path}: {what}"
        label = tool if tool in TOOL_WORDS else f"{tool} (heavy observability)"
        allowed = allowing_intentions(ctx, _words_for(tool))
        if allowed:
            yield spec.finding(ctx, f"{what} adds {label}, asked by {_allowed_note(allowed)}", locations, severity="info")
        else:
            yield spec.finding(ctx, f"{what} adds {label} without a validated intention of the current release", locations)


# -- CHR002 ------------------------------------------------------------------------------------

_COMPOSE_OR_ENV = re.compile(r"^((docker-)?compose[._-].*\.ya?ml|\.env[._-].+|.+\.env)$")


@check("CHR002", "Staging environment in the repo", "high", "charter", NO_STAGING,
       "Remove the staging files, or have Product validate an intention of the current release that asks for staging.")
def staging_environment(ctx, spec):
    allowed = allowing_intentions(ctx, STAGING_WORDS)
    hits: dict[str, str] = {}
    for rel in repo_files(ctx):
        name = rel.rsplit("/", 1)[-1].lower()
        if _COMPOSE_OR_ENV.match(name) and is_staging(name.replace("docker-compose", "").replace(".yml", "")):
            if not name.endswith((".example", ".sample", ".template")):
                hits[rel] = f"file {rel}"
    platform = ctx.models.get("platform")
    for env in (platform.environments.values() if platform else []):
        if is_staging(env.name) and env.files:
            hits.setdefault(env.files[0], f"compose environment {env.name}")
    for path, what in sorted(hits.items()):
        if allowed:
            yield spec.finding(ctx, f"{what}: staging asked by {_allowed_note(allowed)}", [Location(path)], severity="info")
        else:
            yield spec.finding(ctx, f"{what} defines a staging environment the current release does not ask for",
                               [Location(path)])


# -- CHR003 ------------------------------------------------------------------------------------

_STRATEGY_NAME = re.compile(r"(?<![a-z0-9])(blue[-_]?green|blue|green|canary|rolling)(?![a-z0-9])")
_STRATEGY_TEXT = re.compile(r"blue[ _/-]?green|\bcanary\b|rolling[ _-]?update|docker\s+stack\s+deploy|"
                            r"docker[ -]compose\s.*--scale\s+\S+=\d", re.I)
_SCRIPT = re.compile(r"(\.sh|\.bash)$|^makefile$|^justfile$")
STRATEGY_KEYWORDS = ("blue", "green", "canary", "rolling", "swarm", "stack deploy", "update_config", "replicas")
ROLLBACK_WORDS = ("rollback", "roll back", "retour arriere")


def _strategies(ctx) -> list[tuple[str, Location]]:
    out: list[tuple[str, Location]] = []
    platform = ctx.models.get("platform")
    for env in (platform.environments.values() if platform else []):
        for name, svc in env.services.items():
            deploy = svc.get("deploy") or {}
            if isinstance(deploy, dict) and (deploy.get("update_config") or deploy.get("rollback_config")):
                order = (deploy.get("update_config") or {}).get("order", "stop-first")
                out.append((f"swarm rolling update of {name} ({env.name}, order {order})", env.location(name, "deploy")))
    for rel in repo_files(ctx):
        parts = rel.lower().split("/")
        name = parts[-1]
        if ".github" in parts or name.endswith((".md", ".txt")):
            continue
        if _STRATEGY_NAME.search(name.rsplit(".", 1)[0]) and (_SCRIPT.search(name) or name.endswith((".yml", ".yaml", ".conf"))):
            out.append((f"deploy strategy file {rel}", Location(rel)))
        elif _SCRIPT.search(name):
            text = _read(ctx, rel)
            m = _STRATEGY_TEXT.search(text)
            if m:
                out.append((f"{rel} deploys with `{m.group(0).strip()}`", Location(rel, _line_of(text, _STRATEGY_TEXT))))
    for path, wf in ((platform.workflows.items()) if platform else []):
        for job in wf.jobs.values():
            for step in job.steps:
                m = _STRATEGY_TEXT.search(step.run or "")
                if m:
                    out.append((f"{path}: job {job.id} deploys with `{m.group(0).strip()}`", Location(path, step.line)))
    return out


@check("CHR003", "Deploy strategy change without a rollback plan", "high", "charter", STRATEGY_ROLLBACK,
       "Write the rollback of this strategy in the deployment notes (steps, how long, who), or keep the current manual deploy.")
def strategy_without_rollback(ctx, spec):
    found = _strategies(ctx)
    if not found:
        return
    notes = [s for s in ctx.sources if s.kind == "docs" and s.ok and s.text]
    text = fold(" ".join(s.text for s in notes))
    has_rollback = any(w in text for w in ROLLBACK_WORDS)
    covers = has_rollback and any(k in text for k in STRATEGY_KEYWORDS)
    if covers:
        return
    where = ", ".join(s.path for s in notes) or "no deployment notes loaded"
    from tools.environments import path_role

    for what, loc in found:
        if not notes and ctx.models.get("charter_origin") == "generic":
            # no charter asks for deployment notes and none exist: cannot tell, said for the record
            yield spec.finding(ctx, f"{what}: cannot tell whether a rollback plan exists (no deployment notes)",
                               [loc], severity="info", detail=f"notes: {where}")
        elif path_role(loc.path) in ("dev", "test"):  # an example or a test's strategy ships nowhere
            yield spec.finding(ctx, f"{what}: no rollback plan in the deployment notes", [loc], severity="low",
                               detail=f"notes: {where}; {loc.path} is an example or test file")
        elif has_rollback:
            yield spec.finding(ctx, f"{what}: the rollback in the deployment notes does not cover this strategy",
                               [loc], severity="medium", detail=f"notes: {where}")
        else:
            yield spec.finding(ctx, f"{what}: no rollback plan in the deployment notes", [loc], detail=f"notes: {where}")
