"""Product's signature key (Ed25519) and the machine-local secret that seals the gate's state.

Two secrets, both kept OUTSIDE the platform repo (the DevOps role reads the repo):
- the Product private key, whose public half is registered in the repo's state; only its holder
  can sign an approval (`approve --key`);
- the machine secret, one per machine, an HMAC key that seals every state row and TTY approval so
  that a row written with the sqlite3 module is detected.

`DEVOPS_AGENT_HOME` relocates every out-of-repo path (tests, or a deliberately separate place).
`cryptography` is imported inside the functions that need it: commands that never sign stay fast.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from agent.core.errors import RefusedError, UserError

if TYPE_CHECKING:
    from agent.gate.store import Store

APP = "devops-agent"
HOME_ENV = "DEVOPS_AGENT_HOME"
PUBLIC_KEY_META = "product_public_key"
SECRET_BYTES = 32
_secret_cache: dict[Path, bytes] = {}


# -- out-of-repo locations ---------------------------------------------------------------

def data_dir() -> Path:
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser() / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP))


def config_dir() -> Path:
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser() / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP))


def secret_path() -> Path:
    return data_dir() / "machine-secret"


def default_key_path() -> Path:
    return config_dir() / "product-key.pem"


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def _check_private(path: Path, what: str) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise UserError(f"{what} {path} is readable by others (mode {mode:04o})", f"run `chmod 600 {path}`")


# -- the machine secret -----------------------------------------------------------------

def machine_secret() -> bytes:
    """The machine-local HMAC key, created (0600) on first use; concurrent first uses agree on one."""
    path = secret_path()
    cached = _secret_cache.get(path)
    if cached is not None:
        return cached
    if not path.exists():
        _private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(SECRET_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic and never replaces: the first creator wins, whole
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    if not path.is_file():
        raise UserError(f"machine secret {path} is not a file", f"move it away; {APP} creates a new one")
    _check_private(path, "machine secret")
    value = path.read_bytes()
    if len(value) != SECRET_BYTES:
        raise UserError(f"machine secret {path} is damaged ({len(value)} bytes, expected {SECRET_BYTES})",
                        "restore it from a backup; a new secret makes the existing state unreadable")
    _secret_cache[path] = value
    return value


def local_mac(data: bytes) -> str:
    """HMAC-SHA256 (hex) of `data` under the machine secret."""
    return hmac.new(machine_secret(), data, hashlib.sha256).hexdigest()


def secret_id() -> str:
    """Names the machine secret without revealing it: tells "another secret" from "a tampered row"."""
    return local_mac(b"devops-agent secret id")[:16]


# -- the Product key ----------------------------------------------------------------------

def fingerprint(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def _public_raw(private_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def registered_public_key(store: "Store") -> bytes | None:
    value = store.get_meta(PUBLIC_KEY_META)
    if not value:
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


def registered_fingerprint(store: "Store") -> str | None:
    raw = registered_public_key(store)
    return fingerprint(raw) if raw else None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def init_product_key(out: Path | None, store: "Store", force: bool = False, *,
                     current: Path | None = None) -> tuple[Path, str]:
    """Write a new Product key (0600, outside the repo) and register its public half in the repo's state.

    A repo that already has a registered key only accepts a new one from whoever holds the current
    one: the file being replaced (`force`), or `current`. Otherwise the DevOps role could register
    a key of its own and sign its own approvals.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(out).expanduser() if out is not None else default_key_path()
    path = path.resolve()
    root = Path(store.root).resolve()
    if _inside(path, root):
        raise UserError(f"refusing to write the Product key inside the repo ({path})",
                        "the DevOps role reads the repo: pass --out outside it, or omit --out for "
                        f"{default_key_path()}")
    if path.exists() and not force:
        raise UserError(f"Product key {path} already exists",
                        "pass --force to replace it (approvals signed with it stop verifying), or --out another path")
    registered = registered_public_key(store)
    if registered is not None:
        proof = current if current is not None else (path if path.exists() else None)
        if proof is None or _public_raw(load_private_key(Path(proof))) != registered:
            raise RefusedError(
                f"a different Product key is already registered for this repo (fingerprint {fingerprint(registered)})",
                "replacing it needs the current key: rerun with --force where that key file is, "
                "or pass it as the current key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    _private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    raw = _public_raw(key)
    store.set_meta(PUBLIC_KEY_META, base64.b64encode(raw).decode("ascii"))
    return path, fingerprint(raw)


def register_product_key(path: Path, store: "Store") -> str:
    """Register the public half of an existing Product key (one key for several repos).

    Only where no key is registered yet, or the same key is: replacing a key goes through
    `init_product_key`, which asks for the current one."""
    raw = _public_raw(load_private_key(Path(path).expanduser()))
    registered = registered_public_key(store)
    if registered is not None and registered != raw:
        raise RefusedError(
            f"a different Product key is already registered for this repo (fingerprint {fingerprint(registered)})",
            "replacing it needs the current key: use `product-key init --force` where that key file is")
    store.set_meta(PUBLIC_KEY_META, base64.b64encode(raw).decode("ascii"))
    return fingerprint(raw)


def load_private_key(path: Path):
    """The Ed25519 private key at `path`; a one-line UserError for anything else."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = Path(path).expanduser()
    if not path.exists():
        raise UserError(f"Product key {path} does not exist",
                        "create one with `devops-agent product-key init`, or pass the right --key")
    if not path.is_file():
        raise UserError(f"Product key {path} is not a file", "pass the PEM file made by `devops-agent product-key init`")
    _check_private(path, "Product key")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except TypeError:
        raise UserError(f"Product key {path} is encrypted", "use an unencrypted PEM kept outside the repo") from None
    except (ValueError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"Product key {path} is not a PEM private key ({reason})",
                        "pass the file made by `devops-agent product-key init`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UserError(f"Product key {path} is not an Ed25519 key",
                        "create one with `devops-agent product-key init`")
    return key


def sign(path: Path, payload: bytes) -> str:
    """Base64 Ed25519 signature of `payload` with the private key at `path`."""
    return base64.b64encode(load_private_key(path).sign(payload)).decode("ascii")


def verify(store: "Store", payload: bytes, signature: str) -> bool:
    """Whether `signature` is the registered Product key's over `payload` (False when none is registered)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = registered_public_key(store)
    if raw is None or not isinstance(signature, str):
        return False
    try:
        sig = base64.b64decode(signature, validate=True)
        Ed25519PublicKey.from_public_bytes(raw).verify(sig, payload)
    except (ValueError, InvalidSignature):
        return False
    return True


def approval_payload(proposal_id: str, content_hash: str, expires_at: str, approver: str, method: str) -> bytes:
    """The canonical bytes an approval signs: what (proposal and content hash), until when, by whom, how."""
    doc = {"v": 1, "kind": "devops-agent approval", "proposal": proposal_id, "hash": content_hash,
           "expires_at": expires_at, "approver": approver, "method": method}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
