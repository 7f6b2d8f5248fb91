"""Release lines and end-of-life dates of the common base images: a dated table, no network lookup.

An image reference is read as one or more *products* (`python:3.11-slim-bullseye` is Python 3.11 on Debian 11),
each at a *release line*: the version granularity the project supports and retires as one (Python 3.11,
Node 20, PostgreSQL 16 but 9.6, Debian 12, Alpine 3.20). The same lines decide whether a tag floats
(`tools.facts.tags`): a tag naming less than a line (`python:3`, `mysql:8`, `redis:7`) moves across lines.

TABLE_WRITTEN is the day this table was last written. Each date is the end of the project's own security
support (for Debian: the end of LTS; for Ubuntu: the end of standard support; for .NET: Microsoft's end of
support), taken from the page named in SOURCES, including dates the project publishes in advance. Where a
project retires a line when a later one ships (Go, nginx, non-LTS Java), the date is that release's day, so
lines whose successor had not shipped when the table was written are absent. An image or line the table does
not hold is unknown and reports nothing.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

TABLE_WRITTEN = _dt.date(2026, 12, 7)

SOURCES: dict[str, str] = {
    "python": "https://devguide.python.org/versions/ (PEPs 596, 619, 664, 693, 719, 745)",
    "node": "https://github.com/nodejs/Release#release-schedule",
    "ruby": "https://www.ruby-lang.org/en/downloads/branches/",
    "php": "https://www.php.net/supported-versions.php",
    "golang": "https://go.dev/doc/devel/release (a release is supported until two newer ones ship)",
    "eclipse-temurin": "https://adoptium.net/support/ (non-LTS lines end when the next Java ships)",
    "openjdk": "https://hub.docker.com/_/openjdk (image deprecated: no GA updates after July 2022)",
    "dotnet": "https://dotnet.microsoft.com/platform/support/policy/dotnet-core",
    "debian": "https://wiki.debian.org/LTS (end of LTS)",
    "ubuntu": "https://ubuntu.com/about/release-cycle (end of standard support)",
    "alpine": "https://alpinelinux.org/releases/ (end of the main repository's support)",
    "postgres": "https://www.postgresql.org/support/versioning/",
    "mysql": "https://www.oracle.com/us/support/library/lifetime-support-technology-069183.pdf",
    "mariadb": "https://mariadb.org/about/#maintenance-policy",
    "redis": "https://github.com/redis/redis/blob/unstable/SECURITY.md (no later than the day it listed the "
             "line unsupported)",
    "mongo": "https://www.mongodb.com/legal/support-policy/lifecycles",
    "nginx": "https://nginx.org/en/download.html (a branch ends when the next stable branch ships)",
    "grafana": "https://grafana.com/docs/grafana/latest/upgrade-guide/when-to-upgrade/ (security fixes for the "
               "current major and the previous one's last minor: a major ends no later than two majors on)",
    "prometheus": "https://prometheus.io/docs/introduction/release-cycle/ (only the latest minor and the LTS lines, "
                  "the first LTS being 2.37: every earlier 2.x line ended no later than 2.37's release)",
    "tomcat": "https://tomcat.apache.org/whichversion.html",
    "traefik": "https://doc.traefik.io/traefik/deprecation/releases/ (a minor is supported until the next one ships: "
               "every 2.x line up to 2.9 ended no later than 2.10's release)",
    "rabbitmq": "https://www.rabbitmq.com/release-information (community support for the latest series only: 3.8 to "
                "3.11 ended no later than 3.12's release)",
    "elasticsearch": "https://www.elastic.co/support/eol (18 months after a minor's release: every 7.x line up to 7.16 "
                     "ended no later than 7.16's end)",
    "clickhouse": "https://clickhouse.com/docs/faq/operations/production (LTS releases: a year of support)",
    "java": "https://hub.docker.com/_/java (the official image was deprecated on 2016-12-31 for openjdk; no update since)",
}

_D = _dt.date.fromisoformat

# When a product's next major shipped: from then a tag naming only the previous major (`redis:7`, `mariadb:10`)
# follows that major's last line alone (7.4, 10.11), patches only; before, it moved across its lines. Products whose
# major is their line (postgres, node) or that never shipped a next major (python 3, alpine 3, go 1) are not here.
NEXT_MAJOR_SHIPPED: dict[str, dict[str, _dt.date]] = {
    "redis": {"3": _D("2017-07-14"), "4": _D("2018-10-17"), "5": _D("2020-04-30"), "6": _D("2022-04-27"), "7": _D("2025-05-01")},  # Redis 4.0, 5.0, 6.0, 7.0, 8.0 GA
    "mariadb": {"10": _D("2023-06-06")},  # MariaDB 11.0 GA
    "mysql": {"5": _D("2018-04-19"), "8": _D("2024-07-01")},  # MySQL 8.0 GA, 9.0
    "php": {"5": _D("2015-12-03"), "7": _D("2020-11-26")},  # PHP 7.0, 8.0
    "elasticsearch": {"6": _D("2019-04-10"), "7": _D("2022-02-10")},  # Elasticsearch 7.0, 8.0
    "traefik": {"1": _D("2019-09-16"), "2": _D("2024-04-29")},  # Traefik v2.0, v3.0
    "rabbitmq": {"3": _D("2024-09-18")},  # RabbitMQ 4.0
    "grafana": {"9": _D("2023-06-12"), "10": _D("2024-05-14"), "11": _D("2025-05-05")},  # Grafana 10.0, 11.0, 12.0
    "mongo": {"4": _D("2021-07-13"), "5": _D("2022-07-19"), "6": _D("2023-08-15"), "7": _D("2024-10-02")},  # 5.0-8.0
}


def major_closed(product: str, major: str, today: _dt.date | None = None) -> bool:
    """The product shipped the major after `major` on or before `today`: a tag of that major alone follows its
    last line, no longer across lines."""
    shipped = NEXT_MAJOR_SHIPPED.get(product, {}).get(major.lstrip("v"))
    return shipped is not None and shipped <= (today or _dt.date.today())
END_OF_LIFE: dict[str, dict[str, _dt.date]] = {
    "python": {"3.3": _D("2017-09-29"), "3.4": _D("2019-03-18"), "2.7": _D("2020-01-01"), "3.5": _D("2020-09-13"), "3.6": _D("2021-12-23"), "3.7": _D("2023-06-27"),
               "3.8": _D("2024-10-07"), "3.9": _D("2025-10-31"), "3.10": _D("2026-10-31"), "3.11": _D("2027-10-31"),
               "3.12": _D("2028-10-31"), "3.13": _D("2029-10-31"), "3.14": _D("2030-10-31")},
    "node": {"6": _D("2019-04-30"), "7": _D("2017-06-30"), "8": _D("2019-12-31"), "9": _D("2018-06-30"),
             "11": _D("2019-06-01"), "13": _D("2020-06-01"), "10": _D("2021-04-30"), "12": _D("2022-04-30"), "14": _D("2023-04-30"), "15": _D("2021-06-01"),
             "16": _D("2023-09-11"), "17": _D("2022-06-01"), "18": _D("2025-04-30"), "19": _D("2023-06-01"),
             "20": _D("2026-04-30"), "21": _D("2024-06-01"), "22": _D("2027-04-30"), "23": _D("2025-06-01"),
             "24": _D("2028-04-30"), "25": _D("2026-06-01"), "26": _D("2029-04-30")},
    "ruby": {"2.3": _D("2019-03-31"), "2.4": _D("2020-03-31"), "2.5": _D("2021-04-05"), "2.6": _D("2022-04-12"), "2.7": _D("2023-03-31"), "3.0": _D("2024-04-23"), "3.1": _D("2025-03-26"),
             "3.2": _D("2026-03-31"), "3.3": _D("2027-03-31"), "3.4": _D("2028-03-31")},
    "php": {"5.6": _D("2018-12-31"), "7.0": _D("2019-01-10"), "7.1": _D("2019-12-01"), "7.2": _D("2020-11-30"), "7.3": _D("2021-12-06"), "7.4": _D("2022-11-28"), "8.0": _D("2023-11-26"),
            "8.1": _D("2025-12-31"), "8.2": _D("2026-12-31"), "8.3": _D("2027-12-31"), "8.4": _D("2028-12-31")},
    # before 1.17: the day the release two lines on shipped (1.9 ended with 1.11's release, …, 1.16 with 1.18's)
    "golang": {"1.9": _D("2018-08-24"), "1.10": _D("2019-02-25"), "1.11": _D("2019-09-03"), "1.12": _D("2020-02-25"),
               "1.13": _D("2020-08-11"), "1.14": _D("2021-02-16"), "1.15": _D("2021-08-16"), "1.16": _D("2022-03-15"),
               "1.17": _D("2022-08-02"), "1.18": _D("2023-02-01"), "1.19": _D("2023-08-08"), "1.20": _D("2024-02-06"),
               "1.21": _D("2024-08-13"), "1.22": _D("2025-02-11"), "1.23": _D("2025-08-12")},
    "eclipse-temurin": {"11": _D("2027-10-31"), "16": _D("2021-09-14"), "17": _D("2027-10-31"), "18": _D("2022-09-20"),
                        "19": _D("2023-03-21"), "20": _D("2023-09-19"), "21": _D("2029-12-31"), "22": _D("2024-09-17"),
                        "23": _D("2025-03-18"), "24": _D("2025-09-16")},
    "openjdk": {str(v): _D("2022-07-31") for v in range(7, 19)},
    "dotnet": {"2.1": _D("2021-08-21"), "2.2": _D("2019-12-23"), "3.0": _D("2020-03-03"), "3.1": _D("2022-12-13"),
               "5.0": _D("2022-05-10"), "6.0": _D("2024-11-12"), "7.0": _D("2024-05-14"), "8.0": _D("2026-11-10"),
               "9.0": _D("2026-11-10"), "10.0": _D("2028-11-14")},
    "debian": {"7": _D("2018-05-31"), "8": _D("2020-06-30"), "9": _D("2022-06-30"), "10": _D("2024-06-30"), "11": _D("2026-08-31"),
               "12": _D("2028-06-30")},
    "ubuntu": {"14.04": _D("2019-04-30"), "16.04": _D("2021-04-30"), "18.04": _D("2023-05-31"),
               "20.04": _D("2025-05-31"), "22.04": _D("2027-04-30"), "23.04": _D("2024-01-25"),
               "23.10": _D("2024-07-11"), "24.04": _D("2029-04-30"), "24.10": _D("2025-07-10")},
    "alpine": {"3.0": _D("2016-05-01"), "3.1": _D("2016-11-01"), "3.2": _D("2017-05-01"), "3.3": _D("2017-11-01"),
               "3.4": _D("2018-05-01"), "3.5": _D("2018-11-01"), "3.6": _D("2019-05-01"), "3.7": _D("2019-11-01"),
               "3.8": _D("2020-05-01"), "3.9": _D("2020-11-01"), "3.10": _D("2021-05-01"), "3.11": _D("2021-11-01"),
               "3.12": _D("2022-05-01"), "3.13": _D("2022-11-01"), "3.14": _D("2023-05-01"), "3.15": _D("2023-11-01"),
               "3.16": _D("2024-05-23"), "3.17": _D("2024-11-22"), "3.18": _D("2025-05-09"), "3.19": _D("2025-11-01"),
               "3.20": _D("2026-04-01"), "3.21": _D("2026-11-01"), "3.22": _D("2027-05-01"), "3.23": _D("2027-11-01")},
    "postgres": {"9.4": _D("2020-02-13"), "9.5": _D("2021-02-11"), "9.6": _D("2021-11-11"), "10": _D("2022-11-10"), "11": _D("2023-11-09"),
                 "12": _D("2024-11-21"), "13": _D("2025-11-13"), "14": _D("2026-11-12"), "15": _D("2027-11-11"),
                 "16": _D("2028-11-09"), "17": _D("2029-11-08")},
    # Innovation releases (8.1-8.3, 9.x) end when the next one ships, each quarter
    "mysql": {"5.6": _D("2021-02-28"), "5.7": _D("2023-10-31"), "8.0": _D("2026-04-30"), "8.4": _D("2032-04-30"),
              "8.1": _D("2023-10-25"), "8.2": _D("2024-01-16"), "8.3": _D("2024-04-30"), "9.0": _D("2024-10-15"),
              "9.1": _D("2025-01-21"), "9.2": _D("2025-04-15"), "9.3": _D("2025-07-22"), "9.4": _D("2025-10-21"),
              "9.5": _D("2026-01-20")},
    "mariadb": {"10.0": _D("2019-03-31"), "10.1": _D("2020-10-17"), "10.2": _D("2022-05-23"), "10.3": _D("2023-05-25"), "10.4": _D("2024-06-18"), "10.5": _D("2025-06-24"), "10.6": _D("2026-07-06"),
                "10.7": _D("2023-02-09"), "10.8": _D("2023-05-20"), "10.9": _D("2023-08-22"), "10.10": _D("2023-11-17"),
                "10.11": _D("2028-02-16"), "11.0": _D("2024-06-06"), "11.1": _D("2024-08-21"), "11.2": _D("2024-11-21"),
                "11.3": _D("2024-05-29"), "11.4": _D("2029-05-29"), "11.5": _D("2024-11-21"), "11.6": _D("2025-02-13"),
                "11.7": _D("2025-05-12"), "11.8": _D("2028-06-04")},
    "redis": {"5.0": _D("2022-04-27"), "6.0": _D("2024-07-29"), "7.0": _D("2024-07-29")},
    "mongo": {"3.0": _D("2018-02-28"), "3.2": _D("2018-09-30"), "3.4": _D("2020-01-31"), "3.6": _D("2021-04-30"),
              "4.0": _D("2022-04-30"), "4.2": _D("2023-04-30"), "4.4": _D("2024-02-29"), "5.0": _D("2024-10-31"), "6.0": _D("2025-07-31"),
              "7.0": _D("2027-08-31"), "8.0": _D("2029-10-31")},
    "grafana": {**{str(v): _D("2023-06-13") for v in range(4, 9)}, "9": _D("2024-05-14")},
    "prometheus": {f"2.{m}": _D("2022-07-14") for m in range(0, 37)},
    "java": {str(v): _D("2016-12-31") for v in range(6, 10)},
    # LTS lines only (a year of support each); a regular release's end is not in this table
    "clickhouse": {"22.3": _D("2023-03-31"), "22.8": _D("2023-08-31"), "23.3": _D("2024-03-31"),
                   "23.8": _D("2024-08-31"), "24.3": _D("2025-03-31"), "24.8": _D("2025-08-31"),
                   "25.3": _D("2026-03-31"), "25.8": _D("2026-08-31")},
    "tomcat": {"7.0": _D("2021-03-31"), "8.0": _D("2018-06-30"), "8.5": _D("2024-03-31")},
    "traefik": {**{f"2.{m}": _D("2023-04-24") for m in range(0, 10)}, "2.10": _D("2024-02-12"),
                "1.7": _D("2021-12-31")},
    "rabbitmq": {**{f"3.{m}": _D("2023-06-02") for m in range(8, 12)}, "3.12": _D("2024-02-22")},
    "elasticsearch": {**{f"6.{m}": _D("2022-02-10") for m in range(0, 9)},
                      **{f"7.{m}": _D("2023-06-07") for m in range(0, 17)}},
    "nginx": {"1.14": _D("2019-04-23"), "1.15": _D("2019-04-23"), "1.16": _D("2020-04-21"), "1.17": _D("2020-04-21"),
              "1.18": _D("2021-05-25"), "1.19": _D("2021-05-25"), "1.20": _D("2022-05-24"), "1.21": _D("2022-05-24"), "1.22": _D("2023-04-11"), "1.23": _D("2023-04-11"),
              "1.24": _D("2024-04-23"), "1.25": _D("2024-04-23"), "1.26": _D("2025-04-23"), "1.27": _D("2025-04-23")},
}

# Distribution codenames, as tags name them (`debian:bookworm`, `python:3.12-slim-bullseye`, `eclipse-temurin:21-jammy`).
CODENAMES: dict[str, tuple[str, str]] = {
    "jessie": ("debian", "8"), "stretch": ("debian", "9"), "buster": ("debian", "10"), "bullseye": ("debian", "11"),
    "bookworm": ("debian", "12"), "trixie": ("debian", "13"),
    "trusty": ("ubuntu", "14.04"), "xenial": ("ubuntu", "16.04"), "bionic": ("ubuntu", "18.04"),
    "focal": ("ubuntu", "20.04"), "jammy": ("ubuntu", "22.04"), "lunar": ("ubuntu", "23.04"),
    "mantic": ("ubuntu", "23.10"), "noble": ("ubuntu", "24.04"), "oracular": ("ubuntu", "24.10"),
}

# Image repositories (registry/repository as `tools.dockerfile.parse_image_ref` normalises them) -> product.
_LIBRARY = ("python", "node", "ruby", "php", "golang", "eclipse-temurin", "openjdk", "debian", "ubuntu", "alpine",
            "postgres", "mysql", "mariadb", "redis", "mongo", "nginx", "java")
IMAGES: dict[str, str] = {
    **{f"docker.io/library/{name}": name for name in _LIBRARY},
    **{f"mcr.microsoft.com/dotnet/{name}": "dotnet" for name in ("sdk", "aspnet", "runtime", "runtime-deps")},
    **{f"mcr.microsoft.com/dotnet/core/{name}": "dotnet" for name in ("sdk", "aspnet", "runtime", "runtime-deps")},
    "docker.io/library/golang": "golang",
    "docker.io/library/mongo": "mongo",
    "docker.io/nginxinc/nginx-unprivileged": "nginx",
    "docker.io/mysql/mysql-server": "mysql",
    "docker.io/library/tomcat": "tomcat",
    "docker.io/library/traefik": "traefik",
    "docker.io/library/rabbitmq": "rabbitmq",
    "docker.io/library/elasticsearch": "elasticsearch",
    "docker.elastic.co/elasticsearch/elasticsearch": "elasticsearch",
    "docker.io/grafana/grafana": "grafana",
    "docker.io/grafana/grafana-oss": "grafana",
    "docker.io/prom/prometheus": "prometheus",
    "docker.io/clickhouse/clickhouse-server": "clickhouse",
    "docker.io/yandex/clickhouse-server": "clickhouse",
    # repackagings whose tags carry the upstream version (`bitnami/redis:6.0.8`, `mhart/alpine-node:14`)
    "docker.io/mhart/alpine-node": "node",
    "docker.io/bitnami/redis": "redis",
    "docker.io/bitnami/postgresql": "postgres",
    "docker.io/bitnami/mysql": "mysql",
    "docker.io/bitnami/mariadb": "mariadb",
    "docker.io/bitnami/mongodb": "mongo",
    "docker.io/bitnami/node": "node",
    "docker.io/bitnami/python": "python",
    "mcr.microsoft.com/oss/bitnami/redis": "redis",
}

# Databases: their data directory outlives the container, so a new major on a redeploy can refuse to open it.
DATABASES = frozenset({"postgres", "mysql", "mariadb", "mongo", "redis"})

_VERSION = re.compile(r"^v?(\d+(?:\.\d+)*)")
_ALPINE_SUFFIX = re.compile(r"^alpine(\d+\.\d+)")


def product_of(ref) -> str | None:
    """The product an image is (`postgres:16-alpine` -> postgres, `mcr.microsoft.com/dotnet/aspnet:8.0` ->
    dotnet), or None for an image the table does not know. `ref` is a string or an ImageRef."""
    image = _parse(ref)
    return IMAGES.get(f"{image.registry}/{image.repository}") if image is not None else None


def line_depth(product: str, version: str) -> int:
    """How many version components name a release line of `product` (2 for python 3.11, 1 for node 20; PostgreSQL
    since 10 retires majors, 9.x retired minors)."""
    if product in ("node", "eclipse-temurin", "openjdk", "debian", "grafana", "java"):
        return 1
    if product == "postgres":
        return 1 if version.split(".")[0].isdigit() and int(version.split(".")[0]) >= 10 else 2
    return 2


@dataclass(frozen=True)
class ReleaseLine:
    """One product an image reference carries, at the line its tag names (None when the tag names no version or
    less than a line)."""

    product: str
    line: str | None
    written: str  # the part of the tag it was read from: `3.11`, `bullseye`, `alpine3.17`
    partial: bool = False  # the tag names fewer components than a line (`python:3`): it floats across lines


def release_lines(ref) -> list[ReleaseLine]:
    """The products and release lines an image reference runs: the image's own product from its tag's version,
    then the distribution its tag's variant names (`-bookworm`, `-alpine3.20`, `-jammy`)."""
    image = _parse(ref)
    if image is None or not image.tag:
        return []
    product = product_of(image)
    if product is None:
        return []
    tag = image.tag
    out: list[ReleaseLine] = []
    m = _VERSION.match(tag)
    words = tag[m.end():].lstrip("-_.").split("-") if m else tag.split("-")
    if product in ("debian", "ubuntu") and not m and words and words[0] in CODENAMES:
        distro, line = CODENAMES[words[0]]
        return [ReleaseLine(distro, line, words[0])] if distro == product else []
    if product == "openjdk" and "ea" in words:
        return []  # early-access builds are the only openjdk tags still updated
    if m:
        version = m.group(1)
        parts = version.split(".")
        depth = line_depth(product, version)
        if len(parts) >= depth:
            out.append(ReleaseLine(product, ".".join(parts[:depth]), version))
        else:
            out.append(ReleaseLine(product, None, version, partial=True))
    for word in words:
        if word in CODENAMES:
            distro, line = CODENAMES[word]
            out.append(ReleaseLine(distro, line, word))
        elif (a := _ALPINE_SUFFIX.match(word)) and product != "alpine":
            out.append(ReleaseLine("alpine", a.group(1), word))
    return out


