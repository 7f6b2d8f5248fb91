"""Load every source a charter lists, with provenance, and say what could not be loaded."""
from __future__ import annotations

import os
import posixpath
import re
import stat
from pathlib import Path
from typing import Any, Callable

import yaml

from agent.core import hints, yaml_safe
from agent.core.files import default_dockerfile
from agent.core.charter import Charter, SourceSpec, fold
from agent.core.config import STATE_DIR, ProjectConfig
from sources import notion_export
from sources.files import SourceReadError, confine, read_source_file
from agent.core.files import INSTALL_SCRIPT, SNIFFED_BYTES, is_compose_template, looks_like_compose
from sources.git import RepoState, SubmoduleState
from sources.provenance import LoadedSource
from sources.rules import cut_sections

# Where deployment notes usually live when the config names none.
DOCS_DEFAULT_GLOBS = ("docs/*deploi*.md", "docs/*deploy*.md", "DEPLOY*.md", "DEPLOIEMENT*.md",
                      "docs/runbook*.md", "docs/production*.md")


def parse_yaml(text: str, compose: bool = False) -> tuple[object, tuple[int, int, str] | None]:
    """((node, data), None) or (None, (line, column, problem)) — 1-based, as editors show them: the one
    parse of the file, its composed node kept for readers of their own. `compose` accepts Compose's
    `!reset`/`!override` tags."""
    try:
        return yaml_safe.load_node(text, compose_tags=compose), None
    except yaml_safe.YamlLimitError as exc:
        return None, (0, 0, exc.problem)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        return None, (line, col, exc.problem or exc.context or "invalid YAML")
    except yaml.YAMLError as exc:
        return None, (0, 0, str(exc).splitlines()[0])


COMPOSE_GLOBS = ("compose.y*ml", "compose.*.y*ml", "docker-compose.y*ml", "docker-compose.*.y*ml",
                 "compose-*.y*ml", "docker-compose-*.y*ml")
COMPOSE_NAME = re.compile(r"^(?:docker-)?compose(?:[.-][A-Za-z0-9_-]+)?\.ya?ml$")
# The override an install step copies into place (`cp compose.override.yaml.example compose.override.yaml`).
EXAMPLE_OVERRIDE = re.compile(r"^(?:docker-)?compose\.override\.ya?ml\.(?:example|sample|dist|template|tmpl)$")
# How deep compose files are looked for (a self-host file three folders down ships too).
COMPOSE_DEPTH = 4
MAX_TREE_FILES = 100_000
# Dockerfiles as projects name them; every one in the tree is read (a script, a Makefile or a workflow
# may build it: a Dockerfile that ships is never left unchecked).
DOCKERFILE_NAME = re.compile(r"^(?:Dockerfile(?:[.-][\w.-]+)?|[\w.-]+\.[Dd]ockerfile|Containerfile(?:\.[\w.-]+)?)$")
CALLER_GLOBS = ("Makefile", "makefile", "GNUmakefile", "*.mk", "*.sh", "scripts/*.sh", "bin/*.sh",
                "deploy/*.sh", "ops/*.sh", "scripts/Makefile")
_SKIPPED = {"node_modules", "vendor", ".git", "build", "dist"}
# Folders the tree walk enters although the lists above skip them: Go's `build/package/` layout and the hidden
# folders projects keep their container files in (`.docker/Dockerfile-alpine`, `.devcontainer/Dockerfile`).
_EXAMPLE_FOLDERS = {".examples", ".example"}  # an image repository's documented stacks (`.examples/docker-compose/…`)
_WALKED = {"build", ".docker", ".devcontainer", ".deploy", ".ci"} | _EXAMPLE_FOLDERS
# Where a repository shows how it runs Compose in prose: its READMEs and docs pages (capped).
README_GLOBS = ("README*.md", "*/README*.md", "readme*.md", "*/readme*.md", "Readme*.md",
                "docs/*.md", "docs/*/*.md", "docs/*/*/*.md", "*/docs/*.md",
                "INSTALL*.md", "SELF*HOST*.md", "self*host*/*.md",
                # MDX pages (a docs site's Markdown with components): the same fenced commands
                "docs/*.mdx", "docs/*/*.mdx", "docs/*/*/*.mdx")
