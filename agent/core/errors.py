"""Errors a user can act on: one line, what failed and what to do."""
from __future__ import annotations


class UserError(Exception):
    """Bad usage, configuration or input. The CLI prints the message alone and exits 2."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.line())

    def line(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class RefusedError(UserError):
    """A gate action refused by policy or state. Exit 1, not 2."""

    exit_code = 1
