"""Parse a role charter (`# Agent: <Role> (<Project>)` + sections) into a `Charter`.

The charters of this family are French markdown written by hand: headings mix
accents (`Priorité`/`Priorite`), sources are bullets with backticked paths, and
the priority list is numbered. English headings work too.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agent.core.errors import UserError
from agent.core.files import SourceReadError, confine, read_source_file

SOURCE_KINDS = ("notion", "compose", "dockerfile", "ci_workflow", "rules", "docs", "repo_file")

# Canonical section keys, matched on the accent-free lower-case heading prefix.
# Order matters: "priorite des sources" must win over "sources".
SECTION_KEYS: list[tuple[str, tuple[str, ...]]] = [
    ("mission", ("mission",)),
    ("authority", ("autorite", "authority")),
    ("guardrails", ("garde-fous", "garde fous", "gardefous", "guardrails", "guard rails")),
    ("priority", ("priorite", "source priority", "priority", "sources priority")),
    ("sources", ("sources", "source of truth", "sources of truth")),
    ("responsibilities", ("responsabilite", "responsibilit")),
    ("out_of_scope", ("perimetre de non", "non-intervention", "non intervention", "out of scope", "out-of-scope")),
    ("work_rules", ("regles de travail", "cadre de travail", "working rules", "work rules", "ways of working")),
    ("deliverables", ("livrables", "deliverables", "expected deliverables")),
    ("tone", ("ton", "tone")),
]

_TITLE_PREFIX = re.compile(r"#\s+agente?\s*:", re.I)
_BULLET = re.compile(r"^(?P<indent>\s*)[-*+]\s+(?P<text>.*)$")
_NUMBERED = re.compile(r"^\s*(?P<num>\d+)[.)]\s+(?P<text>.*)$")
_BACKTICK = re.compile(r"`([^`]+)`")
# A name starts only where a token starts: a start inside `a.a.a…` would rescan the token from each dot (quadratic).
_BARE_FILE = re.compile(r"(?<![\w./`-])((?:[\w.-]+/)*[\w.-]+\.(?:md|ya?ml|json|toml|conf|txt|env|sh))\b")
_SECTION_FILTER = re.compile(r"\(\s*sections?\s*:\s*([^)]*)\)", re.I)
_OPTIONAL = re.compile(r"\b(si disponibles?|if available|optionnel(?:le)?s?|optional)\b", re.I)
_QUOTED = re.compile(r"[\"“«]\s*([^\"”»]+?)\s*[\"”»]")

_STOPWORDS = {
    "de", "du", "des", "la", "le", "les", "et", "en", "par", "pour", "a", "au", "aux", "un", "une",
    "dans", "sur", "via", "cas", "the", "of", "and", "in", "for", "by", "to", "from", "on", "with",
    "quoi", "pourquoi", "comprendre", "livrer", "chaque", "each", "agent", "validees", "validee",
    "contraintes", "md", "yml", "yaml", "users", "si", "disponibles", "disponible", "projet",
}


def fold(text: str) -> str:
    """Lower case without accents, curly quotes straightened: how headings and clauses are compared."""
    if text.isascii():  # nothing to decompose or straighten (most calls: paths, service names)
        return text.lower().strip()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.replace("’", "'").replace("–", "-").replace("—", "-").lower().strip()


def _tokens(text: str) -> set[str]:
    words = re.split(r"[^a-z0-9]+", fold(text))
    out = set()
    for w in words:
        if len(w) < 2 or w in _STOPWORDS:
            continue
        out.add(w[:-1] if w.endswith("s") and len(w) > 4 else w)  # "intentions" ~ "intention"
    return out


@dataclass
class Clause:
    text: str
    line: int
    section: str  # the heading as written
    children: list["Clause"] = field(default_factory=list)
    id: str = ""  # stable: the section's key (or its heading's slug) and the clause's position, e.g. guardrails.3.1

    def ref(self) -> str:
        return f"{self.section}: {self.text}"


@dataclass
class Section:
    key: str | None  # canonical key, None for sections kept verbatim only
    heading: str
    line: int
    body: str
    clauses: list[Clause] = field(default_factory=list)


@dataclass
class PriorityEntry:
    rank: int
    text: str
    line: int


@dataclass
class SourceSpec:
    kind: str
    label: str
    text: str
    line: int
    locations: list[str] = field(default_factory=list)
    optional: bool = False
    sections: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)  # "(frontend, api, ...)" hints
    targets: list[str] = field(default_factory=list)  # Notion pages/databases named
    priority: int | None = None
    priority_text: str | None = None

    def to_dict(self) -> dict:
        return {
            "kind": self.kind, "label": self.label, "text": self.text, "line": self.line,
            "locations": self.locations, "optional": self.optional, "sections": self.sections,
            "services": self.services, "targets": self.targets, "priority": self.priority,
            "priority_text": self.priority_text,
        }


@dataclass
class Charter:
    path: str
    sha256: str
    title: str
    role: str
    project: str | None
    sections: list[Section]
    sources: list[SourceSpec]
    priorities: list[PriorityEntry]
    all_sources_required: bool
    text: str = field(default="", repr=False, compare=False)  # as read: what the model is shown verbatim
    _found: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # find_clause's answers

    def clause_by_id(self) -> dict[str, Clause]:
        """Every clause (nested ones included) by its stable id."""
        return {c.id: c for s in self.sections for c in _walk(s.clauses)}

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)

    def clauses(self, key: str) -> list[Clause]:
        sec = self.section(key)
        return sec.clauses if sec else []

    def find_clause(self, key: str, needle: str) -> Clause | None:
        """The first clause of section `key` whose folded text contains `needle` (folded); each (key, needle)
        is looked up once (every finding names its clause: 10,000 findings folded every clause each)."""
        if (key, needle) not in self._found:
            self._found[(key, needle)] = self._find_clause(key, needle)
        return self._found[(key, needle)]

    def _find_clause(self, key: str, needle: str) -> Clause | None:
        want = fold(needle)
        for clause in self.clauses(key):
            if want in fold(clause.text):
                return clause
            for child in clause.children:
                if want in fold(child.text):
                    return child
        return None

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "title": self.title,
            "role": self.role,
            "project": self.project,
            "all_sources_required": self.all_sources_required,
            "sections": [
                {"key": s.key, "heading": s.heading, "line": s.line,
                 "clauses": [c.text for c in s.clauses],
                 "clause_ids": [c.id for c in _walk(s.clauses)]}
                for s in self.sections
            ],
            "sources": [s.to_dict() for s in self.sources],
            "priorities": [{"rank": p.rank, "text": p.text, "line": p.line} for p in self.priorities],
        }


def section_key(heading: str) -> str | None:
    folded = fold(heading)
    for key, prefixes in SECTION_KEYS:
        for prefix in prefixes:
            if folded == prefix or folded.startswith(prefix + " ") or folded.startswith(prefix + "(") \
                    or (len(prefix) > 4 and folded.startswith(prefix)):
                return key
    return None


def _walk(clauses: list[Clause]) -> Iterator[Clause]:
    for c in clauses:
        yield c
        yield from _walk(c.children)


def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(heading)).strip("-") or "section"


def _number(clauses: list[Clause], prefix: str) -> None:
    for i, clause in enumerate(clauses, 1):
        clause.id = f"{prefix}.{i}"
        _number(clause.children, clause.id)


def _parse_bullets(lines: list[tuple[int, str]], heading: str) -> list[Clause]:
    """Bullets (with nesting and continuation lines) and plain paragraphs as clauses."""
    clauses: list[Clause] = []
    stack: list[tuple[int, Clause]] = []  # (indent, clause)
    paragraph: Clause | None = None
    for lineno, raw in lines:
        if not raw.strip():
            paragraph = None
            continue
        m = _BULLET.match(raw) or _NUMBERED.match(raw)
        if m:
            indent = len(m.groupdict().get("indent") or "") if "indent" in m.groupdict() else len(raw) - len(raw.lstrip())
            clause = Clause(text=m.group("text").strip(), line=lineno, section=heading)
            while stack and stack[-1][0] >= indent:
                stack.pop()
            if stack:
                stack[-1][1].children.append(clause)
            else:
                clauses.append(clause)
            stack.append((indent, clause))
            paragraph = None
            continue
        if stack and raw.startswith((" ", "\t")):
            stack[-1][1].text += " " + raw.strip()  # continuation of the last bullet
            continue
        stack.clear()
        if paragraph is None:
            paragraph = Clause(text=raw.strip(), line=lineno, section=heading)
            clauses.append(paragraph)
        else:
            paragraph.text += " " + raw.strip()
    return clauses


def _classify(label: str, text: str, locations: list[str]) -> str:
    flabel, ftext = fold(label), fold(text)
    locs = [fold(loc) for loc in locations]
    if "notion" in flabel or ftext.startswith("notion"):
        return "notion"
    if re.search(r"\b(regles?|rules?|memories|memoire)\b", flabel) or any("rules" in loc for loc in locs):
        return "rules"
    # Workflows first: a workflow named `docker-compose.yml` is a workflow (`init` lists such files).
    workflows = bool(locs) and all(".github/workflows" in loc for loc in locs)
    if workflows or re.search(r"\b(ci|ci/cd|cicd|workflows?|pipelines?)\b", flabel):
        return "ci_workflow"
    if any("compose" in loc for loc in locs) or "compose" in flabel:
        return "compose"
    if "dockerfile" in flabel or any(Path(loc).name.startswith("dockerfile") for loc in locs):
        return "dockerfile"
    if any(".github/workflows" in loc for loc in locs):
        return "ci_workflow"
    if re.search(r"\b(documentation|docs?|notes?|deploiement|deployment|runbook)\b", flabel + " " + ftext):
        return "docs"
    return "repo_file"


def _source_from_clause(clause: Clause) -> SourceSpec:
    full = " ".join([clause.text, *[c.text for c in clause.children]])
    label, _, rest = clause.text.partition(":")
    if not rest or "`" in label or len(label) > 40:
        label, rest = clause.text.split()[0].rstrip(":") if clause.text.split() else "", clause.text
    locations = [loc.strip() for loc in _BACKTICK.findall(full)]
    locations = [loc for loc in locations if "/" in loc or "." in loc]
    if not locations:
        locations = [m for m in _BARE_FILE.findall(full) if not m.startswith(".") or "/" in m]
    sections: list[str] = []
    for m in _SECTION_FILTER.finditer(full):
        sections += [s.strip() for s in re.split(r",|\bet\b|\band\b", m.group(1)) if s.strip()]
    kind = _classify(label, full, locations)
    services: list[str] = []
    if kind == "dockerfile":
        for group in re.findall(r"\(([^():]*,[^():]*)\)", full):
            services += [s.strip() for s in group.split(",") if s.strip()]
    targets: list[str] = []
    if kind == "notion":
        targets = _QUOTED.findall(rest)
        if not targets:
            head = re.sub(r"\(.*?\)", "", rest).strip().rstrip(".")
            targets = [t.strip() for t in re.split(r"/|,|\bet\b|\band\b", head) if t.strip()]
    return SourceSpec(
        kind=kind, label=label.strip(), text=full.strip(), line=clause.line, locations=locations,
        optional=bool(_OPTIONAL.search(full)), sections=sections, services=services, targets=targets,
    )


def _map_priorities(sources: list[SourceSpec], priorities: list[PriorityEntry]) -> None:
    """Give each source the rank of the priority entry that names it best (shared significant words)."""
    kind_words = {
        "notion": {"notion"}, "compose": {"compose", "docker-compose"}, "dockerfile": {"dockerfile"},
        "ci_workflow": {"workflow", "ci", "pipeline"}, "rules": {"regle", "rule", "windsurf"},
        "docs": {"documentation", "doc", "note"}, "repo_file": {"repo", "repository", "readme"},
    }
    entry_tokens = [(p, _tokens(p.text)) for p in priorities]
    for spec in sources:
        mine = _tokens(" ".join([spec.text, *spec.locations, *spec.sections]))
        best: tuple[int, PriorityEntry | None] = (0, None)
        for entry, toks in entry_tokens:
            score = len(mine & toks) + 2 * bool(kind_words[spec.kind] & toks)
            if score > best[0] or (score == best[0] and best[1] is not None and entry.rank < best[1].rank and score > 0):
                best = (score, entry)
        if best[1] is not None and best[0] >= 2:
            spec.priority, spec.priority_text = best[1].rank, best[1].text


def _role_and_project(line: str) -> tuple[str, str | None] | None:
    """`# Agent: <Role> (<Project>)` read without backtracking (a regex for it is quadratic on long blank runs)."""
    m = _TITLE_PREFIX.match(line)
    rest = line[m.end():].strip() if m else ""
    if not rest:
        return None
    if rest.endswith(")"):
        inner = rest[:-1]
        # the project is the last parenthesis at the end: from the first "(" after the previous ")"
        opening = inner.find("(", max(inner.rfind(")") + 1, 1))
        if opening > 0:
            return inner[:opening].strip(), inner[opening + 1:].strip() or None
    return rest, None


def parse_charter_text(text: str, path: str = "<charter>") -> Charter:
    lines = text.splitlines()
    title_line = next(((i, l) for i, l in enumerate(lines, 1) if l.startswith("# ")), None)
    if title_line is None:
        raise UserError(f"charter {path}: no title line", "start the file with '# Agent: <Role> (<Project>)'")
    title = title_line[1][2:].strip()
    parsed = _role_and_project(title_line[1])
    role, project = parsed if parsed else (title.strip(), None)

    sections: list[Section] = []
    current: tuple[str, int, list[tuple[int, str]]] | None = None
    chunks: list[tuple[str, int, list[tuple[int, str]]]] = []
    for lineno, line in enumerate(lines, 1):
        if lineno <= title_line[0]:
            continue
        if line.startswith("## "):
            if current:
                chunks.append(current)
            current = (line[3:].strip(), lineno, [])
        elif current is not None:
            current[2].append((lineno, line))
    if current:
        chunks.append(current)
    for heading, lineno, body in chunks:
        key = section_key(heading)
        if key and any(s.key == key for s in sections):
            key = None  # a repeated heading is kept verbatim, the first one counts
        sections.append(Section(
            key=key, heading=heading, line=lineno,
            body="\n".join(l for _, l in body).strip("\n"),
            clauses=_parse_bullets(body, heading),
        ))
        _number(sections[-1].clauses, key or _slug(heading))

    src_section = next((s for s in sections if s.key == "sources"), None)
    if src_section is None:
        raise UserError(f"charter {path}: no sources section",
                        "add a '## Sources de vérité (à charger)' section listing the sources as bullets")
    bullet_lines = {ln for ln, raw in _lines_of(text, src_section) if _BULLET.match(raw) and not raw.startswith((" ", "\t"))}
    sources = [_source_from_clause(c) for c in src_section.clauses if c.line in bullet_lines]
    if not sources:
        raise UserError(f"charter {path}: the sources section lists no source",
                        "list each source as a '- ' bullet under the sources heading")
    all_required = any(
        re.search(r"(toutes les sources|all (the )?(listed )?sources)", fold(c.text)) for c in src_section.clauses
    )

    priorities: list[PriorityEntry] = []
    prio_section = next((s for s in sections if s.key == "priority"), None)
    if prio_section:
        for lineno, raw in _lines_of(text, prio_section):
            nm = _NUMBERED.match(raw)
            if nm:
                priorities.append(PriorityEntry(rank=len(priorities) + 1, text=nm.group("text").strip(), line=lineno))
    _map_priorities(sources, priorities)

    return Charter(
        path=path, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), title=title, role=role,
        project=project, sections=sections, sources=sources, priorities=priorities,
        all_sources_required=all_required, text=text,
    )


def _lines_of(text: str, section: Section) -> list[tuple[int, str]]:
    lines = text.splitlines()
    out = []
    for lineno in range(section.line + 1, len(lines) + 1):
        raw = lines[lineno - 1]
        if raw.startswith("## ") or raw.startswith("# "):
            break
        out.append((lineno, raw))
    return out


# The charter's cap when no config sets max_file_bytes (the config's default, repeated: core imports no config here).
CHARTER_MAX_BYTES = 2 * 1024 * 1024


def parse_charter(path: Path, max_bytes: int = CHARTER_MAX_BYTES, root: Path | None = None) -> Charter:
    """The charter at `path`, read like every source: a regular UTF-8 file of at most `max_bytes`. With
    `root`, `path` is relative to it and must stay inside it (the repository's charter or the config's);
    without, it is the user's own `--charter` file."""
    shown = str(path)
    try:
        target = confine(root, shown) if root is not None else path
        data = read_source_file(target, max_bytes, shown=shown).text
    except SourceReadError as exc:
        if exc.status == "missing":
            raise UserError(f"charter {shown} does not exist", "pass an existing file with --charter") from None
        detail = exc.message.removeprefix("refused: ")
        raise UserError(f"cannot read the charter: {detail}",
                        "a charter is a regular UTF-8 text file" + (" inside the repository" if root is not None else "")
                        ) from None
    return parse_charter_text(data, shown if root is None else str(root / path))
