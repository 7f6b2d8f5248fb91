"""Issue 19: attacks an adversary found once the gate was built, each through `devops-agent verify`.
The on-disk verdict cache is the user's, so only `review` (advice) reads it: `verify` (CI) and the commands that
lead to a Product signature judge from git alone. A gitlink turned into a file, and a compose file the committed
`.env` names (COMPOSE_FILE), are infra changes too."""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from gate_helpers import build_template, hand_commit  # noqa: E402


def test_verify_ignores_a_forged_cache_that_review_filled(tmp_path):
    repo, env = build_template(tmp_path)
    compose = repo / "docker-compose.prod.yml"
    compose.write_text(compose.read_text() + "# privileged: true (hand edit)\n")
    sha = hand_commit(repo, "chore: tidy", "docker-compose.prod.yml")
    assert env.cli(repo, "review").returncode == 1  # review reads and fills the cache
    db_path = env.home / "cache" / "verify" / "verdicts.sqlite3"
    assert db_path.exists()
    db = sqlite3.connect(db_path)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    # the agent rewrites every cached row of its commit: signed, touching nothing
    for table in tables:
        columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
        if "status" in columns:
            db.execute(f"UPDATE {table} SET status='signed', principal='product@animesphere', detail='' "
                       "WHERE key LIKE ?", (f"%{sha}%",))
        if "paths" in columns:
            db.execute(f"UPDATE {table} SET paths='[]' WHERE key LIKE ?", (f"%{sha}%",))
    db.commit()
    db.close()
    r = env.cli(repo, "verify")
    assert r.returncode == 1 and sha[:12] in r.stdout and "unsigned" in r.stdout, r.stdout + r.stderr


def test_a_submodule_pointer_replaced_by_a_file_is_an_infra_change(tmp_path):
    import shutil
    import subprocess

    def git(cwd, *args):
        subprocess.run(["git", "-c", "user.name=a", "-c", "user.email=a@a", "-c", "protocol.file.allow=always",
                        *args], cwd=cwd, check=True, capture_output=True)

    repo, env = build_template(tmp_path)
    extra = tmp_path / "extra"
    extra.mkdir()
    git(extra, "init", "-q")
    (extra / "notes.txt").write_text("a tool nobody deploys\n")
    git(extra, "add", "-A")
    git(extra, "commit", "-q", "-m", "extra")
    git(repo, "submodule", "add", "-q", str(extra), "extra")
    hand_commit(repo, "chore: add a submodule")  # unsigned too, and reported; the next commit is the point
    git(repo, "rm", "-q", "--cached", "extra")
    shutil.rmtree(repo / "extra")
    (repo / "extra").write_text("placeholder\n")
    sha = hand_commit(repo, "chore: replace the submodule by a file", "extra")
    r = env.cli(repo, "verify")
    assert r.returncode == 1 and sha[:12] in r.stdout, r.stdout + r.stderr


def test_a_compose_file_the_committed_env_names_makes_its_mounts_infra(tmp_path):
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    repo, env = build_template(tmp_path)
    (repo / "deploy" / "conf").mkdir(parents=True)
    (repo / "deploy" / "prod.yml").write_text("services:\n  web:\n    image: nginx:1.27.3\n"
                                              "    volumes: ['./conf/app.ini:/etc/app.ini:ro']\n")
    (repo / "deploy" / "conf" / "app.ini").write_text("admin = off\n")
    (repo / ".env").write_text("COMPOSE_FILE=deploy/prod.yml\n")
    git("add", "-f", "deploy", ".env")
    git("-c", "gpg.format=ssh", "-c", f"user.signingkey={env.key}", "-c", "gpg.ssh.program=ssh-keygen",
        "commit", "-q", "-S", "-m", "ops: the compose file .env names")
    assert env.cli(repo, "verify").returncode == 0
    (repo / "deploy" / "conf" / "app.ini").write_text("admin = on\n")
    sha = hand_commit(repo, "chore: settings", "deploy/conf/app.ini")
    r = env.cli(repo, "verify")
    assert r.returncode == 1 and sha[:12] in r.stdout, r.stdout + r.stderr