MAX_README_FILES = 200


def _skipped_folder(rel: str) -> bool:
    """A folder of dependencies or build output, or a hidden one, that no compose file or docs page is read from; the
    folders the tree walk enters anyway (`build/docker/docker-compose.yml`, `.docker/docker-compose.yml`) are read,
    except `.devcontainer/`, whose compose files are the editor's overlays of the project's (devcontainer.json's
    `dockerComposeFile` chain), never a stack of their own."""
    return any(part == ".devcontainer" or part not in _WALKED and (part in _SKIPPED or part.startswith("."))
               for part in rel.split("/")[:-1])


def _uninit_message(sub: SubmoduleState) -> str:
    return f"submodule {sub.path} is not initialised: run `{hints.submodule_init(sub.path)}`"


class SourceLoader:
    """One session's loading: each charter source spec becomes one or more LoadedSource."""

    def __init__(self, root: Path, charter: Charter, config: ProjectConfig, git: RepoState,
                 state_dir: Path | None = None) -> None:
        self.root = root
        self._real_root = os.path.realpath(root)  # resolved once: every source is confined inside it
        self.state_dir = state_dir or root / STATE_DIR  # the Notion cache (a commit's session: the repo's)
        self.charter = charter
        self.config = config
        self.git = git
        self._compose: list[LoadedSource] | None = None
        self._tree: list[str] | None = None
        self._docs_read: set[str] = set()  # docs files already taken by a docs source
        self._handlers: dict[str, Callable[[SourceSpec], list[LoadedSource]]] = {
            "compose": self._load_compose,
            "dockerfile": self._load_dockerfiles,
            "ci_workflow": self._load_workflows,
            "rules": self._load_rules,
            "docs": self._load_docs,
            "notion": self._load_notion,
            "repo_file": self._load_repo_files,
        }

    def load(self) -> list[LoadedSource]:
        out: list[LoadedSource] = []
        for spec in self.charter.sources:
            out.extend(self._handlers[spec.kind](spec))
        return out

    # -- one file -----------------------------------------------------------------

    def _base(self, spec: SourceSpec, path: str, status: str, message: str = "") -> LoadedSource:
        return LoadedSource(kind=spec.kind, path=path, status=status, label=spec.label,
                            priority=spec.priority, optional=spec.optional, message=message)

    def read(self, spec: SourceSpec, rel: str, parse: str | None = None) -> LoadedSource:
        """A repo-relative file as a source: confinement, submodule state, size cap, hash, parse."""
        rel = posixpath.normpath(rel.replace("\\", "/"))
        src = self._base(spec, rel, "ok")
        sub = self.git.submodule_of(rel)
        if sub is not None:
            src.submodule = sub.path
            if not sub.initialized:
                src.status, src.message = "missing", _uninit_message(sub)
                src.commit = sub.recorded
                return src
            src.commit = sub.commit
            if sub.recorded and sub.commit and sub.recorded != sub.commit:
                src.message = f"submodule checked out at {sub.commit[:7]}, the platform records {sub.recorded[:7]}"
        else:
            src.commit = self.git.commit
        try:
            content = read_source_file(confine(self.root, rel, self._real_root), self.config.max_file_bytes, shown=rel)
        except SourceReadError as exc:
            src.status, src.message = exc.status, exc.message
            if exc.status == "missing" and spec.optional:
                src.status = "optional-absent"
            return src
        src.sha256, src.size, src.text = content.sha256, content.size, content.text
        if self.git.is_git:
            src.dirty = self.git.is_dirty(rel)
        if parse == "compose" and is_compose_template(rel, content.text):
            src.status = "template"
            src.message = ("a template another tool renders or reads (template syntax, a generator's folder, or a "
                           "catalogue under templates/): the files rendered from it are what is checked")
            return src
        if parse in ("yaml", "compose"):
            parsed, err = parse_yaml(content.text, compose=parse == "compose")
            data = None
            if not err:
                node, data = parsed
                if parse == "compose":
                    src.lines = yaml_safe.index_lines(node)
                else:
                    src.node = node
            if err:
                src.status, src.line, src.column = "parse-error", err[0], err[1]
                src.message = (f"YAML syntax error at line {err[0]}, column {err[1]}: {err[2]}" if err[0]
                               else f"YAML refused: {err[2]}")
            elif data is not None and not isinstance(data, dict):
                src.status, src.line = "parse-error", 1
                src.message = f"expected a YAML mapping at the top level, got {type(data).__name__}"
            else:
                src.data = data or {}
        return src

    def tree(self) -> list[str]:
        """Repo-relative files down to COMPOSE_DEPTH folders, skipping dependency, build and hidden folders
        (walked once per session: compose files and Dockerfiles are found in it)."""
        if self._tree is None:
            out: list[str] = []
            root = str(self.root)
            for folder, dirs, files in os.walk(root):
                rel = os.path.relpath(folder, root)
                rel = "" if rel == "." else rel.replace(os.sep, "/")
                depth = rel.count("/") + 1 if rel else 0
                dirs[:] = sorted(d for d in dirs if d in _WALKED or d not in _SKIPPED and not d.startswith(".")) \
                    if depth < COMPOSE_DEPTH else []
                out += [f"{rel}/{f}" if rel else f for f in sorted(files)]
                if len(out) > MAX_TREE_FILES:
                    break
            self._tree = out
        return self._tree

    def _glob(self, patterns: list[str] | tuple[str, ...], base: str = "") -> list[str]:
        found: set[str] = set()
        base_dir = self.root / base if base else self.root
        for pattern in patterns:
            for hit in base_dir.glob(pattern):
                if hit.is_file() or hit.is_symlink():
                    found.add(hit.relative_to(self.root).as_posix())
        return sorted(found)

    # -- kinds --------------------------------------------------------------------

    def compose_files(self, spec: SourceSpec | None = None) -> list[str]:
        """The charter's and the config's compose files, then every file named as Compose names its
        files (compose.yaml, docker-compose.<env>.yml, overrides) at the root, in its first-level
        folders and in each initialised submodule."""
        files: list[str] = list(spec.locations if spec else [])
        for env_files in self.config.environments.values():
            files += env_files
        found = [f for f in self.tree() if COMPOSE_NAME.match(posixpath.basename(f))
                 or EXAMPLE_OVERRIDE.match(posixpath.basename(f))]
        for sub in self.git.submodules:
            if sub.initialized:
                found += self._glob(COMPOSE_GLOBS, base=sub.path)
        files += sorted(f for f in dict.fromkeys(found)
                        if (COMPOSE_NAME.match(posixpath.basename(f)) or EXAMPLE_OVERRIDE.match(posixpath.basename(f)))
                        and not _skipped_folder(f))
        files += self._compose_by_content(set(files))
        files += self._glob(self.config.extra_globs.compose)
        return list(dict.fromkeys(files))

    def _compose_by_content(self, named: set[str]) -> list[str]:
        """YAML files of the tree that are Compose files under another name (`manual-install/latest.yml`, which a
        README copies to compose.yaml): a compose file the review does not read would be a silence."""
        out = []
        for rel in self.tree():
            if rel in named or not rel.endswith((".yml", ".yaml")) or _skipped_folder(rel) \
                    or rel.startswith(".github/") or "/.github/" in rel:
                continue
            path = self.root / rel
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue  # a FIFO or a device would block or never end; a link is read only by its name
                with open(path, "rb") as fh:
                    head = fh.read(SNIFFED_BYTES).decode("utf-8", "replace")
            except OSError:
                continue
            if looks_like_compose(head):
                out.append(rel)
        return out

    def caller_files(self) -> list[str]:
        """Makefiles and shell scripts: how the repo itself calls Compose (read to find environments), the install
        and upgrade scripts beside each compose file included (`scripts/docker-compose/upgrade.sh`)."""
        found = set(self._glob(CALLER_GLOBS))
        for folder in {posixpath.dirname(rel) for rel in self.tree() if COMPOSE_NAME.match(posixpath.basename(rel))}:
            if folder:
                found.update(f for f in self._glob(("*.sh",), base=folder)
                             if INSTALL_SCRIPT.match(posixpath.basename(f)))
        return sorted(f for f in found if not _skipped_folder(f))

    def readme_files(self) -> list[str]:
        """READMEs and docs pages whose code blocks show how to run Compose (`-f` sets, overlays)."""
        found = self._glob(README_GLOBS)
        return [f for f in found if not _skipped_folder(f)][:MAX_README_FILES]

    def folder_readmes(self, pages: list[str]) -> list[str]:
        """The README of every folder holding a compose file, or above one, that is not among `pages` (what
        `readme_files` read): `deployment/compose/README.md` says what `deployment/compose/server/base.yml` is for;
        read for that word only, never for Compose calls."""
        read = set(pages)
        folders: set[str] = set()
        composes = [src.path for src in self._compose or []] or [
            f for f in self.tree() if COMPOSE_NAME.match(posixpath.basename(f))]
        for f in composes:
            parts = posixpath.dirname(f).split("/") if "/" in f else []
            folders.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
        beside = [f for f in self.tree() if "/" in f and posixpath.dirname(f) in folders
                  and re.fullmatch(r"readme[^/]*\.md", posixpath.basename(f), re.I)]
        return [f for f in sorted(beside) if f not in read and not _skipped_folder(f)][:MAX_README_FILES]

    def _load_compose(self, spec: SourceSpec) -> list[LoadedSource]:
        loaded = [self.read(spec, rel, parse="compose") for rel in self.compose_files(spec)]
        self._compose = loaded
        callers = SourceSpec(kind="repo_file", label="how the repo calls Compose", text="", line=spec.line,
                             optional=True)
        for rel in self.caller_files():
            src = self.read(callers, rel)
            src.kind, src.priority = "script", spec.priority
            loaded.append(src)
        pages = self.readme_files()
        for rel in pages:
            src = self.read(callers, rel)
            src.kind, src.priority = "readme", spec.priority
            loaded.append(src)
        for rel in self.folder_readmes(pages):
            src = self.read(callers, rel)
            src.kind, src.priority = "folder_readme", spec.priority
            loaded.append(src)
        return loaded

    def _build_paths(self) -> list[tuple[str, str]]:
        """(Dockerfile path, compose file) for every service that builds, from the compose sources."""
        if self._compose is None:
            spec = next((s for s in self.charter.sources if s.kind == "compose"), None)
            self._compose = [self.read(spec, rel, parse="compose") for rel in self.compose_files(spec)] if spec else []
        out = []
        for src in self._compose:
            services = (src.data or {}).get("services") if src.ok else None
            if not isinstance(services, dict):
                continue
            for svc in services.values():
                build = svc.get("build") if isinstance(svc, dict) else None
                if isinstance(build, str):
                    context, dockerfile = build, ""
                elif isinstance(build, dict):
                    if "context" not in build and "dockerfile" not in build:
                        continue  # `build: {target: tests}` patches the base file's build: that file names the path
                    context, dockerfile = str(build.get("context", ".")), str(build.get("dockerfile", ""))
                else:
                    continue
                if re.match(r"^[a-z]+://|^git@", context):
                    continue  # remote build context: nothing to load here
                if "$" in context or "$" in dockerfile:
                    continue  # named through a variable: read from the effective model (tools/platform)
                base = posixpath.dirname(src.path)
                folder = posixpath.normpath(posixpath.join(base, context))
                path = posixpath.normpath(posixpath.join(folder, dockerfile or default_dockerfile(self.root / folder)))
                if (self.root / path).is_file() or posixpath.dirname(src.path) == "":
                    # An override's paths resolve from its base's folder: the effective model names those
                    # (tools/platform); a missing build file of a file at the root is XF003's and SRC001's.
                    out.append((path, src.path))
        return out

    def _load_dockerfiles(self, spec: SourceSpec) -> list[LoadedSource]:
        paths: dict[str, None] = {}
        for rel in spec.locations:
            paths[rel] = None
        for rel, _ in self._build_paths():
            paths[posixpath.normpath(rel)] = None
        for sub in self.git.submodules:
            if sub.initialized:
                for rel in self._glob(("Dockerfile*", "*.Dockerfile"), base=sub.path):
                    paths[rel] = None
        for rel in self._glob(self.config.extra_globs.dockerfile):
            paths[rel] = None
        for rel in self.tree():
            if DOCKERFILE_NAME.match(posixpath.basename(rel)) and not rel.endswith((".dockerignore", ".md")):
                paths[rel] = None
        loaded = [self.read(spec, rel) for rel in sorted(paths)]
        covered = {src.submodule for src in loaded if src.submodule}
        for sub in self.git.submodules:  # a charter naming services expects one in each (SRC011 says the rest)
            if not sub.initialized and sub.path not in covered and (spec.services or spec.locations):
                loaded.append(self.read(spec, f"{sub.path}/Dockerfile"))
        for hint in spec.services:
            if not any(matches_service(hint, src.path) for src in loaded):
                loaded.append(self._base(
                    spec, f"<{hint}>/Dockerfile", "optional-absent" if spec.optional else "missing",
                    f"no Dockerfile found for service '{hint}' (looked in compose build contexts and each "
                    f"submodule's Dockerfile*); add its path to extra_globs.dockerfile in .devops-agent.yaml"))
        return loaded

    def _load_workflows(self, spec: SourceSpec) -> list[LoadedSource]:
        paths: dict[str, None] = {rel: None for rel in spec.locations}
        patterns = (".github/workflows/*.yml", ".github/workflows/*.yaml")
        for rel in self._glob(patterns):
            paths[rel] = None
        for sub in self.git.submodules:
            if sub.initialized:
                for rel in self._glob(patterns, base=sub.path):
                    paths[rel] = None
        for rel in self._glob(self.config.extra_globs.ci_workflow):
            paths[rel] = None
        loaded = [self.read(spec, rel, parse="yaml") for rel in paths]
        covered = {src.submodule for src in loaded if src.submodule}
        for sub in self.git.submodules:
            if not sub.initialized and sub.path not in covered and spec.locations:
                loaded.append(self.read(spec, f"{sub.path}/.github/workflows/ci.yml"))
        return loaded

    def _load_rules(self, spec: SourceSpec) -> list[LoadedSource]:
        bound = self.config.rules_file
        named = spec.locations[0] if spec.locations else None
        target = bound or named
        if target is None:
            return [self._base(spec, "<rules file>", "missing",
                               "the charter names no rules file path; set rules_file in .devops-agent.yaml")]
        path = Path(os.path.expanduser(target))
        if path.is_absolute():
            shown = target
            src = self._base(spec, shown, "ok")
            try:
                content = read_source_file(path, self.config.max_file_bytes, shown=shown)
            except SourceReadError as exc:
                src.status = "optional-absent" if exc.status == "missing" and spec.optional else exc.status
                src.message = exc.message
                if exc.status == "missing":
                    src.message = (f"rules file {shown} is not on this machine (named by the "
                                   f"{'config' if bound else 'charter'}); bind the local copy with "
                                   f"`rules_file: <path>` in .devops-agent.yaml")
                return [src]
            src.sha256, src.size, src.text = content.sha256, content.size, content.text
        else:
            src = self.read(spec, target)
            if src.status == "missing":
                src.message += "; fix `rules_file` in .devops-agent.yaml"
            if not src.ok:
                return [src]
        if spec.sections:
            cut, found, missing = cut_sections(src.text or "", spec.sections)
            src.sections = found
            src.text = cut
            if missing:
                src.status = "missing"
                src.message = (f"section(s) {', '.join(missing)} not found in the rules file; "
                               f"add a '## {missing[0]}' heading or fix the charter's section filter")
        return [src]

    def _load_docs(self, spec: SourceSpec) -> list[LoadedSource]:
        configured = list(self.config.deploy_notes) + list(spec.locations)
        rels = configured + self._glob(self.config.extra_globs.docs)
        if not rels:
            rels = self._glob(DOCS_DEFAULT_GLOBS)
        if not rels:
            return [self._base(
                spec, "<deployment notes>", "optional-absent" if spec.optional else "missing",
                "no deployment notes found (looked for docs/*deploi*.md, docs/*deploy*.md, DEPLOY*.md); "
                "name them with deploy_notes in .devops-agent.yaml")]
        # Each file once across docs sources: a charter listing 2,000 docs pages read (and searched for
        # Compose calls) the config's deployment notes 2,000 times.
        fresh = [rel for rel in dict.fromkeys(rels) if rel not in self._docs_read]
        self._docs_read.update(fresh)
        return [self.read(spec, rel) for rel in fresh]

    def _load_notion(self, spec: SourceSpec) -> list[LoadedSource]:
        notion = self.config.notion
        label = " / ".join(spec.targets) or spec.label
        live = notion is not None and bool(notion.release_database and notion.intention_database)
        token = os.environ.get(notion.token_env, "").strip() if notion is not None and live else ""
        if live and token:
            return self._load_notion_live(spec, notion, token)
        if notion is None or not notion.export_dir:
            why = (f"Notion {label}: {notion.token_env} is not set: set it to the Notion integration's token"
                   if live else f"Notion {label} is not configured on this machine: set notion.release_database "
                   f"and notion.intention_database (the live API, with NOTION_TOKEN), or notion.export_dir "
                   f"(a Notion 'Markdown & CSV' export) in .devops-agent.yaml")
            return [self._base(spec, f"notion:{label}", "optional-absent" if spec.optional else "missing", why)]
        out = self._load_notion_export(spec, notion)
        if live:  # configured live, no token here: the export stands in, and says so
            for src in out:
                src.message = "; ".join(m for m in (src.message, f"read from the export: {notion.token_env} is not "
                                                    "set, so the live Notion was not read") if m)
        return out

    def _load_notion_live(self, spec: SourceSpec, notion, token: str) -> list[LoadedSource]:
        from sources import notion as api

        settings = api.Settings(token=token, release_database=notion.release_database,
                                intention_database=notion.intention_database, base_url=notion.base_url,
                                properties=dict(notion.properties), release_tag=notion.release,
                                timeout_s=float(notion.timeout or api.DEFAULT_TIMEOUT_S))
        targets = spec.targets or ["Release", "Intention"]
        try:
            fetched, message = api.read(settings, self.state_dir)
        except api.NotionError as exc:
            if notion.export_dir:  # the export, marked, rather than nothing
                out = self._load_notion_export(spec, notion)
                for src in out:
                    src.message = f"read from the export: {exc.line}"
                return out
            return [self._base(spec, f"notion:{t}", "missing", exc.line) for t in targets]
        release, intentions = fetched.model()
        status = "stale" if fetched.origin == "cache" else "ok"
        out = []
        for target in targets:
            folded = fold(target)
            if folded.startswith("release"):
                part: Any = fetched.release
                data: dict = {"releases": [release]}
                path = f"notion:Release/{notion.release_database}"
            elif folded.startswith("intention"):
                part = fetched.intentions
                data = {"intentions": intentions}
                path = f"notion:Intention/{notion.intention_database}"
            else:
                continue
            src = self._base(spec, path, status, message)
            src.data, src.fetched_at, src.origin = data, fetched.fetched_at, fetched.origin
            src.text = api.as_markdown(part)
            src.sha256 = api.digest(part)
            src.size = len(src.text.encode("utf-8"))
            out.append(src)
        return out

    def _load_notion_export(self, spec: SourceSpec, notion) -> list[LoadedSource]:
        export = Path(os.path.expanduser(notion.export_dir))
        inside = not export.is_absolute()
        export_abs = self.root / export if inside else export
        if not export_abs.is_dir():
            return [self._base(spec, notion.export_dir, "missing",
                               f"Notion export folder {notion.export_dir} does not exist; "
                               f"export the databases from Notion (Markdown & CSV) there")]
        out: list[LoadedSource] = []
        for target in spec.targets or [spec.label]:
            files = notion_export.database_files(export_abs, target) or _page_files(export_abs, target)
            if not files:
                out.append(self._base(spec, f"{notion.export_dir}/{target} <id>.csv", "missing",
                                      f"no '{target}' database or page in the Notion export {notion.export_dir}; "
                                      f"re-export it from Notion"))
                continue
            for file in files:
                rel = file.relative_to(self.root).as_posix() if inside else str(file)
                src = self.read(spec, rel) if inside else self._read_outside(spec, file)
                src.origin = "export"
                if src.ok and file.suffix == ".csv":
                    try:
                        src.data = _parse_database(target, src.text or "", rel)
                    except notion_export.ExportError as exc:
                        src.status, src.message = "parse-error", str(exc)
                out.append(src)
        return out

    def _read_outside(self, spec: SourceSpec, path: Path) -> LoadedSource:
        src = self._base(spec, str(path), "ok")
        try:
            content = read_source_file(path, self.config.max_file_bytes)
        except SourceReadError as exc:
            src.status, src.message = exc.status, exc.message
            return src
        src.sha256, src.size, src.text = content.sha256, content.size, content.text
        return src

    def _load_repo_files(self, spec: SourceSpec) -> list[LoadedSource]:
        if not spec.locations:
            return [self._base(spec, f"<{spec.label}>", "missing",
                               "the charter names no file for this source; write its path in backticks")]
        return [self.read(spec, rel) for rel in spec.locations]


