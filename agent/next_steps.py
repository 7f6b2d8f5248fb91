"""What to run next: the commands that fix or propose what a session's findings ask for.

A rule of the session, not of a front end: `review` (text, markdown, json) and any other front end
print the same list (`Session.next_steps`)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agent.core import hints
from agent.core.text import shorten

if TYPE_CHECKING:
    from agent.session import Session


@dataclass
class NextStep:
    """What to run next, what it fixes or proposes, and the findings it answers."""

    command: str  # a shell line; "" when the step is Product's, outside this tool
    what: str
    findings: list[str] = field(default_factory=list)  # finding ids, in the order seen, repeats kept
    severity: str = "info"  # the worst of its findings, for the order

    def ids(self) -> str:
        counts: dict[str, int] = {}
        for fid in self.findings:
            counts[fid] = counts.get(fid, 0) + 1
        return ", ".join(f"{fid} ×{n}" if n > 1 else fid for fid, n in counts.items())


_SERVICE_OF_TITLE = re.compile(r"^[\w.-]+: (?P<service>[\w.-]+) ")
# A check whose next step is another command than the one its text names.
_STEP_OF_CHECK = {
    "GATE001": (hints.verify(), "lists each infra commit no Product signer signed: revert it and propose it "
                f"again (`devops-agent propose`), or Product accepts it (`{hints.accept()}`)"),
    "GATE003": ("git fetch --unshallow", f"fetches the whole history, then `{hints.verify('SHA')}` checks it"),
}
# Compose checks whose fix is one known value under the service: key path, value.
_COMPOSE_SET = {"CMP011": ("restart", "unless-stopped")}


def is_repo_path(path: str) -> bool:
    """A path inside the repo (not an outside file, a placeholder or a Notion page)."""
    return not (path.startswith(("/", "<", "notion:")) or ".." in path.split("/"))


def next_steps(session: Session) -> list[NextStep]:
    """The commands that fix or propose what the findings ask for, worst first: a command a check names
    (`git submodule update --init X`, `devops-agent product-key init`), a proposal through the gate for a
    finding in a repo file, `devops-agent verify` for unsigned commits; Product's own steps last."""
    from tools.findings import SEVERITIES

    kinds = {s.path: s.kind for s in session.sources}
    # The config steers the gate: no proposal edits it (the policy refuses), the team does, signed by Product.
    own = {".devops-agent.yaml", ".devops-agent.yml"}
    steps: dict[str, NextStep] = {}
    answered: dict[str, list] = {}  # step key -> the findings it answers (each finding once: linear in findings)
    missing: list = []

    def add(key: str, command: str, what: str, f) -> None:
        step = steps.setdefault(key, NextStep(command, what, severity=f.severity))
        step.findings.append(f.id)
        answered.setdefault(key, []).append(f)
        if SEVERITIES.index(f.severity) < SEVERITIES.index(step.severity):
            step.severity = f.severity

    for f in session.findings:
        if f.id in _STEP_OF_CHECK:
            command, what = _STEP_OF_CHECK[f.id]
            add(command, command, what, f)
        elif f.command:  # built and quoted once by agent/core/hints.py; never lifted out of the prose
            add(f.command, f.command, shorten(f.detail if f.command in f.detail else f.remediation, 200), f)
        elif f.severity == "info":
            continue  # nothing to do, said for the record
        elif f.id == "SRC001":
            missing.append(f)
        elif (where := next((l.path for l in f.locations if is_repo_path(l.path)
                             and kinds.get(l.path) != "notion" and l.path not in own), None)):
            add(f"propose {where}", "", where, f)
        else:
            add(f"product {f.id}", "", shorten(f.remediation, 200), f)
    if missing:
        init = session.charter_origin == "generic" and _has_command("init")
        command = "devops-agent init" if init else "devops-agent sources"
        what = ("writes a charter and .devops-agent.yaml with only the sources this repo has" if init
                else f"shows each of the {len(missing)} missing source(s) and how to load it")
        for f in missing:
            add(command, command, what, f)
    for key, step in steps.items():
        if key.startswith("propose "):
            step.command, step.what = _propose(session, step.what, answered[key])
    # Worst first; at one severity a command a check names (it may let more checks run) before a proposal.
    order = sorted(steps.values(), key=lambda s: (not s.command, SEVERITIES.index(s.severity),
                                                  s.command.startswith("devops-agent propose")))
    return [with_repo(session, s) for s in _not_run_steps(session) + order]


def _not_run_steps(session: Session) -> list[NextStep]:
    """First, when a part of the review could not run (the verdict is CANNOT-TELL): make it run, review again."""
    if not session.not_run:
        return []
    what = "; ".join(f"{gap.what}: {gap.reason}" for gap in session.not_run)
    return [NextStep("devops-agent review", shorten(f"could not check {what}; make it run (install or fix what is "
                                                    "named), then review again", 300),
                     [gap.check for gap in session.not_run], "info")]


def _propose(session: Session, path: str, findings: list) -> tuple[str, str]:
    """The propose line for a fix in `path`: a concrete --set when the check's fix is one known value."""
    for f in findings:
        m = _SERVICE_OF_TITLE.match(f.title) if f.id in _COMPOSE_SET else None
        if m and any(l.path == path for l in f.locations):
            key, value = _COMPOSE_SET[f.id]
            return (hints.propose_set(f"{path}:services.{m.group(1)}.{key}={value}"),
                    f"{path}: propose the fixes through the gate")
    if path.endswith((".yml", ".yaml")):
        return hints.propose_set(path + ":KEY.PATH=VALUE"), f"{path}: propose the fixes through the gate"
    return hints.propose_patch(), f"{path}: propose the fix through the gate"


def _has_command(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(f"agent.commands.{name}") is not None


def with_repo(session: Session, step: NextStep) -> NextStep:
    """The command as it runs from anywhere: with --repo (or git -C) when the review was not run from the root."""
    from shlex import quote

    if not step.command or session.snapshot is not None or Path.cwd().resolve() == session.root:
        return step
    root = quote(str(session.root))
    if step.command.startswith("devops-agent "):
        step.command += f" --repo {root}"
    elif step.command.startswith("git "):
        step.command = f"git -C {root} " + step.command[4:]
    return step

