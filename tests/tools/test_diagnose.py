"""Incident diagnosis against a real Docker engine (tests/tools/docker_engine.py): every failure a compose
project can show, diagnosed through the real CLI, with proof that nothing was changed and that only GET/HEAD
requests reached the engine; the read-only guard checked for every public method of the SDK classes."""
from __future__ import annotations

import json
import os
import re
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, _git

from tools import diagnose as dg

SECRET = "s3cr3t-Value-9931"
IN_CI = bool(os.environ.get("CI"))  # CI must run these: a missing engine fails there
PROJECT = "diag-shop"  # Compose's default: the project directory's name
COMPOSE = """\
services:
  crashy:
    image: diag/app:1.0
    restart: always
    environment:
      DB_PASSWORD: {secret}
  db:
    image: diag/db:8.0
    healthcheck:
      test: ["CMD-SHELL", "echo db cannot open its data dir; exit 1"]
      interval: 500ms
      retries: 1
  web:
    image: diag/web:${{WEB_TAG:-1.0}}
    depends_on:
      db:
        condition: service_healthy
  worker:
    image: diag/app:1.0
    command: ["/app/worker"]
  cache:
    image: diag/app:1.0
    mem_limit: 8m
  api:
    image: registry.local/diag/api:${{API_TAG}}
    ports: ["18080:80"]
  ghost:
    image: diag/app:1.0
""".format(secret=SECRET)
CRASH_SCRIPT = ("echo 'Traceback (most recent call last):'; echo '  File \"app.py\", line 3, in <module>'; "
                "echo \"KeyError: 'DATABASE_URL' (DB_PASSWORD=$DB_PASSWORD)\"; exit 1")


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def engine():
    from docker_engine import EngineUnavailable, start_engine

    workdir = Path(tempfile.mkdtemp(prefix="diag-", dir="/tmp"))  # a short path: unix sockets have 108 bytes
    try:
        eng = start_engine(workdir)
    except EngineUnavailable as exc:
        if IN_CI:
            pytest.fail(f"CI must run the Docker diagnosis tests: {exc}")
        pytest.skip(f"no Docker engine for the diagnosis tests: {exc}")
    yield eng
    eng.stop()


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    """The compose project: a git repo whose prod environment is docker-compose.prod.yml, API_TAG in .env."""
    root = tmp_path_factory.mktemp("platform") / PROJECT
    root.mkdir()
    (root / "docker-compose.prod.yml").write_text(COMPOSE)
    (root / ".env").write_text("API_TAG=2.1\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "shop")
    return root


def _labels(service: str, project: str = PROJECT, number: int = 1) -> dict:
    return {dg.PROJECT_LABEL: project, dg.SERVICE_LABEL: service, dg.ONEOFF_LABEL: "False",
            "com.docker.compose.container-number": str(number), "com.docker.compose.version": "2.29.0"}


def _wait(what: str, test, timeout: float = 60, required: bool = True) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test():
            return True
        time.sleep(0.3)
    if required:
        raise AssertionError(f"timed out waiting for {what}")
    return False


@pytest.fixture(scope="module")
def scene(engine, shop):
    """The containers as Compose would have labelled them, each failing in its own way (network_mode none)."""
    import docker

    client = engine.client
    base = client.images.get("diag-busybox:base")
    for repo, tag in (("diag/app", "1.0"), ("diag/db", "8.0"), ("diag/web", "1.0"), ("registry.local/diag/api", "2.0")):
        base.tag(repo, tag)
    run = dict(detach=True, network_mode="none")
    made = {}
    made["crashy"] = client.containers.run("diag/app:1.0", ["sh", "-c", CRASH_SCRIPT], name=f"{PROJECT}-crashy-1",
                                           labels=_labels("crashy"), restart_policy={"Name": "always"},
                                           environment={"DB_PASSWORD": SECRET}, **run)
    made["db"] = client.containers.run("diag/db:8.0", ["sleep", "600"], name=f"{PROJECT}-db-1", labels=_labels("db"),
                                       healthcheck={"test": ["CMD-SHELL", "echo db cannot open its data dir; exit 1"],
                                                    "interval": 500_000_000, "retries": 1}, **run)
    made["web"] = client.containers.run("diag/web:1.0", ["sleep", "600"], name=f"{PROJECT}-web-1",
                                        labels=_labels("web"), **run)
    worker = client.containers.create("diag/app:1.0", ["/app/worker"], name=f"{PROJECT}-worker-1",
                                      labels=_labels("worker"), network_mode="none")
    with pytest.raises(docker.errors.APIError):  # the trap: a missing binary fails start, the container stays
        worker.start()
    made["worker"] = worker
    oom_skip = "" if client.info().get("MemoryLimit") else \
        "this kernel refuses memory limits (docker info: MemoryLimit false): no OOM kill to diagnose"
    if not oom_skip:
        made["cache"] = client.containers.run("diag/app:1.0", ["sh", "-c", "x=a; while true; do x=$x$x; done"],
                                              name=f"{PROJECT}-cache-1", labels=_labels("cache"), mem_limit="8m",
                                              memswap_limit="8m", **run)
    made["api"] = client.containers.run("registry.local/diag/api:2.0", ["sleep", "600"], name=f"{PROJECT}-api-1",
                                        labels=_labels("api"), ports={"80/tcp": 18080}, **run)
    others = [client.containers.run("diag/app:1.0", ["sleep", "600"], name="othershop-proxy-1",
                                    labels=_labels("proxy", "othershop"), ports={"8080/tcp": 18080}, **run),
              client.containers.run("diag/app:1.0", ["sleep", "600"], name="othershop-ghost-1",
                                    labels=_labels("ghost", "othershop"), **run)]

    def state(name: str) -> dict:
        return client.api.inspect_container(made[name].id)

    _wait("crashy to restart twice", lambda: state("crashy")["RestartCount"] >= 2)
    _wait("db to be unhealthy", lambda: (state("db")["State"].get("Health") or {}).get("Status") == "unhealthy")
    if not oom_skip and not _wait("cache to be killed", lambda: not state("cache")["State"]["Running"],
                                  required=False):
        oom_skip = "the kernel accepted an 8 MiB limit but did not kill the container within 60s"
    yield {"client": client, "host": engine.host, "made": made, "oom_skip": oom_skip,  # why the OOM case cannot run, or ""
           "others": others, "root": shop}
    for c in [*made.values(), *others]:
        c.remove(force=True)


class RecordingProxy:
    """A unix socket in front of dockerd's that records the HTTP request line of every request it forwards."""

    REQUEST = re.compile(rb"(?m)^([A-Z]+) (/\S*) HTTP/1\.[01]\r$")

    def __init__(self, target: str, path: str) -> None:
        self.target, self.path, self.requests = target, path, []
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                upstream = socket.socket(socket.AF_UNIX)
                upstream.connect(proxy.target)
                back = threading.Thread(target=proxy._pump, args=(upstream, self.request, False), daemon=True)
                back.start()
                proxy._pump(self.request, upstream, True)
                back.join(timeout=30)
                upstream.close()

        self.server = socketserver.ThreadingUnixStreamServer(path, Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while data := src.recv(65536):
                if record:
                    self.requests += [(m.group(1).decode(), m.group(2).decode()) for m in self.REQUEST.finditer(data)]
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        Path(self.path).unlink(missing_ok=True)
        Path(self.path).parent.rmdir()


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "NO_COLOR": "1", **(env or {})}, timeout=180)


