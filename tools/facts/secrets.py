"""What a secret is, once: a secret's name, a secret-looking value, and secrets found by shape in any text.

The compose checks (CMP008, CMP009), the Dockerfile check (DKF004), the redactor in front of the model
(`agent/redact.py`), the compose view and diagnose all judge through these functions; the word lists live here.

- A **name** is split into words on `_`, `-`, `.`, spaces and camelCase. It names a secret when it holds a secret
  word (PASSWORD, PASS, PWD, PASSPHRASE, SECRET, TOKEN, API_KEY, PRIVATE_KEY, ACCESS_KEY, CREDENTIALS, SALT; KEY
  unless it is a public, cache or routing key; AUTH only as the last word, `REDIS_AUTH`) and no word that makes
  it something else: a count or a duration anywhere (`MAX_TOKENS`, `TOKEN_TTL_SECONDS`), a public or digest value
  anywhere (`NEXT_PUBLIC_POSTHOG_KEY`, `ASSET_CHECKSUM`), or after the secret word what describes it (`_FILE`,
  `_PATH`, `_NAME`, `_USER`, `_HOST`, `_URL`, `_HEADER`, `_METHOD`, `_REALM`, `_TYPE`, `_ISSUER`...).
- A **value** is secret-looking when it is none of: empty, a reference (`${VAR}`, `$VAR`, `$$VAR`: Compose's
  escape, expanded later in the container), a boolean, an enum or auth method (`trust`, `scram-sha-256`), a path,
  an e-mail address, a URL without a password, a public key or public client id, or a placeholder.
- A **placeholder** (`changeme`, `<your-token>`, `xxx`, `CHANGE_ME`) is a value the docs tell users to replace. It
  is no secret to mask; in a production file it is still a default that ships if nobody replaces it: the checks
  report it at medium there (`secret_severity`), and not at all in dev and test files.
- Values found by **shape** under any name: a URL's `user:PASS@`, `-p'PASS'` and `--password PASS`, `curl -u
  user:PASS`, `sshpass -p PASS`, `Authorization: Bearer T`, `NAME=VALUE` with a secret name, prose such as
  `mot de passe prod : PASS`, PEM private keys, and provider tokens by prefix (`ghp_`, `glpat-`, `xoxb-`, `sk-`,
  `AKIA`, Discord, Mailchimp, Square, Telegram, Twilio, Slack webhooks...): what detect-secrets' line plugins
  found, read here in one linear pass of the whole text.

Every pattern is linear in its input: each starts where a run of its characters starts (a lookbehind), scans
with possessive quantifiers, and bounds what it may give back.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable, Iterator

# ------------------------------------------------------------------------------------ names

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")

# A word that alone makes a name secret.
SECRET_WORDS = frozenset({
    "password", "passwords", "passwd", "pass", "pwd", "pw", "passphrase", "passcode", "htpasswd", "secret", "secrets",
    "token", "tokens", "apikey", "privatekey", "secretkey", "credential", "credentials", "creds",
    "salt", "mdp"})
# KEY is secret unless one of these says what kind of key it is (`PRIMARY_KEY`, `ROUTING_KEY`, `GPG_KEY`: a key id;
# an ACCESS_KEY is the id half of an S3 or MinIO pair, its SECRET_KEY the secret: `AWS_SECRET_ACCESS_KEY` is one).
KEY_WORDS = frozenset({"key", "keys"})
_NOT_SECRET_KEYS = frozenset({
    "access", "public", "publishable", "site", "primary", "partition", "sort", "cache", "routing", "foreign", "idempotency",
    "gpg", "pgp", "cursor", "lookup", "dedup", "group", "shard", "hash", "map", "row", "s3", "redis", "bucket",
    "translation", "i18n"})
# AUTH names a credential only as the last word (`REDIS_AUTH`, `BASIC_AUTH`), not in `AUTH_DEV` or `AUTH_METHOD`.
AUTH_WORDS = frozenset({"auth", "authorization"})
# Anywhere in the name: what is counted, timed, public, or a digest (`MAX_TOKENS`, `TOKEN_TTL_SECONDS`,
# `PASSWORD_MIN_LENGTH`, `NEXT_PUBLIC_POSTHOG_KEY`, `ASSET_CHECKSUM`).
NOT_SECRET_WORDS = frozenset({
    "count", "counts", "num", "number", "max", "min", "maximum", "minimum", "length", "len", "size", "limit",
    "limits", "ttl", "expiry", "expires", "expire", "expiration", "expired", "lifetime", "timeout", "age",
    "seconds", "secs", "sec", "second", "minutes", "mins", "minute", "hours", "hour", "days", "day", "ms",
    "millis", "duration", "interval", "rounds", "iterations", "cost", "per", "retries", "attempts", "validity",
    "strength", "complexity", "public", "publishable", "checksum", "checksums", "sha", "sha1", "sha256", "sha512",
    "digest", "enabled", "enable", "disabled", "disable", "required", "require", "allow", "allowed",
    "prompt", "completion", "usage",  # `prompt_tokens`, `completion_tokens`: a model's usage counts
    "recv", "fingerprint", "fingerprints"})  # gpg's `--recv-keys 8719…`: a public key's id, not a secret
# After the last secret word: what describes the secret rather than holds it (`DB_PASSWORD_FILE`, `SECRET_NAME`).
DESCRIBING_WORDS = frozenset({
    "name", "names", "user", "username", "usr", "host", "hostname", "port", "url", "uri", "urls", "endpoint",
    "header", "file", "files", "path", "dir", "directory", "folder", "location", "method", "methods", "realm",
    "type", "kind", "issuer", "audience", "aud", "id", "ids", "prefix", "suffix", "mode", "policy", "provider",
    "algorithm", "alg", "scope", "scopes", "version", "format", "field", "param", "parameter", "env", "var",
    "variable", "arn", "ref", "manager", "backend", "source", "engine", "mount", "store", "cache", "hint", "regex",
    "pattern", "rule", "rules", "hasher", "hashing", "encoder", "generator", "length", "class", "help", "label",
    "at", "updated", "changed", "created", "last", "stdin", "error", "errors", "exception", "missing"})
# Names whose hex value is a digest or an object id, not a key (`"sha256": …`, `commit …`, `Content-Hash: …`).
DIGEST_WORDS = frozenset({
    "sha", "sha1", "sha256", "sha512", "checksum", "checksums", "digest", "hash", "commit", "commits", "blob", "tree",
    "parent", "object", "head", "trust", "root", "forward", "revert", "base", "recorded", "signed", "rev",
    "revision", "oid", "etag", "integrity", "image", "container", "layer"})


def name_words(name: str) -> list[str]:
    """`DB_PASS` -> [db, pass]; `apiKey` -> [api, key]; `X-Api-Key` -> [x, api, key]; `APIKey` -> [api, key]."""
    return [w.lower() for part in _SEPARATORS.split(str(name)[:200]) for w in _WORD.findall(part)]


# Glued into one word (`PGPASSWORD`, `SQLCMDPASSWORD`, `clientsecret`, `authtoken`, `requirepass`).
_GLUED = re.compile(r".*(?:password|passwd|passphrase)s?.*|.+(?:secret|token|apikey|pwd|pass)")


def _secret_word_at(words: list[str], i: int) -> bool:
    w = words[i]
    if w in SECRET_WORDS or (len(w) > 5 and _GLUED.fullmatch(w) and not w.endswith(("bypass", "compass"))):
        return True
    if w in KEY_WORDS:
        return i == 0 or words[i - 1] not in _NOT_SECRET_KEYS
    if w in AUTH_WORDS:
        return i == len(words) - 1
    if w == "cookie":  # the cookie BEAM nodes authenticate each other with; not a web cookie's name or domain
        return i > 0 and words[i - 1] in ("erlang", "release")
    return False


@lru_cache(maxsize=4096)  # a text repeats its names: each is judged once
def is_secret_name(name: str) -> bool:
    """Whether a variable, key or header of this name holds a secret (see the module's docstring)."""
    words = name_words(name)
    if not words or any(w in NOT_SECRET_WORDS for w in words):
        return False
    last = next((i for i in range(len(words) - 1, -1, -1) if _secret_word_at(words, i)), None)
    if last is None:
        return False
    return not any(w in DESCRIBING_WORDS for w in words[last + 1:])


def is_public_name(name: str) -> bool:
    """A name that says its value is public (`NEXT_PUBLIC_…`, `…_PUBLISHABLE_KEY`, `RECAPTCHA_SITE_KEY`)."""
    words = name_words(name)
    return any(w in ("public", "publishable") for w in words) or (
        len(words) >= 2 and words[-1] in KEY_WORDS and words[-2] == "site") or (
        # product analytics' project keys, which every page that reports to them carries (`POSTHOG_API_KEY`, a
        # Mixpanel or Amplitude project token): write-only, public by design; a personal key is not
        bool(_ANALYTICS_VENDORS & set(words)) and not {"personal", "secret", "admin"} & set(words))


_ANALYTICS_VENDORS = frozenset({"posthog", "mixpanel", "amplitude"})


def is_digest_name(name: str) -> bool:
    """A name under which a hex value is a digest or an object id (`sha256`, `commit`, `ASSET_CHECKSUM`), never a
    name that also says key or password (`COMMIT_SIGNING_KEY`)."""
    words = name_words(name)
    return any(w in DIGEST_WORDS for w in words) and not any(_secret_word_at(words, i) for i in range(len(words)))


def _secret_noun(name: str) -> str:
    words = name_words(name)
    for i in range(len(words) - 1, -1, -1):
        if _secret_word_at(words, i):
            w = words[i]
            if w.startswith("pass") or w in ("pwd", "pw", "passwd", "mdp", "htpasswd"):
                return "password"
            if w in KEY_WORDS or w.endswith("key"):
                return "key"
            if w.startswith("token"):
                return "token"
            if w.startswith("secret"):
                return "secret"
            if w == "salt":
                return "salt"
            return "credential"
    return "secret"


# ------------------------------------------------------------------------------------ values

_BOOLEANS = frozenset({"true", "false", "yes", "no", "on", "off", "y", "n", "null", "nil", "none", "~",
                       "enabled", "disabled", "enable", "disable"})
# Auth methods and modes written where a name looks secret (`POSTGRES_HOST_AUTH_METHOD: trust`, `SMTP_AUTH: login`).
_ENUMS = frozenset({
    "trust", "md5", "scram-sha-256", "peer", "ident", "reject", "cert", "gss", "sspi", "pam", "ldap", "radius",
    "plain", "login", "cram-md5", "basic", "bearer", "digest", "oauth", "oauth2", "oidc", "saml", "jwt", "required",
    "optional", "prefer", "require", "verify-ca", "verify-full", "allow", "deny", "internal", "external", "local",
    "env", "file", "vault", "inherit", "auto", "default", "sha256", "sha512", "hs256", "hs512", "rs256", "es256",
    "argon2", "argon2id", "bcrypt", "pbkdf2", "mysql_native_password", "caching_sha2_password", "random",
    "htpasswd", "none", "anonymous", "kerberos", "ntlm", "negotiate", "apikey", "api-key", "mtls"})
# Words that say "replace me". A trivial password (`password`, `secret`, `admin`, `example`) is no placeholder: it
# is the password the service runs with, a weak literal.
_PLACEHOLDER_WORDS = frozenset({
    "changeme", "changeit", "changethis", "replaceme", "todo", "tbd", "fixme", "dummy", "placeholder",
    "yourpassword", "yoursecret", "yourtoken", "yourapikey", "yourkey", "notset", "unset", "setme", "empty",
    "redacted", "xxx", "none", "value", "yourvalue", "newvalue"})
_PLACEHOLDER = re.compile(
    r"<[^<>\n]{1,80}>|\[[^\[\]\n]{1,80}\]|\{\{[^{}\n]{0,80}\}\}|[xX*.#_-]{3,}+|"
    r"(?i:(?:change|replace|update|set)[-_ ]?(?:me|this|it)[\w.-]*+|your[-_ ]\S*+|\S*[-_]here|change[-_]\w++)"
    r"|(?:change|replace)[A-Z]\w*+"  # `changePassword`, `change_the_key`, `replaceWithYourToken`
    r"|(?i:replace[-_ ]with[-_ ]\w++)"  # `REPLACE_WITH_LONG_SECRET`
    # an identifier naming what goes there: `STRONG_DB_PASSWORD`, `JWT_SECRET_KEY` (one word alone is a password)
    r"|(?=[A-Z0-9]*+_)(?:[A-Z0-9]++_)*+(?:PASSWORD|PASSWD|PASS|SECRET|TOKEN|KEY|APIKEY)(?:_[A-Z0-9]++)*+"
    # a token a setup script substitutes: `_admin_password_`, `__DB_PASSWORD__`, `%DB_PASS%`, `@SECRET@`
    r"|_{1,2}[A-Za-z][A-Za-z0-9]*+(?:_[A-Za-z0-9]++)*+_{1,2}|%[A-Za-z_][A-Za-z0-9_]*+%|@[A-Za-z_][A-Za-z0-9_]*+@"
    # a phrase describing what goes there: `long-and-random-alphanumeric-string`, `Enter a secret value here`
    r"|(?i:(?=[a-z]++(?:[- _,]++[a-z]++)++[.!]?$)(?=.*\b(?:random|enter|insert|generate|generated|put|type)\b)"
    r"(?=.*\b(?:string|value|secret|password|key|token|here|characters)\b)[a-z _,-]{12,120}[.!]?)")
_DIGITS = re.compile(r"[0-9]+")
_EMAIL = re.compile(r"[^@\s]++@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_FILE_NAME = r"[\w.-]*\.(?:txt|pem|key|crt|cer|json|p12|pfx|jks|keystore|env|ya?ml|conf|ini|toml|asc|gpg|secret)"
_PATH = re.compile(r"(?:/|\./|\.\./|~/|[A-Za-z]:\\)[^\s:]*+|(?:[\w.-]++/)*+" + _FILE_NAME)
_RANDOM_SEGMENT = re.compile(r"(?=[^/]*[a-z])(?=[^/]*[A-Z])(?=[^/]*[0-9])[A-Za-z0-9+=]{12,}")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*+://(\S*)")
_USERINFO = re.compile(r"[^:/@\s]*+:([^@\s/]{1,200})@")
# `${VAR}`, `${VAR:-default}`, `$VAR`, `$$VAR` (uppercase, or lowercase letters: `$ecretP4ss` is a literal),
# `$(cmd)`, `$$(cmd)`, a backquoted command, a template (`{{ secrets.X }}`, `%(x)s`).
_REFERENCE = re.compile(r"\$\$?\{[^{}]*+\}|\$\$?(?:[A-Z_][A-Z0-9_]*+|[a-z_]++)|\$\$?\(.*|`.*`|\{\{.*\}\}|%\([\w.]++\)s")
# A reference inside a value (`Bearer ${TOKEN}`); a stray `${` (`pa${ss`) is part of a literal.
_HAS_REFERENCE = re.compile(r"\$\$?\{[A-Za-z_][A-Za-z0-9_]*+(?:[:?+-][^{}]*+)?\}|\$\$?\(|\{\{|`|"
                            r"\$\$?[A-Z_][A-Z0-9_]*+(?![a-z0-9])")
_DEFAULT = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*+:?[-=]([^{}$]*+)\}")
# Public by what they are: SSH public keys, certificates, Stripe publishable keys, PostHog project keys, Google
# Analytics ids, a digest.
_PUBLIC_VALUE = re.compile(
    r"(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-\S++|sk-ssh-ed25519@\S++) AAAA.*|-----BEGIN (?:PUBLIC KEY|CERTIFICATE"
    r"|PGP PUBLIC KEY BLOCK|RSA PUBLIC KEY)-----.*|pk_(?:live|test)_\w++|phc_\w++|G-[A-Z0-9]{6,12}|UA-\d++-\d++|"
    r"(?:sha256|sha512|sha1):[0-9a-f]{32,128}", re.S)

# The start of a public value, read where an unquoted value starts (`DEPLOY_KEY=ssh-ed25519 AAAA… ci@host`).
_PUBLIC_PREFIX = re.compile(r"(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-nistp\d{3}) AAAA|-----BEGIN (?:PUBLIC KEY|CERTIFICATE"
                            r"|PGP PUBLIC KEY BLOCK|RSA PUBLIC KEY)-----|pk_(?:live|test)_|phc_")

QUOTES = "\"'"


def _strip(value) -> str:
    text = str(value if value is not None else "").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in QUOTES:
        text = text[1:-1]
    return text


def is_reference(value) -> bool:
    """A value that names where the secret comes from instead of holding it: `${DB_PASSWORD}`, `$DB_PASSWORD`,
    Compose's `$$DB_PASSWORD` (the container expands it), `$(cat /run/secrets/db)`, `{{ secrets.DB }}`."""
    return bool(_REFERENCE.fullmatch(_strip(value)))


def is_placeholder(value) -> bool:
    """A value the docs tell users to replace: `changeme`, `<your-token>`, `xxx`, `CHANGE_ME`, `your-api-key`."""
    text = _strip(value)
    if not text:
        return False
    default = _DEFAULT.fullmatch(text)
    if default:  # `${DB_PASSWORD:-changeme}` ships its default; `${DB_PASSWORD:-}` ships nothing
        return bool(default.group(1)) and is_placeholder(default.group(1))
    text = re.sub(r"(?i)^please[-_ ]?(?=\w)", "", text)  # `PLEASE_CHANGE_ME`, `please-replace-this`
    squashed = re.sub(r"[-_ .!]", "", text.lower())
    # `!ChangeThisMercureHubJWTSecretKey!`: the marks only make it stand out
    return len(text) < 2 or squashed in _PLACEHOLDER_WORDS or bool(_PLACEHOLDER.fullmatch(text.strip("!") or text))


# A comment that tells whoever installs to replace the value it sits beside (`SALT: mysalt # CHANGEME`,
# `# CHANGEME: row below to secure redis password`, `# generate via openssl rand -hex 32`).
_CHANGE_MARK = re.compile(r"\bchange[\s_-]?me\b|\bchange (?:this|it|these|the (?:default|password|secret|value))\b"
                          r"|\breplace (?:this|it|these|with|the (?:default|password|secret|value))\b"
                          r"|\b(?:generate|create) (?:it |one |your own |a (?:new |random |strong )?\w+ )?(?:via|with|using)\b"
                          r"|\bset (?:your|a) own\b|\bto secure\b|\b(?:must|needs? to|should) be changed\b|\ba modifier\b"
                          r"|\bchange (?:it |this )?to an? (?:\d+[ -]char\w* |new |random |strong |long |unique )"
                          r"|\bgenerate (?:e\.g\. |it )?(?:via|with|using)\b"
                          # `# set password for Elasticsearch`, `# your initial TA credentials`
                          r"|\bset (?:the |a |your )?(?:password|secret|credentials?)\b"
                          r"|\byour (?:initial |own )?(?:\w+ )?credentials\b", re.I)
# A file's header telling to change all its values (`# This is an example. Please change the configuration variables
# listed here.`), not those it marks (`# Replace the credentials marked CHANGEME below`).
_CHANGE_ALL = re.compile(r"\b(?:change|adapt|edit|review) (?:the |these |all (?:the )?)?(?:configuration |config |"
                         r"environment )?(?:variables|values|settings)\b(?! marked)", re.I)


def tells_to_change(comment: str | None) -> bool:
    """A YAML or shell comment that marks the value beside it as a placeholder to replace."""
    return bool(comment) and bool(_CHANGE_MARK.search(comment))


# Names reserved for examples (RFC 2606, RFC 6761): a service configured there is one to fill in.
_EXAMPLE_HOST = re.compile(r"(?:^|[@./:])(?:[\w-]+\.)*example\.(?:com|org|net)\b|\.(?:example|invalid)\b", re.I)


def credentials_of_an_example(name: str, siblings: dict[str, str]) -> bool:
    """A secret set beside the host it logs in to, when that host is an example (`EMAIL_HOST_PASSWORD=password`
    beside `EMAIL_HOST=smtp.host.example.com`): the whole block is a sample to fill in, not a credential that ships.
    Siblings share the secret's name up to its secret word (`EMAIL_HOST_`, `SMTP_`)."""
    words = name_words(name)
    cut = next((i for i in range(len(words)) if _secret_word_at(words, i)), None)
    if not cut:
        return False
    # the whole prefix before the secret word (`KHOJ_ADMIN_` for KHOJ_ADMIN_PASSWORD), not the application's own
    # prefix alone: `KHOJ_DJANGO_SECRET_KEY` is no credential of the example admin `KHOJ_ADMIN_EMAIL`
    stems = {"_".join(words[:cut])}
    for other, value in siblings.items():
        other_words = name_words(other)
        if other == name or not any("_".join(other_words[:i]) in stems for i in range(1, len(other_words) + 1)):
            continue
        if _EXAMPLE_HOST.search(str(value or "")):
            return True
    return False


def marked_to_change(lines: list[str], line: int | None) -> bool:
    """The value at 1-based `line` of a file's `lines` carries a comment telling to replace it: on its own line
    (`SALT: mysalt # CHANGEME`), in the comment lines just above it (YAML and dotenv alike), in a banner over its
    section, or in the file's header (`# This is an example. Please change the configuration variables`)."""
    if not line or line > len(lines):
        return False
    own = lines[line - 1]
    cut = own.find(" #")
    if cut >= 0 and tells_to_change(own[cut + 2:]):
        return True
    above = line - 2
    while above >= 0 and lines[above].lstrip().startswith("#"):
        if tells_to_change(lines[above].lstrip()[1:]):
            return True
        above -= 1
    # the file's own header (its leading comment lines) telling to change its values speaks for the whole file; a
    # banner (`#` / `# Change these settings` / `#`) speaks for its section only (below)
    header = []
    for head in lines:
        if not head.lstrip().startswith("#"):
            break
        header.append(head.lstrip()[1:])
    banner = len(header) == 3 and not header[0].strip() and not header[2].strip()
    if not banner and any(_CHANGE_ALL.search(h) for h in header):
        return True
    # a banner heading the section the value is in (`#` / `# Change these settings` / `#`) speaks for its block
    for i in range(min(line - 2, len(lines) - 2), 0, -1):
        if lines[i - 1].strip() == "#" and lines[i + 1].strip() == "#" and lines[i].lstrip().startswith("#") \
                and lines[i].strip() != "#":
            return tells_to_change(lines[i].lstrip()[1:])
    return False


# A comment that says the value beside it is public on purpose (a key that only reaches a vendor's free data).
_PUBLIC_MARK = re.compile(r"\b(?:intended|meant|supposed) to be public\b|\bintentionally (?:\W?expose|public|publish)"
                          r"|\bsafe to (?:commit|expose|share|publish)\b|\bis (?:not a secret|public on purpose)\b"
                          r"|\bpublishable key\b", re.I)


def marked_public(lines: list[str], line: int | None) -> str | None:
    """The comment at or just above 1-based `line` (the comment block over it) saying the value is public on
    purpose, or None."""
    if not line or line > len(lines):
        return None
    own = lines[line - 1]
    cut = own.find(" #")
    if cut >= 0 and _PUBLIC_MARK.search(own[cut + 2:]):
        return own[cut + 2:].strip()
    above = line - 2
    block: list[str] = []
    while above >= 0 and lines[above].lstrip().startswith("#"):
        block.insert(0, lines[above].lstrip()[1:].strip())
        above -= 1
    text = " ".join(block)
    m = _PUBLIC_MARK.search(text)
    return m.group(0) if m else None


_DOC_CHANGE = re.compile(r"\b(?:change|replace|update|edit|set|adjust)\b[^.\n]{0,60}?\b(?:values?|passwords?|secrets?|"
                         r"credentials|variables?|keys?)\b", re.I)


def docs_tell_to_change(pages: list[str], env_file: str) -> bool:
    """A README or docs sentence telling users to change the values of this env or compose file ("Change
    environment variable values in `.env` file for more security"; a step "You can edit the compose file retrieved
    to change the default username/password" just after the one that downloads `docker-compose-mysql.yml`): what it
    holds are defaults to replace, not secrets that ship."""
    name = re.escape(env_file.rsplit("/", 1)[-1])
    mention = re.compile(rf"(?<![\w.-]){name}(?![\w.-])")
    for text in pages:
        lines = text.splitlines()
        for no, line in enumerate(lines):
            if not _DOC_CHANGE.search(line) or re.search(r"\b(?:don'?t|never|not)\b", line, re.I):
                continue
            if mention.search(line) or (re.search(r"\b(?:compose|env) file\b", line, re.I)
                                        and any(mention.search(prev) for prev in lines[max(0, no - 3):no])):
                return True
    return False


def is_placeholder_secret(name: str | None, value) -> bool:
    """A secret's place holding a placeholder to replace: `DB_PASSWORD: changeme`, `postgres://app:changeme@db/app`,
    `${DB_PASSWORD:-changeme}`. What CMP008 and DKF004 report in production at medium."""
    text = _strip(value)
    if not text or secret_value_kind(name, text):
        return False
    if name and is_secret_name(name) and is_placeholder(text):
        return True
    for m in re.finditer(r"://", text[:10_000]):
        u = _USERINFO.match(text, m.end())
        if u and is_placeholder(u.group(1)):
            return True
    return False


def is_public_value(value) -> bool:
    """A value public by what it is: an SSH public key, a certificate, `pk_live_…`, `phc_…`, `G-…`, a digest."""
    return bool(_PUBLIC_VALUE.fullmatch(_strip(value)))


_PUBLIC_KEY_TYPE = re.compile(r"(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-nistp\d{3}|sk-ssh-ed25519@openssh\.com) $")


def is_public_at(text: str, start: int) -> bool:
    """Whether the word at `start` of `text` is the body of an SSH public key (`ssh-ed25519 AAAA…`) or a public
    value (`phc_…`, `pk_live_…`): high entropy, and still no secret."""
    return bool(_PUBLIC_KEY_TYPE.search(text, max(0, start - 40), start)) or bool(_PUBLIC_PREFIX.match(text, start))


def _not_a_value(text: str) -> bool:
    """Empty, a boolean, an enum or auth method, a path, an e-mail address, public: never a secret's value."""
    low = text.lower()
    return (not text or low in _BOOLEANS or low in _ENUMS or _looks_like_path(text)
            or bool(_EMAIL.fullmatch(text)) or is_public_value(text))


def _looks_like_path(text: str) -> bool:
    """`/run/secrets/db`, `./certs/key.pem`, `db_password.txt`; not base64 that starts with a slash."""
    return bool(_PATH.fullmatch(text)) and not any(_RANDOM_SEGMENT.fullmatch(seg) for seg in text.split("/"))


def secret_value_kind(name: str | None, value) -> str | None:
    """Why `value`, under `name`, is a secret (`a literal password`, `a password in a URL`, `a GitHub token`), or
    None: a reference, a boolean, an enum, a path, an e-mail address, a URL without a password, a placeholder,
    or a value under a name that holds no secret and with no secret shape."""
    text = _strip(value)
    if not text or len(text) > 100_000:
        return None
    default = _DEFAULT.fullmatch(text)
    if default:  # `${DB_PASSWORD:-hunter2}`: the default ships in the file
        return secret_value_kind(name, default.group(1))
    for _, _, kind in secret_spans(text):
        return kind
    return _literal_kind(name, text)


def secret_parts(name: str | None, value) -> list[str]:
    """The parts of `value` that are secret, for a redactor to look for anywhere: what the shapes find (a URL's
    password, a connection string's `Password=`, a token), else the literal itself (a `${X:-default}`'s default)."""
    text = _strip(value)
    if not text or len(text) > 100_000:
        return []
    spans = secret_spans(text)
    if spans:
        return [text[a:b] for a, b, _ in spans]
    default = _DEFAULT.fullmatch(text)
    literal = default.group(1) if default else text
    return [literal] if _literal_kind(name, literal) else []


@lru_cache(maxsize=4096)
def _literal_kind(name: str | None, text: str) -> str | None:
    """A literal under a secret name that is a secret's value (no shapes: they are read once, by the caller)."""
    if not name or not is_secret_name(name) or is_public_name(name) or is_reference(text) or _HAS_REFERENCE.search(text):
        return None
    if _URL.fullmatch(text) or _not_a_value(text) or is_placeholder(text):
        return None  # a URL without a password (a password in one is a shape)
    if text.isdigit() and len(text) < 10 and not any(w.startswith(("pass", "pw", "pin", "mdp", "secret"))
                                                     for w in name_words(name)):
        return None  # a count under a token or key name (`total_tokens: 25`); a digit password is still one
    return f"a literal {_secret_noun(name)}"


def is_masked(name: str | None, value) -> bool:
    """Whether a resolved value (the real one: the server's .env, a container's environment) is hidden where it is
    shown: a secret by `secret_value_kind`, or any value under a secret name that is no reference, boolean, enum,
    path, e-mail or public value (a real password may look like a placeholder, or be one character)."""
    if secret_value_kind(name, value):
        return True
    text = _strip(value)
    return bool(text) and bool(name) and is_secret_name(name) and not is_reference(text) \
        and not _HAS_REFERENCE.search(text) and not _URL.fullmatch(text) and not _not_a_value(text)


def secret_severity(where: str, placeholder: bool = False) -> str | None:
    """The severity of a secret written in a committed file, by where the file is used: `prod` high (a placeholder
    medium: a default that ships unless someone replaces it), `staging` medium, `dev` or `test` low; a placeholder
    outside production is no finding (None)."""
    if placeholder:
        return "medium" if where == "prod" else None
    return {"prod": "high", "staging": "medium"}.get(where, "low")


# ------------------------------------------------------------------------------------ shapes in any text

# Provider tokens by prefix; each starts where a run of token characters starts, so a long run is scanned once.
_RUN = r"(?<![A-Za-z0-9_-])"
TOKEN_SHAPES: tuple[tuple[str, re.Pattern], ...] = tuple((kind, re.compile(_RUN + pattern)) for kind, pattern in (
    ("a GitHub token", r"gh[pousr]_[A-Za-z0-9]{20,}+"),
    ("a GitHub token", r"github_pat_[A-Za-z0-9_]{20,}+"),
    ("a GitLab token", r"glpat-[A-Za-z0-9_-]{20,}+"),
    ("a Slack token", r"xox[abposr]-[A-Za-z0-9-]{10,}+"),
    ("an API key", r"(?:sk|rk)-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}+"),
    ("a Stripe secret key", r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}+"),
    ("an AWS access key", r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z])"),
    ("a JWT", r"eyJ[A-Za-z0-9_-]{10,}+\.[A-Za-z0-9_-]{10,}+\.[A-Za-z0-9_-]{10,}+"),
    ("a Notion token", r"(?:secret|ntn)_[A-Za-z0-9]{30,}+"),
    ("an npm token", r"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"),
    ("a PyPI token", r"pypi-AgE[A-Za-z0-9_-]{50,}+"),
    ("a Hugging Face token", r"hf_[A-Za-z0-9]{30,}+"),
    ("a Google API key", r"AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])"),
    ("a SendGrid key", r"SG\.[A-Za-z0-9_-]{16,}+\.[A-Za-z0-9_-]{16,}+"),
    ("a Discord bot token", r"[MNO][A-Za-z0-9_-]{23,25}+\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27}(?![A-Za-z0-9_-])"),
    ("a Mailchimp key", r"[0-9a-f]{32}-us[0-9]{1,2}+(?![0-9])"),
    ("a Square token", r"sq0(?:csp|atp)-[A-Za-z0-9_-]{22,}+"),
    ("a Telegram bot token", r"(?<![0-9:])[0-9]{8,10}+:[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])"),
    ("a Twilio key", r"(?:AC|SK)[0-9a-f]{32}(?![A-Za-z0-9])"),
    ("an Artifactory token", r"AKC[A-Za-z0-9]{10,}+"),
    ("a Slack webhook", r"(?<=hooks\.slack\.com/services/)T[A-Za-z0-9_]++/B[A-Za-z0-9_]++/[A-Za-z0-9_]++"),
))
# All of them in one scan (a group per shape): a pass per shape cost five times as much on a long text.
_TOKENS = re.compile(_RUN + "(?:" + "|".join(f"(?P<t{i}>{p.pattern[len(_RUN):]})"
                                              for i, (_, p) in enumerate(TOKEN_SHAPES)) + ")")
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
                         r"(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)")
