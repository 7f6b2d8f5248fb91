"""Images a workflow builds and the tags it pushes: docker/metadata-action, build-push-action and `docker` commands in `run:`."""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from tools.ci.expr import Context, evaluate, strip_expr
from tools.ci.load import as_str, split_image
from tools.ci.model import BuiltImage, DIGITS, EXPR_RE, HEX_CHARS, Job, Step, TAG_CHARS, TagPattern, Workflow
from tools.facts.shell import split_words

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
        out.append(_PLACEHOLDER_REGEX.get(m.group(1), "[A-Za-z0-9_.-]+" if m.group(1).startswith("matrix.")
                                          else "[A-Za-z0-9_][A-Za-z0-9_.-]*"))  # a suffix `-alpine` starts with -
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
    # a matrix value may be empty (`suffix: ""` on the main leg): `latest<matrix.suffix>` is also `latest`
    variants = [pat] + ([_MATRIX_RE.sub("", pat)] if _MATRIX_RE.search(pat) else [])
    if not _COMPOSE_VAR_RE.search(template):
        return any(re.fullmatch(pattern_regex(v), template) is not None for v in variants)
    return any(_intersects(_template_tokens(template), _pattern_tokens(v)) for v in variants)


_MATRIX_RE = re.compile(r"<matrix\.[A-Za-z0-9_.-]+>")


def _sanitize_tag(tag: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.<>:-]", "-", tag)


@dataclass
class _Scope:
    wf: Workflow
    job: Job
    step: Step | None
    repository: str | None
    _env: dict | None = field(default=None, repr=False, compare=False)

    def env(self) -> dict:
        """The workflow's, the job's, what earlier steps wrote to `$GITHUB_ENV`, the step's: built once a scope
        (every `${{ env.X }}` of the step asks it)."""
        if self._env is None:
            merged = dict(self.wf.env)
            merged.update(self.job.env)
            if self.step:
                merged.update(github_env_writes(self.job, self.step, merged))
                merged.update(self.step.env)
            self._env = merged
        return self._env


# `echo "TAGS=$IMAGE:${{ env.VERSION }}" >> $GITHUB_ENV`: a run step setting a variable for the job's later steps.
_ENV_WRITE = re.compile(r"""^\s*echo\s+(?:-e\s+)?(["']?)([A-Za-z_][A-Za-z0-9_]*)=(.*?)\1\s*>>\s*"?\$\{?GITHUB_ENV\}?"?\s*$""")
_SHELL_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def github_env_writes(job: Job, step: Step, env: dict) -> dict[str, str]:
    """The variables the job's run steps before `step` write to `$GITHUB_ENV` (one `echo NAME=value` a line), the
    shell's `$VAR` expanded from the job's environment and the earlier writes; `${{ … }}` left for `expand`. A
    write under an `if:` counts as made: the values are every run's (`TAGS=$TAGS,…:latest` on one matrix leg)."""
    written: dict[str, str] = {}
    for earlier in job.steps:
        if earlier.index >= step.index:
            break
        if not earlier.run or "GITHUB_ENV" not in earlier.run:
            continue
        for line in earlier.run.splitlines()[:500]:
            m = _ENV_WRITE.match(line) if "GITHUB_ENV" in line and len(line) < 2000 else None
            if m is None:
                continue
            known = {**env, **earlier.env, **written}
            written[m.group(2)] = _SHELL_VAR.sub(
                lambda v: str(known.get(v.group(1) or v.group(2), v.group(0))), m.group(3))
    return written


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


def run_cases(wf: Workflow, branch: str | None, default_branch: str) -> list[_Case]:
    """The runs worth rendering tags for: push per branch, pull_request, tag push, schedule."""
    cases: list[_Case] = []
    push = wf.triggers.get("push")
    if branch is not None:
        return [_Case("push", branch, f"push to {branch}")]
    branches: list[str] = []
    if push:
        branches = [b for b in push.branches if not b.startswith("!")] or ([default_branch] if push.matches_branch(default_branch) else [])
    # run by hand, or called by another workflow (its caller's event: most often a push to the default branch)
    if ("workflow_dispatch" in wf.triggers or "workflow_call" in wf.triggers) and default_branch not in branches:
        branches.append(default_branch)
    for b in branches:
        cases.append(_Case("push", b, f"push to {b}"))
    if "pull_request" in wf.triggers or "pull_request_target" in wf.triggers:
        cases.append(_Case("pull_request", None, "pull request"))
    if push and (push.tags or not (push.branches or push.branches_ignore)):
        cases.append(_Case("tag", None, "push of a git tag"))
    if "release" in wf.triggers:  # a release runs on its tag (GITHUB_REF refs/tags/<tag>), as a tag push does
        cases.append(_Case("release", None, "published release"))
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
            return "<tag>" if case.event in _ON_A_TAG else ""
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
    return evaluate(text, case_context(case, default_branch))