def _snapshot(client) -> dict:
    """Each container's identity and configuration (and the state of those that do not restart by themselves)."""
    out = {}
    for c in client.api.containers(all=True):
        info = client.api.inspect_container(c["Id"])
        restarts = (info["HostConfig"].get("RestartPolicy") or {}).get("Name") not in (None, "", "no")
        out[info["Id"]] = {"Name": info["Name"], "Created": info["Created"], "Image": info["Image"],
                           "Config": info["Config"], "HostConfig": info["HostConfig"],
                           "State": None if restarts else {k: v for k, v in info["State"].items() if k != "Health"}}
    return out


@pytest.fixture(scope="module")
def report(scene, tmp_path_factory):
    """One run of the real CLI through the recording proxy: its JSON, the requests it made, the before/after."""
    before = _snapshot(scene["client"])
    sock = str(Path(tempfile.mkdtemp(prefix="diagp-", dir="/tmp")) / "proxy.sock")
    proxy = RecordingProxy(scene["host"].removeprefix("unix://"), sock)
    try:
        r = cli("diagnose", "--repo", str(scene["root"]), "--env", "prod", "--host", f"unix://{sock}",
                "--format", "json")
    finally:
        proxy.close()
    after = _snapshot(scene["client"])
    assert r.returncode == 1, r.stderr  # high-severity causes found
    return {"data": json.loads(r.stdout), "stdout": r.stdout, "requests": proxy.requests, "before": before,
            "after": after}


