"""Issue 8, precise checks: each false positive gone on a file written the way real projects write it, and the
real mistake next to it still found. Each case is a small edit of the clean platform (tests/fixtures/checks)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agent.session import open_session
from tools import ci as ci_tool
from tools import dockerfile as df
from tools.checks.registry import CHECKS, CheckContext
from tools.facts import command_line_secret, is_secret_reference
from tools.platform import Platform

CLEAN = Path(__file__).resolve().parent.parent / "fixtures" / "checks" / "clean-platform"


@pytest.fixture
def clean(tmp_path) -> Path:
    dst = tmp_path / "platform"
    shutil.copytree(CLEAN, dst)
    return dst


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


def findings(root: Path, check_id: str) -> list:
    return [f for f in open_session(root).findings if f.id == check_id]


def loud(root: Path, check_id: str) -> list:
    return [f for f in findings(root, check_id) if f.severity != "info"]


# -- `*_FILE` variables naming a Docker secret (CMP008) -----------------------------------------

SECRET_FILE = ("    environment:\n      MYSQL_PASSWORD: ${DB_PASSWORD}\n    healthcheck:",
               "    environment:\n      MYSQL_PASSWORD_FILE: /run/secrets/db_password\n    healthcheck:")


def test_secret_file_variable_is_not_a_literal_secret(clean):
    edit(clean, "docker-compose.yml", *SECRET_FILE)
    assert findings(clean, "CMP008") == []


def test_literal_secret_is_still_found(clean):
    edit(clean, "docker-compose.yml", SECRET_FILE[0], SECRET_FILE[0].replace("${DB_PASSWORD}", "example_123"))
    assert [f.title for f in findings(clean, "CMP008")] == ["db: MYSQL_PASSWORD is a literal in docker-compose.yml"]


def test_secret_reference_vocabulary():
    assert is_secret_reference("POSTGRES_PASSWORD_FILE", "/run/secrets/pg")
    assert is_secret_reference("DB_PASSWORD", "/run/secrets/db_password")
    assert not is_secret_reference("DB_PASSWORD", "hunter2")
    assert not is_secret_reference("API_TOKEN_FILE", "s3cr3t")


# -- passwords on a command line, read per client (CMP009) --------------------------------------

def test_shell_default_is_not_a_password_flag(clean):
    edit(clean, "docker-compose.prod.yml", '["CMD", "mysqladmin", "ping", "-h", "localhost"]',
         '["CMD-SHELL", "pg_isready -U ${DB_USERNAME:-postgres} -d app -h localhost -p 5432"]')
    assert findings(clean, "CMP009") == []


def test_sqlcmd_password_written_as_capital_p_is_found(clean):
    edit(clean, "docker-compose.prod.yml", '["CMD", "mysqladmin", "ping", "-h", "localhost"]',
         '["CMD-SHELL", "/opt/mssql-tools18/bin/sqlcmd -S localhost -U sa -P example_123 -C -Q \\"SELECT 1\\""]')
    assert [f.title for f in findings(clean, "CMP009")] == ["prod: db healthcheck carries a password: -P example_123"]


@pytest.mark.parametrize("text, shown", [
    ("pg_isready -U ${DB_USERNAME:-postgres}", None),
    ("psql -h db -p 5432 -U app", None),  # psql's -p is the port
    ("mysql -h db -P 3306 -u app", None),  # mysql's -P is the port
    ("mysqladmin ping -h localhost -proot", "-proot"),
    ("mysqladmin ping -p${DB_PASSWORD}", "-p${DB_PASSWORD}"),
    ("sqlcmd -S localhost -U sa -P example_123", "-P example_123"),
    ("redis-cli -a s3cret ping", "-a s3cret"),
    ("PGPASSWORD=s3cret psql -h db", "PGPASSWORD=s3cret"),
])
def test_command_line_secret_reads_each_clients_flags(text, shown):
    assert command_line_secret(text) == shown


# -- a healthcheck tool the Dockerfile installs (XF008) -----------------------------------------

CURL_CHECK = ('["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen(\'http://localhost:8000/health\')"]',
              '["CMD", "curl", "-fsS", "http://localhost:8000/health"]')


def test_healthcheck_tool_installed_by_apt_get_is_not_missing(clean):
    edit(clean, "docker-compose.prod.yml", *CURL_CHECK)
    edit(clean, "web/Dockerfile", "RUN useradd", "RUN apt-get update \\\n    && apt-get install -y --no-install-recommends curl \\\n"
                                               "    && rm -rf /var/lib/apt/lists/*\nRUN useradd")
    assert findings(clean, "XF008") == []


def test_healthcheck_tool_the_slim_image_lacks_is_found(clean):
    edit(clean, "docker-compose.prod.yml", *CURL_CHECK)
    assert [f.title for f in findings(clean, "XF008")] == [
        "prod: web healthcheck runs curl, which python:3.11-slim does not ship"]


@pytest.mark.parametrize("run, binary", [
    ("apk add --no-cache curl", "curl"), ("apt-get install -y wget", "wget"), ("pip install --no-cache-dir httpie", "http"),
    ("python -m pip install httpie==3.2.2", "http"),
])
def test_packages_installed_feed_the_stage(run, binary):
    info = df.parse_dockerfile_text(f"FROM alpine:3.20 AS base\nRUN {run}\nFROM base\nUSER nobody\n")
    assert info.final_stage.installs(binary)
    assert not df.parse_dockerfile_text("FROM alpine:3.20\nRUN pip install -r requirements.txt\n").final_stage.installs(binary)


# -- ports: ENV/ARG values, FLASK_RUN_PORT, the base image's own port ---------------------------

def test_expose_of_a_variable_with_an_arg_default_is_read(clean):
    edit(clean, "web/Dockerfile", "EXPOSE 8000", "ARG PORT=8000\nENV PORT=$PORT\nEXPOSE $PORT")
    assert findings(clean, "DKF001") == []
    assert findings(clean, "XF004") == []


def test_expose_of_a_global_arg_the_stage_cannot_see_is_still_an_error():
    # A name declared nowhere expands to nothing and the build goes on (corpus: otel-demo's EXPOSE ${AD_PORT});
    # a global ARG repeated in no stage is the author's value lost without a word.
    assert not df.parse_dockerfile_text("FROM python:3.11-slim\nEXPOSE $PORT\n").errors
    info = df.parse_dockerfile_text("ARG PORT=8000\nFROM python:3.11-slim\nEXPOSE $PORT\n")
    assert [e.message.split(":")[0] for e in info.errors] == ["EXPOSE $PORT"]


FLASK = ('CMD ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "8000"]',
         'ENV FLASK_RUN_HOST=0.0.0.0 FLASK_RUN_PORT=8000\nCMD ["flask", "run"]')


def _flask(clean: Path, port: str) -> None:
    edit(clean, "web/Dockerfile", FLASK[0], FLASK[1].replace("8000", port))
    for rel in ("docker-compose.yml", "docker-compose.prod.yml"):
        edit(clean, rel, "    command: uvicorn main:app --host 0.0.0.0 --port 8000\n", "")


def test_flask_run_port_is_the_listening_port(clean):
    _flask(clean, "8000")
    assert findings(clean, "XF004") == [] and findings(clean, "XF005") == []


def test_flask_run_port_that_differs_from_expose_is_found(clean):
    _flask(clean, "5000")
    assert findings(clean, "XF004") and findings(clean, "XF005")


@pytest.mark.parametrize("tag, port", [("8.0", 8080), ("8.0-alpine", 8080), ("9.0", 8080), ("7.0", 80), ("6.0", 80)])
def test_dotnet_base_image_port_by_version(tag, port):
    info = df.parse_dockerfile_text(f"FROM mcr.microsoft.com/dotnet/aspnet:{tag}\nENTRYPOINT [\"dotnet\", \"Api.dll\"]\n")
    assert df.stage_listen(info.final_stage, info).port == port


def test_dotnet_urls_set_in_the_dockerfile_win_over_the_image():
    info = df.parse_dockerfile_text("FROM mcr.microsoft.com/dotnet/aspnet:8.0\nENV ASPNETCORE_URLS=http://+:5000\n"
                                    "ENTRYPOINT [\"dotnet\", \"Api.dll\"]\n")
    assert df.stage_listen(info.final_stage, info).port == 5000


def test_port_flag_from_a_run_time_variable_is_not_guessed():
    assert df.listen_from_command("uvicorn main:app --port $PORT") is None
    assert df.listen_from_command("uvicorn main:app --port $PORT", {"PORT": "9000"}).port == 9000


# -- USER on the stage compose builds (DKF003) --------------------------------------------------

STAGES = ('FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nRUN useradd --uid 10001 app\nUSER app\n',
          'FROM python:3.11-slim AS app\nWORKDIR /app\nCOPY . .\nRUN useradd --uid 10001 app\nUSER app\n')
DEBUG_STAGE = '\nFROM app AS debug\nUSER root\nRUN pip install debugpy\n'


def _targets(clean: Path, target: str) -> None:
    edit(clean, "web/Dockerfile", *STAGES)
    (clean / "web/Dockerfile").write_text((clean / "web/Dockerfile").read_text() + DEBUG_STAGE)
    edit(clean, "docker-compose.yml", "    build: ./web\n", f"    build:\n      context: ./web\n      target: {target}\n")
    edit(clean, "web/.github/workflows/ci.yml", "          context: .\n", f"          context: .\n          target: {target}\n")


def test_root_in_a_stage_no_build_targets_is_not_reported(clean):
    _targets(clean, "app")
    assert findings(clean, "DKF003") == []


def test_root_in_the_targeted_stage_is_found(clean):
    _targets(clean, "debug")
    assert [f.title for f in findings(clean, "DKF003")] == ["web/Dockerfile: final stage runs as root (USER root)"]


# -- a job that only pushes images is not a staging deploy (CI003) ------------------------------

def _staging_job(clean: Path, steps: str) -> None:
    wf = clean / "web/.github/workflows/ci.yml"
    wf.write_text(wf.read_text() + "  build-staging:\n    runs-on: ubuntu-latest\n    steps:\n" + steps)


def test_job_that_only_pushes_a_staging_tag_is_not_a_deploy(clean):
    _staging_job(clean, "      - uses: actions/checkout@v4\n      - uses: docker/build-push-action@v5\n        with:\n"
                        "          context: .\n          push: true\n          tags: ghcr.io/acme/web:staging\n")
    assert [f.severity for f in findings(clean, "CI003")] == ["info"]


def test_job_that_deploys_to_staging_is_still_reported_at_the_checks_severity(clean):
    _staging_job(clean, "      - run: ssh deploy@staging.acme.dev 'docker compose -f docker-compose.staging.yml up -d'\n")
    assert [f.severity for f in findings(clean, "CI003")] == [CHECKS["CI003"].severity] == ["high"]


# -- a job condition no trigger can satisfy (CI010, a miss) -------------------------------------

def _deploy_on(clean: Path, branch: str) -> None:
    edit(clean, "web/.github/workflows/ci.yml", "    branches: [main]", "    branches: [main, develop]")
    wf = clean / "web/.github/workflows/ci.yml"
    wf.write_text(wf.read_text() + f"  publish-develop:\n    runs-on: ubuntu-latest\n    if: github.ref == 'refs/heads/{branch}'\n"
                                   "    steps:\n      - run: echo ok\n")


def test_job_condition_on_a_triggered_branch_is_quiet(clean):
    _deploy_on(clean, "develop")
    assert findings(clean, "CI010") == []


def test_job_condition_on_a_branch_no_trigger_runs_is_found(clean):
    _deploy_on(clean, "dev")
    [f] = findings(clean, "CI010")
    assert "job publish-develop can never run" in f.title and "names dev" in f.title
    assert f.locations[0].line == 26  # the `if:` line


def test_unknown_events_keep_a_condition_possible(tmp_path):
    path = tmp_path / "wf.yml"
    path.write_text("on:\n  workflow_dispatch:\njobs:\n  d:\n    runs-on: ubuntu-latest\n"
                    "    if: github.ref == 'refs/heads/dev'\n    steps:\n      - run: echo\n")
    wf = ci_tool.load_workflow(path, "wf.yml")
    assert ci_tool.never_runs(wf, wf.jobs["d"]) is None


# -- gitignored env files are deploy-time files (CMP015) ----------------------------------------

def _env_file(clean: Path, ignored: bool) -> None:
    edit(clean, "docker-compose.yml", '    expose: ["8000"]\n', '    expose: ["8000"]\n    env_file: ./web/.env\n')
    if ignored:
        (clean / ".gitignore").write_text(".env\n")
    subprocess.run(["git", "init", "-q", str(clean)], check=True)


def test_gitignored_env_file_is_info(clean):
    _env_file(clean, ignored=True)
    assert [(f.severity, "git ignores it" in f.title) for f in findings(clean, "CMP015")] == [("info", True)]


def test_env_file_missing_and_not_ignored_is_still_medium(clean):
    _env_file(clean, ignored=False)
    assert [f.severity for f in findings(clean, "CMP015")] == ["medium"]


# -- a Dockerfile whose context is an uninitialised submodule: cannot tell (DKF005) -------------

class _Project:
    def __init__(self, model: dict):
        self.model = model


def _platform_with_context(root: Path, initialised: bool) -> Platform:
    from tools.platform import Environment

    (root / "docker").mkdir()
    (root / "docker/api.Dockerfile").write_text("FROM python:3.12-slim\nCOPY requirements.txt .\nUSER nobody\n")
    (root / "api").mkdir()
    if initialised:
        (root / "api/main.py").write_text("")
    env = Environment("dev", ["docker-compose.yml"], _Project({"services": {"api": {"build": {
        "context": str(root / "api"), "dockerfile": str(root / "docker/api.Dockerfile")}}}}))
    info = df.parse_dockerfile_text((root / "docker/api.Dockerfile").read_text(), "docker/api.Dockerfile")
    return Platform(root, {"dev": env}, {"docker/api.Dockerfile": info}, {}, [], {}, submodules={"api": None})


def _run(check_id: str, platform: Platform) -> list:
    ctx = CheckContext(root=platform.root, charter=None, sources=[], models={"platform": platform})
    return list(CHECKS[check_id].func(ctx, CHECKS[check_id]))


def test_copy_from_an_uninitialised_submodule_cannot_be_told(tmp_path):
    [f] = _run("DKF005", _platform_with_context(tmp_path, initialised=False))
    assert f.severity == "info" and "git submodule update --init -- api" in f.remediation


def test_copy_source_missing_from_a_checked_out_submodule_is_found(tmp_path):
    [f] = _run("DKF005", _platform_with_context(tmp_path, initialised=True))
    assert f.severity == "high" and "requirements.txt does not exist" in f.title


def test_root_in_a_targeted_stage_before_the_final_one_is_found(clean):
    edit(clean, "web/Dockerfile", *STAGES)
    edit(clean, "web/Dockerfile", "USER app\n", "")
    (clean / "web/Dockerfile").write_text((clean / "web/Dockerfile").read_text() + "\nFROM app AS hardened\nUSER app\n")
    edit(clean, "docker-compose.yml", "    build: ./web\n", "    build:\n      context: ./web\n      target: app\n")
    edit(clean, "web/.github/workflows/ci.yml", "          context: .\n", "          context: .\n          target: app\n")
    assert [f.title for f in findings(clean, "DKF003")] == ["web/Dockerfile: stage app runs as root (no USER)"]


def test_global_arg_not_redeclared_is_named_in_the_expose_error():
    info = df.parse_dockerfile_text("ARG PORT=80\nFROM nginx:1.27-alpine\nEXPOSE $PORT\n")
    assert "repeat `ARG PORT` in the stage" in info.errors[0].message


def test_env_port_read_by_a_shell_form_command():
    info = df.parse_dockerfile_text("FROM python:3.12-slim\nENV PORT=8080\nCMD uvicorn main:app --host 0.0.0.0 --port ${PORT}\n")
    assert df.stage_listen(info.final_stage, info).port == 8080


def test_secret_file_env_in_a_dockerfile_is_not_baked_in(clean):
    edit(clean, "web/Dockerfile", "EXPOSE 8000", "ENV DB_PASSWORD_FILE=/run/secrets/db_password\nEXPOSE 8000")
    assert findings(clean, "DKF004") == []


def test_literal_secret_env_in_a_dockerfile_is_found(clean):
    edit(clean, "web/Dockerfile", "EXPOSE 8000", "ENV DB_PASSWORD=example_123\nEXPOSE 8000")
    assert [f.title for f in findings(clean, "DKF004")] == ["web/Dockerfile: ENV DB_PASSWORD has a literal value baked into the image"]


def test_curl_installed_only_in_a_builder_stage_is_still_missing():
    info = df.parse_dockerfile_text("FROM python:3.12 AS build\nRUN apt-get install -y curl\n"
                                    "FROM python:3.12-slim\nCOPY --from=build /app /app\n")
    assert not info.final_stage.installs("curl")


def test_node_listens_where_its_own_config_says():
    assert df.listen_from_command(["node", "server.js"]) is None  # the app's code decides: never a guessed 3000
    assert df.listen_from_command(["node", "server.js"], {"PORT": "4000"}).port == 4000
    assert df.listen_from_command(["node", ".output/server/index.mjs"], {"NITRO_PORT": "3001"}).port == 3001


HEALTH = '["CMD", "mysqladmin", "ping", "-h", "localhost"]'


def test_secret_file_variable_on_a_command_line_is_a_path(clean):
    edit(clean, "docker-compose.prod.yml", HEALTH, '["CMD-SHELL", "test -s $$DB_PASSWORD_FILE && mysqladmin ping -h localhost"]')
    assert findings(clean, "CMP009") == []


def test_password_read_from_its_file_onto_the_command_line_is_found(clean):
    edit(clean, "docker-compose.prod.yml", HEALTH,
         '["CMD-SHELL", "mysqladmin ping -h localhost -p$$(cat $$DB_PASSWORD_FILE)"]')
    assert [f.title for f in findings(clean, "CMP009")] == ["prod: db healthcheck carries a password: -p$$(cat $$DB_PASSWORD_FILE)"]


def _dotnet(clean: Path, tag: str) -> None:
    (clean / "web/Dockerfile").write_text(
        "FROM mcr.microsoft.com/dotnet/sdk:8.0 AS build\nWORKDIR /src\nCOPY . .\nRUN dotnet publish -c Release -o /app\n"
        f"FROM mcr.microsoft.com/dotnet/aspnet:{tag}\nWORKDIR /app\nCOPY --from=build /app .\nUSER app\nEXPOSE 80\n"
        "ENTRYPOINT [\"dotnet\", \"Web.dll\"]\n")
    for rel in ("docker-compose.yml", "docker-compose.prod.yml"):
        edit(clean, rel, "    command: uvicorn main:app --host 0.0.0.0 --port 8000\n    expose: [\"8000\"]\n", "    expose: [\"80\"]\n")


def test_dotnet_7_image_listening_on_80_is_consistent(clean):
    _dotnet(clean, "7.0")
    assert findings(clean, "XF004") == [] and findings(clean, "XF005") == []


def test_dotnet_8_image_listens_on_8080_not_the_exposed_80(clean):
    _dotnet(clean, "8.0")
    assert [f.title for f in findings(clean, "XF004")] == [
        "web: web/Dockerfile EXPOSE [80] but the service listens on 8080 (CMD of web/Dockerfile, dev)"]
    assert findings(clean, "XF005")
