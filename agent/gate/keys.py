"""Out-of-repo locations and the machine-local secret that seals the gate's state rows.

- Product's key is an SSH key (`agent.gate.ssh`); its default place is `default_key_path()`, outside
  the platform repo (the DevOps role reads the repo). Its public half lives in the committed signer list.
- The machine secret, one per machine, is an HMAC key over every state row: corruption detection
  only. The same Unix user can read it, so no authority rests on it.

`DEVOPS_AGENT_HOME` relocates every out-of-repo path (tests, or a deliberately separate place).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from agent.core.errors import UserError

APP = "devops-agent"
HOME_ENV = "DEVOPS_AGENT_HOME"
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


def log_dir() -> Path:
    """Where crash logs go (agent/crash.py): outside every repository, one folder per user."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser() / "logs"
    import platformdirs

    return Path(platformdirs.user_log_dir(APP))


def secret_path() -> Path:
    return data_dir() / "machine-secret"


def default_key_path() -> Path:
    """Where `product-key init` writes Product's SSH key (and its .pub) unless told otherwise."""
    return config_dir() / "product_ed25519"


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
