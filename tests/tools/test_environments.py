"""Environment discovery: config, the repo's own Compose calls, then conventions; never silent."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from agent.session import open_session
from tools.environments import docs_calls, makefile_calls, script_calls

SERVICE = "services:\n  web:\n    image: nginx:1.27.0\n    restart: unless-stopped\n"
LATEST = ("services:\n" + "".join(f"  {n}:\n    image: ghcr.io/acme/{n}:latest\n    restart: unless-stopped\n"
                                  for n in ("api", "front", "worker")))


def make_repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    subprocess.run(git + ["init", "-q"], cwd=root, check=True)
    subprocess.run(git + ["add", "-A"], cwd=root, check=True)
    subprocess.run(git + ["commit", "-qm", "init", "--no-verify"], cwd=root, check=True)
    return root


def envs_of(session) -> dict[str, tuple[list[str], str]]:
    return {e.name: (e.files, e.origin_text()) for e in session.discovery().environments.values()}


def ids_at(session, check_id: str) -> list[str]:
    return [loc.path for f in session.findings if f.id == check_id for loc in f.locations]


def test_compose_yaml_and_prod_both_checked_without_config(tmp_path):
    repo = make_repo(tmp_path / "r", {"compose.yaml": SERVICE, "compose.prod.yaml": LATEST})
    s = open_session(repo, signatures=False)
    assert envs_of(s) == {"dev": (["compose.yaml"], "convention"), "prod": (["compose.prod.yaml"], "convention")}
    assert {"compose.yaml", "compose.prod.yaml"} <= {src.path for src in s.sources if src.kind == "compose" and src.ok}
    assert ids_at(s, "CMP003").count("compose.prod.yaml") == 3
    assert "prod" in s.compose_views("prod", None)
    assert not [f for f in s.findings if f.id in ("SRC005", "SRC006")]


def test_base_plus_override_is_dev(tmp_path):
    repo = make_repo(tmp_path / "r", {"compose.yaml": SERVICE, "compose.override.yaml": SERVICE})
    s = open_session(repo, signatures=False)
    assert envs_of(s) == {"dev": (["compose.yaml", "compose.override.yaml"], "convention")}


def test_makefile_prod_target(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "docker-compose.yml": SERVICE, "docker-compose.prod.yml": LATEST,
        "Makefile": "up:\n\tdocker compose up --build\n\nprod:\n"
                    "\tdocker compose -f docker-compose.yml -f docker-compose.prod.yml up -d\n"})
    s = open_session(repo, signatures=False)
    envs = envs_of(s)
    assert envs["prod"] == (["docker-compose.yml", "docker-compose.prod.yml"], "Makefile:5")
    assert envs["dev"] == (["docker-compose.yml"], "Makefile:2")
    assert "docker-compose.prod.yml" in ids_at(s, "CMP003")


def test_makefile_variable_resolved(tmp_path):
    calls = makefile_calls("Makefile", "COMPOSE = docker compose -f docker-compose.yml -f $(PROD_FILE)\n"
                                       "PROD_FILE := docker-compose.prod.yml\n\ndeploy:\n\t$(COMPOSE) pull\n")
    assert [(c.context, c.files, c.unresolved, c.origin.line) for c in calls] == [
        ("deploy", ("docker-compose.yml", "docker-compose.prod.yml"), (), 5)]


def test_script_variable_resolved(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "docker-compose.yml": SERVICE, "docker-compose.prod.yml": LATEST,
        "scripts/deploy.sh": "#!/bin/sh\nset -e\nCOMPOSE_FILE=docker-compose.prod.yml\n"
                             "docker compose -f \"$COMPOSE_FILE\" pull\ndocker compose -f ${COMPOSE_FILE} up -d\n"})
    s = open_session(repo, signatures=False)
    assert envs_of(s)["prod"] == (["docker-compose.prod.yml"], "scripts/deploy.sh:4,5")
    assert "docker-compose.prod.yml" in ids_at(s, "CMP003")


def test_shell_default_and_compose_file_variable():
    calls = script_calls("run.sh", 'docker-compose -f "${FILE:-compose.ci.yaml}" run tests\n'
                                   "export COMPOSE_FILE=a.yml:b.yml\ndocker compose up -d\n")
    assert [c.files for c in calls] == [("compose.ci.yaml",), ("a.yml", "b.yml")]


def test_workflow_step_pull_is_prod_and_checked(tmp_path):
    """The real case: no prod target in the Makefile, the workflow pulls the prod file; its three
    `:latest` images must be found."""
    repo = make_repo(tmp_path / "r", {
        "docker-compose.yml": SERVICE, "docker-compose.prod.yml": LATEST,
        "Makefile": "up:\n\tdocker compose -f docker-compose.yml up\n",
        ".github/workflows/deploy.yml": "on: push\njobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps:\n"
                                        "      - uses: actions/checkout@v4\n"
                                        "      - run: docker compose -f docker-compose.prod.yml pull\n"})
    s = open_session(repo, signatures=False)
    envs = envs_of(s)
    assert envs["prod"] == (["docker-compose.prod.yml"], ".github/workflows/deploy.yml:7")
    assert ids_at(s, "CMP003").count("docker-compose.prod.yml") == 3


def test_undefined_variable_is_cannot_tell_never_cmp001(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "docker-compose.yml": SERVICE,
        "deploy.sh": "#!/bin/sh\ndocker compose -f $UNDEFINED up -d\n"})
    s = open_session(repo, signatures=False)
    assert not [f for f in s.findings if f.id == "CMP001"]
    [info] = [f for f in s.findings if f.id == "SRC006"]
    assert info.severity == "info" and "cannot tell" in info.title and "$UNDEFINED" in info.title
    assert (info.locations[0].path, info.locations[0].line) == ("deploy.sh", 2)
    assert "$UNDEFINED" not in json.dumps(s.discovery().files())
    assert envs_of(s) == {"dev": (["docker-compose.yml"], "convention")}


def test_docs_code_blocks_only():
    text = "Run docker compose -f nope.yml up in prose.\n\n```sh\ndocker compose -f docker-compose.prod.yml pull\n```\n" \
           "Then `docker compose -f docker-compose.prod.yml up -d`.\n"
    assert [(c.files, c.origin.line) for c in docs_calls("docs/deploy.md", text)] == [
        (("docker-compose.prod.yml",), 4), (("docker-compose.prod.yml",), 6)]


def test_config_first_and_orphan_is_a_finding(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "docker-compose.yml": SERVICE, "docker-compose.prod.yml": SERVICE, "docker-compose.production.yml": LATEST,
        ".devops-agent.yaml": "environments:\n  live: [docker-compose.yml]\n  prod: [docker-compose.prod.yml]\n"})
    s = open_session(repo, signatures=False)
    envs = envs_of(s)
    assert envs["live"] == (["docker-compose.yml"], "config (.devops-agent.yaml)")
    assert envs["prod"][1] == "config (.devops-agent.yaml)"
    # Its alias (prod) is taken: its own words name it, and it is checked, never an orphan.
    assert envs["production"][0] == ["docker-compose.production.yml"]
    assert not [f for f in s.findings if f.id == "SRC005"]


def test_submodule_workflow_resolves_in_its_own_repo(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "docker-compose.yml": SERVICE,
        "api/.github/workflows/ci.yml": "on: push\njobs:\n  staging:\n    runs-on: ubuntu-latest\n    steps:\n"
                                        "      - run: docker compose -f docker-compose.yml up -d\n"})
    s = open_session(repo, signatures=False)
    assert list(envs_of(s)) == ["dev"]


def test_sources_and_review_print_environments(tmp_path, capsys):
    from agent.cli import app

    repo = make_repo(tmp_path / "r", {"compose.yaml": SERVICE, "compose.prod.yaml": SERVICE,
                                      "Makefile": "prod:\n\tdocker compose -f compose.prod.yaml up -d\n"})

    from agent.commands.kit import Exit

    def run(*args: str) -> str:
        capsys.readouterr()
        try:
            app.main(list(args), prog_name="devops-agent")
        except Exit:
            pass  # exit 1: a required source is missing (the bundled charter's)
        return capsys.readouterr().out

    out = run("sources", "--repo", str(repo))
    assert "Environments" in out and "compose.prod.yaml  from Makefile:2" in out
    out = run("sources", "--repo", str(repo), "--format", "json")
    assert [e["name"] for e in json.loads(out)["environments"]] == ["prod", "dev"]
    out = run("review", "--repo", str(repo), "--format", "json")
    envs = {e["name"]: e for e in json.loads(out)["environments"]}
    assert envs["prod"]["origins"] == [{"kind": "makefile", "path": "Makefile", "line": 2, "text": "Makefile:2"}]
    assert envs["dev"]["from"] == "convention"
    assert app.main(["compose", "--repo", str(repo), "--env", "prod", "--format", "json"], "devops-agent") == 0
    assert "services" in json.loads(capsys.readouterr().out)
    assert "Environments" in run("review", "--repo", str(repo))


# `my-compose.yml` holding services is a compose file by what it holds (read, never a silence); `.bak` is no YAML.
@pytest.mark.parametrize("name,ok", [("compose.yaml", True), ("docker-compose.staging.yml", True),
                                     ("compose.yaml.bak", False), ("my-compose.yml", True)])
def test_compose_names(tmp_path, name, ok):
    repo = make_repo(tmp_path / "r", {name: SERVICE})
    s = open_session(repo, run_checks=False, signatures=False)
    assert (name in {src.path for src in s.sources if src.kind == "compose"}) is ok


def test_self_doubling_variables_are_bounded():
    import time

    defs = "".join(f"V{i}=$V{i - 1}$V{i - 1}$V{i - 1}\n" for i in range(1, 40))
    start = time.perf_counter()
    calls = script_calls("x.sh", "V0=a.yml\n" + defs + "docker compose -f $V39 up\n")
    assert time.perf_counter() - start < 2
    assert len(calls) == 1


def test_makefile_shell_variable_in_recipe():
    calls = makefile_calls("Makefile", "export COMPOSE_FILE := docker-compose.prod.yml\n\n"
                                       "release:\n\tdocker compose -f $$COMPOSE_FILE pull && docker compose up -d\n")
    assert [(c.context, c.files) for c in calls] == [("release", ("docker-compose.prod.yml",)),
                                                      ("release", ("docker-compose.prod.yml",))]


def test_comments_are_not_calls_and_staging_is_not_prod():
    from tools.environments import _alias

    calls = script_calls("deploy.sh", "# docker-compose up -d\necho hi  # docker compose -f x.yml up\n"
                                      "docker compose -f a.yml up # -f b.yml\n")
    assert [c.files for c in calls] == [("a.yml",)]
    assert _alias("deploy-staging") is None and _alias("deploy") == "prod" and _alias("up") == "dev"


def test_compose_yaml_gets_dockerfile_and_secret_checks(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "compose.yaml": "services:\n  api:\n    build: ./api\n    restart: unless-stopped\n"
                        "    environment:\n      DB_PASSWORD: Sup3rS3cretValue\n",
        "api/Dockerfile": "FROM python:latest\nCMD [\"python\", \"-m\", \"http.server\"]\n"})
    s = open_session(repo, signatures=False)
    assert "api/Dockerfile" in {src.path for src in s.sources if src.kind == "dockerfile" and src.ok}
    assert "api/Dockerfile" in ids_at(s, "DKF002")
    assert "compose.yaml" in ids_at(s, "CMP008")


def test_compose_files_in_a_folder_get_their_own_environments(tmp_path):
    repo = make_repo(tmp_path / "r", {"compose.yaml": SERVICE, "api/docker-compose.yml": SERVICE,
                                      "api/docker-compose.prod.yml": LATEST,
                                      "node_modules/x/compose.yaml": SERVICE})
    s = open_session(repo, signatures=False)
    assert envs_of(s) == {"dev": (["compose.yaml"], "convention"),
                          "api/dev": (["api/docker-compose.yml"], "convention"),
                          "api/prod": (["api/docker-compose.prod.yml"], "convention")}
    assert ids_at(s, "CMP003").count("api/docker-compose.prod.yml") == 3
