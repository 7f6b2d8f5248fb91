"""Issue 18, misses to cover: each new check on a small shop platform written the way real projects write it
(a Python API built by CI, Postgres, Redis, a worker), through the real session: the fault found at its
path:line, the correct file silent."""
from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from agent.session import open_session
from tools.facts.exposure import (admin_ui_of, is_loopback, maps_host_gateway, names_host_gateway,
                                  unauthenticated_ui_of)
from tools.facts.lifecycle import END_OF_LIFE, SOURCES, TABLE_WRITTEN, end_of_life, release_lines
from tools.facts.tags import rewrites_tag, tag_mutability

CONFIG = """\
environments:
  dev: [docker-compose.yml]
  prod: [docker-compose.prod.yml]
github_repository: acme/shop
"""

DEV = """\
services:
  api:
    build: ./api
    ports:
      - "8000:8000"
    environment:
      DATABASE_URL: postgresql://shop:${POSTGRES_PASSWORD}@db:5432/shop
  db:
    image: postgres:16.4-alpine
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
  adminer:
    image: adminer:4.8.1
    ports:
      - "8081:8080"
"""

PROD = """\
services:
  api:
    image: ghcr.io/acme/shop-api:${API_TAG}
    restart: unless-stopped
    environment:
      DATABASE_URL: postgresql://shop:${POSTGRES_PASSWORD}@db:5432/shop
      REDIS_URL: redis://cache:6379/0
  db:
    image: postgres:16.4-alpine
    restart: unless-stopped
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
    volumes:
      - pgdata:/var/lib/postgresql/data
  cache:
    image: redis:7.4-alpine
    restart: unless-stopped
volumes:
  pgdata:
"""

DOCKERFILE = """\
FROM python:3.13-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
USER nobody
CMD ["uvicorn", "shop.main:app", "--host", "0.0.0.0", "--port", "8000"]
"""

WORKFLOW = """\
name: api
on:
  push:
    branches: [main]
permissions: {}
jobs:
  image:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      packages: write
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with:
          persist-credentials: false
      - id: meta
        uses: docker/metadata-action@902fa8ec7d6ecbf8d84d538b9b233a880e428804 # v5.7.0
        with:
          images: ghcr.io/acme/shop-api
          tags: type=sha
      - uses: docker/build-push-action@263435318d21b8e681c14492fe198d362a7d2c83 # v6.18.0
        with:
          context: ./api
          push: true
          tags: ${{ steps.meta.outputs.tags }}
"""

ENV_EXAMPLE = "POSTGRES_PASSWORD=change-me\nAPI_TAG=sha-0000000\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def shop(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DEVOPS_AGENT_HOME", str(tmp_path / "home"))  # zizmor's and hadolint's caches
    return write(tmp_path / "shop", {
        ".devops-agent.yaml": CONFIG, "docker-compose.yml": DEV, "docker-compose.prod.yml": PROD,
        "api/Dockerfile": DOCKERFILE, "api/requirements.txt": "fastapi==0.115.0\nuvicorn==0.30.6\n",
        "api/.dockerignore": ".git\n.env\n", ".github/workflows/api.yml": WORKFLOW, ".env.example": ENV_EXAMPLE,
    })


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


def findings(root: Path, prefix: str) -> list:
    return [f for f in open_session(root).findings if f.id.startswith(prefix)]


def at(found: list) -> list[tuple[str, str, int | None]]:
    return [(f.id, loc.path, loc.line) for f in found for loc in f.locations[:1]]


def test_the_shop_as_written_is_silent(shop):
    # only the dev file's adminer published on 8081, at low (PRD003 outside production)
    assert [(f.id, f.severity, f.locations[0].path) for f in findings(shop, "PRD")] == [
        ("PRD003", "low", "docker-compose.yml")]
    assert [f for f in findings(shop, "GHA") if f.severity != "info"] == []


# -- PRD001: production builds on the server what CI pushes -------------------------------------

