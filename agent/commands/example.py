"""The bundled example platform."""
from __future__ import annotations

from pathlib import Path

import typer

from agent.commands.common import (example_app)


@example_app.command("init")
def example_init(dest: Path = typer.Argument(..., help="Directory to create (must not exist or be empty).")) -> None:
    """Build the example platform in DEST as a git repo whose five services are real submodules."""
    from agent.example import init_example

    root = init_example(dest)
    typer.echo(f"example platform ready in {root}; try: devops-agent review --repo {root}")
