"""A loaded source and where it came from."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# stale: loaded from the cache of an earlier live read (Notion did not answer); usable, and said so
# template: a compose file another tool renders or reads (Jinja, a project generator's `{{cookiecutter.x}}` folder,
# a catalogue under `templates/`): read, named by SRC012, never checked as a Compose project
STATUSES = ("ok", "stale", "missing", "optional-absent", "unreadable", "parse-error", "template")


@dataclass
class LoadedSource:
    kind: str
    path: str  # repo-relative posix; absolute only for files bound outside the repo (the rules file)
    status: str
    label: str = ""  # the charter bullet it answers
    priority: int | None = None
    optional: bool = False
    sha256: str | None = None
    size: int | None = None
    submodule: str | None = None
    commit: str | None = None
    dirty: bool | None = None
    message: str = ""
    line: int | None = None  # for parse errors
    column: int | None = None
    sections: list[str] = field(default_factory=list)  # rules: the sections cut
    text: str | None = field(default=None, repr=False)  # decoded content (the cut, for rules)
    data: Any = field(default=None, repr=False)  # parsed content (YAML, CSV rows)
    lines: dict | None = field(default=None, repr=False)  # YAML: the line of each key path, for findings
    # YAML read by a reader of its own (workflows: YAML 1.2 scalars, lines): the composed document, so that
    # the file is parsed once per review (None when empty or not YAML)
    node: Any = field(default=None, repr=False)
    fetched_at: str | None = None  # a source read from a service (Notion): when it was read
    origin: str | None = None  # a service's source: "notion" (live), "cache" or "export"

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown source status {self.status!r}")

    @property
    def ok(self) -> bool:
        """Loaded: its content is there (a stale one too: its status and fetch time say how old)."""
        return self.status in ("ok", "stale")

    @property
    def blocking(self) -> bool:
        """A required source that did not load: the charter says every listed source loads each session."""
        return not self.optional and not self.ok and self.status != "template"

    def to_dict(self) -> dict:
        return {
            "kind": self.kind, "path": self.path, "status": self.status, "label": self.label,
            "priority": self.priority, "optional": self.optional, "sha256": self.sha256,
            "size": self.size, "submodule": self.submodule, "commit": self.commit,
            "dirty": self.dirty, "message": self.message, "line": self.line, "column": self.column,
            "sections": self.sections, "fetched_at": self.fetched_at, "origin": self.origin,
        }
