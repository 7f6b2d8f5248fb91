"""The change gate end to end through the real CLI, real git, real submodules and real ssh-keygen:
Product signs the exact commits a proposal produces, apply verifies and fast-forwards, rollback
fast-forwards to the signed revert, and verify finds every infra commit no signer signed."""
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
IDENTITY = ["-c", "user.name=someone", "-c", "user.email=someone@example.org"]


def git(cwd: Path, *args: str, check: bool = True) -> str:
    return subprocess.run(["git", *IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=check).stdout


def cli(repo: Path, *args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args, "--repo", str(repo)], capture_output=True,
                          text=True, input=stdin if stdin is not None else "",
                          env={**os.environ, "NO_COLOR": "1", **(env or {})})


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, Path]:
    """The example platform with Product's demo key (no passphrase) as its trust root."""
    base = tmp_path_factory.mktemp("tpl")
    repo = init_example(base / "animesphere")
    key = base / "keys" / "product"
    r = cli(repo, "product-key", "init", "--identity", "product@animesphere", "--out", str(key), "--no-passphrase",
            env={"DEVOPS_AGENT_HOME": str(base / "home")})
    assert r.returncode == 0, r.stderr
    shutil.rmtree(repo / ".devops-agent", ignore_errors=True)
    return repo, key


@pytest.fixture
def repo(template, tmp_path) -> Path:
    dst = tmp_path / "animesphere"
    shutil.copytree(template[0], dst, symlinks=True)
    return dst


@pytest.fixture
def key(template) -> Path:
    return template[1]


def make_patch(repo: Path, rel: str, old: str, new: str, tmp: Path) -> Path:
    """A platform-relative unified diff of one edit, made with git and the file restored."""
    path = repo / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    sub = rel.split("/")[0] if (repo / rel.split("/")[0] / ".git").exists() else None
    if sub:
        diff = git(repo / sub, "diff", f"--src-prefix=a/{sub}/", f"--dst-prefix=b/{sub}/")
        git(repo / sub, "checkout", "-q", "--", rel[len(sub) + 1:])
    else:
        diff = git(repo, "diff", "--", rel)
        git(repo, "checkout", "-q", "--", rel)
    out = tmp / f"{abs(hash((rel, new)))}.diff"
    out.write_text(diff)
    return out


GOOD = ["--reason", "the mlscheduler must restart by itself after a crash (INT-13)",
        "--risk", "a crash loop restarts forever and hides the error in the logs",
        "--rollback", "revert the commit to remove `restart: unless-stopped` from docker-compose.prod.yml"]


def restart_patch(repo: Path, tmp: Path) -> Path:
    return make_patch(repo, "docker-compose.prod.yml", "main-${IMAGE_TAG_MLSCHEDULER}\n",
                      "main-${IMAGE_TAG_MLSCHEDULER}\n    restart: unless-stopped\n", tmp)


def sub_patch(repo: Path, tmp: Path) -> Path:
    return make_patch(repo, f"{SUB}/Dockerfile", "EXPOSE 8000", "EXPOSE 8000\nLABEL org.opencontainers.image.source=mlservice", tmp)


def propose(repo: Path, patch: Path, *meta: str, scope: str = "compose") -> dict:
    r = cli(repo, "propose", "--patch", str(patch), *(meta or GOOD), "--scope", scope, "--format", "json")
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def approve(repo: Path, pid: str, key: Path, **kw) -> subprocess.CompletedProcess:
    return cli(repo, "approve", pid, "--key", str(key), "--yes", **kw)


def approved(repo: Path, tmp: Path, key: Path, patch: Path | None = None) -> str:
    rec = propose(repo, patch or restart_patch(repo, tmp))
    assert rec["status"] == "pending", rec
    r = approve(repo, rec["id"], key)
    assert r.returncode == 0, r.stderr
    return rec["id"]


