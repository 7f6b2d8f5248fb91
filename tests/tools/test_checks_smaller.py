"""Issue 18, smaller precision defects: each false positive gone on a file written the way real projects
write it, and the real mistake next to it still found. Each case is a small edit of the clean platform
(tests/fixtures/checks), reviewed through a real session."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agent.session import open_session
from tools.checks.registry import CHECKS

CLEAN = Path(__file__).resolve().parent.parent / "fixtures" / "checks" / "clean-platform"


# The decisions the checks below rest on, as a platform's charter states them (checks resting on a decision
# the charter does not state do not run).
DECISIONS = """
## Garde-fous MVP
- Priorité à la stabilité et à la reproductibilité, pas à l’optimisation.
- Pas d’ajout de nouveaux outils (K8s, Terraform, Vault, observabilité lourde) sans intention produit validée.
- Pas de staging si la release en cours ne le requiert pas explicitement.

## Responsabilites
- Assurer la coherence des Dockerfiles et des pipelines CI/CD.
- Pipeline: build d'images via CI GitHub, deploiement manuel sur serveur.

## Regles de travail
- Branches: tout est sur `main`.
"""


@pytest.fixture
def clean(tmp_path) -> Path:
    dst = tmp_path / "platform"
    shutil.copytree(CLEAN, dst)
    state_decisions(dst)
    return dst


def state_decisions(root: Path) -> None:
    """The fixture's charter with the decisions above in place of its own guardrails."""
    charter = root / ".codex/agents/devops-engineer.md"
    charter.write_text(charter.read_text().split("\n## Garde-fous")[0].rstrip("\n") + "\n" + DECISIONS)


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


def findings(root: Path, check_id: str) -> list:
    return [f for f in open_session(root).findings if f.id == check_id]


# -- XF007: only hosts count (URL hosts of network schemes, connection-string keys, address keys) --------

WEB_ENV = "      DATABASE_URL: mysql://app:${DB_PASSWORD}@db:3306/app\n    healthcheck:"


def _web_env(root: Path, lines: str) -> None:
    edit(root, "docker-compose.prod.yml", WEB_ENV, WEB_ENV.replace("    healthcheck:", lines + "    healthcheck:"))


def test_logger_levels_and_bucket_urls_are_not_hosts(clean):
    _web_env(clean, '      LOG_LEVELS: "kafka.cluster=WARN,org.apache.kafka.server=WARN"\n'
                    "      MEDIA_STORE: s3://media-bucket?endpoint=http://web:8000&region=eu-west-1\n")
    assert findings(clean, "XF007") == []


def test_hosts_that_are_no_service_are_still_found(clean):
    _web_env(clean, "      CACHE_URL: redis://cache:6379/0\n      SEARCH_HOST: opensearch\n"
                    "      MEDIA_STORE: s3://media-bucket?endpoint=http://minio:9000\n")
    assert sorted(f.title for f in findings(clean, "XF007")) == [
        "prod: web CACHE_URL points at cache, not a service of prod",
        "prod: web MEDIA_STORE points at minio, not a service of prod",
        "prod: web SEARCH_HOST points at opensearch, not a service of prod"]


# -- CI002: `branches:` left empty is accepted, as GitHub accepts it ------------------------------------

WF = "web/.github/workflows/ci.yml"


def test_empty_branch_filter_is_not_a_schema_error(clean):
    edit(clean, WF, "  push:\n    branches: [main]\n", "  push:\n    branches:\n  pull_request:\n    branches:\n")
    assert findings(clean, "CI002") == []


def test_branch_filter_of_the_wrong_type_is_still_a_schema_error(clean):
    edit(clean, WF, "    branches: [main]\n", "    branches:\n      main: true\n")
    [f] = findings(clean, "CI002")
    assert f.locations[0].line == 4 and "branches" in f.title


# -- CI003: a job that names staging but deploys nothing ----------------------------------------------

def _job(root: Path, job: str) -> None:
    wf = root / WF
    wf.write_text(wf.read_text() + job)


