"""Structured YAML edits that keep comments, quotes and key order (ruamel.yaml round trip).

`propose --set FILE:KEY.PATH=VALUE` turns such edits into an ordinary unified diff, so what
Product approves is still the exact text change.
"""
from __future__ import annotations

import difflib
import io
import re
from dataclasses import dataclass
from pathlib import Path

from agent.core.errors import UserError
from sources.files import SourceReadError, confine

_SET = re.compile(r"^(?P<file>[^:]+):(?P<path>[^=]+)=(?P<value>.*)$", re.S)


@dataclass(frozen=True)
class YamlSet:
    file: str
    path: list[str]
    value: object


def parse_set(spec: str) -> YamlSet:
    """`docker-compose.prod.yml:services.api.restart=unless-stopped` (the value is read as YAML)."""
    import yaml

    m = _SET.match(spec)
    if not m or not m.group("path").strip():
        raise UserError(f"--set {spec!r} is not FILE:KEY.PATH=VALUE",
                        "for example docker-compose.prod.yml:services.api.restart=unless-stopped")
    try:
        value = yaml.safe_load(m.group("value")) if m.group("value").strip() else ""
    except yaml.YAMLError:
        value = m.group("value")
    return YamlSet(m.group("file").strip(), [p for p in m.group("path").strip().split(".") if p], value)


def _yaml():
    from ruamel.yaml import YAML

    y = YAML()  # round trip
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap long lines
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def apply_sets(root: Path, sets: list[YamlSet]) -> str:
    """The unified diff (paths relative to the platform root) of applying `sets` to the files."""
    by_file: dict[str, list[YamlSet]] = {}
    for s in sets:
        by_file.setdefault(s.file, []).append(s)
    diffs = []
    for rel, edits in by_file.items():
        try:
            path = confine(root, rel)
        except SourceReadError as exc:
            raise UserError(exc.message, "name a file inside the platform") from None
        if not path.is_file():
            raise UserError(f"{rel} does not exist", "--set edits an existing YAML file")
        before = path.read_text(encoding="utf-8")
        y = _yaml()
        try:
            data = y.load(before)
        except Exception as exc:  # ruamel raises many error types; all mean "not valid YAML"
            raise UserError(f"{rel} is not valid YAML: {str(exc).splitlines()[0]}", "fix it first") from None
        for edit in edits:
            node = data
            for key in edit.path[:-1]:
                if not isinstance(node, dict) or key not in node:
                    raise UserError(f"{rel}: no key {'.'.join(edit.path[:edit.path.index(key) + 1])}",
                                    "name an existing mapping (only the last key may be new)")
                node = node[key]
            if not isinstance(node, dict):
                raise UserError(f"{rel}: {'.'.join(edit.path[:-1])} is not a mapping", "set a key of a mapping")
            key = edit.path[-1]
            if key in node or not hasattr(node, "insert"):
                node[key] = edit.value
            else:
                # A new key goes after the last simple (scalar) key: at the very end it would land
                # after the blank line that ruamel keeps attached to the previous nested block.
                scalars = [i for i, v in enumerate(node.values()) if not isinstance(v, (dict, list))]
                node.insert(scalars[-1] + 1 if scalars else len(node), key, edit.value)
        out = io.StringIO()
        y.dump(data, out)
        after = out.getvalue()
        if after == before:
            continue
        diffs.append(f"diff --git a/{rel} b/{rel}\n" + "".join(difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{rel}", f"b/{rel}")))
    if not diffs:
        raise UserError("the --set edits change nothing", "the values are already set")
    return "".join(diffs)