def test_prod_building_what_ci_pushes_is_found(shop):
    edit(shop, "docker-compose.prod.yml", "    image: ghcr.io/acme/shop-api:${API_TAG}\n", "    build: ./api\n")
    found = findings(shop, "PRD001")
    assert at(found) == [("PRD001", "docker-compose.prod.yml", 3)]
    assert found[0].title == ("prod: api builds api/Dockerfile on the server; .github/workflows/api.yml pushes it "
                              "as ghcr.io/acme/shop-api")
    assert found[0].locations[1].path == ".github/workflows/api.yml"
    assert not [f for f in open_session(shop).findings if f.id == "XF001"]  # one fact, one id


def test_prod_building_what_no_workflow_pushes_is_medium(shop):
    edit(shop, ".github/workflows/api.yml", "          push: true\n", "          push: false\n")
    edit(shop, "docker-compose.prod.yml", "    image: ghcr.io/acme/shop-api:${API_TAG}\n", "    build: ./api\n")
    found = findings(shop, "PRD001")
    assert [(f.severity, f.title) for f in found] == [
        ("medium", "prod: api builds api/Dockerfile on the server; no workflow builds or pushes it")]


def test_prod_building_what_ci_pushes_to_a_computed_registry_is_medium(shop):
    """The workflow pushes to `${{ steps.ecr.outputs.registry }}/shop-api` (a registry it logs in to, private
    maybe): building on the server may be the only way a server gets the image; said, at medium."""
    text = (shop / ".github/workflows/api.yml").read_text()
    (shop / ".github/workflows/api.yml").write_text(text.replace("ghcr.io/acme/shop-api",
                                                                 "${{ steps.ecr.outputs.registry }}/shop-api"))
    edit(shop, "docker-compose.prod.yml", "    image: ghcr.io/acme/shop-api:${API_TAG}\n", "    build: ./api\n")
    found = findings(shop, "PRD001")
    assert [f.severity for f in found] == ["medium"], [f.title for f in found]
    assert "a registry whose name the workflow computes" in found[0].title


# -- PRD002: floating tags other than latest ----------------------------------------------------

def test_major_only_redis_tag_floats(shop):
    edit(shop, "docker-compose.prod.yml", "redis:7.4-alpine", "redis:8-alpine")
    found = findings(shop, "PRD002")
    assert at(found) == [("PRD002", "docker-compose.prod.yml", 16)]
    assert found[0].severity == "high"
    assert "names redis 8 only" in found[0].title
    edit(shop, "docker-compose.prod.yml", "redis:8-alpine", "redis:7-alpine")  # Redis 8 shipped: 7 is closed
    [closed] = findings(shop, "PRD002")
    assert closed.severity == "medium" and "a closed major" in closed.title


def test_versionless_database_tag_says_what_it_risks(shop):
    edit(shop, "docker-compose.prod.yml", "postgres:16.4-alpine", "postgres:alpine")
    found = findings(shop, "PRD002")
    assert at(found) == [("PRD002", "docker-compose.prod.yml", 9)]
    assert found[0].severity == "high" and "refuses the data volume" in found[0].detail


def test_channel_tag_from_the_env_file_floats(shop):
    edit(shop, "docker-compose.prod.yml", "redis:7.4-alpine", "redis:${REDIS_TAG}")
    (shop / ".env").write_text("POSTGRES_PASSWORD=x\nAPI_TAG=sha-1234567\nREDIS_TAG=stable\n")
    found = findings(shop, "PRD002")
    assert at(found) == [("PRD002", "docker-compose.prod.yml", 16)]
    assert "redis:stable" in found[0].title and "written redis:${REDIS_TAG}" in found[0].title


def test_digest_and_release_line_tags_stay_silent_and_latest_stays_cmp003s(shop):
    edit(shop, "docker-compose.prod.yml", "redis:7.4-alpine", "redis:7-alpine@sha256:" + "ab" * 32)
    edit(shop, "docker-compose.prod.yml", "postgres:16.4-alpine", "postgres:16")
    assert findings(shop, "PRD002") == []
    edit(shop, "docker-compose.prod.yml", "postgres:16", "postgres:latest")
    session = open_session(shop)
    assert [f.id for f in session.findings if f.id in ("CMP003", "PRD002")] == ["CMP003"]