def _causes(report, service: str, cause_id: str | None = None) -> list[dict]:
    return [c for c in report["data"]["causes"] if c["service"] == service and (cause_id is None or c["id"] == cause_id)]


# ---------------------------------------------------------------- each diagnosis, through the CLI

def test_project_and_services_matched_by_compose_labels(report):
    data = report["data"]
    assert data["project"] == PROJECT and data["env"] == "prod" and data["read_only"] is True
    rows = {row["service"]: row for row in data["services"]}
    assert set(rows) == {"crashy", "db", "web", "worker", "cache", "api", "ghost"}
    assert [c["container"] for c in rows["web"]["containers"]] == [f"{PROJECT}-web-1"]
    assert all(c["container"].startswith(PROJECT) for row in rows.values() for c in row["containers"])
    assert [c["rank"] for c in data["causes"]] == list(range(1, len(data["causes"]) + 1))


def test_crash_loop_with_restart_count_exit_codes_and_the_traceback(report):
    [loop] = _causes(report, "crashy", "DIAG003")
    assert loop["severity"] == "high" and "restarts" in loop["title"]
    assert any(re.search(r"RestartCount=\d+, restart policy always", e) for e in loop["evidence"])
    assert any(re.search(r"last exit codes: 1(, 1)+", e) for e in loop["evidence"])
    [logs] = _causes(report, "crashy", "DIAG009")
    assert "missing-env" in logs["title"]
    quoted = " ".join(logs["evidence"])
    assert "KeyError: 'DATABASE_URL'" in quoted
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z KeyError", quoted)  # with the engine's timestamp


def test_quoted_log_lines_are_redacted(report):
    assert SECRET not in report["stdout"]
    [logs] = _causes(report, "crashy", "DIAG009")
    assert any("DB_PASSWORD=" in e and "redacted" in e for e in logs["evidence"])


def test_unhealthy_with_the_last_health_check_outputs(report):
    [sick] = _causes(report, "db", "DIAG005")
    assert sick["evidence"] and all("exit 1: db cannot open its data dir" in e for e in sick["evidence"])


def test_exit_127_of_a_missing_binary_is_explained(report):
    [down] = _causes(report, "worker", "DIAG002")
    assert "never started" in down["title"] and "command was not found" in down["title"]
    assert any("/app/worker" in e and "no such file" in e.lower() for e in down["evidence"])
    assert down["rank"] < _causes(report, "web", "DIAG008")[0]["rank"]  # a definite cause ranks above a symptom


def test_oom_killed(report, scene):
    if scene["oom_skip"]:
        pytest.skip(scene["oom_skip"])
    [oom] = _causes(report, "cache", "DIAG004")
    assert any("memory limit: 8 MiB" in e for e in oom["evidence"])
    if any("State.OOMKilled=True, exit code 137" in e for e in oom["evidence"]):
        assert oom["rank"] == 1  # the surest cause of all
    else:  # cgroup v1: the engine missed the kernel's notice on this run
        assert "probably" in oom["title"] and any("exit code 137 (SIGKILL)" in e for e in oom["evidence"])
    assert "exited with 137" in _causes(report, "cache", "DIAG002")[0]["title"]


def test_wrong_tag_names_the_env_value_used(report):
    [wrong] = _causes(report, "api", "DIAG006")
    assert "registry.local/diag/api:2.0" in wrong["title"] and "registry.local/diag/api:2.1" in wrong["title"]
    assert any("written registry.local/diag/api:${API_TAG}; API_TAG=2.1" in e for e in wrong["evidence"])