def test_tests_against_a_staging_config_deploy_nothing(clean):
    _job(clean, "  e2e-staging:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n"
                "      - run: npm ci && npm run test:e2e -- --config playwright.staging.ts\n")
    assert [(f.severity, f.title) for f in findings(clean, "CI003")] == [
        ("info", f"{WF}: job e2e-staging names staging; it deploys nothing")]


@pytest.mark.parametrize("job", [
    "  deploy-staging:\n    runs-on: ubuntu-latest\n    steps:\n      - run: ./scripts/release.sh\n",
    "  e2e-staging:\n    runs-on: ubuntu-latest\n    environment: staging\n    steps:\n      - run: npm test\n",
    "  e2e-staging:\n    runs-on: ubuntu-latest\n    steps:\n      - run: ssh ci@stg.acme.dev 'docker compose up -d'\n",
])
def test_jobs_that_deploy_to_staging_are_still_reported(clean, job):
    _job(clean, job)
    assert [f.severity for f in findings(clean, "CI003")] == [CHECKS["CI003"].severity]  # the check's own, not info


# -- environment names: a Makefile target for tests names a test environment, not dev (SRC005) ----------

SERVICE = "services:\n  web:\n    image: nginx:1.27.0\n    restart: unless-stopped\n"


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


def test_e2e_target_names_a_test_environment(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "docker-compose.yml": SERVICE, "e2e/docker-compose.override.yml": SERVICE,
        "Makefile": "up:\n\tdocker compose up -d\n\n"
                    "e2e-up:\n\tdocker compose -f docker-compose.yml -f e2e/docker-compose.override.yml up -d\n"})
    envs = {e.name: e.files for e in open_session(repo, signatures=False).discovery().environments.values()}
    assert envs == {"dev": ["docker-compose.yml"], "test": ["docker-compose.yml", "e2e/docker-compose.override.yml"]}


def test_compose_file_named_for_e2e_keeps_its_name(tmp_path):
    repo = make_repo(tmp_path / "r", {"docker-compose.yml": SERVICE, "docker-compose.e2e.yml": SERVICE})
    envs = {e.name: e.files for e in open_session(repo, signatures=False).discovery().environments.values()}
    assert envs == {"dev": ["docker-compose.yml"], "e2e": ["docker-compose.e2e.yml"]}


# -- CMP016: variables documented in any example env file the way projects name it -----------------------

def _uses_smtp(root: Path) -> None:
    edit(root, "docker-compose.prod.yml", WEB_ENV, WEB_ENV.replace("    healthcheck:", "      SMTP_RELAY: ${SMTP_RELAY}\n"
                                                                                   "    healthcheck:"))


@pytest.mark.parametrize("name", ["env.example", "example.env", ".env.template", ".env.sample", ".env.dist",
                                  "prod.env.example"])
def test_variable_documented_in_another_example_file_is_documented(clean, name):
    _uses_smtp(clean)
    (clean / name).write_text("# where mail goes\nSMTP_RELAY=smtp.example.org\n")
    assert findings(clean, "CMP016") == []


def test_variable_documented_nowhere_is_found(clean):
    _uses_smtp(clean)
    (clean / "env.example").write_text("SMTP_USER=mailer\n")
    [f] = findings(clean, "CMP016")
    assert f.severity == "medium" and f.title.endswith(": SMTP_RELAY") and f.title.startswith("prod: 1 variable(s)")


# -- CMP015: an env file inside a submodule that is not checked out cannot be told ----------------------

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main",
       "-c", "protocol.file.allow=always"]