def test_example_placeholder_tag_is_not_judged_but_a_documented_channel_is(shop):
    edit(shop, "docker-compose.prod.yml", "redis:7.4-alpine", "redis:${REDIS_TAG}")
    (shop / ".env.example").write_text(ENV_EXAMPLE + "REDIS_TAG=change-me\n")
    assert findings(shop, "PRD002") == []
    (shop / ".env.example").write_text(ENV_EXAMPLE + "REDIS_TAG=stable\n")
    assert [f.title for f in findings(shop, "PRD002")] == [
        "prod: cache runs redis:stable: channel tag `stable`: it follows the project's next `stable` release "
        "(written redis:${REDIS_TAG}, set by .env.example)"]


def test_a_floating_example_value_over_a_pinned_default_in_the_file_is_medium(shop):
    """`redis:${REDIS_TAG:-7.4.1-alpine}` pinned in the file, `REDIS_TAG=edge` in .env.example: Compose runs the pin
    unless the user copies the example's floating value; medium, saying so."""
    edit(shop, "docker-compose.prod.yml", "redis:7.4-alpine", "redis:${REDIS_TAG:-7.4.1-alpine}")
    (shop / ".env.example").write_text(ENV_EXAMPLE + "REDIS_TAG=edge\n")
    found = findings(shop, "PRD002")
    assert [(f.severity, f.title.endswith("; the file's own default is pinned")) for f in found] == [("medium", True)]


BUMP = """\
#!/usr/bin/env bash
set -eu
NEW_VERSION="${1:?usage: bump-version.sh VERSION}"
sed -i -e "s/^\\(API\\|CACHE\\)_IMAGE=\\([^:]\\+\\):.\\+\\$/\\1_IMAGE=\\2:$NEW_VERSION/" .env
"""


def test_channel_tag_a_release_script_rewrites_is_info(shop):
    edit(shop, "docker-compose.prod.yml", "image: redis:7.4-alpine", "image: ${CACHE_IMAGE}")
    (shop / ".env").write_text("POSTGRES_PASSWORD=x\nAPI_TAG=sha-1234567\nCACHE_IMAGE=redis:nightly\n")
    found = findings(shop, "PRD002")
    assert [f.severity for f in found] == ["high"]
    write(shop, {"scripts/bump-version.sh": BUMP})
    found = findings(shop, "PRD002")
    assert [(f.severity, f.locations[0].line) for f in found] == [("info", 16)]
    assert found[0].title.endswith("; scripts/bump-version.sh rewrites it at release")


def test_unset_tag_variable_is_not_judged(shop):
    edit(shop, "docker-compose.prod.yml", "redis:7.4-alpine", "redis:${REDIS_TAG}")
    assert findings(shop, "PRD002") == []


# -- PRD003: a database admin UI published in production ----------------------------------------

def in_prod(found):
    """The findings on the production file (the dev file's own adminer is reported too, at low)."""
    return [f for f in found if f.locations[0].path == "docker-compose.prod.yml"]


ADMINER = "\n  adminer:\n    image: adminer:4.8.1\n    restart: unless-stopped\n    ports:\n      - {port}\nvolumes:\n"


def test_admin_ui_published_in_prod_is_found(shop):
    edit(shop, "docker-compose.prod.yml", "\nvolumes:\n", ADMINER.format(port='"8081:8080"'))
    found = in_prod(findings(shop, "PRD003"))
    assert at(found) == [("PRD003", "docker-compose.prod.yml", 22)]
    assert found[0].severity == "blocker" and "Adminer on 8081" in found[0].title


def test_admin_ui_on_the_host_network_is_found(shop):
    edit(shop, "docker-compose.prod.yml", "\nvolumes:\n", "\n  pgadmin:\n    image: dpage/pgadmin4:8.12\n"
                                                             "    network_mode: host\nvolumes:\n")
    assert at(in_prod(findings(shop, "PRD003"))) == [("PRD003", "docker-compose.prod.yml", 20)]


