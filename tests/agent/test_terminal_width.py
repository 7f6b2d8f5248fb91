"""`review` at a 100-column terminal (a real pseudo-terminal, through the real CLI): a path or a command is never
broken. The sources table keeps each path whole; a next step's command is split only between shell words, its
lines continued with ` \\`, so what is copied runs as the one command."""
from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from agent.example import init_example

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_a_terminal(*args: str, columns: int = 100, cwd: Path | None = None) -> str:
    """The CLI's output on a pseudo-terminal `columns` wide (rich reads COLUMNS on a terminal)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", *args], stdout=slave, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, cwd=cwd,
                            env={**os.environ, "COLUMNS": str(columns), "LINES": "50", "NO_COLOR": "1",
                                 "TERM": "xterm"})
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=120)
    os.close(master)
    return ANSI.sub("", out.decode()).replace("\r\n", "\n")


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    return init_example(tmp_path_factory.mktemp("ex") / "animesphere")


def test_at_100_columns_no_path_and_no_command_is_broken(example):
    from rich.cells import cell_len

    text = on_a_terminal("review", "--repo", str(example))
    brief = json.loads(subprocess.run([sys.executable, "-m", "agent.cli", "review", "--repo", str(example),
                                       "--format", "json"], capture_output=True, text=True).stdout)
    lines = text.splitlines()
    assert "Verdict: NO-GO" in text
    assert max(cell_len(line.rstrip()) for line in lines) <= 100
    table = text[text.index("\nSources"):text.index("\nEnvironments")]
    for src in brief["sources"]:  # each path whole on a line of the table
        assert any(re.search(rf"(^|\s){re.escape(src['path'])}(\s|$)", line) for line in table.splitlines()), src["path"]
    steps = text[text.index("\nNext steps"):]
    commands = [s["command"] for s in brief["next_steps"] if s["command"]]
    assert any(len(c) > 100 for c in commands)  # the example's propose lines are wider than the terminal
    shown, current = [], None
    for line in steps.splitlines():  # a command starts at column 7; its continuations at column 9
        if line.startswith("       ") and not line.startswith("        ") or current is not None:
            current = (current + " " if current is not None else "") + line.strip().removesuffix("\\").strip()
            if not line.rstrip().endswith("\\"):
                shown.append(current)
                current = None
    assert shown == commands
    wrapped = [line for line in steps.splitlines() if line.rstrip().endswith(" \\")]
    assert wrapped  # some did wrap, and every line of them is whole shell words of the command
    for line in wrapped:
        assert any(line.strip().removesuffix(" \\") in c for c in commands), line
    # a backquoted command in the prose stays on one line
    assert "`devops-agent approve ID --key KEY`" in steps and f"`devops-agent review --repo {example}`" in steps


def test_a_command_wider_than_the_terminal_copies_as_one(tmp_path):
    """The copied lines, run by a shell, give the very words of the command (quotes and all)."""
    from agent.render import command_lines, shell_words

    command = ("devops-agent propose --set 'docker compose.prod.yml:services.web.restart=unless-stopped' "
               "--reason 'a reason with  two spaces' --risk \"it's low\" --rollback '...' --repo /tmp/a\\ b")
    lines = command_lines(command, 40)
    # a line is wider only when it holds one option and its value, which are never parted
    assert len(lines) > 2 and all(len(line) <= 40 or len(shell_words(line.removesuffix(" \\"))) <= 2
                                  for line in lines)
    script = "printf '%s\\n' " + "\n".join(lines).replace("devops-agent ", "", 1)
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True).stdout.splitlines()
    expected = subprocess.run(["bash", "-c", "printf '%s\\n' " + command.replace("devops-agent ", "", 1)],
                              capture_output=True, text=True).stdout.splitlines()
    assert out == expected and "a reason with  two spaces" in out
