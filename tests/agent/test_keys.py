"""Out-of-repo paths and the machine secret (corruption detection only); the PEM Product key is gone."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from agent.core.errors import UserError
from agent.gate import keys


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_paths_honour_devops_agent_home(agent_home):
    assert keys.default_key_path() == agent_home / "config" / "product_ed25519"
    assert keys.secret_path() == agent_home / "data" / "machine-secret"


def test_machine_secret_is_created_once_0600(agent_home):
    mac = keys.local_mac(b"x")
    assert len(mac) == 64 and mac == keys.local_mac(b"x") != keys.local_mac(b"y")
    assert mode(keys.secret_path()) == 0o600
    assert len(keys.secret_path().read_bytes()) == keys.SECRET_BYTES


def test_machine_secret_readable_by_others_is_refused(agent_home):
    keys.local_mac(b"x")
    keys.secret_path().chmod(0o644)
    keys._secret_cache.clear()
    with pytest.raises(UserError, match="readable by others"):
        keys.local_mac(b"x")


def test_damaged_machine_secret_is_one_line(agent_home):
    keys.local_mac(b"x")
    keys.secret_path().write_bytes(b"short")
    keys._secret_cache.clear()
    with pytest.raises(UserError, match="damaged") as err:
        keys.local_mac(b"x")
    assert "\n" not in err.value.line()


def test_secret_id_names_the_secret_without_revealing_it(agent_home):
    assert len(keys.secret_id()) == 16
    assert keys.secret_id() not in keys.secret_path().read_bytes().hex()


