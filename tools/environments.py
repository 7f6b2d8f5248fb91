"""Compose environments, discovered: from the config, from how the repo itself calls Compose
(Makefile targets, shell scripts, CI workflow steps, deployment notes), then from file-name
conventions. Every compose source ends in an environment, or is reported; a `-f` argument that
cannot be resolved is reported as "cannot tell", never taken as a file name.

Reads only the session's loaded sources (their text), never the disk.
"""
from __future__ import annotations

import itertools
import posixpath
import re
from dataclasses import dataclass, field

from agent.core.charter import fold
from agent.core.files import INSTALL_SCRIPT
from tools.facts.variables import deploy_value
from tools.facts.shell import runs_docker, runs_tests, split_words

COMPOSE_NAME = re.compile(r"^(?:docker-)?compose(?:[.-](?P<env>[A-Za-z0-9_-]+))?\.ya?ml$")
# Compose's own default files, in the order it looks for them (no `-f`).
DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
CALLER_KINDS = ("makefile", "script", "workflow", "docs")
# A line's expansion stops growing here: definitions that double each other cannot make the work exponential.
MAX_EXPANDED = 8192

_CALL = re.compile(r"(?:\bdocker\s+compose|\bdocker-compose)(?![\w.*/-])(?P<rest>[^;&|\n]*)")
_PROD_WORDS = {"prod", "production", "prd", "live", "deploy", "deployment", "deploiement", "release"}
_DEV_WORDS = {"dev", "development", "local", "up", "start", "run", "serve"}
# Options of `docker compose` (before the subcommand) that take a value.
_VALUE_OPTS = {"-p", "--project-name", "--env-file", "--profile", "--project-directory", "--ansi",
               "--parallel", "--progress"}
_STOP = {"&&", "||", ";", "|", ")", "&"}
_MAKE_ASSIGN = re.compile(r"^(?:export\s+|override\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:::|:|\?|\+|!)?=\s*(?P<value>.*)$")
_SHELL_ASSIGN = re.compile(r"^\s*(?:export\s+|readonly\s+|local\s+|declare\s+(?:-\w+\s+)?)?"
                           r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>\"[^\"]*\"|'[^']*'|[^\s;&|]*)")
_SHELL_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-=])(?P<default>[^}]*))?\}"
                        r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
_MAKE_VAR = re.compile(r"\$[({](?P<name>[A-Za-z_][A-Za-z0-9_]*)[)}]")
_GHA_ENV = re.compile(r"\$\{\{\s*env\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_COMMENT = re.compile(r"(?:^|\s)#.*$")
_TEST_WORDS = {"test", "tests", "testing", "e2e", "integration", "acceptance", "smoke", "cypress", "playwright"}
_OTHER_ENV_WORDS = {"staging", "stage", "preprod", "qa", "test", "tests", "ci", "demo", "sandbox"}
_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Origin:
    """Where an environment came from: config, a Makefile/script/workflow/docs line, or a convention."""

    kind: str  # config | makefile | script | workflow | docs | convention
    path: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        if self.kind in ("config", "convention"):
            return self.kind if not self.path or self.kind == "convention" else f"config ({self.path})"
        return f"{self.path}:{self.line}" if self.line else str(self.path)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "path": self.path, "line": self.line, "text": str(self)}


@dataclass
class DiscoveredEnvironment:
    name: str
    files: list[str]
    origins: list[Origin] = field(default_factory=list)
    # Variables the callers set for Compose (a workflow's `env:`, a script's exports): name -> (value or
    # None when the deploy sets it from an expression the review cannot read, where).
    variables: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    profiles: list[str] = field(default_factory=list)  # every profile its services name: all are reviewed
    evidence: str = ""  # why it is taken for production when its name does not say so (or, denied, why not)
    denied: bool = False  # its file's name says production, its own header says otherwise
    # The `--env-file`s its callers pass: for each, its repo-relative candidates (the first that exists).
    env_files: list[tuple[str, ...]] = field(default_factory=list)

    def role_note(self) -> str:
        """Why its role is not the one its name alone would give, in words ("" when the name says it all)."""
        if not self.evidence:
            return ""
        return f"{'not taken' if self.denied else 'taken'} for production: {self.evidence}"

    def origin_text(self) -> str:
        """`config, Makefile:5, docs/deploiement.md:16,17`: one entry per file, its lines together."""
        parts: dict[str, list[str]] = {}
        for o in self.origins:
            key = str(o) if o.line is None else str(o.path)
            parts.setdefault(key, [])
            if o.line is not None:
                parts[key].append(str(o.line))
        return ", ".join(k + (":" + ",".join(lines) if lines else "") for k, lines in parts.items())

    def to_dict(self) -> dict:
        return {"name": self.name, "files": list(self.files), "origins": [o.to_dict() for o in self.origins],
                "from": self.origin_text(), "profiles": list(self.profiles), "evidence": self.evidence}


@dataclass(frozen=True)
class Unresolved:
    """A Compose call whose `-f` argument is a variable the same file does not define."""

    path: str
    line: int
    argument: str
    call: str


@dataclass
class Discovery:
    environments: dict[str, DiscoveredEnvironment]
    compose_files: list[str]  # every compose source that loaded
    unresolved: list[Unresolved] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # compose sources in no environment
    absent: list[tuple[str, Origin]] = field(default_factory=list)  # named by a call, not in the repo
    # Override files (they patch services they do not define) whose base file cannot be told.
    overlays: list[str] = field(default_factory=list)

    def files(self) -> dict[str, list[str]]:
        return {name: list(env.files) for name, env in self.environments.items()}

    def to_list(self) -> list[dict]:
        return [env.to_dict() for env in self.environments.values()]


@dataclass(frozen=True)
class Call:
    """One `docker compose` invocation as the repo writes it, variables resolved where possible."""

    origin: Origin
    context: str | None  # the Makefile target, script name, workflow job, docs file: names the environment
    files: tuple[str, ...]  # as written (relative to the caller's directory for scripts)
    unresolved: tuple[str, ...] = ()
    call: str = ""
    variables: tuple[tuple[str, str], ...] = ()  # what the caller sets before this call (name, value)
    env_files: tuple[str, ...] = ()  # `--env-file` values, as written
    on_ci_runner: bool = False  # a workflow job on a GitHub-hosted runner, no deployment environment, no ssh
    cwd: str = ""  # the folder a `cd DIR` before the call moves to, relative to where the caller runs


