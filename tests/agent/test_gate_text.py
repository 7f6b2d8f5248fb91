"""Issue 19, causes 4, 8, 10 and 11: what the gate shows, writes into a signed message, and reads back.

Played as the agent with a same-user shell (plain git, the state database, the Notion source), against
Product's real steps with the real key and ssh-keygen: invisible characters in what Product reads, a Notion
status that writes trailers into the signed message, trailers read twice or outside the trailer block, an
approval kept past its expiry, a forged `applying` row, a hand commit to the signer list. Every test here
failed on the code before its fix (see the report of issue 19).
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gate_helpers import (GOOD, RESTART, Env, agent_key, copy_repo, git, hand_commit, head,
                          make_patch, reseal)

from agent.example import init_example

# The Notion status of INT-13 as the agent set it (live Notion, or an export): it closes the `Intention:`
# line of the signed message and opens trailers of its own, which were read first.
FORGED_STATUS = "Validée\nApproval-Expires: 2099-12-31T00:00:00Z\nAudit-Head: 0:forged"
INT13_STATUS = '),Validée,"Quand le site tombe'


# ------------------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def tpl(tmp_path_factory):
    base = tmp_path_factory.mktemp("text-tpl")
    env = Env(base)
    repo = init_example(base / "animesphere")
    csv = next((repo / "notion-export").glob("Intention *.csv"))
    text = csv.read_text(encoding="utf-8")
    assert INT13_STATUS in text
    csv.write_text(text.replace(INT13_STATUS, '),"' + FORGED_STATUS + '","Quand le site tombe', 1), encoding="utf-8")
    hand_commit(repo, "notion: export of the week", "notion-export")  # before the trust root: not judged
    r = env.cli(repo, "product-key", "init", "--identity", "product@animesphere", "--out", str(env.key),
                "--no-passphrase")
    assert r.returncode == 0, r.stderr
    subprocess.run(["rm", "-rf", str(repo / ".devops-agent")], check=True)
    return repo, env, agent_key(base / "agent-keys" / "mine")


@pytest.fixture
def repo(tpl, tmp_path) -> Path:
    return copy_repo(tpl[0], tmp_path / "animesphere")


@pytest.fixture
def env(tpl) -> Env:
    return tpl[1]


def propose(env: Env, repo: Path, patch: Path, *extra: str) -> dict:
    r = env.cli(repo, "propose", "--patch", str(patch), *GOOD, "--scope", "compose", "--format", "json", *extra)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def approve(env: Env, repo: Path, pid: str) -> subprocess.CompletedProcess:
    return env.cli(repo, "approve", pid, "--key", str(env.key), "--yes")


def approved_ref(repo: Path, pid: str) -> str:
    return git(repo, "rev-parse", f"refs/devops-agent/approved/{pid}").strip()


def message(repo: Path, sha: str) -> str:
    return git(repo, "cat-file", "commit", sha).split("\n\n", 1)[1]


def status(env: Env, repo: Path, pid: str) -> str:
    r = env.cli(repo, "proposals", "show", pid, "--format", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["status"]


def verify(env: Env, repo: Path, *args: str) -> tuple[int, dict]:
    r = env.cli(repo, "verify", "--format", "json", *args)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def product_signs(env: Env, repo: Path, raw: bytes) -> str:
    """A commit object signed with Product's real key, as an older gate (or Product's own git) wrote it."""
    from agent.gate import commits as gc
    from agent.gate import ssh

    payload = raw
    sig = ssh.sign(payload, env.key, ssh.GIT_NAMESPACE)
    return gc.write_commit(repo, gc.with_signature(payload, sig))


def resign(env: Env, repo: Path, sha: str, new_message: str) -> str:
    """The commit `sha` with another message, signed by Product's key (what the old gate signed)."""
    raw = subprocess.run(["git", "cat-file", "commit", sha], cwd=repo, capture_output=True, check=True).stdout
    head_, _, _ = raw.partition(b"\n\n")
    kept = []
    in_sig = False
    for line in head_.split(b"\n"):
        if line.startswith(b"gpgsig "):
            in_sig = True
            continue
        if in_sig and line.startswith(b" "):
            continue
        in_sig = False
        kept.append(line)
    return product_signs(env, repo, b"\n".join(kept) + b"\n\n" + new_message.encode("utf-8"))


