"""Hostile input through the CLI: each ends in bounded time with exit 1 or 2 and one clear line, never a traceback."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOUND_S = 20.0

# Nine levels of nine aliases: 9**9 values when walked, a few hundred bytes as written.
ALIAS_BOMB = "".join(
    f"x-{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}" if i else '"lol"'] * 9) + "]\n"
    for i in range(9)
)


def _repo(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for rel, content in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "fixture"], check=True)
    return repo


def _cli(*args: str, cwd: Path | None = None) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "COLUMNS": "200"}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=BOUND_S * 3)
    return proc, time.monotonic() - start


def _assert_clean(proc: subprocess.CompletedProcess, elapsed: float) -> None:
    assert elapsed < BOUND_S, f"took {elapsed:.1f}s"
    # A verdict or a one-line refusal, never a crash. (A GO is a verdict too: with the generic charter a repo
    # that names no source is not NO-GO by default; what each input must produce is asserted by its test.)
    assert proc.returncode in (0, 1, 2, 3), (proc.returncode, proc.stderr[-2000:])
    for stream in (proc.stdout, proc.stderr):
        assert "Traceback" not in stream, stream[-3000:]
        assert "internal error" not in stream.lower(), stream[-3000:]
    assert len(proc.stderr.strip().splitlines()) <= 1, proc.stderr


def _review(repo: Path) -> tuple[subprocess.CompletedProcess, float]:
    proc, elapsed = _cli("review", "--repo", str(repo))
    _assert_clean(proc, elapsed)
    return proc, elapsed


def test_alias_bomb_in_compose_is_refused_in_bounded_time(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": ALIAS_BOMB + "services:\n  web:\n    image: nginx:1.25\n    labels: *i\n"})
    proc, _ = _review(repo)
    assert "alias bomb" in proc.stdout + proc.stderr


def test_alias_bomb_in_workflow_is_refused_in_bounded_time(tmp_path: Path) -> None:
    workflow = ("on: push\n" + ALIAS_BOMB +
                "jobs:\n  build:\n    runs-on: ubuntu-latest\n    env: {X: *i}\n    steps:\n      - run: echo hi\n")
    repo = _repo(tmp_path, {"docker-compose.yml": "services:\n  web:\n    image: nginx:1.25\n",
                            ".github/workflows/ci.yml": workflow})
    proc, _ = _review(repo)
    assert "alias bomb" in proc.stdout + proc.stderr


_WEB = "services:\n  web:\n    image: nginx:1.25\n"
_BUILT = "services:\n  web:\n    build: .\n"


def test_million_port_range_is_one_finding(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": _WEB + '    ports: ["1-1000000:1-1000000"]\n'})
    proc, _ = _review(repo)
    assert "invalid containerPort: 1-1000000" in proc.stdout  # Compose's own words


def test_ten_thousand_line_dockerfile_is_bounded(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": _BUILT,
                            "Dockerfile": "FROM alpine:3.19\n" + "RUN echo hi\n" * 10_000 + "USER app\n"})
    _review(repo)


def test_expose_of_every_port_is_linear(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": _BUILT, "Dockerfile": "FROM alpine:3.19\nEXPOSE 1-65535\nUSER app\n"})
    _, elapsed = _review(repo)
    assert elapsed < 10


def test_lone_backslash_line_in_dockerfile(tmp_path: Path) -> None:
    _review(_repo(tmp_path, {"docker-compose.yml": _BUILT, "Dockerfile": "FROM alpine:3.19\n\\\nUSER app\n"}))


@pytest.mark.parametrize("where", ["compose", "workflow"])
def test_deeply_nested_yaml_is_refused(tmp_path: Path, where: str) -> None:
    deep = "[" * 200 + "]" * 200
    files = {"docker-compose.yml": _WEB + (f"    labels:\n      x: {deep}\n" if where == "compose" else "")}
    if where == "workflow":
        files[".github/workflows/ci.yml"] = f"on: push\njobs:\n  b:\n    runs-on: x\n    steps:\n      - run: {deep}\n"
    proc, _ = _review(_repo(tmp_path, files))
    assert "nested more than 64 levels" in proc.stdout


@pytest.mark.parametrize(("extra", "message"), [
    ("    extends: 3\n", 'cannot extend service "web"'),
    ("    links: [1]\n", "services.web.links.[0]: unexpected type int"),
    ("networks: [a, b]\n", "networks must be a mapping"),
    ("    mem_limit: " + "9" * 5000 + "\n", "a value cannot be read"),
    ("    mem_limit: 1e999\n", None),
    ("    mem_limit: 1.0e+999\n", "CMP001"),
])
def test_type_confusion_in_compose_is_one_finding(tmp_path: Path, extra: str, message: str | None) -> None:
    proc, _ = _review(_repo(tmp_path, {"docker-compose.yml": _WEB + extra}))
    if message:
        assert message in proc.stdout


def test_branches_ignore_plus_in_workflow(tmp_path: Path) -> None:
    workflow = ('on:\n  push:\n    branches-ignore: ["+"]\njobs:\n  b:\n    runs-on: ubuntu-latest\n'
                "    steps:\n      - run: docker compose -f docker-compose.yml up -d\n")
    _review(_repo(tmp_path, {"docker-compose.yml": _WEB, ".github/workflows/ci.yml": workflow}))


_CHARTER = ".codex/agents/devops-engineer.md"
_CHARTER_BODY = "\n\n## Sources de vérité (à charger)\n- compose: `docker-compose.yml`\n"


def test_charter_title_with_a_long_blank_run_is_linear(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": _WEB, _CHARTER: "# Agent: x" + " " * 3000 + "y" + _CHARTER_BODY})
    proc, elapsed = _cli("review", "--repo", str(repo))
    assert elapsed < 10 and proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


def test_repo_charter_that_does_not_parse_is_reported(tmp_path: Path) -> None:
    proc, _ = _review(_repo(tmp_path, {"docker-compose.yml": _WEB, _CHARTER: "no title here\n"}))
    assert proc.returncode == 2 and "no title line" in proc.stderr


def test_repo_charter_symlink_loop_is_reported_not_replaced(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": _WEB})
    (repo / _CHARTER).parent.mkdir(parents=True)
    os.symlink("devops-engineer.md", repo / _CHARTER)
    proc, _ = _review(repo)
    assert proc.returncode == 2 and "cannot read" in proc.stderr and "packaged" not in proc.stdout


@pytest.mark.parametrize("source", ["docker-compose.yml", "Dockerfile", ".github/workflows/ci.yml", "rules.md"])
def test_symlink_loop_on_a_source_is_one_status(tmp_path: Path, source: str) -> None:
    files: dict[str, str | bytes] = {"docker-compose.yml": _BUILT}
    if source == "rules.md":
        files[".devops-agent.yaml"] = "rules_file: rules.md\n"
    repo = _repo(tmp_path, files)
    (repo / source).unlink(missing_ok=True)
    (repo / source).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(Path(source).name, repo / source)
    proc, _ = _review(repo)
    assert f"{source} is a symlink loop" in proc.stdout


def test_symlink_loop_as_notion_export(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": _WEB, ".devops-agent.yaml": "notion:\n  export_dir: export\n"})
    os.symlink("export", repo / "export")
    _review(repo)


def test_notion_csv_with_an_extra_column_is_one_status(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {
        "docker-compose.yml": _WEB, ".devops-agent.yaml": "notion:\n  export_dir: notion\n",
        "notion/Release 3f2a9c1e.csv": "\ufeffName,Version,Status\nBeta,0.1,En cours,EXTRA\n",
        "notion/Intention 8b7d4e20.csv": "ID,Name,Release,Status\nINT-1,a,Beta,Validée,x\n",
    })
    proc, _ = _review(repo)
    assert "Release 3f2a9c1e.csv:2: 4 cells, the header has 3" in proc.stdout


def test_quoted_patch_path_with_an_octal_escape_past_a_byte(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": _WEB})
    patch = tmp_path / "p.diff"
    patch.write_text('diff --git "a/x\\777y" "b/x\\777y"\n--- "a/x\\777y"\n+++ "b/x\\777y"\n@@ -1 +1 @@\n-a\n+b\n')
    proc, elapsed = _cli("propose", "--repo", str(repo), "--patch", str(patch),
                         "--reason", "r", "--risk", "r", "--rollback", "r")
    _assert_clean(proc, elapsed)
    assert proc.returncode == 2 and "\\777 is not a byte" in proc.stderr


@pytest.mark.parametrize("shape", ["directory", "symlink loop"])
def test_config_that_is_not_a_file_is_one_line(tmp_path: Path, shape: str) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": _WEB})
    if shape == "directory":
        (repo / ".devops-agent.yaml").mkdir()
    else:
        os.symlink(".devops-agent.yaml", repo / ".devops-agent.yaml")
    proc, _ = _review(repo)
    assert proc.returncode == 2 and "is not a regular file" in proc.stderr


def test_untracked_file_with_a_non_utf8_name(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": _WEB})
    (repo / os.fsdecode(b"bad\xff.txt")).write_text("x")
    _review(repo)
    patch = tmp_path / "p.diff"
    patch.write_text("diff --git a/docker-compose.yml b/docker-compose.yml\n--- a/docker-compose.yml\n"
                     "+++ b/docker-compose.yml\n@@ -1,3 +1,3 @@\n services:\n   web:\n-    image: nginx:1.25\n"
                     "+    image: nginx:1.26\n")
    proc, elapsed = _cli("propose", "--repo", str(repo), "--patch", str(patch), "--reason", "bump nginx to the patched release",
                         "--risk", "nginx config changes between minors", "--rollback", "revert the commit and redeploy")
    assert elapsed < BOUND_S and proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
