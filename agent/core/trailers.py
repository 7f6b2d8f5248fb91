"""The trailers of a gate commit, read strictly: one parser every reader calls (apply, verify, audit, notes).

A gate commit's message is a subject, paragraphs, and a last paragraph made only of `Key: value` lines: its
trailer block. Each gate key appears there at most once (`Accepts:` once per commit it names), and nowhere
else in the message, in any case (git reads `accepts:` as `Accepts:`): a message that breaks this is refused
with the reason, never read "first value wins", so no text the gate wrote from outside (a Notion status)
can add or shadow a trailer, and git's own `interpret-trailers` reads the same values.
"""
from __future__ import annotations

import re

# The keys a gate commit carries; the ones that carry authority must never appear outside the block.
GATE_KEYS = ("Reason", "Risk", "Rollback", "Proposal", "Content-Hash", "Intention", "Approval-Expires",
             "Audit-Head", "Approved-by", "Reverts", "Accepts", "Signer", "Restores")
AUTHORITY_KEYS = ("Proposal", "Content-Hash", "Approval-Expires", "Audit-Head", "Approved-by", "Reverts",
                  "Accepts", "Signer", "Restores")
REPEATABLE = ("Accepts",)  # one line per accepted commit
_CANON = {k.casefold(): k for k in GATE_KEYS}
_AUTHORITY = frozenset(k.casefold() for k in AUTHORITY_KEYS)
_LOOKS_LIKE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9-]*)\s*:")
_TRAILER = re.compile(r"^([A-Za-z][A-Za-z0-9-]*): (\S.*)$")


class TrailerError(ValueError):
    """A message whose gate trailers are not unique, not in the trailer block, or malformed (one line)."""


def parse_trailers(message: str) -> dict[str, list[str]]:
    """The trailers of the message's last paragraph, key -> values in order, or TrailerError. A message with
    one paragraph has no trailer block (its gate-looking lines are errors)."""
    paragraphs = [p for p in message.strip("\n").split("\n\n") if p.strip()]
    block = paragraphs[-1].splitlines() if len(paragraphs) > 1 and _is_block(paragraphs[-1]) else []
    body = [line for p in (paragraphs if not block else paragraphs[:-1]) for line in p.splitlines()]
    for line in body:
        m = _LOOKS_LIKE.match(line)
        if m and m.group(1).casefold() in _AUTHORITY:
            raise TrailerError(f"a `{_CANON[m.group(1).casefold()]}:` line outside the trailer block")
    out: dict[str, list[str]] = {}
    for line in block:
        m = _TRAILER.match(line)
        if m is None:
            looks = _LOOKS_LIKE.match(line)
            if looks and looks.group(1).casefold() in _CANON:
                raise TrailerError(f"a malformed `{_CANON[looks.group(1).casefold()]}:` trailer")
            continue  # another tool's trailer (Co-authored-by:...), not the gate's
        key, value = m.group(1), m.group(2).strip()
        canon = _CANON.get(key.casefold())
        if canon is not None and key != canon:
            raise TrailerError(f"`{key}:` is spelt differently from the gate's `{canon}:`")
        values = out.setdefault(canon or key, [])
        if canon is not None and values and (canon not in REPEATABLE or value in values):
            raise TrailerError(f"`{canon}:` appears twice")
        values.append(value)
    return out


def trailer(trailers: dict[str, list[str]], key: str) -> str | None:
    """The one value of `key` (parse_trailers already refused a second one)."""
    values = trailers.get(key)
    return values[0] if values else None


def _is_block(paragraph: str) -> bool:
    """A trailer block: every line looks like `Key: ...` (the gate writes nothing else there)."""
    return all(_LOOKS_LIKE.match(line) for line in paragraph.splitlines())
