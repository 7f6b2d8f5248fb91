"""Every parser entry point, fed random and near-valid input: it returns, or raises the project's UserError;
never another exception, never in unbounded time. (tools/compose.py is covered by its own tests.)"""
from __future__ import annotations

import csv
import io
import json
import tempfile
import time
from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agent.core import charter as charter_mod
from agent.core.config import CONFIG_NAME, load_config
from agent.core.errors import UserError
from agent.gate import ssh
from sources import loader, notion_export, rules
from sources.provenance import LoadedSource
from tools import changes, ci, dockerfile, environments, facts

BOUND_S = 3.0  # one call on one small input; more is a hang in the making
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def call(fn, *args, **kwargs):
    """`fn(*args)`, a UserError counting as an answer; any other exception fails the test, as does a slow call."""
    start = time.perf_counter()
    try:
        return fn(*args, **kwargs)
    except UserError as exc:
        assert exc.line() and "\n" not in exc.message, f"a user error is one line: {exc.line()!r}"
        return None
    finally:
        elapsed = time.perf_counter() - start
        assert elapsed < BOUND_S, f"{getattr(fn, '__name__', fn)} took {elapsed:.1f}s"


# ------------------------------------------------------------------------------ shared strategies

_ODD_CHARS = "\x00\t\r\x0b\x1b\u2028\ufeff\u00e9\u00b2\u0663\uff11\\\"'`$#{}[]():;,=*?!|&<>@/-+.~ \n"
_chars = st.one_of(st.characters(codec="utf-8"), st.sampled_from(_ODD_CHARS))
junk = st.text(_chars, max_size=120)
big_numbers = st.one_of(st.integers(-10**30, 10**30).map(str), st.just("9" * 5000), st.sampled_from(
    ["0", "-1", "65535", "65536", "00080", "1e9", "0x1F", "1_000", "\u00b2", "\u0663\u0660", "\uff18\uff10", "NaN"]))
words = st.one_of(st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=8),
                  big_numbers, st.text(_chars, min_size=1, max_size=6))


def lines_of(items: st.SearchStrategy[str], max_size: int = 12) -> st.SearchStrategy[str]:
    return st.lists(items, max_size=max_size).map("\n".join)


def spaced(parts: st.SearchStrategy[str], max_size: int = 5) -> st.SearchStrategy[str]:
    return st.lists(parts, max_size=max_size).map(" ".join)


# ------------------------------------------------------------------------------ charter

_HEADINGS = [p for _, prefixes in charter_mod.SECTION_KEYS for p in prefixes] + [
    "Sources de vérité (à charger)", "Priorité des sources", "Garde-fous", "Périmètre de non-intervention"]
_charter_line = st.one_of(
    st.sampled_from(["# Agent: DevOps (Anime SaaS)", "# Agente : Ops ((x)", "# ", "# Agent:", "#  Agent: a (b) (c)"]),
    st.sampled_from(_HEADINGS).map(lambda h: "## " + h),
    st.builds(lambda ind, mark, t: f"{ind}{mark} {t}", st.sampled_from(["", "  ", "\t", " " * 9]),
              st.sampled_from(["-", "*", "+", "1.", "2)", "99999999999999999999."]),
              spaced(st.one_of(words, st.sampled_from([
                  "Notion :", "`docker-compose.yml`", "`.github/workflows/ci.yml`", "(sections : Déploiement, CI)",
                  "Dockerfile (frontend, api)", "\u201cRelease\u201d", "docs/deploiement.md", "si disponible",
                  "toutes les sources", "`", "(", ")", "rules", "a.b.c.d.e.md"])), max_size=8)),
    junk,
)


@SOME
@given(lines_of(_charter_line, 20))
@example("# Agent: a\n## Sources\n- x " + "a." * 20000 + "\n")
def test_charter_text(text):
    parsed = call(charter_mod.parse_charter_text, text, "charter.md")
    if parsed is not None:
        json.dumps(parsed.to_dict())
        parsed.find_clause("guardrails", "prod")


