"""GitHub expressions (`${{ }}`, `if:`) evaluated for a branch or event; the secrets and branch facts read from them."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from yaml.nodes import ScalarNode

from tools.ci.load import as_list
from tools.ci.model import BranchFact, EXPR_RE, GITHUB_TOKEN_RE, Job, SECRET_RE, SecretRef, Workflow

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
        answer = {"startswith": a.startswith(b), "endswith": a.endswith(b), "contains": b in a}[low]
        hole = re.search(r"<[\w.:-]+>", a)  # `refs/tags/<tag>`: the run's tag or branch is any name
        if hole and not answer and (low != "startswith" or b.startswith(a[:hole.start()])):
            return _UNKNOWN  # `startsWith(github.ref, 'refs/tags/v')` on a tag push: it depends on the tag
        return answer
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
        elif event == "workflow_call":
            out.append(Context())  # a reusable workflow runs with its caller's github context: any event, any ref
        else:
            out.append(Context(event=event))
    return out


# GitHub's status functions: their value comes from how the other jobs ended, not from the trigger.
_STATUS_CALL = re.compile(r"\b(?:success|failure|always|cancelled)\s*\(")


def never_runs(wf: Workflow, job: Job) -> list[Context] | None:
    """The contexts the workflow starts in, when the job's `if:` is false in every one (the job can never run);
    None when it may run or when its condition cannot be judged."""
    if not job.if_ or not wf.triggers:
        return None
    if _STATUS_CALL.search(job.if_) or strip_expr(job.if_).strip().lower() in ("false", "0", "''"):
        return None  # `failure()` hangs on the other jobs' outcome; a literal false is a job switched off on purpose
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
                for i, b in enumerate(as_list(cfg.get(key))):
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


def always_true_condition(text: str) -> bool:
    """An `if:` holding `${{ }}` with other text around (`${{ a }} || ${{ b }}`): GitHub reads it as a string, never
    empty, so true whatever the expressions say. One whole `${{ … }}`, or no `${{` at all, is evaluated."""
    stripped = (text or "").strip()
    if "${{" not in stripped:
        return False
    return not (stripped.startswith("${{") and stripped.endswith("}}") and stripped.count("${{") == 1)


# ---------------------------------------------------------------- references to names the workflow never defines

@dataclass
class UndefinedRef:
    """`steps.build.outputs.digest` where no step of the job has the id `build` (and the like for `needs`, `matrix`,
    `inputs`): GitHub evaluates it to an empty string, silently."""
    text: str  # the reference as written: steps.build.outputs.digest
    what: str  # why it is undefined, in a few words
    job: str | None
    line: int | None


_REF_RE = re.compile(r"(?<![\w.\-])(steps|needs|matrix|inputs)\.([A-Za-z_][\w\-]*)(?:\.([A-Za-z_][\w\-]*))?(?:\.[\w\-]+)*")
_QUOTED = re.compile(r"'(?:[^']|'')*'")
_STEP_PROPS = ("outputs", "outcome", "conclusion")
_NEEDS_PROPS = ("outputs", "result")


def _expressions(node: ScalarNode, whole: bool) -> list[tuple[str, int]]:
    """(expression text with its string literals blanked, 1-based line) of each `${{ }}` of a scalar; the whole
    scalar when it is an `if:` (GitHub reads it as one expression)."""
    text = node.value
    block = node.style in ("|", ">")
    base = node.start_mark.line + (2 if block else 1)
    spans = [(m.group(1), m.start(1)) for m in EXPR_RE.finditer(text)]
    if whole and not spans:
        spans = [(text, 0)]
    out = []
    for chunk, offset in spans:
        blanked = _QUOTED.sub(lambda q: " " * len(q.group(0)), chunk)
        out.append((blanked, base + text.count("\n", 0, offset) if block else base))
    return out


def _matrix_keys(matrix: Any) -> set[str] | None:
    """The keys `matrix.X` may name, lower-cased; None when they cannot be known (an expression builds the matrix or
    its `include`)."""
    if matrix is None:
        return set()
    if not isinstance(matrix, dict):
        return None
    keys = {str(k).lower() for k in matrix if k not in ("include", "exclude")}
    include = matrix.get("include")
    if include is None:
        return keys
    if not isinstance(include, list):
        return None
    for item in include:
        if not isinstance(item, dict):
            return None
        keys |= {str(k).lower() for k in item}
    return keys


def _declared_inputs(wf: Workflow) -> set[str] | None:
    """The names `inputs.X` may take, lower-cased: those of `workflow_dispatch` and `workflow_call`; None when a
    trigger's inputs cannot be read."""
    on = (wf.raw or {}).get("on") if isinstance(wf.raw, dict) else None
    names: set[str] = set()
    if not isinstance(on, dict):
        return names
    for event in ("workflow_dispatch", "workflow_call"):
        spec = on.get(event)
        if spec is None:
            continue
        if not isinstance(spec, dict):
            continue
        inputs = spec.get("inputs")
        if inputs is None:
            continue
        if not isinstance(inputs, dict):
            return None
        names |= {str(k).lower() for k in inputs}
    return names


