"""tools/ci.py on the real reverse-proxy pipeline and on small fixtures."""
from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
import yaml

from tools import ci

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ci"
REAL_REL = "anime-saas-reverseproxy/.github/workflows/ci.yml"
REPO = "StephenGodard/anime-saas-platform"
PROXY_IMAGE = "ghcr.io/stephengodard/anime-saas-platform/anime-saas-reverseproxy"


def fixture(name: str) -> ci.Workflow:
    return ci.load_workflow(FIXTURES / name, f"tests/fixtures/ci/{name}")


@pytest.fixture(scope="module")
def real(realworld: Path) -> ci.Workflow:
    wf = ci.load_workflow(realworld / REAL_REL, REAL_REL)
    assert wf.errors == []
    return wf


# ---------------------------------------------------------------- the real workflow

def test_real_triggers(real):
    assert real.name == "CI/CD Pipeline"
    assert set(real.triggers) == {"push", "pull_request"}
    assert real.triggers["push"].branches == ["main", "develop"]
    assert real.triggers["pull_request"].branches == ["main"]
    assert real.triggers["push"].line == 4
    assert real.triggers["pull_request"].line == 6
    assert real.env == {"REGISTRY": "ghcr.io", "IMAGE_PREFIX": "${{ github.repository }}"}


def test_real_jobs_and_steps(real):
    assert list(real.jobs) == ["build-reverseproxy", "deploy-staging"]
    build, deploy = real.jobs["build-reverseproxy"], real.jobs["deploy-staging"]
    assert (build.line, build.name, build.runs_on) == (15, "Build Reverse Proxy", "ubuntu-latest")
    assert build.permissions == {"contents": "read", "packages": "write"}
    assert [s.line for s in build.steps] == [24, 27, 34, 45, 48]
    meta = build.steps[2]
    assert (meta.id, meta.uses.action, meta.uses.ref, meta.uses.pinned) == ("meta", "docker/metadata-action", "v5", False)
    assert deploy.line == 60
    assert deploy.needs == ["build-reverseproxy"]
    assert deploy.if_ == "github.ref == 'refs/heads/dev'"
    assert deploy.environment is None
    assert deploy.env["DB_PASSWORD"] == "${{ secrets.DB_PASSWORD }}"
    assert deploy.steps[1].run.splitlines()[3] == "docker-compose -f docker-compose.yml up -d"
    assert deploy.steps[1].run_line == 102


def test_real_deploy_staging(real):
    deploys = ci.deploy_targets(real)
    assert len(deploys) == 1
    d = deploys[0]
    assert (d.job, d.environment, d.environment_source, d.kind) == ("deploy-staging", "staging", "job id", "compose")
    assert d.command == "docker-compose -f docker-compose.yml up -d"
    assert d.compose_files == ["docker-compose.yml"]
    assert d.condition == "github.ref == 'refs/heads/dev'"
    assert d.location == ci.Location(REAL_REL, 105)
    # `dev` is not among the pushed branches (main, develop): this deploy can never run.
    assert d.reachable is False


def test_real_image_on_main(real):
    images = ci.built_images(real, repository=REPO, branch="main")
    assert len(images) == 1
    img = images[0]
    assert img.name == PROXY_IMAGE
    assert [p.pattern for p in img.tag_patterns] == ["main", "main-<sha>", "latest"]
    assert {p.applies_when for p in img.tag_patterns} == {"push to main"}
    assert img.tag_patterns[1].regex == r"main\-[0-9a-f]{7}"
    assert (img.context, img.dockerfile) == ("./anime-saas-reverseproxy", "./anime-saas-reverseproxy/Dockerfile")
    assert img.pushed is True and img.push_condition is None
    assert img.platforms == ["linux/amd64", "linux/arm64"]
    assert (img.job, img.location.line, img.source) == ("build-reverseproxy", 48, "build-push-action")