def test_missing_service(report):
    [missing] = _causes(report, "ghost", "DIAG001")
    assert any("othershop" in e for e in missing["evidence"])  # the same service under another project name


def test_port_conflict_with_another_container(report):
    [conflict] = _causes(report, "api", "DIAG007")
    assert "18080/tcp" in conflict["title"]
    assert any("othershop-proxy-1 (running)" in e for e in conflict["evidence"])


def test_service_up_while_its_database_is_unhealthy(report):
    [dep] = _causes(report, "web", "DIAG008")
    assert dep["title"] == "web is up while its database dependency db is unhealthy"
    assert _causes(report, "db", "DIAG005")[0]["rank"] < dep["rank"]  # the dependency is the root cause


def test_nothing_changed_and_only_get_or_head_reached_the_engine(report):
    verbs = {m for m, _ in report["requests"]}
    assert report["requests"] and verbs <= {"GET", "HEAD"}, report["requests"]
    paths = " ".join(p for _, p in report["requests"])
    for read in ("/_ping", "/containers/json", "/json", "/logs", "/events", "/system/df", "/stats", "/images/"):
        assert read in paths, read
    assert report["before"].keys() == report["after"].keys()  # no container created or removed
    for cid, was in report["before"].items():
        now = report["after"][cid]
        assert {k: v for k, v in now.items() if k != "State"} == {k: v for k, v in was.items() if k != "State"}
        if was["State"] is not None:
            assert now["State"] == was["State"], was["Name"]


def test_one_service_markdown_and_text(scene):
    r = cli("diagnose", "--repo", str(scene["root"]), "--host", scene["host"], "--service", "db",
            "--format", "markdown")
    assert r.returncode == 1 and "# Diagnosis: diag-shop (prod)" in r.stdout and "DIAG005" in r.stdout
    assert "crashy" not in r.stdout
    r = cli("diagnose", "--repo", str(scene["root"]), "--host", scene["host"], "--service", "web", "--since", "5m")
    assert "DIAG008" in r.stdout and "remediation:" in r.stdout and SECRET not in r.stdout
    r = cli("diagnose", "--repo", str(scene["root"]), "--host", scene["host"], "--project", "othershop",
            "--service", "ghost", "--format", "json")
    data = json.loads(r.stdout)
    assert data["project"] == "othershop" and not _causes({"data": data}, "ghost", "DIAG001")


def test_the_catalogue_tool_runs_through_the_toolbox(scene, monkeypatch):
    from agent.toolbox import Toolbox, run_tool

    monkeypatch.setenv("DOCKER_HOST", scene["host"])
    box = Toolbox(scene["root"])
    from tools.catalog import tool

    result = tool("diagnose").call(box, {"env": "prod", "service": "crashy"})
    assert {c["id"] for c in result.causes} >= {"DIAG003", "DIAG009"} and result.read_only
    out = run_tool(box, box.redactor(), "diagnose", {"service": "crashy"})
    assert out.ok and SECRET not in out.text
    out = run_tool(box, box.redactor(), "diagnose", {"service": "nope"})
    assert not out.ok and "no service 'nope' in prod" in out.text


# ---------------------------------------------------------------- the read-only guard, for every method

def _sdk_classes():
    import docker
    from docker.models.containers import Container, ContainerCollection
    from docker.models.images import Image, ImageCollection

    return {"DockerClient": docker.DockerClient, "ContainerCollection": ContainerCollection,
            "Container": Container, "ImageCollection": ImageCollection, "Image": Image, "APIClient": docker.APIClient}


def _public(cls, obj=None) -> list[str]:
    """Public names of the class and of an instance (its own attributes: DockerClient.api, APIClient.headers)."""
    names = set(dir(cls)) | (set(vars(obj)) if obj is not None and hasattr(obj, "__dict__") else set())
    return sorted(n for n in names if not n.startswith("_"))


