"""Dockerfile, CI and charter-policy checks: the example's answer key, the real platform, one fixture per check."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.example import init_example
from agent.session import open_session
from tools.checks import CHECKS, CheckContext
from tools.checks.charter_checks import allowing_intentions, is_staging

PLATFORM = Path(__file__).resolve().parent.parent / "fixtures" / "checks" / "dkf-ci-platform"
MINE = re.compile(r"^(DKF|CI|CHR)\d+$")
PROXY_CI = "anime-saas-reverseproxy/.github/workflows/ci.yml"
ABOVE_INFO = ("blocker", "high", "medium", "low")


def mine(session) -> list:
    return [f for f in session.findings if MINE.match(f.id)]


def found(session, check_id: str, severity: str | None = None) -> set[tuple[str, int | None]]:
    return {(loc.path, loc.line) for f in mine(session) if f.id == check_id and (severity is None or f.severity == severity)
            for loc in f.locations}


def of(session, check_id: str) -> list:
    return [f for f in mine(session) if f.id == check_id]


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# -- the example platform: its answer key --------------------------------------------------------

@pytest.fixture(scope="module")
def example_session(tmp_path_factory):
    return open_session(init_example(tmp_path_factory.mktemp("ex") / "animesphere"))


@pytest.fixture
def example(tmp_path) -> Path:
    return init_example(tmp_path / "animesphere")


EXPECTED_ON_EXAMPLE = [
    # DEFECTS.md entries of these kinds, at their path:line
    ("CI003", "high", PROXY_CI, 58),  # ci-staging-job (a charter rule: high, not a blocker)
    ("CI004", "medium", PROXY_CI, 5),  # ci-non-main-branch (trigger)
    ("CI004", "medium", PROXY_CI, 62),  # the deploy job's `if:` on refs/heads/develop
    ("DKF002", "medium", "anime-saas-agent/Dockerfile.status-scheduler", 1),  # base-image-latest
    ("DKF003", "medium", "anime-saas-mlservice/Dockerfile.scheduler", 1),  # runs-as-root
    ("DKF006", "low", "anime-saas-reverseproxy/Dockerfile", 1),  # no-dockerignore
    ("CI006", "high", PROXY_CI, 77),  # the staging job runs compose up from CI
    ("CI007", "medium", PROXY_CI, 46),  # the proxy image is pushed on develop
]


@pytest.mark.parametrize("check_id, severity, path, line", EXPECTED_ON_EXAMPLE,
                         ids=[f"{e[0]}-{e[2].rsplit('/', 1)[-1]}-{e[3]}" for e in EXPECTED_ON_EXAMPLE])
def test_example_defects_are_found_at_their_line(example_session, check_id, severity, path, line):
    assert (path, line) in found(example_session, check_id, severity), \
        [(f.id, f.severity, f.title, f.locations) for f in mine(example_session)]


def test_example_deliberate_traps_are_not_reported_above_info(example_session):
    loud = [f for f in mine(example_session) if f.severity in ABOVE_INFO]
    paths = {(f.id, loc.path) for f in loud for loc in f.locations}
    # heredoc: BuildKit parses it, hadolint's limit is only info
    assert not any(p == "anime-saas-agent/Dockerfile" and i in ("DKF001", "DKF007") for i, p in paths), paths
    # nginx's master needs root; the test image is never deployed; $APP_UID is set by the base image
    for path in ("anime-saas-reverseproxy/Dockerfile", "anime-saas-api/Dockerfile.test", "anime-saas-api/Dockerfile"):
        assert ("DKF003", path) not in paths
    assert found(example_session, "DKF003", "info") == {("anime-saas-api/Dockerfile.test", 1)}
    assert ("anime-saas-agent/Dockerfile", 14) in found(example_session, "DKF007", "info")  # says hadolint's limit
    # no new tool, no staging file, no strategy change; INT-15 (Prometheus/Grafana) is only proposed
    assert not [f for f in mine(example_session) if f.id.startswith("CHR")]
    assert not [f for f in mine(example_session) if f.id in ("DKF001", "DKF004", "DKF005", "CI001", "CI002", "CI008")]
    assert example_session.notes == []


def test_every_finding_cites_its_charter_clause(example_session):
    for f in mine(example_session):
        assert f.clause and f.remediation and f.locations is not None
    assert "staging" in next(f for f in mine(example_session) if f.id == "CI003").clause.lower()
    assert "main" in next(f for f in mine(example_session) if f.id == "CI004").clause


def test_example_validated_staging_intention_turns_ci003_into_info(example):
    edit(example, "notion-export/Intention 8b7d4e20.csv", "à leur liste en J+1.,",
         "à leur liste en J+1.,Un environnement de staging pour tester l'onboarding.")
    s = open_session(example)
    assert found(s, "CI003", "info") == {(PROXY_CI, 58)}
    assert not found(s, "CI003", "high")


def test_example_observability_needs_a_validated_intention(example):
    edit(example, "docker-compose.prod.yml", "services:\n", "services:\n  grafana:\n    image: grafana/grafana:11.1.0\n")
    lines = (example / "docker-compose.prod.yml").read_text(encoding="utf-8").splitlines()
    image_line = next(n for n, text in enumerate(lines, 1) if "grafana/grafana" in text)
    s = open_session(example)
    assert ("docker-compose.prod.yml", image_line) in found(s, "CHR001", "high")  # INT-15 is only 'Proposée'
    edit(example, "notion-export/Intention 8b7d4e20.csv", "Proposée,Je ne sais pas si", "Validée,Je ne sais pas si")
    s = open_session(example)
    assert ("docker-compose.prod.yml", image_line) in found(s, "CHR001", "info")
    assert not found(s, "CHR001", "high")


# -- the real platform -----------------------------------------------------------------------

def test_real_platform_staging_job_and_develop_branch(real_platform_repo):
    s = open_session(real_platform_repo)
    assert (PROXY_CI, 60) in found(s, "CI003", "high")  # deploy-staging:
    ci004 = {(f.locations[0].line, f.title) for f in of(s, "CI004")}
    assert any(line == 5 and "develop" in title for line, title in ci004), ci004
    assert any(line == 64 and "branch dev" in title for line, title in ci004), ci004  # refs/heads/dev
    assert (PROXY_CI, 105) in found(s, "CI006")  # docker-compose up -d in CI
    assert "pull_request" in of(s, "CI016")[0].title  # push: true on pull_request (general practice)
    assert "a push to develop" in of(s, "CI007")[0].title  # a branch other than main (the charter's own rule)


# -- a small platform, one mutation per check ------------------------------------------------------

@pytest.fixture
def platform(tmp_path) -> Path:
    dst = tmp_path / "platform"
    shutil.copytree(PLATFORM, dst)
    return dst


def test_fixture_platform_is_clean(platform):
    s = open_session(platform)
    assert [(f.id, f.title) for f in mine(s) if f.severity != "info"] == []
    assert [(f.id, f.locations) for f in mine(s)] == [("DKF003", of(s, "DKF003")[0].locations)]  # the test image
    assert s.notes == []


def test_dkf001_parse_error_with_line(platform):
    edit(platform, "app/Dockerfile", "WORKDIR /app\n", "WORKDIR /app\nFROBNICATE now\n")
    s = open_session(platform)
    assert found(s, "DKF001", "high") == {("app/Dockerfile", 6)}


def test_dkf002_latest_untagged_invalid(platform):
    edit(platform, "app/Dockerfile", "FROM python:3.11-slim", "FROM python:latest")
    edit(platform, "proxy/Dockerfile", "FROM nginx:1.27-alpine", "FROM nginx")
    edit(platform, "app/Dockerfile.test", "FROM python:3.11-slim", "FROM Python:3.11")
    s = open_session(platform)
    assert found(s, "DKF002", "medium") == {("app/Dockerfile", 1), ("proxy/Dockerfile", 1)}
    assert found(s, "DKF002", "high") == {("app/Dockerfile.test", 1)}
    assert not of(s, "DKF001")  # the invalid reference is reported once, by DKF002


def test_dkf003_root_final_stage(platform):
    edit(platform, "app/Dockerfile", "USER 10001\n", "")
    s = open_session(platform)
    assert found(s, "DKF003", "medium") == {("app/Dockerfile", 1)}
    edit(platform, "app/Dockerfile", "WORKDIR /app\n", "WORKDIR /app\nUSER root:root\n")
    assert found(open_session(platform), "DKF003", "medium") == {("app/Dockerfile", 6)}


def test_dkf003_user_from_base_image_variable_or_stage_is_not_root(platform):
    edit(platform, "app/Dockerfile", "USER 10001", "USER $APP_UID")
    assert not found(open_session(platform), "DKF003", "medium")
    edit(platform, "app/Dockerfile", "USER $APP_UID", "ARG RUN_AS=root\nUSER ${RUN_AS}")
    assert found(open_session(platform), "DKF003", "medium") == {("app/Dockerfile", 9)}


def test_dkf003_deployed_test_named_image_is_not_excused(platform):
    edit(platform, "app/.github/workflows/ci.yml", "          context: .\n", "          context: .\n          file: ./Dockerfile.test\n")
    s = open_session(platform)
    assert found(s, "DKF003", "medium") == {("app/Dockerfile.test", 1)}


def test_dkf004_secret_in_env_or_arg(platform):
    edit(platform, "app/Dockerfile", "    APP_HOME=/app", "    APP_HOME=/app \\\n    API_TOKEN=s3cr3t-value")
    edit(platform, "app/Dockerfile", "ARG APP_VERSION=1.0.0", "ARG APP_VERSION=1.0.0\nARG DB_PASSWORD\nARG GPG_KEY=ABCDEF")
    s = open_session(platform)
    assert found(s, "DKF004", "high") == {("app/Dockerfile", 7)}  # the continuation line of the key
    assert "s3cr3t-value" not in repr([f.to_dict() for f in s.findings])
    edit(platform, "app/Dockerfile", "ARG DB_PASSWORD", "ARG DB_PASSWORD=hunter2")
    assert ("app/Dockerfile", 3) in found(open_session(platform), "DKF004")


def test_dkf004_variable_values_are_not_secrets(platform):
    edit(platform, "app/Dockerfile", "    APP_HOME=/app", "    APP_HOME=/app \\\n    API_TOKEN=${API_TOKEN}")
    assert not of(open_session(platform), "DKF004")


def test_dkf005_copy_source_missing(platform):
    edit(platform, "app/Dockerfile", "COPY src/ /app/src/", "COPY source/ /app/src/")
    edit(platform, "app/Dockerfile", "COPY requirements.txt ./", "COPY ../secrets.txt ./")
    s = open_session(platform)
    assert found(s, "DKF005", "high") == {("app/Dockerfile", 6), ("app/Dockerfile", 7)}
    # `../secrets.txt` is read inside the context (app/), where no secrets.txt is: BuildKit never leaves it
    assert any("COPY ../secrets.txt (read as secrets.txt: a build never leaves its context) does not exist" in f.title
               for f in of(s, "DKF005"))
    (platform / "app/secrets.txt").write_text("x\n")
    assert found(open_session(platform), "DKF005", "high") == {("app/Dockerfile", 7)}  # only source/ is left


def test_dkf005_skips_globs_stages_urls_and_heredocs(platform):
    edit(platform, "app/Dockerfile", "COPY requirements.txt ./",
         "COPY *.txt ./\nCOPY --from=python:3.11-slim /usr/bin/env /tmp/env\n"
         "ADD https://example.com/x.tar.gz /tmp/\nCOPY <<EOF /app/hello.txt\nhello\nEOF")
    edit(platform, "app/Dockerfile", "FROM python:3.11-slim", "# syntax=docker/dockerfile:1.7\nFROM python:3.11-slim")
    s = open_session(platform)
    assert not of(s, "DKF005") and not of(s, "DKF001")


def test_dkf006_missing_dockerignore(platform):
    (platform / "proxy/.dockerignore").unlink()
    s = open_session(platform)
    assert found(s, "DKF006", "low") == {("proxy/Dockerfile", 1)}
    (platform / "proxy/Dockerfile.dockerignore").write_text(".git\n")
    assert not of(open_session(platform), "DKF006")


def test_dkf007_hadolint_rule_in_title_and_severity(platform):
    edit(platform, "app/Dockerfile", "USER 10001", "RUN apt-get update && apt-get install -y curl\nUSER 10001")
    s = open_session(platform)
    dl3008 = [f for f in of(s, "DKF007") if "DL3008" in f.title]
    assert dl3008 and dl3008[0].severity == "low" and dl3008[0].locations[0].line == 8


def test_dkf007_says_when_hadolint_could_not_run(platform, monkeypatch):
    monkeypatch.setattr("tools.dockerfile.hadolint.hadolint_binary", lambda: None)
    s = open_session(platform)
    notes = of(s, "DKF007")
    assert {f.severity for f in notes} == {"info"} and len(notes) == 3
    assert all("could not lint" in f.title for f in notes)


def test_ci001_yaml_error_with_line(platform):
    edit(platform, "app/.github/workflows/ci.yml", "    branches: [main]\n  pull_request", "    branches: [main\n  pull_request")
    s = open_session(platform)
    f = of(s, "CI001")
    assert f and f[0].severity == "high" and f[0].locations[0].path == "app/.github/workflows/ci.yml"
    assert f[0].locations[0].line and "line" in f[0].title


def test_ci002_schema_violation(platform):
    edit(platform, "app/.github/workflows/ci.yml", "    runs-on: ubuntu-latest", "    runs_on: ubuntu-latest")
    s = open_session(platform)
    assert {loc.path for f in of(s, "CI002") for loc in f.locations} == {"app/.github/workflows/ci.yml"}
    assert all(f.severity == "high" for f in of(s, "CI002"))


STAGING_JOB = """
  deploy-staging:
    needs: build
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - run: echo deploying
"""


def test_ci003_staging_job_is_high(platform):
    write(platform, "app/.github/workflows/ci.yml", (platform / "app/.github/workflows/ci.yml").read_text() + STAGING_JOB)
    s = open_session(platform)
    assert found(s, "CI003", "high") == {("app/.github/workflows/ci.yml", 36)}
    assert s.verdict == "NO-GO"


def test_ci004_other_branches(platform):
    edit(platform, "app/.github/workflows/ci.yml", "    branches: [main]\n  pull_request", "    branches: [main, 'release/**']\n  pull_request")
    edit(platform, "app/.github/workflows/ci.yml", "    runs-on: ubuntu-latest",
         "    if: github.ref != 'refs/heads/experiment'\n    runs-on: ubuntu-latest")
    s = open_session(platform)
    assert found(s, "CI004", "medium") == {("app/.github/workflows/ci.yml", 4)}  # the negated `if:` is fine
    edit(platform, "app/.github/workflows/ci.yml", "  push:\n    branches: [main, 'release/**']\n", "  push:\n")
    assert found(open_session(platform), "CI004", "low") == {("app/.github/workflows/ci.yml", 3)}


def test_ci005_unpinned_actions_one_finding_per_workflow(platform):
    edit(platform, "app/.github/workflows/ci.yml", "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683", "actions/checkout@v4")
    edit(platform, "app/.github/workflows/ci.yml", "docker/metadata-action@902fa8ec7d6ecbf8d84d538b9b233a880e428804",
         "docker/metadata-action@v5")
    s = open_session(platform)
    f = of(s, "CI005")
    assert len(f) == 1 and f[0].severity == "low"
    assert "actions/checkout@v4" in f[0].title and "docker/metadata-action@v5" in f[0].title


def test_ci006_deploy_from_ci(platform):
    edit(platform, "app/.github/workflows/ci.yml", "      - id: meta",
         "      - name: Ship\n        run: ssh deploy@prod-1 'cd /srv && docker compose up -d'\n      - id: meta")
    s = open_session(platform)
    assert found(s, "CI006", "high") == {("app/.github/workflows/ci.yml", 24)}
    assert len(of(s, "CI006")) == 1


def test_ci006_compose_up_for_tests_on_the_runner_is_not_a_deploy(platform):
    edit(platform, "app/.github/workflows/ci.yml", "      - id: meta",
         "      - name: Integration tests\n        run: docker compose up -d && docker compose down\n      - id: meta")
    assert not of(open_session(platform), "CI006")


def test_ci016_push_on_pull_request(platform):
    edit(platform, "app/.github/workflows/ci.yml", "push: ${{ github.event_name == 'push' }}", "push: true")
    s = open_session(platform)
    f = of(s, "CI016")
    assert len(f) == 1 and f[0].severity == "medium" and "pull_request" in f[0].title
    assert not of(s, "CI007")  # one fact, one check


def test_ci008_secret_echoed(platform):
    edit(platform, "app/.github/workflows/ci.yml", '          echo "logging in to $REGISTRY"\n',
         '          echo "logging in to $REGISTRY with $API_TOKEN"\n          echo ${{ secrets.NPM_TOKEN }}\n')
    s = open_session(platform)
    # printed as is, GitHub masks them: a habit to fix, not a leak
    assert found(s, "CI008", "medium") == {("app/.github/workflows/ci.yml", 21), ("app/.github/workflows/ci.yml", 22)}
    titles = " ".join(f.title for f in of(s, "CI008"))
    assert "API_TOKEN" in titles and "NPM_TOKEN" in titles


def _fake_actionlint(tmp_path, monkeypatch, body: str) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "actionlint"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")


def test_ci009_actionlint_issues(platform, tmp_path, monkeypatch):
    wf = platform / "app/.github/workflows/ci.yml"
    issue = [{"filepath": str(wf), "line": 12, "column": 5, "kind": "expression", "message": "undefined property"}]
    _fake_actionlint(tmp_path, monkeypatch, f"cat <<'EOF'\n{json.dumps(issue)}\nEOF\n")
    s = open_session(platform)
    assert found(s, "CI009", "medium") == {("app/.github/workflows/ci.yml", 12)}


def test_ci009_actionlint_failure_is_an_info_note(platform, tmp_path, monkeypatch):
    _fake_actionlint(tmp_path, monkeypatch, "echo 'boom: cannot start' >&2\nexit 3\n")
    s = open_session(platform)
    f = of(s, "CI009")
    assert len(f) == 1 and f[0].severity == "info" and "could not run" in f[0].title


def test_ci009_absent_actionlint_says_nothing(platform, monkeypatch):
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "actionlint" else real(name, *a, **k))
    assert not of(open_session(platform), "CI009")


K8S = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
"""


