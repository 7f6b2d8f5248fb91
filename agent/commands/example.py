"""The bundled example platform."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from agent.commands import kit

from agent.commands.common import (example_app)


@example_app.command("init")
def example_init(
    dest: Path = kit.Argument(..., help="Directory to create (must not exist or be empty)."),
    demo_key: Optional[Path] = kit.Option(None, "--demo-product-key",
                                            help="Also create a demo Product key here (NO passphrase) as the trust root."),
) -> None:
    """Build the example platform in DEST as a git repo whose five services are real submodules."""
    from agent.example import init_example

    root = init_example(dest)
    kit.echo(f"example platform ready in {root}; try: devops-agent review --repo {root}")
    if demo_key is not None:
        from agent.gate import Gate

        path, fingerprint, commit = Gate(root).init_product_key(demo_key, "product@animesphere", passphrase=False)
        kit.echo(f"demo Product key {path} ({fingerprint}) WITHOUT a passphrase is the trust root "
                   f"({commit[:12]}): fine for a demo, never for a real platform (`review` reports it)")
