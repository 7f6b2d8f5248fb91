"""The images a file names (FROM, `image:`, workflow `docker://`), and their identity across tags."""
from __future__ import annotations

import posixpath
import re

from tools.facts.documents import yaml_documents
from tools.facts.paths import infra_kind

# ------------------------------------------------------------------------------------ images

_FROM = re.compile(r"^[ \t]*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", re.I | re.M)
_IMAGE_LINE = re.compile(r"""^[ \t]*(?:-\s*)?image\s*:\s*["']?([^\s"'#]+)""", re.M)


def image_key(ref: str) -> str:
    """An image's identity without tag or digest, normalised (`nginx:1.27` -> `docker.io/library/nginx`)."""
    from tools.dockerfile import parse_image_ref

    parsed = parse_image_ref(ref)
    if parsed.valid:
        return f"{parsed.registry}/{parsed.repository}"
    # A tag written with variables (`api:${TAG:-main-${SHA}}`) ends at the name: the first `:` of the last part.
    head, _, last = ref.split("@", 1)[0].rpartition("/")
    name = (head + "/" if head else "") + last.split(":", 1)[0]
    again = parse_image_ref(name)
    return f"{again.registry}/{again.repository}" if again.valid else name


def image_short_name(ref: str) -> str:
    """The name an intention uses for an image: its last path component (`bitnami/redis:7` -> redis)."""
    return image_key(ref).rsplit("/", 1)[-1]


def images_in(path: str, text: str | None) -> list[str]:
    """Image references a file runs or builds from: Dockerfile `FROM` (not earlier stages, not scratch), compose
    `image:`, workflow `container:`/`services:` images and `docker://` steps."""
    if not text:
        return []
    kind = infra_kind(path, text)
    out: list[str] = []
    if kind == "dockerfile":
        stages: set[str] = set()
        for m in _FROM.finditer(text):
            ref = m.group(1)
            if ref.lower() != "scratch" and ref.lower() not in stages:
                out.append(ref)
            if m.group(2):
                stages.add(m.group(2).lower())
        return out
    if kind not in ("compose", "ci") and not posixpath.basename(path).endswith((".yml", ".yaml")):
        return out
    docs = yaml_documents(text)
    if docs is None:
        return [m.group(1) for m in _IMAGE_LINE.finditer(text)]
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        for svc in (doc.get("services") or {}).values() if isinstance(doc.get("services"), dict) else []:
            if isinstance(svc, dict) and isinstance(svc.get("image"), str):
                out.append(svc["image"])
        for job in (doc.get("jobs") or {}).values() if isinstance(doc.get("jobs"), dict) else []:
            if not isinstance(job, dict):
                continue
            container = job.get("container")
            if isinstance(container, str):
                out.append(container)
            elif isinstance(container, dict) and isinstance(container.get("image"), str):
                out.append(container["image"])
            for svc in (job.get("services") or {}).values() if isinstance(job.get("services"), dict) else []:
                if isinstance(svc, dict) and isinstance(svc.get("image"), str):
                    out.append(svc["image"])
            for step in job.get("steps") if isinstance(job.get("steps"), list) else []:
                uses = step.get("uses") if isinstance(step, dict) else None
                if isinstance(uses, str) and uses.startswith("docker://"):
                    out.append(uses[len("docker://"):])
    return out


# ------------------------------------------------------------------------------------ where databases keep data