def test_real_image_every_run(real):
    img = ci.built_images(real, repository=REPO)[0]
    by_case = {(p.event, p.branch, p.pattern) for p in img.tag_patterns}
    assert ("push", "develop", "develop-<sha>") in by_case
    assert ("push", "develop", "develop") in by_case
    assert ("pull_request", None, "pr-<number>") in by_case
    # `latest` needs the default branch.
    assert [p.branch for p in img.tag_patterns if p.pattern == "latest"] == ["main"]
    # On a pull request {{branch}} is empty: the sha tag starts with '-', which Docker refuses.
    pr_sha = [p for p in img.tag_patterns if p.event == "pull_request" and "<sha>" in p.pattern]
    assert pr_sha[0].pattern == "-<sha>" and "invalid tag" in pr_sha[0].applies_when


def test_real_image_without_repository(real):
    img = ci.built_images(real, branch="main")[0]
    assert img.name == "ghcr.io/<github.repository>/anime-saas-reverseproxy"


def test_real_secrets_with_lines(real):
    refs = ci.secrets_used(real)
    secrets = {(r.name, r.location.line) for r in refs if r.kind == "secrets"}
    assert {("DB_PASSWORD", 71), ("DB_ROOT_PASSWORD", 72), ("OPENAI_API_KEY", 75), ("RESEND_API_KEY", 88),
            ("GITHUB_TOKEN", 32), ("GITHUB_TOKEN", 98)} <= secrets
    assert len(secrets) == 14
    vars_ = {(r.name, r.location.line) for r in refs if r.kind == "vars"}
    assert vars_ == {("DB_HOST", 68), ("DB_NAME", 69), ("DB_USER", 70), ("REGISTRY_PREFIX", 91)}
    token = [r for r in refs if r.name == "GITHUB_TOKEN"][0]
    assert (token.job, token.step) == ("build-reverseproxy", "Log in to Container Registry")
    assert all(r.location.path == REAL_REL for r in refs)


def test_real_branch_facts(real):
    facts = [(f.branch, f.source, f.negated, f.location.line, f.job) for f in ci.branch_facts(real)]
    assert facts == [
        ("main", "trigger", False, 5, None),
        ("develop", "trigger", False, 5, None),
        ("main", "trigger", False, 7, None),
        ("dev", "condition", False, 64, "deploy-staging"),
    ]


def test_real_schema_passes(real):
    assert ci.validate_schema(real.raw, real) == []


def test_real_summary_is_stable_json(real):
    data = ci.summary(real, repository=REPO)
    assert list(data) == ["path", "name", "ok", "errors", "triggers", "env", "jobs", "images", "deploys",
                          "secrets", "branches", "unpinned_actions", "schema_issues"]
    assert json.loads(json.dumps(data)) == data
    assert data["images"][0]["name"] == PROXY_IMAGE
    assert data["deploys"][0]["environment"] == "staging"
    assert data["deploys"][0]["reachable"] is False
    assert len(data["unpinned_actions"]) == 6
    assert data["schema_issues"] == []


def test_real_prod_compose_tags_match_ci(realworld, real):
    """The prod compose pulls `…/anime-saas-reverseproxy:latest`; CI pushes it on main."""
    compose = yaml.safe_load((realworld / "docker-compose.prod.yml").read_text())
    ref = compose["services"]["anime-saas-reverseproxy"]["image"]
    name, tag = ref.rsplit(":", 1)
    img = ci.built_images(real, repository=REPO, branch="main")[0]
    assert name == img.name
    assert [p.pattern for p in img.tag_patterns if ci.tag_pattern_matches(tag, p)] == ["latest"]
    front_tag = compose["services"]["anime-saas-front"]["image"].rsplit(":", 1)[1]
    assert front_tag == "main-${IMAGE_TAG_FRONT}"
    assert [p.pattern for p in img.tag_patterns if ci.tag_pattern_matches(front_tag, p)] == ["main-<sha>"]


