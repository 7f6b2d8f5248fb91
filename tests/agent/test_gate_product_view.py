"""What Product reads: the approve summary before the raw commits, the release notes and checklist read from
git, and the next-step hints the gate commands print (each one runs as printed).

Real CLI, real git and submodules, real ssh-keygen (and ssh-agent with an askpass program that counts how
often the passphrase is asked)."""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from gate_helpers import GOOD, LABEL, RESTART, SUB, SUB_META, build_template, copy_repo, git, hand_commit, make_patch

HINT = re.compile(r"`((?:devops-agent|ssh-add) [^`]+)`")


@pytest.fixture(scope="module")
def tpl(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("product-view-tpl"))


@pytest.fixture
def repo(tpl, tmp_path) -> Path:
    return copy_repo(tpl[0], tmp_path / "animesphere")


@pytest.fixture
def env(tpl):
    return tpl[1]


def ok(r: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    return r


def propose(env, repo: Path, tmp: Path, edit, meta, scope: str, *extra: str) -> str:
    patch = make_patch(repo, *edit, tmp / f"{scope}.diff")
    r = ok(env.cli(repo, "propose", "--patch", str(patch), *meta, "--scope", scope, "--format", "json", *extra))
    rec = json.loads(r.stdout)
    assert rec["status"] == "pending", rec
    return rec["id"]


def landed(env, repo: Path, tmp: Path, edit, meta, scope: str, *extra: str) -> str:
    pid = propose(env, repo, tmp, edit, meta, scope, *extra)
    ok(env.cli(repo, "approve", pid, "--key", str(env.key), "--yes"))
    ok(env.cli(repo, "apply", pid))
    return pid


def ref(repo: Path, name: str) -> str:
    return git(repo, "rev-parse", name).strip()


def hints_in(text: str) -> list[list[str]]:
    return [shlex.split(h) for h in HINT.findall(text)]


def filled(argv: list[str], **values: str) -> list[str]:
    return [values.get(word, word) for word in argv]


def usage_error(r: subprocess.CompletedProcess) -> bool:
    """The CLI's parser refused the line (unknown option, missing argument): one line naming `--help`."""
    return r.returncode == 2 and "--help`)" in r.stderr


def run_hint(env, repo: Path, argv: list[str]) -> subprocess.CompletedProcess:
    assert argv[0] == "devops-agent", argv
    r = env.cli(repo, *argv[1:])
    assert not usage_error(r), (argv, r.stderr)
    return r


# ------------------------------------------------------------------------------ deliverables from git

def test_release_notes_and_checklist_list_every_signed_change_since_the_tag_platform_and_submodule(repo, env, tmp_path):
    before = landed(env, repo, tmp_path, RESTART, GOOD, "compose")
    git(repo, "tag", "0.5.0-rc1")  # the last release: what came before it is not in this release
    pid = landed(env, repo, tmp_path, LABEL, SUB_META, "docker", "--intention", "INT-13")
    forward = {"platform": ref(repo, "HEAD"), SUB: ref(repo / SUB, "HEAD")}
    ok(env.cli(repo, "rollback", pid))
    reverted = {"platform": ref(repo, "HEAD"), SUB: ref(repo / SUB, "HEAD")}
    # The role's own commit dressed as a gate change: listed, never as signed.
    (repo / "docker-compose.prod.yml").write_text((repo / "docker-compose.prod.yml").read_text() + "\n# tuned\n")
    forged = hand_commit(repo, "[devops] chore: tune\n\nReason: tuning\nRisk: none\nRollback: revert it\n"
                               "Proposal: p-20990101-abcdef\nApproved-by: product@animesphere\n",
                         "docker-compose.prod.yml")
    # A message the gate's strict reader refuses (a trailer twice) is listed as refused, not read "first wins".
    (repo / "docker-compose.prod.yml").write_text((repo / "docker-compose.prod.yml").read_text() + "# again\n")
    twice = hand_commit(repo, f"[devops] chore: again\n\nReason: r\nProposal: {pid}\nProposal: p-20990101-abcdef\n",
                        "docker-compose.prod.yml")

    notes = json.loads(ok(env.cli(repo, "release", "notes", "--format", "json")).stdout)
    assert notes["since"] == "0.5.0-rc1"
    by = {(c["proposal"], c["kind"]): c for c in notes["changes"]}
    assert (before, "change") not in by
    change, revert = by[(pid, "change")], by[(pid, "revert")]
    assert change["commits"] == forward and revert["commits"] == reverted
    reason, risk, rollback = SUB_META[1], SUB_META[3], SUB_META[5]
    for c in (change, revert):
        assert (c["reason"], c["risk"], c["rollback"]) == (reason, risk, rollback)
        assert c["approved_by"].startswith("product@animesphere (SHA256:")
        assert c["intention"].startswith("INT-13 (")
        assert c["signed"] is True, c["signatures"]
    assert change["reverts"] is None
    assert revert["reverts"] == pid and revert["reverts_commits"] == forward
    assert by[("p-20990101-abcdef", "change")]["signed"] is False
    assert by[("p-20990101-abcdef", "change")]["commits"] == {"platform": forged}
    [refused] = [c for c in notes["changes"] if c["commits"] == {"platform": twice}]
    assert refused["signed"] is False and "appears twice" in refused["signatures"]["platform"]

    text = ok(env.cli(repo, "release", "notes")).stdout
    checklist = ok(env.cli(repo, "release", "checklist")).stdout
    section = checklist.split("## Changes in this release", 1)[1]
    for shown in (text, section):
        for field in (reason, risk, rollback, "product@animesphere (SHA256:", "intention: INT-13 (",
                      f"reverts: proposal {pid}", forward[SUB][:12], reverted["platform"][:12]):
            assert field in shown, (field, shown)
        assert before not in shown
        assert "tune — NOT SIGNED BY PRODUCT" in shown
    cl = json.loads(ok(env.cli(repo, "release", "checklist", "--format", "json")).stdout)
    assert {(c["proposal"], c["kind"]) for c in cl["changes"]} == set(by)


# ------------------------------------------------------------------------------ what Product reads

def test_approve_says_in_words_what_changes_and_which_trees_are_signed_before_the_raw_commits(repo, env, tmp_path):
    pid = propose(env, repo, tmp_path, RESTART, GOOD, "compose", "--intention", "INT-13")
    out = ok(env.cli(repo, "approve", pid, "--key", str(env.key), "--yes")).stdout
    summary, raw = out.split("== The raw commits ==", 1)
    assert "anime-saas-mlscheduler: restart policy set to unless-stopped" in summary
    assert "  - fixes CMP011 prod: anime-saas-mlscheduler has no restart policy (medium)" in summary
    assert "docker-compose.prod.yml (services: anime-saas-mlscheduler)" in summary
    for said in (GOOD[1], GOOD[3], GOOD[5], "Intention: INT-13 (", "fixes CMP011", "0 new blocker/high"):
        assert said in summary, said
    signed, revert = ref(repo, f"refs/devops-agent/approved/{pid}"), ref(repo, f"refs/devops-agent/rollback/{pid}")
    # What is signed is named before signing: the trees of the change and of its revert, on their parents.
    assert ref(repo, f"{signed}^{{tree}}") in summary and ref(repo, f"{revert}^{{tree}}") in summary
    assert ref(repo, f"{signed}^") in summary  # the change's parent
    assert "known only once signed" in summary and "nothing is asked" in summary
    # The raw part shows the change and its revert, each marked as an unsigned preview whose id changes.
    previews = re.findall(r"^commit ([0-9a-f]{40})$", raw, re.M)
    assert len(previews) == 2 and signed not in previews and revert not in previews
    assert raw.count("unsigned preview: this commit id changes once signed") == 2
    assert "-    restart: unless-stopped" in raw  # the revert's diff
    # After signing, the ids that apply and rollback land.
    assert f"change {signed}" in raw and f"revert {revert}" in raw


def _askpass(tmp: Path, passphrase: str) -> tuple[Path, Path]:
    count = tmp / "asked"
    script = tmp / "askpass.sh"
    script.write_text(f"#!/bin/sh\necho x >> '{count}'\necho '{passphrase}'\n")
    script.chmod(0o755)
    return script, count


def _asked(count: Path) -> int:
    return len(count.read_text().splitlines()) if count.exists() else 0


def test_approve_says_how_often_the_passphrase_is_asked_and_asks_nothing_through_ssh_agent(repo, env, tmp_path):
    key = tmp_path / "keys" / "second"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "s3cret-phrase", "-C", "second", "-f", str(key)],
                   check=True)
    ok(env.cli(repo, "product-key", "add", f"{key}.pub", "--identity", "second@animesphere", "--key", str(env.key)))
    askpass, count = _askpass(tmp_path, "s3cret-phrase")
    secret_env = {"SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0", "SSH_AUTH_SOCK": ""}

    pid = propose(env, repo, tmp_path, LABEL, SUB_META, "docker")  # a submodule change: three signing runs
    out = ok(env.cli(repo, "approve", pid, "--key", str(key), "--yes", env=secret_env)).stdout
    said = re.search(r"Passphrase: the passphrase is asked (\d+) times: (.*)", out)
    assert said, out.split("== The raw commits ==")[0]
    assert int(said.group(1)) == _asked(count) == 3
    assert f"ssh-add {key}" in out and f"--key {key}.pub" in out
    # Not a compose file: said by its lines, a small change quoted.
    assert "1 line(s) added, 0 removed: adds `LABEL org.opencontainers.image.source=mlservice`" in out

    sock = tmp_path / "agent.sock"
    started = subprocess.run(["ssh-agent", "-s", "-a", str(sock)], capture_output=True, text=True, check=True)
    agent_pid = int(re.search(r"SSH_AGENT_PID=(\d+)", started.stdout).group(1))
    try:
        agent_env = {**secret_env, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(key)], check=True, env={**os.environ, **agent_env},
                       stdin=subprocess.DEVNULL, capture_output=True)
        typed = _asked(count)
        pid = propose(env, repo, tmp_path, RESTART, GOOD, "compose")
        out = ok(env.cli(repo, "approve", pid, "--key", f"{key}.pub", "--yes", env=agent_env)).stdout
        assert "Passphrase: the key is loaded in ssh-agent: nothing is asked (2 signing runs" in out
        assert _asked(count) == typed
    finally:
        os.kill(agent_pid, signal.SIGTERM)


