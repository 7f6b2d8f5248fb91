"""The layers of DESIGN.md, checked on every module's imports (including imports inside functions)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRONT_ENDS = ("agent.cli", "agent.commands", "agent.render", "agent.chat", "agent.evals", "agent.mcp_server")

# package prefix -> what it may import of ours
ALLOWED = {
    "agent.core": ("agent.core",),
    "sources": ("agent.core", "sources"),
    "tools": ("agent.core", "sources", "tools"),
    "agent.gate": ("agent.core", "agent.gate", "sources", "tools", "agent.session"),
}
OURS = ("agent", "sources", "tools")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.lineno, f"{node.module}.{a.name}") if node.module == "agent" else (node.lineno, node.module)
                    for a in node.names]
    return [(n, m) for n, m in out if m.split(".")[0] in OURS]


def _files(prefix: str) -> list[Path]:
    base = ROOT.joinpath(*prefix.split("."))
    return sorted(base.rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_it_may(layer):
    bad = []
    for path in _files(layer):
        for line, name in _imports(path):
            if not any(name == ok or name.startswith(ok + ".") for ok in ALLOWED[layer]):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_nothing_but_the_front_ends_imports_a_front_end():
    bad = []
    for path in _files("agent") + _files("sources") + _files("tools"):
        mod = _module(path)
        if mod.startswith(FRONT_ENDS):
            continue
        for line, name in _imports(path):
            if name.startswith(FRONT_ENDS):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_checks_use_no_private_helper_of_another_module():
    bad = []
    for path in _files("tools.checks"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in OURS:
                for alias in node.names:
                    if alias.name.startswith("_") and not node.module.startswith("tools.checks"):
                        bad.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {node.module}.{alias.name}")
    assert not bad, "\n".join(bad)
