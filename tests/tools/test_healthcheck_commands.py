"""Healthcheck commands that cannot go red (tools/facts/shell.py: always_succeeds)."""
from __future__ import annotations

import pytest

from tools.facts.shell import always_succeeds


@pytest.mark.parametrize("command, said", [
    ("curl -f http://localhost/health || exit 0", "`|| exit 0`"),
    ("mongosh --eval 'db.ping()' && echo 0 || echo 1", "`|| echo 1`"),
    ("pg_isready -U app; exit 0", "`; exit 0`"),
    ("wget -q --spider http://localhost || true", "`|| true`"),
    ("grep -q ready /tmp/state || :", "`|| :`"),
    ("redis-cli ping || printf 'down'", "`|| printf 'down'`"),
])
def test_a_check_whose_last_word_is_success_cannot_fail(command, said):
    assert always_succeeds(command) == said


@pytest.mark.parametrize("command", [
    "curl -f http://localhost/health || exit 1",
    "curl -fsS http://localhost && echo ok",           # echo only runs when the check passed
    "true", "/bin/true", "exit 0",                     # switched off on purpose (often a variable's value)
    "pg_isready || exit",                              # `exit` keeps the failing status
    "", None,
])
def test_a_check_that_can_fail_or_is_switched_off_is_not_said(command):
    assert always_succeeds(command) is None


def test_an_inverted_test_that_exits_1_can_fail():
    assert always_succeeds("wazuh-control status | grep -q 'not running' && exit 1 || exit 0") is None
