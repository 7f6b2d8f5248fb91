"""What the deploy uses: every path a repository's compose model, Makefile recipes and workflow steps reference.

Read from the committed files of one commit, without running Compose: the compose files are found by name as the
loader finds them (plus the config's environments and every `-f` file a recipe or a step passes to Compose), then
followed through `include:` and `extends:`; their `env_file:`, bind-mount sources, build contexts and dockerfiles,
`configs:` and `secrets:` files are referenced paths. A Makefile recipe, a workflow `run:` step or a composite
action's step references the scripts and files it names (and the scripts those name, two levels down); a
`uses: ./path` step references the local action's folder. A reference is a file or a folder (everything under it).
A deploy file that cannot be read (too large, not text, does not parse) is itself referenced: fail closed.
"""
from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable

from tools.facts.documents import yaml_documents
from tools.facts.paths import is_compose_path, is_makefile_path, is_workflow_path
from tools.facts.shell import split_shell

MAX_DEPLOY_FILE = 1024 * 1024  # a deploy file larger than this is not parsed: it counts as infra itself
MAX_FILES = 400  # files followed per commit (include chains, scripts): a bound against crafted loops
_EXAMPLE_OVERRIDE = re.compile(r"^(?:docker-)?compose\.override\.ya?ml\.(?:example|sample|dist|template|tmpl)$")
_CONFIG = (".devops-agent.yaml", ".devops-agent.yml")
_INTERPRETERS = {"sh", "bash", "zsh", "dash", "ksh", "source", ".", "exec", "python", "python3", "node", "perl",
                 "ruby", "php", "pwsh", "envsubst"}
_SHELL_C = re.compile(r"\b(?:ba|z|da)?sh[ \t]+-c[ \t]+(?:\"([^\"]*)\"|'([^']*)')")
_FILE_LIKE = re.compile(r"\.[A-Za-z0-9_-]{1,12}$")
# `with:` inputs of a step that name a file the step builds or runs from (docker/build-push-action's `file`...);
# a step's `context:` is left to the repository's own build (a workflow building `.` would make every file infra).
_WITH_PATHS = ("file", "files", "dockerfile", "compose-file", "compose-files", "script")
# Kinds of reference that make a file infrastructure for a proposal too (the ones that are configuration the
# deploy reads); a build context, a folder mount, an env file or a secret keeps the file's own classification.
_PROPOSAL_KINDS = {"compose": "compose", "dockerfile": "dockerfile", "script": "deploy_script", "action": "ci",
                   "mount": "deploy_file", "config": "deploy_file"}


def is_deploy_root(path: str) -> bool:
    """Whether `deploy_paths` reads this file as a starting point (a compose file by name, a Makefile, a workflow
    or action, the gate's config): a caller that lists a tree may pass only these."""
    name = posixpath.basename(path)
    return (is_compose_path(path) or bool(_EXAMPLE_OVERRIDE.match(name)) or is_makefile_path(path)
            or is_workflow_path(path) or name in ("action.yml", "action.yaml") or path in _CONFIG
            or name == ".env")  # Compose reads COMPOSE_FILE from it


@dataclass
class DeployPaths:
    """Repository paths the deploy uses: each a file or a folder, with why (kind, the file that references it)."""

    refs: dict[str, tuple[str, str]] = field(default_factory=dict)
    # The walk hit its bound (MAX_FILES): what it did not read could reference any file, so every path counts
    # (fail closed: a flood of harmless files must not switch the reference check off).
    truncated: bool = False
    # The committed config's `extra_globs` (compose, dockerfile, ci_workflow): every file they match is one the
    # review loads as infra, so the gate counts it too.
    globs: list[tuple[str, str, str]] = field(default_factory=list)  # (pattern, kind, config path)

    def add(self, path: str, kind: str, source: str) -> None:
        self.refs.setdefault(path, (kind, source))

    def reason(self, path: str) -> tuple[str, str] | None:
        """(kind, referencing file) of the reference covering `path` (itself first, then its closest folder)."""
        if path in self.refs:
            return self.refs[path]
        for pattern, kind, source in self.globs:
            if fnmatch.fnmatchcase(path, pattern):
                return (kind, source)
        if self.truncated:
            return ("unreadable", f"more than {MAX_FILES} deploy files: not all read")
        folder = path
        while folder:
            folder = posixpath.dirname(folder)
            if folder in self.refs:
                return self.refs[folder]
        return None

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self.reason(path) is not None

    def proposal_kind(self, path: str) -> str | None:
        """The infra kind this reference gives a file a proposal edits: only a file the deploy reads as its
        configuration by that exact path (an included compose file, a dockerfile, a script a recipe runs, a
        mounted file, a config); files inside a build context or a mounted folder stay what they are."""
        ref = self.refs.get(path)
        return _PROPOSAL_KINDS.get(ref[0]) if ref else None


