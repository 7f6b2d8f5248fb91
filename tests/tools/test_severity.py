"""A blocker is what breaks a deploy, loses data or opens production: every check registered as blocker says
how it meets the rule, and docs/checks.md (generated) states the rule and the list."""
from __future__ import annotations

from agent.render import catalogue_markdown
from tools.checks import CHECKS
from tools.checks.registry import BLOCKER_REASONS, BLOCKER_RULE


def test_every_blocker_check_states_how_it_meets_the_rule():
    blockers = {spec.id for spec in CHECKS.values() if spec.severity == "blocker"}
    assert blockers == set(BLOCKER_REASONS), (
        "a check registered as blocker must break a deploy, lose data or open production: add its reason to "
        "BLOCKER_REASONS in tools/checks/registry.py, or register it at high")
    for cid, why in BLOCKER_REASONS.items():
        assert why.startswith(("breaks a deploy: ", "loses data: ", "opens production: ")), cid


def test_charter_rules_and_practices_are_not_blockers():
    # a staging file, a staging deploy, a :latest in prod, a source not loaded: nothing breaks, nothing opens
    for cid in ("CHR002", "CI003", "CMP003", "SRC001"):
        assert CHECKS[cid].severity == "high", cid


def test_the_catalogue_states_the_rule_and_each_blocker():
    doc = catalogue_markdown(None)
    assert BLOCKER_RULE in doc
    for cid, why in BLOCKER_REASONS.items():
        assert f"- {cid} ({CHECKS[cid].title}): {why}" in doc
