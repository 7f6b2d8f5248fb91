"""The change gate end to end through the real CLI on the example platform: proposals, Product
approval bound to content, stale approvals, atomic apply (fault injection at every step), rollback,
audit, concurrency, delivery blocks and the release deliverables."""
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


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def cli(repo: Path, *args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args, "--repo", str(repo)], capture_output=True,
                          text=True, input=stdin if stdin is not None else "",
                          env={**os.environ, "NO_COLOR": "1", **(env or {})})


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return init_example(tmp_path_factory.mktemp("tpl") / "animesphere")


@pytest.fixture
def repo(template, tmp_path, monkeypatch) -> Path:
    dst = tmp_path / "animesphere"
    shutil.copytree(template, dst, symlinks=True)
    monkeypatch.setenv("DEVOPS_AGENT_HOME", str(tmp_path / "home"))  # this test's own key and secret
    return dst


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


def new_file_patch(rel: str, content: str, tmp: Path) -> Path:
    lines = content.splitlines()
    body = "".join(f"+{line}\n" for line in lines)
    out = tmp / f"new-{abs(hash(rel))}.diff"
    out.write_text(f"diff --git a/{rel} b/{rel}\nnew file mode 100644\n--- /dev/null\n+++ b/{rel}\n"
                   f"@@ -0,0 +1,{len(lines)} @@\n{body}")
    return out


GOOD = ["--reason", "the mlscheduler must restart by itself after a crash (INT-13)",
        "--risk", "a crash loop restarts forever and hides the error in the logs",
        "--rollback", "revert the commit to remove `restart: unless-stopped` from docker-compose.prod.yml"]


def propose(repo: Path, patch: Path, *meta: str) -> dict:
    r = cli(repo, "propose", "--patch", str(patch), *(meta or GOOD), "--scope", "compose", "--format", "json")
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def restart_patch(repo: Path, tmp: Path) -> Path:
    return make_patch(repo, "docker-compose.prod.yml",
                      "main-${IMAGE_TAG_MLSCHEDULER}\n",
                      "main-${IMAGE_TAG_MLSCHEDULER}\n    restart: unless-stopped\n", tmp)


def product_key(repo: Path, tmp: Path) -> Path:
    key = tmp / "keys" / "product.pem"
    r = cli(repo, "product-key", "init", "--out", str(key))
    assert r.returncode == 0, r.stderr
    return key


def approved(repo: Path, tmp: Path, patch: Path | None = None) -> tuple[str, Path]:
    rec = propose(repo, patch or restart_patch(repo, tmp))
    assert rec["status"] == "pending", rec
    key = product_key(repo, tmp)
    r = cli(repo, "approve", rec["id"], "--key", str(key))
    assert r.returncode == 0, r.stderr
    return rec["id"], key


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def test_full_flow(repo, tmp_path):
    before_head, before = head(repo), (repo / "docker-compose.prod.yml").read_text()
    rec = propose(repo, restart_patch(repo, tmp_path))
    assert rec["status"] == "pending" and len(rec["hash"]) == 64
    assert rec["services"] == ["anime-saas-mlscheduler"]

    r = cli(repo, "apply", rec["id"])  # not approved
    assert r.returncode == 1 and "not approved" in r.stderr
    assert head(repo) == before_head and (repo / "docker-compose.prod.yml").read_text() == before

    r = cli(repo, "approve", rec["id"])  # no TTY, no key
    assert r.returncode == 1 and "no interactive terminal and no --key" in r.stderr

    key = product_key(repo, tmp_path)
    assert oct(key.stat().st_mode & 0o777) == "0o600" and repo not in key.parents
    r = cli(repo, "approve", rec["id"], "--key", str(key))
    assert r.returncode == 0, r.stderr

    r = cli(repo, "apply", rec["id"])
    assert r.returncode == 0, r.stderr
    assert git(repo, "rev-list", "--count", f"{before_head}..HEAD").strip() == "1"
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith("[devops] chore(compose): ")
    for trailer in ("Reason: ", "Risk: ", "Rollback: ", "Approved-by: product (key, ", f"Proposal: {rec['id']}"):
        assert trailer in message
    assert git(repo, "status", "--porcelain") == ""
    assert "restart: unless-stopped" in (repo / "docker-compose.prod.yml").read_text()

    r = cli(repo, "rollback", rec["id"])
    assert r.returncode == 0, r.stderr
    assert (repo / "docker-compose.prod.yml").read_text() == before
    assert f"Proposal: {rec['id']}" in git(repo, "log", "-1", "--format=%B")
    assert git(repo, "status", "--porcelain") == ""

    r = cli(repo, "audit", "verify")
    assert r.returncode == 0 and "intact" in r.stdout
    events = [json.loads(line)["event"] for line in (repo / ".devops-agent/audit.jsonl").read_text().splitlines()]
    assert events == ["proposal", "product-key", "approval", "apply", "rollback"]
    log = repo / ".devops-agent/audit.jsonl"
    log.write_text(log.read_text().replace("mlscheduler", "mlsch3duler", 1))
    r = cli(repo, "audit", "verify")
    assert r.returncode == 1 and "BROKEN" in r.stdout


