"""`verify` read as git stores the history: paths without in-band separators, merges against every parent,
submodules of submodules, full trust-root ids, signatures without trailing text, and git config that
cannot blind it.

The agent commits by hand with plain git; Product's signed commits are made with git's own `commit -S` and
Product's key (Product's legitimate step). Where the attack survives a push, CI is played for real: the
branch pushed to a bare remote, a fresh clone, `devops-agent verify --trust-root <full id>` there.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gate_helpers import SUB, build_template, copy_repo, git, hand_commit, head


@pytest.fixture(scope="module")
def tpl(tmp_path_factory):
    base = tmp_path_factory.mktemp("history-tpl")
    return build_template(base)


@pytest.fixture
def repo(tpl, tmp_path) -> Path:
    return copy_repo(tpl[0], tmp_path / "animesphere")


@pytest.fixture
def env(tpl):
    return tpl[1]


def trust_root(repo: Path) -> str:
    return git(repo, "log", "--format=%H", "--diff-filter=A", "--", ".allowed_signers").split()[-1]


def product_commit(env, repo: Path, message: str, *paths: str) -> str:
    """Product signs a commit with git's own machinery and its key (its legitimate step)."""
    if paths:
        git(repo, "add", "--", *paths)
    git(repo, "-c", "gpg.format=ssh", "-c", f"user.signingkey={env.key}", "-c", "gpg.ssh.program=ssh-keygen",
        "commit", "-q", "-S", "-m", message)
    return head(repo)


def verify(env, repo: Path, *args: str, extra_env: dict | None = None) -> tuple[int, dict]:
    r = env.cli(repo, "verify", "--format", "json", *args, env=extra_env)
    assert r.returncode in (0, 1), (r.returncode, r.stderr[-2000:])
    return r.returncode, json.loads(r.stdout)


def ci_verify(env, repo: Path, tmp: Path) -> tuple[int, dict]:
    """Push main to a bare remote, clone it fresh, and run the pinned verify there (what CI does)."""
    remote = tmp / "remote.git"
    if not remote.exists():
        git(tmp, "init", "-q", "--bare", str(remote))
    git(repo, "push", "-q", "-f", str(remote), "HEAD:refs/heads/main")
    clone = tmp / "ci"
    subprocess.run(["rm", "-rf", str(clone)], check=True)
    git(tmp, "clone", "-q", "-b", "main", str(remote), str(clone))
    return verify(env, clone, "--trust-root", trust_root(repo))


def not_signed(report: dict) -> set[str]:
    return {c["sha"] for c in report["infra_commits"] if c["status"] not in ("signed", "accepted")}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


COMPOSE = "docker-compose.prod.yml"
PRIVILEGED = ("main-${IMAGE_TAG_MLSCHEDULER}\n", "main-${IMAGE_TAG_MLSCHEDULER}\n    privileged: true\n")
RESTART = ("main-${IMAGE_TAG_MLSCHEDULER}\n", "main-${IMAGE_TAG_MLSCHEDULER}\n    restart: unless-stopped\n")


# ================================================================== cause 2: in-band separators

def test_a_file_named_with_a_separator_byte_does_not_hide_the_commits_other_paths(repo, env, tmp_path):
    (repo / "\x01x").write_text("hidden\n")
    edit(repo / COMPOSE, *PRIVILEGED)
    evil = hand_commit(repo, "docs: notes", "\x01x", COMPOSE)
    code, report = ci_verify(env, repo, tmp_path)
    assert code == 1 and evil in not_signed(report), report


@pytest.mark.parametrize("name", ["notes\x1b[2K.md", "notes\x7f.md", "notes\u0085.md", "notes\tx.md", "notes\nx.md"])
def test_a_path_holding_a_control_character_makes_its_commit_infra(repo, env, tmp_path, name):
    (repo / name).write_text("plain text\n")
    sha = hand_commit(repo, "docs: a note", name)
    code, report = ci_verify(env, repo, tmp_path)
    assert code == 1 and sha in not_signed(report), report


# ================================================================== cause 3: merges against every parent

def _signed_then_reverted_by_a_merge(env, repo: Path, octopus: bool = False) -> tuple[str, str, str]:
    base = head(repo)
    edit(repo / COMPOSE, *RESTART)
    signed = product_commit(env, repo, "compose: restart the mlscheduler (signed by Product)", COMPOSE)
    parents = ["-p", base, "-p", signed]
    if octopus:
        git(repo, "checkout", "-q", "-b", "side", base)
        (repo / "docs-note.md").write_text("note\n")
        parents += ["-p", hand_commit(repo, "docs: a note", "docs-note.md")]
        git(repo, "checkout", "-q", "main")
    # The first parent is the older commit, and the merge carries its tree: Product's change is gone.
    merge = git(repo, "commit-tree", f"{base}^{{tree}}", *parents, "-m", "Merge branch 'main'").strip()
    git(repo, "merge", "-q", "--ff-only", merge)
    assert RESTART[1] not in (repo / COMPOSE).read_text()
    return base, signed, merge


