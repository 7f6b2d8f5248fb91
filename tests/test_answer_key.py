"""The example platform's answer key (examples/animesphere/DEFECTS.md) against a real review:
every planted defect is found at its line; every deliberate trap stays at info (or is a listed defect)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.example import init_example
from agent.session import open_session

KEY = Path(__file__).resolve().parent.parent / "examples/animesphere/DEFECTS.md"
ENTRY = re.compile(r"^- `([^`:]+):(\d+)` (\S+)", re.M)


def entries(section: str) -> list[tuple[str, int, str]]:
    return [(p, int(l), k) for p, l, k in ENTRY.findall(section)]


@pytest.fixture(scope="module")
def review(tmp_path_factory):
    return open_session(init_example(tmp_path_factory.mktemp("key") / "animesphere"))


def at(review, path: str, line: int) -> list:
    return [f for f in review.findings for loc in f.locations if (loc.path, loc.line) == (path, line)]


def test_every_planted_defect_is_found_at_its_line(review):
    defects, _ = KEY.read_text().split("## Deliberate")
    listed = entries(defects)
    assert len(listed) >= 15
    missed = [(p, l, k) for p, l, k in listed if not [f for f in at(review, p, l) if f.severity != "info"]]
    assert not missed, missed


def test_deliberate_traps_stay_quiet(review):
    defects, deliberate = KEY.read_text().split("## Deliberate")
    defect_spots = {(p, l) for p, l, _ in entries(defects)}
    for path, line, kind in entries(deliberate):
        loud = [f for f in at(review, path, line) if f.severity != "info"]
        assert not loud or (path, line) in defect_spots, (path, line, kind, [(f.id, f.title) for f in loud])