def test_real_load_is_fast(realworld):
    text = (realworld / REAL_REL).read_text()
    ci.load_workflow(realworld / REAL_REL, REAL_REL, text)
    n = 50
    start = time.perf_counter()
    for _ in range(n):
        ci.load_workflow(realworld / REAL_REL, REAL_REL, text)
    mean_ms = (time.perf_counter() - start) / n * 1000
    assert mean_ms < 5, f"load_workflow took {mean_ms:.2f} ms"


# ---------------------------------------------------------------- fixtures

def test_malformed_yaml_reports_line_and_column():
    wf = fixture("malformed.yml")
    assert len(wf.errors) == 1
    err = wf.errors[0]
    assert err.message.startswith("YAML error:")
    assert (err.line, err.column) == (5, 5)
    assert wf.jobs == {} and wf.raw is None
    assert ci.summary(wf)["ok"] is False


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty workflow file"),
    ("- a\n- b\n", "a workflow must be a mapping at the top level"),
    ("name: x\njobs: {}\n", "missing `on`: the workflow has no trigger"),
    ("on: push\njobs: 3\n", "missing or invalid `jobs`"),
])
def test_structural_errors(text, message):
    wf = ci.load_workflow(Path("x.yml"), "x.yml", text)
    assert message in [e.message for e in wf.errors]


def test_duplicate_key_is_an_error():
    wf = ci.load_workflow(Path("x.yml"), "x.yml", "on: push\non: pull_request\njobs: {}\n")
    assert [(e.message, e.line) for e in wf.errors] == [("duplicate key on", 2)]


def test_unreadable_file(tmp_path):
    wf = ci.load_workflow(tmp_path / "missing.yml", "missing.yml")
    assert wf.errors and wf.errors[0].message.startswith("cannot read missing.yml")


def test_on_as_string():
    wf = fixture("on_string.yml")
    assert wf.errors == []
    assert list(wf.triggers) == ["push"]
    assert wf.triggers["push"].branches == [] and wf.triggers["push"].line == 2
    assert wf.raw["on"] == "push" and True not in wf.raw
    assert ci.validate_schema(wf.raw) == []


def test_on_as_list_and_github_token():
    wf = fixture("on_list.yml")
    assert list(wf.triggers) == ["push", "workflow_dispatch"]
    assert [t.line for t in wf.triggers.values()] == [1, 1]
    refs = ci.secrets_used(wf)
    assert [(r.kind, r.name, r.location.line) for r in refs] == [("secrets", "GITHUB_TOKEN", 6)]


def test_validate_schema_accepts_pyyaml_true_key():
    raw = yaml.safe_load((FIXTURES / "on_string.yml").read_text())
    assert True in raw
    assert ci.validate_schema(raw) == []


def test_validate_schema_accepts_a_strategy_computed_by_an_expression():
    """`strategy: ${{ fromJson(needs.init.outputs.strategy) }}` (a matrix another job computes): GitHub accepts
    it; a literal strategy of the wrong type is still refused."""
    raw = {"on": "push", "jobs": {
        "init": {"runs-on": "ubuntu-latest", "steps": [{"run": "echo"}]},
        "test": {"needs": "init", "runs-on": "ubuntu-latest", "strategy": "${{ fromJson(needs.init.outputs.strategy) }}",
                 "steps": [{"run": "echo ${{ matrix.version }}"}]}}}
    assert ci.validate_schema(raw) == []
    raw["jobs"]["test"]["strategy"] = "fail-fast"
    assert [i.path for i in ci.validate_schema(raw)] == ["$.jobs.test.strategy"]


def test_schema_error_fixture():
    wf = fixture("schema_error.yml")
    assert wf.errors == []
    issues = ci.validate_schema(wf.raw, wf)
    assert [(i.path, i.line) for i in issues] == [("$.permisions", 5), ("$.jobs.build", 8)]
    assert "'permisions' was unexpected" in issues[0].message
    assert issues[1].message == "'runs-on' is a required property"