def test_tool_ui_without_login_published_in_prod_is_high(shop):
    edit(shop, "docker-compose.prod.yml", "\nvolumes:\n", "\n  prometheus:\n    image: prom/prometheus:v3.1.0\n"
                                                             "    ports:\n      - '0.0.0.0:9090:9090'\nvolumes:\n")
    found = in_prod(findings(shop, "PRD003"))
    assert [(f.severity, f.title, f.locations[0].line) for f in found] == [
        ("high", "prod: prometheus publishes Prometheus on 0.0.0.0:9090, reachable from the network", 21)]


def test_admin_ui_on_loopback_is_silent_and_only_in_dev_is_low(shop):
    """Loopback in production: silent. The dev file's adminer on 8081 reaches the network wherever the file runs
    (a laptop on a café's Wi-Fi, a shared CI runner): low, never in the verdict."""
    edit(shop, "docker-compose.prod.yml", "\nvolumes:\n", ADMINER.format(port='"127.0.0.1:8081:8080"'))
    found = findings(shop, "PRD003")
    assert [(f.severity, f.locations[0].path) for f in found] == [("low", "docker-compose.yml")], found
    assert "outside production" in found[0].detail


# -- PRD004: end-of-life base images ------------------------------------------------------------

def test_end_of_life_python_base_is_found_with_its_date(shop):
    edit(shop, "api/Dockerfile", "FROM python:3.13-slim", "FROM node:16-alpine AS assets\nRUN true\nFROM python:3.8-slim")
    found = sorted(findings(shop, "PRD004"), key=lambda f: f.locations[0].line)
    assert at(found) == [("PRD004", "api/Dockerfile", 1), ("PRD004", "api/Dockerfile", 3)]
    assert found[0].severity == "low" and "node 16 reached its end of life on 2023-09-11" in found[0].title
    assert found[1].severity == "medium" and "python 3.8 reached its end of life on 2024-10-07" in found[1].title
    assert found[1].detail == "python: https://devguide.python.org/versions/ (PEPs 596, 619, 664, 693, 719, 745)"


def test_end_of_life_base_of_an_image_nothing_builds_is_low_and_of_a_test_image_info(shop):
    write(shop, {"tools/Dockerfile": "FROM node:16-alpine\nCOPY seed.js .\nCMD [\"node\", \"seed.js\"]\n",
                 "api/Dockerfile.test": "FROM python:3.8-slim\nRUN pip install pytest\n"})
    found = {f.locations[0].path: f for f in findings(shop, "PRD004")}
    assert (found["tools/Dockerfile"].severity, found["tools/Dockerfile"].locations[0].line) == ("low", 1)
    assert "(no compose service or workflow builds it)" in found["tools/Dockerfile"].title
    assert found["api/Dockerfile.test"].severity == "info" and "(a test image)" in found["api/Dockerfile.test"].title


def test_end_of_life_compose_image_and_distribution_variant(shop):
    edit(shop, "docker-compose.prod.yml", "redis:7.4-alpine", "redis:6.0-bullseye")
    found = findings(shop, "PRD004")
    assert at(found) == [("PRD004", "docker-compose.prod.yml", 16)]
    assert "redis 6.0 reached its end of life on 2024-07-29" in found[0].title


def test_supported_and_unknown_versions_are_silent(shop):
    edit(shop, "api/Dockerfile", "FROM python:3.13-slim", "FROM python:3.99-slim")
    edit(shop, "docker-compose.prod.yml", "redis:7.4-alpine", "valkey/valkey:7.2")
    assert findings(shop, "PRD004") == []


# -- PRD005: host.docker.internal without extra_hosts --------------------------------------------

OLLAMA = "      REDIS_URL: redis://cache:6379/0\n      OLLAMA_URL: http://host.docker.internal:11434\n"


def test_host_gateway_name_without_mapping_is_found(shop):
    edit(shop, "docker-compose.prod.yml", "      REDIS_URL: redis://cache:6379/0\n", OLLAMA)
    found = findings(shop, "PRD005")
    assert at(found) == [("PRD005", "docker-compose.prod.yml", 8)]
    assert found[0].severity == "blocker" and "(environment OLLAMA_URL)" in found[0].title