def _metadata_tags(meta: Step, scope: _Scope, cases: list[_Case], default_branch: str) -> list[TagPattern]:
    rules = [ln for ln in (str(meta.with_.get("tags") or "")).splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if not rules:
        rules = ["type=schedule", "type=ref,event=branch", "type=ref,event=tag", "type=ref,event=pr"]
    flavor = {}
    for ln in str(meta.with_.get("flavor") or "").splitlines():
        flavor.update({k: expand(v, scope) for k, v in _csv_attrs(ln).items()})  # `suffix=${{ matrix.suffix }}`
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
                elif ev == "tag" and case.event in _ON_A_TAG:
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
                if case.event in _ON_A_TAG:
                    value = attrs.get("value") or ""
                    value = "" if "<" in value else value  # `value=${{ github.event.release.tag_name }}`: the tag
                    pattern = attrs.get("pattern", "{{version}}")
                    rendered = "<tag>" if typ == "match" else (
                        _render(value, case, default_branch) if value else re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: "<tag>" if m.group(1) == "raw" else f"<{m.group(1)}>", pattern))
                    on = f"push of a {typ} git tag" if case.event == "tag" else f"{case.when} ({typ} tag)"
                    add(pre + rendered + suf, case, rule, on + ("" if enabled else f" and {attrs.get('enable')}"), wants_latest=True)
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
        name, tag = split_image(expand(ref, scope))
        tag = _sanitize_tag(tag) if tag else "latest"
        by_image.setdefault(name.lower(), []).append(TagPattern(tag, pattern_regex(tag), when, event, branch, ref))
    return by_image


def _meta_images(meta: Step, scope: _Scope) -> list[str]:
    """The images a metadata-action step names: one a line (`name=ghcr.io/acme/app,enable=true`, its attributes on
    the line), or names separated by commas; `enable=false` ones left out."""
    raw = meta.with_.get("images")
    lines = [str(v) for v in raw] if isinstance(raw, list) else str(raw or "").splitlines()
    out = []
    for line in (ln.strip() for ln in lines if ln.strip()):
        items = [_csv_attrs(line)] if "name=" in line else [{"name": n} for n in _split_list(line)]
        for attrs in items:
            if "name" not in attrs or attrs.get("enable", "true").strip().lower() == "false":
                continue
            out.append(expand(attrs["name"], scope).lower())
    return out


def _job_when(job: Job, step: Step | None) -> str:
    conds = [c for c in (job.if_, step.if_ if step else None) if c]
    return " and ".join(f"if: {strip_expr(c)}" for c in conds)


def built_images(wf: Workflow, repository: str | None = None, branch: str | None = None,
                 default_branch: str = "main") -> list[BuiltImage]:
    """Images built (and pushed) by the workflow, with the tag patterns each run produces.

    With `branch`, only the tags of a push to that branch; otherwise every run the triggers allow.
    """
    out: list[BuiltImage] = []
    cases = run_cases(wf, branch, default_branch)
    for job in wf.jobs.values():
        if job.uses and job.uses.action.lower().startswith(_GITHUB_BUILDER):
            job_cases = [c for c in cases if evaluate(job.if_, case_context(c, default_branch)) is not False]
            out += _from_github_builder(wf, job, repository, job_cases, default_branch)
            continue
        metas = {s.id: s for s in job.steps if s.id and s.uses and s.uses.action.lower() == "docker/metadata-action"}
        for step in job.steps:
            scope = _Scope(wf, job, step, repository)
            job_cases = [c for c in cases if evaluate(job.if_, case_context(c, default_branch)) is not False
                         and evaluate(step.if_, case_context(c, default_branch)) is not False]
            extra = _job_when(job, step)
            if step.uses and step.uses.action.lower() == "docker/build-push-action":
                out += _from_build_push(wf, job, step, scope, metas, job_cases, default_branch, extra)
            elif step.run:
                out += _from_run(wf, job, step, scope, job_cases, extra, _meta_before(job, step, metas),
                                 default_branch)
    return [leg for b in out for leg in _matrix_legs(b, wf)]