def test_docker_build_in_run_step():
    wf = fixture("docker_run.yml")
    images = {i.name: i for i in ci.built_images(wf, repository=REPO)}
    assert list(images) == ["ghcr.io/stephengodard/anime-saas-api", "local/app", "registry.example.com/team/app"]
    img = images["ghcr.io/stephengodard/anime-saas-api"]
    assert [p.pattern for p in img.tag_patterns] == ["main-<sha>", "latest"]
    assert img.tag_patterns[0].applies_when == "push to main and if: github.event_name == 'push'"
    assert (img.source, img.context, img.dockerfile, img.pushed) == ("run", ".", "docker/Dockerfile", True)
    assert img.location.line == 18
    # buildx build + docker tag + docker push on one job: the retagged name is the pushed one.
    local, mirror = images["local/app"], images["registry.example.com/team/app"]
    assert (local.pushed, local.platforms, local.context, local.location.line) == (False, ["linux/amd64"], "./app", 42)
    assert (mirror.pushed, mirror.context) == (True, "./app")
    assert [(p.pattern, p.regex) for p in mirror.tag_patterns] == [("<sha:long>", "[0-9a-f]{40}")]
    assert mirror.tag_patterns[0].applies_when == "push to main and if: github.ref == 'refs/heads/main'"


def test_deploy_via_ssh_action_with_environment():
    wf = fixture("docker_run.yml")
    (d,) = ci.deploy_targets(wf)
    assert (d.job, d.environment, d.environment_source, d.kind) == ("deploy-production", "production", "environment", "ssh-action")
    assert d.compose_files == ["docker-compose.prod.yml"]
    assert d.reachable is True
    assert wf.jobs["deploy-production"].environment == ci.Environment("production", "https://animesphere.example")
    refs = {(r.name, r.location.line) for r in ci.secrets_used(wf)}
    assert refs == {("GHCR_PAT", 15), ("SSH_HOST", 34), ("SSH_KEY", 35)}


def test_metadata_semver_rules():
    wf = fixture("semver.yml")
    (img,) = ci.built_images(wf, repository=REPO)
    assert img.name == "ghcr.io/stephengodard/anime-saas-front"
    assert img.pushed is True and img.push_condition == "github.event_name != 'pull_request'"
    tags = {(p.event, p.pattern) for p in img.tag_patterns}
    assert {("tag", "<version>"), ("tag", "<major>.<minor>"), ("tag", "latest")} <= tags
    assert ("schedule", "nightly") in tags
    assert ("push", "sha-<sha:long>") in tags and ("push", "edge") in tags
    assert ("push", "main-front") in tags
    # enable=${{ github.ref == format('refs/heads/{0}', 'main') }}: on main, never on a tag.
    assert ("push", "stable") in tags and ("tag", "stable") not in tags
    # flavor latest=auto: latest comes with semver tags only, not with branch pushes.
    assert ("push", "latest") not in tags
    version = next(p for p in img.tag_patterns if p.pattern == "<version>")
    assert ci.tag_pattern_matches("1.4.2", version) and not ci.tag_pattern_matches("v1.4", version)
    on_main = ci.built_images(wf, repository=REPO, branch="main")[0]
    assert [p.pattern for p in on_main.tag_patterns] == ["sha-<sha:long>", "edge", "stable", "main-front"]


def test_pinned_and_unpinned_actions():
    wf = fixture("pinning.yml")
    uses = [s.uses for s in wf.jobs["lint"].steps if s.uses]
    assert [(u.kind, u.pinned) for u in uses] == [
        ("action", True), ("action", False), ("local", False), ("docker", True), ("docker", False),
    ]
    assert uses[0].ref == "b4ffde65f46336ab88eb53be808477a3936bae11"
    assert wf.jobs["lint"].runs_on == ["self-hosted", "linux"]
    assert wf.jobs["lint"].permissions == "read-all"
    unpinned = ci.summary(wf)["unpinned_actions"]
    assert [(u["uses"], u["line"]) for u in unpinned] == [("actions/setup-python@v5", 10)]