def plain_verify_commit(repo: Path, sha: str) -> subprocess.CompletedProcess:
    """git's own verification, with nothing of devops-agent involved."""
    allowed = repo.parent / "allowed_signers.copy"
    allowed.write_bytes(subprocess.run(["git", "show", f"{head(repo)}:.allowed_signers"], cwd=repo,
                                       capture_output=True, check=True).stdout)
    return subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", sha], cwd=repo,
                          capture_output=True, text=True)


def verify(repo: Path) -> dict:
    r = cli(repo, "verify", "--format", "json")
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


# ------------------------------------------------------------------------------------------ the flow

def test_trust_root_is_a_signed_commit_of_the_signer_list(repo, key):
    trust = head(repo)
    assert plain_verify_commit(repo, trust).returncode == 0
    assert "product@animesphere" in (repo / ".allowed_signers").read_text()
    report = verify(repo)
    assert report["ok"] and report["trust_root"]["commit"] == trust
    assert report["trust_root"]["no_passphrase"] is True
    assert oct(key.stat().st_mode & 0o777) == "0o600" and repo not in key.parents


def test_propose_approve_apply_rollback(repo, tmp_path, key):
    before_head, before = head(repo), (repo / "docker-compose.prod.yml").read_text()
    rec = propose(repo, restart_patch(repo, tmp_path))
    assert rec["status"] == "pending" and rec["services"] == ["anime-saas-mlscheduler"]
    r = cli(repo, "apply", rec["id"])
    assert r.returncode == 1 and "not approved" in r.stderr or "pending" in r.stderr
    r = approve(repo, rec["id"], key)
    assert r.returncode == 0, r.stderr
    assert "restart: unless-stopped" in r.stdout and "Approval-Expires:" in r.stdout  # what is signed is shown
    assert head(repo) == before_head  # approving moves no branch

    r = cli(repo, "apply", rec["id"])
    assert r.returncode == 0, r.stderr
    sha = head(repo)
    assert git(repo, "rev-parse", "HEAD^").strip() == before_head
    assert plain_verify_commit(repo, sha).returncode == 0
    shown = git(repo, "log", "-1", "--show-signature", "--format=%B",
                "-c", "gpg.ssh.allowedSignersFile=.allowed_signers", check=False)
    message = git(repo, "log", "-1", "--format=%B")
    for trailer in ("Reason: ", "Risk: ", "Rollback: ", f"Proposal: {rec['id']}", f"Content-Hash: {rec['hash']}",
                    "Approval-Expires: ", "Audit-Head: ", "Approved-by: product@animesphere (SHA256:"):
        assert trailer in message, (trailer, message, shown)
    assert git(repo, "status", "--porcelain") == ""
    assert "restart: unless-stopped" in (repo / "docker-compose.prod.yml").read_text()
    assert verify(repo)["ok"]

    r = cli(repo, "rollback", rec["id"])
    assert r.returncode == 0, r.stderr
    assert git(repo, "rev-parse", "HEAD^").strip() == sha
    assert plain_verify_commit(repo, head(repo)).returncode == 0
    assert (repo / "docker-compose.prod.yml").read_text() == before
    assert git(repo, "status", "--porcelain") == ""
    assert verify(repo)["ok"]
    assert cli(repo, "audit", "verify").returncode == 0


def test_git_log_show_signature_shows_product_on_every_gate_commit(repo, tmp_path, key):
    pid = approved(repo, tmp_path, key)
    assert cli(repo, "apply", pid).returncode == 0
    out = subprocess.run(["git", "-c", "gpg.ssh.allowedSignersFile=.allowed_signers", "log", "-2", "--show-signature"],
                         cwd=repo, capture_output=True, text=True).stdout
    assert out.count('Good "git" signature for product@animesphere') == 2


