"""The terminal chat: a front end over the Conversation (agent/loop.py). No rules of its own.

Interactive (a terminal on both ends): prompt-toolkit with a history file, streamed answers, tool calls
as compact lines, diffs highlighted. Otherwise (a pipe, or NO_COLOR): plain lines read from stdin, plain
text out. Ctrl-C cancels the turn and keeps the conversation. Approving is Product's act: `/approve ID`
(or the pause of an `apply_change`) asks for Product's key and signs through the same code path as
`devops-agent approve`; ssh-keygen reads the passphrase from the terminal, so it never reaches the model
or the transcript. Nothing here relies on being at a terminal for safety: the signature does.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from agent.core import hints
from agent.core.errors import UserError
from agent.core.text import escape_terminal


class _IO:
    def __init__(self, conv) -> None:
        self.interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self.styled = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        self._prompt = None
        if self.interactive:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory

            from agent.core.config import STATE_DIR

            self._prompt = PromptSession(history=FileHistory(str(conv.root / STATE_DIR / "chat_history")))

    def read(self, prompt: str = "you> ") -> str | None:
        if self._prompt is not None:
            try:
                return self._prompt.prompt(prompt)
            except EOFError:
                return None
        line = sys.stdin.readline()
        return None if line == "" else line.rstrip("\n")

    def write(self, text: str = "", end: str = "\n") -> None:
        sys.stdout.write(escape_terminal(text) + end)
        sys.stdout.flush()

    def dim(self, text: str) -> None:
        """A side line (a tool call, a hint): dimmed at a styled terminal, plain otherwise."""
        if not self.styled:
            self.write(text)
            return
        sys.stdout.write(f"\x1b[2m{escape_terminal(text)}\x1b[0m\n")
        sys.stdout.flush()


def _args(args: Any) -> str:
    text = json.dumps(args, ensure_ascii=False)[1:-1] if isinstance(args, dict) else str(args)
    return text if len(text) <= 100 else text[:97] + "..."


def run(conv, help_text: str) -> int:
    import signal

    # Ctrl-C cancels a turn. A process started in the background of a non-interactive shell (a CI
    # script's `cmd &`) inherits SIGINT ignored, and Python then installs no KeyboardInterrupt: take it back.
    # The first Ctrl-C also cuts the model call in flight: the graph's executor waits for its running node before
    # the interrupt reaches this loop, and that node would otherwise read the answer to its end.
    def interrupt(signum, frame):  # noqa: ANN001, ANN202
        from agent.core.deadline import cut_all

        cut_all()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    io = _IO(conv)
    charter = conv.box.session(run_checks=True).charter
    io.write(f"{charter.role} ({charter.project or conv.root.name}); thread {conv.thread}. "
             "/help for commands, /quit to leave.")
    while True:
        line = io.read()
        if line is None:
            return 0
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            try:
                if _slash(conv, io, line, help_text) == "quit":
                    return 0
            except UserError as exc:
                io.write(f"error: {exc.line()}")
            continue
        _turn(conv, io, line)


def _turn(conv, io: _IO, text: str) -> None:
    out = _Styled() if io.styled else _Plain(io)
    try:
        result = conv.ask(text, on_apply=lambda pid: (out.pause(), _decide_apply(conv, io, pid))[1],
                          on_event=out.event)
    except KeyboardInterrupt:
        partial = "".join(out.text)
        out.close()
        conv.cancelled(partial)
        io.write("\n[turn cancelled; the conversation is kept]")
        return
    except UserError as exc:
        out.close()
        io.write(f"\nerror: {exc.line()}")
        return
    out.close(result.answer)
    for note in result.notes:
        io.dim(f"  note: {note}")
    for pid in result.waiting:
        io.dim(f"  {pid} waits for Product: {hints.approve(pid)}")


class _Plain:
    """A pipe or NO_COLOR: the answer's text as it streams, tool calls as lines."""

    def __init__(self, io: _IO) -> None:
        self.io = io
        self.text: list[str] = []
        self.any = False

    def event(self, kind: str, value: Any) -> None:
        if kind == "text":
            if not self.text:
                self.io.write("devops> ", end="")
            self.text.append(value)
            self.any = True
            self.io.write(value, end="")
        elif kind == "tool":
            self.pause()
            self.io.dim(f"  · {value.get('name')}({_args(value.get('args'))})")

    def pause(self) -> None:
        if self.text:
            self.io.write()
            self.text = []

    def close(self, answer: str = "") -> None:
        self.pause()
        if not self.any and answer:
            self.io.write(f"devops> {answer}")