def _platform_with_submodule(tmp_path: Path, checked_out: bool, env_in_sub: bool = True) -> Path:
    sub = make_repo(tmp_path / "mailer-src", {"README.md": "mailer\n", **({".env": "SMTP_RELAY=smtp\n"} if env_in_sub else {})})
    root = tmp_path / "platform"
    shutil.copytree(CLEAN, root)
    edit(root, "docker-compose.prod.yml", "    expose: [\"8000\"]\n", "    expose: [\"8000\"]\n    env_file: ./mailer/.env\n")
    subprocess.run(GIT + ["init", "-q"], cwd=root, check=True)
    subprocess.run(GIT + ["submodule", "add", "-q", str(sub), "mailer"], cwd=root, check=True, capture_output=True)
    subprocess.run(GIT + ["add", "-A"], cwd=root, check=True)
    subprocess.run(GIT + ["commit", "-qm", "init", "--no-verify"], cwd=root, check=True)
    if not checked_out:
        subprocess.run(GIT + ["submodule", "deinit", "-q", "-f", "mailer"], cwd=root, check=True)
    return root


def test_env_file_in_a_submodule_not_checked_out_cannot_be_told(tmp_path):
    root = _platform_with_submodule(tmp_path, checked_out=False)
    state_decisions(root)
    [f] = findings(root, "CMP015")
    assert f.severity == "info" and "cannot tell" in f.title and "git submodule update --init -- mailer" in f.remediation


def test_env_file_missing_from_a_checked_out_submodule_is_found(tmp_path):
    root = _platform_with_submodule(tmp_path, checked_out=True, env_in_sub=False)
    state_decisions(root)
    [f] = findings(root, "CMP015")
    assert f.severity == "medium" and "mailer/.env is absent" in f.title


# -- XF011 never contradicts a check on the same fact: a `:latest` CMP003 calls a blocker -----------------

RULES = ("## Containerisation\n"
         "- Les images de prod sont taguées `main-<sha>` par la CI ; jamais `latest` en production.\n"
         "- Ports internes des services : web 9000.\n")


def _with_rules(root: Path) -> None:
    edit(root, ".codex/agents/devops-engineer.md", "- CI/CD:", "- Regles: `rules/global_rules.md` (section: Containerisation).\n- CI/CD:")
    edit(root, ".codex/agents/devops-engineer.md", "1. Fichiers du repo (docker-compose*, Dockerfiles, workflows CI)",
         "1. Fichiers du repo (docker-compose*, Dockerfiles, workflows CI)\n2. Règles globales (Containerisation)")
    (root / "rules").mkdir()
    (root / "rules/global_rules.md").write_text(RULES)


def test_latest_in_prod_is_a_blocker_and_no_source_conflict_says_the_repo_wins(clean):
    _with_rules(clean)
    edit(clean, "docker-compose.prod.yml", "ghcr.io/acme/proxy:main-${IMAGE_TAG_PROXY}", "ghcr.io/acme/proxy:latest")
    session = open_session(clean)
    assert [f.severity for f in session.findings if f.id == "CMP003"] == [CHECKS["CMP003"].severity]
    conflicts = [f for f in session.findings if f.id == "XF011"]
    assert [f for f in conflicts if "latest" in f.title or "latest" in f.detail] == []
    # a fact no check of the review reports is still settled by the priority list
    assert [(f.severity, f.title.endswith("the repo files win")) for f in conflicts] == [("info", True)]


# -- DKF003: the base image's own USER --------------------------------------------------------------------

WEB_DF = "FROM python:3.11-slim\nWORKDIR /app\nCOPY . .\nRUN useradd --uid 10001 app\nUSER app\n"


def _web_from(root: Path, base: str) -> None:
    edit(root, "web/Dockerfile", WEB_DF, f"FROM {base}\nWORKDIR /app\nCOPY . .\n")


@pytest.mark.parametrize("base", ["gcr.io/distroless/python3-debian12:nonroot", "bitnami/python:3.11.9",
                                  "cgr.dev/chainguard/python:latest"])
def test_known_non_root_base_is_not_root(clean, base):
    _web_from(clean, base)
    assert findings(clean, "DKF003") == []


def test_base_that_runs_as_root_is_still_found(clean):
    _web_from(clean, "gcr.io/distroless/python3-debian12:latest")
    assert [f.title for f in findings(clean, "DKF003")] == ["web/Dockerfile: final stage runs as root (no USER)"]