# In a tool result the text is JSON: a quote before a value may come escaped (`\"`).
_Q = r"(?:\\*+[\"'])?"
# A value: double-quoted (maybe escaped; doubled as a CSV cell writes it, `""v""`), single-quoted, a whole `${…}` (`${SECRET_KEY:?set it in .env}`), or a word.
_VALUE = (r"(?:\\*+\"\\*+\"([^\"\\\n]{1,500}+)\\*+\"\\*+\"|\\*+\"([^\"\\\n]{1,500}+)\\*+\"|'([^'\n]{1,500}+)'|(\$\$?\{[^{}\n]{0,500}+\})(?![^\s\"'\\,;|&])|"
          r"(?![{\[(|>&*])([^\s\"'\\,;|&}\]]{1,500}+))")  # an unquoted value ends where its JSON or flow map does
# NAME = VALUE, NAME: VALUE (env files, YAML, JSON, connection strings `Password=…;`, headers `X-Api-Key: …`)
_QUOTED = _VALUE
# The name and its separator only: the value is read after it, so a value holding another assignment
# (`DSN="Server=db;Password=…"`) is read too.
# Also a name then a quoted value (nginx `proxy_set_header X-Api-Key "…"`).
# A run's start, or after `-D`/`--`; never the variable of a `${NAME:?}` or `${NAME:-default}` (its default is read
# apart).
_NAME_START = r"(?<!\$\{)(?:(?<![\w.-])|(?<=(?<![\w.])-)|(?<=(?<![\w.-])--))"
_ASSIGNMENT = re.compile(_NAME_START + r"([A-Za-z_][\w.-]{0,200}+)" + _Q
                         # `NAME: VALUE` takes a blank (or a quote) after its colon: `DEBUG=pw:browser*` is a
                         # namespace, no `pw` assignment
                         + r"(?:[ \t]*+(?:=(?![=/])|:(?![=/])(?=[ \t]|\\*+[\"'])|:=)[ \t]*+|[ \t]++(?=\\*+[\"']))")