@pytest.mark.parametrize("rel, text, line", [
    ("deploy/k8s/app.yaml", K8S, 2),
    ("infra/main.tf", 'provider "aws" {}\n', None),
    ("ops/vault.hcl", 'storage "file" {}\n', None),
    ("monitoring/prometheus.yml", "scrape_configs: []\n", None),
    ("helm/app/Chart.yaml", "apiVersion: v2\nname: app\n", None),
])
def test_chr001_new_tool_files(platform, rel, text, line):
    write(platform, rel, text)
    s = open_session(platform)
    assert found(s, "CHR001", "high") == {(rel, line)}


def test_chr001_observability_image_in_compose(platform):
    edit(platform, "docker-compose.prod.yml", "services:\n", "services:\n  logs:\n    image: grafana/loki:3.0.0\n")
    s = open_session(platform)
    assert found(s, "CHR001", "high") == {("docker-compose.prod.yml", 3)}


def test_chr001_plain_yaml_is_not_kubernetes(platform):
    write(platform, "config/app.yaml", "kind: Deployment\nname: not-k8s\n")
    assert not of(open_session(platform), "CHR001")


def test_chr001_is_fast(platform):
    s = open_session(platform, run_checks=False)
    ctx = CheckContext(root=s.root, charter=s.charter, sources=s.sources, models={"platform": s.platform()})
    started = time.perf_counter()
    list(CHECKS["CHR001"].func(ctx, CHECKS["CHR001"]))
    assert time.perf_counter() - started < 0.2