# -- reading calls --------------------------------------------------------------------


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, line) with backslash continuations joined."""
    out: list[tuple[int, str]] = []
    parts: list[str] = []  # joined once: `buf +=` is quadratic wherever CPython cannot extend in place
    start = 0
    for no, raw in enumerate(text.splitlines(), 1):
        if not parts:
            start = no
        stripped = raw.rstrip()
        if stripped.endswith("\\"):
            parts.append(stripped[:-1] + " ")
            continue
        out.append((start, "".join(parts) + raw))
        parts = []
    if parts:
        out.append((start, "".join(parts)))
    return out


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _expand_shell(text: str, defs: dict[str, str], depth: int = 0) -> str:
    def sub(m: re.Match) -> str:
        name = m.group("braced") or m.group("bare")
        if name in defs and (defs[name] or not m.group("op") or not m.group("op").startswith(":")):
            return defs[name]
        if m.group("op"):
            return m.group("default")
        return m.group(0)

    for _ in range(8):  # nested definitions, bounded
        new = _SHELL_VAR.sub(sub, text)
        if new == text or len(new) > MAX_EXPANDED:
            break
        text = new
    return text


def _expand_make(text: str, defs: dict[str, str]) -> str:
    for _ in range(8):
        new = _MAKE_VAR.sub(lambda m: defs.get(m.group("name"), m.group(0)), text)
        if new == text or len(new) > MAX_EXPANDED:
            break
        text = new
    return text


def _parse_call(rest: str, env_files: list[str] | None = None) -> tuple[list[str], bool] | None:
    """(`-f` values, whether a subcommand follows) of what follows `docker compose`; the `--env-file`
    values are appended to `env_files` when given."""
    try:
        tokens = split_words(rest, comments=True)  # linear: shlex is quadratic on a long quoted word
    except ValueError:
        tokens = rest.split()
    files: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in _STOP or tok.endswith((";", "&&")):
            break
        if tok in ("-f", "--file"):
            if i + 1 < len(tokens):
                files.append(tokens[i + 1])
            i += 2
            continue
        if tok.startswith("--file="):
            files.append(tok.split("=", 1)[1])
        elif tok.startswith("-f") and len(tok) > 2 and not tok.startswith("--"):
            files.append(tok[2:])
        elif tok == "--env-file" and env_files is not None and i + 1 < len(tokens):
            env_files.append(tokens[i + 1])
            i += 1
        elif tok.startswith("--env-file=") and env_files is not None:
            env_files.append(tok.split("=", 1)[1])
        elif tok in _VALUE_OPTS:
            i += 1
        elif not tok.startswith("-"):
            return files, True
        i += 1
    return files, False


def _calls_in_lines(lines: list[tuple[int, str]], origin_kind: str, path: str, context_of, expand,
                    variables_of=lambda no: {}, on_ci_runner=lambda no, line: False) -> list[Call]:
    calls: list[Call] = []
    for no, line in lines:
        expanded = expand(no, _COMMENT.sub("", line))
        for m in _CALL.finditer(expanded):
            env_files: list[str] = []
            parsed = _parse_call(m.group("rest"), env_files)
            if parsed is None:
                continue
            files, _ = parsed
            unresolved = tuple(f for f in files if "$" in f)
            resolved = tuple(f for f in files if "$" not in f)
            if not files:
                defined = expand(no, "$COMPOSE_FILE")
                if "$" not in defined and defined:
                    resolved = tuple(f for f in re.split(r"[:;]", defined) if f)
            calls.append(Call(Origin(origin_kind, path, no), context_of(no), resolved, unresolved,
                              " ".join(m.group(0).split())[:200], tuple(variables_of(no).items()),
                              tuple(f for f in env_files if "$" not in f), on_ci_runner(no, line),
                              _moved_to(expanded[:m.start()])))
    return calls


_CD = re.compile(r"(?:^|[;&|(]\s*|\s)(?:cd|pushd)\s+([\"']?)([^\s;&|\"')]+)\1")


def _moved_to(before: str) -> str:
    """The folder the last `cd DIR` (or `pushd DIR`) of the same command line moves to before a call (`cd dev;
    docker compose up`), relative and literal; "" when none, or one the review cannot follow (a variable, `-`, an
    absolute path)."""
    found = list(_CD.finditer(before))
    if not found:
        return ""
    folder = found[-1].group(2)
    if "$" in folder or folder.startswith(("/", "~", "-")):
        return ""
    folder = posixpath.normpath(folder)
    return "" if folder == "." or folder.startswith("..") else folder


def makefile_calls(path: str, text: str) -> list[Call]:
    defs: dict[str, str] = {}
    targets: dict[int, str] = {}
    target = None
    for no, line in _logical_lines(text):
        if line.startswith("\t"):
            targets[no] = target or ""
            continue
        m = _MAKE_ASSIGN.match(line)
        if m and not re.match(r"^[A-Za-z0-9_.%/-]+\s*:[^=]", line):
            defs[m.group("name")] = m.group("value").strip()
            continue
        t = re.match(r"^([A-Za-z0-9_.%/-]+)(?:\s+[A-Za-z0-9_.%/-]+)*\s*::?(?!=)", line)
        if t:
            target = t.group(1)
        targets[no] = target or ""

    def expand(no: int, line: str) -> str:
        line = _expand_make(line, defs).replace("$$", "$")
        return _expand_shell(line, defs)

    recipes = [(no, line) for no, line in _logical_lines(text) if line.startswith("\t")]
    return _calls_in_lines(recipes, "makefile", path, lambda no: targets.get(no) or None, expand, lambda no: defs)


def script_calls(path: str, text: str) -> list[Call]:
    lines = _logical_lines(text)
    everywhere: dict[str, str] = {}
    for _, line in lines:
        for m in _SHELL_ASSIGN.finditer(line):
            everywhere.setdefault(m.group("name"), _unquote(m.group("value")))
    seen: dict[str, str] = {}
    by_line: dict[int, dict[str, str]] = {}
    for no, line in lines:
        by_line[no] = {**everywhere, **seen}
        for m in _SHELL_ASSIGN.finditer(line):
            seen[m.group("name")] = _expand_shell(_unquote(m.group("value")), {**everywhere, **seen})
    stem = posixpath.basename(path).rsplit(".", 1)[0]
    return _calls_in_lines(lines, "script", path, lambda no: stem,
                           lambda no, line: _expand_shell(line, by_line.get(no, everywhere)),
                           lambda no: by_line.get(no, everywhere))


def workflow_calls(path: str, text: str, data: object) -> list[Call]:
    defs: dict[str, str] = {}

    def collect(node: object) -> None:
        if isinstance(node, dict):
            env = node.get("env")
            if isinstance(env, dict):
                for k, v in env.items():
                    if isinstance(v, (str, int, float)) and not isinstance(v, bool):
                        defs.setdefault(str(k), str(v))
            for v in node.values():
                collect(v)
        elif isinstance(node, list):
            for v in node:
                collect(v)

    collect(data)
    jobs = data.get("jobs") if isinstance(data, dict) else None
    job_envs: dict[str, str] = {}
    if isinstance(jobs, dict):
        for jid, job in jobs.items():
            env = job.get("environment") if isinstance(job, dict) else None
            name = env.get("name") if isinstance(env, dict) else env
            if isinstance(name, str) and "${{" not in name:
                job_envs[str(jid)] = name
    job_at: dict[int, str] = {}
    in_jobs, indent, current = False, None, None
    for no, raw in enumerate(text.splitlines(), 1):
        if re.match(r"^jobs\s*:", raw):
            in_jobs = True
            continue
        if in_jobs and raw.strip() and not raw.lstrip().startswith("#"):
            lead = len(raw) - len(raw.lstrip())
            if lead == 0:
                in_jobs = False
            else:
                if indent is None:
                    indent = lead
                m = re.match(r"^\s*([\w-]+)\s*:", raw)
                if lead == indent and m:
                    current = m.group(1)
        if in_jobs and current:
            job_at[no] = current

    # jobs on a throwaway GitHub-hosted runner: no deployment environment, no remote engine, no word of deploying
    # in the workflow's or the job's name (a job "deploy" may reach the server by a docker context)
    hosted: set[str] = set()
    named = " ".join([posixpath.basename(path), str(data.get("name") or "") if isinstance(data, dict) else ""])
    for jid, job in (jobs or {}).items() if isinstance(jobs, dict) and not _deploy_words(named) else ():
        if isinstance(job, dict) and not job.get("environment") and job.get("runs-on") is not None \
                and not re.search(r"self-hosted|\$\{\{", str(job.get("runs-on")), re.I) \
                and not _deploy_words(f"{jid} {job.get('name') or ''}") and "DOCKER_HOST" not in str(job) \
                and "docker context" not in str(job) and "DOCKER_CONTEXT" not in str(job):
            hosted.add(str(jid))

    def context(no: int) -> str | None:
        job = job_at.get(no)
        return job_envs.get(job or "") or job

    def on_ci_runner(no: int, line: str) -> bool:
        """The call brings the set up on the runner itself (not through `ssh` on a server)."""
        return job_at.get(no) in hosted and not re.search(r"\bssh\b|\bDOCKER_HOST\b|--host\b|-H\s", line)

    def expand(no: int, line: str) -> str:
        line = _GHA_ENV.sub(lambda m: defs.get(m.group("name"), m.group(0)), line)
        return _expand_shell(line, defs)

    return _calls_in_lines(_logical_lines(text), "workflow", path, context, expand, lambda no: defs, on_ci_runner)


def _deploy_words(text: str) -> bool:
    """A workflow's or job's name that speaks of deploying or shipping (`deploy.yml`, job `release-prod`)."""
    return bool(set(re.split(r"[^a-z0-9]+", fold(text))) & (_PROD_WORDS | {"ship", "rollout", "server", "cd"}))


def docs_calls(path: str, text: str) -> list[Call]:
    """Calls in the notes' code: fenced blocks and inline code spans."""
    lines: list[tuple[int, str]] = []
    fenced = False
    for no, raw in enumerate(text.splitlines(), 1):
        if _FENCE.match(raw):
            fenced = not fenced
            continue
        if fenced:
            lines.append((no, raw))
        else:
            lines += [(no, span) for span in _INLINE_CODE.findall(raw)]
    stem = posixpath.basename(path).rsplit(".", 1)[0]
    return _calls_in_lines(lines, "docs", path, lambda no: stem, lambda no, line: line)


# -- naming ---------------------------------------------------------------------------


def _alias(word: str | None) -> str | None:
    if not word:
        return None
    parts = set(re.split(r"[^a-z0-9]+", fold(word)))
    if parts & _TEST_WORDS:
        return "test"  # "e2e-up" brings up a test environment, not dev
    if parts & _OTHER_ENV_WORDS:
        return None  # "deploy-staging" is staging, not prod
    if parts & _PROD_WORDS:
        return "prod"
    if parts & _DEV_WORDS:
        return "dev"
    return None


def _suffix_env(files: tuple[str, ...] | list[str]) -> str | None:
    for f in reversed(list(files)):
        m = COMPOSE_NAME.match(posixpath.basename(f))
        if m and m.group("env") and m.group("env") != "override":
            alias = _alias(m.group("env"))
            return alias if alias in ("dev", "prod") else m.group("env")  # `compose.e2e.yml` stays e2e
    return None


