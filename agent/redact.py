"""The one redactor: everything sent to a model (system prompt, user text, tool results) passes here.

Literal secret values are collected from the platform (env files, compose `environment`, CI `env:`,
this process's environment), judged by the one definition of a secret the checks use
(`tools/facts/secrets.py`: `MAX_TOKENS=4096` is a count, `DB_PASS=…` a password), then every text is
scrubbed of them and of what looks like a secret by shape (the same module: passwords in URLs, connection
strings, command lines and prose, `NAME=value` under a secret name, private keys, provider tokens), of
high-entropy words. Every pass is one linear scan of the whole text, as it goes on the wire (detect-secrets' line
plugins cost about 0.5 ms a line: their provider shapes live in the facts now). Structure is kept: `${DB_PASSWORD}` stays; a literal becomes `[redacted:<hash>]`, the hash short
and stable so two different secrets stay distinct in a conversation.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Iterable

from tools.facts import secrets as facts

MIN_SECRET_LENGTH = 4
MIN_GLOBAL_LENGTH = 8  # shorter known values are replaced only as the value of a secret-like name
# A git object id or a sha256 digest: provenance the model needs, never a credential by itself.
_DIGEST = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# ... when the name before it says so (`"sha256": "…"`, `sha256 …`, `commit …`, `Content-Hash: …`,
# `ASSET_CHECKSUM=…`; a hex value under any other name, `ENV SIGNING_HEX=…`, may be a key, and is masked).
# The window before a value is short, so this search is bounded.
_NAME_BEFORE = re.compile(r"([A-Za-z_][\w.-]{0,40})[^\w\n]{0,12}$")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# A high-entropy word, quoted or not: base64 of mixed case and digits, or long
# hex; a digest (`sha256:…`, `image@…`) stays. A JSON escape (`\n`) may precede it.
_HIGH_ENTROPY = re.compile(r"(?:(?<![A-Za-z0-9+/_@:.-])|(?<=\\[nrt]))([A-Za-z0-9+/_-]{20,}={0,2})(?![A-Za-z0-9+/=_-])")


def _entropy(word: str) -> float:
    from collections import Counter
    from math import log2

    return -sum(n / len(word) * log2(n / len(word)) for n in Counter(word).values())


def _high_entropy(word: str) -> bool:
    if re.fullmatch(r"[0-9a-fA-F]+", word):
        return len(word) >= 32 and _entropy(word) > 3.0
    return len(word) >= 24 and bool(re.search(r"\d", word) and re.search(r"[a-z]", word)
                                    and re.search(r"[A-Z]", word)) and _entropy(word) > 4.0


def marker(value: str) -> str:
    return f"[redacted:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:6]}]"


def _name_before(text: str, start: int) -> str | None:
    """The name a value is written under (`"sha256": "…"`, `NEXT_PUBLIC_KEY=…`), from the 56 characters before it."""
    named = _NAME_BEFORE.search(text[max(0, start - 56):start])
    return named.group(1) if named else None


def _named_digest(text: str, m: re.Match) -> bool:
    """A digest or object id the text names as one (the name before it says sha256, commit, checksum...)."""
    if not _DIGEST.fullmatch(m.group(1)):
        return False
    name = _name_before(text, m.start(1))
    return name is not None and facts.is_digest_name(name)  # COMMIT_SIGNING_KEY=… is a key


def _public(text: str, start: int, word: str) -> bool:
    """A value public by what it is (`phc_…`, `pk_live_…`) or by the name it is written under (`NEXT_PUBLIC_…`)."""
    if facts.is_public_value(word) or facts.is_public_at(text, start):
        return True
    name = _name_before(text, start)
    return name is not None and facts.is_public_name(name)


class Redactor:
    """Scrubs texts of known secret values and of secret shapes. `add` more values at any time."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values: set[str] = set()
        self.short_values: set[str] = set()  # masked where they are a secret name's value (a shape), not everywhere
        self._escaped: dict[str, str] = {}  # a value as a JSON string holds it (`\"`, `\\`) -> the value
        self._pattern: re.Pattern | None = None
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        for v in values:
            v = str(v).strip().strip("'\"")
            if len(v) < MIN_SECRET_LENGTH or facts.is_placeholder(v) or facts.is_reference(v) \
                    or v.lower() in ("true", "false", "null", "inherit"):  # `secrets: inherit` of a CI job
                continue
            # a short value ("root", "app123") or a plain word ("password", "postgres") is also an ordinary word:
            # replaced only where it is a value
            word = v.isalpha() and v.islower() and len(v) < 12
            (self.values if len(v) >= MIN_GLOBAL_LENGTH and not word else self.short_values).add(v)
        self._pattern = None

    def add_env(self, env: dict) -> None:
        """The secret parts of `env`'s values by the one definition (`MAX_TOKENS=4096` holds none; a URL's password
        and a `${X:-default}`'s default are what is looked for, not the whole value)."""
        self.add(part for k, v in env.items() if isinstance(v, (str, int, float)) and not isinstance(v, bool)
                 for part in facts.secret_parts(str(k), str(v)))

    def __call__(self, text: str) -> str:
        if not text:
            return text
        # a lone surrogate (a file name git or the OS gave undecoded, a model's "\ud800") cannot be sent as UTF-8
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace") if _SURROGATE.search(text) else text
        if self.values:
            if self._pattern is None:
                self._escaped = {json.dumps(v, ensure_ascii=False)[1:-1]: v for v in self.values}
                forms = set(self.values) | set(self._escaped)
                self._pattern = re.compile("|".join(re.escape(v) for v in sorted(forms, key=len, reverse=True)))
            text = self._pattern.sub(lambda m: marker(self._escaped.get(m.group(0), m.group(0))), text)
        # by shape, short known values included: `MYSQL_ROOT_PASSWORD: root`, `-proot`, `://app:root@`, prose
        text = facts.replace_secrets(text, marker)
        text = _HIGH_ENTROPY.sub(lambda m: marker(m.group(1)) if _high_entropy(m.group(1))
                                 and not _named_digest(text, m) and not _public(text, m.start(1), m.group(1))
                                 else m.group(0), text)
        return text


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
    notion = session.config.notion
    if notion is not None and os.environ.get(notion.token_env):  # whatever the variable is called
        red.add([os.environ[notion.token_env]])
    red.add_env(env_file_values(session.root))
    for src in session.sources:
        if src.kind == "ci_workflow" and src.ok and isinstance(src.data, dict):
            _walk_env(src.data, red)
        elif src.kind == "dockerfile" and src.ok and src.text:
            red.add_env(dockerfile_values(src.text))
        if src.ok and src.text:  # a value a source holds by shape is looked for everywhere: Compose's own error
            red.add(src.text[a:b] for a, b, _ in facts.secret_spans(src.text))  # quotes `pa${ss` without its name
    try:
        platform = session.platform()
    except Exception:  # noqa: BLE001 - a platform that cannot load only leaves fewer known values
        return red
    for env in platform.environments.values():
        for svc in env.services.values():
            environment = svc.get("environment")
            if isinstance(environment, dict):
                red.add_env(environment)
    for rel, data, _ in (p for env in platform.environments.values() if env.project
                         for p in env.project.raw_files):
        _walk_env(data, red)
    return red