def test_stale_approval_is_refused(repo, tmp_path):
    pid, _ = approved(repo, tmp_path)
    compose = repo / "docker-compose.prod.yml"
    compose.write_text(compose.read_text() + "\n# edited after approval\n")
    git(repo, "-c", "user.name=someone", "-c", "user.email=someone@example.org", "commit", "-qam", "edit after approval")
    before = head(repo)
    r = cli(repo, "apply", pid)
    assert r.returncode == 1 and "stale" in r.stderr and "re-approve" in r.stderr
    assert head(repo) == before and git(repo, "status", "--porcelain") == ""


def test_dirty_target_is_refused(repo, tmp_path):
    pid, _ = approved(repo, tmp_path)
    compose = repo / "docker-compose.prod.yml"
    compose.write_text(compose.read_text() + "\n# local edit\n")
    r = cli(repo, "apply", pid)
    assert r.returncode == 1
    assert "local edit" in compose.read_text()  # the user's work is never touched


def test_tampered_proposal_row_is_refused(repo, tmp_path):
    import sqlite3

    pid, _ = approved(repo, tmp_path)
    db = sqlite3.connect(repo / ".devops-agent/state.db")
    cols = [r[1] for r in db.execute("PRAGMA table_info(proposals)")]
    text_col = next(c for c in ("diff", "data", "payload") if c in cols)
    db.execute(f"UPDATE proposals SET {text_col} = replace({text_col}, 'unless-stopped', 'always') WHERE id = ?", (pid,))
    db.commit()
    db.close()
    r = cli(repo, "apply", pid)
    assert r.returncode in (1, 2) and "modified" in r.stderr
    assert "restart: always" not in (repo / "docker-compose.prod.yml").read_text()


def test_a_change_that_adds_a_blocker_is_refused_and_nothing_changes(repo, tmp_path):
    patch = make_patch(repo, "docker-compose.prod.yml", "anime-saas-api:main-${IMAGE_TAG_API}",
                       "anime-saas-api:latest", tmp_path)
    rec = propose(repo, patch, "--reason", "pull the newest api image on every deploy for the beta",
                  "--risk", "an untested api image reaches production without a tag",
                  "--rollback", "set the image back to `main-${IMAGE_TAG_API}` in docker-compose.prod.yml")
    assert rec["status"] == "pending", rec
    key = product_key(repo, tmp_path)
    assert cli(repo, "approve", rec["id"], "--key", str(key)).returncode == 0
    before = head(repo)
    r = cli(repo, "apply", rec["id"])
    assert r.returncode == 1 and "new blocker finding" in r.stderr and "CMP003" in r.stderr
    assert head(repo) == before and git(repo, "status", "--porcelain") == ""
    shown = json.loads(cli(repo, "proposals", "show", rec["id"], "--format", "json").stdout)
    assert shown["status"] == "approved"


