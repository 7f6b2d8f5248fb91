"""The workflow model: triggers, jobs, steps, and the facts read from them (images, deploys, secrets, branches)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yaml.nodes import Node

from tools.findings import Location


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
    matrix: Any = None  # `strategy.matrix` as written (a dict of lists and `include`, or an expression)


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