# ================================================================== 8. invisible characters

INVISIBLE = {"\u2060": "\\u2060", "\u200b": "\\u200b", "\u200d": "\\u200d", "\u061c": "\\u061c",
             "\u00ad": "\\xad", "\ufeff": "\\ufeff", "\U000e0041": "\\U000e0041", "\ue000": "\\ue000",
             "\u2064": "\\u2064", "\u0378": "\\u0378"}


def test_invisible_characters_in_a_diff_are_shown_escaped_at_approve(repo, env, tmp_path):
    """`MYSQL_ROOT<U+2060>_HOST: localhost` reads as the honest key on Product's screen; MySQL sees another
    variable, and root stays reachable from anywhere. Each invisible character must show as an escape."""
    lines = "".join(f"      MYSQL_ROOT{ch}_HOST{i}: localhost\n" for i, ch in enumerate(INVISIBLE))
    patch = make_patch(repo, "docker-compose.prod.yml", "      MYSQL_DATABASE: ${DB_NAME}\n",
                       "      MYSQL_DATABASE: ${DB_NAME}\n" + lines, tmp_path / "invisible.diff")
    rec = propose(env, repo, patch)
    assert rec["status"] == "pending", rec
    r = approve(env, repo, rec["id"])
    assert r.returncode == 0, r.stderr
    for i, (raw, shown) in enumerate(INVISIBLE.items()):
        assert raw not in r.stdout
        assert f"+      MYSQL_ROOT{shown}_HOST{i}: localhost" in r.stdout, (shown, r.stdout[-1500:])


def test_invisible_characters_in_a_hand_commit_are_escaped_in_verify(repo, env):
    """What `verify` prints of a commit (its subject) is the agent's text too."""
    compose = repo / "docker-compose.prod.yml"
    compose.write_text(compose.read_text().replace("MYSQL_DATABASE: ${DB_NAME}", "MYSQL_DATABASE: app", 1))
    hand_commit(repo, "chore: docs only\u2060\u202e", "docker-compose.prod.yml")
    r = env.cli(repo, "verify")
    assert r.returncode == 1
    assert "\u2060" not in r.stdout and "docs only\\u2060\\u202e" in r.stdout, r.stdout


@pytest.mark.parametrize("ch", ["\u2060", "\u00ad", "\U000e0041", "\u2063"])
def test_metadata_with_an_invisible_character_is_refused(repo, env, tmp_path, ch):
    patch = make_patch(repo, *RESTART, tmp_path / "change.diff")
    meta = dict(zip(GOOD[::2], GOOD[1::2]))
    meta["--reason"] = f"the mlscheduler must restart{ch} by itself after a crash"
    r = env.cli(repo, "propose", "--patch", str(patch), *[x for kv in meta.items() for x in kv],
                "--scope", "compose")
    assert r.returncode == 2 and "Traceback" not in r.stderr, (r.returncode, r.stderr)
    assert f"U+{ord(ch):04X}" in r.stderr, r.stderr


# ================================================================== 10. trailers: written once, read strictly

def test_a_notion_status_cannot_write_trailers_into_the_signed_message(repo, env, tmp_path):
    """INT-13's status (Notion: whoever edits the page) holds newlines and trailer lines; the signed message
    must keep them on the `Intention:` line, escaped, with exactly one `Approval-Expires:` (the gate's)."""
    rec = propose(env, repo, make_patch(repo, *RESTART, tmp_path / "change.diff"), "--intention", "INT-13")
    assert rec["status"] == "pending", rec
    r = approve(env, repo, rec["id"])
    assert r.returncode == 0, r.stderr
    text = message(repo, approved_ref(repo, rec["id"]))
    expires = [line for line in text.splitlines() if line.lower().startswith("approval-expires")]
    audit = [line for line in text.splitlines() if line.lower().startswith("audit-head")]
    assert len(expires) == 1 and "2099" not in expires[0] and len(audit) == 1, text
    assert expires[0].split(": ", 1)[1] in r.stdout  # what approve says is what the message binds
    assert "verify --new-since" in r.stdout  # and what that expiry really bounds
    intention = [line for line in text.splitlines() if line.startswith("Intention: ")]
    assert len(intention) == 1 and "Validée\\x0aApproval-Expires: 2099" in intention[0], text
    parsed = subprocess.run(["git", "interpret-trailers", "--parse"], input=text, capture_output=True, text=True,
                            check=True).stdout
    keys = [line.split(":", 1)[0] for line in parsed.splitlines()]  # git's own reading of the trailers
    assert keys.count("Approval-Expires") == 1 and keys.count("Audit-Head") == 1, parsed