@pytest.mark.parametrize("octopus", [False, True], ids=["two-parents", "octopus"])
def test_a_merge_reverting_a_signed_change_through_its_first_parent_is_named(repo, env, tmp_path, octopus):
    _, signed, merge = _signed_then_reverted_by_a_merge(env, repo, octopus)
    code, report = ci_verify(env, repo, tmp_path)
    assert code == 1 and merge in not_signed(report) and signed not in not_signed(report), report


def test_a_merge_reverting_a_signed_change_inside_a_submodule_is_named(repo, env):
    sub = repo / SUB
    base = head(sub)
    edit(sub / "Dockerfile", "EXPOSE 8000", "EXPOSE 8000\nUSER app")
    signed = product_commit(env, sub, "docker: run as app (signed by Product)", "Dockerfile")
    merge = git(sub, "commit-tree", f"{base}^{{tree}}", "-p", base, "-p", signed, "-m", "Merge").strip()
    git(sub, "merge", "-q", "--ff-only", merge)
    hand_commit(repo, "bump mlservice", SUB)
    code, report = verify(env, repo)
    assert code == 1 and merge in not_signed(report), report


def test_accept_shows_a_merge_against_each_parent(repo, env):
    _, _, merge = _signed_then_reverted_by_a_merge(env, repo)
    r = env.cli(repo, "accept", merge[:12], "--reason", "Product read the merge and keeps it",
                "--key", str(env.key), "--yes")
    assert r.returncode == 0, r.stderr
    # Against its second parent (Product's signed commit) the merge removes the signed line: Product sees it.
    assert "-    restart: unless-stopped" in r.stdout, r.stdout


# ================================================================== cause 5: submodules of submodules

def _nested(repo: Path, tmp_path: Path, env) -> tuple[Path, str]:
    upstream = tmp_path / "inner-upstream"
    upstream.mkdir()
    git(upstream, "init", "-q", "-b", "main")
    (upstream / "Dockerfile").write_text("FROM python:3.12-slim\nCMD [\"python\", \"-m\", \"worker\"]\n")
    hand_commit(upstream, "inner: initial", "Dockerfile")
    sub = repo / SUB
    git(sub, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(upstream), "inner")
    product_commit(env, sub, "add the inner worker (signed by Product)", ".gitmodules", "inner")
    product_commit(env, repo, "bump mlservice (signed by Product)", SUB)
    inner = sub / "inner"
    (inner / "Dockerfile").write_text((inner / "Dockerfile").read_text() + "USER root\n")
    evil = hand_commit(inner, "worker: tidy", "Dockerfile")
    hand_commit(sub, "bump inner", "inner")
    hand_commit(repo, "bump mlservice", SUB)
    return inner, evil


def test_an_unsigned_commit_in_a_submodule_of_a_submodule_is_named(repo, env, tmp_path):
    _, evil = _nested(repo, tmp_path, env)
    code, report = verify(env, repo)
    assert code == 1 and evil in not_signed(report), report
    assert any(c["repo"] == f"{SUB}/inner" for c in report["infra_commits"] if c["sha"] == evil), report


def test_a_gitlink_moved_deeper_than_the_walk_goes_is_unverifiable(repo, env, tmp_path):
    """Five levels of submodules under the platform: the fifth is never walked, so its move fails verify."""
    names = ["l2", "l3", "l4", "l5"]
    uppers = {}
    for depth, name in reversed(list(enumerate(names))):
        up = tmp_path / f"up-{name}"
        up.mkdir()
        git(up, "init", "-q", "-b", "main")
        (up / "Dockerfile").write_text(f"FROM python:3.12-slim\nLABEL level={name}\n")
        git(up, "add", "Dockerfile")
        if depth + 1 < len(names):
            inner = names[depth + 1]
            git(up, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(uppers[inner]), inner)
            git(up, "-c", "protocol.file.allow=always", "submodule", "update", "-q", "--init", "--recursive")
        hand_commit(up, f"{name}: initial")
        uppers[name] = up
    sub = repo / SUB
    git(sub, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(uppers["l2"]), "l2")
    git(sub, "-c", "protocol.file.allow=always", "submodule", "update", "-q", "--init", "--recursive")
    product_commit(env, sub, "add l2 (signed by Product)", ".gitmodules", "l2")
    product_commit(env, repo, "bump mlservice (signed by Product)", SUB)
    chain = [sub / "l2", sub / "l2" / "l3", sub / "l2" / "l3" / "l4", sub / "l2" / "l3" / "l4" / "l5"]
    deepest = chain[-1]
    (deepest / "Dockerfile").write_text((deepest / "Dockerfile").read_text() + "USER root\n")
    hand_commit(deepest, "l5: tidy", "Dockerfile")
    for outer, inner in zip(reversed(chain[:-1]), reversed(chain)):
        hand_commit(outer, f"bump {inner.name}", inner.name)
    hand_commit(sub, "bump l2", "l2")
    hand_commit(repo, "bump mlservice", SUB)
    code, report = verify(env, repo)
    deep = [c for c in report["infra_commits"] if c["repo"] == f"{SUB}/l2/l3/l4/l5"]
    assert code == 1 and deep and deep[0]["status"] == "unverifiable", report


