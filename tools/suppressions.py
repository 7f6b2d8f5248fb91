"""Accepted findings: which suppression applies to which finding (inline comments, hadolint's pragma and config,
the config's `ignore:` entries, a baseline). A suppressed finding is moved aside with what suppressed it, and
every report lists it: never dropped, never silent. The grammar of the comments lives in tools/facts/suppressions.
"""
from __future__ import annotations

import datetime
import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from agent.core.errors import UserError
from tools.facts.suppressions import ConfigIgnore, InlineIgnore, hadolint_config_ignores, inline_ignores
from tools.findings import Finding

# The sources whose comments may accept a finding (docs/config.md): compose files, Dockerfiles, workflows, nginx.
COMMENTED_KINDS = ("compose", "dockerfile", "ci_workflow", "nginx")
# What no suppression accepts: a suppression's own problem.
NEVER_SUPPRESSED = ("SUP001",)
MAX_HADOLINT_CONFIG = 64 * 1024


@dataclass
class Suppression:
    """A finding that stands but is accepted, and by what: SARIF's `suppressions` (kind inSource or external)."""

    finding: Finding
    kind: str  # "inSource" (a comment in the file) | "external" (a config, a baseline)
    by: str  # "comment", "hadolint pragma", "hadolint config", "config ignore", "baseline"
    where: str  # path:line of the comment or the entry, or the baseline file
    reason: str  # "" when none was given (then SUP001 reports it)
    expires: str | None = None

    @property
    def justification(self) -> str:
        said = self.reason or "no reason given"
        return f"{said} ({self.by}, {self.where}" + (f", until {self.expires})" if self.expires else ")")

    def sarif(self) -> dict:
        """SARIF's suppression object (§3.35)."""
        return {"kind": self.kind, "status": "accepted", "justification": self.justification}

    def to_dict(self) -> dict:
        return {"kind": self.kind, "by": self.by, "where": self.where, "reason": self.reason,
                "expires": self.expires, "justification": self.justification}


@dataclass
class SuppressionInputs:
    """What may accept a finding in this review: the sources' comments, hadolint's configs, the config's entries."""

    comments: dict[str, list[InlineIgnore]]
    hadolint: dict[str, tuple[str, list[ConfigIgnore]]]  # Dockerfile -> (its hadolint config, the rules ours state)
    ignore: list  # agent.core.config.IgnoreEntry
    config_name: str = ".devops-agent.yaml"
    config_path: Path | None = None


def gather(root: Path, sources: list, dockerfiles: Iterable[str], submodules, ignore: list,
           config_path: Path | None) -> SuppressionInputs:
    name = ".devops-agent.yaml"
    if config_path is not None:
        try:
            name = Path(config_path).resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            name = str(config_path)
    return SuppressionInputs(suppression_comments(sources), hadolint_ignores(root, dockerfiles, submodules),
                             list(ignore), name, config_path)


def accept(findings: list[Finding], inputs: SuppressionInputs, known: Iterable[str], today: datetime.date
           ) -> tuple[list[Finding], list[Suppression], list[str]]:
    """`apply` over a review's inputs, plus a note for each comment naming what is no check."""
    kept, suppressed, notes = apply(findings, inputs.comments, inputs.hadolint, inputs.ignore, today,
                                    inputs.config_name)
    ids = set(known)
    for path, comments in sorted(inputs.comments.items()):
        for c in comments:
            wrong = [*c.unknown, *(i for i in c.ids if i not in ids)]
            if wrong:
                notes.append(f"{path}:{c.line}: `{c.written}` names {', '.join(wrong)}, which is no check id "
                             "(`devops-agent checks` lists them): it accepts nothing")
    ids_known = ids
    for i, entry in enumerate(inputs.ignore):
        if entry.id not in ids_known:
            notes.append(f"{inputs.config_name} ignore[{i}] names {entry.id}, which is no check id: it accepts nothing")
    return kept, suppressed, notes


def suppression_comments(sources: Iterable) -> dict[str, list[InlineIgnore]]:
    """Each commented source's suppression comments, by path (loaded text only: what the review checked)."""
    out: dict[str, list[InlineIgnore]] = {}
    for src in sources:
        if src.kind in COMMENTED_KINDS and src.ok and src.text:
            found = inline_ignores(src.path, src.text)
            if found:
                out.setdefault(src.path, []).extend(found)
    return out


def hadolint_ignores(root: Path, dockerfiles: Iterable[str], submodules=()) -> dict[str, tuple[str, list[ConfigIgnore]]]:
    """For each Dockerfile, the hadolint config that applies to it (the same one hadolint ran with) and the rules
    it ignores that our checks state too."""
    from tools.dockerfile import hadolint_config

    out: dict[str, tuple[str, list[ConfigIgnore]]] = {}
    read: dict[str, list[ConfigIgnore]] = {}
    for rel in dockerfiles:
        config = hadolint_config(root, rel, submodules)
        if config is None:
            continue
        if config not in read:
            try:
                full = Path(root) / config
                text = full.read_text(encoding="utf-8") if full.stat().st_size <= MAX_HADOLINT_CONFIG else ""
            except (OSError, UnicodeDecodeError):
                text = ""
            read[config] = hadolint_config_ignores(text)
        if read[config]:
            out[rel] = (config, read[config])
    return out