def test_branch_facts_ignore_and_conditions():
    wf = fixture("pinning.yml")
    facts = [(f.branch, f.source, f.negated, f.location.line) for f in ci.branch_facts(wf)]
    assert facts == [("dev", "trigger", True, 3), ("main", "condition", True, 14), ("release/*", "condition", False, 14)]


# ---------------------------------------------------------------- pieces

@pytest.mark.parametrize(("template", "pattern", "expected"), [
    ("main-${IMAGE_TAG_FRONT}", "main-<sha>", True),
    ("main-$TAG", "main-<sha>", True),
    ("${TAG:-latest}", "main-<sha>", True),
    ("dev-${TAG}", "main-<sha>", False),
    ("main-${TAG}-arm64", "main-<sha>", False),
    ("main-abc1234", "main-<sha>", True),
    ("main-abc12345", "main-<sha>", False),
    ("main-ABC1234", "main-<sha>", False),
    ("latest", "latest", True),
    ("latest", "main-<sha>", False),
    ("main", "main", True),
    ("pr-${N}", "pr-<number>", True),
    ("${V}.${W}", "<major>.<minor>", True),
    ("${V}", "<version>", True),
])
def test_tag_pattern_matches(template, pattern, expected):
    assert ci.tag_pattern_matches(template, pattern) is expected


@pytest.mark.parametrize(("expr", "ctx", "expected"), [
    ("github.ref == 'refs/heads/dev'", ci.Context("push", "main"), False),
    ("${{ github.ref == 'refs/heads/main' }}", ci.Context("push", "main"), True),
    ("github.event_name != 'pull_request' && github.ref_name == 'main'", ci.Context("push", "main"), True),
    ("startsWith(github.ref, 'refs/heads/release/')", ci.Context("push", "release/1.2"), True),
    ("!startsWith(github.ref, 'refs/tags/')", ci.Context("push", "main"), True),
    ("github.ref == format('refs/heads/{0}', 'main')", ci.Context("push", "main"), True),
    ("github.ref == 'refs/heads/main'", ci.Context("pull_request"), False),
    ("contains(github.event.head_commit.message, '[deploy]')", ci.Context("push", "main"), None),
    ("github.actor == 'x' || github.ref == 'refs/heads/main'", ci.Context("push", "main"), True),
    ("github.ref == 'refs/heads/main'", ci.Context(), None),
    ("success() && (", ci.Context(), None),
])
def test_evaluate(expr, ctx, expected):
    assert ci.evaluate(expr, ctx) is expected


def test_condition_branches():
    assert ci.condition_branches("github.ref == 'refs/heads/dev' || 'main' == github.ref_name") == [("dev", False), ("main", False)]
    assert ci.condition_branches("${{ github.base_ref != 'main' }}") == [("main", True)]


def test_load_workflows_sorted(tmp_path):
    wdir = tmp_path / "svc" / ".github" / "workflows"
    wdir.mkdir(parents=True)
    (wdir / "b.yaml").write_text("on: push\njobs: {}\n")
    (wdir / "a.yml").write_text("on: push\njobs: {}\n")
    (wdir / "notes.txt").write_text("x")
    wfs = ci.load_workflows(tmp_path / "svc", repo_root=tmp_path)
    assert [w.rel_path for w in wfs] == ["svc/.github/workflows/a.yml", "svc/.github/workflows/b.yaml"]
    assert ci.load_workflows(tmp_path / "nothing") == []