@dataclass(frozen=True)
class EndOfLife:
    product: str
    line: str
    date: _dt.date
    written: str
    source: str


def end_of_life(ref, today: _dt.date | None = None) -> list[EndOfLife]:
    """The release lines of an image that reached their end of life on or before `today` (default: the system's
    date), each with its date and its source; empty for a supported or an unknown image."""
    today = today or _dt.date.today()
    out = []
    for rl in release_lines(ref):
        table = END_OF_LIFE.get(rl.product, {})
        date = table.get(rl.line or "")
        line = rl.line or ""
        if rl.partial:  # `mongo:3`: ended when the last line it may pull (3.0 to 3.6) ended, if all did: known
            # only once a newer major is in the table (`redis:7` may pull a 7.x line the table does not list yet)
            lines = [d for written, d in table.items() if written.startswith(rl.written + ".")]
            newer = any(_major(written) > _major(rl.written) for written in table) \
                or rl.written in _CLOSED_MAJORS.get(rl.product, ())
            date, line = (max(lines), f"{rl.written}.x") if lines and newer else (None, "")
        if date is not None and date <= today:
            out.append(EndOfLife(rl.product, line, date, rl.written, SOURCES[rl.product]))
    return out


# Majors whose last line the table holds although no newer major is in it (Tomcat 8.5 was the last 8.x).
_CLOSED_MAJORS = {"tomcat": frozenset({"7", "8"})}


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else -1


def _parse(ref):
    from tools.dockerfile import ImageRef, parse_image_ref

    image = ref if isinstance(ref, ImageRef) else parse_image_ref(str(ref))
    return image if image.valid else None


# Echo and hello-world servers that stand in for the user's own application in an example (a proxy or an auth
# gateway in front of "your app"): what they run changes no data and serves no user.
STAND_IN_IMAGES = frozenset({
    "traefik/whoami", "containous/whoami", "nginxdemos/hello", "hashicorp/http-echo", "ealen/echo-server",
    "mendhak/http-https-echo", "jmalloc/echo-server", "kennethreitz/httpbin", "mccutchen/go-httpbin",
    "crccheck/hello-world", "tutum/hello-world", "library/hello-world", "strm/helloworld-http",
    "nginxdemos/nginx-hello", "containous/echo"})


STAND_IN = "an echo server standing in for your application"  # what CMP003 and PRD002 say of one
STAND_IN_DETAIL = "replaced by the application it stands for; its version changes no data and serves no user"


def is_stand_in(ref) -> bool:
    """An echo or hello-world image standing in for the user's application (`traefik/whoami`)."""
    image = _parse(ref)
    return image is not None and bool({image.repository, f"library/{image.repository}"} & STAND_IN_IMAGES)
