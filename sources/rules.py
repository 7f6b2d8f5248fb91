"""The rules file (a markdown memory such as Windsurf's global_rules.md), cut to the named sections."""
from __future__ import annotations

import re

from agent.core.charter import fold

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def markdown_headings(text: str) -> list[tuple[int, int, str]]:
    """(line, level, title) of every ATX heading outside fenced code."""
    out = []
    fenced = False
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        m = None if fenced else _HEADING.match(line)
        if m:
            out.append((lineno, len(m.group(1)), m.group(2)))
    return out


def cut_sections(text: str, wanted: list[str]) -> tuple[str, list[str], list[str]]:
    """The text of the wanted sections (heading included, down to the next heading of the same or
    higher level), the names found, and the names missing. Matching ignores case and accents."""
    lines = text.splitlines()
    heads = markdown_headings(text)
    parts: list[str] = []
    found: list[str] = []
    for name in wanted:
        want = fold(name)
        hit = next((h for h in heads if fold(h[2]) == want), None) or \
            next((h for h in heads if fold(h[2]).startswith(want)), None)
        if hit is None:
            continue
        start, level, _ = hit
        end = next((ln for ln, lv, _ in heads if ln > start and lv <= level), len(lines) + 1)
        parts.append("\n".join(lines[start - 1:end - 1]).rstrip())
        found.append(name)
    missing = [n for n in wanted if n not in found]
    return "\n\n".join(parts), found, missing
