"""What a check reports: a Finding with its id, severity, category, charter clause and locations."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

SEVERITIES = ("blocker", "high", "medium", "low", "info")
# The review's verdict. CANNOT-TELL: something the review needed could not run (a check raised, Compose's
# model was not computed, a tool was missing or timed out), so a GO cannot be given; a blocker found
# still makes it NO-GO.
GO, NO_GO, CANNOT_TELL = "GO", "NO-GO", "CANNOT-TELL"
VERDICTS = (GO, NO_GO, CANNOT_TELL)
# The exit code of `review` and `release check` for each verdict (2 stays a usage or input error).
VERDICT_EXIT_CODES = {GO: 0, NO_GO: 1, CANNOT_TELL: 3}


def verdict_of(blocked: bool, not_run: bool) -> str:
    """NO-GO when a blocker stands (found is found), else CANNOT-TELL when a part could not run, else GO."""
    return NO_GO if blocked else CANNOT_TELL if not_run else GO


CATEGORIES = (
    "availability",
    "security",
    "infra-regression",
    "reproducibility",
    "consistency",
    "charter",
)


@dataclass(frozen=True)
class Location:
    path: str  # repo-relative, posix
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass
class Finding:
    id: str
    severity: str
    category: str
    title: str
    locations: list[Location] = field(default_factory=list)
    clause: str = ""
    remediation: str = ""
    detail: str = ""
    # The shell line that fixes it, built and quoted once by agent/core/hints.py; next steps print it as is and
    # never lift a command out of the prose (a path from a file could carry `$(…)`).
    command: str = ""
    # What the finding is about (a service, a key path, an image, a rule of a linter), stable when lines move:
    # what its fingerprint rests on. Empty: the title without its line and column numbers.
    subject: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}")

    def to_dict(self) -> dict:
        """Every field, in order (what `asdict` gives, without its deep copy: `history` writes thousands)."""
        return {"id": self.id, "severity": self.severity, "category": self.category, "title": self.title,
                "locations": [{"path": loc.path, "line": loc.line} for loc in self.locations],
                "clause": self.clause, "remediation": self.remediation, "detail": self.detail,
                "command": self.command, "subject": self.subject}

    def about(self) -> str:
        """What the finding is about, without a line number: its subject, else its title without line refs."""
        return self.subject or _LINE_REFS.sub(lambda m: m.group("file") or "", self.title)

    def fingerprint(self) -> str:
        """The finding's identity across runs: its check, the files it is in and what it is about; never its
        lines, its detail or its wording of counts, so a line added above it keeps it (code scanning's alert
        and its triage stay). See `fingerprints` for findings that share one."""
        paths = "\n".join(sorted({loc.path for loc in self.locations}))
        # a file name that is not UTF-8 (kept by surrogateescape) is hashed as its bytes
        return hashlib.sha256(f"{self.id}\n{paths}\n{self.about()}".encode("utf-8", "surrogateescape")).hexdigest()

    def sort_key(self) -> tuple:
        first = self.locations[0] if self.locations else Location("")
        return (SEVERITIES.index(self.severity), self.id, first.path, first.line or 0)


# `file.yml:12`, `Dockerfile:3:5`, `line 12`, `lines 3-5`, `column 7`: where in a file, which a line added above
# moves (an image's `nginx:1.27` or a port's `8000:8000` is what a finding is about, and stays).
_LINE_REFS = re.compile(r"(?P<file>[\w./-]*(?:\.(?:ya?ml|json|conf|md|csv|toml|ini|cfg|env|sh|txt|j2|tpl|py|js|ts)"
                        r"|Dockerfile[\w.-]*|Makefile|Containerfile[\w.-]*)):\d+(?::\d+)?\b"
                        r"|\b(?:lines?|col(?:umn)?)\s+\d+(?:\s*[-–]\s*\d+)?", re.I)


def fingerprints(findings: list[Finding]) -> list[str]:
    """Each finding's fingerprint, in order; the second finding with the same one (the same hadolint rule on
    two lines of one Dockerfile) gets `:2`, and so on, in the order the findings come (by file and line)."""
    seen: dict[str, int] = {}
    out = []
    for f in findings:
        fp = f.fingerprint()
        seen[fp] = seen.get(fp, 0) + 1
        out.append(fp if seen[fp] == 1 else f"{fp}:{seen[fp]}")
    return out