def _offline_objects() -> dict:
    """One instance of each SDK class, built without an engine (a fixed API version makes the client lazy)."""
    import docker
    from docker.models.containers import Container
    from docker.models.images import Image

    client = docker.DockerClient(base_url="unix:///nonexistent/docker.sock", version="1.41")
    return {"DockerClient": client, "ContainerCollection": client.containers,
            "Container": Container(attrs={"Id": "x"}, client=client), "ImageCollection": client.images,
            "Image": Image(attrs={"Id": "x"}, client=client), "APIClient": client.api}


@pytest.fixture
def sent(monkeypatch):
    """Every HTTP request that leaves the SDK (requests' Session.send), as (method, url)."""
    import requests

    calls: list[tuple[str, str]] = []
    real = requests.Session.send

    def send(self, request, **kwargs):
        calls.append((request.method, request.url))
        return real(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)
    return calls


def test_the_guard_covers_every_sdk_class_the_module_reaches():
    assert set(dg.ALLOWED) == set(_sdk_classes())
    objects = _offline_objects()
    for kind, cls in _sdk_classes().items():
        assert dg.ALLOWED[kind] <= set(_public(cls, objects[kind])), f"{kind}: allowed names that do not exist"


def test_every_method_not_allowed_is_refused_before_any_request(scene, sent):
    engine = dg.connect(scene["host"])
    container = engine.containers.get(scene["made"]["web"].id)
    objects = {"DockerClient": engine, "ContainerCollection": engine.containers, "Container": container,
               "ImageCollection": engine.images, "Image": container.image, "APIClient": engine.api}
    real = _offline_objects()
    sent.clear()
    refused = 0
    for kind, cls in _sdk_classes().items():
        for name in _public(cls, real[kind]):
            if name in dg.ALLOWED[kind]:
                continue
            with pytest.raises(dg.ReadOnlyViolation, match=re.escape(f"{kind}.{name}")):
                getattr(objects[kind], name)
            refused += 1
    assert not sent and refused > 150  # create, remove, kill, restart, exec_run, prune, push, networks, ...
    for obj in objects.values():
        with pytest.raises(dg.ReadOnlyViolation):
            obj.attrs = {}
    engine.close()


def test_every_allowed_method_is_a_get_or_head(scene, sent):
    engine = dg.connect(scene["host"])
    cid = scene["made"]["web"].id
    now = time.time()
    c = engine.containers.get(cid)
    img = c.image
    calls = {
        "DockerClient": {"ping": lambda: engine.ping(), "version": lambda: engine.version(),
                         "info": lambda: engine.info(), "df": lambda: engine.df(),
                         "events": lambda: list(engine.events(since=now - 5, until=now, decode=True)),
                         "containers": lambda: engine.containers, "images": lambda: engine.images,
                         "api": lambda: engine.api, "close": lambda: None},
        "ContainerCollection": {"get": lambda: engine.containers.get(cid),
                                "list": lambda: engine.containers.list(all=True)},
        "Container": {"attrs": lambda: c.attrs, "id": lambda: c.id, "short_id": lambda: c.short_id,
                      "name": lambda: c.name, "labels": lambda: c.labels, "status": lambda: c.status,
                      "health": lambda: c.health, "image": lambda: c.image, "ports": lambda: c.ports,
                      "logs": lambda: c.logs(tail=5, timestamps=True, until=now),
                      "stats": lambda: c.stats(stream=False, one_shot=True), "reload": lambda: c.reload()},
        "ImageCollection": {"get": lambda: engine.images.get("diag/web:1.0"), "list": lambda: engine.images.list()},
        "Image": {"attrs": lambda: img.attrs, "id": lambda: img.id, "short_id": lambda: img.short_id,
                  "tags": lambda: img.tags, "labels": lambda: img.labels, "reload": lambda: img.reload()},
        "APIClient": {"ping": lambda: engine.api.ping(), "version": lambda: engine.api.version(),
                      "info": lambda: engine.api.info(), "df": lambda: engine.api.df(),
                      "events": lambda: list(engine.api.events(since=now - 5, until=now, decode=True)),
                      "containers": lambda: engine.api.containers(all=True),
                      "inspect_container": lambda: engine.api.inspect_container(cid),
                      "logs": lambda: engine.api.logs(cid, tail=5), "stats": lambda: engine.api.stats(cid, stream=False),
                      "images": lambda: engine.api.images(), "inspect_image": lambda: engine.api.inspect_image(img.id),
                      "base_url": lambda: engine.api.base_url, "api_version": lambda: engine.api.api_version,
                      "close": lambda: None},
    }
    assert {k: set(v) for k, v in calls.items()} == {k: set(v) for k, v in dg.ALLOWED.items()}
    sent.clear()
    for kind, table in calls.items():
        for name, call in table.items():
            result = call()
            assert not (dg._sdk_kind(result) and not isinstance(result, dg.ReadOnly)) or \
                dg._sdk_kind(result) in dg.DATA_KINDS, f"{kind}.{name} leaked an unguarded SDK object"
    methods = {m for m, _ in sent}
    assert sent and methods <= dg.READ_VERBS, sent
    engine.close()