def test_submodule_change_is_two_signed_commits(repo, tmp_path, key):
    sub = repo / SUB
    before_sub, before = head(sub), head(repo)
    rec = propose(repo, sub_patch(repo, tmp_path), "--reason", "label the image with its source for the registry",
                  "--risk", "none for the runtime: a label only", "--rollback",
                  "revert the commit in anime-saas-mlservice/Dockerfile", scope="docker")
    assert rec["status"] == "pending", rec
    assert approve(repo, rec["id"], key).returncode == 0
    r = cli(repo, "apply", rec["id"])
    assert r.returncode == 0, r.stderr
    sub_sha = head(sub)
    assert git(sub, "rev-parse", "HEAD^").strip() == before_sub
    assert git(repo, "rev-parse", "HEAD^").strip() == before
    assert git(repo, "ls-tree", "HEAD", SUB).split()[2] == sub_sha
    assert plain_verify_commit(repo, head(repo)).returncode == 0
    assert subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={repo / '.allowed_signers'}", "verify-commit",
                           sub_sha], cwd=sub, capture_output=True).returncode == 0
    assert "LABEL org.opencontainers" in (sub / "Dockerfile").read_text()
    assert git(repo, "status", "--porcelain") == "" and git(sub, "status", "--porcelain") == ""
    report = verify(repo)
    assert report["ok"] and any(c["repo"] == SUB for c in report["infra_commits"])

    assert cli(repo, "rollback", rec["id"]).returncode == 0
    assert "LABEL org.opencontainers" not in (sub / "Dockerfile").read_text()
    assert git(sub, "rev-parse", "HEAD^").strip() == sub_sha
    assert verify(repo)["ok"]


def test_apply_refuses_when_head_moved(repo, tmp_path, key):
    pid = approved(repo, tmp_path, key)
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nnote\n")
    git(repo, "commit", "-qam", "docs: a note")
    before = head(repo)
    r = cli(repo, "apply", pid)
    assert r.returncode == 1 and "stale" in r.stderr
    assert head(repo) == before


def test_apply_and_rollback_with_an_untracked_non_utf8_name(repo, tmp_path, key):
    # git prints such a name with its raw bytes: every git read of the gate must take it in its stride
    (repo / os.fsdecode(b"notes-\xff.txt")).write_text("local scratch")
    pid = approved(repo, tmp_path, key)
    r = cli(repo, "apply", pid)
    assert r.returncode == 0, r.stderr
    assert "restart: unless-stopped" in git(repo, "show", "HEAD:docker-compose.prod.yml")
    r = cli(repo, "rollback", pid)
    assert r.returncode == 0, r.stderr
    assert (repo / os.fsdecode(b"notes-\xff.txt")).read_text() == "local scratch"


def test_rollback_refused_when_something_landed_since(repo, tmp_path, key):
    pid = approved(repo, tmp_path, key)
    assert cli(repo, "apply", pid).returncode == 0
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nnote\n")
    git(repo, "commit", "-qam", "docs: a note")
    r = cli(repo, "rollback", pid)
    assert r.returncode == 1 and "new change" in r.stderr


def test_a_key_that_is_not_a_signer_cannot_approve(repo, tmp_path, key):
    rec = propose(repo, restart_patch(repo, tmp_path))
    mine = tmp_path / "mine"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(mine)], check=True)
    r = approve(repo, rec["id"], mine)
    assert r.returncode == 1 and "not a Product signer" in r.stderr
    assert git(repo, "for-each-ref", "refs/devops-agent/") == ""


def test_a_change_that_adds_a_blocker_is_refused_before_signing(repo, tmp_path, key):
    patch = make_patch(repo, "docker-compose.prod.yml", "anime-saas-api:main-${IMAGE_TAG_API}",
                       "anime-saas-api:latest", tmp_path)
    rec = propose(repo, patch, "--reason", "pull the newest api image on every deploy for the beta",
                  "--risk", "an untested api image reaches production without a tag",
                  "--rollback", "set the image back to `main-${IMAGE_TAG_API}` in docker-compose.prod.yml")
    assert rec["status"] == "refused", rec  # judged once, at propose: a new high finding is a policy refusal
    assert [(r["rule"], "CMP003" in r["message"]) for r in rec["refusals"]][0] == ("POL014", True)
    r = approve(repo, rec["id"], key)
    assert r.returncode == 1 and "is refused, not pending" in r.stderr
    assert git(repo, "for-each-ref", "refs/devops-agent/") == ""


