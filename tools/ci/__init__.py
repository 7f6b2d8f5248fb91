"""A read-only model of GitHub Actions workflows: triggers, jobs, steps, images built, deploys, secrets, branches."""
from __future__ import annotations

import json
import logging
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from agent.core import yaml_safe
from tools.findings import Location

log = logging.getLogger(__name__)

ACTIONLINT_SKIPPED = "actionlint not on PATH: skipped"
FILTER_KEYS = ("branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore", "types")
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
EXPR_RE = re.compile(r"\$\{\{(.*?)\}\}", re.S)
SECRET_RE = re.compile(r"\b(secrets|vars)\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_-]*)|\[\s*'([^']+)'\s*\])")
GITHUB_TOKEN_RE = re.compile(r"\bgithub\.token\b")
ENV_NAMES = ("production", "prod", "preprod", "staging", "stage", "preview", "qa", "uat", "test", "dev", "development")
TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
HEX_CHARS = frozenset("0123456789abcdef")
DIGITS = frozenset("0123456789")


# ---------------------------------------------------------------- model

@dataclass
class ParseError:
    message: str
    line: int | None = None
    column: int | None = None


@dataclass
class Trigger:
    event: str
    branches: list[str] = field(default_factory=list)
    branches_ignore: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    tags_ignore: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    paths_ignore: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    crons: list[str] = field(default_factory=list)
    line: int | None = None

    def matches_branch(self, branch: str) -> bool:
        """Whether a push/PR on `branch` fires this trigger (GitHub's glob rules, simplified)."""
        if self.branches:
            return any(_glob_match(p, branch) for p in self.branches if not p.startswith("!")) and not any(
                _glob_match(p[1:], branch) for p in self.branches if p.startswith("!")
            )
        if self.branches_ignore:
            return not any(_glob_match(p, branch) for p in self.branches_ignore)
        # A push filtered only by tags does not fire on branches.
        return not (self.event == "push" and (self.tags or self.tags_ignore))


@dataclass
class ActionRef:
    raw: str
    kind: str  # action | local | docker | workflow
    action: str  # owner/repo[/path], ./path, or docker image
    ref: str | None
    pinned: bool  # full 40-hex commit SHA, or a docker digest


@dataclass
class Step:
    index: int
    name: str | None
    id: str | None
    uses: ActionRef | None
    run: str | None
    with_: dict[str, Any]
    env: dict[str, Any]
    if_: str | None
    line: int | None
    run_line: int | None = None  # the line of the script's first line

    @property
    def label(self) -> str:
        return self.name or self.id or (self.uses.raw if self.uses else f"step {self.index + 1}")


@dataclass
class Environment:
    name: str
    url: str | None = None


@dataclass
class Job:
    id: str
    name: str | None
    if_: str | None
    needs: list[str]
    runs_on: Any
    environment: Environment | None
    permissions: Any
    env: dict[str, Any]
    steps: list[Step]
    line: int | None
    uses: ActionRef | None = None  # a reusable workflow call
    secrets: Any = None


@dataclass
class Workflow:
    name: str | None
    path: Path
    rel_path: str
    triggers: dict[str, Trigger] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    errors: list[ParseError] = field(default_factory=list)
    raw: Any = None  # the document as GitHub reads it (`on` is a string key)
    _nodes: dict[tuple, Node] = field(default_factory=dict, repr=False)
    _key_lines: dict[tuple, int] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    def line_of(self, *path: Any) -> int | None:
        """1-based line of the key at `path` (or of the value when it is a sequence item)."""
        if path in self._key_lines:
            return self._key_lines[path]
        node = self._nodes.get(path)
        return node.start_mark.line + 1 if node is not None else None

    def loc(self, line: int | None) -> Location:
        return Location(self.rel_path, line)


@dataclass
class TagPattern:
    pattern: str  # e.g. 'main-<sha>'; <name> is a placeholder
    regex: str
    applies_when: str
    event: str  # push | pull_request | tag | schedule | any
    branch: str | None = None
    rule: str = ""  # the metadata-action rule or command it came from


@dataclass
class BuiltImage:
    name: str
    tag_patterns: list[TagPattern]
    context: str | None
    dockerfile: str | None
    pushed: bool
    job: str
    location: Location
    platforms: list[str] = field(default_factory=list)
    push_condition: str | None = None
    source: str = "build-push-action"  # or 'run'
    step: str | None = None
    target: str | None = None  # the Dockerfile stage built (`with: target:`); None: the final stage


@dataclass
class DeployTarget:
    job: str
    environment: str | None
    environment_source: str | None  # environment | job id | job name | step name
    kind: str  # compose | ssh | scp | kubectl | helm | ssh-action | ... | job
    command: str | None
    condition: str | None
    location: Location
    step: str | None = None
    compose_files: list[str] = field(default_factory=list)
    reachable: bool | None = None  # whether any trigger can satisfy `condition`; None when unknown


@dataclass
class SecretRef:
    kind: str  # secrets | vars
    name: str
    location: Location
    job: str | None = None
    step: str | None = None


@dataclass
class BranchFact:
    branch: str
    source: str  # trigger | condition
    detail: str  # 'push.branches', 'pull_request.branches-ignore', or the condition text
    negated: bool
    location: Location
    job: str | None = None


@dataclass
class SchemaIssue:
    path: str
    message: str
    line: int | None = None


@dataclass
class ActionlintIssue:
    path: str
    line: int | None
    column: int | None
    kind: str
    message: str


# ---------------------------------------------------------------- loading

def load_workflow(path: Path, rel_path: str, text: str | None = None, node: Any = None) -> Workflow:
    """Read one workflow; never raises: unreadable or malformed input lands in `errors`. `node` is the
    document as the session's source composed it (yaml_safe, measured): it is not parsed again."""
    wf = Workflow(name=None, path=Path(path), rel_path=rel_path)
    if node is None and text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            wf.errors.append(ParseError(f"cannot read {rel_path}: {exc}"))
            return wf
    try:
        root = node if node is not None else yaml_safe.load_node(text or "", rel_path, construct=False)[0]
    except yaml_safe.YamlLimitError as exc:
        wf.errors.append(ParseError(f"YAML error: {exc.problem}"))
        return wf
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        msg = " ".join(p for p in (exc.context, exc.problem) if p) or str(exc)
        wf.errors.append(ParseError(f"YAML error: {msg}", mark.line + 1 if mark else None, mark.column + 1 if mark else None))
        return wf
    except yaml.YAMLError as exc:
        wf.errors.append(ParseError(f"YAML error: {exc}"))
        return wf
    if root is None:
        wf.errors.append(ParseError("empty workflow file", 1, 1))
        return wf
    dups: list[tuple[tuple, int]] = []
    wf.raw = _build(root, (), wf._nodes, wf._key_lines, dups, {})
    for dpath, line in dups:
        wf.errors.append(ParseError(f"duplicate key {'.'.join(map(str, dpath))!s}", line))
    if not isinstance(wf.raw, dict):
        wf.errors.append(ParseError("a workflow must be a mapping at the top level", root.start_mark.line + 1, 1))
        return wf
    raw = wf.raw
    wf.name = _str(raw.get("name"))
    wf.env = _dict(raw.get("env"))
    if "on" not in raw:
        wf.errors.append(ParseError("missing `on`: the workflow has no trigger", 1, 1))
    wf.triggers = _triggers(wf, raw.get("on"))
    jobs = raw.get("jobs")
    if not isinstance(jobs, dict):
        wf.errors.append(ParseError("missing or invalid `jobs`", wf.line_of("jobs") or 1))
        return wf
    for job_id, job in jobs.items():
        wf.jobs[str(job_id)] = _job(wf, str(job_id), job if isinstance(job, dict) else {})
    return wf


