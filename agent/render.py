"""Output formats of the session: text (rich), markdown, json. Presentation only, no rules."""
from __future__ import annotations

import json
import os
import sys
from typing import Any

from agent.charter import Charter
from agent.session import Session
from sources.provenance import LoadedSource

STATUS_MARK = {"ok": "ok", "missing": "MISSING", "optional-absent": "absent (optional)",
               "unreadable": "UNREADABLE", "parse-error": "PARSE ERROR"}
STATUS_STYLE = {"ok": "green", "missing": "bold red", "optional-absent": "yellow",
                "unreadable": "bold red", "parse-error": "bold red"}
SEVERITY_STYLE = {"blocker": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def console():
    from rich.console import Console

    # Pipes and CI get plain text at a readable width; NO_COLOR is honoured by rich itself.
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "140"))
    return Console(width=width, highlight=False, soft_wrap=False)


def dump_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _provenance(src: LoadedSource) -> str:
    if not src.submodule and not src.commit:
        return "-"
    where = src.submodule or "platform"
    commit = (src.commit or "")[:7] or "-"
    dirty = "+dirty" if src.dirty else ""
    return f"{where}@{commit}{dirty}"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


# -- text ---------------------------------------------------------------------------


def sources_table(sources: list[LoadedSource]):
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for col in ("status", "kind", "prio", "path", "provenance", "sha256"):
        table.add_column(col, no_wrap=col != "path", overflow="fold")
    for src in sources:
        style = STATUS_STYLE[src.status]
        table.add_row(
            f"[{style}]{STATUS_MARK[src.status]}[/]", src.kind,
            str(src.priority) if src.priority else "-", _escape(src.path),
            _provenance(src), (src.sha256 or "")[:12] or "-",
        )
    return table


def print_source_problems(con, sources: list[LoadedSource]) -> None:
    for src in sources:
        if src.status != "ok" or src.message:
            style = STATUS_STYLE[src.status] if src.status != "ok" else "dim"
            con.print(f"  [{style}]-[/] {_escape(src.path)}: {_escape(src.message)}")


def print_sources(session: Session) -> None:
    con = console()
    counts = ", ".join(f"{n} {k}" for k, n in session.source_counts().items())
    con.print(f"[bold]Sources of {session.charter.role}[/] ({len(session.sources)}: {counts}) in {session.root}")
    con.print(sources_table(session.sources))
    print_source_problems(con, session.sources)


def print_charter(charter: Charter) -> None:
    from rich.table import Table

    con = console()
    con.print(f"[bold]{_escape(charter.title)}[/]  role={_escape(charter.role)}  project={charter.project or '-'}")
    con.print(f"file {charter.path}  sha256 {charter.sha256[:12]}")
    con.print("[bold]Sections[/]")
    for sec in charter.sections:
        con.print(f"  {sec.key or '(kept verbatim)':18} {_escape(sec.heading)}  ({len(sec.clauses)} clauses)")
    con.print("[bold]Sources[/]" + ("  (all required each session)" if charter.all_sources_required else ""))
    table = Table(box=None, show_edge=False, header_style="bold")
    for col in ("prio", "kind", "label", "locations", "optional", "sections"):
        table.add_column(col, overflow="fold")
    for spec in charter.sources:
        table.add_row(str(spec.priority or "-"), spec.kind, _escape(spec.label),
                      _escape(", ".join(spec.locations or spec.services or spec.targets) or "-"),
                      "yes" if spec.optional else "no", ", ".join(spec.sections) or "-")
    con.print(table)
    if charter.priorities:
        con.print("[bold]Priority (in case of conflict)[/]")
        for p in charter.priorities:
            con.print(f"  {p.rank}. {_escape(p.text)}")