REFUSED = [
    ("kubernetes", "POL003"),
    ("app-code", "POL002"),
    ("staging-job", "POL004"),
    ("dotdot", "POL007"),
    ("gate-file", "POL006"),
    ("empty-rollback", "POL001"),
]


@pytest.mark.parametrize("case, rule", REFUSED, ids=[c for c, _ in REFUSED])
def test_policy_refusals_name_the_clause(repo, tmp_path, case, rule):
    meta = list(GOOD)
    if case == "kubernetes":
        patch = new_file_patch("k8s/api-deployment.yaml",
                               "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n", tmp_path)
    elif case == "app-code":
        patch = make_patch(repo, f"{SUB}/app/main.py", "FastAPI(", "FastAPI(debug=True, ", tmp_path)
    elif case == "staging-job":
        patch = make_patch(repo, "anime-saas-api/.github/workflows/ci.yml", "jobs:\n",
                           "jobs:\n  deploy-staging:\n    runs-on: ubuntu-latest\n    environment: staging\n"
                           "    steps:\n      - run: echo deploy\n", tmp_path)
    elif case == "dotdot":
        patch = tmp_path / "dotdot.diff"
        patch.write_text("--- a/../outside.yml\n+++ b/../outside.yml\n@@ -1 +1 @@\n-a\n+b\n")
    elif case == "gate-file":
        patch = new_file_patch(".devops-agent/approvals.json", '{"approved": true}', tmp_path)
    else:
        patch = restart_patch(repo, tmp_path)
        meta[meta.index("--rollback") + 1] = ""
    r = cli(repo, "propose", "--patch", str(patch), *meta, "--format", "json")
    assert r.returncode == 1, (r.stdout, r.stderr)
    rec = json.loads(r.stdout)
    assert rec["status"] == "refused"
    hit = [x for x in rec["refusals"] if x["rule"] == rule]
    assert hit and hit[0]["clause"], rec["refusals"]
    assert not (tmp_path.parent / "outside.yml").exists()
    assert git(repo, "status", "--porcelain") == ""


def test_bad_patches_exit_2(repo, tmp_path):
    empty = tmp_path / "empty.diff"
    empty.write_text("")
    r = cli(repo, "propose", "--patch", str(empty), *GOOD)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    stale = tmp_path / "stale.diff"
    stale.write_text("--- a/docker-compose.prod.yml\n+++ b/docker-compose.prod.yml\n@@ -1,1 +1,1 @@\n-nothing like this\n+x\n")
    r = cli(repo, "propose", "--patch", str(stale), *GOOD)
    assert r.returncode == 2 and "does not apply" in r.stderr
    r = cli(repo, "propose", "--patch", str(tmp_path / "missing.diff"), *GOOD)
    assert r.returncode == 2 and "does not exist" in r.stderr
    r = cli(repo, "approve", "p-nope", "--key", str(tmp_path / "nokey.pem"))
    assert r.returncode == 2 and "p-nope" in r.stderr


APPLY_STEPS = ["after-mark-applying", "after-journal", "after-write", "after-verify",
               f"after-commit-{SUB}", "after-commit"]