def _slug(word: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", fold(word)).strip("-") or "env"


def _default_set(folder: str, present: set[str]) -> list[str]:
    """What Compose loads with no `-f` in a folder: its default file and that file's override."""
    base = next((posixpath.join(folder, n) if folder else n for n in DEFAULT_FILES
                 if (posixpath.join(folder, n) if folder else n) in present), None)
    if base is None:
        return []
    stem = base.rsplit(".", 1)[0]
    override = next((f"{stem}.override.{ext}" for ext in ("yaml", "yml") if f"{stem}.override.{ext}" in present), None)
    if override is None:  # the example override the documented install copies into place stands in for it
        override = next((f"{stem}.override.{ext}.{kind}" for ext in ("yaml", "yml") for kind in EXAMPLE_KINDS
                         if f"{stem}.override.{ext}.{kind}" in present), None)
    return [base] + ([override] if override else [])


EXAMPLE_KINDS = ("example", "sample", "dist", "template", "tmpl")


# -- discovery ------------------------------------------------------------------------


def discover(sources: list, configured: dict[str, list[str]] | None = None,
             config_path: str = ".devops-agent.yaml") -> Discovery:
    """Environments of the session's sources: config, then the repo's own Compose calls, then conventions."""
    compose = [s for s in sources if s.kind == "compose"]
    present = {s.path for s in compose if s.ok}
    compose_files = [s.path for s in compose if s.ok]
    envs: dict[str, DiscoveredEnvironment] = {}
    for name, files in (configured or {}).items():
        envs[name] = DiscoveredEnvironment(name, list(files), [Origin("config", config_path)])

    calls: list[Call] = []
    for src in sources:
        if not src.ok or src.text is None:
            continue
        if src.kind == "script":
            calls += compose_calls_of_script(src.path, src.text)
        elif src.kind == "ci_workflow":
            calls += workflow_calls(src.path, src.text, src.data)
        elif src.kind in ("docs", "readme"):
            calls += docs_calls(src.path, src.text)

    unresolved: list[Unresolved] = []
    absent: list[tuple[str, Origin]] = []
    groups: dict[tuple[str, ...], list[Call]] = {}
    for call in calls:
        unresolved += [Unresolved(call.origin.path or "", call.origin.line or 0, arg, call.call)
                       for arg in call.unresolved]
        if call.unresolved:
            continue  # part of the file list is unknown: the environment cannot be told
        files = _resolve_files(call, present)
        if not files:
            # a script in a folder of its own beside its compose file (`scripts/docker-compose/upgrade.sh` runs
            # `docker-compose up -d` where it sits): the defaults of that folder, whatever the script's name
            folder = posixpath.dirname(call.origin.path or "") if call.origin.kind == "script" else ""
            beside = tuple(_default_set(folder, present)) if folder and not call.files \
                and _BRINGS_UP.search(call.call) and "$" not in call.call else ()  # not a log line's words
            if not beside and (call.files or _alias(call.context) in (None, "test")):
                continue  # a test target on Compose's defaults runs the main files, which convention names
            run_in = posixpath.normpath(posixpath.join(_run_folder(call), call.cwd)) if call.cwd else _run_folder(call)
            files = beside or tuple(_default_set(run_in, present))  # no `-f`: Compose's defaults
            if not files:
                continue
        missing = [f for f in files if f not in present]
        if missing:
            absent += [(f, call.origin) for f in missing]
            continue
        groups.setdefault(files, []).append(call)

    taken_files = {tuple(e.files) for e in envs.values()}
    for files, group in groups.items():
        if files in taken_files:
            env = next(e for e in envs.values() if tuple(e.files) == files)
            env.origins += [c.origin for c in group]
        else:
            name = _free(_group_name(files, group, present), envs)
            env = envs[name] = DiscoveredEnvironment(name, list(files), [c.origin for c in group])
            taken_files.add(files)
        for c in group:
            for var, value in c.variables:
                env.variables.setdefault(var, (deploy_value(value), str(c.origin)))
            for candidates in _path_candidates(c, c.env_files):
                if candidates not in env.env_files:
                    env.env_files.append(candidates)

    # a file another pulls in is checked through it, unless it is Compose's default file: `docker compose up` runs
    # that one alone as well (`docker-compose-extras.yml` including `docker-compose.yml`)
    # a file another set starts with is checked through that set; yet when every such set adds development or
    # test files to it, Compose's default file is also what a bare `docker compose up` runs in its folder
    # (`Just copy docker-compose.yml and hit docker-compose up` beside `-f docker-compose.yml -f docker-compose.dev.yml`)
    def dev_only(f: str) -> bool:
        sets = [e.files for e in envs.values() if f in e.files]
        return posixpath.basename(f) in DEFAULT_FILES and bool(sets) and all(
            files[0] == f and len(files) > 1 and _role_words(files[1:]) in ("dev", "test")
            and not any(is_override_name(x) for x in files[1:])  # with an override beside it, `up` applies it
            for files in sets)
    def in_tests_only(f: str) -> bool:
        # `compose.prod.yaml` called only with an e2e overlay on top (`-f compose.yaml -f compose.prod.yaml -f
        # compose.e2e.yaml`): the production set it names is still checked, on its own
        sets = [e for e in envs.values() if f in e.files]
        return _suffix_env([f]) == "prod" and bool(sets) and all(
            environment_role(e.name, e.files) == "test" and e.files[-1] != f for e in sets)
    covered = {f for e in envs.values() for f in e.files if not dev_only(f) and not in_tests_only(f)} | \
        {f for f in _included(compose) if posixpath.basename(f) not in DEFAULT_FILES}
    # a file whose `services` is no mapping is no compose model (Compose refuses it: CMP001 says so)
    data = {s.path: s.data for s in compose if s.ok and isinstance(s.data, dict)
            and isinstance(s.data.get("services") or {}, dict)}
    folders = sorted({posixpath.dirname(f) for f in compose_files if f not in covered})
    overlays: list[str] = []
    for folder in folders:
        prefix = f"{folder}/" if folder else ""
        default = _default_set(folder, present)
        if default and not set(default) <= covered:
            # `deploy/selfhost/prod/docker-compose.yml`: the folder names the environment
            name = folder if folder and _alias(posixpath.basename(folder)) == "prod" else prefix + "dev"
            # `other/nightly/docker-compose.yml` with no image, completed by `docker-compose.prod.yml` beside it: the
            # base of its own folder's sets, checked through them, never on a base above
            own = set((data.get(default[0]) or {}).get("services") or {})
            folder_base = not is_override_name(default[0]) and any(
                posixpath.dirname(f) == folder and f not in default
                and set((data.get(f) or {}).get("services") or {}) <= own
                and (data.get(f) or {}).get("services") for f in compose_files)
            if folder_base and is_overlay(data.get(default[0])):
                covered |= set(default)
                default = []
            elif is_overlay(data.get(default[0])) or is_override_name(default[0]):
                # `ci/basic/compose.yaml` patching the root's services: on the base above, or cannot tell
                base = _base_of(default[0], data, present, above=True)
                covered |= set(default)
                if base is None:
                    overlays += default
                default = base + default if base is not None else []
            says_dev = any(posixpath.dirname(f) == folder and f not in covered and f not in default
                           and _suffix_env([f]) == "dev" for f in compose_files)
            if default and (says_dev or name in envs and tuple(envs[name].files) != tuple(default)):
                # the dev name is taken by a file that says dev (`docker-compose.dev.yml` beside
                # `docker-compose.yml`): Compose's default set is then the main one, not an orphan
                name = prefix + "main"
            if default and name not in envs:
                envs[name] = DiscoveredEnvironment(name, default, [Origin("convention")])
                covered |= set(default)
        # `docker-compose.dev.yml` names dev before `docker-compose.dev-azure.yml`, which keeps its own words
        for f in sorted(compose_files, key=lambda f: (_stem_word(f) != (_suffix_env([f]) or "dev"), f)):
            if posixpath.dirname(f) != folder or f in covered:
                continue
            files = [f]
            overlay = is_overlay(data.get(f)) or is_override_name(f)
            if overlay or _borrowed(data.get(f) or {}):  # on its base; an overlay never alone ("cannot tell")
                base = _base_of(f, data, present)
                if base is None and overlay:
                    overlays.append(f)
                    covered.add(f)
                    continue
                files = base + [f] if base is not None else files  # borrowing with no base: its own defect
            suffix = _suffix_env([f])
            name = prefix + (suffix or _stem_word(f) if files != [f] else suffix or "dev")
            if name in envs and tuple(envs[name].files) != tuple(files):
                # `docker-compose.dev-azure.yml` beside the dev set: its own words name it, it is no orphan
                name = prefix + _stem_word(f)
            if name in envs and tuple(envs[name].files) != tuple(files) \
                    and not any(o.kind == "config" for o in envs[name].origins):
                # a script already named another file `dev` (`deploy/docker-compose.local.yml`): this one is
                # checked all the same, under a name of its own (a name the config gives stays the user's word:
                # the file it leaves out is an orphan, SRC005)
                name = _free(name, envs)
            if name not in envs:
                envs[name] = DiscoveredEnvironment(name, files, [Origin("convention")])
                covered.add(f)
    orphans = [f for f in compose_files if f not in covered]
    for env in envs.values():
        env.profiles = sorted({p for f in env.files for svc in ((data.get(f) or {}).get("services") or {}).values()
                               if isinstance(svc, dict) and isinstance(svc.get("profiles"), list)
                               for p in svc["profiles"] if isinstance(p, str)})
    envs = _not_production_by_header(envs, sources)
    envs = _hosting_repository(_production_by_evidence(_production_by_install(envs, sources), sources), sources)
    envs = _production_by_download(envs, sources)
    return Discovery(envs, compose_files, unresolved, orphans, absent, overlays)


# How a README or deployment notes tell users to run the files in production: self-hosting, or a verb of running
# them in production ("deploy Zulip in production", "production-ready Compose setups"); a mere mention of
# production ("in a typical production setting") is not enough.
PROD_EVIDENCE = re.compile(r"\bself[- ]?host(?:ed|ing|s)?\b|\bon (?:your|a|the) (?:own )?servers?\b(?![- ]side|['\u2019]s\b)|\bauto-?heberge"
                           r"|\b(?:run|running|deploy|deploying|use|using|install|installing|host|hosting|serve|serving"
                           r"|spin up|set up|launch|start)"
                           r"\b.{0,80}?\b(?:in|for) production\b|\bproduction[- ]ready\b|\ben production\b"
                           r"|\bdeploy(?:ing|ment)?\b.{0,60}?\bwith (?:docker[- ])?compose\b"
                           r"|\b(?:docker|compose) deployment (?:solution|setup|of)\b"
                           r"|\bcompose (?:file|setup|stack)s?\b.{0,40}?\bfor (?:\w+ ){0,2}deployments?\b"
                           r"|\bproduction (?:docker[- ])?compose (?:file|setup|stack)s?\b"
                           # "Docker Compose — Recommended for production deployments." (not "for production
                           # setups, we recommend…": advice on the host, not a word on these files)
                           r"|\b(?:recommended|suitable|intended|designed|meant) for production\b")
_NAMES_COMPOSE = re.compile(r"\bdocker\b|\bcompose\b", re.I)
# A line that denies anything is no evidence (the word it denies may sit far from the denial).
_DENIES = re.compile(r"\b(?:not|never|no longer|don'?t|doesn'?t|isn'?t|aren'?t|pas|jamais|without|sans)\b")
_TEST_FOLDERS = {"test", "tests", "testing", "e2e", "testdata", "fixtures", "examples", "example", "samples", "demo",
                 "dev", "devenv", ".devcontainer", "devcontainer"}


_PRODUCTION_NAME = re.compile(r"(?<![a-z])(?:prod|production|live)(?![a-z])", re.I)


def is_production_name(name: str) -> bool:
    """An environment named for production (the one place this is decided from a name): `prod`, `production`,
    `live` as a word of the name (`prod-eu`, `deploy_production`, `prod2`), not inside another word (a test of
    keep-alive connections, `test_keepalive`; `products`)."""
    return bool(_PRODUCTION_NAME.search(name))


_LINK_ITEM = re.compile(r"\s*(?:[-*+]|\d+\.)\s+\[[^\]]*\]\([^)]*\)\s*$")  # `- [Self-Hosting](#self-hosting)`: a contents entry
_FOR_DEVELOPERS = re.compile(r"\b(?:development|dev) (?:environment|setup|guide)\b|\bdevenv\b|\bcontribut\w*|"
                             r"\bhacking\b|\btesting\b")
_LINK_DEFINITION = re.compile(r"\s{0,3}\[[^\]]+\]:\s")  # `[Production Ready Metrics]: https://…`
_HTML_TAG = re.compile(r"<a\b[^>\n]*>.*?</a>|<[^>\n]*>", re.I)  # a link's text goes with it: a menu is no sentence
_TRANSLATED = re.compile(r"readme[._-][a-z]{2}(?:[-_][a-z]{2})?\.\w+$", re.I)  # README.cn.md, README_pt-BR.md


def _sentences(lines: list[str], title: str) -> list[tuple[int, str]]:
    """(first line, sentence) of a markdown page's prose, sentences joined across wrapped lines; the title is
    one; other headings (they announce, they do not tell) and code blocks are left out."""
    out: list[tuple[int, str]] = []
    buf, start, fenced, html = "", 0, False, False
    matter = bool(lines) and lines[0].strip() == "---"  # a page's front matter (title, desc) is metadata
    for no, line in enumerate(lines + [""], 1):
        if matter:
            matter = no == 1 or line.strip() != "---"
            continue
        if _FENCE.match(line):
            fenced = not fenced
            continue
        # an HTML block (`<div align="center">` to the next blank line) is layout: logos, menus, badges
        html = bool(line.strip()) and (html or (not fenced and line.lstrip().startswith("<")))
        if fenced or html or (line.startswith("#") and line != title) or line.lstrip().startswith("|") \
                or _LINK_DEFINITION.match(line) or _LINK_ITEM.match(line) or not line.strip():
            line = ""  # code, layout, headings and tables are no sentences
        if line.strip() and line != title:
            line = _HTML_TAG.sub(" ", re.sub(r"^\s*(?:>\s*)+", "", line))  # a quote's marks, inline markup
            line = re.sub(r"\]\([^)\s]*\)", "]", line)  # a link's target is no word of the sentence
        if line.strip():
            if not buf:
                start = no
            buf += " " + line.strip()
            if line != title:
                continue
        for piece in re.split(r"(?<=[.!?])\s+", buf.strip()):
            if piece:
                out.append((start, piece))
        buf = ""
    return out


# What a compose file's own header says of where it runs ("if you're exposing Penpot to the internet").
_EXPOSED = re.compile(r"\bexpos(?:e|es|ed|ing)\b.{0,40}?\bto the (?:public )?internet\b")


def _header_evidence(base: list[str], sources: list) -> str:
    """The base file's leading comment block, read as a page: its sentences tell where it runs."""
    src = next((s for s in sources if s.kind == "compose" and base and s.path == base[0] and s.ok and s.text), None)
    if src is None:
        return ""
    for no, sentence in _sentences(_header(src), ""):
        folded = fold(sentence)
        if (PROD_EVIDENCE.search(folded) or _EXPOSED.search(folded)) and not _DENIES.search(folded):
            return f"{src.path}:{no} (\"{' '.join(sentence.split())[:80]}\")"
    return ""


# A compose file's header that says it is not production: "THIS IS NOT TO BE USED FOR PERSONAL DEPLOYMENTS!",
# "used for internal testing deployments", "for local development only", "do not use this in production".
_NOT_PRODUCTION = re.compile(
    r"\bnot\b.{0,30}?\b(?:meant|intended|suitable|to be used|for use|used|recommended)\b.{0,30}?\b(?:production|prod|deployments?)\b"
    r"|\b(?:do not|don'?t|never)\s+(?:use|deploy|run)\b.{0,30}?\b(?:in|for|to)\s+(?:production|prod)\b"
    r"|\b(?:only |purely |solely )?for (?:demo|demonstration|evaluation|trial)(?: purposes)?(?: only)?\b"
    r"|\b(?:demo|demonstration|evaluation) (?:purposes )?only\b"
    r"|\b(?:only |purely |solely )?for (?:internal |local )?(?:testing|development)\b(?! and production)"
    r"|\b(?:development|testing|local) (?:use )?only\b"
    r"|\b(?:made|meant|intended|designed|written|built) (?:only |solely |purely )?for (?:local )?(?:development|testing)"
    r"(?: purposes)?\b|\bfor (?:local )?(?:development|testing) purposes\b"
    # a header that is a title: `# Development environment override`, `# Local development stack`
    r"|^(?:the )?(?:local )?(?:development|dev) (?:environment|env|override|setup|configuration|config|stack)\b"
    r"(?:[ -]\w+){0,3}[.:]?$")  # the whole sentence a title: not "Dev environment variables live in .env.dev; ..."


def _header(src) -> list[str]:
    """A compose file's leading comment block, as lines of text."""
    head: list[str] = []
    for line in src.text.splitlines():
        if not line.lstrip().startswith("#"):
            break
        head.append(line.lstrip().lstrip("#").strip())
    return head


# A framework's mode set to development in the file itself (`NODE_ENV: development`, `- RAILS_ENV=development`).
_DEV_MODE = re.compile(r"^[ \t]*(?:-[ \t]*)?[\"']?(?:NODE_ENV|RAILS_ENV|RACK_ENV|APP_ENV|FLASK_ENV|DJANGO_ENV|MIX_ENV|"
                       r"ASPNETCORE_ENVIRONMENT|DOTNET_ENVIRONMENT|SPRING_PROFILES_ACTIVE)\s*[:=]\s*[\"']?"
                       r"(?:development|dev|local)[\"']?\s*(?:#.*)?$", re.M)


def _header_denial(path: str, sources: list) -> str:
    """Where a compose file's own header says it is not for production (testing, development), or ""."""
    src = next((s for s in sources if s.kind == "compose" and s.path == path and s.ok and s.text), None)
    if src is None:
        return ""
    for no, sentence in _sentences(_header(src), ""):
        if _NOT_PRODUCTION.search(fold(sentence)):
            return f"{src.path}:{no} (\"{' '.join(sentence.split())[:80]}\")"
    return ""


def _own_denial(path: str, sources: list) -> str:
    """What a compose file says of itself against production when production is only inferred: its header, or a
    framework's mode set to development (`NODE_ENV: development`). A file named for production that sets such a mode
    stays production: the mode is its defect (CMP010), not its role."""
    denial = _header_denial(path, sources)
    src = next((s for s in sources if s.kind == "compose" and s.path == path and s.ok and s.text), None)
    mode = _DEV_MODE.search(src.text[:200_000]) if src is not None and not denial else None
    if mode:
        return f"{src.path}:{src.text.count(chr(10), 0, mode.start()) + 1} ({' '.join(mode.group(0).split())})"
    return denial


# "This Docker setup is for **development only**. Don't use it in production.": a page's word against production
# for the Docker files it runs.
_DOCKER_FOR_DEVELOPMENT = re.compile(
    r"\b(?:docker|compose)\b[^.]{0,80}?\b(?:(?:is|are) (?:only |solely |purely )?(?:meant |intended |designed )?for "
    r"(?:local )?development(?! and production)\b|for (?:local )?development (?:only|purposes)\b|development[- ]only\b"
    r"|(?:is|are) not (?:meant|intended|suitable|ready|designed|recommended) for (?:use in )?production\b"
    r"|not (?:a )?production[- ]ready\b)|\b(?:do not|don'?t|never) use (?:it|this|them|these)(?: setup| file)? "
    r"(?:in|for) production\b", re.I)


# "an open-source Docker Compose template designed to initialize a comprehensive local AI and low-code development
# environment": what the Compose setup makes is a development environment (and the sentence says nothing of production)
# "The primary purpose of this repository is to provide a workspace along with all the necessary dependencies"
_WORKSPACE = re.compile(r"\b(?:purpose|goal|aim) of this (?:repository|repo|project) is to provide a (?:\w+ ){0,2}"
                        r"(?:workspace|development environment)\b", re.I)
# "**mongo-express should only be used privately for development purposes.**": the repository's own word on its product
_ONLY_FOR_DEVELOPMENT = re.compile(r"\b(?:should|must|is meant to|is intended to) (?:only )?be used (?:only )?(?:privately |"
                                   r"locally |internally )?(?:for|in) (?:local )?(?:development|testing)(?: purposes)?\b",
                                   re.I)
_THIS_THING = re.compile(r"\bthis (?:image|setup|project|repository|repo|stack|tool|container|compose file)\b")


def _product_for_development_only(text: str) -> re.Match | None:
    """The sentence of a root README that says the product itself is for development only: its subject is "this
    image/setup/project…" or a word of the README's first title (`mongo-express should only be used privately for
    development purposes` under `# What is mongo-express?`), and it sets no production against it. "The built-in
    SQLite database should only be used for testing; use Postgres in production" speaks of a part, not the product."""
    title = next((m.group(2) for line in text.splitlines() if (m := _HEADING.match(line)) and len(m.group(1)) == 1), "")
    named = {w for w in re.split(r"[^a-z0-9-]+", fold(title)) if len(w) > 3} - {"what", "this", "with", "your"}
    for m in _ONLY_FOR_DEVELOPMENT.finditer(text):
        start = max(text.rfind(".", 0, m.start()), text.rfind("\n", 0, m.start())) + 1
        end = min((i for i in (text.find(".", m.end()), text.find("\n", m.end())) if i >= 0), default=len(text))
        subject = fold(re.sub(r"[*_`]+", "", text[start:m.start()]))
        if _PRODUCTION_WORD.search(text[start:end]):
            continue
        if _THIS_THING.search(subject) or named & set(re.split(r"[^a-z0-9-]+", subject)):
            return m
    return None


_SETS_UP_DEVELOPMENT = re.compile(r"\b(?:docker|compose)\b[^.]{0,120}?\b(?:template|setup|stack|kit|file)\b[^.]{0,40}?"
                                  r"\b(?:to|for)\b[^.]{0,100}?\bdevelopment environment\b", re.I)
_PRODUCTION_WORD = re.compile(r"\bproduction\b", re.I)


def _docs_denial(base: list[str], sources: list) -> str:
    """A README or docs page that runs the base file (Compose's default file with no `-f`, or `-f` naming it) or is
    about Docker by its name, and says in a sentence naming Docker or Compose that this setup is for development
    only (`docs/docker.md:63`): its word vetoes production by inference."""
    name = posixpath.basename(base[0])
    for src in sources:
        if src.kind not in ("readme", "docs") or not src.ok or not src.text:
            continue
        if "/" not in src.path and (m := _WORKSPACE.search(src.text[:200_000])
                                    or _product_for_development_only(src.text[:200_000])):
            # the repository's own word on what it is for speaks of every compose file in it
            no = src.text.count("\n", 0, m.start()) + 1
            return f"{src.path}:{no} (\"{' '.join(m.group(0).split())[:80]}\")"
        calls = docs_calls(src.path, src.text)
        runs_base = any((not c.files and name in DEFAULT_FILES) or any(
            posixpath.basename(f.strip()) == name for f in c.files) for c in calls)
        if not runs_base and "docker" not in posixpath.basename(src.path).lower():
            continue
        lines = src.text.splitlines()
        for no, sentence in _sentences(lines, ""):
            plain = re.sub(r"[*_`]+", "", " ".join(sentence.split()))
            if _DOCKER_FOR_DEVELOPMENT.search(plain) or \
                    _SETS_UP_DEVELOPMENT.search(plain) and not _PRODUCTION_WORD.search(plain) or (
                    re.search(r"\b(?:do not|don'?t|never) use (?:it|this)\b.{0,20}\bin production\b", plain, re.I)
                    and _NAMES_COMPOSE.search(plain)):
                return f"{src.path}:{no} (\"{plain[:80]}\")"
    return ""


def _not_production_by_header(envs: dict[str, DiscoveredEnvironment],
                              sources: list) -> dict[str, DiscoveredEnvironment]:
    """An environment its file names production (`docker-compose.deploy.yml`) whose own header says it is for
    internal testing or development is renamed `test`: the header, written for the people who run it, wins over
    the file name. An environment a deploy script or workflow runs keeps its name (that call is the fact)."""
    out: dict[str, DiscoveredEnvironment] = {}
    for key, env in envs.items():
        denial = ""
        if environment_role(env.name, env.files) == "prod" and all(o.kind in ("convention", "docs", "readme")
                                                                   for o in env.origins):
            denial = _header_denial(env.files[-1], sources)
        if denial:
            head, sep, _ = env.name.rpartition("/")
            env.name = _free(f"{head}{sep}test", {**envs, **out})
            env.evidence, env.denied = f"{denial} says so", True
        out[env.name] = env
    return out


_EXAMPLE_WORDS = frozenset({"example", "examples", "sample", "samples", "demo", "demos"})


def _runs_script(text: str, path: str) -> bool:
    """A page tells to run the repository's script `path` (`./launch.sh`, `bash scripts/up.sh`)."""
    return bool(re.search(rf"(?:\./|\b(?:ba|z)?sh\s+)(?:\./)?{re.escape(path)}(?![\w./-])", text))


# A page that fetches a compose file of the repository to run it elsewhere: `curl -LO https://github.com/acme/x/raw/
# main/docker-compose.yml`, `wget https://raw.githubusercontent.com/acme/x/main/deploy/compose.yaml`.
_URL = re.compile(r"https?://[^\s'\"<>)`]+")


def _download_evidence(base: list[str], sources: list) -> str:
    """Where a README or docs page downloads the base compose file to run it (an install step: users run the file
    on their own machine, not from a checkout), or ""."""
    if not base:
        return ""
    target = base[0]
    for src in sorted((s for s in sources if s.kind in ("readme", "docs") and s.ok and s.text),
                      key=lambda s: (s.path.count("/"), s.path)):
        for no, line in enumerate(src.text.splitlines(), 1):
            if "curl" not in line and "wget" not in line:
                continue
            for m in _URL.finditer(line):  # one pass over the line's URLs (no scan from each `curl`)
                path = m.group(0).split("?", 1)[0].split("#", 1)[0]
                if path.endswith("/" + target):
                    return f"{src.path}:{no} (downloads {target} to run it)"
    return ""


# A README that says the repository is for development (a veto on the structural evidence below).
_FOR_DEVELOPMENT = re.compile(r"\blocal (?:development|instance|environment|testing|setup|use)\b"
                              r"|\b(?:only |purely |solely )?for (?:local )?development\b|\bdevelopment (?:only|environment)\b"
                              r"|\bnot\b.{0,30}?\b(?:meant|intended|suitable|ready|recommended)\b.{0,40}?\bproduction\b"
                              r"|\bnot (?:a )?production[- ]ready\b|(?<!live )(?<!online )(?<!public )\bdemo\b(?![./-]\w)(?! (?:instance|server|site))"
                              r"|\btutorial\b|\bsamples?\b(?![./-]\w)")


def _published_by_this_repository(services: dict, sources: list) -> str | None:
    """The image (as the compose file names it) that a workflow of this repository builds and pushes, when every
    service of the file runs a pulled image or builds that very image (`build:` beside `image:` of the published
    name: the file can rebuild what it otherwise pulls), or None. `quay.io/acme/notes:1.11.0` in the root compose
    file of the repository whose release workflow pushes quay.io/acme/notes: the quick start of the product's image."""
    from pathlib import Path

    from tools import ci as ci_tool  # workflows are modelled only when a Dockerfile sits beside image-only services
    from tools.dockerfile import image_name

    pushed: set[str] = set()
    for src in sources:
        if src.kind == "ci_workflow" and src.ok:
            wf = ci_tool.load_workflow(Path(src.path), src.path, src.text, src.node)
            pushed |= {image_name(b.name).lower() for b in ci_tool.built_images(wf) if b.pushed} if wf.ok else set()
    # `ghcr.io/<github.repository>-cloud`: the repository's own name, unknown here, is the one owner/name that
    # explains the most images of the file (`khoj-ai/khoj` for ghcr.io/khoj-ai/khoj and ghcr.io/khoj-ai/khoj-computer)
    patterns = [re.compile(re.escape(name).replace(re.escape("<github.repository>"), "([a-z0-9._-]+/[a-z0-9._-]+)",
                                                   1)) for name in pushed if "<github.repository>" in name]
    names = [image_name(re.sub(r"\$\{[^}]*\}", "v", svc["image"])).lower() for svc in services.values()
             if isinstance(svc, dict) and isinstance(svc.get("image"), str)]
    votes: dict[str, set[str]] = {}
    for name in names:
        for pattern in patterns:
            m = pattern.fullmatch(name)
            if m:
                votes.setdefault(m.group(1), set()).add(name)
    ranked = sorted(votes.items(), key=lambda kv: -len(kv[1]))
    if ranked and (len(ranked) == 1 or len(ranked[0][1]) > len(ranked[1][1])):
        pushed |= ranked[0][1]
    ours = None
    for svc in services.values():
        image = svc.get("image") if isinstance(svc, dict) else None
        if not isinstance(image, str) or not image:
            return None
        name = image_name(re.sub(r"\$\{[^}]*\}", "v", image)).lower()  # `:${TAG:-latest}` is a tag
        if name in pushed:
            ours = ours or image
        elif svc.get("build"):
            return None  # a service built here under a name no workflow publishes: the file builds the product
    return ours


# A sentence that says the product ships as an image (what self-hosting users pull).
_SHIPS_AN_IMAGE = re.compile(r"\b(?:ships|comes|is (?:available|distributed|published)) as an? (?:docker |container |oci )?"
                             r"image\b|\bdocker images? (?:is|are) (?:available|published)\b", re.I)
# A README heading that runs a demo or a tutorial (`## Running the demo server`, `## Try the demo`).
_RUN_A_DEMO = re.compile(r"^#+\s.*\b(?:run|running|start|starting|try|trying|launch|launching)\b.*"
                         r"(?<!live )(?<!online )(?<!hosted )\b(?:demo|tutorial)\b", re.I)  # not the vendor's live demo


def _deployment_repository(base: list[str], sources: list) -> str:
    """A repository that holds no Dockerfile and whose base compose file only pulls published images is a
    deployment of those images (`zammad-docker-compose`, an image's helper repository): its compose file is what
    runs in production, unless its README says it is for development, a demo or a tutorial. So is the compose file
    of an image's own repository that runs the image its workflows publish (the image's quick start)."""
    if not base:
        return ""
    src = next((s for s in sources if s.kind == "compose" and s.path == base[0] and s.ok and isinstance(s.data, dict)),
               None)
    services = src.data.get("services") if src else None
    if not isinstance(services, dict) or not services:
        return ""
    published = None
    if any(s.kind == "dockerfile" for s in sources):
        published = _published_by_this_repository(services, sources)
        if published is None:
            return ""
    elif not all(isinstance(v, dict) and v.get("image") and not v.get("build") for v in services.values()):
        return ""
    readme = _root_readme(sources)
    if readme is None:
        return ""
    sentences = [sentence for _, sentence in _sentences(readme.text.splitlines(), "")[:60]]
    if any(_RUN_A_DEMO.search(line) for line in readme.text.splitlines() if line.startswith("#")):
        return ""  # `## Running the demo server`: what the README runs is a demo
    if any(_FOR_DEVELOPMENT.search(fold(sentence)) for sentence in sentences) or \
            not published and not any(_NAMES_COMPOSE.search(sentence) for sentence in sentences):
        return ""  # said to be for development (or a demo), or the README never speaks of Docker at all (the
        # product's own published image pulled, not built, speaks for itself: a README may leave Docker to its site)
    if any(s.kind == "script" and s.ok and s.text and runs_docker(s.text) and runs_tests(s.text)
           and _brings_up(s, base[0]) for s in sources):
        return ""  # a test script brings the set up: it serves the tests, not a deployment
    if published:
        return (f"{src.path} runs {published}, the image this repository's workflows publish: its quick start "
                f"({readme.path} does not speak of development)")
    return (f"{src.path} pulls published images only and the repository holds no Dockerfile: a deployment of those "
            f"images ({readme.path} speaks of Docker, not of development)")


def is_makefile(path: str) -> bool:
    """A Makefile (`Makefile`, `GNUmakefile`, an included `*.mk`), read for its targets, not as a shell script."""
    base = posixpath.basename(path)
    return base in ("Makefile", "makefile", "GNUmakefile") or base.endswith(".mk")


def compose_calls_of_script(path: str, text: str) -> list[Call]:
    """The Compose calls of a script source: a Makefile's by target, a shell script's by line."""
    return makefile_calls(path, text) if is_makefile(path) else script_calls(path, text)


def _brings_up(script, path: str) -> bool:
    """A script or Makefile runs Compose on this file: named with `-f`, or Compose's default file of the folder it
    runs from (a call without `-f`); a script that runs only other files (`-f docker-compose-ci.yml`) does not."""
    calls = compose_calls_of_script(script.path, script.text)
    if not calls:
        return True  # docker run or build only: nothing tells which set it serves
    name = posixpath.basename(path)
    return any(not call.files and name in DEFAULT_FILES
               or any(posixpath.basename(f.strip()) == name for f in call.files) for call in calls)


# A repository that says it is hosting or deployment configurations ("Official hosting configurations for n8n",
# "# Acme Hosting"): each variant it holds is a way to run the product in production.
_HOSTING_REPO = re.compile(r"\b(?:hosting|deployment|self-?hosting|production) (?:configurations?|configs|setups?|"
                           r"recipes|stacks|templates)\b|^# .*\b(?:hosting|deployments?)\s*$"
                           # "Configuration to run Ghost and its services with Docker Compose"
                           r"|^configurations? (?:files? )?(?:to|for) (?:run|running|deploy|deploying|host|hosting)\b"
                           r".{0,80}\b(?:docker|compose)\b", re.I | re.M)


def _production_by_download(envs: dict[str, DiscoveredEnvironment], sources: list) -> dict[str, DiscoveredEnvironment]:
    """When nothing is production yet: each set of one file that a README or docs page downloads to run it
    (`wget -O docker-compose.yml https://raw.githubusercontent.com/…/docker-compose-mysql.yml`) is production (`prod-
    <its name>`), with that line as evidence, unless its own words say development, tests or an example, or its
    header denies production."""
    if any(environment_role(e.name, e.files) == "prod" for e in envs.values()):
        return envs
    renamed: dict[str, DiscoveredEnvironment] = {}
    for key, env in envs.items():
        if len(env.files) == 1 and not _role_words(env.files) and not env.denied \
                and not _TEST_FOLDERS & set(posixpath.dirname(env.files[0]).split("/")):
            evidence = _download_evidence(env.files, sources)
            if evidence and not _own_denial(env.files[0], sources):
                env.name = _free(f"prod-{_slug(_stem_word(env.files[0]) or key)}", renamed)
                env.evidence = f"{evidence}: users run it on their server"
        renamed[env.name] = env
    return renamed


def _hosting_repository(envs: dict[str, DiscoveredEnvironment], sources: list) -> dict[str, DiscoveredEnvironment]:
    """When nothing is production yet and the root README's title or opening says the repository is hosting
    configurations, every set found by convention or the docs whose files no word calls dev, test or an example is
    production (`prod-<its folder>`), with that line as evidence."""
    if any(environment_role(e.name, e.files) == "prod" for e in envs.values()):
        return envs
    readme = _root_readme(sources)
    if readme is None:
        return envs
    lines = readme.text.splitlines()
    title = next((l for l in lines if l.startswith("# ")), "")
    opening = [(no, l) for no, l in enumerate(lines[:12], 1) if l.strip()]
    hit = next(((no, l) for no, l in opening if _HOSTING_REPO.search(l) and not _DENIES.search(fold(l))
                and not _FOR_DEVELOPMENT.search(fold(l))), None)
    if hit is None or _FOR_DEVELOPERS.search(fold(title)):
        return envs
    evidence = f"{readme.path}:{hit[0]} (\"{' '.join(hit[1].split())[:80]}\")"
    renamed: dict[str, DiscoveredEnvironment] = {}
    for key, env in envs.items():
        if all(o.kind in ("convention", "docs", "readme") for o in env.origins) and not _role_words(env.files) \
                and not _TEST_FOLDERS & {p for f in env.files for p in posixpath.dirname(f).split("/")}:
            folder = posixpath.dirname(env.files[-1])
            env.name = _free(f"prod-{_slug(posixpath.basename(folder))}" if folder else "prod", renamed)
            env.evidence = f"{evidence}: a hosting repository, each of its sets runs on a server"
        renamed[env.name] = env
    return renamed


# What installs or deploys a product for its users: a script so named (`deploy/install.sh`, `scripts/upgrade.sh`), a
# folder so named (`docs/install/docker/plain/`, `deploy/docker/`, `self-hosting/`).
# (a file's name is no word: `sample.env`, `demo-data/`)
_DEMO_REPO = re.compile(r"\bdemo\b(?![./-]\w)|\bdemonstrat\w+|\btutorial\b|\bsamples?\b(?![./-]\w)"
                        r"|\bexample (?:app|application|project)\b")
_INSTALL_FOLDERS = {"install", "installation", "deploy", "deployment", "deployments", "self-hosting", "selfhost",
                    "self-host", "selfhosting", "hosting", "production"}


def _root_readme(sources: list):
    """The repository's own README (at the root), as the session loaded it, or None."""
    return next((s for s in sources if s.kind == "readme" and s.ok and s.text and "/" not in s.path
                 and posixpath.basename(s.path).lower().startswith("readme")), None)


def _demo_repository(sources: list) -> bool:
    """The root README's title or opening says the repository is a demo, a tutorial or a sample."""
    readme = _root_readme(sources)
    if readme is None:
        return False
    lines = readme.text.splitlines()
    title = next((line for line in lines if line.startswith("# ")), "")
    return bool(_DEMO_REPO.search(fold(title))) or any(
        _FOR_DEVELOPMENT.search(fold(sentence)) or _DEMO_REPO.search(fold(sentence))
        for _, sentence in _sentences(lines, "")[:60])


# What a folder's own README says of the files beside it when they are snippets to combine, examples or a demo.
_SNIPPETS = re.compile(r"\b(?:(?:compose|docker-compose)`?\s+snippets|example\s+combinations|example\s+setups?|"
                       r"for\s+demo(?:nstration)?\s+purposes|a\s+demo\s+environment|playground)\b", re.I)


def _folder_readme_says_local(compose: str, sources: list) -> bool:
    """The README of a compose file's folder (or of a folder above it, the root's aside) calls its files snippets,
    example setups or a demo: a deployment folder's name is then no evidence of production."""
    folder = posixpath.dirname(compose)
    above = {"/".join(folder.split("/")[:i]) for i in range(1, folder.count("/") + 2)} if folder else set()
    for src in sources:
        if src.kind not in ("readme", "docs", "folder_readme") or not src.ok or not src.text \
                or posixpath.dirname(src.path) not in above:
            continue
        if _SNIPPETS.search(src.text[:200_000]):
            return True
    return False


def _production_by_install(envs: dict[str, DiscoveredEnvironment], sources: list) -> dict[str, DiscoveredEnvironment]:
    """When nothing is production yet: the sets an install or deploy script runs (`deploy/install.sh` brings
    `deploy/docker/compose.yaml` up on the user's server), else the sets found in an install or deployment folder
    (`docs/install/docker/<variant>/`), are production, each saying where. A set whose own words or folders say
    development, tests or an example stays what it is; a header that says so vetoes it."""
    if any(environment_role(e.name, e.files) == "prod" for e in envs.values()):
        return envs

    def plain(env: DiscoveredEnvironment) -> bool:
        folders = {p.lower() for f in env.files for p in posixpath.dirname(f).split("/")}
        return environment_role(env.name, env.files) not in ("test", "staging") and not _role_words(env.files) \
            and not _TEST_FOLDERS & folders and not _own_denial(env.files[-1], sources) \
            and not _docs_denial(env.files[:1], sources) \
            and _stem_word(env.files[-1]) not in ("build", "builder", "builds")  # a recipe to build the images

    chosen: dict[str, str] = {}
    for key, env in envs.items():
        script = next((o for o in env.origins if o.kind == "script" and o.path
                       and INSTALL_SCRIPT.match(posixpath.basename(o.path))), None)
        if script is not None and plain(env):
            chosen[key] = f"{script.path}:{script.line} installs it on the user's server"
    if not chosen and not _demo_repository(sources):  # a demo's or a tutorial's deploy folder deploys the demo
        for key, env in envs.items():
            folders = [p for p in posixpath.dirname(env.files[0]).split("/") if p.lower() in _INSTALL_FOLDERS]
            if folders and plain(env) and all(o.kind in ("convention", "docs", "readme") for o in env.origins) \
                    and not _folder_readme_says_local(env.files[0], sources):
                chosen[key] = f"its folder {posixpath.dirname(env.files[0])}/ is an install or deployment folder"
    if not chosen:
        named_paths = _named_for_production(sources)  # read once, not once per environment
        for key, env in envs.items():
            named = next((why for path, why in named_paths
                          if all(f == path or f.startswith(path + "/") for f in env.files)), None)
            if named and plain(env) and all(o.kind in ("convention", "docs", "readme") for o in env.origins):
                chosen[key] = named
    if not chosen:
        return envs
    generic = _INSTALL_FOLDERS | {"docker", "compose", "docker-compose", "dev", "override", "main", ""}
    renamed: dict[str, DiscoveredEnvironment] = {}
    for key, env in envs.items():
        if key in chosen:
            candidates = [posixpath.basename(posixpath.dirname(env.files[-1])), _stem_word(env.files[-1]),
                          key.rsplit("/", 1)[-1]]
            variant = next((c for c in candidates if c.lower() not in generic), "")
            name = "prod" if len(chosen) == 1 or not variant else f"prod-{_slug(variant)}"  # the main set: prod
            env.name = _free(name, {**envs, **renamed})
            env.evidence = chosen[key]
        renamed[env.name] = env
    return renamed


# A path a sentence names: a Markdown link's target, a backquoted folder or compose file.
_NAMED_PATH = re.compile(r"(\[[^\]\n]*\])\((?:\./)?([^)\s#:]+)\)|(`(?:\./)?([\w.-]+(?:/[\w.-]+)*/?)`)")


def _named_for_production(sources: list) -> list[tuple[str, str]]:
    """(repo path, evidence) for each folder or compose file a README or docs page names in a sentence telling to
    run it in production ("use the docker-compose files under [docker-compose/](./docker-compose/) to spin up Acme
    for production"); not in a denial, not on a page about development."""
    out: list[tuple[str, str]] = []
    for src in sorted((s for s in sources if s.kind in ("readme", "docs") and s.ok and s.text),
                      key=lambda s: (s.path.count("/"), s.path)):
        lines = src.text.splitlines()
        title = next((l for l in lines if l.startswith("# ")), "")
        if _FOR_DEVELOPERS.search(fold(title)):
            continue
        here = posixpath.dirname(src.path)
        for no, sentence in _sentences(lines, title):
            if not PROD_EVIDENCE.search(fold(sentence)) or _DENIES.search(fold(sentence)) \
                    or _FOR_DEVELOPMENT.search(fold(sentence)):
                continue
            paragraph = "\n".join(itertools.takewhile(str.strip, lines[no - 1:no + 30]))
            for m in _NAMED_PATH.finditer(paragraph):
                if (m.group(1) or m.group(3)) not in sentence:
                    continue  # a path of another sentence of the paragraph
                path = posixpath.normpath(posixpath.join(here, (m.group(2) or m.group(4)).rstrip("/")))
                if not path.startswith("..") and path != ".":
                    line = no + paragraph.count("\n", 0, m.start())
                    out.append((path, f"{src.path}:{line} (\"{' '.join(sentence.split())[:80]}\")"))
    return out


def _production_by_evidence(envs: dict[str, DiscoveredEnvironment], sources: list) -> dict[str, DiscoveredEnvironment]:
    """A self-hosted product's main compose set is its production. When no environment is named for production,
    the main base is Compose's default file at the root (without its `.override`, the local convention), else
    the only set outside test folders; the sets standing on it by conventions or the docs alone become prod when
    a README or notes tell users to run it on a server (self-hosting, or running it in production; not in a
    heading, not in a denial) on a page that runs Compose or is titled so. Each says where."""
    if any(is_production_name(n) for n in envs):
        return envs
    present = {f for e in envs.values() for f in e.files}
    default = _default_set("", present)
    pages = [s for s in sources if s.kind in ("readme", "docs") and s.ok and s.text]
    launchers = [s.path for s in sources if s.kind == "script" and s.ok and s.text
                 and not is_makefile(s.path)
                 and script_calls(s.path, s.text)]
    # a script a page tells users to run to start it (`./launch.sh`) stands for the docs' own call
    launched = {path for path in launchers if any(_runs_script(page.text, path) for page in pages)}
    base = [f for f in default if not is_override_name(f)][:1]
    if not base:
        # a file whose own name or folder says development, tests or an example is never the product's main set
        outside = [e for e in envs.values() if environment_role(e.name, e.files) != "test"
                   and not _TEST_FOLDERS & set(posixpath.dirname(e.files[0]).split("/"))
                   and _role_words(e.files[:1]) not in ("dev", "test")]
        # `docker-compose/docker-compose.yaml` beneath its overlays (`docker-compose/jaeger/…`): the shallowest
        # single file, when it is alone at its depth
        top = min((e.files[0].count("/") for e in outside), default=0)
        shallow = {e.files[0] for e in outside if e.files[0].count("/") == top}
        named = {f for f in shallow if posixpath.basename(f) in DEFAULT_FILES}
        shallow = named if len(shallow) > 1 and len(named) == 1 else shallow  # the one named as Compose's default
        base = list(outside[0].files) if len(outside) == 1 else \
            [shallow.pop()] if len(shallow) == 1 and any(e.files == [next(iter(shallow))] for e in outside) else []
    standing = [e for e in envs.values() if base and e.files[: len(base)] == base
                and environment_role(e.name, e.files) not in ("test", "staging")
                and (e.files in (base, default) or environment_role("", e.files[len(base):]) == "prod"
                     or not _role_words(e.files[len(base):]))
                and all(o.kind in ("convention", "docs", "readme") or o.kind == "script" and o.path in launched
                        or o.kind == "workflow" and e.files == base  # CI brings the main set up to test it
                        for o in e.origins)]
    for env in list(standing):  # an overlay that says it is for development (`# Development environment override`)
        said = next((d for f in env.files[len(base):] if (d := _header_denial(f, sources))), "")
        if said:
            env.evidence, env.denied = f"{said} says so", True
            standing.remove(env)
    if not standing:
        return envs
    denial = _own_denial(base[0], sources) or _docs_denial(base, sources)
    if denial:  # the base file's own header, or the page that runs it, says it is for development: no page overrules it
        for env in standing:
            env.evidence, env.denied = f"{denial} says so", True
        return envs
    evidence = _download_evidence(base, sources)
    # "Acme ships as a Docker image and can be self-hosted": users run the published image, not a base file that
    # builds the app from source (the CI's or the developers' stack)
    base_src = next((s for s in sources if s.kind == "compose" and s.path == base[0] and s.ok), None)
    services = base_src.data.get("services") if base_src and isinstance(base_src.data, dict) else None
    builds_from_source = isinstance(services, dict) and any(
        isinstance(v, dict) and v.get("build") and not v.get("image") for v in services.values())
    # Compose's default file at the root beside files named for development or tests: the root README's word on
    # self-hosting speaks of that main set even when the README leaves the commands to an external guide
    beside_dev = base == [f for f in default if not is_override_name(f)][:1] and "/" not in (base or ["/"])[0] and \
        any(environment_role(e.name, e.files) in ("dev", "test") and e.files[:1] != base and "/" not in e.files[0]
            and _role_words(e.files) for e in envs.values())
    for src in [] if evidence else sorted((s for s in sources if s.kind in ("readme", "docs") and s.ok and s.text),
                      key=lambda s: (s.path.count("/"), bool(_TRANSLATED.match(posixpath.basename(s.path))), s.path)):
        folder = posixpath.dirname(src.path)
        if src.kind == "readme" and folder and base and not base[0].startswith(folder + "/") \
                and _EXAMPLE_WORDS & set(re.split(r"[^a-z0-9]+", fold(folder))):
            continue  # `.examples/README.md` speaks of the examples beside it, not of the root's stack.yml
        lines = src.text.splitlines()
        title = next((l for l in lines if l.startswith("# ")), "")
        if _FOR_DEVELOPERS.search(fold(title)):
            continue  # a page about the development environment or contributing says nothing of production
        # a page that neither runs Compose (itself or by a script of the repo) nor is titled for it speaks of
        # these files only in a sentence that names Docker or Compose ("the official Docker deployment")
        calls = docs_calls(src.path, src.text)
        if calls and base and all(c.files and not any(posixpath.normpath(f.lstrip("./")) == base[0]
                                                       or posixpath.basename(f) == posixpath.basename(base[0])
                                                       for f in c.files) for c in calls):
            continue  # the page runs Compose on other files only (`-f production/compose.yml`): it speaks of those
        about_these = bool(calls or PROD_EVIDENCE.search(fold(title))
                           or any(_runs_script(src.text, path) for path in launched)
                           or src.path == "README.md" and beside_dev)
        sentences = _sentences(lines, title)
        if builds_from_source and any(_SHIPS_AN_IMAGE.search(sentence) for _, sentence in sentences):
            continue  # the page self-hosts the published image: it says nothing of a file that builds the app
        for no, sentence in sentences:
            if _LINK_ENTRY.match(sentence) or _LOCAL_ONLY.search(sentence) or _POINTER.match(sentence) and \
                    not PROD_EVIDENCE.search(fold(re.sub(r"\[[^\]\n]*\]", "", sentence))):
                continue  # `- [Flame] - self-hosted startpage for your server`: a list of other projects; "View
                # the full [Self-Hosting Instructions]": only the link's text speaks of production, another page's
            if PROD_EVIDENCE.search(fold(sentence)) and not _DENIES.search(fold(sentence)) \
                    and (about_these or _NAMES_COMPOSE.search(sentence)):
                evidence = f"{src.path}:{no} (\"{' '.join(sentence.split())[:80]}\")"
                break
        if evidence:
            break
    if not evidence:
        evidence = _production_section(base, sources)
    if not evidence:
        evidence = _header_evidence(base, sources)
    if not evidence:
        evidence = _deployment_repository(base, sources)
    if not evidence:
        return envs
    renamed: dict[str, DiscoveredEnvironment] = {}
    for key, env in envs.items():
        if env in standing:
            alone = env.files == base or len(standing) == 1
            extra = _stem_word(env.files[-1]) if env.files[-1] != base[-1] else key
            if extra in ("dev", "override"):  # `jaeger/docker-compose.yaml`: its folder names it
                extra = _slug(posixpath.basename(posixpath.dirname(env.files[-1])) or key)
            env.name = "prod" if alone and "prod" not in renamed else _free(f"prod-{extra}", renamed)
            env.evidence = f"{evidence} runs it on a server" + ("" if alone else f", with {env.files[-1]}")
        renamed[env.name] = env
    return renamed


_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
_PRODUCTION_HEADING = re.compile(r"\bproduction\b|\bprod mode\b|\bself[- ]?host", re.I)
# A README's install section: what users do to run the product (`## Installing`, `## Installation with Docker`).
_INSTALL_HEADING = re.compile(r"^(?:installing|installation|install|deploying|deployment)\b", re.I)
_BARE_UP = re.compile(r"\bdocker[- ]compose\s+up\b(?![^`\n]*\s-f\s)")


_TEMPLATE_TITLE = re.compile(r"\b(?:boilerplate|starter(?: kit)?|skeleton|scaffold(?:ing)?|project template|template "
                             r"(?:for|to)|cookiecutter)\b", re.I)


def _project_template(sources: list) -> bool:
    """The root README's title says the repository is a project template (`# NestJS REST API boilerplate`, `A starter
    kit for …`): what users install is the project they generate, developed locally from its files."""
    readme = next((s for s in sources if s.kind == "readme" and "/" not in s.path and s.ok and s.text), None)
    if readme is None:
        return False
    lines = [l for l in readme.text[:20_000].splitlines() if l.strip()]
    title = next((l for l in lines if _HEADING.match(l)), lines[0] if lines else "")
    return bool(_TEMPLATE_TITLE.search(re.sub(r"<[^>]*>", " ", title)))


def _production_section(base: list[str], sources: list) -> str:
    """A docs section headed for production (`#### Production mode`, `## Self-hosting`) whose text runs the main
    set: `docker compose -f <base> … up`, or a bare `docker compose up` (no -f: the default file). Where, or ""."""
    if not base:
        return ""
    template = _project_template(sources)  # a boilerplate's install is the developer's: only a production heading counts
    for src in sorted((s for s in sources if s.kind in ("readme", "docs") and s.ok and s.text),
                      key=lambda s: (s.path.count("/"), s.path)):
        lines = src.text.splitlines()
        for no, line in enumerate(lines, 1):
            m = _HEADING.match(line)
            install = bool(m) and not template and bool(_INSTALL_HEADING.match(m.group(2).strip())) and \
                not _FOR_DEVELOPERS.search(fold(m.group(2))) and "develop" not in m.group(2).lower()
            if not m or not (install or _PRODUCTION_HEADING.search(m.group(2))) or _DENIES.search(fold(m.group(2))):
                continue
            level = len(m.group(1))
            body = []
            for later in lines[no:no + 60]:
                h = _HEADING.match(later)
                if h and len(h.group(1)) <= level:
                    break
                body.append(later)
            text = "\n".join(body)
            bare = "/" not in base[0] and _BARE_UP.search(text)
            # an install section that points users at the file itself (`[docker-compose.yml](…/blob/master/…)`)
            named = install and "/" not in base[0] and re.search(rf"(?<![\w./-]){re.escape(base[0])}(?![\w-])", text)
            if bare or named or re.search(rf"\bdocker[- ]compose\b[^\n`]*\s-f\s+(?:\./)?{re.escape(base[0])}\b[^\n`]*\sup\b", text):
                return f"{src.path}:{no} (section \"{m.group(2)[:60]}\")"
    return ""


# A sentence about running it on the reader's own machine ("If you are installing it locally, …").
_LOCAL_ONLY = re.compile(r"\blocally\b|\bon your (?:local |own )?(?:machine|laptop|computer|workstation)\b|"
                         r"\blocal (?:machine|environment|development|setup)\b", re.I)
# A sentence that only sends the reader to another page ("View the full [Self-Hosting Instructions] for more").
_POINTER = re.compile(r"^\W{0,4}(?:view|see|read|visit|check out|refer to|follow|head over to|go to)\b[^.\n]{0,40}\[",
                      re.I)
# An entry of a list of links (`- [Flame](…) - self-hosted startpage`): it describes the project it links to.
_LINK_ENTRY = re.compile(r"^\W{0,4}\[[^\]\n]{1,80}\](?:\([^)\n]{0,300}\))?\s*(?:[-–—:|]|$)")


_ROLE_WORDS = (("test", _TEST_WORDS | {"ci", "testdata", "fixtures", "spec", "testsuite", "testsuites", "testenv",
                                        "testbed", "testcases",  # `tools/TestSuite/`: one word once folded
                                        "loadtest", "loadtests", "loadtesting", "benchmark", "benchmarks", "perf",
                                        "stresstest"}),  # a load test's stack measures the app, ships nothing
               ("staging", {"staging", "stage", "preprod", "qa", "uat"}),
               ("dev", {"dev", "devenv", "development", "local", "devcontainer", "example", "examples", "demo",
                        "sample", "samples", "override", "debug", "localstack",  # LocalStack: AWS emulated locally
                        "skeleton", "boilerplate", "boilerplates", "scaffold"}))  # a file to copy and fill in


def _role_words(files: list[str]) -> str | None:
    """The role the words of these files' folders and names say (test, staging, dev), if any."""
    words: set[str] = set()
    for f in files:
        words |= set(re.split(r"[^a-z0-9]+", fold(f.rsplit(".", 1)[0])))
    return next((role for role, vocabulary in _ROLE_WORDS if words & vocabulary), None)


def path_role(path: str) -> str | None:
    """The role a file's own folders and name say (`examples/canary/…` dev, `tests/…` test), or None."""
    return _role_words([path])


def environment_role(name: str, files: list[str]) -> str:
    """What an environment is for: `prod`, `staging`, `test` or `dev` — from its name, then the words of its
    files' folders and names (`result/docker-compose.test.yml` is a test file, `.devcontainer/` a dev one).
    The one place checks ask whether a file ships to production."""
    last = name.rsplit("/", 1)[-1]
    if is_production_name(last) and _role_words([last]) not in ("test", "dev"):
        return "prod"  # `prod-loadtest`, `prod-local`: production's files run for a test or on a laptop are not
    return _role_words([name, *files]) or ("prod" if is_production_name(name) else "dev")


def is_overlay(data: object) -> bool:
    """A compose file that patches services it does not define (no image, build or extends) and includes no
    file that could: Compose refuses it alone, so it is only ever used after a base file (`-f base -f overlay`)."""
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict) or not services or isinstance(data, dict) and data.get("include"):
        return False  # a file that `include:`s others brings the services it patches in itself
    return any(not isinstance(svc, dict) or not ({"image", "build", "extends"} & set(svc)) for svc in services.values())