def _local_base(root: Path, user: str) -> None:
    (root / "web/base.Dockerfile").write_text(f"FROM python:3.11-slim\nRUN useradd --uid 10001 app\n{user}")
    edit(root, "docker-compose.yml", "\n  db:\n    image: mysql", "\n  web-base:\n    image: ghcr.io/acme/web-base:1.0.0\n"
         "    build:\n      context: ./web\n      dockerfile: base.Dockerfile\n  db:\n    image: mysql")
    _web_from(root, "ghcr.io/acme/web-base:1.0.0")


def test_image_the_platform_builds_with_a_user_is_not_root(clean):
    _local_base(clean, "USER app\n")
    assert [f for f in findings(clean, "DKF003") if f.locations[0].path == "web/Dockerfile"] == []


def test_image_the_platform_builds_without_a_user_is_root(clean):
    _local_base(clean, "")
    assert [f.title for f in findings(clean, "DKF003") if f.locations[0].path == "web/Dockerfile"] == [
        "web/Dockerfile: final stage runs as root (no USER)"]


# -- CHR001: Terraform by what it is, not by `.hcl` --------------------------------------------------------

BAKE = ('variable "TAG" {\n  default = "main"\n}\n\ngroup "default" {\n  targets = ["web"]\n}\n\n'
        'target "web" {\n  context = "web"\n  tags = ["ghcr.io/acme/web:${TAG}"]\n}\n')


def test_docker_bake_file_is_not_terraform(clean):
    (clean / "docker-bake.hcl").write_text(BAKE)
    (clean / "infra").mkdir()
    (clean / "infra/variables.tf").write_text('variable "region" {\n  default = "eu-west-1"\n}\n')
    assert findings(clean, "CHR001") == []


@pytest.mark.parametrize("name, text", [
    ("main.tf", 'terraform {\n  required_version = ">= 1.6"\n}\n\nprovider "aws" {\n  region = var.region\n}\n'),
    ("dns.tf", 'resource "cloudflare_record" "www" {\n  name = "www"\n}\n'),
    ("main.tf.json", '{"resource": {"aws_s3_bucket": {"media": {"bucket": "acme-media"}}}}'),
])
def test_terraform_files_are_found(clean, name, text):
    (clean / "infra").mkdir()
    (clean / "infra" / name).write_text(text)
    [f] = findings(clean, "CHR001")
    assert f.title.startswith(f"infra/{name}: Terraform file {name}") and "adds Terraform" in f.title


# -- one cause, one finding: an anchor merged into many services, a folder of manifests ---------------------

ANCHOR = "x-common-env: &common-env\n  CACHE_URL: redis://cache:6379/0\n\nservices:\n"


def test_a_host_in_an_anchor_merged_into_services_is_one_finding(clean):
    edit(clean, "docker-compose.prod.yml", "services:\n", ANCHOR)
    edit(clean, "docker-compose.prod.yml", "    environment:\n      DATABASE_URL:", "    environment:\n      <<: *common-env\n      DATABASE_URL:")
    edit(clean, "docker-compose.prod.yml", "    environment:\n      MYSQL_PASSWORD:", "    environment:\n      <<: *common-env\n      MYSQL_PASSWORD:")
    [f] = findings(clean, "XF007")
    assert f.title == "prod: db, web CACHE_URL points at cache, not a service of prod"
    assert [(loc.path, loc.line) for loc in f.locations] == [("docker-compose.prod.yml", 2)]  # the anchor's line


def test_one_env_file_shared_by_services_is_one_finding(clean):
    for service in ("web", "proxy"):
        edit(clean, "docker-compose.prod.yml", f"    image: ghcr.io/acme/{service}:", f"    env_file: ./config/shared.env\n    image: ghcr.io/acme/{service}:")
    [f] = findings(clean, "CMP015")
    assert "config/shared.env is absent" in f.title and "web" in f.title and "proxy" in f.title
    assert len(f.locations) == 2


MANIFEST = "apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: web\nspec: {{}}\n"