def _doubled_expiry(text: str) -> str:
    """The message the previous gate signed when INT-13's status held a newline: the forged expiry first."""
    return text.replace("Approval-Expires: ", "Approval-Expires: 2099-12-31T00:00:00Z\nApproval-Expires: ", 1)


def _expiry_in_the_body(text: str) -> str:
    subject, _, rest = text.partition("\n\n")
    return f"{subject}\n\nApproval-Expires: 2099-12-31T00:00:00Z\n\n{rest}"


@pytest.mark.parametrize("forge", [_doubled_expiry, _expiry_in_the_body], ids=["twice", "outside-the-block"])
def test_a_signed_approval_whose_trailers_are_not_unique_and_in_place_does_not_land(repo, env, tmp_path, forge):
    """An approval the older gate signed over a Notion status with newlines (Product's real key): kept by
    the agent at the approved ref, it must be refused by apply with the reason, and nothing lands."""
    rec = propose(env, repo, make_patch(repo, *RESTART, tmp_path / "change.diff"))
    assert approve(env, repo, rec["id"]).returncode == 0
    before = head(repo)
    signed = approved_ref(repo, rec["id"])
    forged = resign(env, repo, signed, forge(message(repo, signed)))
    git(repo, "update-ref", f"refs/devops-agent/approved/{rec['id']}", forged)
    r = env.cli(repo, "apply", rec["id"])
    assert r.returncode == 1 and "Approval-Expires" in r.stderr, (r.returncode, r.stdout, r.stderr)
    assert head(repo) == before and "Traceback" not in r.stderr


@pytest.mark.parametrize("where", ["body", "twice", "subject"])
def test_an_accepts_line_outside_the_trailer_block_or_twice_accepts_nothing(repo, env, where):
    """A Product-signed commit whose `Accepts:` is in its body (the older gate's approval over a status with a
    blank line), in its subject, or doubled: verify must not count the unsigned commit as accepted, and must
    say why it refuses the signed one."""
    compose = repo / "docker-compose.prod.yml"
    compose.write_text(compose.read_text().replace("MYSQL_DATABASE: ${DB_NAME}", "MYSQL_DATABASE: app", 1))
    unsigned = hand_commit(repo, "chore: tidy the prod compose", "docker-compose.prod.yml")
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    trailer = f"Accepts: {unsigned}"
    text = {"body": f"[devops] chore(gate): weekly sync\n\nIntention: INT-13 (Validée\n\n{trailer}\n\n"
                    "Approved-by: product@animesphere\n",
            "twice": f"[devops] chore(gate): weekly sync\n\nReason: read\n{trailer}\n{trailer}\n"
                     "Approved-by: product@animesphere\n",
            "subject": f"{trailer}\n\nReason: read\nApproved-by: product@animesphere\n"}[where]
    stamp = "product <product@animesphere> 1765000000 +0000"
    raw = f"tree {tree}\nparent {unsigned}\nauthor {stamp}\ncommitter {stamp}\n\n{text}".encode()
    sha = product_signs(env, repo, raw)
    git(repo, "update-ref", git(repo, "symbolic-ref", "HEAD").strip(), sha, unsigned)
    code, report = verify(env, repo)
    assert code == 1, report
    assert unsigned in {c["sha"] for c in report["infra_commits"] if c["status"] != "signed"
                        and c["status"] != "accepted"}, report
    assert any(sha[:12] in p and "Accepts" in p for p in report["problems"]), report


# ================================================================== 11b. a forged in-flight row