def print_review(session: Session) -> None:
    from rich.table import Table

    con = console()
    c = session.charter
    con.print(f"[bold]{_escape(c.role)}[/] ({c.project or '-'}) — session brief")
    con.print(f"repo {session.root} @ {(session.git.commit or 'no git')[:12]}   "
              f"charter {c.path} ({session.charter_origin}, sha256 {c.sha256[:12]})")
    for key, title in (("mission", "Mission"), ("authority", "Authority"), ("guardrails", "Guardrails")):
        clauses = c.clauses(key)
        if clauses:
            con.print(f"\n[bold]{title}[/]")
            for clause in clauses:
                con.print(f"  - {_escape(clause.text)}")
    counts = ", ".join(f"{n} {k}" for k, n in session.source_counts().items())
    con.print(f"\n[bold]Sources[/] ({len(session.sources)}: {counts})")
    con.print(sources_table(session.sources))
    print_source_problems(con, session.sources)
    con.print("\n[bold]Release[/]")
    if session.release:
        r = session.release
        con.print(f"  {_escape(r.name)}  version {r.version or '-'}  status {r.status}  target {r.target_date or '-'}")
        table = Table(box=None, show_edge=False, header_style="bold")
        for col in ("id", "status", "intention"):
            table.add_column(col, overflow="fold")
        for i in r.intentions:
            mark = "[green]" if i.validated else "[yellow]"
            table.add_row(i.id, f"{mark}{_escape(i.status)}[/]", _escape(i.name))
        con.print(table)
    else:
        con.print("  no current release loaded")
    con.print(f"\n[bold]Findings[/] ({len(session.findings)})")
    for f in session.findings:
        loc = ", ".join(str(l) for l in f.locations[:2])
        con.print(f"  [{SEVERITY_STYLE[f.severity]}]{f.severity:7}[/] {f.id}  {_escape(f.title)}"
                  + (f"  [dim]{_escape(loc)}[/]" if loc else ""))
    for note in session.notes:
        con.print(f"  [yellow]note[/] {_escape(note)}")
    style = "bold green" if session.verdict == "GO" else "bold red"
    blockers = sum(1 for f in session.findings if f.severity == "blocker")
    con.print(f"\nVerdict: [{style}]{session.verdict}[/]" + (f"  ({blockers} blocker(s))" if blockers else ""))


# -- markdown -----------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def review_markdown(session: Session) -> str:
    c = session.charter
    out = [f"# {c.role} ({c.project or '-'}) — session brief", "",
           f"- Repo: `{session.root}` @ `{(session.git.commit or 'no git')[:12]}`",
           f"- Charter: `{c.path}` ({session.charter_origin}), sha256 `{c.sha256[:12]}`",
           f"- **Verdict: {session.verdict}**", ""]
    for key, title in (("mission", "Mission"), ("authority", "Authority"), ("guardrails", "Guardrails")):
        if c.clauses(key):
            out += [f"## {title}", ""] + [f"- {cl.text}" for cl in c.clauses(key)] + [""]
    out += ["## Sources", "", "| status | kind | priority | path | provenance | sha256 | message |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for s in session.sources:
        out.append(f"| {s.status} | {s.kind} | {s.priority or '-'} | `{_md_cell(s.path)}` | {_provenance(s)} | "
                   f"{(s.sha256 or '-')[:12]} | {_md_cell(s.message)} |")
    out += ["", "## Release", ""]
    if session.release:
        r = session.release
        out += [f"**{r.name}** — version {r.version or '-'}, {r.status}, target {r.target_date or '-'}", "",
                "| id | status | intention |", "| --- | --- | --- |"]
        out += [f"| {i.id} | {_md_cell(i.status)} | {_md_cell(i.name)} |" for i in r.intentions]
    else:
        out.append("No current release loaded.")
    out += ["", f"## Findings ({len(session.findings)})", ""]
    if session.findings:
        out += ["| severity | id | title | location | clause |", "| --- | --- | --- | --- | --- |"]
        for f in session.findings:
            loc = ", ".join(f"`{l}`" for l in f.locations[:3])
            out.append(f"| {f.severity} | {f.id} | {_md_cell(f.title)} | {loc} | {_md_cell(f.clause)} |")
    for note in session.notes:
        out.append(f"- note: {note}")
    out += ["", f"**Verdict: {session.verdict}**", ""]
    return "\n".join(out)