def _borrowed(data: dict) -> set[str]:
    """What a file's services use that the file does not define (a network, a named volume, a service they
    depend on): only a base file loaded before it can define them."""
    services = data.get("services") or {}
    if not isinstance(services, dict):
        return set()  # not a compose model (Compose refuses it: CMP001 says so)
    networks = set(data.get("networks") or {}) | {"default"} if isinstance(data.get("networks") or {}, dict) else {"default"}
    volumes = set(data.get("volumes") or {}) if isinstance(data.get("volumes") or {}, dict) else set()
    out: set[str] = set()
    for svc in services.values():
        if not isinstance(svc, dict):
            continue
        nets = svc.get("networks")
        for net in (nets if isinstance(nets, (list, dict)) else []):
            if isinstance(net, str) and net not in networks:
                out.add(f"network {net}")
        deps = svc.get("depends_on")
        for dep in (deps if isinstance(deps, (list, dict)) else []):
            if isinstance(dep, str) and dep not in services:
                out.add(f"service {dep}")
        for vol in svc.get("volumes") or []:
            source = vol.split(":", 1)[0] if isinstance(vol, str) else (vol.get("source") if isinstance(vol, dict) else None)
            if isinstance(source, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", source) and source not in volumes \
                    and ":" in (vol if isinstance(vol, str) else ":"):
                out.add(f"volume {source}")
    return out


def is_override_name(path: str) -> bool:
    """`docker-compose.override.yml`: Compose applies it on top of the base file of its folder, so a copy kept
    elsewhere (an optional override to drop in) is an overlay of the base above it, whatever it holds."""
    return bool(re.match(r"^(?:docker-)?compose\.override\.ya?ml$", posixpath.basename(path)))


def _base_of(path: str, data: dict, present: set[str], above: bool = False) -> list[str] | None:
    """The default file set (of the overlay's folder, else the nearest folder above; only above with `above`)
    that defines the services the overlay patches (all, or more than two thirds: a base the overlay fell behind);
    None when no such base can be told."""
    services = (data.get(path) or {}).get("services") or {}
    patched = {name for name, svc in services.items()
               if not isinstance(svc, dict) or not ({"image", "build", "extends"} & set(svc))}
    borrowed = _borrowed(data.get(path) or {})
    folder = posixpath.dirname(path)
    if above:
        if not folder:
            return None
        folder = posixpath.dirname(folder)
    while True:
        base = [f for f in _default_set(folder, present) if f != path and not is_override_name(f)]
        if base:
            defined: set[str] = set()
            given: set[str] = set()
            for f in base:
                fdata = data.get(f) or {}
                defined |= set(fdata.get("services") or {})
                given |= {f"service {n}" for n in fdata.get("services") or {}}
                given |= {f"network {n}" for n in fdata.get("networks") or {}}
                given |= {f"volume {n}" for n in fdata.get("volumes") or {}}
            # most of what it patches, the rest defined by no file at all: the base it was written for, gone stale
            # (Compose then says what is missing); a service another overlay defines means a chain, not staleness
            missing = patched - defined
            fits = not missing or (len(patched & defined) > 2 * len(missing) and not missing & _added_by_overlays(data))
            return base if fits and borrowed <= given else None
        if not folder:
            return None
        folder = posixpath.dirname(folder)


def _added_by_overlays(data: dict) -> set[str]:
    """The services some overlay of the repository defines (with an image, a build or an extends): what another
    `-f` of a chain brings."""
    return {name for d in data.values() if isinstance(d, dict) and is_overlay(d)
            for name, svc in ((d.get("services") or {}).items() if isinstance(d.get("services"), dict) else [])
            if isinstance(svc, dict) and {"image", "build", "extends"} & set(svc)}


def _stem_word(path: str) -> str:
    """`docker-compose.nginx.yml` -> nginx, `overrides/compose.mariadb.yaml` -> mariadb, `jigasi.yml` -> jigasi."""
    name = posixpath.basename(path).rsplit(".", 1)[0]
    name = re.sub(r"^(?:docker-)?compose[.-]?", "", name)
    return _slug(name) if name else "dev"


_BRINGS_UP = re.compile(r"\b(?:docker[ -]compose)\b(?:\s+--?[\w-]+(?:[ =]\S+)?)*\s+(?:up|pull|run|start|create|restart)(?=\s|$)")


def _run_folder(call: Call) -> str:
    """Where a workflow's steps run: its own repo's checkout (a submodule's, for its workflows)."""
    head, sep, _ = (call.origin.path or "").partition(".github/")
    return head.rstrip("/") if call.origin.kind == "workflow" and sep else ""


def _path_candidates(call: Call, paths: tuple[str, ...]) -> list[tuple[str, ...]]:
    """For each path a call names (an env file), where it may be, repo-relative, in the order the files are
    tried (from where the call runs, else from the caller's own folder): the first that exists is it."""
    path = call.origin.path or ""
    bases = [_run_folder(call)] if call.origin.kind == "workflow" else ["", posixpath.dirname(path)]
    out = []
    for p in paths:
        found = tuple(dict.fromkeys(c for c in (posixpath.normpath(posixpath.join(b, p.strip())) for b in bases)
                                    if not c.startswith("..") and not c.startswith("/")))
        if found:
            out.append(found)
    return out


def _resolve_files(call: Call, present: set[str]) -> tuple[str, ...]:
    """Repo-relative files: a workflow's from its repo's checkout; Makefiles, scripts and notes from
    the root, else from their own folder."""
    out = []
    path = call.origin.path or ""
    bases = [_run_folder(call)] if call.origin.kind == "workflow" else ["", posixpath.dirname(path)]
    if call.cwd:
        bases = [posixpath.normpath(posixpath.join(b, call.cwd)) for b in bases]
    if call.origin.kind in ("docs", "readme") and call.files and \
            not any(all(posixpath.normpath(posixpath.join(b, f.strip())) in present for f in call.files) for b in bases):
        bases += _folder_holding(call.files, present)
    for f in call.files:
        candidates = [posixpath.normpath(posixpath.join(b, f.strip())) for b in bases]
        out.append(next((c for c in candidates if c in present), candidates[0]))
    return tuple(out)


def _folder_holding(files: tuple[str, ...], present: set[str]) -> list[str]:
    """The one folder of the repository holding every file a page's call names (`-f webapp/docker-compose.yml -f
    worker/docker-compose.yml`, written to be run from `hosting/docker/`), or nothing when none or several do."""
    folders: set[str] | None = None
    for f in files:
        f = posixpath.normpath(f.strip())
        if f.startswith(("..", "/")):
            return []
        here = {p[: -len(f) - 1] for p in present if p.endswith("/" + f)}
        folders = here if folders is None else folders & here
        if not folders:
            return []
    return sorted(folders) if folders and len(folders) == 1 else []


def _group_name(files: tuple[str, ...], group: list[Call], present: set[str]) -> str:
    aliases = [a for a in (_alias(c.context) for c in group) if a]
    aliases.sort(key=lambda a: a == "test")  # files also run as dev or prod are named so, not by a test target
    suffix = _suffix_env(files)
    if suffix == "prod" and all(c.on_ci_runner for c in group):
        # `-f docker-compose.yml -f docker-compose.release.yml` brought up only on GitHub's runners to test
        return "test" if "test" in aliases else "ci"
    if suffix:
        return suffix
    if aliases:
        return aliases[0]
    folder = posixpath.basename(posixpath.dirname(files[0]))
    if folder and _alias(folder) == "prod":
        return "prod"  # `production/compose.yml`, called by a page: the folder names it, as for conventions
    if list(files) == _default_set(posixpath.dirname(files[0]), present):
        return "dev"
    context = next((c.context for c in group if c.context), None)
    return _slug(context) if context else "dev"


def _free(name: str, envs: dict) -> str:
    if name not in envs:
        return name
    n = 2
    while f"{name}-{n}" in envs:
        n += 1
    return f"{name}-{n}"


def _included(compose: list) -> set[str]:
    """Files another compose source pulls in (`include:`, `extends.file`): checked through it."""
    out: set[str] = set()
    for src in compose:
        data = src.data if src.ok and isinstance(src.data, dict) else {}
        folder = posixpath.dirname(src.path)
        items = data.get("include") if isinstance(data.get("include"), list) else []
        for item in items:
            paths = item if isinstance(item, str) else (item.get("path") if isinstance(item, dict) else None)
            for p in ([paths] if isinstance(paths, str) else paths if isinstance(paths, list) else []):
                if isinstance(p, str):
                    out.add(posixpath.normpath(posixpath.join(folder, p)))
        services = data.get("services") if isinstance(data.get("services"), dict) else {}
        for svc in services.values():
            ext = svc.get("extends") if isinstance(svc, dict) else None
            if isinstance(ext, dict) and isinstance(ext.get("file"), str):
                out.add(posixpath.normpath(posixpath.join(folder, ext["file"])))
    return out
