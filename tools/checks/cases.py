"""The golden cases of each check, read from `tests/checks/<ID>/<case>/` (a small repository tree and its
`expected.yaml`): one reader for the test runner and for the catalogue page, so the page shows the cases
the tests run. Cases whose name starts with `ok-` must leave their check silent."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

CASES_DIR = Path(__file__).resolve().parent.parent.parent / "tests" / "checks"
EXPECTED = "expected.yaml"


@dataclass(frozen=True)
class Expected:
    """One finding a case must produce: its locations (`path:line`, or `path`), title and, when it matters, severity."""

    at: tuple[str, ...]
    title: str
    severity: str | None = None

    def line(self, check_id: str) -> str:
        where = ", ".join(self.at) or "(no location)"
        return f"{where}: {check_id}{f' [{self.severity}]' if self.severity else ''} {self.title}"


@dataclass
class Case:
    check_id: str
    name: str
    folder: Path
    findings: list[Expected] = field(default_factory=list)
    xfail: str | None = None  # a check still being fixed: the reason, removed once it passes
    requires: tuple[str, ...] = ()  # binaries the check needs (skipped without them, with the reason)
    cli: bool = False  # run through `devops-agent review --format json` rather than in process
    setup: list[dict] = field(default_factory=list)  # git steps after the first commit (see tests/checks)
    shown: tuple[str, ...] = ()  # the files the catalogue page shows (default: every file)
    env: dict[str, str] = field(default_factory=dict)  # variables the review runs with (a token's name, never a value)

    @property
    def ok(self) -> bool:
        return self.name.startswith("ok-")

    def files(self) -> list[str]:
        """The case's repository files, repo-relative and sorted (expected.yaml is not one of them)."""
        return sorted(p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*")
                      if p.is_file() and p != self.folder / EXPECTED)


def _at(value) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def load_case(check_id: str, folder: Path) -> Case:
    import yaml

    data = yaml.safe_load((folder / EXPECTED).read_text(encoding="utf-8")) or {}
    unknown = set(data) - {"findings", "xfail", "requires", "cli", "setup", "shown", "env"}
    if unknown:
        raise ValueError(f"{folder / EXPECTED}: unknown keys {sorted(unknown)}")
    expected = [Expected(_at(f.get("at")), str(f["title"]), f.get("severity")) for f in data.get("findings") or []]
    return Case(check_id, folder.name, folder, expected, data.get("xfail"), tuple(data.get("requires") or ()),
                bool(data.get("cli")), list(data.get("setup") or []), tuple(data.get("shown") or ()),
                {str(k): str(v) for k, v in (data.get("env") or {}).items()})


def cases(check_id: str | None = None, root: Path = CASES_DIR) -> list[Case]:
    """Every case (of one check), sorted by check id then name; none when the tests are not shipped."""
    if not root.is_dir():
        return []
    out = []
    for id_dir in sorted(p for p in root.iterdir() if p.is_dir() and (check_id is None or p.name == check_id)):
        for folder in sorted(p for p in id_dir.iterdir() if (p / EXPECTED).is_file()):
            out.append(load_case(id_dir.name, folder))
    return out


def first_case(check_id: str, root: Path = CASES_DIR) -> tuple[Case | None, Case | None]:
    """The check's first case that finds something, and its first correct case."""
    found = cases(check_id, root)
    return (next((c for c in found if not c.ok), None), next((c for c in found if c.ok), None))
