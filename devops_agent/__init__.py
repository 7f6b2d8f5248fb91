"""The `devops-agent` command's entry point, and the one top-level name the wheel installs.

The repository keeps its folders as they are (agent/, tools/, sources/, evals/, examples/, prompts/) and the code
imports them by those names. The wheel installs them under `devops_agent/_lib/`, not at the top of
site-packages, so a distribution shipping its own `tools` or `examples` package is never overwritten nor
shadowed: only the devops-agent process puts `_lib` first on its import path (`activate`). In a source checkout
(or an editable install) there is no `_lib`: the folders sit beside this one.
"""
from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_LIB = os.path.join(_HERE, "_lib")
ROOT = _LIB if os.path.isdir(_LIB) else os.path.dirname(_HERE)
PACKAGES = ("agent", "tools", "sources", "evals", "examples", "prompts")


def activate() -> None:
    """Put devops-agent's packages first on this process's import path (once)."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)


def main() -> None:
    activate()
    from agent.cli import main as cli_main

    cli_main()
