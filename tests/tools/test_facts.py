"""tools/facts: the shared vocabulary, on files written the way real projects write them."""
from __future__ import annotations

import pytest

from tools import facts


@pytest.mark.parametrize("path, text, kind", [
    ("docker-compose.yml", None, "compose"),
    ("deploy/compose.prod.yaml", None, "compose"),
    ("anime-saas-api/Dockerfile.test", None, "dockerfile"),
    ("build/api.Dockerfile", None, "dockerfile"),
    ("Containerfile", None, "dockerfile"),
    ("anime-saas-front/.dockerignore", None, "dockerignore"),
    ("anime-saas-api/.github/workflows/ci.yml", None, "ci"),
    (".github/actions/setup/action.yml", None, "ci"),
    ("config/api/.env.example", None, "env_example"),
    (".env.prod.example", None, "env_example"),
    ("docs/deploiement.md", None, "docs"),
    ("RUNBOOK-rollback.md", None, "docs"),
    (".allowed_signers", None, "signers"),
    ("anime-saas-reverseproxy/nginx.conf", "events {}\nhttp { server { listen 80; } }\n", "nginx"),
    ("anime-saas-reverseproxy/conf.d/api.conf", "location /api/ { proxy_pass http://api:8080; }\n", "nginx"),
    ("templates/default.conf.template", "server { listen ${PORT}; }\n", "nginx"),
    ("Makefile", "up:\n\tdocker compose up -d\n", "makefile"),
    ("Makefile", "COMPOSE = docker compose -f docker-compose.prod.yml\nprod:\n\t$(COMPOSE) up -d\n", "makefile"),
    ("scripts/deploy.sh", "#!/bin/sh\nssh prod 'docker compose pull && docker compose up -d'\n", "deploy_script"),
    ("anime-saas-agent/docker-entrypoint.sh", 'exec "$@"\n', "deploy_script"),
])
def test_infra_kinds(path, text, kind):
    assert facts.infra_kind(path, text) == kind
    assert facts.is_infra_path(path, text)


@pytest.mark.parametrize("path, text", [
    ("deploy/hook.py", "import os\n"),
    ("scripts/migrate.ts", "export {}\n"),
    ("deploy/Patch.cs", "class P {}\n"),
    ("scripts/seed.sh", "python manage.py seed\n"),
    ("scripts/say.sh", "# docker compose up\necho 'docker compose up'\n"),
    ("Makefile", "seed:\n\tpython manage.py seed\n"),
    ("Makefile", None),
    ("app/logging.conf", "[loggers]\nkeys=root\n"),
    ("supervisord.conf", "[program:x]\ncommand=python app.py\n"),
    ("anime-saas-api/.allowed_signers", "x ssh-ed25519 AAAA\n"),
    ("mysql/init/01-schema.sql", "CREATE TABLE a (id INT);\n"),
    ("notes.md", "x\n"),
])
def test_not_infra(path, text):
    assert facts.infra_kind(path, text) is None


def test_content_kinds_need_text():
    assert facts.needs_text("Makefile") and facts.needs_text("scripts/x.sh") and facts.needs_text("site.conf")
    assert not facts.needs_text("docker-compose.yml") and not facts.needs_text("app/main.py")


@pytest.mark.parametrize("name", ["docker-compose.staging.yml", "stg", "deploy-stg", "preProd", "pre-prod",
                                  "preproduction", "uat", "env-qa", "QA", "recette", "deployStaging", ".env.stage",
                                  "release/pre_prod"])
def test_staging_synonyms(name):
    assert facts.is_staging_name(name)


@pytest.mark.parametrize("name", ["qatar", "quality", "aqua", "usage", "production", "prod", "debug", "dev",
                                  "test", "stages", "backstage", "prepare", "", None])
def test_not_staging(name):
    assert not facts.is_staging_name(name)


def test_mentions_ignores_denials():
    assert facts.mentions("Un environnement de staging pour la bêta", facts.STAGING_WORDS)
    assert not facts.mentions("Pas de staging pour la bêta", facts.STAGING_WORDS)
    assert not facts.mentions("pas de nouvel environnement", facts.STAGING_WORDS)
    assert facts.mentions("Ajouter Grafana pour suivre la latence", ("grafana",))
    assert not facts.mentions("Le Qatar", facts.STAGING_WORDS)


@pytest.mark.parametrize("path, text, tool", [
    ("ops/app.yaml", "{apiVersion: apps/v1, kind: Deployment}", "kubernetes"),
    ("ops/multi.yml", "a: 1\n---\napiVersion: v1\nkind: ConfigMap\n", "kubernetes"),
    ("ops/tpl.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Values.name }}\n", "kubernetes"),
    ("chart/Chart.yaml", "apiVersion: v2\nname: api\nversion: 0.1.0\n", "helm"),
    ("kustomization.yaml", "resources: []\n", "kubernetes"),
    ("infra/main.tf", 'resource "x" "y" {}\n', "terraform"),
    ("infra/net.hcl", 'terraform {\n}\n', "terraform"),
    ("vault/config.hcl", 'storage "file" {\n}\n', "vault"),
    ("jobs/api.nomad", 'job "api" {\n}\n', "nomad"),
    ("play.yml", "- hosts: all\n  roles: [web]\n", "ansible"),
    ("Pulumi.yaml", "name: x\n", "pulumi"),
    ("scripts/ship.sh", "kubectl apply -f k.yaml\n", "kubernetes"),
    ("docker-compose.obs.yml", "services:\n  p:\n    image: prom/prometheus:v2.52.0\n", "prometheus"),
])
def test_tools_by_parsing(path, text, tool):
    assert tool in facts.tools_in(path, text)