def undefined_references(wf: Workflow) -> list[UndefinedRef]:
    """Each `steps.X`, `needs.X`, `matrix.X` and `inputs.X` of a job that names nothing the job or workflow defines,
    and `steps.X.output` (GitHub's property is `outputs`): GitHub gives such a reference an empty value without a
    word, so a tag, a digest or a condition silently goes missing. Names are compared case-insensitively, as
    GitHub does; a matrix or inputs built by an expression are not judged."""
    inputs = _declared_inputs(wf)
    out: list[UndefinedRef] = []
    seen: set[tuple] = set()
    names: dict[str, tuple[set[str], set[str], set[str] | None]] = {}  # per job: step ids, needs, matrix keys
    for job in wf.jobs.values():
        raw_job = ((wf.raw or {}).get("jobs") or {}).get(job.id) if isinstance(wf.raw, dict) else None
        strategy = raw_job.get("strategy") if isinstance(raw_job, dict) else None
        names[job.id] = ({s.id.lower() for s in job.steps if s.id}, {n.lower() for n in job.needs},
                         _matrix_keys(job.matrix) if strategy is None or isinstance(strategy, dict) else None)
    for path, node in _walk_scalars(wf):
        if not path or path[0] != "jobs" or len(path) < 3:
            continue
        job = wf.jobs.get(str(path[1]))
        if job is None or path[2] == "strategy":
            continue
        in_steps = path[2] in ("steps", "outputs")
        step_ids, needs, matrix = names[job.id]
        for expr, line in _expressions(node, whole=path[-1] == "if"):
            for m in _REF_RE.finditer(expr):
                ctx, name, prop = m.group(1), m.group(2).lower(), (m.group(3) or "").lower()
                what = None
                if ctx == "steps" and in_steps and not job.uses:
                    if name not in step_ids:
                        what = f"no step of job {job.id} has the id {m.group(2)}"
                    elif prop and prop not in _STEP_PROPS:
                        what = f"a step has no property {m.group(3)} (outputs, outcome, conclusion)"
                elif ctx == "needs":
                    if name not in needs:
                        what = (f"job {job.id} does not need {m.group(2)}" if needs
                                else f"job {job.id} needs no job")
                    elif prop and prop not in _NEEDS_PROPS:
                        what = f"a needed job has no property {m.group(3)} (outputs, result)"
                elif ctx == "matrix" and matrix is not None and name not in matrix:
                    what = (f"the matrix of job {job.id} has no key {m.group(2)}" if matrix
                            else f"job {job.id} has no matrix")
                elif ctx == "inputs" and inputs is not None and name not in inputs:
                    what = (f"the workflow declares no input {m.group(2)}" if inputs
                            else "the workflow declares no inputs")
                if what and (job.id, m.group(0), line) not in seen:
                    seen.add((job.id, m.group(0), line))
                    out.append(UndefinedRef(m.group(0), what, job.id, line))
    out.sort(key=lambda r: (r.line or 0, r.text))
    return out