@pytest.mark.parametrize("step", APPLY_STEPS)
def test_kill_at_any_apply_step_leaves_before_or_committed(repo, tmp_path, step):
    patch = make_patch(repo, f"{SUB}/Dockerfile", "EXPOSE 8000", "EXPOSE 5000", tmp_path)
    rec = propose(repo, patch, "--reason", "EXPOSE the port uvicorn listens on in compose and nginx (5000)",
                  "--risk", "a tool reading EXPOSE routes to the wrong port if compose changes later",
                  "--rollback", "revert the commit in anime-saas-mlservice to put `EXPOSE 8000` back")
    assert rec["status"] == "pending", rec
    key = product_key(repo, tmp_path)
    assert cli(repo, "approve", rec["id"], "--key", str(key)).returncode == 0
    heads = (head(repo), head(repo / SUB))
    old = (repo / SUB / "Dockerfile").read_text()

    r = cli(repo, "apply", rec["id"], env={"DEVOPS_AGENT_FAULT": step})
    assert r.returncode == 137, (step, r.stdout, r.stderr)
    # A ref update is atomic: right after the kill each repo is at its old commit or a finished one.
    for path, old_head in ((repo, heads[0]), (repo / SUB, heads[1])):
        now = head(path)
        assert now == old_head or f"Proposal: {rec['id']}" in git(path, "log", "-1", "--format=%B")

    r = cli(repo, "proposals", "--format", "json")  # any gate command recovers first
    assert r.returncode == 0, r.stderr
    status = next(p["status"] for p in json.loads(r.stdout) if p["id"] == rec["id"])
    assert git(repo, "status", "--porcelain") == "" and git(repo / SUB, "status", "--porcelain") == ""
    if (head(repo), head(repo / SUB)) == heads:
        assert status == "approved" and (repo / SUB / "Dockerfile").read_text() == old
        assert cli(repo, "apply", rec["id"]).returncode == 0  # and it can still be applied
    else:
        assert status == "applied" and "EXPOSE 5000" in (repo / SUB / "Dockerfile").read_text()
        for path in (repo, repo / SUB):
            assert f"Proposal: {rec['id']}" in git(path, "log", "-1", "--format=%B")
        assert git(repo, "ls-tree", "HEAD", SUB).split()[2] == head(repo / SUB)
    assert cli(repo, "audit", "verify").returncode == 0


@pytest.mark.parametrize("step", ["rollback-after-journal", "rollback-after-write"])
def test_kill_during_rollback(repo, tmp_path, step):
    pid, _ = approved(repo, tmp_path)
    assert cli(repo, "apply", pid).returncode == 0
    applied_head = head(repo)
    r = cli(repo, "rollback", pid, env={"DEVOPS_AGENT_FAULT": step})
    assert r.returncode == 137
    cli(repo, "proposals")
    assert git(repo, "status", "--porcelain") == ""
    status = json.loads(cli(repo, "proposals", "show", pid, "--format", "json").stdout)["status"]
    assert (head(repo), status) == (applied_head, "applied") or status == "rolled_back"