@pytest.mark.parametrize("path, text", [
    ("docker-compose.yml", "services:\n  api:\n    image: nginx:1.27\n    labels: {kind: web}\n"),
    ("config/app.yaml", "apiVersion_note: none\nkind: of a config\n"),
    ("scripts/deploy.sh", "# kubectl is not used here\necho 'no helm'\ndocker compose up -d\n"),
    ("anime-saas-api/.github/workflows/ci.yml", "jobs:\n  b:\n    steps:\n      - run: dotnet test\n"),
])
def test_no_tool(path, text):
    assert facts.tools_in(path, text) == {}


def test_images_and_inventory():
    dockerfile = "ARG X=1\nFROM mcr.microsoft.com/dotnet/sdk:8.0 AS build\nFROM build AS test\nFROM scratch\n"
    assert facts.images_in("Dockerfile", dockerfile) == ["mcr.microsoft.com/dotnet/sdk:8.0"]
    compose = "services:\n  db: {image: 'mysql:8.0'}\n  web:\n    build: .\n"
    assert facts.images_in("docker-compose.yml", compose) == ["mysql:8.0"]
    wf = ("jobs:\n  t:\n    container: node:20\n    services:\n      redis: {image: redis:7}\n"
          "    steps:\n      - uses: docker://alpine:3.20\n")
    assert sorted(facts.images_in(".github/workflows/t.yml", wf)) == ["alpine:3.20", "node:20", "redis:7"]
    inv = facts.inventory([("Dockerfile", dockerfile), ("docker-compose.yml", compose)])
    assert inv.has_image("mysql:8.4") and inv.has_image("docker.io/library/mysql") and not inv.has_image("redis:7")
    assert facts.image_short_name("bitnami/redis:7.2") == "redis"
    assert facts.tool_of_image("hashicorp/vault") == "vault" and facts.tool_of_image("library/nginx") is None


def test_makefile_targets():
    text = "COMPOSE = docker compose\n.PHONY: up test\nup:\n\t$(COMPOSE) up -d\ntest:\n\tpytest -q\nseed:\n\tpython s.py\n"
    targets = {t.name: t for t in facts.makefile_targets(text)}
    variables = facts.makefile_variables(text)
    assert facts.make_target_ok(targets["up"], variables) and facts.make_target_ok(targets["test"], variables)
    assert not facts.make_target_ok(targets["seed"], variables)
    assert targets["up"].first == 3 and targets["up"].last == 4


def test_real_env_files_and_git_files():
    assert facts.is_real_env_file(".env") and facts.is_real_env_file("config/.env.prod") and facts.is_real_env_file("prod.env")
    assert not facts.is_real_env_file(".env.example") and not facts.is_real_env_file(".env.sample")
    assert facts.is_git_file(".gitattributes") and facts.is_git_file("a/.gitmodules") and not facts.is_git_file(".github")


@pytest.mark.parametrize("text", ["bundle exec rspec", "name: rspec RSpec", "vendor/bin/phpunit --colors", "php artisan test",
                                  "mix test --cover", "tox -e py311", "bats test/", "npx playwright test", "npx cypress run",
                                  "python manage.py test", "name: Specs"])
def test_runs_tests_knows_the_runners_of_other_stacks(text):
    assert facts.runs_tests(text)


def test_a_runner_installed_then_run_runs_tests():
    assert facts.runs_tests("pip install pytest && pytest -q") and facts.runs_tests("yarn add jest; yarn test")


@pytest.mark.parametrize("text", ["echo pestilence", "name: Checkout", "npm run build", "cargo build --release",
                                  "pip install flake8 pytest", "npm i -D jest vitest", "apt-get install -y bats"])
def test_runs_tests_leaves_builds_and_installs_alone(text):
    assert not facts.runs_tests(text)


def test_a_word_denied_after_it_is_not_asked_for():
    """Issue 23: "un environnement de staging n'est pas requis" counted as asking for staging."""
    from tools import facts

    for denied in ("Un environnement de staging n’est pas requis pour la bêta.", "Staging is not needed for the beta",
                   "A staging environment isn't required.", "staging : hors périmètre", "Staging is out of scope.",
                   "Le staging ne sera pas nécessaire"):
        assert not facts.mentions(denied, facts.STAGING_WORDS), denied
    for asked in ("Un environnement de staging est requis pour la bêta", "staging is needed before the launch",
                  "Staging is not ready yet: create it", "Pas de prod sans staging validé, le staging est prévu"):
        assert facts.mentions(asked, facts.STAGING_WORDS), asked