def test_actionlint_absent_is_skipped(monkeypatch, caplog):
    monkeypatch.setenv("PATH", "")
    with caplog.at_level("INFO", logger="tools.ci"):
        assert ci.run_actionlint([FIXTURES / "on_string.yml"]) is None
    assert ci.ACTIONLINT_SKIPPED in caplog.text


def test_actionlint_results_are_folded(monkeypatch, tmp_path):
    # A stand-in with actionlint's JSON output shape; the real binary is used when installed.
    fake = tmp_path / "actionlint"
    out = json.dumps([{"message": "label \"ubuntu-lates\" is unknown", "filepath": "ci.yml", "line": 9,
                       "column": 14, "kind": "runner-label", "snippet": "", "end_column": 25}])
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{out}\nEOF\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    issues = ci.run_actionlint([FIXTURES / "on_string.yml"])
    assert issues == [ci.ActionlintIssue("ci.yml", 9, 14, "runner-label", 'label "ubuntu-lates" is unknown')]


def test_branch_glob_is_linear_on_repeats():
    import time

    from tools.ci.model import _glob_match

    start = time.monotonic()
    assert not _glob_match("a+" * 20, "a" * 30 + "b")  # a backtracking regex took seconds here
    assert _glob_match("a+" * 20, "a" * 30)
    assert time.monotonic() - start < 1
    assert _glob_match("releases/**", "releases/1/2") and not _glob_match("releases/*", "releases/1/2")
    assert _glob_match("ma+in", "maaain") and not _glob_match("ma+in", "min")


def _workflow(tmp_path: Path, text: str) -> ci.Workflow:
    path = tmp_path / "release.yml"
    path.write_text(text)
    wf = ci.load_workflow(path, ".github/workflows/release.yml")
    assert wf.errors == []
    return wf


def test_tags_written_to_github_env_by_an_earlier_step(tmp_path):
    """`echo "TAGS=$IMAGE:…" >> $GITHUB_ENV` then `tags: ${{ env.TAGS }}`: the list the step wrote, the job's
    `$IMAGE` expanded, a second (conditional) write appending to the first."""
    wf = _workflow(tmp_path, """\
on: {push: {branches: [main]}}
jobs:
  release:
    runs-on: ubuntu-latest
    strategy: {matrix: {base: [debian, alpine]}}
    env:
      VERSION: 1.11.0
      IMAGE: quay.io/acme/notes
    steps:
      - run: echo "TAGS=$IMAGE:${{ env.VERSION }}-${{ matrix.base }},$IMAGE:${{ matrix.base }}" >> $GITHUB_ENV
      - if: ${{ matrix.base == 'debian' }}
        run: echo "TAGS=$TAGS,$IMAGE:${{ env.VERSION }},$IMAGE:latest" >> "$GITHUB_ENV"
      - uses: docker/build-push-action@v6
        with: {push: true, tags: "${{ env.TAGS }}"}
""")
    (image,) = ci.built_images(wf, repository="acme/notes")
    assert image.name == "quay.io/acme/notes" and image.pushed
    assert {p.pattern for p in image.tag_patterns} == {"1.11.0-<matrix.base>", "<matrix.base>", "1.11.0", "latest"}


def test_push_by_digest_with_a_conditional_push_output(tmp_path):
    """`outputs: type=image,push-by-digest=true,push=${{ … }}` pushes (under that condition), as `push: true` does."""
    wf = _workflow(tmp_path, """\
on: [push, pull_request]
env: {REGISTRY_IMAGE: acme/billing}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: docker/build-push-action@v6
        with:
          tags: ${{ env.REGISTRY_IMAGE }}
          outputs: type=image,push-by-digest=true,name-canonical=true,push=${{ github.event_name != 'pull_request' }}
      - uses: docker/build-push-action@v6
        with: {tags: acme/local-only, outputs: "type=docker"}
""")
    images = {i.name: i for i in ci.built_images(wf, repository="acme/billing")}
    assert images["acme/billing"].pushed and images["acme/billing"].push_condition == "github.event_name != 'pull_request'"
    assert images["acme/local-only"].pushed is False


