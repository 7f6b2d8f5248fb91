"""tools.facts.deploy_paths: what the deploy uses, read from committed files (no Compose run)."""
from __future__ import annotations

from tools import facts

FILES = {
    "compose.yaml": """\
include:
  - path: deploy/db.yaml
    env_file: deploy/db.env
services:
  web:
    build:
      context: ./web
      dockerfile: ../docker/web.prod
    volumes:
      - ${PWD}/proxy/site:/etc/nginx/conf.d/default.conf:ro
      - ${UPLOADS:-./uploads}:/srv/uploads
      - ${UNSET_DIR}/x:/x
      - cache:/var/cache
      - type: bind
        source: ./certs
        target: /certs
volumes:
  cache: {}
""",
    "deploy/db.yaml": """\
services:
  db:
    image: mysql:8.0
    extends:
      file: ../common/base.yml
      service: base
    volumes:
      - ./initdb:/docker-entrypoint-initdb.d:ro
""",
    "common/base.yml": "services:\n  base:\n    env_file: [{path: ../env/base.vars, required: false}]\n",
    "Makefile": "deploy:\n\t@./bin/ship --prod\n\tdocker build -f docker/worker.prod -t worker ./worker\n"
                "\tdocker compose -f ops/extra.yml up -d\nhelp:\n\tcat README.md\n",
    "ops/extra.yml": "services:\n  extra:\n    image: busybox\n    volumes: ['./extra.ini:/etc/extra.ini']\n",
    "bin/ship": "#!/bin/sh\nsh ./bin/ship-step\n",
    "bin/ship-step": "#!/bin/sh\necho step\n",
    ".github/workflows/ci.yml": """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: ./tooling/setup
      - run: python3 scripts/check_release.py
      - uses: docker/build-push-action@v5
        with:
          context: .
          file: ./docker/api.prod
""",
    "tooling/setup/action.yml": "runs:\n  using: composite\n  steps:\n"
                                "    - run: ${{ github.action_path }}/prepare\n      shell: bash\n",
    "broken/compose.yml": "services: [unclosed\n",
}


def _paths(files: dict[str, str]) -> facts.DeployPaths:
    return facts.deploy_paths(files, lambda p: files[p].encode() if p in files else None)


def test_every_reference_of_the_compose_model_is_found():
    d = _paths(FILES)
    for path, kind in [("deploy/db.yaml", "compose"), ("deploy/db.env", "env_file"),
                       ("common/base.yml", "compose"), ("env/base.vars", "env_file"),
                       ("deploy/initdb/01.sql", "mount"), ("web/app/main.py", "build context"),
                       ("docker/web.prod", "dockerfile"), ("proxy/site", "mount"), ("uploads/a.png", "mount"),
                       ("certs/tls.pem", "mount")]:
        assert d.reason(path) is not None and d.reason(path)[0] == kind, (path, d.reason(path))
    assert "x" not in d and "cache" not in d  # an unset variable and a named volume reference nothing here


def test_recipes_steps_and_actions_name_their_scripts():
    d = _paths(FILES)
    for path in ("bin/ship", "bin/ship-step", "docker/worker.prod", "worker/src/w.py", "ops/extra.yml",
                 "ops/extra.ini", "scripts/check_release.py", "tooling/setup/action.yml", "tooling/setup/prepare",
                 "docker/api.prod"):
        assert path in d, path
    assert d.reason("ops/extra.yml")[0] == "compose" and d.reason("docker/worker.prod")[0] == "dockerfile"


def test_unused_files_stay_out_and_an_unparsable_deploy_file_counts_itself():
    d = _paths(FILES)
    assert "src/app.py" not in d and "docs/guide.md" not in d
    assert "tooling/other/x.sh" not in d
    assert d.reason("broken/compose.yml") == ("unreadable", "broken/compose.yml")
    # `cat README.md` in a help target names the README: a file a recipe reads is the deploy's
    assert "README.md" in d


def test_a_proposal_reads_only_configuration_by_its_exact_path():
    d = _paths(FILES)
    assert d.proposal_kind("proxy/site") == "deploy_file"
    assert d.proposal_kind("bin/ship") == "deploy_script"
    assert d.proposal_kind("common/base.yml") == "compose"
    assert d.proposal_kind("web/app/main.py") is None  # inside a build context: application code stays so
    assert d.proposal_kind("deploy/initdb/01.sql") is None  # inside a mounted folder


def test_a_workflow_context_does_not_make_the_repository_infra():
    d = _paths({".github/workflows/ci.yml": FILES[".github/workflows/ci.yml"]})
    assert "README.md" not in d and "src/app.py" not in d


