"""tools/dockerfile: BuildKit parsing, image references, hadolint, diffs, ports, base-image guesses."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from conftest import require_binary

from agent.core.errors import UserError
from sources.git import TOOL_IDENTITY
from tools import dockerfile as df

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "dockerfile"


# ---------------------------------------------------------------- parsing

def test_real_reverse_proxy_dockerfile(realworld):
    info = df.parse_dockerfile(realworld / "anime-saas-reverseproxy" / "Dockerfile")
    assert info.errors == []
    stage = info.final_stage
    assert stage is df.final_stage(info)
    assert (stage.index, stage.name, stage.base_ref, stage.pinned) == (0, None, "nginx:alpine", "tag")
    assert stage.base.repository == "library/nginx" and stage.base.tag == "alpine"
    assert stage.exposes == [(80, "tcp")] and stage.expose_lines[(80, "tcp")] == 7
    assert stage.user is None and stage.healthcheck is None
    assert stage.cmd.argv == ["nginx", "-g", "daemon off;"] and not stage.cmd.shell and stage.cmd.line == 10
    assert [(c.sources, c.dest, c.line) for c in stage.copies] == [(["nginx.conf"], "/etc/nginx/nginx.conf", 4)]
    assert df.stage_listen(stage) is None  # nginx: the port comes from its config


def test_real_api_test_dockerfile(realworld):
    info = df.parse_dockerfile(realworld / "Dockerfile.test")
    assert info.errors == []
    (stage,) = info.stages
    assert stage.name == "test-env"
    assert stage.base.registry == "mcr.microsoft.com" and stage.base.repository == "dotnet/sdk"
    assert stage.workdir == "/app"
    assert [i.start_line for i in stage.instructions if i.cmd == "RUN"] == [7, 10, 13]


def test_multistage_heredocs_args_and_directives():
    info = df.parse_dockerfile(FIX / "multistage.Dockerfile")
    assert info.errors == []
    assert info.directives == {"syntax": "docker/dockerfile:1.7"}
    assert info.args == {"PYTHON": "3.12", "REGISTRY": None}
    build, unresolved, runtime = info.stages
    assert (build.name, build.base_image, build.base_ref, build.pinned) == ("build", "python:${PYTHON}-slim", "python:3.12-slim", "tag")
    # heredocs: the RUN spans 7-9, the COPY heredoc keeps its destination
    run = next(i for i in build.instructions if i.cmd == "RUN")
    assert (run.start_line, run.end_line, run.heredocs) == (7, 9, ["pip install --no-cache-dir -r requirements.txt\n"])
    heredoc_copy = build.copies[1]
    assert (heredoc_copy.heredoc, heredoc_copy.dest, heredoc_copy.line) == (True, "/src/settings.ini", 11)
    # a continuation line keeps the instruction's first and last line
    wheel = [i for i in build.instructions if i.cmd == "RUN"][1]
    assert (wheel.start_line, wheel.end_line) == (16, 17)
    assert (unresolved.base_ref, unresolved.pinned) == (None, "unresolved")
    assert runtime.pinned == "digest" and runtime.name == "runtime"
    assert runtime.user == "app" and runtime.user_line == 24
    assert runtime.exposes == [(5000, "tcp"), (9100, "udp")]
    assert runtime.env == {"PORT": "5000", "APP_ENV": "production"}
    assert runtime.copies[0].from_ == "build"
    assert runtime.healthcheck.test[:2] == ["CMD", "python"]
    assert runtime.healthcheck.options == {"interval": "30s", "timeout": "3s"}
    assert df.stage_listen(runtime) == df.Listen(5000, "0.0.0.0", "flag", "uvicorn")
    assert info.heredoc_end_lines() == [9, 14]


@pytest.mark.parametrize("name, line, text", [
    ("broken.Dockerfile", 3, "unterminated heredoc <<EOF"),
    ("latin1.Dockerfile", 2, "not valid UTF-8"),
    ("empty.Dockerfile", 1, "empty Dockerfile"),
])
def test_bad_files_report_a_line_and_never_raise(name, line, text):
    info = df.parse_dockerfile(FIX / name)
    assert info.errors and info.errors[0].line == line and text in info.errors[0].message


def test_parse_problems_with_lines():
    info = df.parse_dockerfile_text(
        "RUN echo too early\nARG BASE=alpine:3.20\nFROM ${BASE} AS a\nFROOB x\nFROM Nginx:1 AS a\n"
        "EXPOSE eighty\nFROM a\nUSER nobody\nFROM a AS child\nHEALTHCHECK NONE\n"
    )
    found = {(e.line, e.message.split(":")[0].split(" ")[0]) for e in info.errors}
    assert (1, "RUN") in found  # instruction before FROM
    assert (4, "unknown") in found
    assert any(e.line == 5 and "duplicate stage name" in e.message for e in info.errors)
    assert any(e.line == 5 and "lowercase" in e.message for e in info.errors)
    assert any(e.line == 6 and "not a port" in e.message for e in info.errors)
    assert info.stages[0].base_ref == "alpine:3.20"  # global ARG applied before FROM
    # a stage built FROM another inherits its USER
    child = info.stage("child")
    assert child.base_stage == "a" and child.pinned == "stage" and child.healthcheck.disabled
    assert df.parse_dockerfile(Path("/nonexistent/Dockerfile")).errors[0].message.startswith("cannot read")


# ---------------------------------------------------------------- image references

@pytest.mark.parametrize("ref, registry, repository, tag, pin", [
    ("nginx", "docker.io", "library/nginx", None, "untagged"),
    ("nginx:latest", "docker.io", "library/nginx", "latest", "latest"),
    ("nginx:alpine", "docker.io", "library/nginx", "alpine", "tag"),
    ("ghcr.io/stephengodard/anime-saas-api:main-4e8d185", "ghcr.io", "stephengodard/anime-saas-api", "main-4e8d185", "tag"),
    ("localhost:5000/team/app", "localhost:5000", "team/app", None, "untagged"),
    ("mysql:8.0@sha256:" + "a" * 64, "docker.io", "library/mysql", "8.0", "digest"),
    ("bitnami/redis:7.2", "docker.io", "bitnami/redis", "7.2", "tag"),
])
def test_image_references(ref, registry, repository, tag, pin):
    image = df.parse_image_ref(ref)
    assert image.valid, image.error
    assert (image.registry, image.repository, image.tag, df.image_pin(ref)) == (registry, repository, tag, pin)


@pytest.mark.parametrize("ref", ["Nginx:1", "nginx:", "nginx@sha256:abc", "nginx:1 2", "", "-nginx", "a//b"])
def test_invalid_image_references(ref):
    image = df.parse_image_ref(ref)
    assert not image.valid and image.error
    assert df.image_pin(ref) == "invalid"


# ---------------------------------------------------------------- hadolint

def test_hadolint_rules_on_fixture():
    require_binary("hadolint")
    results = df.run_hadolint([Path("lint-me.Dockerfile")], FIX)
    issues = results[Path("lint-me.Dockerfile")]
    rules = {(i.rule, i.line) for i in issues}
    assert {("DL3006", 1), ("DL3008", 2), ("DL3015", 2), ("DL3003", 3)} <= rules
    dl3006 = next(i for i in issues if i.rule == "DL3006")
    assert dl3006.level == "warning" and "tag" in dl3006.message


def test_hadolint_heredoc_limit_is_reported_and_worked_around():
    require_binary("hadolint")
    path = FIX / "heredoc-then-instruction.Dockerfile"
    issues = df.run_hadolint([path], FIX)[path]
    limit = [i for i in issues if i.rule == df.PARSE_LIMIT_RULE]
    assert len(limit) == 1 and limit[0].level == "info" and limit[0].line == 6
    assert not any(i.rule == "DL1000" for i in issues)
    # the rules still ran (on a patched copy) and their lines map back to the original
    rules = {(i.rule, i.line) for i in issues}
    assert ("DL3008", 2) in rules and ("DL3003", 7) in rules


def test_hadolint_one_run_many_files_and_a_missing_one(realworld):
    require_binary("hadolint")
    paths = [FIX / "lint-me.Dockerfile", FIX / "multistage.Dockerfile", FIX / "does-not-exist",
             realworld / "anime-saas-reverseproxy" / "Dockerfile", realworld / "Dockerfile.test",
             FIX / "heredoc-then-instruction.Dockerfile"]
    started = time.monotonic()
    run = df.run_hadolint_full(paths, FIX)
    assert time.monotonic() - started < 5
    assert set(run.results) == set(paths)
    assert [i.rule for i in run.results[FIX / "does-not-exist"]] == [df.COULD_NOT_RUN_RULE]
    assert any(i.rule == "DL3006" for i in run.results[FIX / "lint-me.Dockerfile"])
    assert run.results[realworld / "anime-saas-reverseproxy" / "Dockerfile"] == []


def test_hadolint_failed_run_falls_back_to_one_run_per_file(tmp_path, monkeypatch):
    require_binary("hadolint")
    good, bad = tmp_path / "Dockerfile", tmp_path / "Dockerfile.bad"
    good.write_text("FROM debian\n")
    bad.write_text("FROM debian:12\n")
    real = df.hadolint._hadolint_json
    calls = []

    def flaky(binary, paths, cwd, timeout, config=None):
        calls.append(len(paths))
        if len(paths) > 1 or paths[0] == bad:  # the whole run dies, as with an unreadable file
            return None, "hadolint: withBinaryFile: does not exist"
        return real(binary, paths, cwd, timeout, config)

    monkeypatch.setattr("tools.dockerfile.hadolint._hadolint_json", flaky)
    results = df.run_hadolint([good, bad], tmp_path)
    assert calls == [2, 1, 1]
    assert [i.rule for i in results[good]] == ["DL3006"]
    assert results[bad][0].rule == df.COULD_NOT_RUN_RULE and "withBinaryFile" in results[bad][0].message


def test_hadolint_missing_binary(monkeypatch):
    monkeypatch.setattr("tools.dockerfile.hadolint.hadolint_binary", lambda: None)
    run = df.run_hadolint_full([FIX / "lint-me.Dockerfile"], FIX)
    assert not run.ran and "could not run hadolint" in run.notes[0]
    assert run.results[FIX / "lint-me.Dockerfile"][0].rule == df.COULD_NOT_RUN_RULE


def test_hadolint_in_background():
    require_binary("hadolint")
    started = time.monotonic()
    future = df.start_hadolint([FIX / "lint-me.Dockerfile"], FIX)
    assert time.monotonic() - started < 0.1  # returns at once
    run = future.result(timeout=30)
    assert any(i.rule == "DL3008" for i in run.results[FIX / "lint-me.Dockerfile"])


# ---------------------------------------------------------------- diff

OLD = """ARG NODE=20
FROM node:${NODE}-alpine AS build
WORKDIR /app
COPY package.json .
RUN npm ci && npm run build