def matrix_values(job: Job, key: str) -> list[str]:
    """The scalar values a job's matrix gives `key` (its list, then `include` entries), in order, once each; [] when
    the matrix is an expression or names no such key."""
    matrix = job.matrix if isinstance(job.matrix, dict) else {}
    raw = matrix.get(key)
    values = [v for v in raw if isinstance(v, (str, int, float))] if isinstance(raw, list) else []
    values += [inc[key] for inc in matrix.get("include") or [] if isinstance(inc, dict)
               and isinstance(inc.get(key), (str, int, float))]
    return list(dict.fromkeys(str(v) for v in values))


def _matrix_legs(built: BuiltImage, wf: Workflow) -> list[BuiltImage]:
    """An image named through the matrix (`ghcr.io/${{ matrix.image }}`) is one image per value the job's matrix
    gives: `ghcr.io/acme/api` and `ghcr.io/acme/worker`. A name whose matrix key has no literal values stays a
    pattern."""
    m = _MATRIX_RE.search(built.name)
    job = wf.jobs.get(built.job)
    values = matrix_values(job, m.group(0)[len("<matrix."):-1]) if m and job else []
    if not values:
        return [built]
    legs = []
    for value in values[:50]:
        leg = copy.copy(built)
        leg.name = built.name.replace(m.group(0), value.lower())
        leg.tag_patterns = [_copy(p) for p in built.tag_patterns]
        legs += _matrix_legs(leg, wf)
    return legs


def _meta_before(job: Job, step: Step, metas: dict[str, Step]) -> Step | None:
    """The last metadata-action step of the job before `step`: the one whose outputs the action also writes to the
    environment (`$DOCKER_METADATA_OUTPUT_JSON`, `$DOCKER_METADATA_OUTPUT_TAGS`) that later run steps read."""
    found = None
    for s in job.steps:
        if s is step:
            return found
        if s.id in metas and metas[s.id] is s:
            found = s
    return found


# A run step that takes its tags from the metadata action's environment output: `imagetools create $(jq -cr
# '.tags | map("-t " + .) | join(" ")' <<< "$DOCKER_METADATA_OUTPUT_JSON") acme/app@sha256:…` (push by digest, then
# one manifest list under every tag the metadata step computed).
_META_ENV = re.compile(r"\$\{?DOCKER_METADATA_OUTPUT_(?:JSON|TAGS)\b")


def case_context(case: _Case, default_branch: str) -> Context:
    """The expression context of one run case (a tag push is a push with `<tag>` as its tag; a release runs on
    its tag)."""
    return Context(event="push" if case.event == "tag" else case.event, branch=case.branch,
                   default_branch=default_branch, tag="<tag>" if case.event in _ON_A_TAG else None)


_ON_A_TAG = ("tag", "release")  # the runs whose GITHUB_REF is refs/tags/<tag>


def _with_extra(patterns: list[TagPattern], extra: str) -> list[TagPattern]:
    if extra:
        for p in patterns:
            p.applies_when = f"{p.applies_when} and {extra}"
    return patterns


def _from_build_push(wf, job, step, scope, metas, cases, default_branch, extra) -> list[BuiltImage]:
    w = step.with_
    push_raw = w.get("push")
    push_text = as_str(push_raw) or "false"
    pushed, push_condition = push_text.strip().lower() == "true", None
    if EXPR_RE.search(push_text):
        pushed, push_condition = True, strip_expr(push_text)
    outputs = w.get("outputs")
    outputs = [str(o) for o in outputs] if isinstance(outputs, list) else str(outputs or "").splitlines()
    for output in outputs if not pushed else []:  # `type=image,push=${{ … }}`, one output a line
        attrs = _csv_attrs(output)
        push_attr = attrs.get("push", "")
        if attrs.get("type", attrs.get("value")) == "registry" or push_attr.strip().lower() == "true":
            pushed = True
        elif EXPR_RE.search(push_attr):
            pushed, push_condition = True, strip_expr(push_attr)
    platforms = _split_list(w.get("platforms"))
    context = expand(as_str(w.get("context")) or ".", scope)
    dockerfile = expand(as_str(w.get("file")), scope) if w.get("file") else None
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
        elif re.fullmatch(r"\$\{\{\s*env\.[\w-]+\s*\}\}", item):
            literal += _split_list(expand(item, scope))  # `tags: ${{ env.TAGS }}` holding a list
        else:
            literal.append(item)
    for case in cases or [_Case("any", None, "any run")]:
        for name, pats in _literal_tag_patterns(literal, scope, case.when, case.event, case.branch).items():
            images.setdefault(name, []).extend(_with_extra(pats, extra))
    target = str(w["target"]) if isinstance(w, dict) and w.get("target") else None
    return [BuiltImage(name, pats, context, dockerfile, pushed, job.id, loc, platforms, push_condition, "build-push-action",
                       step.label, target) for name, pats in images.items()]