def test_variables_come_from_the_committed_env_and_includes_from_their_project_directory():
    files = {
        "stack/compose.yaml": "include:\n  - path: ../parts/db.yaml\n    project_directory: ..\n"
                              "services:\n  proxy:\n    image: nginx\n    volumes:\n"
                              "      - ${CONF_DIR}/site:/etc/nginx/conf.d/default.conf\n",
        "stack/.env": "CONF_DIR=./proxy\n",
        "parts/db.yaml": "services:\n  db:\n    image: mysql:8.0\n    volumes:\n      - ./sql:/docker-entrypoint-initdb.d\n",
    }
    d = _paths(files)
    assert d.reason("stack/proxy/site") == ("mount", "stack/compose.yaml")
    assert "stack/.env" in d  # the values the paths were read with
    assert "parts/sql/1.sql" in d and "sql/1.sql" in d  # from the file's folder and from project_directory
    assert "proxy/site" not in d


def test_a_flood_of_harmless_files_past_the_bound_makes_every_path_count():
    # 400 echo lines name 400 files the walk follows before it reaches the compose file: it stops at its
    # bound, and what it did not read could reference anything, so everything counts (fail closed).
    import importlib

    module = importlib.import_module("tools.facts.deploy_paths")

    flood = "help:\n" + "".join(f"\t./x/s{i}.sh\n" for i in range(module.MAX_FILES + 5))
    files = {"0/Makefile": flood, "docker-compose.yml": "services:\n  web:\n    image: nginx:1.27\n"
                                                          "    volumes: ['./conf/app.ini:/etc/app.ini:ro']\n",
             "conf/app.ini": "x=1\n", "README.md": "hello\n",
             **{f"0/x/s{i}.sh": "#!/bin/sh\necho hi\n" for i in range(module.MAX_FILES + 5)}}
    found = module.deploy_paths(files, lambda p: files[p].encode() if p in files else None)
    assert found.truncated
    assert "conf/app.ini" in found and "README.md" in found
    small = {k: v for k, v in files.items() if not k.startswith("0/")}
    found = module.deploy_paths(small, lambda p: small[p].encode() if p in small else None)
    assert not found.truncated and "conf/app.ini" in found and "README.md" not in found


def test_compose_files_named_through_variables_and_make_macros_are_found():
    import importlib

    module = importlib.import_module("tools.facts.deploy_paths")
    prod = "services:\n  web:\n    image: nginx:1.27\n    volumes: ['./conf/app.ini:/etc/app.ini:ro']\n"
    cases = {
        "make_var": {"Makefile": "DC = docker compose -f deploy/prod.yml\nup:\n\t$(DC) up -d\n"},
        "file_equals": {"Makefile": "up:\n\tdocker compose --file=deploy/prod.yml up -d\n"},
        "env_prefix": {"Makefile": "up:\n\tCOMPOSE_FILE=deploy/prod.yml docker compose up -d\n"},
        "dotenv": {".env": "COMPOSE_FILE=deploy/prod.yml\n"},
        "workflow_env": {".github/workflows/deploy.yml": "on: push\njobs:\n  up:\n    runs-on: ubuntu-latest\n"
                         "    env:\n      COMPOSE_FILE: deploy/prod.yml\n    steps:\n      - run: docker compose up -d\n"},
        "sinclude": {"Makefile": "sinclude local.make\n", "local.make": "up:\n\t./ops/push\n",
                     "ops/push": "#!/bin/sh\n"},
    }
    for name, extra in cases.items():
        files = {"deploy/prod.yml": prod, "deploy/conf/app.ini": "x=1\n", **extra}
        found = module.deploy_paths(files, lambda p, f=files: f[p].encode() if p in f else None)
        wanted = "ops/push" if name == "sinclude" else "deploy/conf/app.ini"  # an included file's recipes too
        assert wanted in found, name


def test_the_configs_extra_globs_make_their_files_infra():
    import importlib

    module = importlib.import_module("tools.facts.deploy_paths")
    files = {".devops-agent.yaml": "extra_globs:\n  compose: [stacks/*.yml]\n  dockerfile: ['images/*.df']\n"}
    found = module.deploy_paths(files, lambda p: files[p].encode() if p in files else None)
    assert "stacks/prod.yml" in found and "images/api.df" in found and "stacks/notes.md" not in found


def test_scripts_run_through_bash_c_cd_python_m_and_their_own_folder_are_found():
    import importlib

    module = importlib.import_module("tools.facts.deploy_paths")
    files = {"Makefile": "ship:\n\tbash -c \"cd ops && ./push\"\n\tpython3 -m tools.release\n\t./bin/deploy.sh\n",
             "ops/push": "#!/bin/sh\n", "tools/release.py": "print()\n",
             "bin/deploy.sh": "#!/bin/sh\n. \"$(dirname \"$0\")/settings.sh\"\n", "bin/settings.sh": "X=1\n"}
    found = module.deploy_paths(files, lambda p: files[p].encode() if p in files else None)
    assert {"ops/push", "tools/release.py", "bin/settings.sh"} <= {p for p in files if p in found}
