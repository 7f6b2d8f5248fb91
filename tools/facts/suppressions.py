"""How a file says "accept this finding": our inline comment, hadolint's pragma and hadolint's config, and which
of our checks states the same fact as another linter's rule (one table, read by the checks and the suppressions).

Everything here reads text it is given; nothing opens a file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Another linter's rule -> our check that reports the same fact at the same line: its own result is not repeated
# (DKF007, CI005 skip it) and its ignore pragma silences ours too.
SAME_AS_OURS: dict[str, dict[str, str]] = {
    "hadolint": {"DL3006": "DKF002", "DL3007": "DKF002", "DL3002": "DKF003"},
    "zizmor": {"unpinned-uses": "CI005"},
}

# `# devops-agent: ignore[DKF002] reason`, `# devops-agent: ignore[DKF002, CMP010] reason` (any comment
# character nginx, YAML and Dockerfiles use: `#`).
_OURS = re.compile(r"#\s*devops-agent:\s*ignore\[([^\]]*)\][ \t]*(.*)$")
# hadolint's own pragma, exactly as hadolint 2.x honours it: `# hadolint ignore=DL3007,DL3008` alone on its line,
# or followed by a second comment (`# hadolint ignore=DL3007  # reason`); any other text after the rule list makes
# hadolint ignore the pragma, so it silences nothing here either. `global` applies to the whole file.
_HADOLINT = re.compile(r"^\s*#\s*hadolint\s+(global\s+)?ignore=([A-Za-z0-9]+(?:\s*,\s*[A-Za-z0-9]+)*)\s*"
                       r"(?:#\s*(.*?))?\s*$")
_CHECK_ID = re.compile(r"^[A-Z]{2,5}[0-9]{3}$")
# What a rule is in hadolint's config: `ignored:` then `- DL3007  # why` items.
_HADOLINT_IGNORED = re.compile(r"^ignored\s*:\s*(\[.*\])?\s*(?:#.*)?$")
_HADOLINT_ITEM = re.compile(r"^\s+-\s*['\"]?([A-Za-z0-9]+)['\"]?\s*(?:#\s*(.*?))?\s*$")


@dataclass(frozen=True)
class InlineIgnore:
    """One suppression comment: the ids of our checks it silences, on which lines, and the reason it gives."""

    path: str
    line: int  # the comment's own line
    ids: tuple[str, ...]  # our check ids (a hadolint rule already mapped through SAME_AS_OURS)
    reason: str
    syntax: str  # "devops-agent" | "hadolint"
    written: str  # the comment as written (stripped), for the brief
    whole_file: bool = False  # hadolint's `global ignore=`
    unknown: tuple[str, ...] = ()  # what it names that is no check id

    def covers(self, line: int | None) -> bool:
        """Our comment silences its own line and the next one (hadolint's rule); hadolint's only the next."""
        if self.whole_file:
            return True
        if line is None:
            return False
        return line == self.line + 1 or (self.syntax == "devops-agent" and line == self.line)


def inline_ignores(path: str, text: str | None) -> list[InlineIgnore]:
    """Every suppression comment of a compose file, Dockerfile, workflow or nginx file, in order."""
    if not text or ("devops-agent:" not in text and "hadolint" not in text):
        return []
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if "devops-agent:" in line:
            m = _OURS.search(line)
            if m:
                named = tuple(p.strip() for p in m.group(1).split(",") if p.strip())
                ids = tuple(n for n in named if _CHECK_ID.match(n))
                out.append(InlineIgnore(path, number, ids, m.group(2).strip(), "devops-agent", line.strip(),
                                        unknown=tuple(n for n in named if n not in ids)))
                continue
        if "hadolint" in line:
            m = _HADOLINT.match(line)
            if m:
                rules = [r.strip() for r in m.group(2).split(",")]
                ids = tuple(dict.fromkeys(SAME_AS_OURS["hadolint"][r] for r in rules if r in SAME_AS_OURS["hadolint"]))
                if ids:
                    out.append(InlineIgnore(path, number, ids, (m.group(3) or "").strip(), "hadolint", line.strip(),
                                            whole_file=bool(m.group(1))))
    return out


@dataclass(frozen=True)
class ConfigIgnore:
    """A rule hadolint's config (`.hadolint.yaml`) ignores that one of our checks states too."""

    rule: str  # hadolint's rule, DL3007
    check: str  # ours, DKF002
    line: int
    reason: str  # the YAML comment on the item's line


def hadolint_config_ignores(text: str | None) -> list[ConfigIgnore]:
    """The `ignored:` rules of a hadolint config that map to one of our checks, with their line and the comment
    beside each (`- DL3007  # pinned by digest at deploy`). Read by lines: a YAML comment is the reason."""
    out: list[ConfigIgnore] = []
    inside = False
    for number, line in enumerate((text or "").splitlines(), 1):
        head = _HADOLINT_IGNORED.match(line)
        if head:
            inside = head.group(1) is None
            if head.group(1):  # the flow form `ignored: [DL3007, DL3008]`: one comment for the whole line
                reason = line.split("#", 1)[1].strip() if "#" in line.split("]", 1)[-1] else ""
                for rule in re.findall(r"[A-Za-z0-9]+", head.group(1)):
                    if rule in SAME_AS_OURS["hadolint"]:
                        out.append(ConfigIgnore(rule, SAME_AS_OURS["hadolint"][rule], number, reason))
            continue
        if inside:
            item = _HADOLINT_ITEM.match(line)
            if item:
                if item.group(1) in SAME_AS_OURS["hadolint"]:
                    out.append(ConfigIgnore(item.group(1), SAME_AS_OURS["hadolint"][item.group(1)], number,
                                            (item.group(2) or "").strip()))
            elif line.strip() and not line.lstrip().startswith("#"):
                inside = False
    return out


# Files that decide what the review accepts: the gate counts a change to one as an infra change (tools/facts/paths).
HADOLINT_CONFIGS = (".hadolint.yaml", ".hadolint.yml")
BASELINE_SUFFIX = "devops-agent-baseline.json"


def is_suppression_file(path: str) -> bool:
    """hadolint's config, or a review baseline (`devops-agent-baseline.json`, `.devops-agent-baseline.json`, …)."""
    name = path.rsplit("/", 1)[-1]
    return name in HADOLINT_CONFIGS or name.endswith(BASELINE_SUFFIX)