def test_a_release_event_runs_on_its_tag(tmp_path):
    """`on: release`: metadata-action's semver rules read the release's tag (GITHUB_REF refs/tags/<tag>), even with
    `value=${{ github.event.release.tag_name }}`, and `type=raw,value=latest` under a step `if:` on the event."""
    wf = _workflow(tmp_path, """\
on:
  release: {types: [published]}
  push: {branches: [master]}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: meta
        if: github.event_name == 'release' && startsWith(github.event.release.tag_name, '0.')
        uses: docker/metadata-action@v5
        with:
          images: ghcr.io/acme/watch
          tags: |
            type=semver,pattern={{version}},value=${{ github.event.release.tag_name }}
            type=raw,value=latest
      - if: github.event_name == 'release'
        uses: docker/build-push-action@v6
        with: {push: true, tags: "${{ steps.meta.outputs.tags }}"}
""")
    (image,) = ci.built_images(wf, repository="acme/watch")
    assert {(p.pattern, p.event) for p in image.tag_patterns} == {("<version>", "release"), ("latest", "release")}
    assert all(p.applies_when.startswith("published release") for p in image.tag_patterns)


def test_imagetools_tags_from_the_steps_env_that_names_the_workflows_env(tmp_path):
    """`env: RELEASE_TAG: ${{ env.IMAGE }}:release` then `imagetools create --tag "$RELEASE_TAG"`: the step's variable
    is expanded through the workflow's env before the shell reads it."""
    wf = _workflow(tmp_path, """\
on: {push: {branches: [main]}}
env: {IMAGE: ghcr.io/acme/chrome}
jobs:
  publish:
    runs-on: ubuntu-latest
    steps:
      - env:
          RELEASE_TAG: ${{ env.IMAGE }}:release
          VERSION_TAG: ${{ env.IMAGE }}:151.0-r1
        run: |
          docker buildx imagetools create \\
            --tag "$VERSION_TAG" \\
            --tag "$RELEASE_TAG" \\
            "$VERSION_TAG-amd64" "$VERSION_TAG-arm64"
""")
    images = {i.name: i for i in ci.built_images(wf, repository="acme/chrome")}
    assert {p.pattern for p in images["ghcr.io/acme/chrome"].tag_patterns} == {"151.0-r1", "release"}
    assert images["ghcr.io/acme/chrome"].pushed


def test_a_matrix_suffix_in_the_flavor_may_be_empty(tmp_path):
    """`flavor: suffix=${{ matrix.suffix }}` with `suffix: ""` on the main leg: the pushed `latest` is `latest`."""
    wf = _workflow(tmp_path, """\
on: {push: {branches: [main], tags: ['*']}}
jobs:
  build:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        include:
          - {name: main, suffix: ""}
          - {name: open-data, suffix: "-open-data"}
    steps:
      - id: meta
        uses: docker/metadata-action@v5
        with:
          images: acme/recipes
          flavor: |
            latest=auto
            suffix=${{ matrix.suffix }}
          tags: |
            type=semver,pattern={{version}}
            type=ref,event=branch
      - uses: docker/build-push-action@v6
        with: {push: true, tags: "${{ steps.meta.outputs.tags }}"}
""")
    (image,) = ci.built_images(wf, repository="acme/recipes")
    assert {p.pattern for p in image.tag_patterns} == {"<version><matrix.suffix>", "main<matrix.suffix>",
                                                       "latest<matrix.suffix>"}
    assert any(ci.tag_pattern_matches("latest", p) for p in image.tag_patterns)
    assert any(ci.tag_pattern_matches("latest-open-data", p) for p in image.tag_patterns)
    assert not any(ci.tag_pattern_matches("nightly", p) for p in image.tag_patterns)