@pytest.mark.parametrize("rel", ["docker-compose.staging.yml", ".env.staging", "config/preprod.env"])
def test_chr002_staging_files_are_high(platform, rel):
    write(platform, rel, "services: {}\n" if rel.endswith(".yml") else "A=1\n")
    s = open_session(platform)
    assert found(s, "CHR002", "high") == {(rel, None)}


def test_chr002_example_files_and_other_envs_pass(platform):
    write(platform, ".env.staging.example", "A=1\n")
    write(platform, "docker-compose.override.yml", "services: {}\n")
    assert not of(open_session(platform), "CHR002")


SWARM = "    deploy:\n      replicas: 2\n      update_config:\n        order: start-first\n"


def test_chr003_strategy_change_against_the_notes(platform):
    edit(platform, "docker-compose.prod.yml", "    restart: unless-stopped\n    expose", "    restart: unless-stopped\n" + SWARM + "    expose")
    s = open_session(platform)
    assert found(s, "CHR003", "medium") == {("docker-compose.prod.yml", 5)}  # a rollback, not for this strategy
    (platform / "docs/deploy.md").unlink()
    assert found(open_session(platform), "CHR003", "high") == {("docker-compose.prod.yml", 5)}
    write(platform, "docs/deploy.md", "## Rollback\nA rolling update (update_config) is undone with `docker service rollback app`.\n")
    assert not of(open_session(platform), "CHR003")