def test_host_gateway_name_with_extra_hosts_is_silent(shop):
    edit(shop, "docker-compose.prod.yml", "      REDIS_URL: redis://cache:6379/0\n",
         OLLAMA + '    extra_hosts:\n      - "host.docker.internal:host-gateway"\n')
    assert findings(shop, "PRD005") == []


PROXY = """\
  proxy:
    image: nginx:1.28-alpine
    restart: unless-stopped
    ports:
      - "80:80"
    volumes:
      - ./proxy/default.conf:/etc/nginx/conf.d/default.conf:ro
"""
PROXY_CONF = """\
server {
    listen 80;
    location /api/ {
        proxy_pass http://api:8000/;
    }
    location /grafana/ {
        proxy_pass http://host.docker.internal:3000/;
    }
}
"""


def test_host_gateway_name_in_the_proxy_config_is_found(shop):
    edit(shop, "docker-compose.prod.yml", "\nvolumes:\n", "\n" + PROXY + "volumes:\n")
    write(shop, {"proxy/default.conf": PROXY_CONF})
    found = findings(shop, "PRD005")
    assert at(found) == [("PRD005", "proxy/default.conf", 7)]
    assert "(nginx config proxy/default.conf)" in found[0].title


# -- GHA: zizmor's audits ------------------------------------------------------------------------

TRIAGE = """\
name: triage
on:
  pull_request_target:
    types: [opened]
permissions:
  contents: read
jobs:
  label:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
          persist-credentials: false
      - name: Greet
        run: echo "Thanks for ${{ github.event.pull_request.title }}"
"""


def test_zizmor_audits_are_found_under_their_ids(shop):
    write(shop, {".github/workflows/triage.yml": TRIAGE})
    found = findings(shop, "GHA")
    ids = {(f.id, f.locations[0].path, f.locations[0].line) for f in found}
    assert ("GHA001", ".github/workflows/triage.yml", 3) in ids  # the pull_request_target line
    assert ("GHA002", ".github/workflows/triage.yml", 16) in ids
    assert {f.severity for f in found if f.id == "GHA002"} == {"high"}
    assert not [f for f in found if "unpinned-uses" in f.title]  # CI005 reports it
    assert [f.id for f in open_session(shop).findings if f.id == "CI005"] == ["CI005"]


RELEASE = """\
name: release
on:
  workflow_dispatch:
    inputs:
      version:
        required: true
permissions:
  contents: read
jobs:
  tag:
    runs-on: ubuntu-latest
    steps:
      - run: echo "releasing ${{ inputs.version }}"
"""

LABELER = """\
name: labeler
on:
  pull_request_target:
    types: [opened]
permissions:
  contents: read
  pull-requests: write
jobs:
  label:
    runs-on: ubuntu-latest
    steps:
      - run: gh pr edit "$NUMBER" --add-label triage
        env:
          GH_TOKEN: ${{ github.token }}
          NUMBER: ${{ github.event.pull_request.number }}
"""


def test_zizmor_severity_follows_who_can_start_the_workflow(shop):
    write(shop, {".github/workflows/release.yml": RELEASE, ".github/workflows/labeler.yml": LABELER})
    found = {(f.id, f.locations[0].path): f for f in findings(shop, "GHA") if f.id in ("GHA001", "GHA002")}
    injection = found[("GHA002", ".github/workflows/release.yml")]
    assert injection.locations[0].line == 13 and injection.severity == "low"
    assert "only who can push starts this workflow" in injection.detail
    trigger = found[("GHA001", ".github/workflows/labeler.yml")]
    assert trigger.locations[0].line == 3 and trigger.severity == "medium"  # the pull_request_target line


def test_zizmor_results_are_cached_by_content(shop, tmp_path):
    write(shop, {".github/workflows/triage.yml": TRIAGE})
    first = {(f.id, f.title) for f in findings(shop, "GHA")}
    cached = list((tmp_path / "home").rglob("zizmor/*/*.json"))
    assert len(cached) == 2  # one per workflow
    assert {(f.id, f.title) for f in findings(shop, "GHA")} == first