def _parse_database(target: str, text: str, rel: str) -> dict:
    folded = fold(target)
    if folded.startswith("release"):
        return {"releases": notion_export.parse_releases(text, rel)}
    if folded.startswith("intention"):
        return {"intentions": notion_export.parse_intentions(text, rel)}
    return {"rows": notion_export._rows(text, rel)}


def _page_files(export_dir: Path, target: str) -> list[Path]:
    want = fold(target)
    return [p for p in sorted(export_dir.rglob("*.md"))
            if re.sub(r"\s+[0-9a-f]{8,32}$", "", fold(p.stem)) == want]


_NOT_A_SERVICE_WORD = {"anime", "saas", "dockerfile"}


def _hint_key(hint: str) -> str:
    return fold(hint).replace("-", "").replace("_", "")


def _service_words(path: str) -> list[str]:
    return [w for w in re.split(r"[-_./]", fold(path.split("/")[0])) if len(w) >= 3 and w not in _NOT_A_SERVICE_WORD]


def matches_service(hint: str, path: str) -> bool:
    """'frontend' matches anime-saas-front/Dockerfile: a path word of 3+ letters that prefixes the hint or
    that the hint prefixes."""
    h = _hint_key(hint)
    return any(h.startswith(word) or word.startswith(h) for word in _service_words(path))


class ServiceMatcher:
    """`matches_service` against many names at once: the names a hint matches, found through an index of
    their words rather than by trying each name (10,000 services times each word of a sentence)."""

    def __init__(self, names) -> None:
        self._words: dict[str, set[str]] = {}  # a word -> the names that have it
        self._prefixes: dict[str, set[str]] = {}  # every prefix of a word ('' included) -> the names
        for name in names:
            for word in _service_words(name):
                self._words.setdefault(word, set()).add(name)
                for k in range(len(word) + 1):
                    self._prefixes.setdefault(word[:k], set()).add(name)

    def matching(self, hint: str) -> set[str]:
        h = _hint_key(hint)
        out = set(self._prefixes.get(h, ()))  # words the hint prefixes
        for k in range(3, len(h) + 1):  # words (3+ letters) that prefix the hint
            out |= self._words.get(h[:k], set())
        return out