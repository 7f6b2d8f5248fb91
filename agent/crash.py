"""The crash log: what an unexpected error in any front end (the CLI, the chat, the MCP server) leaves behind for a
bug report, as pre-commit's error handler does: the traceback, the versions and the command, in one file whose path
the user is shown. Secret-looking values (tools/facts/secrets.py) are masked in the command and the traceback: the
file may be attached to a public issue."""
from __future__ import annotations

import os
import platform
import sys
import time
import traceback
from pathlib import Path

MAX_LOGS = 50  # the oldest are removed past this many: a crash loop must not fill the disk


def write(exc: BaseException, command: list[str], where: str) -> Path | None:
    """Write the crash log of `exc`, raised in `where` (`cli`, `mcp`), and return its path; None when no log can be
    written (the error line is shown all the same)."""
    from agent.gate.keys import log_dir
    from tools.bundled import package_version
    from tools.facts.secrets import replace_secrets

    def masked(text: str) -> str:
        return replace_secrets(text, lambda _: "****")

    try:
        folder = log_dir() / "crash"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = folder / f"{stamp}-{os.getpid()}-{where}.log"
        body = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        text = (f"devops-agent {package_version()} crashed in {where}\n"
                f"when: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}\n"
                f"command: {masked(' '.join(command))}\n"
                f"python: {sys.version.split()[0]} ({sys.executable})\n"
                f"platform: {platform.platform()}\n"
                f"cwd: {os.getcwd()}\n\n{masked(body)}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as fh:
            fh.write(text)
        for old in sorted(folder.glob("*.log"))[:-MAX_LOGS]:
            old.unlink(missing_ok=True)
        return path
    except Exception:  # noqa: BLE001 - the crash log is best effort: the error line is shown without it
        return None


def line(exc: BaseException, path: Path | None, redact=None) -> str:
    """The one line a user sees for an unexpected error; `redact` (the session's redactor, where the line reaches a
    model) masks the error's own text, never the crash log's path."""
    said = f"{type(exc).__name__}: {exc}"
    where = f"details in {path}" if path else "rerun with --debug for the traceback"
    return f"internal error: {redact(said) if redact else said} ({where}; please report it)"