def test_a_folder_of_manifests_is_one_finding(clean):
    (clean / "deploy/k8s").mkdir(parents=True)
    for name, api, kind in [("deployment.yaml", "apps/v1", "Deployment"), ("service.yaml", "v1", "Service"),
                            ("ingress.yaml", "networking.k8s.io/v1", "Ingress")]:
        (clean / "deploy/k8s" / name).write_text(MANIFEST.format(api=api, kind=kind))
    [f] = findings(clean, "CHR001")
    assert f.title.startswith("deploy/k8s/: 3 files (Kubernetes manifest") and "adds Kubernetes" in f.title
    assert sorted(loc.path for loc in f.locations) == ["deploy/k8s/deployment.yaml", "deploy/k8s/ingress.yaml",
                                                        "deploy/k8s/service.yaml"]


@pytest.mark.parametrize("doc", ["README.md", "docs/deploy.md"])
def test_variable_the_docs_name_is_documented(tmp_path, doc):
    compose = ("services:\n  app:\n    image: ghcr.io/acme/app:1.2.0\n    restart: unless-stopped\n"
               "    environment:\n      SMTP_RELAY: ${SMTP_RELAY}\n")
    said = make_repo(tmp_path / "said", {"docker-compose.yml": compose,
                                         doc: "# Deploy\n\nSet `SMTP_RELAY` to the mail relay before `docker compose up -d`.\n"})
    assert [f for f in open_session(said, signatures=False).findings if f.id == "CMP016"] == []
    silent = make_repo(tmp_path / "silent", {"docker-compose.yml": compose, doc: "# Deploy\n\nRun `docker compose up -d`.\n"})
    [f] = [f for f in open_session(silent, signatures=False).findings if f.id == "CMP016"]
    assert f.title.endswith(": 1 variable(s) used, unset, and documented nowhere (no example env file, no doc): SMTP_RELAY")


def test_e2e_target_leaves_dev_to_the_main_compose_file(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "docker-compose.yml": SERVICE, "e2e/docker-compose.yml": SERVICE,
        "Makefile": "e2e-up:\n\tdocker compose -f e2e/docker-compose.yml up -d --wait\n"})
    session = open_session(repo, signatures=False)
    envs = {e.name: e.files for e in session.discovery().environments.values()}
    assert envs == {"dev": ["docker-compose.yml"], "test": ["e2e/docker-compose.yml"]}
    assert [f for f in session.findings if f.id == "SRC005"] == []


def test_a_literal_secret_in_an_anchor_merged_into_services_is_one_finding(clean):
    edit(clean, "docker-compose.prod.yml", "services:\n", "x-app-env: &app-env\n  API_SECRET_KEY: s3cr3t-Value-9f8e7d\n\nservices:\n")
    edit(clean, "docker-compose.prod.yml", "    environment:\n      DATABASE_URL:", "    environment:\n      <<: *app-env\n      DATABASE_URL:")
    edit(clean, "docker-compose.prod.yml", "    environment:\n      MYSQL_PASSWORD:", "    environment:\n      <<: *app-env\n      MYSQL_PASSWORD:")
    [f] = [f for f in findings(clean, "CMP008") if "API_SECRET_KEY" in f.title]
    assert f.title.endswith(": API_SECRET_KEY is a literal in docker-compose.prod.yml")
    assert sorted(f.title.split(":")[0].split(", ")) == ["db", "web"]
    assert [(loc.path, loc.line) for loc in f.locations] == [("docker-compose.prod.yml", 2)]


def test_the_same_mistake_in_two_places_stays_two_findings(clean):
    for line in ("    environment:\n      DATABASE_URL:", "    environment:\n      MYSQL_PASSWORD:"):
        edit(clean, "docker-compose.prod.yml", line, line.replace("    environment:\n", "    environment:\n      API_SECRET_KEY: s3cr3t-Value-9f8e7d\n"))
    assert len([f for f in findings(clean, "CMP008") if "API_SECRET_KEY" in f.title]) == 2