_DOCKERFILE_VAR = re.compile(r"^[ \t]*(?:ARG|ENV)[ \t]+(.*\S)[ \t]*$", re.I | re.M)
_DOCKERFILE_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(\"(?:[^\"\\]|\\.)*\"|'[^']*'|\S*)")


def dockerfile_values(text: str) -> dict[str, str]:
    """NAME -> default of a Dockerfile's `ARG NAME=v`, `ENV NAME=v …` and legacy `ENV NAME v`."""
    out: dict[str, str] = {}
    for m in _DOCKERFILE_VAR.finditer(text.replace("\\\n", " ")):
        body = m.group(1)
        pairs = _DOCKERFILE_PAIR.findall(body)
        if pairs:
            out.update({k: v.strip("'\"") for k, v in pairs})
        elif len(body.split(None, 1)) == 2:
            name, value = body.split(None, 1)
            out[name] = value.strip("'\"")
    return out


def _walk_env(data, red: Redactor, depth: int = 0) -> None:
    if depth > 12:
        return
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, (str, int, float)) and facts.is_secret_name(str(key)):
                red.add_env({str(key): value})  # `with: password: …` as much as an env entry
            elif key in ("env", "environment") and isinstance(value, dict):
                red.add_env({str(k): v for k, v in value.items()})
            elif key in ("env", "environment") and isinstance(value, list):
                pairs = [str(v).split("=", 1) for v in value if isinstance(v, str) and "=" in v]
                red.add_env({k: v for k, v in pairs})
            else:
                _walk_env(value, red, depth + 1)
    elif isinstance(data, list):
        for item in data:
            _walk_env(item, red, depth + 1)