def test_reject_needs_a_signer(repo, tmp_path, key):
    rec = propose(repo, restart_patch(repo, tmp_path))
    mine = tmp_path / "mine"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(mine)], check=True)
    r = cli(repo, "reject", rec["id"], "--reason", "not now", "--key", str(mine))
    assert r.returncode == 1
    assert json.loads(cli(repo, "proposals", "show", rec["id"], "--format", "json").stdout)["status"] == "pending"
    r = cli(repo, "reject", rec["id"], "--reason", "not now", "--key", str(key))
    assert r.returncode == 0, r.stderr
    assert json.loads(cli(repo, "proposals", "show", rec["id"], "--format", "json").stdout)["status"] == "rejected"


def test_second_signer_is_added_by_a_signed_commit(repo, tmp_path, key):
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    r = cli(repo, "product-key", "add", f"{other}.pub", "--identity", "cto@animesphere", "--key", str(key))
    assert r.returncode == 0, r.stderr
    assert plain_verify_commit(repo, head(repo)).returncode == 0
    pid = approved(repo, tmp_path, other)
    assert cli(repo, "apply", pid).returncode == 0
    assert verify(repo)["ok"]


# ------------------------------------------------------------------------------------------ by hand

def hand_commit(repo: Path, rel: str, text: str, message: str) -> str:
    path = repo / rel
    path.write_text(path.read_text() + text)
    git(repo, "commit", "-qam", message)
    return head(repo)


@pytest.mark.parametrize("rel, text", [
    ("docker-compose.prod.yml", "# hand edit\n"),
    (".devops-agent.yaml", "approval_ttl_days: 7\n"),  # steers the gate: it is accounted for too
    ("notion-export/Intention 8b7d4e20.csv", ""),
    ("Makefile", "\nup2:\n\tdocker compose up -d\n"),
])
def test_a_hand_made_infra_commit_is_flagged_everywhere_and_blocks_approvals(repo, tmp_path, key, rel, text):
    if not text:
        csv = repo / rel
        csv.write_text(csv.read_text().replace("A valider", "Validée", 1).replace("Proposée", "Validée", 1) + "\n")
        git(repo, "commit", "-qam", "flip an intention")
        sha = head(repo)
    else:
        sha = hand_commit(repo, rel, text, "hand change")
    report = verify(repo)
    assert not report["ok"] and [c["sha"] for c in report["infra_commits"] if c["status"] == "unsigned"] == [sha]
    findings = json.loads(cli(repo, "review", "--format", "json").stdout)["findings"]
    assert any(f["id"] == "GATE001" and sha[:12] in f["title"] for f in findings)
    r = cli(repo, "release", "check", "--format", "json")
    assert r.returncode == 1 and sha[:12] in r.stdout
    rec = propose(repo, restart_patch(repo, tmp_path))
    r = approve(repo, rec["id"], key)
    assert r.returncode == 1 and "did not sign" in r.stderr
    r = cli(repo, "accept", sha[:12], "--reason", "Product read it and keeps it", "--key", str(key), "--yes")
    assert r.returncode == 0, r.stderr
    assert verify(repo)["ok"]
    assert approve(repo, rec["id"], key).returncode == 0


def test_a_non_infra_hand_commit_keeps_verify_green(repo):
    hand_commit(repo, "README.md", "\nmore words\n", "docs: words")
    assert verify(repo)["ok"]