def deploy_paths(files: Iterable[str], read: Callable[[str], "bytes | None"]) -> DeployPaths:
    """The paths the deploy uses at one commit. `files` lists the commit's files (at least those
    `is_deploy_root` accepts); `read(path)` gives a committed file's bytes, None when it is absent."""
    return _Walk(read).run(sorted(set(files)))


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def _subst(value: str, variables: dict[str, str] | None = None) -> str | None:
    """A reference with its variables replaced: by the committed `.env` Compose reads (`variables`), else by
    the `${VAR:-default}` default; None when a variable is left without a value."""
    value = re.sub(r"\$\{?(PWD|COMPOSE_PROJECT_DIR)\}?", ".", value)  # the folder Compose runs in
    values = variables or {}

    def one(m: re.Match) -> str:
        name = m.group(1) or m.group(3)
        if name in values:
            return values[name]
        return m.group(2) if m.group(2) is not None else "$"

    out = _VAR.sub(one, value)
    return None if "$" in out else out


def _env_values(text: str | None) -> dict[str, str]:
    """KEY=VALUE lines of an env file (quotes stripped, `export` allowed)."""
    out: dict[str, str] = {}
    for line in (text or "").splitlines():
        m = re.match(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$", line)
        if m:
            out[m.group(1)] = m.group(2).strip("'\"")
    return out


def _resolve(base: str, ref: object, variables: dict[str, str] | None = None) -> str | None:
    """A repository path for a reference written relative to the folder `base` ("" for the whole repository),
    or None when it points outside (absolute, home, remote, escaping) or through an unset variable."""
    if not isinstance(ref, str) or not ref.strip():
        return None
    value = _subst(ref.strip(), variables)
    if value is None or value.startswith(("/", "~")) or re.match(r"^[a-z][\w+.-]*://|^git@", value):
        return None
    path = posixpath.normpath(posixpath.join(base, value))
    if path == ".":
        return ""
    return None if path == ".." or path.startswith("../") else path


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


class _Walk:
    def __init__(self, read: Callable[[str], "bytes | None"]) -> None:
        self.read = read
        self.out = DeployPaths()
        self.seen: set[tuple[str, str]] = set()
        self.vars: dict[str, str] = {}  # the committed `.env` of the compose file being read

    def run(self, files: list[str]) -> DeployPaths:
        for path in files:
            name = posixpath.basename(path)
            if name == ".env" and self.read(path) is not None:  # Compose reads COMPOSE_FILE from the .env
                m = re.search(r"(?m)^\s*(?:export\s+)?COMPOSE_FILE\s*=\s*(\S+)", self._text(path, "env", path) or "")
                if m:
                    self.out.add(path, "env", path)
                    self._compose_file_variable(m.group(1), posixpath.dirname(path), path)
            if path in _CONFIG:
                self._config(path)
            elif is_compose_path(path) or _EXAMPLE_OVERRIDE.match(name):
                self._compose(path, path)
            elif is_makefile_path(path):
                self._makefile(path)
            elif is_workflow_path(path) or name in ("action.yml", "action.yaml"):
                self._workflow(path)
        return self.out

    def _text(self, path: str, kind: str, source: str) -> str | None:
        """The file's text, or None; an unreadable one (too large, binary) is referenced itself (fail closed)."""
        data = self.read(path)
        if data is None:
            return None
        if len(data) > MAX_DEPLOY_FILE or b"\0" in data[:8192]:
            self.out.add(path, "unreadable", source)
            return None
        return data.decode("utf-8", "replace")

    def _once(self, kind: str, path: str) -> bool:
        if (kind, path) in self.seen:
            return False
        if len(self.seen) >= MAX_FILES:
            self.out.truncated = True
            return False
        self.seen.add((kind, path))
        return True

    # -- the gate's config: its environments name compose files -----------------------------------------

    def _config(self, path: str) -> None:
        docs = yaml_documents(self._text(path, "config", path))
        cfg = docs[0] if docs else None
        globs = cfg.get("extra_globs") if isinstance(cfg, dict) else None
        for kind in ("compose", "dockerfile", "ci_workflow"):
            for pattern in _strings((globs or {}).get(kind)) if isinstance(globs, dict) else []:
                if pattern.strip() and not pattern.startswith("/"):
                    self.out.globs.append((pattern.strip().removeprefix("./"), kind, path))
        envs = cfg.get("environments") if isinstance(cfg, dict) else None
        for files in envs.values() if isinstance(envs, dict) else []:
            for ref in _strings(files):
                target = _resolve("", ref)
                if target:
                    self.out.add(target, "compose", path)
                    self._compose(target, path)

    # -- compose -------------------------------------------------------------------------------------------

    def _compose(self, path: str, source: str, base: str | None = None) -> None:
        """Read a compose file; its relative paths resolve from its folder (or an include's project_directory),
        its variables from the committed `.env` there (which is then a file the deploy reads)."""
        base = posixpath.dirname(path) if base is None else base
        if not self._once("compose", f"{path}\0{base}"):
            return
        text = self._text(path, "compose", source)
        if text is None:
            return
        docs = yaml_documents(text)
        if docs is None:
            self.out.add(path, "unreadable", source)
            return
        saved = self.vars
        env_path = posixpath.join(base, ".env")
        env = self.read(env_path)
        if env is not None:
            self.out.add(env_path, "env_file", path)
        self.vars = _env_values(env.decode("utf-8", "replace") if env is not None and len(env) < MAX_DEPLOY_FILE
                                else None)
        try:
            for doc in docs:
                if isinstance(doc, dict):
                    self._compose_doc(doc, base, path)
        finally:
            self.vars = saved

    def _ref(self, base: str, ref: object, kind: str, source: str) -> str | None:
        target = _resolve(base, ref, self.vars)
        if target is not None:
            self.out.add(target, kind, source)
        return target

    def _compose_doc(self, doc: dict, base: str, path: str) -> None:
        include = doc.get("include")
        for item in include if isinstance(include, list) else [include]:
            entry = item if isinstance(item, dict) else {"path": item}
            project = _resolve(base, entry.get("project_directory"), self.vars)
            for ref in _strings(entry.get("path")):
                target = self._ref(base, ref, "compose", path)
                if target:
                    self._compose(target, path)
                    if project is not None:
                        self._compose(target, path, project)
            for ref in _strings(entry.get("env_file")):
                self._ref(base, ref, "env_file", path)
        for top in ("configs", "secrets"):
            section = doc.get(top)
            for item in section.values() if isinstance(section, dict) else []:
                if isinstance(item, dict):
                    self._ref(base, item.get("file"), "config" if top == "configs" else "secret", path)
        services = doc.get("services")
        for svc in services.values() if isinstance(services, dict) else []:
            if isinstance(svc, dict):
                self._service(svc, base, path)

    def _service(self, svc: dict, base: str, path: str) -> None:
        extends = svc.get("extends")
        if isinstance(extends, dict) and isinstance(extends.get("file"), str):
            target = self._ref(base, extends["file"], "compose", path)
            if target:
                self._compose(target, path)
        for key in ("env_file", "label_file"):
            value = svc.get(key)
            for item in value if isinstance(value, list) else [value]:
                self._ref(base, item.get("path") if isinstance(item, dict) else item, "env_file", path)
        volumes = svc.get("volumes")
        for vol in volumes if isinstance(volumes, list) else []:
            if isinstance(vol, dict):
                if vol.get("type", "bind") == "bind":
                    self._ref(base, vol.get("source"), "mount", path)
            elif isinstance(vol, str):
                source = _subst(vol, self.vars)
                if source is not None and ":" in source:
                    source = source.split(":", 1)[0]
                    if source.startswith((".", "/", "~")) or "/" in source:
                        self._ref(base, source, "mount", path)
        build = svc.get("build")
        if isinstance(build, str):
            build = {"context": build}
        if isinstance(build, dict):
            context = self._ref(base, build.get("context", "."), "build context", path)
            if context is not None:
                for name in [build["dockerfile"]] if build.get("dockerfile") else ["Dockerfile", "dockerfile"]:
                    self._ref(context, name, "dockerfile", path)  # BuildKit falls back to `dockerfile`
            extra = build.get("additional_contexts")
            items = extra.values() if isinstance(extra, dict) else [
                e.split("=", 1)[1] for e in _strings(extra) if "=" in e]
            for ref in items:
                self._ref(base, ref, "build context", path)

    # -- commands: Makefile recipes, workflow steps, the scripts they run ----------------------------------

    def _commands(self, text: str, base: str, source: str, depth: int, also: str | None = None) -> None:
        """Every repository file a shell text names: a script it runs, a file it passes (`-f`, a build context).
        Paths resolve from `base` (where the text runs) and, for a script, from its own folder too (`also`)."""
        if also is not None:  # `. "$(dirname "$0")/settings.sh"`: the script's own folder, written out
            text = re.sub(r"\$\(\s*dirname\s+\"?\$(?:0|\{0\}|\{?BASH_SOURCE(?:\[0\])?\}?)\"?\s*\)|\$\{BASH_SOURCE(?:\[0\])?%/\*\}",
                          also or ".", text)
        def inner(m: re.Match) -> str:  # `bash -c "cd ops && ./push"`: the quoted text is a script of its own
            self._commands(m.group(1) if m.group(1) is not None else m.group(2), base, source, depth, also)
            return " "

        text = _SHELL_C.sub(inner, text)
        for words in split_shell(text):
            if words[0] == "cd" and len(words) == 2 and "$" not in words[1]:
                moved = _resolve(base, words[1])
                base = moved if moved is not None else base  # the next commands of this text run there
                continue
            if len(words) >= 3 and words[0] in ("python", "python3") and words[1] == "-m":
                module = words[2].replace(".", "/")  # `python3 -m ops.release`: ops/release.py or its package
                for candidate in (f"{module}.py", f"{module}/__main__.py"):
                    target = _resolve(base, candidate)
                    if target is not None and self.read(target) is not None:
                        self._named(target, False, False, 1, "python3", source, base, depth)
            for w in words:  # `COMPOSE_FILE=a.yml:b.yml docker compose up`: the files Compose reads
                if w.startswith("COMPOSE_FILE="):
                    self._compose_file_variable(w.split("=", 1)[1], base, source)
            words = [w for w in words if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w)] or words
            # `--file=deploy/prod.yml` is `--file deploy/prod.yml`
            words = [part for w in words for part in (["--file", w[7:]] if w.startswith("--file=") else [w])]
            compose = any(w in ("compose", "docker-compose") for w in words[:3])
            build = "build" in words[:3] and words[0] in ("docker", "podman", "buildah")
            for i, word in enumerate(words):
                prev = words[i - 1] if i else ""
                named = (i == 0 and "/" in word) or prev in _INTERPRETERS or "/" in word \
                    or bool(_FILE_LIKE.search(word)) or prev in ("-f", "--file")
                if word.startswith("-") or not named and not (build and word == "." and i > 1):
                    continue
                for folder in dict.fromkeys([base] + ([also] if also is not None else [])):
                    target = _resolve(folder, word)
                    if target is not None:
                        self._named(target, compose, build, i, prev, source, base, depth)

    def _compose_file_variable(self, value: str, base: str, source: str) -> None:
        """`COMPOSE_FILE` (in a recipe, a step's env, the committed .env): Compose's -f list, `:`-separated."""
        for ref in re.split(r"[:;]", value.strip().strip("'\"")):
            target = _resolve(base, ref) if ref and "$" not in ref else None
            if target is not None:
                self.out.add(target, "compose", source)
                self._compose(target, source)

    def _named(self, target: str, compose: bool, build: bool, i: int, prev: str, source: str, base: str,
               depth: int) -> None:
        if compose and prev in ("-f", "--file"):
            self.out.add(target, "compose", source)
            self._compose(target, source)
        elif build and prev in ("-f", "--file"):
            self.out.add(target, "dockerfile", source)
        elif build and i > 1 and not prev.startswith("-"):
            self.out.add(target, "build context", source)
        else:
            self.out.add(target, "script", source)
            if depth < 2 and target and self._once("script", target):
                script = self._text(target, "script", source)
                if script is not None:
                    self._commands(script, base, target, depth + 1, also=posixpath.dirname(target))

    def _makefile(self, path: str) -> None:
        text = self._text(path, "makefile", path)
        if text is None:
            return
        base = posixpath.dirname(path)
        recipe: list[str] = []
        defs = {m.group(1): m.group(2).strip() for m in
                re.finditer(r"(?m)^([A-Za-z_][A-Za-z0-9_]*)\s*[:?+]?=[ \t]*(.*)$", text.replace("\\\n", " "))}

        def expand(line: str) -> str:  # `$(DC) up` with `DC = docker compose -f deploy/prod.yml`, two rounds
            for _ in range(2):
                line = re.sub(r"\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]", lambda m: defs.get(m.group(1), m.group(0)), line)
            return line

        for line in text.replace("\\\n", " ").split("\n"):
            if line.startswith("\t"):
                recipe.append(expand(line.lstrip("\t").lstrip("@-+ ")))
            elif re.match(r"^(?:-|s)?include\s", line):
                for ref in line.split()[1:]:
                    target = self._ref(base, ref, "script", path)
                    if target is not None and "$" not in ref and self._once("makefile", target):
                        self._makefile(target)  # an included makefile's recipes run as this one's
        body = "\n".join(recipe)
        body = re.sub(r"\$[({](CURDIR|PWD|shell pwd)[)}]/?", "", body)
        self._commands(body, base, path, 0)

    def _workflow(self, path: str) -> None:
        docs = yaml_documents(self._text(path, "workflow", path))
        if docs is None:
            self.out.add(path, "unreadable", path)
            return
        action_dir = posixpath.dirname(path) if posixpath.basename(path).startswith("action.") else ""
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            jobs = doc.get("jobs")
            steps: list = []
            for job in jobs.values() if isinstance(jobs, dict) else []:
                if isinstance(job, dict):
                    if isinstance(job.get("uses"), str):
                        steps.append({"uses": job["uses"]})
                    steps += job.get("steps") if isinstance(job.get("steps"), list) else []
            runs = doc.get("runs")
            if isinstance(runs, dict) and isinstance(runs.get("steps"), list):
                steps += runs["steps"]
            for block in [doc, *(jobs.values() if isinstance(jobs, dict) else []), *steps]:
                env = block.get("env") if isinstance(block, dict) else None
                if isinstance(env, dict) and isinstance(env.get("COMPOSE_FILE"), str):
                    self._compose_file_variable(env["COMPOSE_FILE"], "", path)
            for step in steps:
                if isinstance(step, dict):
                    self._step(step, path, action_dir)

    def _step(self, step: dict, path: str, action_dir: str) -> None:
        uses = step.get("uses")
        if isinstance(uses, str) and uses.startswith("./"):
            target = self._ref("", uses.split("@", 1)[0], "action", path)
            if target is not None and self._once("action", target):
                for name in ("action.yml", "action.yaml"):
                    candidate = posixpath.join(target, name)
                    if self.read(candidate) is not None:
                        self._workflow(candidate)
        base = step.get("working-directory") if isinstance(step.get("working-directory"), str) else ""
        base = _resolve("", base) or ""
        run = step.get("run")
        if isinstance(run, str):
            run = re.sub(r"\$\{\{\s*github\.action_path\s*\}\}|\$\{?GITHUB_ACTION_PATH\}?", action_dir or ".", run)
            run = re.sub(r"\$\{\{\s*github\.workspace\s*\}\}/?|\$\{?GITHUB_WORKSPACE\}?/?", "", run)
            self._commands(run, base, path, 0)
        with_ = step.get("with")
        for key, value in with_.items() if isinstance(with_, dict) else []:
            if key in _WITH_PATHS and isinstance(value, str):
                for ref in value.split():
                    kind = "compose" if "compose" in key else "dockerfile" if key in ("file", "dockerfile") else "script"
                    self._ref(base, ref, kind, path)