# Docker's reusable workflows (`uses: docker/github-builder/.github/workflows/build.yml@v1`, `bake.yml`): the job's
# `with:` names the images (`meta-images`), their tags (`meta-tags`, `meta-flavor`: the metadata action's rules),
# the context and whether it pushes (`push`), as build-push-action's step would.
_GITHUB_BUILDER = "docker/github-builder/.github/workflows/"


def _from_github_builder(wf, job, repository, cases, default_branch) -> list[BuiltImage]:
    raw = ((wf.raw or {}).get("jobs") or {}).get(job.id) if isinstance(wf.raw, dict) else None
    w = raw.get("with") if isinstance(raw, dict) and isinstance(raw.get("with"), dict) else {}
    if not w.get("meta-images"):
        return []
    meta = Step(index=0, name=None, id=None, uses=None, run=None, line=job.line, if_=None, env={},
                with_={"images": w.get("meta-images"), "tags": w.get("meta-tags") or "", "flavor": w.get("meta-flavor")
                       or ""})
    scope = _Scope(wf, job, meta, repository)
    push_text = as_str(w.get("push")) or "false"
    pushed, push_condition = push_text.strip().lower() == "true", None
    if EXPR_RE.search(push_text):
        pushed, push_condition = True, strip_expr(push_text)
    if not str(w.get("meta-tags") or "").strip():
        patterns = [TagPattern("latest", pattern_regex("latest"), "any run", "any")]
    else:
        patterns = _metadata_tags(meta, scope, cases, default_branch)
    extra = _job_when(job, None)
    bake = "bake" in job.uses.action.lower()  # bake.yml: the bake file names contexts and targets, not `with:`
    context = "." if bake else expand(as_str(w.get("context")) or ".", scope)
    dockerfile = expand(as_str(w.get("file")), scope) if w.get("file") and not bake else None
    target = str(w["target"]) if w.get("target") and not bake else None
    return [BuiltImage(name, _with_extra([_copy(p) for p in patterns], extra), context, dockerfile, pushed, job.id,
                       wf.loc(job.line), _split_list(w.get("platforms")), push_condition, "github-builder",
                       job.uses.raw, target)
            for name in _meta_images(meta, scope)]


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
    out: list[tuple[int, str]] = []
    parts: list[str] = []  # joined once: `buf +=` is quadratic wherever CPython cannot extend in place
    start = 0
    for i, line in enumerate(script.splitlines()):
        stripped = line.strip()
        if not parts:
            start = i
            if stripped.startswith("#"):
                continue
        if stripped.endswith("\\"):
            parts.append(stripped[:-1] + " ")
            continue
        buf = "".join(parts) + stripped
        parts = []
        for part in re.split(r"&&|;|\|\|", buf):  # each part is stripped: no \s* around (quadratic on blanks)
            if part.strip():
                out.append((start, part.strip()))
    if "".join(parts).strip():
        out.append((start, "".join(parts).strip()))
    return out


_commands = shell_commands  # the old private name, still used by tools/checks/ci_checks.py


def _split_cmd(cmd: str) -> list[str]:
    try:
        return split_words(cmd, comments=True)  # linear: shlex is quadratic on a long quoted word
    except ValueError:
        return cmd.split()


def _patterns_by_image(tags: list[str], scope, cases, extra) -> dict[str, list[TagPattern]]:
    """Each image a `docker build -t` / `imagetools create --tag` list names, with the tag patterns of every run."""
    by_image: dict[str, list[TagPattern]] = {}
    for case in cases or [_Case("any", None, "any run")]:
        for name, pats in _literal_tag_patterns(tags, scope, case.when, case.event, case.branch).items():
            by_image.setdefault(name, []).extend(_with_extra(pats, extra))
    return by_image


