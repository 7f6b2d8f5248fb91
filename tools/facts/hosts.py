"""Which network hosts a configuration value names: a URL's host, `host:port`, or a connection string's
`Server=`/`Host=` key. The checks that compare them with compose services ask here, once."""
from __future__ import annotations

import re

# Schemes whose authority is not a network host: `s3://bucket` names a bucket, `file://` a path.
NON_HOST_SCHEMES = frozenset({
    "s3", "s3a", "s3n", "gs", "gcs", "az", "abfs", "abfss", "wasb", "wasbs", "adl", "oss", "cos", "r2", "b2",
    "file", "unix", "npipe", "data", "mailto", "urn", "jar", "classpath", "vault", "env", "secret", "arn",
    # provider DSNs name a provider, not a host: `sms://user:pass@mock`, Symfony's `null://null`, `sync://`
    "sms", "null", "sendmail", "native", "sync", "in-memory", "memory",
})

# Go's MySQL DSN puts the address in `tcp(host:port)` after the credentials (`mysql://u:p@tcp(db:3306)/app`).
_URL = re.compile(r"\b([a-z][a-z0-9+.-]*)://(?:[^/@\s:]+(?::[^/@\s]*)?@)?(?:tcp\()?([A-Za-z0-9_.-]+)(?::(\d+))?")
# A connection-string key starts the value or follows `;` (or `?`/`&` in a query): `kafka.server=WARN` and
# `root=INFO,server=WARN` (logger levels) are not a `server=` key.
_CONN_HOST = re.compile(r"(?i)(?:^|[;?&])\s*(?:server|host|data source|hostname)\s*=\s*(?:tcp:)?"
                        r"([A-Za-z0-9_.-]+)(?:[,:](\d+))?(?=$|[;&\s])")
_HOST = r"[A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*"
_HOST_PORT = re.compile(rf"^({_HOST}):(\d{{1,5}})$")
_BARE_HOST = re.compile(rf"^({_HOST})$")
# Keys whose whole value is an address: `DB_HOST: mysql`, `KAFKA_BROKERS: kafka:9092`.
_ADDRESS_KEY = re.compile(r"(?i)(^|_)(HOST|HOSTNAME|SERVER|ADDR|ADDRESS|BROKERS?|BOOTSTRAP_SERVERS|ENDPOINT)$")
_WORDS = {"true", "false", "yes", "no", "on", "off", "none", "null", "auto", "disabled", "enabled"}


def hosts_in(value: str, key: str | None = None) -> list[tuple[str, str | None]]:
    """(host, port or None) of each network host `value` names: the host of a URL whose scheme reaches a
    host (`s3://bucket` names none), the `Server=`/`Host=` of a connection string, and, under a key that
    names an address (`DB_HOST`, `REDIS_ADDR`), a whole value that is a host or `host:port`."""
    text = str(value).strip()
    out: list[tuple[str, str | None]] = []
    for m in _URL.finditer(text):
        if m.group(1).lower() not in NON_HOST_SCHEMES:
            out.append((m.group(2), m.group(3)))
    if not out and key and _ADDRESS_KEY.search(key):
        m = _HOST_PORT.match(text) or _BARE_HOST.match(text)
        if m and text.lower() not in _WORDS:
            out.append((m.group(1), m.group(2) if m.re is _HOST_PORT else None))
    out += [(m.group(1), m.group(2)) for m in _CONN_HOST.finditer(text)]
    # `https://_public_ip_/`: a token a setup script substitutes, no host (a name never starts or ends so)
    return [(host, port) for host, port in out if not (host and _SUBSTITUTED.search(host))]


_SUBSTITUTED = re.compile(r"^[_%@{<]|[_%@}>]$")