@FEW
@given(st.binary(max_size=300) | lines_of(_charter_line, 12).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_charter_file(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "charter.md"
        path.write_bytes(data)
        call(charter_mod.parse_charter, path)
        call(charter_mod.parse_charter, Path(tmp) / "absent.md")


# ------------------------------------------------------------------------------ config

_yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                          st.text(_chars, max_size=20))
_yaml_values = st.recursive(_yaml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
_CONFIG_KEYS = ["charter", "rules_file", "notion", "environments", "deploy_notes", "extra_globs", "github_repository",
                "max_file_bytes", "approval_ttl_days", "require_product_key", "model", "unknown_key"]
_config_docs = st.dictionaries(st.sampled_from(_CONFIG_KEYS), st.one_of(
    _yaml_values,
    st.fixed_dictionaries({}, optional={"export_dir": _yaml_scalars, "token_env": _yaml_scalars, "extra": _yaml_scalars,
                                        "name": _yaml_scalars, "timeout": _yaml_scalars, "prompt_budget": _yaml_scalars}),
    st.dictionaries(st.text(max_size=6), st.lists(st.text(max_size=10), max_size=3), max_size=3),
), max_size=6)


def _dump(doc) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@FEW
@given(st.one_of(_config_docs.map(_dump), junk, st.just("a: &a [*a]\n")))
@example("max_file_bytes: " + "9" * 5000 + "\n")
def test_config(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / CONFIG_NAME
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        call(load_config, Path(tmp))
        call(load_config, Path(tmp), path)


# ------------------------------------------------------------------------------ Dockerfile

_df_args = st.one_of(words, st.sampled_from([
    "nginx:1.27", "${BASE:-node:20}", "$BASE", "scratch", "build", "AS", "as", "--platform=$BUILDPLATFORM",
    "--from=build", "--chmod=755", "80/tcp", "1-65535", "443/udp", "$PORT", "${PORT:-8080}", "9" * 30, "\u00b2",
    "\u0663", "CMD", "NONE", "--interval=5s", "curl -f http://localhost/", "apt-get install -y curl",
    "pip install flask==3", "uvicorn", "--port", "http.server", "-m", "python", "dotnet", "a.dll", "--bind",
    "0.0.0.0:99999", "USER=x", "ASPNETCORE_URLS=http://+:80", "\\", "&&", "'", '"']))
_df_keyword = st.one_of(st.sampled_from(sorted(dockerfile.KNOWN_INSTRUCTIONS)),
                        st.sampled_from(["from", "Run", "ONBUILD RUN", "FOO", "#", "# escape=`", "# syntax=x"]))


@st.composite
def _df_instruction(draw) -> str:
    keyword = draw(_df_keyword)
    args = draw(st.lists(_df_args, max_size=6))
    form = draw(st.sampled_from(["plain", "json", "broken-json", "continued", "heredoc", "open-heredoc"]))
    if form == "json":
        return f"{keyword} {json.dumps(args, ensure_ascii=False)}"
    if form == "broken-json":
        return f'{keyword} ["{args[0] if args else ""}",'
    if form == "continued":
        return f"{keyword} " + " \\\n    ".join(args)
    if form in ("heredoc", "open-heredoc"):
        word = draw(st.sampled_from(["EOF", "EOT", "'END'", '"X"']))
        body = draw(lines_of(spaced(_df_args), 3))
        close = "\n" + word.strip("'\"") if form == "heredoc" else ""
        return f"{keyword} <<{draw(st.sampled_from(['', '-']))}{word} {' '.join(args[:2])}\n{body}{close}"
    return f"{keyword} {' '.join(args)}"


_dockerfiles = st.one_of(lines_of(st.one_of(_df_instruction(), junk), 14),
                         lines_of(_df_instruction(), 8).map(lambda t: "FROM nginx:1.27 AS base\n" + t))


def _exercise_dockerfile(info) -> None:
    info.to_dict()  # not JSON itself (expose_lines has tuple keys); DockerfileDiff.to_dict() is, below
    for stage in info.stages:
        dockerfile.stage_listen(stage, info)
        stage.installs("curl")
        dockerfile.image_has_binary_guess(stage.base, "curl")
        if stage.healthcheck:
            stage.healthcheck.command_text()


@SOME
@given(_dockerfiles)
@example("FROM a\nEXPOSE \u00b2\n")
@example("FROM a\nEXPOSE " + "9" * 5000 + "\n")
@example('FROM python:3\nCMD ["python", "-m", "http.server", "\u00b2"]\n')
def test_dockerfile_text(text):
    _exercise_dockerfile(call(dockerfile.parse_dockerfile_text, text, "Dockerfile"))


@FEW
@given(st.binary(max_size=200), _dockerfiles)
def test_dockerfile_bytes_and_diff(data, text):
    _exercise_dockerfile(call(dockerfile.parse_dockerfile_text, data + b"\n" + text.encode("utf-8", "replace")))
    diff = call(dockerfile.diff_dockerfile, text, data)
    if diff is not None:
        diff.summary()
        json.dumps(diff.to_dict(), default=str)


@SOME
@given(st.one_of(junk, spaced(_df_args, 3).map(lambda s: s.replace(" ", ""))))
def test_image_refs(ref):
    image = call(dockerfile.parse_image_ref, ref)
    call(dockerfile.image_pin, ref)
    call(dockerfile.image_env, image)
    call(dockerfile.image_has_binary_guess, ref, "wget")
    call(facts.image_key, ref)
    call(facts.image_short_name, ref)


@SOME
@given(st.one_of(junk, spaced(_df_args, 8)), st.lists(_df_args, max_size=6),
       st.dictionaries(st.sampled_from(["PORT", "ASPNETCORE_URLS", "ASPNETCORE_HTTP_PORTS", "FLASK_RUN_PORT", "HOST"]),
                       _df_args, max_size=3))
@example("python -m http.server \u00b2", [], {})
def test_commands_and_ports(script, argv, env):
    call(dockerfile.port_from_command, script, env)
    call(dockerfile.listen_from_command, argv, env)
    call(dockerfile.installed_packages, script)
    call(dockerfile.substitute, script, {k: v for k, v in env.items()})
    call(dockerfile.arg_pairs, argv)


# ------------------------------------------------------------------------------ CI workflows

_expr_tokens = st.sampled_from([
    "github.ref", "==", "!=", "'refs/heads/main'", "&&", "||", "!", "(", ")", "startsWith(github.ref, 'refs/tags/')",
    "github.event_name", "'push'", "success()", "always()", "true", "false", "null", "1.5", "9" * 400,
    "secrets.TOKEN", "vars.X", "format('{0}-{1}', github.ref_name, 'a')", "contains(", ",", "'", "${{", "}}",
    "github.ref_name", "github.head_ref", "github.ref_type", "'it''s'", "<=", "env.X", "github.token"])
expressions = st.one_of(spaced(_expr_tokens, 10), junk)
_globs = st.text(st.sampled_from("ab*?+/![]-.\\"), max_size=12)
_branch_names = st.text(st.sampled_from("ab/-._*"), max_size=20)
_ACTIONS = ["actions/checkout@v4", "actions/checkout@" + "a" * 40, "./local", "../up", "docker://alpine:3",
            "docker://x@sha256:" + "0" * 64, "docker/build-push-action@v5", "docker/metadata-action@v5",
            "appleboy/ssh-action@v1", "o/r/.github/workflows/w.yml@main", "@", ""]
_run_lines = st.one_of(st.sampled_from([
    "docker build -t ghcr.io/o/app:${{ github.sha }} .", "docker buildx build --push --platform linux/amd64 -t a:b .",
    "docker push", "docker push --quiet", "docker push ghcr.io/o/app:latest", "docker tag a:1 b:2", "docker tag a",
    "docker compose -f compose.prod.yml up -d", "ssh deploy@host 'docker compose pull'", "kubectl apply -f k8s/",
    "helm upgrade x ./chart", "rsync -a . u@h:/srv", "echo ${GITHUB_SHA::7}", "docker build -f", "docker",
    "docker image build -t $IMAGE:$(git rev-parse --short HEAD) .", "docker build --tag=x:y --file=Dockerfile ctx"]),
    junk)
_meta_tags = st.lists(st.sampled_from([
    "type=ref,event=branch", "type=ref,event=tag", "type=ref,event=pr", "type=sha,prefix=,format=long",
    "type=raw,value=latest,enable=${{ github.ref == 'refs/heads/main' }}", "type=semver,pattern={{version}}",
    "type=schedule,pattern=nightly", "type=edge,branch=dev", "type=match,pattern=v(.*)", "type=raw,value=-x",
    "type=raw,value={{branch}}-{{sha}}", "type=raw,value=${{ env.TAG }},enable=false", "# comment", "garbage",
    "type=sha,enable=${{ (( }}"]), max_size=5).map("\n".join)
_steps = st.fixed_dictionaries({}, optional={
    "name": _yaml_scalars, "id": st.sampled_from(["meta", "build", ""]), "uses": st.sampled_from(_ACTIONS),
    "run": lines_of(st.one_of(_run_lines, _run_lines.map(lambda r: r + " \\")), 4), "if": expressions,
    "env": st.dictionaries(st.sampled_from(["TAG", "IMAGE", "GITHUB_SHA"]), _yaml_scalars, max_size=2),
    "with": st.fixed_dictionaries({}, optional={
        "tags": st.one_of(_meta_tags, st.just("${{ steps.meta.outputs.tags }}"), _yaml_values),
        "images": st.sampled_from(["ghcr.io/o/app", "name=x,enable=false", "a\nb", ""]),
        "flavor": st.sampled_from(["latest=true", "prefix=p-,suffix=-s", "latest=auto", ""]),
        "push": st.one_of(st.booleans(), expressions), "platforms": _yaml_scalars, "context": _yaml_scalars,
        "file": _yaml_scalars, "target": _yaml_scalars, "script": lines_of(_run_lines, 3), "outputs": _yaml_scalars}),
})
_jobs = st.fixed_dictionaries({}, optional={
    "name": _yaml_scalars, "runs-on": _yaml_values, "if": expressions, "needs": _yaml_values,
    "environment": st.one_of(_yaml_scalars, st.fixed_dictionaries({"name": _yaml_scalars}, optional={"url": _yaml_scalars})),
    "steps": st.one_of(st.lists(st.one_of(_steps, _yaml_scalars), max_size=4), _yaml_scalars),
    "env": st.dictionaries(st.sampled_from(["TAG", "IMAGE", "COMPOSE_FILE"]), _yaml_scalars, max_size=2),
    "uses": st.sampled_from(_ACTIONS), "permissions": _yaml_values, "secrets": _yaml_values})
_filters = st.fixed_dictionaries({}, optional={k: st.one_of(st.lists(_globs, max_size=3), _yaml_scalars)
                                               for k in ci.FILTER_KEYS})
_on = st.one_of(st.sampled_from(["push", "pull_request", "workflow_dispatch", "schedule"]),
                st.lists(st.sampled_from(["push", "pull_request", "release"]), max_size=3),
                st.dictionaries(st.sampled_from(["push", "pull_request", "pull_request_target", "schedule",
                                                 "workflow_dispatch"]),
                                st.one_of(st.none(), _filters, st.lists(st.fixed_dictionaries(
                                    {"cron": _yaml_scalars}), max_size=2)), max_size=3),
                _yaml_values)
_workflow_docs = st.fixed_dictionaries({}, optional={
    "name": _yaml_scalars, "on": _on, "env": st.dictionaries(st.sampled_from(["TAG", "IMAGE"]), _yaml_scalars),
    "jobs": st.one_of(st.dictionaries(st.sampled_from(["build", "deploy-prod", "test", "staging"]),
                                      st.one_of(_jobs, _yaml_scalars), max_size=3), _yaml_scalars)})


@st.composite
def workflow_texts(draw) -> str:
    text = _dump(draw(_workflow_docs))
    if draw(st.booleans()):
        return text
    at = draw(st.integers(0, len(text)))  # near-valid: some junk spliced in
    return text[:at] + draw(junk) + text[at:]


@FEW
@given(st.one_of(workflow_texts(), junk))
@example("on: push\njobs:\n a:\n  steps:\n   - run: docker push --quiet\n")
@example("on: push\njobs:\n a:\n  if: " + "(" * 3000 + "true" + ")" * 3000 + "\n  steps: [{run: x}]\n")
def test_workflow(text):
    wf = call(ci.load_workflow, Path("ci.yml"), ".github/workflows/ci.yml", text)
    if wf is None:
        return
    json.dumps(call(ci.summary, wf, "o/r", validate=True), default=str)
    call(ci.built_images, wf, None, "main")
    call(ci.trigger_contexts, wf)
    for job in wf.jobs.values():
        call(ci.never_runs, wf, job)
    for trigger in wf.triggers.values():
        call(trigger.matches_branch, "main")
    call(environments.workflow_calls, ".github/workflows/ci.yml", text, wf.raw)


@SOME
@given(expressions, _branch_names, st.sampled_from([None, "push", "pull_request", "schedule"]))
@example("!" * 5000 + "true", "main", "push")
@example("(" * 5000 + "true" + ")" * 5000, "main", "push")
def test_expressions(expr, branch, event):
    context = ci.Context(event=event, branch=branch or None)
    assert call(ci.evaluate, expr, context) in (True, False, None)
    call(ci.condition_branches, expr)
    call(ci.strip_expr, expr)


@SOME
@given(_globs, _branch_names, st.one_of(junk, st.sampled_from(["main-<sha>", "<version>", "v<major>.<minor>", "<x"])),
       st.one_of(junk, st.sampled_from(["main-${TAG}", "$$", "${X:-y}-latest", "latest"])))
def test_globs_and_tag_patterns(pattern, branch, tag_pattern, compose_tag):
    call(ci.model._glob_match, pattern, branch)
    call(ci.Trigger("push", branches=[pattern], branches_ignore=["!" + pattern]).matches_branch, branch)
    call(ci.tag_pattern_matches, compose_tag, tag_pattern)
    call(ci.pattern_regex, tag_pattern)
    call(ci.parse_uses, compose_tag)
    call(ci.shell_commands, tag_pattern + "\\\n" + compose_tag)


# ------------------------------------------------------------------------------ patches

_paths = st.one_of(st.sampled_from([
    "x", "a b", "caf\u00e9.txt", "../etc/passwd", "/abs", "dir/file.txt", ".git/config", "\\x", "a\tb", "",
    "docker-compose.yml", "C:/x", "~/x", "a//b", "./a", "a\x00b"]), st.text(_chars, max_size=10))
_quoted = st.sampled_from(['"a/caf\\303\\251"', '"b/\\777"', '"a/\\q"', '"a/x\\"', '"', '"a/\\303"', '"b/t\\tx"'])


@st.composite
def _hunk(draw) -> str:
    body = draw(st.lists(st.one_of(
        st.tuples(st.sampled_from(["-", "+", " "]), st.text(_chars.filter(lambda c: c != "\n"), max_size=20))
        .map("".join), st.sampled_from(["", "\\ No newline at end of file", "--- x", "+++ y", "@@ -1 +1 @@"])),
        max_size=6))
    old = sum(1 for b in body if b[:1] in ("-", " ", ""))
    new = sum(1 for b in body if b[:1] in ("+", " ", ""))
    if draw(st.booleans()):
        old, new = draw(big_numbers), draw(big_numbers)
    return f"@@ -{draw(big_numbers)},{old} +{draw(big_numbers)},{new} @@ ctx\n" + "".join(b + "\n" for b in body)


@st.composite
def _file_diff(draw) -> str:
    a, b = draw(_paths), draw(st.one_of(_paths, _quoted))
    out = draw(st.sampled_from([f"diff --git a/{a} b/{a}\n", f"diff --git {b} {b}\n", f"diff --git a/{a}\n", ""]))
    out += "".join(line + "\n" for line in draw(st.lists(st.sampled_from([
        "new file mode 100644", "deleted file mode 100755", "old mode 100644", "new mode 100755",
        "similarity index 90%", f"rename from {a}", f"rename to {b}", f"copy from {b}", "copy to x",
        "index 123..456 100644", f"Binary files a/{a} and b/{a} differ", "GIT binary patch\nliteral 0\nHcmV?d00001"]),
        max_size=3)))
    if draw(st.booleans()):
        minus = draw(st.sampled_from(["/dev/null", f"a/{a}", b, f"{a}\t2024-01-01 00:00:00"]))
        plus = draw(st.sampled_from(["/dev/null", f"b/{a}", b, a]))
        out += f"--- {minus}\n+++ {plus}\n"
    return out + "".join(draw(st.lists(_hunk(), max_size=3)))


_patches = st.one_of(
    st.lists(_file_diff(), min_size=1, max_size=3).map("".join),
    st.tuples(st.lists(_file_diff(), min_size=1, max_size=2).map("".join), st.sampled_from(["", "-- \n2.40\n"]),
              st.booleans()).map(lambda t: (t[0] + t[1]).replace("\n", "\r\n") if t[2] else t[0] + t[1]),
    junk)


@SOME
@given(_patches)
@example("--- a/x\n+++ b/x\n@@ -1," + "9" * 5000 + " +1 @@\n")
def test_patch(text):
    patch = call(changes.parse_patch, text)
    call(changes.parse_patch, text.encode("utf-8", "surrogatepass"))
    for fp in patch.files if patch else []:
        call(changes.unsafe_path_reason, fp.path)
        assert isinstance(fp.changed_lines, list)


@SOME
@given(st.dictionaries(st.one_of(st.sampled_from(changes.META_FIELDS), st.text(max_size=5)),
                       st.one_of(junk, st.sampled_from(["fix", "INT-13", "Signed-off-by: x", "compose"]), _yaml_scalars),
                       max_size=4), _paths, junk)
def test_metadata_paths_and_ids(meta, path, text):
    call(changes.check_metadata, meta)
    call(changes.unsafe_path_reason, path)
    call(changes.check_proposal_id, text)
    call(changes.compose_service_blocks, text)


# ------------------------------------------------------------------------------ environments

_env_lines = st.one_of(st.sampled_from([
    "COMPOSE = docker compose -f compose.yml -f compose.prod.yml", "F := compose.prod.yml", "F ?= $(F)$(F)",
    "prod:", "deploy-staging: build", "\tdocker compose -f $(F) up -d", "\tdocker-compose -f ${F} --env-file x up",
    "\t$(COMPOSE) up", "export FILE=compose.dev.yml", 'FILE="a b.yml"', "docker compose -f $FILE up \\",
    "  -f ${OTHER:-compose.override.yml} up", "docker compose --file=x.yml -fy.yml -p n up", "```", "~~~",
    "`docker compose -f docs.yml up`", "docker compose -f", "COMPOSE_FILE=a.yml:b.yml", "docker compose up # -f x",
    "A=$B$B$B$B", "B=$A$A$A$A", "docker compose -f $A up", "jobs:", "  deploy:", "    environment: production"]),
    junk)
_compose_names = st.sampled_from(["compose.yml", "docker-compose.yml", "compose.prod.yml", "docker-compose.override.yml",
                                  "sub/compose.yaml", "compose.staging.yml", "x.yml"])


@FEW
@given(lines_of(_env_lines, 14), st.lists(_compose_names, max_size=4),
       st.dictionaries(st.text(max_size=5), st.lists(_compose_names, min_size=1, max_size=2), max_size=2))
def test_environment_discovery(text, compose_files, configured):
    call(environments.makefile_calls, "Makefile", text)
    call(environments.script_calls, "deploy.sh", text)
    call(environments.docs_calls, "docs/deploiement.md", text)
    data, _ = loader.parse_yaml(text)
    call(environments.workflow_calls, ".github/workflows/deploy.yml", text, data)
    sources = [LoadedSource("compose", p, "ok", text="services: {}\n", data={"services": {}, "include": [p]})
               for p in compose_files]
    sources += [LoadedSource(kind, path, "ok", text=text, data=data) for kind, path in [
        ("script", "Makefile"), ("script", "ops/deploy.sh"), ("ci_workflow", "sub/.github/workflows/d.yml"),
        ("docs", "docs/notes.md")]]
    found = call(environments.discover, sources, configured)
    if found is not None:
        found.to_list()


# ------------------------------------------------------------------------------ Notion export, rules

_NOTION_COLUMNS = ["Name", "Nom", "Status", "Statut", "Version", "Target date", "ID", "Release", "", "\ufeffName"]
_cells = st.one_of(junk, st.sampled_from(["En cours", "Validée", "v1.2", "INT-13",
                                          "R1 (https://www.notion.so/x), R2 (https://notion.so/y)", "a, b", "("]))


@st.composite
def notion_csvs(draw) -> str:
    header = draw(st.lists(st.sampled_from(_NOTION_COLUMNS), max_size=5))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for _ in range(draw(st.integers(0, 4))):
        writer.writerow(draw(st.lists(_cells, max_size=len(header) + 1)))
    text = out.getvalue()
    return text if draw(st.booleans()) else text + draw(junk)


@SOME
@given(st.one_of(notion_csvs(), junk))
@example("")
@example("Name\nx,y\n")
def test_notion_export(text):
    releases = call(notion_export.parse_releases, text, "Release 0123abcd.csv") or []
    intentions = call(notion_export.parse_intentions, text, "Intention 0123abcd.csv") or []
    call(notion_export.link, releases, intentions)
    call(loader._parse_database, "Release", text, "r.csv")
    call(loader._parse_database, "Pages", text, "p.csv")
    call(notion_export.relation_titles, text)


_rules_lines = st.one_of(st.sampled_from(["# Règles", "## Déploiement", "### CI ###", "```", "~~~", "####### x", "#",
                                          "## Deploiement et CI"]), junk)


@SOME
@given(lines_of(_rules_lines, 12), st.lists(st.one_of(st.sampled_from(["Déploiement", "CI", ""]), junk), max_size=3))
def test_rules_sections(text, wanted):
    call(rules.markdown_headings, text)
    call(rules.cut_sections, text, wanted)
    call(loader.matches_service, text[:20], text)


# ------------------------------------------------------------------------------ allowed signers

_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIGw3kqVx1b8rMZ6RrQYVQnqGm3Q5uOKbY8cUj0k8m9wL"
_signer_lines = st.one_of(
    st.builds(lambda p, opts, t, k: " ".join([p, *opts, t, k]),
              st.one_of(st.sampled_from(["product@x", "a", "é", "-"]), st.text(_chars, min_size=1, max_size=8)),
              st.lists(st.sampled_from(['namespaces="git,devops-agent"', 'valid-after="2024"', "cert-authority"]),
                       max_size=2),
              st.sampled_from(["ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256"]),
              st.one_of(st.just(_KEY), st.just("é"), st.just("!!!"), st.text(_chars, max_size=12))),
    st.sampled_from([ssh.NO_PASSPHRASE_MARK, "# comment", ""]), junk)


@SOME
@given(lines_of(_signer_lines, 6))
@example("product@x ssh-ed25519 \u00e9\n")
def test_allowed_signers(text):
    signers = call(ssh.parse_signers, text)
    if signers is None:
        return
    for signer in signers:
        call(ssh.fingerprint, signer.public_line)
    ssh.format_signers(signers).encode("ascii")  # what verify() hands ssh-keygen
    assert ssh.parse_signers(ssh.format_signers(signers)) == signers


# ------------------------------------------------------------------------------ facts

_fact_paths = st.sampled_from([
    "docker-compose.yml", ".github/workflows/ci.yml", "sub/.github/actions/a/action.yml", "Makefile", "x.mk",
    "deploy.sh", "entrypoint.sh", "nginx.conf", "site.conf.template", "Dockerfile", "api.Dockerfile", "k8s/app.yaml",
    "Chart.yaml", "main.tf", "job.nomad", "vault.hcl", "docs/deploy.md", "README.md", ".env.prod", ".env.example",
    ".allowed_signers", ".gitmodules", "app.py", "values.json", "ansible.cfg", ""])
_fact_lines = st.one_of(st.sampled_from([
    "FROM --platform=$X nginx:1.27 AS web", "FROM web", "FROM scratch", "services:", "  web:", "    image: grafana/grafana",
    "jobs:", "  a:", "    steps: 5", "    container: {image: 7}", "    services: {db: {image: postgres}}",
    "apiVersion: v1", "kind: Deployment", "items: [{apiVersion: v1, kind: Pod}]", "{{ .Values.x }}", "- hosts: all",
    "  tasks: []", "deploy:", "\tdocker compose up -d", "\t$(DC) up", "DC = docker compose", "\tpytest -q",
    "kubectl apply -f x", "helm install x", "terraform apply", "server { listen 80; }", "events {}", "resource \"x\" {",
    "job \"x\" {", "echo docker run", "# docker run", "mysql -proot", "sqlcmd -P secret", "PGPASSWORD=x psql",
    "redis-cli -a pw", "mongosh --password=x", "no staging, pas de preprod", "deploy-stg", "preProd"]), junk)


@SOME
@given(_fact_paths, lines_of(_fact_lines, 12))
@example(".github/workflows/ci.yml", "jobs:\n  a:\n    steps: 5\n")
@example("Makefile", "a" + " " * 30000 + "x")
def test_facts(path, text):
    call(facts.infra_kind, path, text)
    call(facts.needs_text, path)
    call(facts.tools_in, path, text)
    call(facts.images_in, path, text)
    call(facts.inventory, [(path, text)])
    call(facts.deploy_paths, [path, "compose.yaml"], lambda p: text.encode("utf-8", "surrogateescape"))
    call(facts.kubernetes_kinds, text)
    call(facts.yaml_documents, text)
    call(facts.runs_docker, text)
    call(facts.runs_tests, text)
    call(facts.test_commands, text)
    targets = call(facts.makefile_targets, text) or []
    variables = call(facts.makefile_variables, text) or {}
    for target in targets:
        call(facts.make_target_ok, target, variables)
    call(facts.makefile_is_infra, text)
    call(facts.split_shell, text)
    call(facts.command_line_secret, text)
    call(facts.staging_word, text)
    call(facts.mentions, text, ["staging", "prometheus"])
    call(facts.is_secret_reference, text[:10], text)
    call(facts.tool_of_image, text)
    call(facts.is_real_env_file, text)
    call(facts.is_git_file, text)


@FEW
@given(lines_of(st.one_of(st.sampled_from(["server {", "}", "listen 80;", "include x;", "if ($x) {", "'", '"', "#"]),
                          junk), 6))
def test_nginx_detection(text):
    assert call(facts.is_nginx_text, text) in (True, False)


_service_names = st.lists(st.one_of(st.sampled_from(["anime-saas-front", "api", "mlservice", "ml_scheduler", "web.v2", "db",
                                                     "saas-frontend", "Éditeur-api"]), st.text(_chars, max_size=14)),
                          max_size=8)


@SOME
@given(_service_names, st.one_of(st.sampled_from(["front", "frontend", "api", "ml", "mlservices", "", "sched", "é"]),
                                 st.text(_chars, max_size=10)))
def test_the_service_index_matches_what_matches_service_says(names, hint):
    """XF011 looks a sentence's words up in an index of the services (10,000 services, issue 20, 7): it must
    find exactly the names matches_service accepts."""
    assert loader.ServiceMatcher(names).matching(hint) == {n for n in names if loader.matches_service(hint, n)}