# The folder each database image keeps its data in (the official images and Bitnami's), by image key.
_DATA_DIRS = {
    "docker.io/library/postgres": "/var/lib/postgresql/data",
    "docker.io/postgis/postgis": "/var/lib/postgresql/data",
    "docker.io/timescale/timescaledb": "/var/lib/postgresql/data",
    "docker.io/pgvector/pgvector": "/var/lib/postgresql/data",
    "docker.io/library/mysql": "/var/lib/mysql",
    "docker.io/library/mariadb": "/var/lib/mysql",
    "docker.io/library/percona": "/var/lib/mysql",
    "docker.io/library/mongo": "/data/db",
    "docker.io/library/elasticsearch": "/usr/share/elasticsearch/data",
    "docker.elastic.co/elasticsearch/elasticsearch": "/usr/share/elasticsearch/data",
    "docker.io/opensearchproject/opensearch": "/usr/share/opensearch/data",
    "docker.io/clickhouse/clickhouse-server": "/var/lib/clickhouse",
    "docker.io/yandex/clickhouse-server": "/var/lib/clickhouse",
    "docker.io/library/cassandra": "/var/lib/cassandra",
    "docker.io/library/couchdb": "/opt/couchdb/data",
    "docker.io/bitnami/postgresql": "/bitnami/postgresql",
    "docker.io/bitnami/mysql": "/bitnami/mysql",
    "docker.io/bitnami/mariadb": "/bitnami/mariadb",
    "docker.io/bitnami/mongodb": "/bitnami/mongodb",
    "docker.io/osixia/openldap": "/var/lib/ldap",
    "docker.io/bitnami/openldap": "/bitnami/openldap",
    "mcr.microsoft.com/mssql/server": "/var/opt/mssql",
    "docker.io/library/neo4j": "/data",
    "docker.io/cockroachdb/cockroach": "/cockroach/cockroach-data",
}
POSTGRES_HOME = "/var/lib/postgresql"  # 18+: PGDATA is /var/lib/postgresql/<major>/docker; mount the parent
POSTGRES_18_DATA = re.compile(r"/var/lib/postgresql/\d+/docker")


_SERVERS = frozenset({"postgres", "mysqld", "mariadbd", "mongod", "clickhouse-server", "clickhouse", "elasticsearch",
                      "start", "start-single-node", "slapd", "neo4j", "/opt/mssql/bin/sqlservr",
                      "opensearch", "cassandra", "couchdb", "docker-entrypoint.sh", "/docker-entrypoint.sh",
                      "/usr/local/bin/docker-entrypoint.sh", "/opt/bitnami/scripts/postgresql/entrypoint.sh"})


def runs_the_server(command) -> bool:
    """A database service's command starts the server (none given, flags for it, or the server itself), not a
    client job run from the same image (`clickhouse-client --queries-file …`, `sh -c "pg_dump …"`)."""
    words = [str(w) for w in command] if isinstance(command, list) else str(command or "").split()
    return not words or words[0].startswith("-") or posixpath.basename(words[0]) in _SERVERS or words[0] in _SERVERS


def database_data_dir(image: str | None, environment: dict | None = None) -> tuple[str, str] | None:
    """(the folder a database image keeps its data in, what it is) for a known database image, or None: the
    official images' and Bitnami's, PGDATA when the service sets it; PostgreSQL 18 and newer (and an untagged or
    `latest` postgres, which is 18+) keep it in /var/lib/postgresql/<major>/docker (`18` when the tag names no
    major)."""
    if not image:
        return None
    key = image_key(image)
    folder = _DATA_DIRS.get(key)
    if folder is None:
        return None
    parts = key.split("/")
    what = parts[-2] if parts[-1] == "server" else parts[-1]  # mcr.microsoft.com/mssql/server is mssql
    pgdata = str((environment or {}).get("PGDATA") or "")
    if folder == "/var/lib/postgresql/data":
        if pgdata.startswith("/") and "$" not in pgdata:
            return pgdata.rstrip("/"), what
        from tools.dockerfile import parse_image_ref

        ref = parse_image_ref(image)
        tag = ref.tag or ""
        major = re.match(r"(\d+)", tag)
        if getattr(ref, "digest", None) and not major:
            return None  # `postgres:latest@sha256:…`: the digest decides the major, unknown here
        if not tag or tag.startswith(("latest", "alpine", "bookworm", "trixie")) or (major and int(major.group(1)) >= 18):
            return f"{POSTGRES_HOME}/{major.group(1) if major else 18}/docker", what
    return folder, what


# ------------------------------------------------------------------------------------ what database images read

def _with_files(names: list[str], filed: list[str]) -> frozenset[str]:
    return frozenset(names + [f"{n}_FILE" for n in filed])