def load_workflows(root: Path, repo_root: Path | None = None) -> list[Workflow]:
    """Every `.github/workflows/*.y*ml` under `root`, sorted, with paths relative to `repo_root`."""
    base = repo_root or root
    wdir = Path(root) / ".github" / "workflows"
    if not wdir.is_dir():
        return []
    files = sorted(p for p in wdir.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
    return [load_workflow(p, p.relative_to(base).as_posix()) for p in files]


def _scalar(node: ScalarNode) -> Any:
    # GitHub reads YAML 1.2: only true/false are booleans; `on`, `yes`, `off` stay strings.
    if node.style:
        return node.value
    tag, value = node.tag, node.value
    if tag.endswith(":bool"):
        low = value.lower()
        return {"true": True, "false": False}.get(low, value)
    if tag.endswith(":null"):
        return None
    if tag.endswith(":int"):
        try:
            return int(value.replace("_", ""), 0)
        except ValueError:
            return value
    if tag.endswith(":float"):
        try:
            return float(value.replace("_", ""))
        except ValueError:
            return value
    return value


def _build(node: Node, path: tuple, nodes: dict, key_lines: dict, dups: list, memo: dict) -> Any:
    nodes[path] = node
    if isinstance(node, ScalarNode):
        return _scalar(node)
    if id(node) in memo:  # an alias: share the value, index the first occurrence only
        return memo[id(node)]
    if isinstance(node, SequenceNode):
        out: list = []
        memo[id(node)] = out
        for i, item in enumerate(node.value):
            out.append(_build(item, path + (i,), nodes, key_lines, dups, memo))
        return out
    if isinstance(node, MappingNode):
        outd: dict = {}
        memo[id(node)] = outd
        merges = []
        for knode, vnode in node.value:
            key = knode.value if isinstance(knode, ScalarNode) else str(_build(knode, path + ("?",), {}, {}, [], {}))
            if key == "<<" and isinstance(knode, ScalarNode) and knode.tag.endswith(":merge"):
                merges.append(_build(vnode, path + ("<<",), nodes, key_lines, dups, memo))
                continue
            p = path + (key,)
            if key in outd:
                dups.append((p, knode.start_mark.line + 1))
            key_lines[p] = knode.start_mark.line + 1
            outd[key] = _build(vnode, p, nodes, key_lines, dups, memo)
        for merged in merges:
            for m in merged if isinstance(merged, list) else [merged]:
                if isinstance(m, dict):
                    for k, v in m.items():
                        outd.setdefault(k, v)
        return outd
    return None


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _triggers(wf: Workflow, on: Any) -> dict[str, Trigger]:
    out: dict[str, Trigger] = {}
    if isinstance(on, str):
        out[on] = Trigger(on, line=wf.line_of("on"))
    elif isinstance(on, list):
        for i, ev in enumerate(on):
            out[str(ev)] = Trigger(str(ev), line=wf.line_of("on", i))
    elif isinstance(on, dict):
        for ev, cfg in on.items():
            trig = Trigger(ev, line=wf.line_of("on", ev))
            if isinstance(cfg, dict):
                for key in FILTER_KEYS:
                    setattr(trig, key.replace("-", "_"), _list(cfg.get(key)))
            elif isinstance(cfg, list) and ev == "schedule":
                trig.crons = [str(c.get("cron")) for c in cfg if isinstance(c, dict) and c.get("cron")]
            out[ev] = trig
    return out


def parse_uses(raw: str) -> ActionRef:
    """`owner/repo[/path]@ref`, `./local`, or `docker://image[:tag|@digest]`."""
    raw = raw.strip()
    if raw.startswith("./") or raw.startswith("../"):
        return ActionRef(raw, "local", raw, None, False)
    if raw.startswith("docker://"):
        image = raw[len("docker://"):]
        if "@" in image:
            name, digest = image.split("@", 1)
            return ActionRef(raw, "docker", name, digest, digest.startswith("sha256:"))
        name, tag = _split_image(image)
        return ActionRef(raw, "docker", name, tag, False)
    action, _, ref = raw.partition("@")
    kind = "workflow" if "/.github/workflows/" in action else "action"
    return ActionRef(raw, kind, action, ref or None, bool(ref and SHA_RE.match(ref)))


def _job(wf: Workflow, job_id: str, job: dict) -> Job:
    env = job.get("environment")
    environment = None
    if isinstance(env, dict) and env.get("name") is not None:
        environment = Environment(str(env.get("name")), _str(env.get("url")))
    elif isinstance(env, (str, int)) and not isinstance(env, bool):
        environment = Environment(str(env))
    steps = []
    for i, step in enumerate(job.get("steps") or [] if isinstance(job.get("steps"), list) else []):
        step = step if isinstance(step, dict) else {}
        run = step.get("run")
        run_node = wf._nodes.get(("jobs", job_id, "steps", i, "run"))
        run_line = None
        if run_node is not None:
            # A block scalar's text starts on the line after `run: |`.
            run_line = run_node.start_mark.line + (2 if getattr(run_node, "style", None) in ("|", ">") else 1)
        steps.append(Step(
            index=i,
            name=_str(step.get("name")),
            id=_str(step.get("id")),
            uses=parse_uses(str(step["uses"])) if step.get("uses") else None,
            run=_str(run),
            with_=_dict(step.get("with")),
            env=_dict(step.get("env")),
            if_=_str(step.get("if")),
            line=wf.line_of("jobs", job_id, "steps", i),
            run_line=run_line,
        ))
    needs = job.get("needs")
    return Job(
        id=job_id,
        name=_str(job.get("name")),
        if_=_str(job.get("if")),
        needs=_list(needs),
        runs_on=job.get("runs-on"),
        environment=environment,
        permissions=job.get("permissions"),
        env=_dict(job.get("env")),
        steps=steps,
        line=wf.line_of("jobs", job_id),
        uses=parse_uses(str(job["uses"])) if job.get("uses") else None,
        secrets=job.get("secrets"),
    )


# ---------------------------------------------------------------- expressions

_TOKEN_RE = re.compile(r"\s*(?:('(?:[^']|'')*')|(==|!=|&&|\|\||<=|>=|[!(),<>])|([A-Za-z_][A-Za-z0-9_.\-*]*)|(\d+(?:\.\d+)?))")


@dataclass
class Context:
    """What is known about a run: the event and the branch; None means unknown."""
    event: str | None = None
    branch: str | None = None
    default_branch: str = "main"
    tag: str | None = None

    def ref(self) -> str | None:
        if self.event == "pull_request":
            return "refs/pull/<number>/merge"
        if self.branch is not None:
            return f"refs/heads/{self.branch}"
        if self.tag is not None:
            return f"refs/tags/{self.tag}"
        return None


def strip_expr(text: str) -> str:
    """An `if:` condition without its `${{ }}` wrapper."""
    return _strip_expr(text)


def _strip_expr(text: str) -> str:
    text = text.strip()
    m = re.fullmatch(r"\$\{\{(.*)\}\}", text, re.S)
    return m.group(1).strip() if m else text


def evaluate(expr: str | None, ctx: Context) -> bool | None:
    """Three-valued evaluation of a simple `if:` expression: True, False, or None (unknown)."""
    if expr is None or str(expr).strip() == "":
        return True
    text = _strip_expr(str(expr))
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            return None
        pos = m.end()
        if m.group(1) is not None:
            tokens.append(("str", m.group(1)[1:-1].replace("''", "'")))
        elif m.group(2) is not None:
            tokens.append(("op", m.group(2)))
        elif m.group(3) is not None:
            tokens.append(("id", m.group(3)))
        elif m.group(4) is not None:
            tokens.append(("num", m.group(4)))
    try:
        value, rest = _parse_or(tokens, ctx)
    except (IndexError, ValueError, RecursionError):  # RecursionError: thousands of nested `(` or `!`
        return None
    if rest:
        return None
    return _truthy(value)


_UNKNOWN = object()


def _truthy(value: Any) -> bool | None:
    if value is _UNKNOWN:
        return None
    return bool(value)


def _parse_or(tokens, ctx):
    left, tokens = _parse_and(tokens, ctx)
    while tokens and tokens[0] == ("op", "||"):
        right, tokens = _parse_and(tokens[1:], ctx)
        lt, rt = _truthy(left), _truthy(right)
        left = True if (lt or rt) else (False if lt is False and rt is False else _UNKNOWN)
    return left, tokens


def _parse_and(tokens, ctx):
    left, tokens = _parse_cmp(tokens, ctx)
    while tokens and tokens[0] == ("op", "&&"):
        right, tokens = _parse_cmp(tokens[1:], ctx)
        lt, rt = _truthy(left), _truthy(right)
        left = False if (lt is False or rt is False) else (True if lt and rt else _UNKNOWN)
    return left, tokens


def _parse_cmp(tokens, ctx):
    left, tokens = _parse_unary(tokens, ctx)
    if tokens and tokens[0][0] == "op" and tokens[0][1] in ("==", "!="):
        op = tokens[0][1]
        right, tokens = _parse_unary(tokens[1:], ctx)
        if left is _UNKNOWN or right is _UNKNOWN:
            return _UNKNOWN, tokens
        eq = str(left).lower() == str(right).lower() if isinstance(left, str) and isinstance(right, str) else left == right
        return (eq if op == "==" else not eq), tokens
    return left, tokens


def _parse_unary(tokens, ctx):
    if tokens[0] == ("op", "!"):
        value, tokens = _parse_unary(tokens[1:], ctx)
        t = _truthy(value)
        return (_UNKNOWN if t is None else not t), tokens
    if tokens[0] == ("op", "("):
        value, tokens = _parse_or(tokens[1:], ctx)
        if not tokens or tokens[0] != ("op", ")"):
            raise ValueError("unbalanced")
        return value, tokens[1:]
    kind, text = tokens[0]
    tokens = tokens[1:]
    if kind == "str":
        return text, tokens
    if kind == "num":
        return float(text), tokens
    if kind == "id" and tokens and tokens[0] == ("op", "("):
        args = []
        tokens = tokens[1:]
        while tokens and tokens[0] != ("op", ")"):
            arg, tokens = _parse_or(tokens, ctx)
            args.append(arg)
            if tokens and tokens[0] == ("op", ","):
                tokens = tokens[1:]
        return _call(text, args, ctx), tokens[1:]
    return _lookup(text, ctx), tokens


def _call(name: str, args: list, ctx: Context) -> Any:
    if any(a is _UNKNOWN for a in args):
        return _UNKNOWN
    low = name.lower()
    if low in ("startswith", "endswith", "contains") and len(args) == 2:
        a, b = str(args[0]).lower(), str(args[1]).lower()
        return {"startswith": a.startswith(b), "endswith": a.endswith(b), "contains": b in a}[low]
    if low == "format" and args:
        out = str(args[0])
        for i, a in enumerate(args[1:]):
            out = out.replace("{%d}" % i, str(a))
        return out
    if low in ("success", "always"):
        return True
    if low in ("failure", "cancelled"):
        return False
    return _UNKNOWN


def _lookup(name: str, ctx: Context) -> Any:
    low = name.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "null":
        return None
    if low == "github.event_name":
        return ctx.event if ctx.event is not None else _UNKNOWN
    if low == "github.ref":
        ref = ctx.ref()
        return ref if ref is not None else _UNKNOWN
    if low == "github.ref_name":
        name_ = "<number>/merge" if ctx.event == "pull_request" else (ctx.branch if ctx.branch is not None else ctx.tag)
        return name_ if name_ is not None else _UNKNOWN
    if low == "github.ref_type":
        return "branch" if ctx.branch is not None else ("tag" if ctx.tag is not None else _UNKNOWN)
    if low in ("github.head_ref", "github.base_ref"):
        return "" if ctx.event in ("push", "schedule", "workflow_dispatch") else _UNKNOWN
    return _UNKNOWN


_COND_BRANCH_RES = (
    (re.compile(r"(github\.ref|github\.event\.pull_request\.base\.ref|github\.event\.pull_request\.head\.ref)\s*(==|!=)\s*'refs/heads/([^']+)'"), False),
    (re.compile(r"'refs/heads/([^']+)'\s*(==|!=)\s*(github\.ref)"), True),
    (re.compile(r"(github\.ref_name|github\.head_ref|github\.base_ref|github\.event\.pull_request\.base\.ref|github\.event\.pull_request\.head\.ref)\s*(==|!=)\s*'([^']+)'"), False),
    (re.compile(r"'([^']+)'\s*(==|!=)\s*(github\.ref_name|github\.head_ref|github\.base_ref)"), True),
)
_STARTSWITH_RE = re.compile(r"(!\s*)?startsWith\(\s*github\.ref\s*,\s*'refs/heads/([^']+)'\s*\)", re.I)


def condition_branches(expr: str) -> list[tuple[str, bool]]:
    """(branch, negated) for every branch a condition compares with; `refs/heads/x*` prefixes end in `*`."""
    text = _strip_expr(expr)
    out: list[tuple[str, bool]] = []
    for rx, swapped in _COND_BRANCH_RES:
        for m in rx.finditer(text):
            branch, op = (m.group(1), m.group(2)) if swapped else (m.group(3), m.group(2))
            out.append((branch, op == "!="))
    for m in _STARTSWITH_RE.finditer(text):
        out.append((m.group(2) + "*", bool(m.group(1))))
    seen, uniq = set(), []
    for item in out:
        if item not in seen:
            seen.add(item)
            uniq.append(item)
    return uniq


# ---------------------------------------------------------------- facts: secrets, branches

def _walk_scalars(wf: Workflow):
    for path, node in wf._nodes.items():
        if isinstance(node, ScalarNode) and isinstance(node.value, str):
            yield path, node


def _scalar_hits(node: ScalarNode, rx: re.Pattern, whole: bool):
    """(match, 1-based line) for `rx` inside `${{ }}` (or anywhere when `whole`), per line of a block scalar."""
    text = node.value
    block = node.style in ("|",)
    base = node.start_mark.line + (2 if block else 1)
    chunks = [(m.group(1), m.start(1)) for m in EXPR_RE.finditer(text)]
    if whole:
        chunks.append((text, 0))
    seen = set()
    for chunk, offset in chunks:
        for m in rx.finditer(chunk):
            key = offset + m.start()
            if key in seen:
                continue
            seen.add(key)
            line = base + text.count("\n", 0, key) if block else base
            yield m, line


def _job_step_of(wf: Workflow, path: tuple) -> tuple[str | None, str | None]:
    if len(path) >= 2 and path[0] == "jobs":
        job = wf.jobs.get(str(path[1]))
        if job and len(path) >= 4 and path[2] == "steps" and isinstance(path[3], int) and path[3] < len(job.steps):
            return job.id, job.steps[path[3]].label
        return str(path[1]), None
    return None, None


def secrets_used(wf: Workflow) -> list[SecretRef]:
    """Every `secrets.X`, `vars.X` and `github.token` reference, in file order."""
    out: list[SecretRef] = []
    for path, node in _walk_scalars(wf):
        whole = bool(path) and path[-1] == "if"
        job, step = _job_step_of(wf, path)
        for m, line in _scalar_hits(node, SECRET_RE, whole):
            out.append(SecretRef(m.group(1), m.group(2) or m.group(3), wf.loc(line), job, step))
        for m, line in _scalar_hits(node, GITHUB_TOKEN_RE, whole):
            out.append(SecretRef("secrets", "GITHUB_TOKEN", wf.loc(line), job, step))
    out.sort(key=lambda s: (s.location.line or 0, s.kind, s.name))
    return out


_BRANCH_EVENTS = ("push", "pull_request", "pull_request_target")


def trigger_contexts(wf: Workflow) -> list[Context]:
    """One run context per way the workflow can start: each literal branch of a push/pull_request filter,
    and an unknown branch for any other event or for a filter GitHub matches by glob or exclusion."""
    out: list[Context] = []
    for event, trig in wf.triggers.items():
        literal = [b for b in trig.branches if not b.startswith("!") and not any(c in b for c in "*?[]+")]
        exact = event in _BRANCH_EVENTS and trig.branches and len(literal) == len(trig.branches) \
            and not trig.branches_ignore and not trig.tags
        if exact:
            out.extend(Context(event=event, branch=b) for b in literal)
        else:
            out.append(Context(event=event))
    return out


def never_runs(wf: Workflow, job: Job) -> list[Context] | None:
    """The contexts the workflow starts in, when the job's `if:` is false in every one (the job can never run);
    None when it may run or when its condition cannot be judged."""
    if not job.if_ or not wf.triggers:
        return None
    contexts = trigger_contexts(wf)
    if not contexts or any(evaluate(job.if_, c) is not False for c in contexts):
        return None
    return contexts


def branch_facts(wf: Workflow) -> list[BranchFact]:
    """Every branch named in triggers and in job/step `if:` conditions, with its line."""
    out: list[BranchFact] = []
    on = wf.raw.get("on") if isinstance(wf.raw, dict) else None
    if isinstance(on, dict):
        for ev, cfg in on.items():
            if not isinstance(cfg, dict):
                continue
            for key in ("branches", "branches-ignore"):
                for i, b in enumerate(_list(cfg.get(key))):
                    neg = key == "branches-ignore" or b.startswith("!")
                    line = wf.line_of("on", ev, key, i) if isinstance(cfg.get(key), list) else wf.line_of("on", ev, key)
                    out.append(BranchFact(b.lstrip("!"), "trigger", f"{ev}.{key}", neg, wf.loc(line)))
    for job in wf.jobs.values():
        conds = [(job.if_, wf.line_of("jobs", job.id, "if"))]
        conds += [(s.if_, wf.line_of("jobs", job.id, "steps", s.index, "if")) for s in job.steps]
        for cond, line in conds:
            if not cond:
                continue
            for branch, neg in condition_branches(cond):
                out.append(BranchFact(branch, "condition", cond, neg, wf.loc(line), job.id))
    return out


# ---------------------------------------------------------------- images

_PLACEHOLDER_RE = re.compile(r"<([A-Za-z0-9_.:-]+)>")
_PLACEHOLDER_CLASSES: dict[str, tuple[frozenset, int | None]] = {
    "sha": (HEX_CHARS, 7),
    "sha:long": (HEX_CHARS, 40),
    "number": (DIGITS, None),
    "major": (DIGITS, None),
    "minor": (DIGITS, None),
    "patch": (DIGITS, None),
}
_PLACEHOLDER_REGEX = {
    "sha": "[0-9a-f]{7}",
    "sha:long": "[0-9a-f]{40}",
    "number": "[0-9]+",
    "major": "[0-9]+",
    "minor": "[0-9]+",
    "patch": "[0-9]+",
    "version": r"[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?",
}


def pattern_regex(pattern: str) -> str:
    """The regex a tag pattern like `main-<sha>` stands for."""
    out, pos = [], 0
    for m in _PLACEHOLDER_RE.finditer(pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        out.append(_PLACEHOLDER_REGEX.get(m.group(1), "[A-Za-z0-9_][A-Za-z0-9_.-]*"))
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return "".join(out)


def _pattern_tokens(pattern: str) -> list[tuple[frozenset, bool]]:
    """(charset, repeat) tokens: repeat True means one or more."""
    toks: list[tuple[frozenset, bool]] = []
    pos = 0
    for m in _PLACEHOLDER_RE.finditer(pattern):
        toks += [(frozenset(c), False) for c in pattern[pos:m.start()]]
        name = m.group(1)
        if name == "version":
            toks += [(DIGITS, True), (frozenset("."), False), (DIGITS, True), (frozenset("."), False), (DIGITS, True)]
        else:
            cs, n = _PLACEHOLDER_CLASSES.get(name, (TAG_CHARS, None))
            toks += [(cs, False)] * n if n else [(cs, True)]
        pos = m.end()
    toks += [(frozenset(c), False) for c in pattern[pos:]]
    return toks


_COMPOSE_VAR_RE = re.compile(r"\$\$|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")


def _template_tokens(template: str) -> list[tuple[frozenset, bool]]:
    toks: list[tuple[frozenset, bool]] = []
    pos = 0
    for m in _COMPOSE_VAR_RE.finditer(template):
        toks += [(frozenset(c), False) for c in template[pos:m.start()]]
        toks.append((frozenset("$"), False) if m.group(0) == "$$" else (TAG_CHARS, True))
        pos = m.end()
    toks += [(frozenset(c), False) for c in template[pos:]]
    return toks


def _intersects(a: list[tuple[frozenset, bool]], b: list[tuple[frozenset, bool]]) -> bool:
    """Whether some string matches both token sequences (product of two small NFAs)."""
    def moves(toks, i):
        # From state i: advance over token i, or loop on token i-1 when it repeats.
        if i < len(toks):
            yield toks[i][0], i + 1
        if i > 0 and toks[i - 1][1]:
            yield toks[i - 1][0], i
    seen, stack = {(0, 0)}, [(0, 0)]
    while stack:
        i, j = stack.pop()
        if i == len(a) and j == len(b):
            return True
        for ca, ni in moves(a, i):
            for cb, nj in moves(b, j):
                if (ni, nj) not in seen and ca & cb:
                    seen.add((ni, nj))
                    stack.append((ni, nj))
    return False


def tag_pattern_matches(compose_tag_template: str, pattern: TagPattern | str) -> bool:
    """Whether a compose tag (`main-${IMAGE_TAG_FRONT}`, `latest`) can name a tag CI pushes under `pattern`.

    A compose variable matches any non-empty token; a literal must fit the pattern's regex.
    """
    pat = pattern.pattern if isinstance(pattern, TagPattern) else pattern
    template = compose_tag_template.strip()
    if not _COMPOSE_VAR_RE.search(template):
        return re.fullmatch(pattern_regex(pat), template) is not None
    return _intersects(_template_tokens(template), _pattern_tokens(pat))


def _split_image(ref: str) -> tuple[str, str | None]:
    """`registry/repo:tag` → (registry/repo, tag); digests are kept as the tag."""
    if "@" in ref:
        name, digest = ref.split("@", 1)
        return name, "@" + digest
    masked = re.sub(r"<[^<>]*>", lambda m: "x" * len(m.group(0)), ref)  # `<sha:long>` holds a colon
    slash = masked.rfind("/")
    colon = masked.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:]
    return ref, None


def _sanitize_tag(tag: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.<>:-]", "-", tag)


@dataclass
class _Scope:
    wf: Workflow
    job: Job
    step: Step | None
    repository: str | None

    def env(self) -> dict:
        merged = dict(self.wf.env)
        merged.update(self.job.env)
        if self.step:
            merged.update(self.step.env)
        return merged


def _expand_expr(expr: str, scope: _Scope, depth: int = 0) -> str:
    e = expr.strip()
    low = e.lower()
    repo = scope.repository
    if low.startswith("env."):
        value = scope.env().get(e[4:])
        if value is None:
            return f"<env.{e[4:]}>"
        return expand(str(value), scope, depth + 1)
    if low == "github.repository":
        return repo if repo else "<github.repository>"
    if low == "github.repository_owner":
        return repo.split("/")[0] if repo else "<github.repository_owner>"
    if low == "github.event.repository.name":
        return repo.split("/")[-1] if repo else "<github.event.repository.name>"
    if low == "github.sha":
        return "<sha:long>"
    if low in ("github.ref_name", "github.head_ref"):
        return "<branch>"
    m = re.fullmatch(r"(vars|secrets|inputs|matrix|steps\.[\w-]+\.outputs|needs\.[\w-]+\.outputs)\.([\w-]+)", e)
    if m:
        return f"<{m.group(1)}.{m.group(2)}>"
    return "<expr>"


def expand(text: str, scope: _Scope, depth: int = 0) -> str:
    """Replace `${{ env.X }}`, `${{ github.repository }}`… by what is known, `<placeholder>` otherwise."""
    if depth > 5:
        return text
    return EXPR_RE.sub(lambda m: _expand_expr(m.group(1), scope, depth), text)


def _split_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [p.strip() for p in re.split(r"[\n,]", str(value)) if p.strip()]


def _csv_attrs(line: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    # Values may hold commas inside ${{ }}: split outside expressions only.
    parts, depth, cur = [], 0, ""
    i = 0
    while i < len(line):
        if line.startswith("${{", i):
            depth += 1
        elif line.startswith("}}", i) and depth:
            depth -= 1
        ch = line[i]
        if ch == "," and not depth:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    for part in parts:
        key, sep, value = part.strip().partition("=")
        if sep:
            attrs[key.strip()] = value.strip()
        elif part.strip():
            attrs.setdefault("value", part.strip())
    return attrs


@dataclass
class _Case:
    event: str
    branch: str | None
    when: str


def _cases(wf: Workflow, branch: str | None, default_branch: str) -> list[_Case]:
    """The runs worth rendering tags for: push per branch, pull_request, tag push, schedule."""
    cases: list[_Case] = []
    push = wf.triggers.get("push")
    if branch is not None:
        return [_Case("push", branch, f"push to {branch}")]
    branches: list[str] = []
    if push:
        branches = [b for b in push.branches if not b.startswith("!")] or ([default_branch] if push.matches_branch(default_branch) else [])
    if "workflow_dispatch" in wf.triggers and default_branch not in branches:
        branches.append(default_branch)
    for b in branches:
        cases.append(_Case("push", b, f"push to {b}"))
    if "pull_request" in wf.triggers or "pull_request_target" in wf.triggers:
        cases.append(_Case("pull_request", None, "pull request"))
    if push and (push.tags or not (push.branches or push.branches_ignore)):
        cases.append(_Case("tag", None, "push of a git tag"))
    if "schedule" in wf.triggers:
        # Scheduled runs check out the default branch.
        cases.append(_Case("schedule", default_branch, f"scheduled run (on {default_branch})"))
    return cases


def _placeholder_branch(branch: str) -> str:
    return "<branch>" if any(c in branch for c in "*?[!") else _sanitize_tag(branch)


def _render(template: str, case: _Case, default_branch: str, fmt: str = "short") -> str:
    def sub(m: re.Match) -> str:
        word = m.group(1).strip()
        if word == "branch":
            return _placeholder_branch(case.branch) if case.branch else ""
        if word == "tag":
            return "<tag>" if case.event == "tag" else ""
        if word == "sha":
            return "<sha:long>" if fmt == "long" else "<sha>"
        if word == "base_ref":
            return "<base_ref>" if case.event == "pull_request" else ""
        if word == "is_default_branch":
            return "true" if case.branch == default_branch else "false"
        if word.startswith("date") or word.startswith("commit_date"):
            return "<date>"
        return f"<{word}>"
    return re.sub(r"\{\{([^}]*)\}\}", sub, template)


def _enabled(enable: str | None, case: _Case, scope: _Scope, default_branch: str) -> bool | None:
    if enable is None:
        return True
    text = _render(enable, case, default_branch)
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    ctx = Context(event="push" if case.event in ("push", "tag") else case.event, branch=case.branch, default_branch=default_branch,
                  tag="<tag>" if case.event == "tag" else None)
    return evaluate(text, ctx)


def _metadata_tags(meta: Step, scope: _Scope, cases: list[_Case], default_branch: str) -> list[TagPattern]:
    rules = [ln for ln in (str(meta.with_.get("tags") or "")).splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if not rules:
        rules = ["type=schedule", "type=ref,event=branch", "type=ref,event=tag", "type=ref,event=pr"]
    flavor = {}
    for ln in str(meta.with_.get("flavor") or "").splitlines():
        flavor.update(_csv_attrs(ln))
    latest_mode = flavor.get("latest", "auto").strip().lower()
    gprefix, gsuffix = flavor.get("prefix", ""), flavor.get("suffix", "")
    out: list[TagPattern] = []
    auto_latest: list[_Case] = []

    def add(value: str, case: _Case, rule: str, when: str, wants_latest: bool = False) -> None:
        if not value:
            return
        tag = _sanitize_tag(gprefix + value + gsuffix)
        if tag[0] in "-.":
            when += f" (invalid tag: starts with {tag[0]!r})"
        if any(p.pattern == tag and p.event == case.event and p.branch == case.branch for p in out):
            return
        out.append(TagPattern(tag, pattern_regex(tag), when, case.event, case.branch, rule))
        if wants_latest and latest_mode == "auto":
            auto_latest.append(case)

    for rule in rules:
        attrs = {k: (v if k == "enable" else expand(v, scope)) for k, v in _csv_attrs(rule.strip()).items()}
        typ = attrs.get("type", "raw")
        prefix, suffix = attrs.get("prefix"), attrs.get("suffix", "")
        for case in cases:
            enabled = _enabled(attrs.get("enable"), case, scope, default_branch)
            if enabled is False:
                continue
            when = case.when + ("" if enabled else f" and {attrs.get('enable')}")
            pre = _render(prefix or "", case, default_branch)
            suf = _render(suffix, case, default_branch)
            if typ == "ref":
                ev = attrs.get("event", "")
                if ev == "branch" and case.event in ("push", "schedule") and case.branch:
                    add(pre + _placeholder_branch(case.branch) + suf, case, rule, when)
                elif ev == "tag" and case.event == "tag":
                    add(pre + "<tag>" + suf, case, rule, when, wants_latest=True)
                elif ev == "pr" and case.event == "pull_request":
                    add(_render(prefix if prefix is not None else "pr-", case, default_branch) + "<number>" + suf, case, rule, when)
            elif typ == "sha":
                fmt = attrs.get("format", "short")
                sha = "<sha:long>" if fmt == "long" else "<sha>"
                add(_render(prefix if prefix is not None else "sha-", case, default_branch, fmt) + sha + suf, case, rule, when)
            elif typ == "raw":
                value = _render(attrs.get("value", ""), case, default_branch)
                add(pre + value + suf, case, rule, when)
            elif typ == "edge":
                if case.event == "push" and case.branch == attrs.get("branch", default_branch):
                    add(pre + "edge" + suf, case, rule, when)
            elif typ in ("semver", "pep440", "match"):
                if case.event == "tag":
                    value = attrs.get("value") or ""
                    pattern = attrs.get("pattern", "{{version}}")
                    rendered = "<tag>" if typ == "match" else (
                        _render(value, case, default_branch) if value else re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: "<tag>" if m.group(1) == "raw" else f"<{m.group(1)}>", pattern))
                    add(pre + rendered + suf, case, rule, f"push of a {typ} git tag" + ("" if enabled else f" and {attrs.get('enable')}"), wants_latest=True)
            elif typ == "schedule":
                if case.event == "schedule":
                    add(pre + _render(attrs.get("pattern", "nightly"), case, default_branch) + suf, case, rule, when)
    if latest_mode == "true":
        for case in cases:
            add("latest", case, "flavor latest=true", case.when)
    seen_latest = set()
    for case in auto_latest:
        if case.event not in seen_latest:
            seen_latest.add(case.event)
            add("latest", case, "flavor latest=auto", f"{case.when} (non-prerelease; flavor latest=auto)")
    return out


def _literal_tag_patterns(tags: list[str], scope: _Scope, when: str, event: str, branch: str | None) -> dict[str, list[TagPattern]]:
    by_image: dict[str, list[TagPattern]] = {}
    for ref in tags:
        name, tag = _split_image(expand(ref, scope))
        tag = _sanitize_tag(tag) if tag else "latest"
        by_image.setdefault(name.lower(), []).append(TagPattern(tag, pattern_regex(tag), when, event, branch, ref))
    return by_image


def _meta_images(meta: Step, scope: _Scope) -> list[str]:
    out = []
    for item in _split_list(meta.with_.get("images")):
        attrs = _csv_attrs(item) if "name=" in item else {"name": item}
        if attrs.get("enable", "true").strip().lower() == "false":
            continue
        out.append(expand(attrs.get("name", item), scope).lower())
    return out


def _job_when(job: Job, step: Step | None) -> str:
    conds = [c for c in (job.if_, step.if_ if step else None) if c]
    return " and ".join(f"if: {_strip_expr(c)}" for c in conds)


def built_images(wf: Workflow, repository: str | None = None, branch: str | None = None,
                 default_branch: str = "main") -> list[BuiltImage]:
    """Images built (and pushed) by the workflow, with the tag patterns each run produces.

    With `branch`, only the tags of a push to that branch; otherwise every run the triggers allow.
    """
    out: list[BuiltImage] = []
    cases = _cases(wf, branch, default_branch)
    for job in wf.jobs.values():
        metas = {s.id: s for s in job.steps if s.id and s.uses and s.uses.action.lower() == "docker/metadata-action"}
        for step in job.steps:
            scope = _Scope(wf, job, step, repository)
            job_cases = [c for c in cases if evaluate(job.if_, _ctx(c, default_branch)) is not False
                         and evaluate(step.if_, _ctx(c, default_branch)) is not False]
            extra = _job_when(job, step)
            if step.uses and step.uses.action.lower() == "docker/build-push-action":
                out += _from_build_push(wf, job, step, scope, metas, job_cases, default_branch, extra)
            elif step.run:
                out += _from_run(wf, job, step, scope, job_cases, extra)
    return out


def _ctx(case: _Case, default_branch: str) -> Context:
    return Context(event="push" if case.event == "tag" else case.event, branch=case.branch,
                   default_branch=default_branch, tag="<tag>" if case.event == "tag" else None)


def _with_extra(patterns: list[TagPattern], extra: str) -> list[TagPattern]:
    if extra:
        for p in patterns:
            p.applies_when = f"{p.applies_when} and {extra}"
    return patterns


def _from_build_push(wf, job, step, scope, metas, cases, default_branch, extra) -> list[BuiltImage]:
    w = step.with_
    push_raw = w.get("push")
    push_text = _str(push_raw) or "false"
    pushed, push_condition = push_text.strip().lower() == "true", None
    if EXPR_RE.search(push_text):
        pushed, push_condition = True, _strip_expr(push_text)
    if "type=registry" in str(w.get("outputs") or "") or "push=true" in str(w.get("outputs") or ""):
        pushed = True
    platforms = _split_list(w.get("platforms"))
    context = expand(_str(w.get("context")) or ".", scope)
    dockerfile = expand(_str(w.get("file")), scope) if w.get("file") else None
    loc = wf.loc(step.line)
    images: dict[str, list[TagPattern]] = {}
    literal: list[str] = []
    for item in _split_list(w.get("tags")):
        m = re.fullmatch(r"\$\{\{\s*steps\.([\w-]+)\.outputs\.(tags|json)\s*\}\}", item)
        if m and m.group(1) in metas:
            meta = metas[m.group(1)]
            patterns = _metadata_tags(meta, _Scope(wf, job, meta, scope.repository), cases, default_branch)
            for name in _meta_images(meta, _Scope(wf, job, meta, scope.repository)):
                images.setdefault(name, []).extend(_with_extra([_copy(p) for p in patterns], extra))
        else:
            literal.append(item)
    for case in cases or [_Case("any", None, "any run")]:
        for name, pats in _literal_tag_patterns(literal, scope, case.when, case.event, case.branch).items():
            images.setdefault(name, []).extend(_with_extra(pats, extra))
    target = str(w["target"]) if isinstance(w, dict) and w.get("target") else None
    return [BuiltImage(name, pats, context, dockerfile, pushed, job.id, loc, platforms, push_condition, "build-push-action",
                       step.label, target) for name, pats in images.items()]


def _copy(p: TagPattern) -> TagPattern:
    return TagPattern(p.pattern, p.regex, p.applies_when, p.event, p.branch, p.rule)


_SHELL_SUBS = (
    (re.compile(r"\$\{GITHUB_SHA::?7\}|\$\(git rev-parse --short(?:=7)? HEAD\)"), "<sha>"),
    (re.compile(r"\$\{?GITHUB_SHA\}?|\$\(git rev-parse HEAD\)"), "<sha:long>"),
    (re.compile(r"\$\{?GITHUB_REF_NAME\}?"), "<branch>"),
)


def _shell_expand(text: str, env: dict) -> str:
    for rx, repl in _SHELL_SUBS:
        text = rx.sub(repl, text)

    def var(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        value = env.get(name)
        return str(value) if value is not None and "${{" not in str(value) else f"<{name}>"
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)", var, text)


def shell_commands(script: str) -> list[tuple[int, str]]:
    """(line offset, command) for each logical shell line; `\\` continuations joined, comments dropped."""
    out, buf, start = [], "", 0
    for i, line in enumerate(script.splitlines()):
        stripped = line.strip()
        if not buf:
            start = i
            if stripped.startswith("#"):
                continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        for part in re.split(r"\s*(?:&&|;|\|\|)\s*", buf):
            if part.strip():
                out.append((start, part.strip()))
        buf = ""
    if buf.strip():
        out.append((start, buf.strip()))
    return out


_commands = shell_commands  # the old private name, still used by tools/checks/ci_checks.py


def _split_cmd(cmd: str) -> list[str]:
    try:
        return shlex.split(cmd, comments=True)
    except ValueError:
        return cmd.split()


def _from_run(wf, job, step, scope, cases, extra) -> list[BuiltImage]:
    script = expand(step.run or "", scope)
    env = {k: v for k, v in scope.env().items()}
    builds: list[BuiltImage] = []
    pushed_names: set[str] = set()
    base = step.run_line or step.line
    for offset, cmd in shell_commands(script):
        argv = _split_cmd(_shell_expand(cmd, env))
        if not argv or argv[0] != "docker":
            continue
        args = argv[1:]
        if args[:2] in (["buildx", "build"], ["image", "build"]):
            args = ["build"] + args[2:]
        elif args[:2] == ["image", "push"]:
            args = ["push"] + args[2:]
        if args and args[0] == "build":
            tags, dockerfile, platforms, push, positional = [], None, [], False, []
            i = 1
            while i < len(args):
                a = args[i]
                val = args[i + 1] if i + 1 < len(args) else None
                if a in ("-t", "--tag") and val:
                    tags.append(val); i += 2; continue
                if a.startswith("--tag="):
                    tags.append(a.split("=", 1)[1])
                elif a in ("-f", "--file") and val:
                    dockerfile = val; i += 2; continue
                elif a.startswith("--file="):
                    dockerfile = a.split("=", 1)[1]
                elif a == "--platform" and val:
                    platforms += _split_list(val); i += 2; continue
                elif a == "--push":
                    push = True
                elif a.startswith("--") and "=" not in a and val and not val.startswith("-") and a not in ("--pull", "--no-cache", "--load", "--quiet", "--rm"):
                    i += 2; continue
                elif not a.startswith("-"):
                    positional.append(a)
                i += 1
            line = base + offset if base else None
            when_cases = cases or [_Case("any", None, "any run")]
            by_image: dict[str, list[TagPattern]] = {}
            for case in when_cases:
                for name, pats in _literal_tag_patterns(tags, scope, case.when, case.event, case.branch).items():
                    by_image.setdefault(name, []).extend(_with_extra(pats, extra))
            for name, pats in by_image.items():
                builds.append(BuiltImage(name, pats, positional[-1] if positional else None, dockerfile, push, job.id,
                                         wf.loc(line), platforms, None, "run", step.label))
        elif args and args[0] == "tag" and len([a for a in args[1:] if not a.startswith("-")]) == 2:
            src, dst = [a for a in args[1:] if not a.startswith("-")]
            src_name = _split_image(expand(src, scope))[0].lower()
            origin = next((b for b in builds if b.name == src_name), None)
            line = base + offset if base else None
            for name, pats in _literal_tag_patterns([dst], scope, "", "any", None).items():
                when_cases = cases or [_Case("any", None, "any run")]
                tag_pats = [TagPattern(p.pattern, p.regex, c.when, c.event, c.branch, cmd) for c in when_cases for p in pats]
                builds.append(BuiltImage(name, _with_extra(tag_pats, extra), origin.context if origin else None,
                                         origin.dockerfile if origin else None, False, job.id, wf.loc(line),
                                         origin.platforms if origin else [], None, "run", step.label))
        elif args and args[0] == "push" and [a for a in args[1:] if not a.startswith("-")]:
            name, _ = _split_image([a for a in args[1:] if not a.startswith("-")][-1])
            pushed_names.add(name.lower())
    for b in builds:
        if b.name in pushed_names:
            b.pushed = True
    return builds


# ---------------------------------------------------------------- deploys

_DEPLOY_CMDS = (
    ("compose", re.compile(r"\bdocker[ -]compose\b(?:(?!&&|;|\|).)*\bup\b")),
    ("compose", re.compile(r"\bdocker\s+stack\s+deploy\b")),
    ("ssh", re.compile(r"(?:^|[\s;&|(])ssh\s")),
    ("scp", re.compile(r"(?:^|[\s;&|(])scp\s")),
    ("rsync", re.compile(r"(?:^|[\s;&|(])rsync\s.*\S+@\S+:")),
    ("kubectl", re.compile(r"\bkubectl\s+(?:apply|create|replace|set|rollout|patch|delete|scale)\b")),
    ("helm", re.compile(r"\bhelm\s+(?:upgrade|install|rollback|uninstall)\b")),
)
_DEPLOY_ACTIONS = {
    "appleboy/ssh-action": "ssh-action",
    "appleboy/scp-action": "scp-action",
    "azure/k8s-deploy": "kubectl",
    "azure/webapps-deploy": "azure",
    "aws-actions/amazon-ecs-deploy-task-definition": "ecs",
    "google-github-actions/deploy-cloudrun": "cloudrun",
}
_DEPLOY_WORDS = re.compile(r"deploy|release|rollout|staging|production|\bprod\b", re.I)


def _env_from_text(text: str | None) -> str | None:
    if not text:
        return None
    words = re.split(r"[^a-z0-9]+", text.lower())
    for name in ENV_NAMES:
        if name in words:
            return {"prod": "production", "stage": "staging", "development": "dev"}.get(name, name)
    return None


def _job_environment(job: Job) -> tuple[str | None, str | None]:
    if job.environment:
        return job.environment.name, "environment"
    for text, source in ((job.id, "job id"), (job.name, "job name")):
        env = _env_from_text(text)
        if env:
            return env, source
    return None, None


def reachable(wf: Workflow, condition: str | None, default_branch: str = "main") -> bool | None:
    """Whether some run the triggers allow can satisfy `condition` (None when it cannot be told)."""
    cases = _cases(wf, None, default_branch)
    if not cases:
        return None if wf.triggers else False
    results = [evaluate(condition, _ctx(c, default_branch)) for c in cases]
    other = [e for e in wf.triggers if e not in ("push", "pull_request", "pull_request_target", "schedule", "workflow_dispatch")]
    if any(r is True for r in results):
        return True
    if any(r is None for r in results) or other:
        return None
    return False


def deploy_targets(wf: Workflow, default_branch: str = "main") -> list[DeployTarget]:
    """Steps that deploy (compose up, ssh, kubectl, helm, deploy actions), or deploy jobs with no such step."""
    out: list[DeployTarget] = []
    for job in wf.jobs.values():
        env, env_source = _job_environment(job)
        found = False
        for step in job.steps:
            step_env, step_source = (env, env_source) if env else (_env_from_text(step.name), "step name" if _env_from_text(step.name) else None)
            cond = " && ".join(f"({_strip_expr(c)})" for c in (job.if_, step.if_) if c) or None
            if job.if_ and not step.if_:
                cond = _strip_expr(job.if_)
            if step.uses and step.uses.action.lower() in _DEPLOY_ACTIONS:
                script = str(step.with_.get("script") or "") or None
                out.append(DeployTarget(job.id, step_env, step_source, _DEPLOY_ACTIONS[step.uses.action.lower()], script, cond,
                                        wf.loc(step.line), step.label, _compose_files(script or "")))
                found = True
                continue
            if not step.run:
                continue
            for offset, cmd in shell_commands(step.run):
                for kind, rx in _DEPLOY_CMDS:
                    if rx.search(cmd):
                        line = (step.run_line + offset) if step.run_line else step.line
                        out.append(DeployTarget(job.id, step_env, step_source, kind, cmd, cond, wf.loc(line), step.label,
                                                _compose_files(cmd) if kind == "compose" else []))
                        found = True
                        break
        if not found and (job.environment or _DEPLOY_WORDS.search(job.id) or _DEPLOY_WORDS.search(job.name or "")):
            out.append(DeployTarget(job.id, env, env_source, "job", None, _strip_expr(job.if_) if job.if_ else None, wf.loc(job.line)))
    for d in out:
        d.reachable = reachable(wf, d.condition, default_branch)
    return out


def _compose_files(cmd: str) -> list[str]:
    return re.findall(r"(?:-f|--file)[ =]+['\"]?([^\s'\"]+)", cmd)


# ---------------------------------------------------------------- schema, actionlint

@lru_cache(maxsize=1)
def _schema_validator():
    import jsonschema

    from tools.schemas import vendored_schema

    schema = vendored_schema("github-workflows.json")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema)


def _reduce_error(err) -> dict:
    best = _deepest(err)
    return {"path": list(best.absolute_path), "validator": best.validator, "message": best.message}


def validate_schema(raw: Any, workflow: Workflow | None = None) -> list[SchemaIssue]:
    """Validate against check-jsonschema's vendored GitHub workflow schema; lines come from `workflow` when given."""
    if isinstance(raw, dict) and True in raw and "on" not in raw:
        raw = {("on" if k is True else k): v for k, v in raw.items()}
    from tools.schemas import schema_errors

    issues = []
    for err in schema_errors("github-workflows.json", raw, _reduce_error, lambda schema: _schema_validator()):
        path = tuple(err["path"])
        extra = re.search(r"\('([^']+)' was unexpected\)", err["message"])
        if extra and err["validator"] == "additionalProperties":
            path = path + (extra.group(1),)
        line = None
        if workflow is not None:
            for n in range(len(path), -1, -1):
                line = workflow.line_of(*path[:n])
                if line:
                    break
        dotted = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        issues.append(SchemaIssue(dotted, _short(err["message"]), line))
    issues.sort(key=lambda i: (i.line or 0, i.path))
    return issues


def _deepest(err):
    # oneOf/anyOf errors say little; the deepest sub-error names the real problem.
    best = err
    while best.context:
        best = max(best.context, key=lambda e: len(e.absolute_path))
        if len(best.absolute_path) <= len(err.absolute_path) and not best.context:
            break
    return best if len(best.absolute_path) >= len(err.absolute_path) else err


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."


def run_actionlint(paths: list[Path]) -> list[ActionlintIssue] | None:
    """Run actionlint once over `paths` when it is on PATH; None (and a log line) when it is not."""
    exe = shutil.which("actionlint")
    if exe is None:
        log.info(ACTIONLINT_SKIPPED)
        return None
    if not paths:
        return []
    try:
        proc = subprocess.run([exe, "-format", "{{json .}}", *map(str, paths)], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [ActionlintIssue("", None, None, "actionlint", f"actionlint failed to run: {exc}")]
    try:
        items = json.loads(proc.stdout or "[]") or []
    except json.JSONDecodeError:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        return [ActionlintIssue("", None, None, "actionlint", msg[0] if msg else f"actionlint exited {proc.returncode}")]
    return [ActionlintIssue(i.get("filepath", ""), i.get("line"), i.get("column"), i.get("kind", ""), i.get("message", "")) for i in items]


# ---------------------------------------------------------------- summary

def _loc(loc: Location) -> dict:
    return {"path": loc.path, "line": loc.line}


def _tp(p: TagPattern) -> dict:
    return {"pattern": p.pattern, "regex": p.regex, "applies_when": p.applies_when, "event": p.event, "branch": p.branch, "rule": p.rule}


def _uses(u: ActionRef | None) -> dict | None:
    return None if u is None else {"raw": u.raw, "kind": u.kind, "action": u.action, "ref": u.ref, "pinned": u.pinned}


def summary(workflow: Workflow, repository: str | None = None, default_branch: str = "main", validate: bool = True) -> dict:
    """Everything the model knows about one workflow, as JSON-ready data with stable keys."""
    wf = workflow
    data: dict[str, Any] = {
        "path": wf.rel_path,
        "name": wf.name,
        "ok": wf.ok,
        "errors": [{"message": e.message, "line": e.line, "column": e.column} for e in wf.errors],
        "triggers": {},
        "env": {},
        "jobs": [],
        "images": [],
        "deploys": [],
        "secrets": [],
        "branches": [],
        "unpinned_actions": [],
        "schema_issues": [],
    }
    if wf.raw is None or not isinstance(wf.raw, dict):
        return data
    data["env"] = {str(k): _str(v) for k, v in wf.env.items()}
    for ev, t in wf.triggers.items():
        data["triggers"][ev] = {
            "branches": t.branches, "branches_ignore": t.branches_ignore, "tags": t.tags, "tags_ignore": t.tags_ignore,
            "paths": t.paths, "paths_ignore": t.paths_ignore, "types": t.types, "crons": t.crons, "line": t.line,
        }
    for job in wf.jobs.values():
        data["jobs"].append({
            "id": job.id, "name": job.name, "if": job.if_, "needs": job.needs, "runs_on": job.runs_on,
            "environment": None if job.environment is None else {"name": job.environment.name, "url": job.environment.url},
            "permissions": job.permissions, "env": {str(k): _str(v) for k, v in job.env.items()}, "line": job.line,
            "uses": _uses(job.uses),
            "steps": [{"index": s.index, "name": s.name, "id": s.id, "uses": _uses(s.uses), "run": s.run, "if": s.if_,
                       "with": {str(k): _str(v) for k, v in s.with_.items()}, "env": {str(k): _str(v) for k, v in s.env.items()},
                       "line": s.line} for s in job.steps],
        })
        for s in job.steps:
            if s.uses and s.uses.kind == "action" and not s.uses.pinned:
                data["unpinned_actions"].append({"job": job.id, "step": s.label, "uses": s.uses.raw, "line": s.line})
    for img in built_images(wf, repository, default_branch=default_branch):
        data["images"].append({
            "name": img.name, "tag_patterns": [_tp(p) for p in img.tag_patterns], "context": img.context,
            "dockerfile": img.dockerfile, "pushed": img.pushed, "push_condition": img.push_condition,
            "platforms": img.platforms, "job": img.job, "step": img.step, "source": img.source, "location": _loc(img.location),
        })
    for d in deploy_targets(wf, default_branch):
        data["deploys"].append({
            "job": d.job, "step": d.step, "environment": d.environment, "environment_source": d.environment_source,
            "kind": d.kind, "command": d.command, "condition": d.condition, "reachable": d.reachable,
            "compose_files": d.compose_files,
            "location": _loc(d.location),
        })
    data["secrets"] = [{"kind": s.kind, "name": s.name, "job": s.job, "step": s.step, "location": _loc(s.location)} for s in secrets_used(wf)]
    data["branches"] = [{"branch": b.branch, "source": b.source, "detail": b.detail, "negated": b.negated, "job": b.job,
                         "location": _loc(b.location)} for b in branch_facts(wf)]
    if validate:
        data["schema_issues"] = [{"path": i.path, "message": i.message, "line": i.line} for i in validate_schema(wf.raw, wf)]
    return data


# ---------------------------------------------------------------- helpers

def _glob_match(pattern: str, name: str) -> bool:
    """GitHub filter globs: `*` stops at `/`, `**` crosses it, `?` is one character, `+` repeats the
    character before it (literal with none, or after `*`/`+`). Matched as a set of states, so the time is
    len(pattern) x len(name) whatever the pattern (a regex backtracks exponentially on `a+a+a+…`)."""
    tokens: list[tuple[str | None, bool]] = []  # (what one step matches: a char, None = any but `/`, "" = any; repeats)
    i = 0
    repeatable = False
    while i < len(pattern):
        if pattern.startswith("**", i):
            tokens.append(("", True))
            i += 2
            repeatable = False
        elif pattern[i] == "*":
            tokens.append((None, True))
            i += 1
            repeatable = False
        elif pattern[i] == "+" and repeatable:
            tokens.append((tokens[-1][0], True))  # c+ is c followed by c*
            i += 1
            repeatable = False
        else:
            tokens.append(("" if pattern[i] == "?" else pattern[i], False))
            i += 1
            repeatable = True

    def fits(what: str | None, ch: str) -> bool:
        return ch != "/" if what is None else (what == "" or what == ch)

    def closure(states: set[int]) -> set[int]:
        stack, out = list(states), set(states)
        while stack:
            k = stack.pop()
            if k < len(tokens) and tokens[k][1] and k + 1 not in out:
                out.add(k + 1)
                stack.append(k + 1)
        return out

    states = closure({0})
    for ch in name:
        nxt = set()
        for k in states:
            if k < len(tokens) and fits(tokens[k][0], ch):
                nxt.add(k if tokens[k][1] else k + 1)
        if not nxt:
            return False
        states = closure(nxt)
    return len(tokens) in states
