"""The one redactor: everything sent to a model (system prompt, user text, tool results) passes here.

Literal secret values are collected from the platform (env files, compose `environment`, CI `env:`,
this process's environment, for variables whose name looks secret), then every text is scrubbed of
them and of what looks like a secret by shape: passwords in URLs and connection strings, private
keys, provider tokens, and detect-secrets' line detectors (enabled explicitly: with no settings it
finds nothing). Structure is kept: `${DB_PASSWORD}` stays; a literal becomes `[redacted:<hash>]`,
the hash short and stable so two different secrets stay distinct in a conversation.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Iterable

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|PWD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL|SALT|AUTH|DSN", re.I)
MIN_SECRET_LENGTH = 4
_NOT_SECRETS = {"true", "false", "none", "null", "changeme", "example", "password", "secret", "xxxx", "****"}

_SHAPES = (
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)"),
    re.compile(r"\b(?:sk|rk)-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}\b"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),  # a JWT
    re.compile(r"\bsecret_[A-Za-z0-9]{30,}\b"),  # a Notion integration token
)
# The value part only: `://user:PASS@`, `Password=PASS;`, `password: PASS`, `-pPASS`
_VALUE_SHAPES = (
    re.compile(r"(?<=://)[^:/@\s]*:([^@\s/]{1,200})@"),
    re.compile(r"(?i)\b(?:password|passwd|pwd)\s*=\s*([^;\s\"']{1,200})"),
)


def marker(value: str) -> str:
    return f"[redacted:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:6]}]"


def _is_reference(value: str) -> bool:
    return "${" in value or value.startswith("$")


class Redactor:
    """Scrubs texts of known secret values and of secret shapes. `add` more values at any time."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values: set[str] = set()
        self._pattern: re.Pattern | None = None
        self._detect = None
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        for v in values:
            v = str(v).strip().strip("'\"")
            if len(v) >= MIN_SECRET_LENGTH and v.lower() not in _NOT_SECRETS and not _is_reference(v):
                self.values.add(v)
        self._pattern = None

    def add_env(self, env: dict) -> None:
        self.add(v for k, v in env.items() if isinstance(v, str) and SECRET_NAME.search(str(k)))

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self.values:
            if self._pattern is None:
                self._pattern = re.compile("|".join(re.escape(v) for v in sorted(self.values, key=len, reverse=True)))
            text = self._pattern.sub(lambda m: marker(m.group(0)), text)
        for shape in _SHAPES:
            text = shape.sub(lambda m: marker(m.group(0)), text)
        for shape in _VALUE_SHAPES:
            text = shape.sub(lambda m: m.group(0).replace(m.group(1), marker(m.group(1)))
                             if not _is_reference(m.group(1)) and not m.group(1).startswith("[redacted:") else m.group(0),
                             text)
        return self._detect_secrets(text)

    def _detect_secrets(self, text: str) -> str:
        """detect-secrets' line plugins (high-entropy strings and keywords included), run in memory."""
        try:
            from detect_secrets.core.scan import _process_line_based_plugins
            from detect_secrets.settings import transient_settings
        except ImportError:  # pragma: no cover - a dependency
            return text
        lines = text.splitlines()
        with transient_settings({"plugins_used": _PLUGINS}):
            hits = list(_process_line_based_plugins(list(enumerate(lines, 1)), "message.txt"))
        if not hits:
            return text
        for hit in hits:
            secret = getattr(hit, "secret_value", None)
            if secret and len(secret) >= MIN_SECRET_LENGTH and not _is_reference(secret) \
                    and not secret.startswith("[redacted:"):
                self.values.add(secret)
        self._pattern = None
        return self(text) if any(getattr(h, "secret_value", None) in self.values for h in hits) else text


_PLUGINS = [{"name": n} for n in (
    "AWSKeyDetector", "ArtifactoryDetector", "AzureStorageKeyDetector", "BasicAuthDetector", "CloudantDetector",
    "DiscordBotTokenDetector", "GitHubTokenDetector", "GitLabTokenDetector", "JwtTokenDetector",
    "MailchimpDetector", "NpmDetector", "OpenAIDetector", "PrivateKeyDetector", "PypiTokenDetector",
    "SendGridDetector", "SlackDetector", "SoftlayerDetector", "SquareOAuthDetector", "StripeDetector",
    "TelegramBotTokenDetector", "TwilioKeyDetector")] + [
    {"name": "KeywordDetector"},
    {"name": "Base64HighEntropyString", "limit": 4.5},
    {"name": "HexHighEntropyString", "limit": 3.0},
]

_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]\s*(.*?)\s*$")
_ENV_FILE_GLOBS = (".env", ".env.*", "*.env", "config/**/.env", "config/**/*.env", "*/.env")
MAX_ENV_FILE_BYTES = 256 * 1024


def env_file_values(root: Path) -> dict[str, str]:
    """KEY=VALUE of the platform's env files (examples included: a real value is often pasted there)."""
    out: dict[str, str] = {}
    seen: set[Path] = set()
    for pattern in _ENV_FILE_GLOBS:
        for path in sorted(root.glob(pattern)):
            if path in seen or not path.is_file() or path.is_symlink():
                continue
            seen.add(path)
            try:
                if path.stat().st_size > MAX_ENV_FILE_BYTES:
                    continue
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for line in text.splitlines():
                m = _ENV_LINE.match(line)
                if m and not line.lstrip().startswith("#"):
                    out[m.group(1)] = m.group(2).strip("'\"")
    return out


def for_session(session) -> Redactor:
    """The redactor of a conversation: the platform's literal secrets plus this process's environment."""
    red = Redactor()
    red.add_env(dict(os.environ))
    red.add_env(env_file_values(session.root))
    for src in session.sources:
        if src.kind == "ci_workflow" and src.ok and isinstance(src.data, dict):
            _walk_env(src.data, red)
    try:
        platform = session.platform()
    except Exception:  # noqa: BLE001 - a platform that cannot load only leaves fewer known values
        return red
    for env in platform.environments.values():
        for svc in env.services.values():
            environment = svc.get("environment")
            if isinstance(environment, dict):
                red.add_env({k: v for k, v in environment.items() if isinstance(v, str)})
    for rel, data, _ in (p for env in platform.environments.values() if env.project
                         for p in env.project.raw_files):
        _walk_env(data, red)
    return red


def _walk_env(data, red: Redactor, depth: int = 0) -> None:
    if depth > 12:
        return
    if isinstance(data, dict):
        for key, value in data.items():
            if key in ("env", "environment") and isinstance(value, dict):
                red.add_env({str(k): v for k, v in value.items() if isinstance(v, str)})
            elif key in ("env", "environment") and isinstance(value, list):
                pairs = [str(v).split("=", 1) for v in value if isinstance(v, str) and "=" in v]
                red.add_env({k: v for k, v in pairs})
            else:
                _walk_env(value, red, depth + 1)
    elif isinstance(data, list):
        for item in data:
            _walk_env(item, red, depth + 1)