_VALUE_AT = re.compile(_VALUE)
_AUTHORIZATION = re.compile(r"(?i)(?<![\w-])(?:proxy-)?authorization" + _Q + r"[ \t]*+[:=]?[ \t]*+" + _Q
                            + r"[ \t]*+(?:bearer|basic|token|bot|digest)[ \t]++([^\s\"'\\;,]{4,500}+)")
# Command lines: `-p'PASS'`, `-pPASS` (mysql, sshpass), `--password PASS`, `sshpass -p PASS`, `curl -u user:PASS`.
_GLUED_P = re.compile(r"(?:^|(?<=[\s\"'\[,]))-p" + r"(?:'([^'\n]{1,200}+)'|\"([^\"\n]{1,200}+)\"|([^\s\"'\\,\]]{3,200}+))")
_NOT_P_FLAGS = frozenset({"thread", "threads", "edantic", "ipe", "rint", "rint0", "rintf", "rune", "ath", "erm",
                          "arents", "lugin", "ort", "rofile", "assword"})
# `--password PASS`, `--db-password="PASS"`, `--requirepass PASS`: any long flag with a secret name.
_LONG_FLAG = re.compile(r"(?<![\w-])--([A-Za-z][\w-]{0,60}+)(?:=|[ \t]++)(?!-)" + _QUOTED)
_SSHPASS = re.compile(r"(?<![\w-])sshpass[ \t]++-p[ \t]++" + _QUOTED)
_USER_PASS = re.compile(r"(?<![\w-])(?:-u|--user|--proxy-user)(?:=|[ \t]*+)[\"']?[^\s:\"'/]{1,100}+:"
                        r"([^\s\"'\\@]{1,200}+)")
