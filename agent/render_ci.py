"""The review's findings in the formats CI systems read: GitHub workflow commands (annotations), JUnit XML, and a
compact text (one line per finding). Presentation only: the findings, verdict and fingerprints come from the
session and tools/findings.py (SARIF lives in agent/render.py)."""
from __future__ import annotations

import re

from agent.core.text import escape_terminal
from agent.next_steps import is_repo_path
from agent.session import Session

# GitHub's annotation levels: a blocker or a high finding is an error, medium a warning, the rest a notice.
GITHUB_LEVEL = {"blocker": "error", "high": "error", "medium": "warning", "low": "notice", "info": "notice"}


def _first_location(f) -> tuple[str | None, int | None]:
    loc = next((loc for loc in f.locations if is_repo_path(loc.path)), None)
    return (loc.path, loc.line) if loc else (None, None)


def _message(f) -> str:
    return f.title + (f" — {f.detail}" if f.detail else "") + (f". Fix: {f.remediation}" if f.remediation else "")


# -- GitHub workflow commands --------------------------------------------------------------------------------

def github_data(text: str) -> str:
    """A workflow command's message (GitHub's escaping of command data): `%`, CR and LF; so a finding's text,
    which comes from the reviewed files, can never end the command and start another (`::set-env` ...)."""
    return escape_terminal(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_property(text: str) -> str:
    """A workflow command's property value (file, title): the data escapes, and `:` and `,`, which end it."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


def review_github(session: Session) -> str:
    """One annotation per finding (`::error file=F,line=L,title=T::message`), worst first, then the verdict as a
    notice. GitHub shows a limited number of annotations per step: the worst come first."""
    out = []
    for f in session.findings:
        path, line = _first_location(f)
        props = [f"file={github_property(path)}"] if path else []
        if path and line:
            props.append(f"line={line}")
        props.append(f"title={github_property(f'{f.id} ({f.severity}): {_check_title(f)}')}")
        message = _message(f)
        if len(f.locations) > 1:
            message += "\nAlso at: " + ", ".join(str(loc) for loc in f.locations[1:])
        out.append(f"::{GITHUB_LEVEL[f.severity]} {','.join(props)}::{github_data(message)}")
    for s in session.suppressed:  # accepted, never silent: a notice naming who accepted it and why
        path, line = _first_location(s.finding)
        props = [f"file={github_property(path)}"] if path else []
        if path and line:
            props.append(f"line={line}")
        props.append(f"title={github_property(f'{s.finding.id} accepted')}")
        out.append(f"::notice {','.join(props)}::{github_data(f'{s.finding.title} — accepted: {s.justification}')}")
    for gap in session.not_run:
        out.append(f"::warning title={github_property(f'{gap.check}: could not check')}::"
                   f"{github_data(f'{gap.what}: {gap.reason}')}")
    out.append(f"::notice title=devops-agent review::{github_data(_verdict_line(session))}")
    return "\n".join(out) + "\n"


def _check_title(f) -> str:
    from tools.checks import CHECKS

    spec = CHECKS.get(f.id)
    return spec.title if spec else f.title


def _verdict_line(session: Session) -> str:
    counts: dict[str, int] = {}
    for f in session.findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    said = ", ".join(f"{n} {sev}" for sev, n in counts.items()) or "no finding"
    hidden = f", {session.hidden} below --min-severity not shown" if session.hidden else ""
    gaps = f", {len(session.not_run)} part(s) could not run" if session.not_run else ""
    return f"Verdict: {session.verdict} ({said}{hidden}{gaps})"


# -- JUnit XML ---------------------------------------------------------------------------------------------------

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """XML 1.0 refuses control characters: shown as escapes, as the terminal shows them."""
    return _NOT_XML.sub(lambda m: escape_terminal(m.group(0)), text)


def review_junit(session: Session) -> str:
    """One test suite per check category; a test case per check that ran and found nothing (passed) and one per
    finding (failed, its type the severity); a part that could not run is an error. The exit code, not the
    failures, says GO or NO-GO: a low finding fails its test case without failing the review."""
    import xml.etree.ElementTree as ET

    from tools.checks import CHECKS
    from tools.findings import CATEGORIES, fingerprints

    found = {f.id for f in session.findings}
    not_run = {gap.check for gap in session.not_run}
    suites = {cat: ET.Element("testsuite", name=f"devops-agent.{cat}") for cat in CATEGORIES}
    for spec in CHECKS.values() if not session.hidden else ():  # with findings hidden, which passed is unknown
        if spec.id not in found and spec.id not in not_run and spec.stated_by(session.charter):
            ET.SubElement(suites[spec.category], "testcase", classname=f"devops-agent.{spec.category}",
                          name=_xml_text(f"{spec.id} {spec.title}"))
    for f, fp in zip(session.findings, fingerprints(session.findings)):
        path, line = _first_location(f)
        case = ET.SubElement(suites[f.category], "testcase", classname=f"devops-agent.{f.category}",
                             name=_xml_text(f"{f.id} {f.title}"))
        if path:
            case.set("file", _xml_text(path))
            if line:
                case.set("line", str(line))
        failure = ET.SubElement(case, "failure", type=f.severity, message=_xml_text(f.title))
        failure.text = _xml_text("\n".join([_message(f), "at " + (", ".join(map(str, f.locations)) or "-"),
                                            f"charter: {f.clause}", f"fingerprint: {fp}"]))
    for s in session.suppressed:  # accepted: a skipped test case that says by whom and why
        category = s.finding.category if s.finding.category in suites else "charter"
        case = ET.SubElement(suites[category], "testcase", classname=f"devops-agent.{category}",
                             name=_xml_text(f"{s.finding.id} {s.finding.title}"))
        ET.SubElement(case, "skipped", message=_xml_text(f"accepted: {s.justification}"))
    for gap in session.not_run:
        spec = CHECKS.get(gap.check)
        category = spec.category if spec else "charter"
        case = ET.SubElement(suites[category], "testcase", classname=f"devops-agent.{category}",
                             name=_xml_text(f"{gap.check} {gap.what}"))
        ET.SubElement(case, "error", type="not-run", message=_xml_text(f"{gap.what}: {gap.reason}"))
    root = ET.Element("testsuites", name="devops-agent review")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for suite in suites.values():
        cases = suite.findall("testcase")
        if not cases:
            continue
        counts = {"tests": len(cases), "failures": sum(1 for c in cases if c.find("failure") is not None),
                  "errors": sum(1 for c in cases if c.find("error") is not None)}
        for key, n in counts.items():
            suite.set(key, str(n))
            totals[key] += n
        root.append(suite)
    for key, n in totals.items():
        root.set(key, str(n))
    props = ET.SubElement(ET.Element("x"), "properties")
    ET.SubElement(props, "property", name="verdict", value=session.verdict)
    if len(root):
        root[0].insert(0, props)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# -- compact text ------------------------------------------------------------------------------------------------

def review_compact(session: Session) -> str:
    """Findings only, one line each (`path:line: severity ID title`, like a compiler), then the verdict: for grep,
    editors' problem matchers and a quick look."""
    out = []
    for f in session.findings:
        path, line = _first_location(f)
        where = f"{path}:{line}" if path and line else path or "-"
        more = f" (+{len(f.locations) - 1} more)" if len(f.locations) > 1 else ""
        out.append(escape_terminal(f"{where}: {f.severity} {f.id} {f.title}{more}"))
    for s in session.suppressed:
        path, line = _first_location(s.finding)
        where = f"{path}:{line}" if path and line else path or "-"
        out.append(escape_terminal(f"{where}: accepted {s.finding.id} {s.finding.title} ({s.justification})"))
    for gap in session.not_run:
        out.append(escape_terminal(f"-: not-run {gap.check} {gap.what}: {gap.reason}"))
    out.append(_verdict_line(session))
    return "\n".join(out) + "\n"
