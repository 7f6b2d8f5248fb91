"""benchmarks/mutants.py measures whether the replay suite kills each mutant of the runtime; it runs outside CI
(about 40 s a mutant). What CI holds: every mutant still applies to the code as it is (its text occurs exactly
once in its file), so the harness never measures a copy that was not mutated, and the ids are distinct."""
from __future__ import annotations

import importlib.util
import sys

from conftest import ROOT


def _harness():
    spec = importlib.util.spec_from_file_location("mutants", ROOT / "benchmarks" / "mutants.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_mutant_applies_once_to_the_code_as_it_is():
    mutants = _harness().MUTANTS
    assert len(mutants) >= 12 and len({m.id for m in mutants}) == len(mutants)
    for m in mutants:
        text = (ROOT / m.file).read_text(encoding="utf-8")
        assert text.count(m.old) == 1, (m.id, m.file, text.count(m.old))
        assert m.old != m.new and m.what