def test_chr003_blue_green_script(platform):
    write(platform, "scripts/deploy.sh", "#!/bin/sh\n# switch traffic\necho blue-green switch\n")
    s = open_session(platform)
    assert found(s, "CHR003", "medium") == {("scripts/deploy.sh", 3)}


# -- the release helpers ---------------------------------------------------------------------

def _ctx(*intentions):
    return SimpleNamespace(release=SimpleNamespace(intentions=list(intentions)))


def _intention(text: str, validated: bool = True):
    return SimpleNamespace(id="INT-1", name="x", validated=validated, fields={"Contraintes infra": text})


def test_allowing_intentions_ignores_negations_and_unvalidated():
    assert allowing_intentions(_ctx(_intention("Un environnement de staging est requis")), ("staging",))
    assert not allowing_intentions(_ctx(_intention("pas de staging")), ("staging",))
    assert not allowing_intentions(_ctx(_intention("sans staging ni preprod")), ("staging", "preprod"))
    assert not allowing_intentions(_ctx(_intention("staging requis", validated=False)), ("staging",))
    assert not allowing_intentions(SimpleNamespace(release=None), ("staging",))


def test_is_staging_words():
    assert is_staging("deploy-staging") and is_staging("Deploy to Staging") and is_staging("stage")
    assert is_staging("docker compose --env-file .env.preprod up")
    assert not is_staging("build-stages") and not is_staging("production") and not is_staging("backstage")


def test_dkf007_does_not_repeat_our_own_checks(example_session):
    # hadolint's DL3007 (latest) says what DKF002 says at the same line: one finding, not two.
    at_line = [f for f in example_session.findings
               if any(l.path == "anime-saas-agent/Dockerfile.status-scheduler" and l.line == 1 for l in f.locations)]
    assert [f.id for f in at_line if f.id in ("DKF002", "DKF007")] == ["DKF002"]