def test_two_concurrent_applies_one_wins(repo, tmp_path):
    pid, _ = approved(repo, tmp_path)
    env = {**os.environ, "NO_COLOR": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "agent.cli", "apply", pid, "--repo", str(repo)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = [(p.wait(), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    loser = next(err for code, err in results if code == 1)
    assert "running" in loser or "applied, not approved" in loser or "applying" in loser
    assert git(repo, "log", "-1", "--format=%B").count(f"Proposal: {pid}") == 1


def test_tty_approval_types_the_short_hash(repo, tmp_path):
    import pty
    import select
    import time

    rec = propose(repo, restart_patch(repo, tmp_path))

    def run(typed: str) -> tuple[int, str]:
        env = {k: v for k, v in os.environ.items() if k != "DEVOPS_AGENT_ROLE"}
        pid, fd = pty.fork()
        if pid == 0:
            os.execvpe(sys.executable, [sys.executable, "-m", "agent.cli", "approve", rec["id"], "--repo", str(repo)],
                       {**env, "NO_COLOR": "1"})
        out, sent, deadline = b"", False, time.time() + 60
        while time.time() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
                if not sent and b"to approve:" in out:
                    os.write(fd, typed.encode() + b"\n")
                    sent = True
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), out.decode(errors="replace")

    code, out = run("deadbeef")
    assert code == 1 and "does not match" in out
    code, out = run(rec["short_hash"])
    assert code == 0 and "approved" in out and "(tty," in out
    # The model's own front ends set DEVOPS_AGENT_ROLE=devops: no TTY approval there, no key of its own.
    r = cli(repo, "approve", rec["id"], env={"DEVOPS_AGENT_ROLE": "devops"})
    assert r.returncode == 1
    r = cli(repo, "product-key", "init", "--out", str(tmp_path / "mine.pem"), env={"DEVOPS_AGENT_ROLE": "devops"})
    assert r.returncode == 1 and "Product's act" in r.stderr and not (tmp_path / "mine.pem").exists()


def test_blocks_and_release_deliverables(repo, tmp_path):
    pid, key = approved(repo, tmp_path)
    assert cli(repo, "apply", pid).returncode == 0
    notes = cli(repo, "release", "notes", "--format", "json")
    data = json.loads(notes.stdout)
    assert data["since"] == "0.4.0"
    change = next(c for c in data["changes"] if c["proposal"] == pid)
    assert change["reason"].startswith("the mlscheduler must restart") and change["rollback"] and change["risk"]
    assert change["services"] == ["anime-saas-mlscheduler"]
    md = cli(repo, "release", "notes").stdout
    assert "# Production notes" in md and pid in md

    cl = json.loads(cli(repo, "release", "checklist", "--format", "json").stdout)
    api = next(s for s in cl["services"] if s["service"] == "anime-saas-api")
    assert api["tag_variable"] == "IMAGE_TAG_API" and api["healthcheck"]
    assert any(c["proposal"] == pid for c in cl["changes"])
    assert cl["deploy_steps"] and cl["environment"] == "prod"
    assert "## Deploy on the server" in cli(repo, "release", "checklist").stdout

    r = cli(repo, "block", "--reason", "the MySQL password is visible in the healthcheck command line")
    assert r.returncode == 1  # no TTY, no key
    r = cli(repo, "block", "--reason", "the MySQL password is visible in the healthcheck command line",
            "--key", str(key))
    assert r.returncode == 0, r.stderr
    check = json.loads(cli(repo, "release", "check", "--format", "json").stdout)
    assert check["verdict"] == "NO-GO" and check["blocks"]
    block_id = check["blocks"][0]["id"]
    assert cli(repo, "unblock", block_id, "--key", str(key)).returncode == 0
    assert json.loads(cli(repo, "release", "check", "--format", "json").stdout)["blocks"] == []
    assert cli(repo, "audit", "verify").returncode == 0


def test_expired_revoked_and_missing_key(repo, tmp_path):
    from agent.gate import keys
    from agent.gate.store import ApprovalRecord, Store

    rec = propose(repo, restart_patch(repo, tmp_path))
    key = product_key(repo, tmp_path)
    r = cli(repo, "approve", rec["id"], "--key", str(tmp_path / "no-such-key.pem"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no-such-key.pem" in r.stderr

    # A genuine Product signature, but expired: apply refuses it.
    store = Store(repo)
    expires = "2020-01-01T00:00:00Z"
    payload = keys.approval_payload(rec["id"], rec["hash"], expires, "product", "key")
    store.add_approval(ApprovalRecord(id="a-old", proposal_id=rec["id"], hash=rec["hash"], approver="product",
                                      method="key", created_at="2019-12-25T00:00:00Z", expires_at=expires,
                                      signature=keys.sign(key, payload)))
    store.transition(rec["id"], {"pending"}, "approved")
    r = cli(repo, "apply", rec["id"])
    assert r.returncode == 1 and "expired" in r.stderr

    # An approval for other content (another hash) does not count either.
    payload = keys.approval_payload(rec["id"], "0" * 64, "2099-01-01T00:00:00Z", "product", "key")
    store.add_approval(ApprovalRecord(id="a-other", proposal_id=rec["id"], hash="0" * 64, approver="product",
                                      method="key", created_at="2026-01-01T00:00:00Z",
                                      expires_at="2099-01-01T00:00:00Z", signature=keys.sign(key, payload)))
    r = cli(repo, "apply", rec["id"])
    assert r.returncode == 1 and "another content" in r.stderr

    # Rejection revokes: the proposal can no longer be applied.
    assert cli(repo, "reject", rec["id"], "--reason", "not for this release").returncode == 0
    r = cli(repo, "apply", rec["id"])
    assert r.returncode == 1 and "rejected" in r.stderr
    assert git(repo, "status", "--porcelain") == ""


def test_model_cannot_register_its_own_key(repo, tmp_path):
    product_key(repo, tmp_path)
    r = cli(repo, "product-key", "init", "--out", str(tmp_path / "model.pem"), "--force")
    assert r.returncode != 0  # replacing the registered key needs the current one


def test_structured_yaml_edit_keeps_comments_and_order(repo, tmp_path):
    compose = repo / "docker-compose.prod.yml"
    before = compose.read_text()
    r = cli(repo, "propose", "--set", "docker-compose.prod.yml:services.anime-saas-mlscheduler.restart=unless-stopped",
            *GOOD, "--scope", "compose", "--format", "json")
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    key = product_key(repo, tmp_path)
    assert cli(repo, "approve", rec["id"], "--key", str(key)).returncode == 0
    assert cli(repo, "apply", rec["id"]).returncode == 0
    diff = git(repo, "show", "--format=", "HEAD")
    changed = [l for l in diff.splitlines() if l.startswith(("+", "-")) and not l.startswith(("+++", "---"))]
    assert changed == ["+    restart: unless-stopped"]  # one line added; comments, quotes and order untouched
    after = compose.read_text()
    assert [l for l in before.splitlines() if l.lstrip().startswith("#")] == \
        [l for l in after.splitlines() if l.lstrip().startswith("#")]
    r = cli(repo, "propose", "--set", "docker-compose.prod.yml:services.nope.restart=always", *GOOD)
    assert r.returncode == 2 and "no key services.nope" in r.stderr


def test_one_product_key_for_two_repos(repo, tmp_path, template):
    key = product_key(repo, tmp_path)
    other = tmp_path / "other"
    shutil.copytree(template, other, symlinks=True)
    r = cli(other, "product-key", "register", "--key", str(key))
    assert r.returncode == 0, r.stderr
    rec = propose(other, restart_patch(other, tmp_path))
    assert cli(other, "approve", rec["id"], "--key", str(key)).returncode == 0
    # Once a key is registered, no other key takes its place without the current one.
    assert cli(repo, "product-key", "init", "--out", str(tmp_path / "stranger.pem")).returncode == 1
    assert cli(other, "product-key", "register", "--key", str(tmp_path / "stranger.pem")).returncode != 0
    r = cli(other, "product-key", "register", "--key", str(key.parent / "nope.pem"))
    assert r.returncode == 2 and "nope.pem" in r.stderr


def test_gate_needs_a_git_root(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "docker-compose.yml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    patch = tmp_path / "p.diff"
    patch.write_text("--- a/docker-compose.yml\n+++ b/docker-compose.yml\n@@ -1,3 +1,4 @@\n services:\n   web:\n"
                     "     image: nginx:1.27\n+    restart: unless-stopped\n")
    r = cli(plain, "propose", "--patch", str(patch), *GOOD, "--format", "json")
    rec = json.loads(r.stdout)
    r = cli(plain, "apply", rec["id"])
    assert r.returncode == 2 and "not the root of a git repository" in r.stderr and "Traceback" not in r.stderr


def test_require_product_key_refuses_terminal_approvals(repo, tmp_path):
    from agent.gate import Gate

    rec = propose(repo, restart_patch(repo, tmp_path))
    cfg = repo / ".devops-agent.yaml"
    cfg.write_text(cfg.read_text() + "require_product_key: true\n")
    git(repo, "-c", "user.name=p", "-c", "user.email=p@example.org", "commit", "-qam", "require the Product key")
    gate = Gate(repo)
    with pytest.raises(Exception) as err:
        gate.approve(rec["id"], confirm=lambda r, code: code)
    assert "needs the Product key" in str(err.value)
    key = product_key(repo, tmp_path)
    assert cli(repo, "approve", rec["id"], "--key", str(key)).returncode == 0
    assert cli(repo, "apply", rec["id"]).returncode == 0