# ================================================================== cause 7: short pins, trailing signature data

@pytest.mark.parametrize("pin", ["short", "upper-short", "not-hex"])
def test_a_trust_root_pin_must_be_a_full_commit_id(repo, env, pin):
    root = trust_root(repo)
    value = {"short": root[:12], "upper-short": root[:7].upper(), "not-hex": "main"}[pin]
    r = env.cli(repo, "verify", "--trust-root", value)
    assert r.returncode == 2 and "Traceback" not in r.stderr, (r.returncode, r.stdout, r.stderr)
    assert len([l for l in r.stderr.splitlines() if l.strip()]) <= 2 and "trust root" in r.stderr.lower(), r.stderr
    ok = env.cli(repo, "verify", "--trust-root", root)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_a_signature_with_text_after_its_end_line_is_refused(repo, env, tmp_path):
    edit(repo / COMPOSE, *RESTART)
    signed = product_commit(env, repo, "compose: restart (signed by Product)", COMPOSE)
    raw = subprocess.run(["git", "cat-file", "commit", signed], cwd=repo, capture_output=True, check=True).stdout
    end = b" -----END SSH SIGNATURE-----"
    assert end in raw
    forged = raw.replace(end, end + b"\n privileged: true", 1)
    sha = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin"], cwd=repo, input=forged,
                         capture_output=True, check=True).stdout.decode().strip()
    git(repo, "update-ref", "refs/heads/main", sha, signed)
    code, report = ci_verify(env, repo, tmp_path)
    assert code == 1 and sha in not_signed(report), report


# ================================================================== cause 9: local and global git config

def _unsigned_submodule_commit(repo: Path) -> str:
    sub = repo / SUB
    (sub / "Dockerfile").write_text((sub / "Dockerfile").read_text() + "USER root\n")
    evil = hand_commit(sub, "docker: tidy", "Dockerfile")
    hand_commit(repo, "bump mlservice", SUB)
    return evil


def _blind(repo: Path, tmp_path: Path, how: str) -> dict:
    name = git(repo, "config", "-f", ".gitmodules", "--get-regexp", r"submodule\..*\.path").split()[0].split(".")[1]
    extra: dict = {}
    if how == "diff.ignoreSubmodules":
        git(repo, "config", "diff.ignoreSubmodules", "all")
    elif how == "submodule.ignore":
        git(repo, "config", f"submodule.{name}.ignore", "all")
    elif how == "uncommitted-gitmodules":
        with (repo / ".gitmodules").open("a") as fh:
            fh.write(f"[submodule \"{name}\"]\n\tignore = all\n")
    elif how == "log.showRoot":
        git(repo, "config", "log.showRoot", "false")
        git(repo / SUB, "config", "log.showRoot", "false")
    elif how == "utf-16":
        git(repo, "config", "i18n.logOutputEncoding", "UTF-16")
    elif how == "global":
        home = tmp_path / "home-of-user"
        home.mkdir()
        (home / ".gitconfig").write_text("[diff]\n\tignoreSubmodules = all\n[log]\n\tshowRoot = false\n")
        extra = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    return extra


@pytest.mark.parametrize("how", ["diff.ignoreSubmodules", "submodule.ignore", "uncommitted-gitmodules", "utf-16",
                                 "global"])
def test_git_config_cannot_blind_verify_and_review_to_an_unsigned_submodule_commit(repo, env, tmp_path, how):
    evil = _unsigned_submodule_commit(repo)
    extra = _blind(repo, tmp_path, how)
    code, report = verify(env, repo, extra_env=extra)
    assert code == 1 and evil in not_signed(report), report
    r = env.cli(repo, "review", "--format", "json", env=extra)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    titles = [f["title"] for f in json.loads(r.stdout)["findings"] if f["id"] == "GATE001"]
    assert any(evil[:12] in t for t in titles), titles