_MYSQL_NAMES = ["MYSQL_ROOT_PASSWORD", "MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_ALLOW_EMPTY_PASSWORD",
                "MYSQL_RANDOM_ROOT_PASSWORD", "MYSQL_ONETIME_PASSWORD", "MYSQL_INITDB_SKIP_TZINFO", "MYSQL_ROOT_HOST"]
_MARIADB_NAMES = [n.replace("MYSQL_", "MARIADB_") for n in _MYSQL_NAMES] + [
    "MARIADB_ALLOW_EMPTY_ROOT_PASSWORD", "MARIADB_ROOT_PASSWORD_HASH", "MARIADB_PASSWORD_HASH", "MARIADB_AUTO_UPGRADE",
    "MARIADB_DISABLE_UPGRADE_BACKUP", "MARIADB_MYSQL_LOCALHOST_USER", "MARIADB_MYSQL_LOCALHOST_GRANTS",
    "MARIADB_REPLICATION_USER", "MARIADB_REPLICATION_PASSWORD", "MARIADB_MASTER_HOST", "MARIADB_MASTER_PORT"]
# The settings each official database image reads from its environment (its entrypoint's documented variables).
_IMAGE_SETTINGS = {
    "docker.io/library/postgres": ("POSTGRES_", _with_files(
        ["POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_INITDB_ARGS", "POSTGRES_INITDB_WALDIR",
         "POSTGRES_HOST_AUTH_METHOD"], ["POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_INITDB_ARGS"])),
    "docker.io/library/mysql": ("MYSQL_", _with_files(_MYSQL_NAMES, _MYSQL_NAMES[:4])),
    "docker.io/library/mariadb": ("MARIADB_", _with_files(_MARIADB_NAMES + _MYSQL_NAMES,
                                                          _MARIADB_NAMES[:4] + _MYSQL_NAMES[:4])),
    "docker.io/library/mongo": ("MONGO_INITDB_", _with_files(
        ["MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD", "MONGO_INITDB_DATABASE"],
        ["MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"])),
}


def _distance(a: str, b: str) -> int:
    """Levenshtein distance, stopped early past 2 (only near misses matter)."""
    if abs(len(a) - len(b)) > 2:
        return 3
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


_CLIENT_WORDS = frozenset({"HOST", "HOSTNAME", "PORT", "URL", "URI", "DSN", "SSL", "SSLMODE", "SCHEMA", "DRIVER",
                           "DIALECT", "CONNECTION", "TIMEOUT", "POOL", "ADDR", "ADDRESS", "SERVER"})


def misread_setting(image: str | None, name: str) -> str | None:
    """The setting a database image reads that `name` was plainly meant to be (`POSTGRES_DB_PASSWORD_FILE` for
    `POSTGRES_PASSWORD_FILE`, `MYSQL_ROOT_PASWORD` for `MYSQL_ROOT_PASSWORD`), or None: a name the image reads, one of
    another prefix, or one near none of its settings (an application's `POSTGRES_HOST` shared through an anchor)."""
    found = _IMAGE_SETTINGS.get(image_key(image)) if image else None
    if found is None:
        return None
    prefix, known = found
    upper = name.upper()
    if not upper.startswith(prefix.split("_")[0] + "_") or upper in known:
        return None
    words = upper.split("_")
    if _CLIENT_WORDS & set(words):
        return None  # `MYSQL_HOST`, `POSTGRES_DB_PORT`: how an application reaches it, shared through an anchor
    near: list[str] = []
    for setting in known:
        setting_words = setting.split("_")
        if len(upper) >= 10 and _distance(upper, setting) <= 2 \
                or len(words) == len(setting_words) + 1 and any(words[:i] + words[i + 1:] == setting_words
                                                                 for i in range(1, len(words))) \
                or len(setting_words) == len(words) + 1 and any(setting_words[:i] + setting_words[i + 1:] == words
                                                                for i in range(1, len(setting_words))) \
                or len(words) == len(setting_words) and words[:-1] == setting_words[:-1] \
                and words[-1].startswith(setting_words[-1]) and words[-1] != setting_words[-1]:
            near.append(setting)  # a slip, a word too many (POSTGRES_DB_PASSWORD_FILE) or too few, USERNAME for USER
    return max(near, key=lambda n: (len(n), n)) if near else None