def test_the_transport_refuses_writes_even_past_the_proxy(sent):
    import docker

    api = docker.APIClient(base_url="unix:///nonexistent/docker.sock", version="1.41")
    dg.refuse_writes(api)
    for verb in ("post", "put", "delete", "patch"):
        with pytest.raises(dg.ReadOnlyViolation, match=f"HTTP {verb.upper()}"):
            getattr(api, verb)(api._url("/containers/x/kill"))
    with pytest.raises(dg.ReadOnlyViolation):
        api.kill("x")
    assert not sent


# ---------------------------------------------------------------- without an engine

def test_no_engine_is_one_line_exit_2(shop, tmp_path):
    r = cli("diagnose", "--repo", str(shop), "--host", f"unix://{tmp_path}/none.sock")
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"devops-agent: no Docker engine at unix://{tmp_path}/none.sock")
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--since", "yesterday"], "--since 'yesterday' is not a duration or a time"),
    (["--env", "staging"], "unknown environment 'staging'"),
    (["--service", "nope"], "no service 'nope' in prod"),
])
def test_bad_input_is_one_line_exit_2_before_any_connection(shop, tmp_path, args, message):
    r = cli("diagnose", "--repo", str(shop), "--host", f"unix://{tmp_path}/none.sock", *args)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr


