"""The Product key and the machine secret: outside the repo, 0600, signatures bound to exactly what was approved."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agent.gate import keys
from agent.core.errors import RefusedError, UserError
from agent.gate.store import Store


@pytest.fixture
def store(tmp_path) -> Store:
    root = tmp_path / "platform"
    root.mkdir()
    return Store(root)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


PAYLOAD = keys.approval_payload("p-20261126-3f2a9c", "a" * 64, "2026-12-03T10:00:00Z", "product", "key")


def test_paths_honour_devops_agent_home(agent_home):
    assert keys.default_key_path() == agent_home / "config" / "product-key.pem"
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


def test_init_writes_0600_outside_the_repo_and_registers_the_public_key(store, agent_home):
    path, fp = keys.init_product_key(None, store)
    assert path == keys.default_key_path()
    assert mode(path) == 0o600
    assert not path.resolve().is_relative_to(store.root.resolve())
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert keys.registered_fingerprint(store) == fp
    assert store.get_meta("product_public_key")


def test_init_refuses_a_path_inside_the_repo(store):
    with pytest.raises(UserError, match="inside the repo"):
        keys.init_product_key(store.root / "keys" / "product.pem", store)
    with pytest.raises(UserError, match="inside the repo"):
        keys.init_product_key(store.root / "sub" / ".." / "product.pem", store)
    assert not (store.root / "keys").exists()
    assert store.get_meta("product_public_key") is None


def test_init_refuses_to_overwrite_without_force(store, tmp_path):
    out = tmp_path / "keys" / "product.pem"
    keys.init_product_key(out, store)
    before = out.read_bytes()
    with pytest.raises(UserError, match="already exists"):
        keys.init_product_key(out, store)
    assert out.read_bytes() == before
    # --force on the registered key's own file rotates it (whoever holds the file proves possession).
    _, fp = keys.init_product_key(out, store, force=True)
    assert out.read_bytes() != before and keys.registered_fingerprint(store) == fp


def test_a_second_key_cannot_replace_the_registered_one(store, tmp_path):
    keys.init_product_key(tmp_path / "product.pem", store)
    registered = keys.registered_fingerprint(store)
    with pytest.raises(RefusedError, match="already registered"):
        keys.init_product_key(tmp_path / "model.pem", store)
    with pytest.raises(RefusedError, match="already registered"):
        keys.init_product_key(tmp_path / "model.pem", store, force=True)
    assert keys.registered_fingerprint(store) == registered
    # With the current key in hand, Product may move to a new file.
    _, fp = keys.init_product_key(tmp_path / "new.pem", store, current=tmp_path / "product.pem")
    assert keys.registered_fingerprint(store) == fp != registered


def test_sign_verify_round_trip(store, tmp_path):
    path, _ = keys.init_product_key(tmp_path / "product.pem", store)
    signature = keys.sign(path, PAYLOAD)
    assert keys.verify(store, PAYLOAD, signature)


def test_signature_over_another_hash_fails(store, tmp_path):
    path, _ = keys.init_product_key(tmp_path / "product.pem", store)
    signature = keys.sign(path, PAYLOAD)
    other = keys.approval_payload("p-20261126-3f2a9c", "b" * 64, "2026-12-03T10:00:00Z", "product", "key")
    assert not keys.verify(store, other, signature)
    later = keys.approval_payload("p-20261126-3f2a9c", "a" * 64, "2027-12-03T10:00:00Z", "product", "key")
    assert not keys.verify(store, later, signature)
    assert not keys.verify(store, PAYLOAD, "not base64!")
    assert not keys.verify(store, PAYLOAD, "")


def test_a_key_that_is_not_registered_fails(store, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    keys.init_product_key(tmp_path / "product.pem", store)
    rogue = tmp_path / "rogue.pem"
    rogue.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    rogue.chmod(0o600)
    assert not keys.verify(store, PAYLOAD, keys.sign(rogue, PAYLOAD))


def test_verify_is_false_when_no_key_is_registered(store, tmp_path):
    other_root = tmp_path / "other"
    other_root.mkdir()
    path, _ = keys.init_product_key(tmp_path / "product.pem", Store(other_root))
    assert not keys.verify(store, PAYLOAD, keys.sign(path, PAYLOAD))


def test_missing_key_file_is_one_line_user_error(tmp_path):
    with pytest.raises(UserError) as err:
        keys.sign(tmp_path / "nowhere.pem", PAYLOAD)
    assert err.value.exit_code == 2
    assert "\n" not in err.value.line()
    assert err.value.message == f"Product key {tmp_path / 'nowhere.pem'} does not exist"


def test_bad_pem_and_wide_permissions_are_user_errors(store, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    bad.chmod(0o600)
    with pytest.raises(UserError, match="is not a PEM private key") as err:
        keys.load_private_key(bad)
    assert "\n" not in err.value.line()
    path, _ = keys.init_product_key(tmp_path / "product.pem", store)
    path.chmod(0o644)
    with pytest.raises(UserError, match=r"readable by others \(mode 0644\)"):
        keys.sign(path, PAYLOAD)


def test_non_ed25519_key_is_refused(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = tmp_path / "ec.pem"
    other.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    os.chmod(other, 0o600)
    with pytest.raises(UserError, match="not an Ed25519 key"):
        keys.load_private_key(other)


def test_approval_payload_is_canonical():
    a = keys.approval_payload("p-1", "a" * 64, "2026-12-03T10:00:00Z", "zoé", "tty")
    assert a == keys.approval_payload("p-1", "a" * 64, "2026-12-03T10:00:00Z", "zoé", "tty")
    assert b", " not in a and b": " not in a and "zoé".encode() in a
    assert a != keys.approval_payload("p-1", "a" * 64, "2026-12-03T10:00:00Z", "zoé", "key")