def test_workflow_zizmor_cannot_read_is_said(shop):
    write(shop, {".github/workflows/nightly.yml": "name: nightly\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n"
                                                   "    stepz:\n      - run: make\n"})
    found = [f for f in findings(shop, "GHA") if f.id == "GHA000"]
    assert [(f.severity, f.locations[0].path) for f in found] == [("info", ".github/workflows/nightly.yml")]
    assert found[0].title.startswith("zizmor did not audit .github/workflows/nightly.yml: ")
    (shop / ".github/workflows/api.yml").unlink()  # the only workflow left is one zizmor cannot read
    session = open_session(shop)
    assert [f.title for f in session.findings if f.id == "GHA000"] == [found[0].title]
    assert not session.not_run  # GitHub refuses that workflow too: nothing unaudited runs


def test_zizmor_failing_on_one_workflow_costs_that_workflow_only(shop, monkeypatch, tmp_path):
    import tools.zizmor

    fake = tmp_path / "zizmor"  # stops the whole call when one input is gc.yml, as zizmor 1.33 does on a crash
    fake.write_text("#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in *gc.yml) echo 'fatal: no audit was performed' >&2; "
                    "exit 1;; esac; done\necho '[]'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(tools.zizmor, "zizmor_binary", lambda: str(fake))
    write(shop, {".github/workflows/gc.yml": "name: gc\non: push\njobs:\n  gc:\n    runs-on: ubuntu-latest\n"
                                               "    steps:\n      - run: make gc\n"})
    run = tools.zizmor.run_zizmor(shop, [".github/workflows/api.yml", ".github/workflows/gc.yml"])
    assert run.ran and run.failed == {".github/workflows/gc.yml": "fatal: no audit was performed"}
    assert run.results[".github/workflows/api.yml"] == []
    session = open_session(shop)
    assert [f.title for f in session.findings if f.id == "GHA000"] == [
        "zizmor failed on .github/workflows/gc.yml: fatal: no audit was performed"]
    assert session.verdict == "CANNOT-TELL" and [g.what for g in session.not_run] == ["zizmor on .github/workflows/gc.yml"]


def test_zizmor_absent_is_said(shop, monkeypatch):
    import tools.zizmor

    monkeypatch.setattr(tools.zizmor, "zizmor_binary", lambda: None)
    found = findings(shop, "GHA")
    assert [(f.id, f.severity, f.title) for f in found] == [("GHA000", "info", "zizmor did not run on the workflows")]
    assert open_session(shop).verdict == "CANNOT-TELL"  # fail closed, as without hadolint


# -- the facts ---------------------------------------------------------------------------------

@pytest.mark.parametrize("image, kind", [
    ("nginx:latest", "latest"), ("nginx", "untagged"), ("nginx:stable-alpine", "floating"), ("alpine:edge", "floating"),
    ("node:lts-slim", "floating"), ("node:alpine", "floating"), ("python:3-slim", "floating"), ("mysql:8", "floating"),
    ("golang:1", "floating"), ("ghcr.io/acme/api:main", "floating"),
    ("postgres:16", None), ("node:20-alpine", None), ("python:3.11-slim", None), ("debian:bookworm-slim", None),
    ("ubuntu:22.04", None), ("eclipse-temurin:21-jre", None), ("ghcr.io/acme/api:42", None),
    ("postgres:alpine@sha256:" + "0" * 64, None), ("app:${TAG}", None),
    ("ghcr.io/acme/app:APP_VERSION", None), ("user/image:tag", None), ("ghcr.io/acme/app:MAIN", "floating"),
    ("redis:7-alpine", "floating"), ("mongo:8", "floating"),
])
def test_tag_mutability(image, kind):
    found = tag_mutability(image)
    assert (found.kind if found else None) == kind


def test_lifecycle_table_is_dated_and_sourced():
    assert TABLE_WRITTEN.year >= 2026
    assert set(END_OF_LIFE) == set(SOURCES)
    day = dt.date(2026, 1, 1)
    assert [(e.product, e.line) for e in end_of_life("python:3.11-slim-bullseye", dt.date(2026, 9, 1))] == [("debian", "11")]
    assert [(e.product, e.line) for e in end_of_life("node:18-alpine3.17", day)] == [("node", "18"), ("alpine", "3.17")]
    assert end_of_life("mcr.microsoft.com/dotnet/aspnet:8.0", day) == []
    assert [e.date for e in end_of_life("mcr.microsoft.com/dotnet/aspnet:8.0", dt.date(2026, 11, 10))] == [
        dt.date(2026, 11, 10)]
    assert end_of_life("openjdk:24-ea-slim", day) == [] and end_of_life("python:3.99", day) == []
    assert [(e.product, e.line) for e in end_of_life("grafana/grafana:5.2.4", day)] == [("grafana", "5")]
    assert [(e.product, e.line) for e in end_of_life("prom/prometheus:v2.4.2", day)] == [("prometheus", "2.4")]
    assert end_of_life("prom/prometheus:v2.53.0", day) == []  # an LTS line the table does not date: silent
    assert [rl.line for rl in release_lines("postgres:9.6.24")] == ["9.6"]
    assert [rl.line for rl in release_lines("postgres:13.4")] == ["13"]
    later = dt.date(2026, 12, 7)  # MySQL's innovation releases, MariaDB 10.2, an odd Node, ClickHouse's LTS lines
    assert [(e.product, e.line) for e in end_of_life("mysql:9.5", later)] == [("mysql", "9.5")]
    assert end_of_life("mysql:8.4", later) == [] and end_of_life("clickhouse/clickhouse-server:25.8", later) != []
    assert [(e.product, e.line) for e in end_of_life("mariadb:10.2", later)] == [("mariadb", "10.2")]
    assert [(e.product, e.line) for e in end_of_life("node:25-alpine", later)] == [("node", "25")]
    assert [(e.product, e.line) for e in end_of_life("clickhouse/clickhouse-server:24.3.15.72-alpine", later)] == [
        ("clickhouse", "24.3")]
    assert end_of_life("clickhouse/clickhouse-server:24.5", later) == []  # a regular release: not in the table


def test_exposure_words():
    assert admin_ui_of("dpage/pgadmin4:8.12") == "pgAdmin" and admin_ui_of("phpmyadmin:5.2") == "phpMyAdmin"
    assert admin_ui_of("ghcr.io/kafbat/kafka-ui:v1.0.0") == "Kafka UI" and admin_ui_of("postgres:16") is None
    assert unauthenticated_ui_of("jaegertracing/all-in-one:1.60") == "Jaeger"
    assert unauthenticated_ui_of("acme/all-in-one:2") is None and unauthenticated_ui_of("axllent/mailpit") == "Mailpit"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0") and not is_loopback(None)
    assert maps_host_gateway(["host.docker.internal=host-gateway"]) and maps_host_gateway({"host.docker.internal": "host-gateway"})
    assert not maps_host_gateway(["db.internal:10.0.0.5"])
    assert names_host_gateway("http://host.docker.internal:11434") and not names_host_gateway("myhost.docker.internal.example")


@pytest.mark.parametrize("script, variables, image, rewrites", [
    ('sed -i -e "s/^\\(SNUBA\\|UPTIME_CHECKER\\)_IMAGE=\\([^:]\\+\\):.\\+$/\\1_IMAGE=\\2:$V/" .env',
     ["UPTIME_CHECKER_IMAGE"], "ghcr.io/acme/uptime-checker:nightly", True),
    ('sed -i "s|acme/api:nightly|acme/api:$VERSION|" docker-compose.prod.yml', [], "ghcr.io/acme/api:nightly", True),
    ('sed -i -e "s/^\\(SNUBA\\|UPTIME_CHECKER\\)_IMAGE=.*/x/" .env', ["CHECKER_IMAGE"], "acme/checker:nightly", False),
    ('grep SNUBA_IMAGE .env', ["SNUBA_IMAGE"], "ghcr.io/acme/snuba:nightly", False),
    ('# sed -i "s/SNUBA_IMAGE=.*/x/" .env', ["SNUBA_IMAGE"], "ghcr.io/acme/snuba:nightly", False),
])
def test_rewrites_tag(script, variables, image, rewrites):
    assert rewrites_tag(script, variables, image) is rewrites


def test_a_major_only_tag_has_ended_only_once_a_newer_major_is_known():
    """`redis:6` ended with its last 6.x line (7 is known); `redis:7` and `golang:1` may pull lines the table does
    not list yet: not ended, and they still float (PRD002)."""
    import datetime

    from tools.facts.lifecycle import end_of_life
    from tools.facts.tags import tag_mutability

    today = datetime.date(2026, 12, 7)
    assert [e.line for e in end_of_life("redis:6-alpine", today)] == ["6.x"]
    assert end_of_life("redis:7-alpine", today) == [] and end_of_life("golang:1", today) == []
    assert tag_mutability("redis:6-alpine") is None
    assert tag_mutability("redis:7-alpine").kind == "floating" and tag_mutability("golang:1").kind == "floating"


def test_a_closed_major_ends_with_its_last_line():
    """Tomcat 8.5 was the last 8.x: `tomcat:8-jdk11` ended with it, though no Tomcat 9 is in the table."""
    import datetime

    from tools.facts.lifecycle import end_of_life

    assert [e.line for e in end_of_life("tomcat:8-jdk11-adoptopenjdk-hotspot", datetime.date(2026, 12, 7))] == ["8.x"]


@pytest.mark.parametrize("image, line", [
    ("traefik:v2.7", "2.7"), ("traefik:v2.11", None), ("traefik:v3.2", None), ("rabbitmq:3.11-management-alpine", "3.11"),
    ("rabbitmq:3.13", None), ("elasticsearch:7.14.2", "7.14"), ("docker.elastic.co/elasticsearch/elasticsearch:7.17.25", None),
    ("node:9.11.2-alpine", "9"), ("traefik:2", None)])
def test_end_of_life_of_proxies_brokers_and_search_engines(image, line):
    """The TLS proxy, the broker and the search engine a stack runs age as its databases do (traefik:v2.7 ended with
    2.10's release; a major-only tag whose newest line is not in the table has not ended)."""
    import datetime

    from tools.facts.lifecycle import end_of_life

    found = end_of_life(image, datetime.date(2026, 12, 7))
    assert [e.line for e in found] == ([line] if line else [])


def test_a_major_whose_successor_shipped_follows_its_last_line():
    import datetime as dt

    from tools.facts.lifecycle import major_closed

    assert tag_mutability("redis:7-alpine").basis == "closed-major" and tag_mutability("mariadb:10").basis == "closed-major"
    assert tag_mutability("python:3-slim").basis == "partial" and tag_mutability("mongo:8").basis == "partial"
    assert major_closed("redis", "7", dt.date(2025, 6, 1)) and not major_closed("redis", "7", dt.date(2025, 1, 1))
    assert tag_mutability("redis:4").basis == "closed-major" and tag_mutability("redis:3-alpine").basis == "closed-major"


@pytest.mark.parametrize("image, line", [
    ("alpine:3.11", "3.11"), ("alpine:3.5", "3.5"), ("golang:1.14.15-alpine", "1.14"), ("golang:1.16", "1.16"),
    ("nginx:1.17-alpine", "1.17"), ("php:7.1-fpm", "7.1"), ("python:3.4", "3.4"), ("debian:7", "7"),
    ("mhart/alpine-node:14", "14"), ("mcr.microsoft.com/oss/bitnami/redis:6.0.8", "6.0"),
    ("bitnami/postgresql:16.2.0-debian-12-r5", None), ("golang:1.24", None)])
def test_end_of_life_of_older_lines_and_repackaged_images(image, line):
    """Lines that ended before the table's first rows (Alpine 3.11, Go 1.14, nginx 1.17, PHP 7.1) and images that
    repackage a product under its version (Bitnami's, mhart/alpine-node) age as the official ones do."""
    import datetime

    from tools.facts.lifecycle import end_of_life

    assert [e.line for e in end_of_life(image, datetime.date(2026, 12, 7))] == ([line] if line else [])
