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
        where = f"{', '.join(self.at)}: " if self.at else ""
        return f"{where}{check_id}{f' [{self.severity}]' if self.severity else ''} {self.title}"


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
    shown: tuple[str, ...] | None = None  # the files the catalogue page shows (default: those the findings name)
    env: dict[str, str] = field(default_factory=dict)  # variables the review runs with (a token's name, never a value)

    @property
    def ok(self) -> bool:
        return self.name.startswith("ok-")

    def files(self) -> list[str]:
        """The case's repository files, repo-relative and sorted (expected.yaml is not one of them, nor the bytecode
        Python leaves beside a case's `.py` when a test runs it)."""
        return sorted(p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*")
                      if p.is_file() and p != self.folder / EXPECTED and "__pycache__" not in p.parts)


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
                bool(data.get("cli")), list(data.get("setup") or []),
                tuple(data["shown"] or ()) if "shown" in data else None,
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


# -- the catalogue page: each check's first case ------------------------------------------------

_FENCE_LANG = {".yml": "yaml", ".yaml": "yaml", ".conf": "nginx", ".md": "markdown", ".sh": "sh", ".json": "json",
               ".tf": "hcl", ".hcl": "hcl", ".py": "python", ".csv": "csv"}


def _lang(rel: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    if name == "Dockerfile" or name.endswith(".Dockerfile") or name.startswith("Dockerfile."):
        return "dockerfile"
    if name == "Makefile":
        return "make"
    return next((lang for ext, lang in _FENCE_LANG.items() if name.endswith(ext)), "text")


def _fenced(text: str, lang: str) -> list[str]:
    fence = "````" if "```" in text else "```"
    return [f"{fence}{lang}", *text.rstrip("\n").split("\n"), fence]


def _shown(case: Case) -> list[str]:
    """The files a reader needs: those the case names (`shown`), else those its findings point at."""
    files = case.files()
    if case.shown is not None:
        return [f for f in case.shown if f in files]
    named = {at.split(":", 1)[0] for e in case.findings for at in e.at}
    return [f for f in files if f in named]


def _setup_text(case: Case) -> str:
    """The `setup:` block of the case's expected.yaml as written (its comments and block scalars kept)."""
    lines, inside = [], False
    for line in (case.folder / EXPECTED).read_text(encoding="utf-8").splitlines():
        if line.startswith("setup:"):
            inside = True
        elif inside and line[:1] not in ("", " ", "-", "#"):
            break
        if inside:
            lines.append(line)
    return "\n".join(lines)


def case_markdown(check_id: str, title: str, root: Path = CASES_DIR) -> list[str]:
    """A check's section of the catalogue page: its first case's files and expected output, its correct case."""
    found, ok = first_case(check_id, root)
    out = [f"### {check_id}: {title}", ""]
    if found is None:
        return out + ["No case yet.", ""]
    folder = f"tests/checks/{check_id}/{found.name}/"
    out += [f"Case `{folder}`" + (f" (it fails until the check is fixed: {found.xfail})" if found.xfail else "") + ":", ""]
    shown = _shown(found)
    for rel in shown:
        out += [f"`{rel}`", "", *_fenced((found.folder / rel).read_text(encoding="utf-8"), _lang(rel)), ""]
    others = [f for f in found.files() if f not in shown]
    if others:
        out += ["Other files: " + ", ".join(f"`{f}`" for f in others) + ".", ""]
    if found.requires:
        out += ["Needs " + ", ".join(f"`{b}`" for b in found.requires) + " (the case is skipped without it).", ""]
    if found.env:
        out += ["Reviewed with " + ", ".join(f"`{k}={v}`" for k, v in found.env.items()) + " in the environment.", ""]
    if found.setup:
        out += ["Then, in the repository (`setup:` of its expected.yaml):", "", *_fenced(_setup_text(found), "yaml"), ""]
    out += ["Expected:", "", *_fenced("\n".join(e.line(check_id) for e in found.findings), "text"), ""]
    if ok is not None:
        out += [f"Correct: `tests/checks/{check_id}/{ok.name}/` leaves {check_id} silent.", ""]
    return out


def catalogue_cases_markdown(checks: list[tuple[str, str]], root: Path = CASES_DIR) -> list[str]:
    """The page's cases section for (id, title) pairs; nothing when the cases are not shipped (an installed wheel)."""
    if not root.is_dir():
        return []
    out = ["## Cases", "",
           "Each check's first case, from `tests/checks/<ID>/` (a small repository: its files, and `expected.yaml` "
           "with the findings of that id). `tests/checks/test_cases.py` reviews every case and compares exactly; "
           "an `ok-*` case must leave its check silent.", ""]
    for check_id, title in checks:
        out += case_markdown(check_id, title, root)
    return out