# Prose: `mot de passe prod : PASS`, `**Password**: PASS`, `Passwort (staging) = PASS`; at a line's start in JSON too
# (`\nmot de passe`).
_PROSE = re.compile(r"(?i)(?:(?<![\w-])|(?<=\\[nrt]))(?:mots? de passe|mdp|password|passwort|kennwort|contrase[ñn]a|passphrase)"
                    r"(?:[*_`)( \t]{1,4}+[\w()-]{1,20}+){0,3}?[*_`)( \t]{0,4}+[:=][ \t]++" + _QUOTED)

# ... and said with a verb: `the admin password is Pr0se-5521`, `le mot de passe est …`; the value must hold a digit
# or a sign (`the password is stored in the vault` is no password).
_PROSE_IS = re.compile(r"(?i)(?:(?<![\w-])|(?<=\\[nrt]))(?:mots? de passe|mdp|password|passwort|kennwort|"
                       r"contrase[ñn]a|passphrase)(?:[ \t]{1,4}+[\w()-]{1,20}+){0,3}?[ \t]{1,4}+"
                       r"(?:is|was|est|(?:é|e)tait|sera|will be|ist|es)(?:[ \t]{0,4}+:)?[ \t]{1,4}+" + _QUOTED)


def _first(m: re.Match, first: int) -> tuple[int, int, str] | None:
    for g in range(first, (m.re.groups or 0) + 1):
        if m.group(g) is not None:
            return m.start(g), m.end(g), m.group(g)
    return None


