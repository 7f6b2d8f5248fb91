"""tools/compose.py against Compose v2 itself: `docker-compose config --format json` is the oracle."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ROOT, require_binary

from tools.compose import (
    REDACTED,
    ComposeError,
    infer_environments,
    load_compose,
    redacted,
    validate_project,
    validate_schema,
)
from tools.findings import Location

FIXTURES = ROOT / "tests" / "fixtures" / "compose"
EXAMPLE = ROOT / "examples" / "animesphere"


def _base_env(**extra: str) -> dict[str, str]:
    # A fixed environment for both sides: only what the binary needs plus the case's variables.
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root"), **extra}


def _copy(src: Path, tmp_path: Path) -> Path:
    dest = tmp_path / src.name
    shutil.copytree(src, dest)
    for p in dest.rglob("*"):
        p.chmod(p.stat().st_mode | 0o200)
    dest.chmod(dest.stat().st_mode | 0o200)
    return dest


def _oracle(project_dir: Path, files: list[str], env: dict, profiles: list[str] = (),
            extra: list[str] = (), project_name: str | None = None) -> dict:
    binary = require_binary("docker-compose")
    args = [binary, "--project-directory", str(project_dir)]
    if project_name:
        args += ["--project-name", project_name]
    for f in files:
        args += ["-f", str(project_dir / f)]
    for p in profiles:
        args += ["--profile", p]
    args += ["config", "--format", "json", *extra]
    proc = subprocess.run(args, cwd=project_dir, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _assert_same(project_dir: Path, files: list[str], env: dict, profiles: list[str] = (),
                 resolve_env_files: bool = True, project_name: str | None = None) -> None:
    mine = load_compose([project_dir / f for f in files], project_dir, env=env, profiles=list(profiles),
                        resolve_env_files=resolve_env_files, project_name=project_name)
    # The tool records absent env files; the binary refuses them, so the oracle gets empty ones.
    for missing in mine.missing_env_files:
        target = project_dir / missing.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    extra = [] if resolve_env_files else ["--no-env-resolution"]
    expected = _oracle(project_dir, files, env, profiles, extra, project_name)
    assert mine.model == expected


# (fixture folder, files, profiles, extra variables) — each is one equality case with the binary.
CASES = [
    ("interpolation", ["compose.yaml"], [], {}),
    ("interpolation", ["compose.yaml"], ["dbg"], {"TAG": "from-process", "SET": "p"}),
    ("merge", ["compose.yaml", "override.yml"], ["never"], {}),
    ("merge", ["compose.yaml", "override.yml"], ["never"], {"FOO": "fromproc"}),
    ("merge", ["compose.yaml", "override.yml", "third.yml"], ["never"], {}),
    ("merge", ["compose.yaml"], [], {}),
    ("normalise", ["compose.yaml"], [], {}),
    ("normalise", ["compose.yaml"], [], {"PORT": "9999", "RETRIES": "7", "SV": "proc"}),
    ("profiles", ["compose.yaml"], [], {}),
    ("profiles", ["compose.yaml"], ["jobs"], {}),
    ("profiles", ["compose.yaml"], ["*"], {}),
    ("profiles", ["compose.yaml"], ["debug"], {"TAG": "1", "DEFAULT_SLEEP": "5"}),
    ("profiles", ["compose.yaml"], ["debug"], {"TAG": "", "SLEEP": "9"}),
    ("anchors", ["compose.yaml"], [], {}),
]


@pytest.mark.parametrize("folder,files,profiles,variables", CASES)
def test_equals_binary_on_fixtures(tmp_path, folder, files, profiles, variables):
    project = _copy(FIXTURES / folder, tmp_path)
    _assert_same(project, files, _base_env(**variables), profiles)


@pytest.mark.parametrize("folder,files", [("interpolation", ["compose.yaml"]),
                                          ("merge", ["compose.yaml", "override.yml"])])
def test_equals_binary_without_env_resolution(tmp_path, folder, files):
    project = _copy(FIXTURES / folder, tmp_path)
    _assert_same(project, files, _base_env(), ["never"], resolve_env_files=False)


def test_project_name_option(tmp_path):
    project = _copy(FIXTURES / "profiles", tmp_path)
    _assert_same(project, ["compose.yaml"], _base_env(), project_name="other-name_1")
    with pytest.raises(ComposeError, match="invalid project name"):
        load_compose([project / "compose.yaml"], project, env={}, project_name="Other.Name")
    _assert_same(project, ["compose.yaml"], _base_env(COMPOSE_PROJECT_NAME="fromenv"))


@pytest.mark.shared
@pytest.mark.parametrize("files", [["docker-compose.yml"], ["docker-compose.prod.yml"]])
def test_equals_binary_on_real_files(realworld, tmp_path, files):
    project = _copy(realworld, tmp_path)
    _assert_same(project, files, _base_env())
    _assert_same(project, files, _base_env(DB_PASSWORD="pw", DB_USER="u", IMAGE_TAG_API="abc123"))


@pytest.mark.parametrize("files", [["docker-compose.yml"], ["docker-compose.prod.yml"]])
def test_equals_binary_on_example(tmp_path, files):
    if not all((EXAMPLE / f).is_file() for f in files):
        pytest.skip(f"examples/animesphere has no {files}: the example is not written yet")
    project = _copy(EXAMPLE, tmp_path)
    _assert_same(project, files, _base_env())


# ------------------------------------------------------------------ without the binary

def test_real_files_report_absent_env_files_and_warnings(realworld):
    prod = load_compose([realworld / "docker-compose.prod.yml"], realworld, env={})
    missing = {(m.service, m.path) for m in prod.missing_env_files}
    assert ("anime-saas-front", "config/front/.env") in missing
    assert ("anime-saas-agent", "config/agent/.env") in missing
    front = next(m for m in prod.missing_env_files if m.service == "anime-saas-front")
    assert front.location == Location("docker-compose.prod.yml", 19)
    assert any('"DB_PASSWORD" variable is not set' in w for w in prod.warnings)
    assert prod.name == "animesphere"


def test_locations(realworld):
    dev = load_compose([realworld / "docker-compose.yml"], realworld, env={})
    assert dev.location("anime-saas-mysql") == Location("docker-compose.yml", 76)
    assert dev.location("anime-saas-mysql", "image") == Location("docker-compose.yml", 77)
    assert dev.location("anime-saas-mysql", "ports") == Location("docker-compose.yml", 85)
    assert dev.location("anime-saas-mysql", "environment.MYSQL_PASSWORD") == Location("docker-compose.yml", 84)
    assert dev.location("anime-saas-api", "environment.ConnectionStrings__DefaultConnection").line == 45
    assert dev.location("anime-saas-mysql", "volumes./var/lib/mysql").line == 89
    assert dev.location("anime-saas-reverseproxy", "depends_on.anime-saas-api").line == 12
    assert dev.location("anime-saas-front", "healthcheck").line == 26
    # unknown keys fall back to the service
    assert dev.location("anime-saas-front", "nope") == dev.location("anime-saas-front")


def test_locations_follow_merge_and_extends():
    d = FIXTURES / "merge"
    p = load_compose([d / "compose.yaml", d / "override.yml"], d, env={}, profiles=["never"])
    assert p.location("web") == Location("compose.yaml", 3)
    assert p.location("web", "command") == Location("override.yml", 3)
    assert p.location("web", "image") == Location("compose.yaml", 4)
    assert p.location("web", "environment.C").path == "override.yml"
    assert p.location("ext", "build") == Location("sub/base.yml", 3)
    assert p.location("ext", "environment.E") == Location("compose.yaml", 32)


def test_obsolete_version_is_a_warning():
    d = FIXTURES / "anchors"
    p = load_compose([d / "compose.yaml"], d, env={})
    assert any("`version` is obsolete" in w for w in p.warnings)


def test_malformed_yaml_is_one_line_error():
    with pytest.raises(ComposeError) as err:
        load_compose([FIXTURES / "errors" / "malformed.yml"], FIXTURES / "errors", env={})
    e = err.value
    assert (e.path, e.line_no) == ("malformed.yml", 6) and e.column
    assert "\n" not in str(e) and "malformed.yml:6" in str(e)


def test_required_variable_names_it():
    d = FIXTURES / "errors"
    with pytest.raises(ComposeError, match="required variable TAG is missing a value: set TAG to the release tag"):
        load_compose([d / "required.yml"], d, env={})
    ok = load_compose([d / "required.yml"], d, env={"TAG": "1.0"})
    assert ok.model["services"]["web"]["image"] == "nginx:1.0"


def test_missing_file_is_named():
    with pytest.raises(ComposeError, match="compose file nope.yml does not exist"):
        load_compose([FIXTURES / "nope.yml"], FIXTURES, env={})


def test_absent_env_files_are_recorded_not_raised():
    d = FIXTURES / "errors"
    p = load_compose([d / "missing_env.yml"], d, env={})
    assert [(m.service, m.path) for m in p.missing_env_files] == [("web", "config/web/.env")]
    assert p.missing_env_files[0].location == Location("missing_env.yml", 4)


def test_undefined_dependency_is_an_error(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: y\n    profiles: [p]\n")
    with pytest.raises(ComposeError, match='service "a" depends on undefined service "b"'):
        load_compose([tmp_path / "compose.yaml"], tmp_path, env={})


def test_redacted_keeps_structure(realworld):
    p = load_compose([realworld / "docker-compose.prod.yml"], realworld,
                     env={"DB_PASSWORD": "s3cret", "DB_USER": "u", "DB_ROOT_PASSWORD": "r"})
    red = redacted(p.model)
    assert p.model["services"]["anime-saas-mysql"]["environment"]["MYSQL_PASSWORD"] == "s3cret"
    mysql = red["services"]["anime-saas-mysql"]
    assert mysql["environment"]["MYSQL_PASSWORD"] == REDACTED
    assert mysql["environment"]["MYSQL_ROOT_PASSWORD"] == REDACTED
    assert mysql["environment"]["MYSQL_USER"] == "u"
    assert red["services"]["anime-saas-api"]["environment"]["ConnectionStrings__DefaultConnection"] == REDACTED
    assert red["services"]["anime-saas-mlservice"]["environment"]["DATABASE_URL"] == REDACTED
    assert "s3cret" not in json.dumps(red)
    assert set(red) == set(p.model)


def test_schema_validation_uses_vendored_spec(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n    restartt: always\n")
    p = load_compose([tmp_path / "compose.yaml"], tmp_path, env={})
    issues = validate_project(p)
    assert [(i.path, i.location) for i in issues] == [("services.web.restartt", Location("compose.yaml", 4))]
    assert "restartt" in issues[0].message
    assert validate_schema({"services": {"web": {"image": "nginx"}}}) == []


def test_bad_shape_is_a_schema_error_not_a_crash(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n    ports: [a]\n")
    with pytest.raises(ComposeError) as err:
        load_compose([tmp_path / "compose.yaml"], tmp_path, env={})
    assert (err.value.path, err.value.line_no) == ("compose.yaml", 4)
    assert "services.web.ports" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.shared
def test_real_files_pass_schema(realworld):
    for f in ("docker-compose.yml", "docker-compose.prod.yml"):
        assert validate_project(load_compose([realworld / f], realworld, env={})) == []


def test_infer_environments(realworld, tmp_path):
    assert infer_environments(realworld) == {"dev": ["docker-compose.yml"], "prod": ["docker-compose.prod.yml"]}
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    (tmp_path / "docker-compose.override.yml").write_text("services: {}\n")
    assert infer_environments(tmp_path) == {"dev": ["docker-compose.yml", "docker-compose.override.yml"]}
    (tmp_path / "Makefile").write_text(
        "staging:\n\tdocker-compose -f docker-compose.yml -f docker-compose.staging.yml up -d\n")
    assert infer_environments(tmp_path) == {
        "staging": ["docker-compose.yml", "docker-compose.staging.yml"]}


def test_speed(realworld):
    for root in (EXAMPLE, realworld):
        for f in ("docker-compose.yml", "docker-compose.prod.yml"):
            if not (root / f).is_file():
                continue
            load_compose([root / f], root, env={})
            start = time.perf_counter()
            load_compose([root / f], root, env={})
            assert time.perf_counter() - start < 0.05


# ------------------------------------------------------------------ through the CLI


def _cli_compose(project: Path, env_name: str, env: dict) -> dict:
    import sys

    proc = subprocess.run([sys.executable, "-m", "agent.cli", "compose", "--env", env_name, "--format", "json",
                           "--repo", str(project)], capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
                               "DEVOPS_AGENT_HOME": os.environ["DEVOPS_AGENT_HOME"]})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _cli_equals_binary(project: Path, env_name: str, files: list[str]) -> None:
    env = _base_env(DB_PASSWORD="s3cret-pw", DB_USER="app", IMAGE_TAG_API="abc1234")
    for missing in load_compose([project / f for f in files], project, env=env).missing_env_files:
        (project / missing.path).parent.mkdir(parents=True, exist_ok=True)
        (project / missing.path).touch()
    shown = _cli_compose(project, env_name, env)
    assert shown == redacted(_oracle(project, files, env))
    assert "s3cret-pw" not in json.dumps(shown)


@pytest.mark.parametrize("env_name, files", [("dev", ["docker-compose.yml"]), ("prod", ["docker-compose.prod.yml"])])
def test_cli_compose_equals_binary_on_example(tmp_path, env_name, files):
    _cli_equals_binary(_copy(EXAMPLE, tmp_path), env_name, files)


@pytest.mark.shared
@pytest.mark.parametrize("env_name, files", [("dev", ["docker-compose.yml"]), ("prod", ["docker-compose.prod.yml"])])
def test_cli_compose_equals_binary_on_real_files(realworld, tmp_path, env_name, files):
    _cli_equals_binary(_copy(realworld, tmp_path), env_name, files)  # environments inferred from the Makefile