def test_the_docker_sdk_is_imported_lazily():
    code = ("import sys, tools.diagnose, tools.catalog, agent.commands.diagnose; "
            "assert 'docker' not in sys.modules, 'docker imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- pure helpers

def test_since_durations_and_times():
    assert dg.parse_since("30m", now=10_000.0) == 8_200.0
    assert dg.parse_since("2h", now=10_000.0) == 2_800.0
    assert dg.parse_since("90s", now=100.5) == 10.5
    assert dg.parse_since("2025-05-01T10:00:00Z") == 1746093600.0
    with pytest.raises(dg.UserError):
        dg.parse_since("soon")


def test_image_variables_from_compose_resolution():
    assert dg.image_variables("reg/api:${API_TAG}", "reg/api:2.1") == {"API_TAG": "2.1"}
    assert dg.image_variables("${REG:-ghcr.io}/api:main-${TAG}", "ghcr.io/api:main-abc") == \
        {"REG": "ghcr.io", "TAG": "abc"}
    assert dg.image_variables("api:1.0", "api:1.0") == {}
    assert dg.image_variables("api:$$x${T}", "api:$x7") == {"T": "7"}


def test_exit_codes_are_explained():
    assert "OOM" in dg.explain_exit(137, oom_killed=True)
    assert "SIGKILL" in dg.explain_exit(137)
    assert "not found" in dg.explain_exit(127) and "cannot be executed" in dg.explain_exit(126)
    assert "could not be run" in dg.explain_exit(125) and "segmentation" in dg.explain_exit(139)
    assert "SIGTERM" in dg.explain_exit(143) and "application failed" in dg.explain_exit(1)
    assert dg.explain_exit(130 + 4) == dg.EXIT_CODES[134]


def test_project_name_defaults_as_compose_does():
    class Project:
        def __init__(self, name, project_dir):
            self.name, self.project_dir = name, project_dir

    assert dg.project_name_of(Project("shop", "/x/y")) == "shop"
    assert dg.project_name_of(Project("", "/srv/Anime.Saas_Platform")) == "animesaas_platform"


def test_normalised_images():
    assert dg.normalise_image("nginx") == "docker.io/library/nginx:latest"
    assert dg.normalise_image("docker.io/library/nginx:1.27") == "docker.io/library/nginx:1.27"
    assert dg.normalise_image("ghcr.io/o/api:2") != dg.normalise_image("ghcr.io/o/api:3")


def test_scrub_removes_known_secrets_and_secret_pairs():
    line = f"connect mysql://app:{SECRET}@db/x failed; API_TOKEN=abcd1234 password={SECRET}"
    out = dg.scrub(line, [SECRET])
    assert SECRET not in out and "abcd1234" not in out and "mysql://app:" in out


# ---------------------------------------------------------------- over ssh, without paramiko (issue 22, 7)

@pytest.fixture(scope="module")
def sshd(engine, tmp_path_factory):
    """Debian's sshd on 127.0.0.1, its own keys and config; the key it accepts runs `docker` against the test
    engine (DOCKER_HOST set by authorized_keys), and an `ssh` first on PATH reads the client's own config."""
    import shutil

    daemon = "/usr/sbin/sshd" if Path("/usr/sbin/sshd").is_file() else shutil.which("sshd")
    if daemon is None or shutil.which("ssh") is None or shutil.which("docker") is None:
        why = "sshd, ssh or the docker CLI is missing (apt-get install openssh-server openssh-client docker.io)"
        if IN_CI:
            pytest.fail(f"CI must run diagnose over ssh: {why}")
        pytest.skip(why)
    d = Path(tempfile.mkdtemp(prefix="diagssh-", dir="/tmp"))
    for key in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
    (d / "authorized_keys").write_text(f'environment="DOCKER_HOST={engine.host}" ' + (d / "client.pub").read_text())
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()
    (d / "sshd_config").write_text(
        f"Port {number}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
        f"PermitUserEnvironment yes\nPidFile {d / 'sshd.pid'}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "PermitRootLogin prohibit-password\n")
    (d / "ssh_config").write_text(f"Host *\n  IdentityFile {d / 'client'}\n  UserKnownHostsFile /dev/null\n"
                                  "  StrictHostKeyChecking no\n  LogLevel ERROR\n  BatchMode yes\n")
    bindir = d / "bin"
    bindir.mkdir()
    (bindir / "ssh").write_text(f"#!/bin/sh\nexec {shutil.which('ssh')} -F {d / 'ssh_config'} \"$@\"\n")
    (bindir / "ssh").chmod(0o755)
    try:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    except OSError as exc:
        if IN_CI:
            pytest.fail(f"CI must run diagnose over ssh: /run/sshd cannot be made ({exc})")
        pytest.skip(f"sshd needs /run/sshd, which this user cannot make ({exc})")
    proc = subprocess.Popen([daemon, "-D", "-e", "-f", str(d / "sshd_config")], stderr=open(d / "sshd.log", "w"))
    try:
        _wait("sshd", lambda: socket.socket().connect_ex(("127.0.0.1", number)) == 0, timeout=20)
        import getpass

        yield {"host": f"ssh://{getpass.getuser()}@127.0.0.1:{number}", "path": f"{bindir}:{os.environ.get('PATH', '')}"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_diagnose_over_ssh_uses_the_systems_ssh_when_paramiko_is_absent(scene, sshd):
    import importlib.util

    assert importlib.util.find_spec("paramiko") is None, "the default install has no paramiko"
    r = cli("diagnose", "--repo", str(scene["root"]), "--env", "prod", "--host", sshd["host"], "--format", "json",
            env={"PATH": sshd["path"]})
    assert r.returncode == 1, r.stderr  # the same high-severity causes as over the socket
    data = json.loads(r.stdout)
    assert data["project"] == PROJECT and data["read_only"] is True
    assert {c["service"] for c in data["causes"]} >= {"crashy", "db", "worker"}
    # a host that does not answer is one line, exit 2
    bad = cli("diagnose", "--repo", str(scene["root"]), "--env", "prod", "--host", "ssh://root@127.0.0.1:1",
              env={"PATH": sshd["path"]})
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "ssh://root@127.0.0.1:1" in bad.stderr, bad.stderr