def _command_value_kept(value: str) -> bool:
    """A command-line value that is no password: a reference, a port or uid mapping (`-p8080:80`, `-u 1000:1000`)."""
    return is_reference(value) or bool(re.fullmatch(r"[\d:./-]+", value)) or is_placeholder(value)


def secret_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each secret value found by shape in `text`, sorted and not overlapping: the value
    only, so `DB_PASSWORD=` and `://user:` stay readable."""
    if not text:
        return []
    spans: list[tuple[int, int, str]] = []
    for m in PRIVATE_KEY.finditer(text):
        spans.append((m.start(), m.end(), "a private key"))
    spans.extend((m.start(), m.end(), TOKEN_SHAPES[int(str(m.lastgroup)[1:])][0]) for m in _TOKENS.finditer(text))
    for m in re.finditer(r"://", text):
        u = _USERINFO.match(text, m.end())
        if u and not is_reference(u.group(1)) and not _HAS_REFERENCE.search(u.group(1)) and not is_placeholder(u.group(1)):
            spans.append((u.start(1), u.end(1), "a password in a URL"))
    spans.extend(_judged(text, _ASSIGNMENT, 1, name_group=1, value_after=True))
    spans.extend(_judged(text, _PROSE, 1, name="password"))
    for start, end, kind in _judged(text, _PROSE_IS, 1, name="password"):  # a sentence's end is not the value's
        value = text[start:end].rstrip(".,;:!?")
        if not re.fullmatch(r"[^\W\d_]+", value.strip("'\"`")):
            spans.append((start, start + len(value), kind))
    for m in _AUTHORIZATION.finditer(text):
        if not is_reference(m.group(1)) and not is_placeholder(m.group(1)):
            spans.append((m.start(1), m.end(1), "a credential in an Authorization header"))
    for pattern, first in ((_GLUED_P, 1), (_LONG_FLAG, 2), (_SSHPASS, 1), (_USER_PASS, 1)):
        for m in pattern.finditer(text):
            found = _first(m, first)
            if found is None or _command_value_kept(found[2]):
                continue
            if pattern is _LONG_FLAG and (not is_secret_name(m.group(1)) or found[2].startswith("-") or "=" in found[2]
                                          or _literal_kind(m.group(1), found[2]) is None):
                continue  # `--password-stdin -u x`, `--secret id=npm,src=…` (BuildKit), `--token $TOKEN`
            if pattern is _GLUED_P and m.group(3) is not None and m.group(3).lower().rstrip("=") in _NOT_P_FLAGS:
                continue
            spans.append((found[0], found[1], "a password on a command line"))
    for start, end, shown in _client_flag_values(text):
        spans.append((start, end, "a password on a command line"))
    spans.sort(key=lambda s: (s[0], -s[1]))
    out: list[tuple[int, int, str]] = []
    for span in spans:
        if out and span[0] < out[-1][1]:
            continue
        out.append(span)
    return out


def _judged(text: str, pattern: re.Pattern, first: int, name_group: int | None = None,
            name: str | None = None, value_after: bool = False) -> Iterator[tuple[int, int, str]]:
    for m in pattern.finditer(text):
        key = m.group(name_group) if name_group else name
        if not is_secret_name(key) or _PUBLIC_PREFIX.match(text, m.end()):
            continue
        v = _VALUE_AT.match(text, m.end()) if value_after else m
        found = _first(v, 1 if value_after else first) if v else None
        if found is None:
            continue
        default = _DEFAULT.match(found[2])
        if default and default.end() == len(found[2]):  # `${DB_PASSWORD:-hunter2}`: only the default is masked
            kind = _literal_kind(key, default.group(1))
            if kind:
                yield found[0] + default.start(1), found[0] + default.end(1), kind
            continue
        kind = _literal_kind(key, _strip(found[2]))
        if kind:
            yield found[0], found[1], kind


def replace_secrets(text: str, replace: Callable[[str], str]) -> str:
    """`text` with each secret value found by shape replaced by `replace(value)`."""
    spans = secret_spans(text)
    if not spans:
        return text
    parts, pos = [], 0
    for start, end, _ in spans:
        parts.append(text[pos:start])
        parts.append(replace(text[start:end]))
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


# ------------------------------------------------------------------------------------ command lines

_SECRET_PATH = re.compile(r"^(/run/secrets/|/var/run/secrets/|/secrets?/|/etc/secrets?/|/run/keys/)")


def is_secret_reference(name: str, value: str | None) -> bool:
    """A variable that names where a secret is, not the secret: `DB_PASSWORD_FILE: /run/secrets/db_password`
    (the `_FILE` convention of the mysql, postgres and mariadb images), or any value under /run/secrets/."""
    text = str(value or "").strip().strip("\"'")
    if _SECRET_PATH.match(text):
        return True
    return bool(re.search(r"_(FILE|PATH)$", name, re.I)) and text.startswith(("/", "./", "~/"))


_SHELL_VALUE = r"(\"[^\"]*\"|'[^']*'|\$\$?\([^)]*\)|[^\s;&|]+)"
# Each database client's password flag: mysql's -p is glued to its value, its -P is the port; psql's -p is a
# port and it takes no password flag; sqlcmd's -P is the password; redis-cli's -a; mongosh's -p; curl's -u
# user:password; sshpass -p.
_CLIENT_PASSWORD_FLAGS = {
    "mysql": (r"-p(?=\S)", r"--password="), "mysqladmin": (r"-p(?=\S)", r"--password="),
    "mariadb": (r"-p(?=\S)", r"--password="), "mariadb-admin": (r"-p(?=\S)", r"--password="),
    "mysqldump": (r"-p(?=\S)", r"--password="),
    "sqlcmd": (r"-P\s+", r"-P(?=\S)"), "bcp": (r"-P\s+",), "redis-cli": (r"-a\s+", r"--pass\s+", r"--pass="),
    "mongo": (r"-p\s+", r"--password[= ]"), "mongosh": (r"-p\s+", r"--password[= ]"),
    "sshpass": (r"-p\s*",), "curl": (r"(?:-u\s*|--user[= ])[^\s:'\"]+:",),
    # a registry login's password flag (`docker login -u me -p "$TOKEN"`; --password-stdin is the way)
    "docker login": (r"-p\s+", r"--password[= ]"), "podman login": (r"-p\s+", r"--password[= ]"),
    "helm registry login": (r"-p\s+", r"--password[= ]"),
}
_CLIENT = re.compile(r"(?<![\w./-])(?:[\w./-]*/)?(" + "|".join(re.escape(c) for c in sorted(_CLIENT_PASSWORD_FLAGS, key=len, reverse=True))
                     + r")(?![\w.-])")
_FLAG_PATTERNS = {client: tuple(re.compile(r"(?<![\w$:{}-])(" + flag + r")" + _SHELL_VALUE) for flag in flags)
                  for client, flags in _CLIENT_PASSWORD_FLAGS.items()}
_INLINE_PASSWORD_ENV = re.compile(r"(?<![\w-])(PGPASSWORD|MYSQL_PWD|REDISCLI_AUTH|SQLCMDPASSWORD)=" + _SHELL_VALUE)
_COMMAND_END = re.compile(r"&&|\|\||;|\||\n")
_COMMAND_SPAN = 400  # a client's flags are read this far along its command, at most


def _client_flags(text: str) -> Iterator[tuple[re.Match, str]]:
    """(the flag and its value, the client) for each client's password flag in `text`."""
    for client in _CLIENT.finditer(text):
        end = _COMMAND_END.search(text, client.end(), client.end() + _COMMAND_SPAN)
        stop = end.start() if end else min(len(text), client.end() + _COMMAND_SPAN)
        for pattern in _FLAG_PATTERNS[client.group(1)]:
            found = pattern.search(text, client.end(), stop)
            if found:
                yield found, client.group(1)
                break