@pytest.mark.parametrize("forged", ["applying", "rolling_back"])
def test_a_forged_in_flight_row_is_not_recovered_into_an_approval(repo, env, tmp_path, forged):
    """The agent reseals a pending proposal's row as `applying` (or `rolling_back`) with the machine secret:
    recovery must read from git that no signed approval exists, and leave it pending, not approved/applied."""
    rec = propose(env, repo, make_patch(repo, *RESTART, tmp_path / "change.diff"))
    assert rec["status"] == "pending", rec
    before = head(repo)
    reseal(env, repo, "proposals", "id", rec["id"], {"status": forged})
    assert status(env, repo, rec["id"]) == "pending"
    assert head(repo) == before
    r = env.cli(repo, "apply", rec["id"])
    assert r.returncode == 1 and head(repo) == before, (r.stdout, r.stderr)


def test_a_killed_apply_of_a_real_approval_still_recovers_into_approved(repo, env, tmp_path):
    """The honest case stays (a guard, not an attack): an `applying` row whose signed approval is in git, HEAD
    not moved, goes back to approved."""
    rec = propose(env, repo, make_patch(repo, *RESTART, tmp_path / "change.diff"))
    assert approve(env, repo, rec["id"]).returncode == 0
    reseal(env, repo, "proposals", "id", rec["id"], {"status": "applying"})
    assert status(env, repo, rec["id"]) == "approved"


# ================================================================== 11a. a hand commit to the signer list

def test_product_signs_its_way_back_after_a_hand_commit_to_the_signer_list(repo, env, tpl, tmp_path):
    """The agent commits its own signer list by hand: Product's key no longer counts (before: never again).
    `product-key restore` (Product's key) writes a signed commit restoring the list Product last signed and
    accounting for the hand commit; verify is green again on a fresh clone, and Product approves again."""
    mine = tpl[2]
    pub = (mine.parent / "mine.pub").read_text().split()
    (repo / ".allowed_signers").write_text(f'agent@evil namespaces="git,devops-agent" {pub[0]} {pub[1]}\n')
    hand = hand_commit(repo, "chore(signers): rotate", ".allowed_signers")
    rec = propose(env, repo, make_patch(repo, *RESTART, tmp_path / "change.diff"))
    assert approve(env, repo, rec["id"]).returncode == 1  # the branch carries the unsigned signer change
    assert env.cli(repo, "product-key", "restore", "--key", str(mine)).returncode == 1  # not Product's key
    r = env.cli(repo, "product-key", "restore", "--key", str(env.key))
    assert r.returncode == 0, (r.stdout, r.stderr)
    restore = head(repo)
    assert hand[:12] in r.stdout and restore != hand
    assert git(repo, "show", "HEAD:.allowed_signers") == git(repo, "show", f"{hand}~1:.allowed_signers")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(remote), str(ci))
    code, report = verify(env, ci)
    assert code == 0, report
    assert {c["sha"]: c["status"] for c in report["infra_commits"]}.get(hand) == "accepted", report
    assert approve(env, repo, rec["id"]).returncode == 0
    assert env.cli(repo, "apply", rec["id"]).returncode == 0
    assert verify(env, repo)[0] == 0


def test_restore_is_refused_when_nothing_was_changed_by_hand(repo, env):
    r = env.cli(repo, "product-key", "restore", "--key", str(env.key))
    assert r.returncode == 2 and "nothing to restore" in r.stderr, (r.returncode, r.stderr)


# ================================================================== 4. expiry

def _resigned_with_times(env: Env, repo: Path, sha: str, signed_at: int, expires: str) -> str:
    """The approved commit as Product's key signs it at `signed_at` (epoch) with `expires` as its expiry."""
    raw = subprocess.run(["git", "cat-file", "commit", sha], cwd=repo, capture_output=True, check=True).stdout
    head_, _, body = raw.partition(b"\n\n")
    lines = []
    for line in head_.decode().split("\n"):
        if line.startswith(("gpgsig ", " ")):
            continue
        if line.startswith(("author ", "committer ")):
            who = line.rsplit(" ", 2)[0]
            line = f"{who} {signed_at} +0000"
        lines.append(line)
    text = body.decode()
    old = next(line for line in text.splitlines() if line.startswith("Approval-Expires: "))
    text = text.replace(old, f"Approval-Expires: {expires}")
    return product_signs(env, repo, ("\n".join(lines) + "\n\n" + text).encode())


