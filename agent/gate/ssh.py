"""Product's authority: SSH signatures made and checked by OpenSSH's own `ssh-keygen -Y`.

The signer list is git's `gpg.ssh.allowedSignersFile` format, committed at `SIGNERS_FILE` in the
platform repo, so that plain `git verify-commit` checks the same thing we do. `ssh-keygen` is run by
absolute path with a clean environment (no repo config picks it), and asks for the passphrase on
Product's terminal itself: this process never sees it.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agent.core import hints
from agent.core.errors import RefusedError, UserError
from tools.facts import SIGNERS_FILE  # noqa: F401  (the signer list's path: one fact, one place)

GIT_NAMESPACE = "git"  # what git itself signs commits under
DECISION_NAMESPACE = "devops-agent"  # Product's other decisions (reject, block, unblock, signer changes)
NO_PASSPHRASE_MARK = "# devops-agent: demo key, no passphrase"
_KEY_TYPES = ("ssh-ed25519", "sk-ssh-ed25519@openssh.com", "ecdsa-sha2-nistp256", "sk-ecdsa-sha2-nistp256@openssh.com",
              "ssh-rsa")
_PRINCIPAL_RE = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")
_KEY_RE = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")  # base64: the list is written out in ASCII for ssh-keygen


def ssh_keygen() -> str:
    """The absolute path of OpenSSH's ssh-keygen (never a relative PATH entry such as `.` or the repo)."""
    for candidate in ("/usr/bin/ssh-keygen", "/usr/local/bin/ssh-keygen", "/opt/homebrew/bin/ssh-keygen"):
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("ssh-keygen")
    if found and os.path.isabs(found):
        return found
    raise UserError("ssh-keygen (OpenSSH >= 8.2) is not installed", "install openssh-client")


def _env() -> dict:
    keep = ("HOME", "PATH", "SSH_AUTH_SOCK", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE", "SSH_SK_PROVIDER", "DISPLAY",
            "TERM", "LANG")
    return {k: os.environ[k] for k in keep if k in os.environ}


@dataclass(frozen=True)
class Signer:
    principal: str
    key_type: str
    key: str  # base64 blob
    no_passphrase: bool = False  # declared by `product-key init --no-passphrase` (demo keys)

    @property
    def public_line(self) -> str:
        return f"{self.key_type} {self.key}"

    def line(self) -> str:
        return f'{self.principal} namespaces="{GIT_NAMESPACE},{DECISION_NAMESPACE}" {self.key_type} {self.key}'


def parse_signers(text: str) -> list[Signer]:
    """The signers of an allowed-signers file; lines we cannot read raise (a signer list is never guessed)."""
    out: list[Signer] = []
    demo = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            demo = demo or line == NO_PASSPHRASE_MARK
            continue
        parts = line.split()
        principal = parts[0]
        rest = parts[1:]
        while rest and rest[0] not in _KEY_TYPES:
            rest = rest[1:]  # options such as namespaces="git"
        if len(rest) < 2 or not _PRINCIPAL_RE.match(principal) or not _KEY_RE.match(rest[1]):
            raise UserError(f"{SIGNERS_FILE}:{number}: not an allowed-signers line",
                            "each line is: PRINCIPAL namespaces=\"git,devops-agent\" KEYTYPE BASE64")
        out.append(Signer(principal, rest[0], rest[1], no_passphrase=demo))
        demo = False
    return out


def format_signers(signers: list[Signer]) -> str:
    lines = ["# Product's signers (git gpg.ssh.allowedSignersFile format); changed only by a signed commit"]
    for s in signers:
        if s.no_passphrase:
            lines.append(NO_PASSPHRASE_MARK)
        lines.append(s.line())
    return "\n".join(lines) + "\n"


def fingerprint(public_line: str) -> str:
    """SHA256:… of a public key line, as ssh-keygen -l prints it (sha256 of the key blob, unpadded base64)."""
    import base64
    import hashlib

    parts = public_line.split()
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (IndexError, ValueError):  # binascii.Error is a ValueError; a non-ASCII key raises ValueError itself
        raise UserError(f"not an SSH public key: {public_line[:40]}", "pass the .pub file made by ssh-keygen") from None
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def read_public_key(path: Path) -> str:
    """'TYPE BASE64' of a public key file (or of the .pub beside a private key)."""
    path = Path(path).expanduser()
    pub = path if path.suffix == ".pub" else path.with_name(path.name + ".pub")
    if not pub.is_file():
        raise UserError(f"public key {pub} does not exist", f"pass the key made by `{hints.product_key_init()}`")
    parts = pub.read_text(encoding="ascii", errors="replace").split()
    if len(parts) < 2 or parts[0] not in _KEY_TYPES:
        raise UserError(f"{pub} is not an SSH public key", f"pass the key made by `{hints.product_key_init()}`")
    return f"{parts[0]} {parts[1]}"