class _Waiting:
    """What the turn is doing while nothing streams, with the time it has taken: redrawn by rich at each refresh."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.started = time.monotonic()

    def __rich__(self):  # noqa: ANN204
        from rich.text import Text

        return Text(f"  … {self.what} ({time.monotonic() - self.started:.0f} s, Ctrl-C cancels)", style="dim")


class _Styled:
    """A terminal: the answer rendered as markdown while it streams (rich Live), tool calls dimmed, and while
    nothing streams a line saying what the turn waits for and for how long (nothing of it in a pipe)."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(highlight=False)
        self.live = None
        self.status = None
        self.text: list[str] = []
        self.any = False
        self.wait("the model reads the prompt")

    def wait(self, what: str) -> None:
        from rich.live import Live

        self.unwait()
        self.status = Live(_Waiting(what), console=self.console, refresh_per_second=2, transient=True)
        self.status.start()

    def unwait(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None

    def event(self, kind: str, value: Any) -> None:
        from rich.markup import escape

        if kind == "text":
            from rich.live import Live
            from rich.markdown import Markdown

            self.unwait()
            self.text.append(value)
            self.any = True
            if self.live is None:
                self.live = Live(console=self.console, refresh_per_second=8, vertical_overflow="visible")
                self.live.start()
            self.live.update(Markdown(escape_terminal("".join(self.text))))
        elif kind == "tool":
            self.pause()
            self.console.print(f"[dim]  · {escape(escape_terminal(str(value.get('name'))))}"
                               f"({escape(escape_terminal(_args(value.get('args'))))})[/]")
            self.wait(f"{escape_terminal(str(value.get('name')))} runs")
        elif kind == "result":
            self.wait("the model reads the result")

    def pause(self) -> None:
        self.unwait()
        if self.live is not None:
            self.live.stop()
            self.live = None
        self.text = []

    def close(self, answer: str = "") -> None:
        self.pause()
        if not self.any and answer:
            from rich.markdown import Markdown

            self.console.print(Markdown(escape_terminal(answer)))


def _decide_apply(conv, io: _IO, pid: str) -> tuple[bool, str]:
    """The pause of apply_change: Product signs here (at a terminal), else the model is told who must."""
    from agent.loop import waits_for_product

    if not io.interactive:
        return waits_for_product(pid)
    io.write(f"\nThe model asks to apply {pid}. Product signs it now, or leave the key empty to decline.")
    ok = _product_approve(conv, io, pid, ask_key=True)
    return (True, "") if ok else waits_for_product(pid)


def _product_approve(conv, io: _IO, pid: str, ask_key: bool = True) -> bool:
    from pathlib import Path

    from agent import render

    key = (io.read("Product's key file (empty: no): ") or "").strip() if ask_key else ""
    if not key:
        return False
    gate = conv.box.gate()
    try:
        rec, approval = gate.approve(pid, key_path=Path(key).expanduser(),
                                     show=lambda shown: render.confirm_commits(shown, False),
                                     summary=render.print_approval_summary)
    except UserError as exc:
        io.write(f"not approved: {exc.line()}")
        return False
    from agent.gate.gate import expiry_note

    io.write(f"approved {rec.id}: signed by {approval.approver}. {expiry_note(approval.expires_at)}")
    conv.box.refresh()
    return True


def _slash(conv, io: _IO, line: str, help_text: str) -> str | None:
    from agent import render

    cmd, _, rest = line.partition(" ")
    rest = rest.strip()
    box = conv.box
    if cmd in ("/quit", "/exit"):
        return "quit"
    if cmd == "/help":
        io.write(help_text)
    elif cmd == "/sources":
        render.print_sources(box.session(run_checks=True))
    elif cmd == "/review":
        box.refresh()
        render.print_review(box.session(run_checks=True))
    elif cmd == "/proposals":
        render.print_proposals(box.proposals(), json_out=False)
    elif cmd == "/diff":
        rec = box.proposal(_need(rest, "/diff ID"))
        _show_diff(io, rec.diff)
    elif cmd == "/checklist":
        sys.stdout.write(render.checklist_markdown(box.release_checklist()))
    elif cmd == "/verify":
        render.print_verify(box.verify())
    elif cmd == "/approve":
        if not io.interactive:
            raise UserError("approving needs Product at a terminal", f"run `{hints.approve(rest or 'ID')}`")
        _product_approve(conv, io, _need(rest, "/approve ID"))
    elif cmd == "/reject":
        pid = _need(rest, "/reject ID")
        if not io.interactive:
            raise UserError("rejecting needs Product at a terminal", f"run `devops-agent reject {pid} --reason R --key KEY`")
        reason = (io.read("reason: ") or "").strip()
        key = (io.read("Product's key file: ") or "").strip()
        from pathlib import Path

        box.gate().reject(pid, reason, key_path=Path(key).expanduser())
        io.write(f"rejected {pid}")
    elif cmd == "/resume":
        from agent.loop import Conversation

        thread = rest or Conversation.resume_thread(conv.root)
        if not thread:
            raise UserError("no conversation to resume", "start one by asking something")
        conv.thread = thread
        io.write(f"resumed thread {thread} ({len(conv.history())} messages)")
    else:
        raise UserError(f"unknown command {cmd}", "/help lists them")
    return None


def _need(value: str, usage: str) -> str:
    if not value:
        raise UserError(f"usage: {usage}")
    return value.split()[0]


def _show_diff(io: _IO, diff: str) -> None:
    if io.styled:
        from rich.console import Console
        from rich.syntax import Syntax

        Console().print(Syntax(escape_terminal(diff), "diff", theme="ansi_dark", word_wrap=False))
    else:
        io.write(diff)