def _client_flag_values(text: str) -> Iterator[tuple[int, int, str]]:
    for found, _ in _client_flags(text):
        value, start, end = found.group(2), found.start(2), found.end(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in QUOTES:
            value, start, end = value[1:-1], start + 1, end - 1
        else:  # unquoted: up to a quote or an escape (`-pVALUE\n"` inside a JSON string)
            cut = re.search(r"[\\\"']", value)
            if cut:
                value, end = value[:cut.start()], start + cut.start()
        if value and not _command_value_kept(value):
            yield start, end, value


def command_line_secret(text: str) -> str | None:
    """The password a command line carries (`mysqladmin -proot`, `sqlcmd -P example_123`, `PGPASSWORD=x psql`,
    `curl -u admin:pw`), as written; None when it carries none. Flags are read per client: `-p` is psql's port,
    `-P` mysql's port, and `${DB_USERNAME:-postgres}` is a shell default, not a flag."""
    m = _INLINE_PASSWORD_ENV.search(text)
    if m:
        return m.group(0)
    for found, _ in _client_flags(text):
        return found.group(0).strip()
    return None


# `$NAME`, `${NAME}`, `$$NAME`, `$${NAME}` anywhere in a command; `X=$$NAME` hands it to a command's environment.
_VARIABLE = re.compile(r"(?<!\$)(\$\$?)\{?([A-Za-z_][A-Za-z0-9_]{0,100}+)")
_ENV_HANDOFF = re.compile(r"(?<![\w-])[A-Za-z_][A-Za-z0-9_]{0,100}+=[\"']?\$\$\{?[A-Za-z_][A-Za-z0-9_]{0,100}+\}?")

LITERAL, INTERPOLATED, RUNTIME, PLACEHOLDER = "literal", "interpolated", "runtime", "placeholder"


def _how(value: str) -> str:
    if "$$" in value:
        return RUNTIME
    if "$" in value or "`" in value:
        return INTERPOLATED
    return PLACEHOLDER if is_placeholder(value) else LITERAL


def command_line_exposure(text: str) -> tuple[str, str] | None:
    """(what, how) of the password a Compose command, entrypoint or healthcheck carries, or None. `how` says who
    writes it there: `literal` (the file), `interpolated` (Compose, from `${DB_PASSWORD}`: it is then in the
    container's command, in `docker inspect`), `runtime` (Compose's `$$DB_PASSWORD` or `$$(cat …)`: the container's
    shell expands it when the command runs, so it is in `ps` only while it runs, in neither the model nor inspect),
    `placeholder`. A password handed to the command's environment, `MYSQL_PWD=$$MYSQL_PASSWORD mysqladmin …`, is
    what the checks recommend: None."""
    if not text:
        return None
    m = _INLINE_PASSWORD_ENV.search(text)
    if m and "$$" not in m.group(2):
        return m.group(0), _how(_strip(m.group(2)))
    for found, _ in _client_flags(text):
        value = _strip(found.group(2))
        if value:
            return found.group(0).strip(), _how(value)
    for flag in _LONG_FLAG.finditer(text):  # `--requirepass PASS`, `--db-password=${DB_PASSWORD}`
        value = _first(flag, 2)
        if value and is_secret_name(flag.group(1)) and not value[2].startswith("-") and "=" not in value[2] \
                and not _looks_like_path(value[2]):
            return text[flag.start():value[1]].strip("\"'"), _how(value[2])
    handed = [(h.start(), h.end()) for h in _ENV_HANDOFF.finditer(text)]
    for var in _VARIABLE.finditer(text):
        if is_secret_name(var.group(2)) and not any(a <= var.start() < b for a, b in handed):
            return var.group(0) + ("}" if text[var.end():var.end() + 1] == "}" and "{" in var.group(0) else ""), (
                RUNTIME if var.group(1) == "$$" else INTERPOLATED)
    return None


def script_line_secret(line: str) -> tuple[str, str] | None:
    """(what, how) of a password a script line puts on a command line, where `ps` on the host shows it: a client's
    password flag (`mysql -p"$MYSQL_ROOT_PASSWORD"`, `docker login -p "$TOKEN"`) or a long flag named for a secret
    (`--db_password "$PASSWORD"`, `--auth-pass=$AUTH_PASS`), with a value that is a variable or a literal (not a
    placeholder); a secret handed to the command's environment (`PGPASSWORD=… psql`) is the way, never one."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    for found, _ in _client_flags(text):
        value = _strip(found.group(2))
        if value and not value.startswith("-") and _how(value) != PLACEHOLDER:
            return found.group(0).strip(), _how(value)
    for flag in _LONG_FLAG.finditer(text):
        value = _first(flag, 2)
        if value and is_secret_name(flag.group(1)) and not flag.group(1).lower().endswith(("file", "stdin", "env")) \
                and not value[2].startswith("-") and not _looks_like_path(value[2]) and _how(value[2]) != PLACEHOLDER:
            return text[flag.start():value[1]].strip("\"'"), _how(value[2])
    return None


_SWITCH_WORDS = {"USE", "ENABLE", "ENABLED", "ENABLES"}
_OFF_VALUES = {"false", "0", "no", "off", "n"}
_DEFAULT_OF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}$")


def switched_off_by(name: str, siblings: dict) -> str | None:
    """The sibling setting that leaves the feature this secret belongs to off by default, as `NAME=false`:
    `LAGO_USE_AWS_S3: ${LAGO_USE_AWS_S3:-false}` beside `LAGO_AWS_S3_SECRET_ACCESS_KEY` (a dummy key for storage
    nobody uses until they switch it on, with a key of their own). None when no such switch is off."""
    words = {w.upper() for w in name_words(name)}
    for key, raw in siblings.items():
        key_words = {w.upper() for w in name_words(str(key))}
        if not key_words & _SWITCH_WORDS:
            continue
        feature = key_words - _SWITCH_WORDS
        value = str(raw if raw is not None else "").strip()
        m = _DEFAULT_OF.match(value)
        value = (m.group(1) if m else value).strip().strip("\"'").lower()
        if feature and feature <= words and value in _OFF_VALUES:
            return f"{key}={value}"
    return None