def _from_run(wf, job, step, scope, cases, extra, meta: Step | None = None,
              default_branch: str = "main") -> list[BuiltImage]:
    script = expand(step.run or "", scope)
    env = {k: expand(str(v), scope) for k, v in scope.env().items()}  # `RELEASE_TAG: ${{ env.IMAGE }}:release`
    builds: list[BuiltImage] = []
    pushed_names: set[str] = set()
    base = step.run_line or step.line
    for offset, cmd in shell_commands(script):
        argv = _split_cmd(_shell_expand(cmd, env))
        if not argv or argv[0] != "docker":
            continue
        args = argv[1:]
        line = base + offset if base else None  # the command's line in the workflow file
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
            for name, pats in _patterns_by_image(tags, scope, cases, extra).items():
                builds.append(BuiltImage(name, pats, positional[-1] if positional else None, dockerfile, push, job.id,
                                         wf.loc(line), platforms, None, "run", step.label))
        elif args and args[0] == "tag" and len([a for a in args[1:] if not a.startswith("-")]) == 2:
            src, dst = [a for a in args[1:] if not a.startswith("-")]
            src_name = split_image(expand(src, scope))[0].lower()
            origin = next((b for b in builds if b.name == src_name), None)
            for name, pats in _literal_tag_patterns([dst], scope, "", "any", None).items():
                when_cases = cases or [_Case("any", None, "any run")]
                tag_pats = [TagPattern(p.pattern, p.regex, c.when, c.event, c.branch, cmd) for c in when_cases for p in pats]
                builds.append(BuiltImage(name, _with_extra(tag_pats, extra), origin.context if origin else None,
                                         origin.dockerfile if origin else None, False, job.id, wf.loc(line),
                                         origin.platforms if origin else [], None, "run", step.label))
        elif args[:3] == ["buildx", "imagetools", "create"]:
            # a multi-platform manifest made from images pushed before and pushed under each `--tag`
            tags, sources, i = [], [], 3
            while i < len(args):
                a = args[i]
                if a in ("-t", "--tag") and i + 1 < len(args):
                    tags.append(args[i + 1]); i += 2; continue
                if a.startswith("--tag="):
                    tags.append(a.split("=", 1)[1])
                elif a in ("-f", "--file", "--annotation", "--builder") and i + 1 < len(args):
                    i += 2; continue
                elif not a.startswith("-"):
                    sources.append(a)
                i += 1
            if "--dry-run" in args:
                continue
            if meta is not None and _META_ENV.search(cmd):
                meta_scope = _Scope(wf, job, meta, scope.repository)
                patterns = _metadata_tags(meta, meta_scope, cases, default_branch)
                for name in _meta_images(meta, meta_scope):
                    builds.append(BuiltImage(name, _with_extra([_copy(p) for p in patterns], extra), None, None, True,
                                             job.id, wf.loc(line), [], None, "run", step.label))
                continue
            origin = next((b for b in builds if sources and b.name == split_image(expand(sources[0], scope))[0].lower()),
                          None)
            for name, pats in _patterns_by_image(tags, scope, cases, extra).items():
                builds.append(BuiltImage(name, pats, origin.context if origin else None,
                                         origin.dockerfile if origin else None, True, job.id, wf.loc(line),
                                         origin.platforms if origin else [], None, "run", step.label))
        elif args[:2] == ["manifest", "create"] and len(args) > 2:
            # `docker manifest create acme/app:1.2 --amend acme/app:1.2-amd64 …` then `docker manifest push acme/app:1.2`
            target = next((a for a in args[2:] if not a.startswith("-")), None)
            for name, pats in _patterns_by_image([target] if target else [], scope, cases, extra).items():
                builds.append(BuiltImage(name, pats, None, None, False, job.id, wf.loc(line), [], None, "run",
                                         step.label))
        elif args[:2] == ["manifest", "push"] and [a for a in args[2:] if not a.startswith("-")]:
            name, _ = split_image([a for a in args[2:] if not a.startswith("-")][-1])
            pushed_names.add(name.lower())
        elif args and args[0] == "push" and [a for a in args[1:] if not a.startswith("-")]:
            name, _ = split_image([a for a in args[1:] if not a.startswith("-")][-1])
            pushed_names.add(name.lower())
    for b in builds:
        if b.name in pushed_names:
            b.pushed = True
    return builds
