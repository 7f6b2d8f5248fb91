"""Text helpers every layer may use."""
from __future__ import annotations

import re


def escape_terminal(text: str) -> str:
    """Control characters (ANSI escapes, carriage returns, C1, bidi overrides, line separators) made visible
    as \\x.. / \\u.... so that untrusted text cannot erase or reorder what is on the screen. Newlines and
    tabs stay."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def shorten(text: str, limit: int = 300) -> str:
    """`text`, or its first `limit` characters ending in '...'."""
    return text if len(text) <= limit else text[:limit - 3] + "..."
