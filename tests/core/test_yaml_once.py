"""Each YAML file is parsed once per review, and measuring a document without aliases is cheap yet still
bounded (depth, size)."""
from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from agent.core import yaml_safe


def test_an_alias_free_document_is_measured_as_a_tree_and_still_bounded(monkeypatch):
    slow = Counter()
    real = yaml_safe._measure
    monkeypatch.setattr(yaml_safe, "_measure", lambda node, what: (slow.update([what]), real(node, what)))
    assert yaml_safe.load("a:\n  b: [1, 2]\n", "plain") == {"a": {"b": [1, 2]}}
    assert slow["plain"] == 0  # no alias: the cheap walk
    assert yaml_safe.load("a: &x [1]\nb: *x\n", "aliased") == {"a": [1], "b": [1]}
    assert slow["aliased"] == 1  # an alias may share nodes: the full measure
    deep = "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 70)) + "  " * 70 + "v\n"
    with pytest.raises(yaml_safe.YamlLimitError, match="nested more than 64"):
        yaml_safe.load(deep, "deep")
    flow = "[" * 70 + "]" * 70
    with pytest.raises(yaml_safe.YamlLimitError, match="nested more than 64"):
        yaml_safe.load_all(flow, "deep flow")
    monkeypatch.setattr(yaml_safe, "MAX_EXPANDED_NODES", 50)
    with pytest.raises(yaml_safe.YamlLimitError, match="more than 50 values"):
        yaml_safe.load_node("\n".join(f"k{i}: v" for i in range(40)), "wide")
