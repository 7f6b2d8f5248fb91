"""Text helpers every layer may use."""
from __future__ import annotations

import re
import unicodedata


def escape_terminal(text: str) -> str:
    """Every character that can hide or reorder what is on the screen made visible as \\x.. / \\u.... /
    \\U........: controls (ANSI escapes, carriage returns, C1), bidi controls, line separators, and every
    format, private-use, surrogate, unassigned or default-ignorable code point (U+200B, U+2060, U+00AD,
    the tag block...), so untrusted text cannot erase, reorder or look like other text. Newlines and tabs stay."""
    return _CANDIDATE.sub(_visible, text)


def one_line(text: str, limit: int = 500) -> str:
    """`text` as one line of visible characters (newlines and tabs escaped too), at most `limit` characters:
    how a value read from outside (a Notion status) goes into a line of a signed commit message."""
    return shorten(escape_terminal(text).replace("\n", "\\x0a").replace("\t", "\\x09"), limit)


def first_hidden(text: str, keep: str = "") -> int | None:
    """The index of the first character `escape_terminal` would escape, newlines and tabs included unless in
    `keep` (None: there is none): how one-line inputs (proposal metadata) are refused."""
    return next((i for i, ch in enumerate(text) if ch not in keep and is_hidden(ch)), None)


def is_hidden(ch: str) -> bool:
    """A control, format (Cf), private-use (Co), surrogate (Cs), unassigned (Cn), line/paragraph separator or
    default-ignorable code point: one that shows as nothing, or as something it is not."""
    cp = ord(ch)
    if cp < 0x20 or 0x7f <= cp <= 0x9f:
        return True
    if cp < 0x100:
        return cp == 0xad  # the soft hyphen
    return unicodedata.category(ch) in _HIDDEN_CATEGORIES or any(lo <= cp <= hi for lo, hi in _IGNORABLE)


def _visible(m: re.Match) -> str:
    ch = m.group()
    if not is_hidden(ch):
        return ch
    cp = ord(ch)
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"


# Every character but newline, tab, printable ASCII and printable Latin-1 is looked at (is_hidden decides).
_CANDIDATE = re.compile("[^\n\t\x20-\x7e\xa0-\xac\xae-\xff]")
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
# Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties) outside the categories above: the combining
# grapheme joiner, Hangul fillers, Khmer inherent vowels, Mongolian and other variation selectors.
_IGNORABLE = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x3164, 0x3164),
              (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0000, 0xE0FFF))


def shorten(text: str, limit: int = 300) -> str:
    """`text`, or its first `limit` characters ending in '...'."""
    return text if len(text) <= limit else text[:limit - 3] + "..."