FROM node:${NODE}-alpine
COPY --from=build /app/.output /app
EXPOSE 3000
USER node
CMD ["node", "/app/server/index.mjs"]
"""

NEW = """ARG NODE=22
FROM node:${NODE}-alpine AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci && npm run build

FROM node:${NODE}-alpine AS runtime
COPY --from=build /app/.output /app
EXPOSE 8080
HEALTHCHECK CMD wget -qO- http://localhost:8080/ || exit 1
CMD ["node", "/app/server/index.mjs"]
"""


def test_stage_aware_diff():
    diff = df.diff_dockerfile(OLD, NEW)
    assert diff.args_change == {"NODE": ("20", "22")}
    build, runtime = diff.stages
    assert build.label == "build" and build.status == "changed"
    assert build.base_change == ("node:20-alpine", "node:22-alpine")
    assert [(c.old.start_line, c.new.normalized()) for c in build.changed] == [(4, "COPY package.json package-lock.json ./")]
    assert runtime.old.index == 1 and runtime.new.name == "runtime"  # paired by index after the name pass
    assert runtime.name_change == (None, "runtime")
    assert runtime.expose_change == ([(3000, "tcp")], [(8080, "tcp")])
    assert runtime.user_change == ("node", None)
    assert runtime.healthcheck_change == (None, "wget -qO- http://localhost:8080/ || exit 1")
    assert [i.start_line for i in runtime.removed] == [10] and [i.cmd for i in runtime.added] == ["HEALTHCHECK"]
    assert "-EXPOSE 3000" in diff.unified and "+EXPOSE 8080" in diff.unified
    text = "\n".join(diff.summary())
    assert "EXPOSE 3000/tcp -> 8080/tcp" in text and "USER node -> root (default)" in text
    assert diff.to_dict()["stages"][1]["expose_change"] == [["3000/tcp"], ["8080/tcp"]]


def test_diff_matches_stages_by_name_when_reordered():
    old = "FROM alpine:3.19 AS tools\nRUN apk add git\nFROM debian:12 AS app\nUSER app\n"
    new = "FROM debian:12 AS app\nUSER app\nFROM alpine:3.20 AS tools\nRUN apk add git\n"
    app, tools = df.diff_dockerfile(old, new).stages
    assert (app.label, app.status) == ("app", "unchanged")
    assert tools.label == "tools" and tools.base_change == ("alpine:3.19", "alpine:3.20")
    added = df.diff_dockerfile(old, old + "FROM scratch AS export\n").stages[-1]
    assert (added.status, added.label) == ("added", "export")


def _git(cwd: Path, *args: str) -> str:
    import os
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, **TOOL_IDENTITY}).stdout.strip()


def test_diff_service_dockerfile_between_revisions(tmp_path):
    repo = tmp_path / "anime-saas-front"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "Dockerfile").write_text(OLD)
    _git(repo, "add", "Dockerfile")
    _git(repo, "commit", "-qm", "v1")
    first = _git(repo, "rev-parse", "HEAD")
    (repo / "Dockerfile").write_text(NEW)
    _git(repo, "commit", "-qam", "v2")
    diff = df.diff_service_dockerfile(repo, "Dockerfile", first, "HEAD")
    assert diff.stages[1].expose_change == ([(3000, "tcp")], [(8080, "tcp")])
    assert diff.from_rev == first and diff.to_rev == "HEAD"
    (repo / "Dockerfile").write_text(NEW.replace("EXPOSE 8080", "EXPOSE 8081"))
    worktree = df.diff_service_dockerfile(repo, "Dockerfile", "HEAD", None)
    assert worktree.stages[1].expose_change == ([(8080, "tcp")], [(8081, "tcp")])
    assert df.dockerfile_at(repo, first, "Dockerfile") == OLD
    with pytest.raises(UserError, match="unknown revision 'v9'"):
        df.dockerfile_at(repo, "v9", "Dockerfile")
    with pytest.raises(UserError, match="does not exist at"):
        df.dockerfile_at(repo, "HEAD", "docker/Dockerfile")
    with pytest.raises(UserError, match="unknown revision '--all'"):
        df.dockerfile_at(repo, "--all", "Dockerfile")


# ---------------------------------------------------------------- ports and base-image guesses

@pytest.mark.parametrize("command, env, port", [
    (["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "5000"], None, 5000),
    ("uvicorn main:app --port=5001", None, 5001),
    (["gunicorn", "--bind", "0.0.0.0:8000", "app:app"], None, 8000),
    ("gunicorn -b :9000 app:app", None, 9000),
    (["dotnet", "anime-saas-api.dll", "--urls=http://0.0.0.0:8080"], None, 8080),
    (["dotnet", "anime-saas-api.dll"], {"ASPNETCORE_URLS": "http://+:5080"}, 5080),
    (["dotnet", "anime-saas-api.dll"], {"ASPNETCORE_HTTP_PORTS": "8081"}, 8081),
    (["dotnet", "anime-saas-api.dll"], None, 8080),
    ("next start -p 3001", None, 3001),
    (["node", ".output/server/index.mjs"], None, 3000),
    (["node", ".output/server/index.mjs"], {"PORT": "3005"}, 3005),
    ("PORT=4000 node server.js", None, 4000),
    (["sh", "-c", "python -m uvicorn main:app --host 0.0.0.0 --port 5000"], None, 5000),
    (["nginx", "-g", "daemon off;"], None, None),
    (["node", "server.js"], None, None),
    ("npm run start", None, None),
])
def test_port_from_command(command, env, port):
    assert df.port_from_command(command, env) == port


def test_uvicorn_default_binds_loopback():
    assert df.listen_from_command("uvicorn main:app") == df.Listen(8000, "127.0.0.1", "default", "uvicorn")


@pytest.mark.parametrize("ref, curl, wget", [
    ("alpine:3.20", False, True),
    ("node:20-alpine", False, True),
    ("nginx:alpine", True, True),
    ("python:3.12-slim", False, False),
    ("python:3.12", True, True),
    ("node:20", True, True),
    ("debian:12", False, False),
    ("mcr.microsoft.com/dotnet/aspnet:8.0", False, False),
    ("mcr.microsoft.com/dotnet/sdk:8.0", True, True),
    ("gcr.io/distroless/python3-debian12", False, False),
    ("mysql:8.0", True, False),
    ("redis:7", None, None),
    ("nginx:1.27", None, None),
])
def test_image_has_binary_guess(ref, curl, wget):
    assert df.image_has_binary_guess(ref, "curl") is curl
    assert df.image_has_binary_guess(ref, "wget") is wget
    assert df.image_has_binary_guess(None, "curl") is None


def test_hadolint_results_are_cached_by_content(tmp_path, monkeypatch):
    real = require_binary("hadolint")
    log = tmp_path / "calls.log"
    wrapper = tmp_path / "bin" / "hadolint"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr("tools.dockerfile.hadolint.hadolint_binary", lambda: str(wrapper))
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.Dockerfile").write_text("FROM debian\nRUN apt-get install curl\n")
    (repo / "b.Dockerfile").write_text("FROM alpine:3.19\nRUN cd /x\n")
    paths = [Path("a.Dockerfile"), Path("b.Dockerfile")]

    def calls() -> int:
        return len(log.read_text().splitlines()) if log.exists() else 0

    first = df.run_hadolint(paths, repo)
    assert calls() == 1 and {i.rule for i in first[paths[0]]} >= {"DL3006", "DL3008"}
    again = df.run_hadolint(paths, repo)
    assert calls() == 1 and again == first  # nothing changed: nothing run
    (repo / "b.Dockerfile").write_text("FROM alpine:3.19\nWORKDIR /x\n")
    third = df.run_hadolint(paths, repo)
    assert calls() == 2 and "b.Dockerfile" in log.read_text().splitlines()[-1]
    assert "a.Dockerfile" not in log.read_text().splitlines()[-1]  # only the changed file ran
    assert not any(i.rule == "DL3003" for i in third[paths[1]]) and third[paths[0]] == first[paths[0]]
    (repo / ".hadolint.yaml").write_text("ignored: [DL3008]\n")  # its config is an input too
    fourth = df.run_hadolint(paths, repo)
    assert calls() == 3 and not any(i.rule == "DL3008" for i in fourth[paths[0]])


def test_substitute_expands_nested_defaults_as_buildkit_does():
    """`ENV PORT=${APP_PORT:-${PORT:-8000}}` is 8000 when neither is set (a regex stopping at the first `}` read
    `${PORT:-8000` as the value and DKF001 said "EXPOSE $PORT: not a port")."""
    from tools.dockerfile.parse import substitute

    assert substitute("${APP_PORT:-${PORT:-8000}}", {}) == "8000"
    assert substitute("${APP_PORT:-${PORT:-8000}}", {"PORT": "9000"}) == "9000"
    assert substitute("${APP_PORT:-${PORT:-8000}}", {"APP_PORT": "7000"}) == "7000"
    assert substitute("${A:+on-${B}}", {"A": "1", "B": "x"}) == "on-x"
    assert substitute("${A}", {}) is None and substitute("cost: 5$", {}) == "cost: 5$"
    # long and deep inputs stay linear-ish and bounded
    assert substitute("${A:-" * 40 + "x" + "}" * 40, {}) is not None
    assert substitute("$" * 100_000, {}) == "$" * 100_000


def test_substitute_is_linear_on_unclosed_braces():
    import time

    from tools.dockerfile.parse import substitute

    def cost(n: int) -> float:
        start = time.perf_counter()
        substitute("${A:-" * n, {})
        substitute("${A ${B}" * n, {"B": "b"})
        return time.perf_counter() - start
    cost(100)
    small, large = cost(2_000), cost(20_000)
    assert large < 10 * small * 4 + 0.05, (small, large)


def test_a_global_arg_default_that_names_an_earlier_arg_resolves_the_base_image(tmp_path):
    """`ARG PHP_VERSION=8.3` then `ARG BASE_IMAGE=acme/php-fpm:latest-${PHP_VERSION}` then `FROM ${BASE_IMAGE}`: the
    base is acme/php-fpm:latest-8.3 (a false "unresolved variable in image reference" at high before)."""
    from tools.dockerfile.parse import parse_dockerfile_text

    info = parse_dockerfile_text("ARG PHP_VERSION=8.3\nARG BASE_IMAGE=acme/php-fpm:latest-${PHP_VERSION}\n"
                                 "FROM ${BASE_IMAGE}\nUSER www-data\n", "Dockerfile")
    assert info.stages[0].base_ref == "acme/php-fpm:latest-8.3" and info.stages[0].pinned == "tag"


def test_expose_of_an_env_that_holds_an_arg_without_default_is_the_builds_to_pass():
    from tools.dockerfile.parse import parse_dockerfile_text

    info = parse_dockerfile_text("FROM node:22-alpine\nARG PORT\nENV PORT=$PORT\nEXPOSE ${PORT}\n")
    assert info.errors == [] and info.stages[0].exposes == []
    info = parse_dockerfile_text("FROM node:22-alpine\nARG PORT=8000\nENV PORT=$PORT\nEXPOSE ${PORT}\n")
    assert info.errors == [] and info.stages[0].exposes == [(8000, "tcp")]


def test_a_from_whose_build_arg_defaults_to_empty_is_the_builds_to_pass():
    from tools.dockerfile.parse import parse_dockerfile_text

    info = parse_dockerfile_text('ARG distro=""\nFROM docker.io/library/${distro} AS builder\nRUN make\n')
    assert info.errors == [] and info.stages[0].pinned == "unresolved"


@pytest.mark.parametrize("path, text", [
    ("templates/Dockerfile-debian.templ", "FROM php:8.4-apache\n"), ("base/Dockerfile.model", "FROM php:8.3\n"),
    ("Dockerfile", "FROM php:8.4-%%VARIANT%%\nRUN make\n"), ("images/Dockerfile", "FROM php:{PHP_TAG}\n"),
    ("preview/Dockerfile.append", "COPY --from=build /app /app\nRUN make\n"),
])
def test_generator_sources_and_fragments_are_templates(path, text):
    from agent.core.files import is_template

    assert is_template(path, text)


@pytest.mark.parametrize("text", ["FROM alpine:3.20\nRUN echo {FOO} && awk '{NR}' x\n", "FROM ${BASE}\n",
                                  "FROM node:20\nRUN find . -name x -exec rm {} \\;\n", "FROM node:20\nRUN echo a@B@c\n"])
def test_ordinary_dockerfiles_are_no_templates(text):
    from agent.core.files import is_template

    assert not is_template("Dockerfile", text)
