"""Shared helpers of the gate's end-to-end tests: real CLI, real git, real submodules, real ssh-keygen.

The agent's side of a test (plain git, planted files, a resealed state row) uses `agent_git` and friends;
Product's legitimate steps (`approve --key`, `reject --key`, `block --key`) use the `cli` helper with the
Product key. Nothing of the agent's side ever reads the Product key file."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.example import init_example

SUB = "anime-saas-mlservice"
IDENTITY = ["-c", "user.name=agent", "-c", "user.email=agent@example.org"]
# The agent's own plain git: its planted hooks would fire in its own commands too, so it switches them off.
QUIET = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "commit.gpgsign=false",
         "-c", "log.showSignature=false"]
CLEAN_ENV = {"GIT_NO_REPLACE_OBJECTS": "1", "GIT_GRAFT_FILE": os.devnull}

GOOD = ["--reason", "the mlscheduler must restart by itself after a crash (INT-13)",
        "--risk", "a crash loop restarts forever and hides the error in the logs",
        "--rollback", "revert the commit to remove `restart: unless-stopped` from docker-compose.prod.yml"]
SUB_META = ["--reason", "label the image with its source for the registry",
            "--risk", "none for the runtime: a label only",
            "--rollback", "revert the commit in anime-saas-mlservice/Dockerfile"]
RESTART = ("docker-compose.prod.yml", "main-${IMAGE_TAG_MLSCHEDULER}\n",
           "main-${IMAGE_TAG_MLSCHEDULER}\n    restart: unless-stopped\n")
LABEL = (f"{SUB}/Dockerfile", "EXPOSE 8000", "EXPOSE 8000\nLABEL org.opencontainers.image.source=mlservice")


def git(cwd: Path, *args: str, check: bool = True, env: dict | None = None) -> str:
    """The agent's (and the test's) plain git, with replace refs and grafts ignored so asserts see the objects."""
    return subprocess.run(["git", *IDENTITY, *QUIET, *args], cwd=cwd, capture_output=True, text=True, check=check,
                          env={**os.environ, **CLEAN_ENV, **(env or {})}).stdout


def git_bytes(cwd: Path, *args: str) -> bytes:
    return subprocess.run(["git", *QUIET, *args], cwd=cwd, capture_output=True, check=True,
                          env={**os.environ, **CLEAN_ENV}).stdout


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def blob_sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def committed(repo: Path, rev: str, path: str) -> bytes:
    return git_bytes(repo, "cat-file", "blob", f"{rev}:{path}")


class Env:
    """The machine of a test module: one DEVOPS_AGENT_HOME (machine secret), the demo Product key."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.home = base / "home"
        self.key = base / "keys" / "product"  # Product's: only Product's own steps pass it

    def env(self, extra: dict | None = None) -> dict:
        return {**os.environ, "NO_COLOR": "1", "DEVOPS_AGENT_HOME": str(self.home), **(extra or {})}

    def cli(self, repo: Path, *args: str, env: dict | None = None, stdin: str | None = None,
            timeout: int = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "agent.cli", *args, "--repo", str(repo)], capture_output=True,
                              text=True, input=stdin if stdin is not None else "", env=self.env(env),
                              cwd=str(Path(__file__).resolve().parents[2]), timeout=timeout)


def build_template(base: Path) -> tuple[Path, Env]:
    env = Env(base)
    repo = init_example(base / "animesphere")
    r = env.cli(repo, "product-key", "init", "--identity", "product@animesphere", "--out", str(env.key),
                "--no-passphrase")
    assert r.returncode == 0, r.stderr
    shutil.rmtree(repo / ".devops-agent", ignore_errors=True)
    return repo, env


def copy_repo(template: Path, dst: Path) -> Path:
    shutil.copytree(template, dst, symlinks=True)
    return dst


def make_patch(repo: Path, rel: str, old: str, new: str, out: Path) -> Path:
    """A platform-relative unified diff of one edit, made with git and the file restored."""
    path = repo / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1))
    first = rel.split("/")[0]
    if (repo / first / ".git").exists():
        diff = git(repo / first, "diff", f"--src-prefix=a/{first}/", f"--dst-prefix=b/{first}/")
        git(repo / first, "checkout", "-q", "--", rel[len(first) + 1:])
    else:
        diff = git(repo, "diff", "--", rel)
        git(repo, "checkout", "-q", "--", rel)
    out.write_text(diff)
    return out


def agent_key(dst: Path) -> Path:
    """A key the agent made itself (it knows its passphrase: none)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "agent", "-f", str(dst)], check=True)
    return dst


def hand_commit(repo: Path, message: str, *paths: str) -> str:
    git(repo, "add", "--", *paths) if paths else None
    git(repo, "commit", "-q", "-m", message)
    return head(repo)


# The agent reseals a state row with the machine secret it can read (same Unix user).
RESEAL = r'''
import json, sqlite3, sys
from agent.gate.store import _mac
db = sqlite3.connect(sys.argv[1]); table, key, value = sys.argv[2], sys.argv[3], sys.argv[4]
changes = json.loads(sys.argv[5])
cur = db.execute(f"SELECT * FROM {table} WHERE {key} = ?", (value,)); cols = [d[0] for d in cur.description]
row = dict(zip(cols, cur.fetchone())); row.pop("mac"); row.update(changes)
row["mac"] = _mac(table, row)
db.execute(f"UPDATE {table} SET " + ", ".join(f"{c} = ?" for c in row if c != key) + f" WHERE {key} = ?",
           (*[v for c, v in row.items() if c != key], value))
db.commit()
'''


def reseal(env: Env, repo: Path, table: str, key: str, value: str, changes: dict) -> None:
    r = subprocess.run([sys.executable, "-c", RESEAL, str(repo / ".devops-agent" / "state.db"), table, key, value,
                        json.dumps(changes)], capture_output=True, text=True, env=env.env(),
                       cwd=str(Path(__file__).resolve().parents[2]))
    assert r.returncode == 0, r.stderr


def race(target, arg_tuples: list[tuple], timeout: float = 60) -> list[str]:
    """Start one spawned process per argument tuple, release them at once (`target(*args, start, results)`
    waits on `start` and puts its outcome in `results`), and return the outcomes sorted."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, start, results)) for args in arg_tuples]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout)
    return sorted(results.get(timeout=5) for _ in procs)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The example platform with its Product key, built once per test module (fixtures a module imports by name)."""
    return build_template(tmp_path_factory.mktemp("platform"))


@pytest.fixture
def repo(template, tmp_path):
    """A fresh copy of the template for one test: (platform path, Env)."""
    platform, env = template
    return copy_repo(platform, tmp_path / "animesphere"), env