# ------------------------------------------------------------------------------ hints run as printed

def test_the_hints_of_propose_approve_and_apply_run_as_printed(repo, env, tmp_path):
    patch = make_patch(repo, *RESTART, tmp_path / "c.diff")
    out = ok(env.cli(repo, "propose", "--patch", str(patch), *GOOD, "--scope", "compose")).stdout
    [hint] = [h for h in hints_in(out) if h[1] == "approve"]
    pid = hint[2]
    r = run_hint(env, repo, filled(hint, KEY=str(env.key)))
    assert "pass --yes" in r.stdout  # accepted; outside a terminal it asks for --yes before signing

    out = ok(env.cli(repo, "approve", pid, "--key", str(env.key), "--yes")).stdout
    [hint] = [h for h in hints_in(out.rsplit("\n", 2)[-2]) if h[1] == "apply"]
    out = ok(run_hint(env, repo, hint)).stdout
    [hint] = [h for h in hints_in(out) if h[1] == "rollback"]
    ok(run_hint(env, repo, hint))
    assert git(repo, "show", "HEAD", "--format=%(trailers:key=Reverts,valueonly)", "-s").strip() == pid


def test_the_accept_hint_of_a_refused_approval_runs_as_printed(repo, env, tmp_path):
    (repo / "docker-compose.prod.yml").write_text((repo / "docker-compose.prod.yml").read_text() + "\n# by hand\n")
    sha = hand_commit(repo, "tune the compose file by hand", "docker-compose.prod.yml")
    pid = propose(env, repo, tmp_path, RESTART, GOOD, "compose")
    r = env.cli(repo, "approve", pid, "--key", str(env.key), "--yes")
    assert r.returncode == 1, r.stdout
    [hint] = [h for h in hints_in(r.stderr) if h[1] == "accept"]
    line = filled(hint, SHA=sha, KEY=str(env.key))
    assert "pass --yes" in run_hint(env, repo, line).stdout  # accepted; outside a terminal it asks for --yes
    ok(run_hint(env, repo, [*line, "--yes"]))
    ok(env.cli(repo, "approve", pid, "--key", str(env.key), "--yes"))


def test_every_hint_of_the_one_place_is_accepted_by_the_cli(repo, env, tmp_path):
    from agent.core import hints

    pid = propose(env, repo, tmp_path, RESTART, GOOD, "compose")
    values = {"PROPOSAL": pid, "KEY": str(env.key), "SHA": ref(repo, "HEAD")}
    assert len(hints.EXAMPLES) >= 10
    for name, example in hints.EXAMPLES.items():
        argv = filled(shlex.split(example()), **values)
        r = env.cli(repo, *argv[1:])
        assert not usage_error(r), (name, argv, r.stderr)