def test_a_reusable_workflow_runs_with_its_callers_push_to_the_default_branch(tmp_path):
    """`on: workflow_call` (called by CI on a push to main): its `enable=` on refs/heads/main tags are pushed."""
    wf = _workflow(tmp_path, """\
on:
  workflow_call:
  push: {tags: ['v*.*.*']}
jobs:
  release:
    runs-on: ubuntu-latest
    steps:
      - id: meta
        uses: docker/metadata-action@v5
        with:
          images: acme/media
          tags: |
            type=raw,value=full,enable=${{ github.ref == format('refs/heads/{0}', 'main') }}
            type=semver,pattern={{version}}-full
      - uses: docker/build-push-action@v6
        with: {push: true, tags: "${{ steps.meta.outputs.tags }}"}
""")
    (image,) = ci.built_images(wf, repository="acme/media")
    assert {p.pattern for p in image.tag_patterns} >= {"full", "<version>-full"}


def test_metadata_images_one_a_line_with_attributes(tmp_path):
    """`images: |` with `name=ghcr.io/…,enable=true` on each line: the attributes belong to their line (an
    `enable=true` read as an image name made a phantom image)."""
    wf = _workflow(tmp_path, """\
on: {push: {branches: [main]}}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: meta
        uses: docker/metadata-action@v5
        with:
          images: |
            name=ghcr.io/${{ github.repository }},enable=true
            name=acme/off,enable=false
            docker.io/acme/a,docker.io/acme/b
          tags: type=ref,event=branch
      - uses: docker/build-push-action@v6
        with: {push: true, tags: "${{ steps.meta.outputs.tags }}"}
""")
    assert sorted(i.name for i in ci.built_images(wf, repository="acme/photos")) == [
        "docker.io/acme/a", "docker.io/acme/b", "ghcr.io/acme/photos"]


def test_a_repository_without_test_jobs_waits_for_its_linters(tmp_path):
    from tools.ci.gating import gated_by_tests, testing_jobs

    (tmp_path / ".github/workflows").mkdir(parents=True)
    (tmp_path / ".github/workflows/ci.yml").write_text(
        "on: push\njobs:\n  lint:\n    runs-on: ubuntu-latest\n    steps:\n      - run: npx eslint .\n"
        "  image:\n    needs: lint\n    runs-on: ubuntu-latest\n    steps:\n      - run: docker build .\n"
        "  other:\n    runs-on: ubuntu-latest\n    steps:\n      - run: docker build .\n")
    workflows = {wf.rel_path: wf for wf in ci.load_workflows(tmp_path)}
    assert testing_jobs(workflows) == []
    assert testing_jobs(workflows, lint=True) == [(".github/workflows/ci.yml", "lint")]
    wf = workflows[".github/workflows/ci.yml"]
    assert gated_by_tests(wf, "image", workflows, lint=True) and not gated_by_tests(wf, "image", workflows)
    assert not gated_by_tests(wf, "other", workflows, lint=True)


def test_undefined_references_are_judged_per_job_and_case_insensitively(tmp_path):
    (tmp_path / ".github/workflows").mkdir(parents=True)
    (tmp_path / ".github/workflows/ci.yml").write_text(
        "on:\n  workflow_dispatch:\n    inputs:\n      Tag: {type: string}\njobs:\n"
        "  a:\n    runs-on: ubuntu-latest\n    steps:\n      - id: Build\n        run: echo x\n"
        "      - run: echo ${{ steps.build.outputs.x }} ${{ inputs.tag }} ${{ steps.b.outputs.y }}\n"
        "  b:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ steps.build.outputs.x }} ${{ needs.a.outputs.x }}\n")
    wf = ci.load_workflows(tmp_path)[0]
    got = [(r.job, r.text) for r in ci.undefined_references(wf)]
    assert got == [("a", "steps.b.outputs.y"), ("b", "needs.a.outputs.x"), ("b", "steps.build.outputs.x")]