def _ci_clone(repo: Path, tmp: Path) -> Path:
    remote = tmp / "remote.git"
    git(tmp, "clone", "-q", "--bare", str(repo), str(remote))
    ci = tmp / "ci"
    git(tmp, "clone", "-q", str(remote), str(ci))
    return ci


def test_an_approval_landed_by_hand_after_it_expired_fails_ci_on_push(repo, env, tmp_path):
    """The agent keeps an approval Product signed 8 days ago (expired yesterday) and lands it with
    `git merge --ff-only` while HEAD has not moved. `apply` refuses it; on push, CI runs
    `verify --new-since <before>` with its own clock and must name it."""
    import time

    rec = propose(env, repo, make_patch(repo, *RESTART, tmp_path / "change.diff"))
    assert approve(env, repo, rec["id"]).returncode == 0
    base = head(repo)
    now = int(time.time())
    kept = _resigned_with_times(env, repo, approved_ref(repo, rec["id"]), now - 8 * 86400,
                                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 86400)))
    git(repo, "update-ref", f"refs/devops-agent/approved/{rec['id']}", kept)
    r = env.cli(repo, "apply", rec["id"])
    assert r.returncode == 1 and "expired" in r.stderr and head(repo) == base, r.stderr
    git(repo, "merge", "-q", "--ff-only", kept)
    ci = _ci_clone(repo, tmp_path)
    code, report = verify(env, ci, "--new-since", base)
    assert code == 1 and any(kept[:12] in p and "expired" in p for p in report["problems"]), report


def test_an_approval_landed_before_it_expires_passes_ci_on_push(repo, env, tmp_path):
    """A guard: the same push inside the approval's validity is green."""
    rec = propose(env, repo, make_patch(repo, *RESTART, tmp_path / "change.diff"))
    assert approve(env, repo, rec["id"]).returncode == 0
    base = head(repo)
    git(repo, "merge", "-q", "--ff-only", approved_ref(repo, rec["id"]))
    code, report = verify(env, _ci_clone(repo, tmp_path), "--new-since", base)
    assert code == 0, report


def test_an_approval_signed_for_longer_than_the_ttl_cap_is_refused_by_verify(repo, env, tmp_path):
    """What git alone proves: the expiry and the signing time are both under Product's signature, so an
    approval valid for longer than the 7-day cap (the old gate over a Notion status: 2099) is refused."""
    import time

    rec = propose(env, repo, make_patch(repo, *RESTART, tmp_path / "change.diff"))
    assert approve(env, repo, rec["id"]).returncode == 0
    kept = _resigned_with_times(env, repo, approved_ref(repo, rec["id"]), int(time.time()), "2099-12-31T00:00:00Z")
    git(repo, "merge", "-q", "--ff-only", kept)
    code, report = verify(env, _ci_clone(repo, tmp_path))
    assert code == 1, report
    bad = {c["sha"]: c for c in report["infra_commits"]}[kept]
    assert bad["status"] == "bad-trailers" and "7 days" in bad["detail"], bad


# ================================================================== 11c. the GitHub Action

def _run_action(env: Env, ci: Path, event: dict) -> subprocess.CompletedProcess:
    """The Action's verify step as GitHub runs it: its `run:` script, with the env its expressions give."""
    import os
    import sys

    import yaml

    action = yaml.safe_load((Path(__file__).resolve().parents[2] / "action.yml").read_text())
    [step] = [s for s in action["runs"]["steps"] if s.get("name") == "Verify Product's signatures"]
    # the install step's output: the CLI of this checkout, as the Action's own venv would run it
    exe = ci.parent / "devops-agent"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m agent.cli "$@"\n')
    exe.chmod(0o755)
    given = {"TRUST_ROOT": "", "RANGE": "", "PR_HEAD": "", "BEFORE": "", "EVENT": "push", **event,
             "GITHUB_WORKSPACE": str(ci), "DEVOPS_AGENT": str(exe)}
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(["bash", "-e", "-c", step["run"]], capture_output=True, text=True,
                          env=env.env({**given, "PATH": path}), timeout=300)