def apply(findings: list[Finding], comments: dict[str, list[InlineIgnore]],
          hadolint: dict[str, tuple[str, list[ConfigIgnore]]], ignore: list, today: datetime.date,
          config_name: str = ".devops-agent.yaml") -> tuple[list[Finding], list[Suppression], list[str]]:
    """(the findings that stand, the suppressed ones with what suppressed each, notes). An entry of the config
    past its `expires:` date applies no more: its findings come back and a note says so."""
    kept: list[Finding] = []
    suppressed: list[Suppression] = []
    notes: list[str] = []
    live = []
    for i, entry in enumerate(ignore):
        where = f"{config_name} ignore[{i}]"
        if entry.expired(today):
            notes.append(f"{where} ({entry.id} {entry.path}) expired on {entry.expires.isoformat()}: "
                         f"its findings are reported again; renew it with a reason, or fix them")
        else:
            live.append((where, entry))
    used: set[str] = set()
    for f in findings:
        hit = None if f.id in NEVER_SUPPRESSED else _match(f, comments, hadolint, live)
        if hit is None:
            kept.append(f)
            continue
        suppressed.append(hit)
        used.add(hit.where)
    for where, entry in live:
        if where not in used:
            notes.append(f"{where} ({entry.id} {entry.path}) accepts no finding of this review: remove it "
                         "if what it accepted is fixed")
    return kept, suppressed, notes


def _match(f: Finding, comments, hadolint, live) -> Suppression | None:
    for loc in f.locations:
        for c in comments.get(loc.path, ()):
            if f.id in c.ids and c.covers(loc.line):
                by = "comment" if c.syntax == "devops-agent" else "hadolint pragma"
                return Suppression(f, "inSource", by, f"{c.path}:{c.line}", c.reason)
        config, rules = hadolint.get(loc.path, (None, []))
        rule = next((r for r in rules if r.check == f.id), None)
        if rule is not None:
            return Suppression(f, "external", f"hadolint config ignores {rule.rule}", f"{config}:{rule.line}",
                               rule.reason)
    for where, entry in live:
        if entry.id == f.id and any(fnmatch.fnmatchcase(loc.path, entry.path) for loc in f.locations or [_NOWHERE]):
            return Suppression(f, "external", "config ignore", where, entry.reason,
                               entry.expires.isoformat() if entry.expires else None)
    return None


class _Nowhere:  # a finding with no file is matched by an entry whose path is `*`
    path = ""


_NOWHERE = _Nowhere()


# -- the baseline: what a team accepted once, by fingerprint ---------------------------------------------------

BASELINE_VERSION = 1


def write_baseline(path: Path, findings: list[Finding], fps: dict[int, str], today: datetime.date) -> None:
    """Every finding of this review a baseline may accept, by fingerprint (`fps`: id(finding) -> fingerprint,
    Session.fingerprints), with its id, first place and title for a reader."""
    entries = sorted(({"fingerprint": fps[id(f)], "id": f.id, "path": f.locations[0].path if f.locations else None,
                       "title": f.title} for f in findings if f.id not in NEVER_SUPPRESSED),
                     key=lambda e: (e["id"], e["path"] or "", e["fingerprint"]))
    data = {"version": BASELINE_VERSION, "tool": "devops-agent", "written": today.isoformat(), "findings": entries}
    try:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise UserError(f"baseline {path} cannot be written: {exc.strerror or exc}",
                        "pass a --baseline path in a folder you can write") from None


def read_baseline(path: Path) -> set[str]:
    """The fingerprints a baseline accepts; a file that is not one is an error (one line), never an empty set."""
    try:
        if path.stat().st_size > 16 * 1024 * 1024:
            raise UserError(f"baseline {path} is over 16 MiB", "check that --baseline names the right file")
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"baseline {path} cannot be read: {exc.strerror or exc}", "check its permissions") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"baseline {path} is not JSON ({exc})",
                        "write it again with `devops-agent review --baseline FILE --write-baseline`") from None
    entries = data.get("findings") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("version") != BASELINE_VERSION or not isinstance(entries, list) or \
            not all(isinstance(e, dict) and isinstance(e.get("fingerprint"), str) for e in entries):
        raise UserError(f"baseline {path} is not a devops-agent baseline of version {BASELINE_VERSION}",
                        "write it again with `devops-agent review --baseline FILE --write-baseline`")
    return {e["fingerprint"] for e in entries}


def apply_baseline(findings: list[Finding], fps: dict[int, str], accepted: set[str], where: str
                   ) -> tuple[list[Finding], list[Suppression]]:
    """The findings not in the baseline (new), and the baselined ones as suppressions."""
    kept, suppressed = [], []
    for f in findings:
        if f.id not in NEVER_SUPPRESSED and fps[id(f)] in accepted:
            suppressed.append(Suppression(f, "external", "baseline", where, "accepted when the baseline was written"))
        else:
            kept.append(f)
    return kept, suppressed
