"""Release / Intention from a Notion "Markdown & CSV" export folder.

Notion writes each database as `<Name> <hash>.csv` (UTF-8 with BOM) and
relations as `Title (https://www.notion.so/...)` items separated by ", ".
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from agent.core.charter import fold
from agent.core.errors import UserError

CURRENT_STATUSES = {"en cours", "in progress", "current", "active", "en developpement"}
VALIDATED_STATUSES = {"validee", "valide", "validated", "approved", "approuvee", "done", "livree"}
# A relation item is `Title (https://…)` followed by `,` or the end; found by scanning, never by a regex with
# a lazy title (`\s*(.+?)\s*\(` backtracked over every blank run: 9 s for a 4.5 KB cell of spaces).
_URL_OPEN = re.compile(r"\(https?://")
_ITEM_END = re.compile(r"\s*+(?:,|$)")


class ExportError(UserError):
    """The export cannot be read as Release/Intention databases."""


@dataclass
class Intention:
    id: str
    name: str
    status: str
    validated: bool
    release: str | None
    fields: dict[str, str] = field(default_factory=dict)
    # where it was read from: "notion" (live), "cache" (a stale copy of a live read), "export" (a folder
    # on disk, which anyone with a shell can edit); what Product sees says which
    origin: str = "export"
    url: str | None = None
    last_edited: str | None = None
    last_edited_by: str | None = None
    sha256: str | None = None  # of what was read of this intention (live reads)
    endpoint: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Release:
    name: str
    version: str | None
    status: str
    target_date: str | None
    current: bool
    intentions: list[Intention] = field(default_factory=list)
    origin: str = "export"
    url: str | None = None
    last_edited: str | None = None
    fetched_at: str | None = None  # a live or cached read: when Notion was read
    endpoint: str | None = None  # a live read from another API root than Notion's (notion.base_url)

    def where(self) -> str:
        """Where this was read from, as Product and the model are told."""
        via = f" through {self.endpoint} (notion.base_url, not api.notion.com)" if self.endpoint else ""
        if self.origin == "notion":
            return f"live from Notion{via} at {self.fetched_at}"
        if self.origin == "cache":
            return f"from the cache of a Notion read{via} at {self.fetched_at} (stale: Notion did not answer)"
        return "from a Notion export on disk (editable by anyone with a shell here)"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["tag"] = self.version
        data["read"] = self.where()
        data["intentions"] = [i.to_dict() for i in self.intentions]
        return data


def database_files(export_dir: Path, name: str) -> list[Path]:
    """`<name> <hash>.csv` (Notion's file name), never the `_all` duplicate Notion also writes."""
    want = fold(name)
    out = []
    for path in sorted(export_dir.glob("*.csv")):
        stem = fold(path.stem)
        if stem.endswith("_all"):
            continue
        base = re.sub(r"\s+[0-9a-f]{8,32}$", "", stem)
        if base == want:
            out.append(path)
    return out


def relation_titles(value: str) -> list[str]:
    value = (value or "").strip()
    if not value:
        return []
    items: list[str] = []
    start, after = 0, 0  # where the current title starts; just past the last `)` looked at
    while (close := value.find(")", after)) >= 0:
        # The URL holds no `)`: its `(` is the first one after the previous `)`, and after the title.
        opened = _URL_OPEN.search(value, max(start, after), close)
        if opened and not value[start:opened.start()].strip():  # a title is never empty: the next `(http` then
            opened = _URL_OPEN.search(value, opened.start() + 1, close)
        end = _ITEM_END.match(value, close + 1) if opened else None
        title = value[start:opened.start()].strip() if opened else ""
        after = close + 1
        if end is not None and title:
            items.append(title)
            start = after = end.end()
    return items or [v.strip() for v in value.split(",") if v.strip()]


def _rows(text: str, path: str) -> list[dict[str, str]]:
    try:
        reader = csv.DictReader(io.StringIO(text))
        rows = []
        for row in reader:
            if None in row:  # DictReader puts the cells past the header under None, as a list
                raise ExportError(f"{path}:{reader.line_num}: {len(reader.fieldnames or []) + len(row[None])} cells, "
                                  f"the header has {len(reader.fieldnames or [])}; re-export the database from Notion")
            rows.append({fold(k or ""): (v or "").strip() for k, v in row.items()})
    except csv.Error as exc:
        raise ExportError(f"{path}: CSV error: {exc}", "re-export the database from Notion") from exc
    if reader.fieldnames is None:
        raise ExportError(f"{path}: empty CSV, expected a header line", "re-export the database from Notion")
    return rows


def _col(row: dict[str, str], *names: str) -> str:
    for name in names:
        if fold(name) in row:
            return row[fold(name)]
    return ""


def parse_releases(text: str, path: str) -> list[Release]:
    rows = _rows(text, path)
    if rows and not any(k in rows[0] for k in ("name", "nom")):
        raise ExportError(f"{path}: no 'Name' column; is this the Release database?")
    out = []
    for row in rows:
        status = _col(row, "Status", "Statut")
        out.append(Release(
            name=_col(row, "Name", "Nom"), version=_col(row, "Version", "Tag") or None, status=status,
            target_date=_col(row, "Target date", "Date cible", "Date") or None,
            current=fold(status) in CURRENT_STATUSES,
        ))
    return out


def parse_intentions(text: str, path: str) -> list[Intention]:
    rows = _rows(text, path)
    out = []
    for index, row in enumerate(rows, 1):
        status = _col(row, "Status", "Statut")
        rel = relation_titles(_col(row, "Release"))
        skip = {"id", "name", "nom", "status", "statut", "release"}
        out.append(Intention(
            id=_col(row, "ID") or f"row-{index}", name=_col(row, "Name", "Nom"), status=status,
            validated=fold(status) in VALIDATED_STATUSES, release=rel[0] if rel else None,
            fields={k: v for k, v in row.items() if k not in skip and v},
        ))
    return out


def link(releases: list[Release], intentions: list[Intention], tag: str | None = None) -> Release | None:
    """Attach intentions to their release; return the current release (the one tagged `tag` when
    given, else the one in progress; None when there is none)."""
    by_name = {fold(r.name): r for r in releases}
    for intention in intentions:
        target = by_name.get(fold(intention.release or ""))
        if target is not None:
            target.intentions.append(intention)
    if tag:
        current = [r for r in releases if fold(tag) in (fold(r.version or ""), fold(r.name))]
    else:
        current = [r for r in releases if r.current]
    return current[0] if current else None