def test_the_role_cannot_accept_its_own_commit(repo, tmp_path):
    sha = hand_commit(repo, "docker-compose.prod.yml", "# hand edit\n", "hand change")
    mine = tmp_path / "mine"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(mine)], check=True)
    r = cli(repo, "accept", sha[:12], "--reason", "looks fine to me", "--key", str(mine), "--yes")
    assert r.returncode == 1 and head(repo) == sha
    git(repo, "commit", "-q", "--allow-empty", "-m", f"accept\n\nAccepts: {sha}")  # a forged, unsigned acceptance
    assert not verify(repo)["ok"]


# ------------------------------------------------------------------------------------------ faults

@pytest.mark.parametrize("step", ["apply-after-ref-anime-saas-mlservice", "apply-after-ref-platform",
                                  "apply-after-files-anime-saas-mlservice", "apply-after-files-platform"])
def test_a_kill_during_apply_leaves_old_or_new_refs_and_the_next_command_finishes(repo, tmp_path, key, step):
    sub = repo / SUB
    before_sub, before = head(sub), head(repo)
    rec = propose(repo, sub_patch(repo, tmp_path), "--reason", "label the image with its source for the registry",
                  "--risk", "none for the runtime: a label only", "--rollback",
                  "revert the commit in anime-saas-mlservice/Dockerfile", scope="docker")
    assert approve(repo, rec["id"], key).returncode == 0
    r = cli(repo, "apply", rec["id"], env={"DEVOPS_AGENT_FAULT": step})
    assert r.returncode == 137
    assert head(sub) in (before_sub, git(sub, "rev-parse", f"refs/devops-agent/approved/{rec['id']}").strip())
    assert head(repo) in (before, git(repo, "rev-parse", f"refs/devops-agent/approved/{rec['id']}").strip())
    assert not list((repo / ".git").glob("**/*.lock"))
    r = cli(repo, "proposals", "show", rec["id"], "--format", "json")  # any command recovers
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "applied"
    assert head(repo) == git(repo, "rev-parse", f"refs/devops-agent/approved/{rec['id']}").strip()
    assert "LABEL org.opencontainers" in (sub / "Dockerfile").read_text()
    assert git(repo, "status", "--porcelain") == "" and git(sub, "status", "--porcelain") == ""
    assert verify(repo)["ok"]


def test_a_leftover_index_lock_is_named(repo, tmp_path, key):
    pid = approved(repo, tmp_path, key)
    (repo / ".git" / "index.lock").write_text("")
    r = cli(repo, "apply", pid)
    assert r.returncode == 1 and "index.lock" in r.stderr
    (repo / ".git" / "index.lock").unlink()
    r = cli(repo, "apply", pid)
    assert r.returncode == 0, r.stderr


def test_bad_input_is_one_line_and_exit_2(repo, tmp_path):
    r = cli(repo, "propose", "--patch", str(restart_patch(repo, tmp_path)), *GOOD, "--scope", "compose\nApproved-by: x")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) <= 2
    r = cli(repo, "apply", "p-1\n2")
    assert r.returncode == 2
    r = cli(repo, "approve", "p-20260101-abcdef", "--key", str(tmp_path / "nope"), "--yes")
    assert r.returncode in (1, 2) and "Traceback" not in r.stderr


def test_a_key_held_in_ssh_agent_signs_through_its_public_half(repo, tmp_path, key):
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if sock.exists():
                break
            import time

            time.sleep(0.1)
        env = {"SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(key)], env={**os.environ, **env}, check=True, capture_output=True)
        rec = propose(repo, restart_patch(repo, tmp_path))
        r = cli(repo, "approve", rec["id"], "--key", f"{key}.pub", "--yes", env=env)
        assert r.returncode == 0, r.stderr
        assert cli(repo, "apply", rec["id"]).returncode == 0
        assert plain_verify_commit(repo, head(repo)).returncode == 0
    finally:
        agent.terminate()
        agent.wait(10)