def generate_key(path: Path, comment: str, passphrase: bool = True, key_type: str = "ed25519") -> str:
    """A new key pair at `path` (+ .pub); ssh-keygen asks for the passphrase itself unless passphrase=False."""
    if key_type not in ("ed25519", "ed25519-sk", "ecdsa-sk"):
        raise UserError(f"unsupported key type {key_type!r}", "use ed25519 (default) or ed25519-sk (security key)")
    path = Path(path).expanduser()
    if path.exists() or path.with_name(path.name + ".pub").exists():
        raise UserError(f"{path} already exists", "pass another --out, or use the existing key")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    cmd = [ssh_keygen(), "-q", "-t", key_type, "-C", comment, "-f", str(path)]
    if not passphrase:
        cmd += ["-N", ""]
    proc = subprocess.run(cmd, env=_env(), stdin=None if passphrase else subprocess.DEVNULL,
                          capture_output=not passphrase, text=True)
    if proc.returncode != 0 or not path.exists():
        raise UserError(f"ssh-keygen could not create {path}", (proc.stderr or "").strip()[:200] or "see above")
    os.chmod(path, 0o600)
    return read_public_key(path)


def sign(data: bytes, key: Path, namespace: str) -> str:
    return sign_many([data], key, namespace)[0]


def sign_many(datas: list[bytes], key: Path, namespace: str) -> list[str]:
    """Armored SSH signatures of each of `datas` by `key` (a private key file, or a .pub whose key is in
    ssh-agent), in one ssh-keygen run: it asks for the passphrase (or the security-key touch) once, on
    Product's terminal."""
    key = Path(key).expanduser()
    if not key.exists():
        raise UserError(f"Product key {key} does not exist", f"pass the key made by `{hints.product_key_init()}`")
    with tempfile.TemporaryDirectory(prefix="devops-agent-sign-") as tmp:
        files = []
        for index, data in enumerate(datas):
            payload = Path(tmp) / f"payload{index}"
            payload.write_bytes(data)
            files.append(payload)
        proc = subprocess.run([ssh_keygen(), "-Y", "sign", "-q", "-n", namespace, "-f", str(key), *map(str, files)],
                              env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        sigs = [f.with_name(f.name + ".sig") for f in files]
        if proc.returncode != 0 or not all(s.exists() for s in sigs):
            detail = (proc.stderr or "").strip().splitlines()
            raise RefusedError(f"signing with {key} failed: {detail[-1] if detail else 'ssh-keygen exit ' + str(proc.returncode)}",
                               "check the passphrase (or the security key) and retry; nothing was recorded")
        return [s.read_text(encoding="ascii") for s in sigs]


_END = "-----END SSH SIGNATURE-----"


def armor_ends_cleanly(signature: str) -> bool:
    """Nothing but one final newline after the END line: ssh-keygen ignores trailing text, so a signed object
    could carry any bytes there (a new id, the same valid signature)."""
    head, sep, tail = signature.partition(_END)
    return bool(sep) and tail in ("", "\n") and _END not in head


def verify(data: bytes, signature: str, signers: list[Signer], namespace: str) -> Signer | None:
    """The signer of `signature` over `data` among `signers` for `namespace`, or None. Checked by
    ssh-keygen (find-principals, then verify against that principal)."""
    if not signers or "BEGIN SSH SIGNATURE" not in signature or not armor_ends_cleanly(signature):
        return None
    with tempfile.TemporaryDirectory(prefix="devops-agent-verify-") as tmp:
        allowed = Path(tmp) / "allowed_signers"
        allowed.write_text(format_signers(signers), encoding="ascii")
        sig = Path(tmp) / "sig"
        sig.write_text(signature, encoding="ascii")
        principals = sorted({s.principal for s in signers})
        if len(principals) > 1:  # one principal: verify says it all, without a find-principals run
            found = subprocess.run([ssh_keygen(), "-Y", "find-principals", "-f", str(allowed), "-s", str(sig),
                                    "-n", namespace], capture_output=True, text=True, env=_env())
            if found.returncode != 0:
                return None
            principals = found.stdout.split()
        for principal in principals:
            proc = subprocess.run([ssh_keygen(), "-Y", "verify", "-f", str(allowed), "-I", principal, "-n", namespace,
                                   "-s", str(sig)], input=data, capture_output=True, env=_env())
            if proc.returncode == 0:
                key_fp = proc.stdout.decode("ascii", "replace").rsplit(" ", 1)[-1].strip()
                named = [s for s in signers if s.principal == principal]
                if len(named) == 1:
                    return named[0]
                return next((s for s in named if fingerprint(s.public_line) == key_fp), None)
    return None


def key_in_agent(public_line: str) -> bool:
    """Whether ssh-agent (SSH_AUTH_SOCK) holds this key: ssh-keygen then signs through it, asking nothing."""
    if not os.environ.get("SSH_AUTH_SOCK"):
        return False
    add = shutil.which("ssh-add", path=os.path.dirname(ssh_keygen()) or None) or shutil.which("ssh-add")
    if add is None:
        return False
    proc = subprocess.run([add, "-L"], env=_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True)
    return proc.returncode == 0 and any(" ".join(line.split()[:2]) == public_line for line in proc.stdout.splitlines())


def asks_passphrase(key: Path) -> bool:
    """Whether signing with the private key file `key` asks a passphrase (False: no passphrase, demo keys)."""
    key = Path(key).expanduser()
    if key.suffix == ".pub" or not key.is_file():
        return False
    proc = subprocess.run([ssh_keygen(), "-y", "-P", "", "-f", str(key)], env=_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)
    return proc.returncode != 0