def test_the_action_verifies_the_pull_requests_head_not_githubs_merge_commit(repo, env, tmp_path):
    """A PR carrying a Product-signed change: GitHub checks out its own unsigned merge commit of the PR into
    main. The Action must verify the PR's head (what lands by fast-forward) and pass."""
    rec = propose(env, repo, make_patch(repo, *RESTART, tmp_path / "change.diff"))
    assert approve(env, repo, rec["id"]).returncode == 0
    signed = approved_ref(repo, rec["id"])
    git(repo, "branch", "pr", signed)
    ci = _ci_clone(repo, tmp_path)
    git(ci, "fetch", "-q", "origin", "pr")
    git(ci, "checkout", "-q", "--detach", "HEAD")
    git(ci, "merge", "-q", "--no-ff", "-m", f"Merge {signed[:7]} into main", signed)  # GitHub's test merge
    assert env.cli(ci, "verify").returncode == 1  # the merge commit itself is not Product-signed
    r = _run_action(env, ci, {"PR_HEAD": signed, "EVENT": "pull_request"})
    assert r.returncode == 0, (r.stdout, r.stderr)
    action = (Path(__file__).resolve().parents[2] / "action.yml").read_text()
    assert "PR_HEAD: ${{ github.event.pull_request.head.sha }}" in action  # what GitHub gives PR_HEAD


def test_the_action_on_push_fails_an_approval_landed_after_its_expiry(repo, env, tmp_path):
    import time

    rec = propose(env, repo, make_patch(repo, *RESTART, tmp_path / "change.diff"))
    assert approve(env, repo, rec["id"]).returncode == 0
    base = head(repo)
    now = int(time.time())
    kept = _resigned_with_times(env, repo, approved_ref(repo, rec["id"]), now - 8 * 86400,
                                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 86400)))
    git(repo, "merge", "-q", "--ff-only", kept)
    ci = _ci_clone(repo, tmp_path)
    r = _run_action(env, ci, {"BEFORE": base})
    assert r.returncode == 1 and "expired" in r.stdout, (r.stdout, r.stderr)
    assert _run_action(env, ci, {"BEFORE": "0" * 40}).returncode == 0  # a new branch: nothing was on it before


def test_restore_does_not_accept_what_else_the_hand_commit_changed(repo, env, tpl):
    """The agent's signer-list commit also sets `privileged: true`: restoring the list must not account for
    that; verify still names the commit until Product reads and accepts or reverts it."""
    mine = tpl[2]
    pub = (mine.parent / "mine.pub").read_text().split()
    (repo / ".allowed_signers").write_text(f'agent@evil namespaces="git,devops-agent" {pub[0]} {pub[1]}\n')
    compose = repo / "docker-compose.prod.yml"
    compose.write_text(compose.read_text().replace("      MYSQL_DATABASE: ${DB_NAME}\n",
                                                   "      MYSQL_DATABASE: ${DB_NAME}\n    privileged: true\n", 1))
    hand = hand_commit(repo, "chore(signers): rotate", ".allowed_signers", "docker-compose.prod.yml")
    r = env.cli(repo, "product-key", "restore", "--key", str(env.key))
    assert r.returncode == 0, r.stderr
    code, report = verify(env, repo)
    assert code == 1 and {c["sha"]: c["status"] for c in report["infra_commits"]}.get(hand) not in (
        "accepted", "signed"), report


def test_the_summary_product_reads_keeps_a_notion_status_on_its_line(repo, env, tmp_path):
    """The words Product reads before the commits: the forged status must not print as lines of its own
    that look like the gate's (`Approval-Expires: 2099...` at the start of a line)."""
    rec = propose(env, repo, make_patch(repo, *RESTART, tmp_path / "change.diff"), "--intention", "INT-13")
    r = approve(env, repo, rec["id"])
    assert r.returncode == 0, r.stderr
    assert not [line for line in r.stdout.splitlines() if line.startswith("Approval-Expires: 2099")], r.stdout
    assert "Validée\\x0aApproval-Expires: 2099" in r.stdout
