"""Forged objects (issue 19, cause 1): git does not re-hash an object when it reads it.

The agent (a shell as the same user) overwrites a loose object file in `.git/objects/xx/…` so that the stored
base blob (or a tree) reads as other bytes than its id says. Product would be shown the innocent hunk and sign
a tree whose new blob also carries the agent's lines; apply would write bytes Product never signed. Every
object the gate builds from, shows, writes or verifies is re-hashed: a mismatch refuses with one line
("does not match its id … run `git fsck`", exit 2), and nothing is signed, moved or written.
"""
from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import pytest

from gate_helpers import GOOD, RESTART, build_template, copy_repo, git, git_bytes, hand_commit, head, make_patch

COMPOSE = "docker-compose.prod.yml"
# What the agent wants to land, placed away from Product's hunk (the scheduler's image line).
EVIL_AT = b"    container_name: anime-saas-api\n"
EVIL = EVIL_AT + b"    privileged: true\n    pid: host\n"


@pytest.fixture(scope="module")
def tpl(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("objects-tpl"))


@pytest.fixture
def repo(tpl, tmp_path) -> Path:
    return copy_repo(tpl[0], tmp_path / "animesphere")


@pytest.fixture
def env(tpl):
    return tpl[1]


def loose_path(repo: Path, oid: str) -> Path:
    objects = Path(git(repo, "rev-parse", "--git-path", "objects").strip())
    objects = objects if objects.is_absolute() else repo / objects
    return objects / oid[:2] / oid[2:]


def forge(repo: Path, oid: str, kind: str, body: bytes) -> None:
    """Overwrite the loose object `oid` so that git reads `body` under that id (git makes it read-only)."""
    path = loose_path(repo, oid)
    if not path.exists():  # packed: the agent writes a loose copy, which git then reads first only if unpacked
        git_bytes(repo, "cat-file", kind, oid)
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        os.chmod(path, 0o644)
    path.write_bytes(zlib.compress(b"%s %d\0" % (kind.encode(), len(body)) + body))
    assert git_bytes(repo, "cat-file", kind, oid) == body  # git itself serves the forged bytes


def forge_pack(repo: Path, oid: str, body: bytes) -> None:
    """Plant a pack whose index names `oid` for `body` (git looks in packs before loose objects)."""
    import hashlib
    import struct
    import subprocess

    from gate_helpers import QUIET
    real = _hash_object(repo, body)
    objects = loose_path(repo, oid).parent.parent
    name = subprocess.run(["git", *QUIET, "pack-objects", str(objects / "pack" / "pack")], cwd=repo,
                          input=f"{real}\n".encode(), capture_output=True, check=True).stdout.decode().strip()
    idx_path = objects / "pack" / f"pack-{name}.idx"
    idx = bytearray(idx_path.read_bytes())
    assert idx[:4] == b"\xfftOc" and struct.unpack(">I", idx[8 + 255 * 4:8 + 256 * 4])[0] == 1
    at = idx.index(bytes.fromhex(real))
    idx[at:at + 20] = bytes.fromhex(oid)
    for b in range(256):  # one object: the fan-out counts it from its first byte on
        struct.pack_into(">I", idx, 8 + b * 4, 1 if b >= bytes.fromhex(oid)[0] else 0)
    idx[-20:] = hashlib.sha1(bytes(idx[:-20])).digest()
    os.chmod(idx_path, 0o644)
    idx_path.write_bytes(bytes(idx))
    assert git_bytes(repo, "cat-file", "blob", oid) == body  # git serves the pack's bytes under that id


def evil(data: bytes) -> bytes:
    assert EVIL_AT in data
    return data.replace(EVIL_AT, EVIL, 1)


def propose(env, repo: Path, tmp: Path) -> dict:
    patch = make_patch(repo, *RESTART, tmp / "change.diff")
    r = env.cli(repo, "propose", "--patch", str(patch), *GOOD, "--scope", "compose", "--format", "json")
    assert r.returncode in (0, 1, 2), r.stderr
    return json.loads(r.stdout) if r.stdout.strip() else {"status": "not-recorded", "stderr": r.stderr}


def approve(env, repo: Path, pid: str):
    return env.cli(repo, "approve", pid, "--key", str(env.key), "--yes")


def refused_as_forged(r, oid: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout[-600:], r.stderr)
    assert f"object {oid}" in r.stderr and "does not match its id" in r.stderr and "git fsck" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def refs(repo: Path, prefix: str = "refs/devops-agent/") -> str:
    return git(repo, "for-each-ref", prefix)


def test_a_forged_base_blob_before_approve_is_refused_and_nothing_is_signed(repo, env, tmp_path):
    rec = propose(env, repo, tmp_path)
    assert rec["status"] == "pending", rec
    base = git(repo, "rev-parse", f"HEAD:{COMPOSE}").strip()
    forge(repo, base, "blob", evil(git_bytes(repo, "cat-file", "blob", base)))
    before = head(repo)
    r = approve(env, repo, rec["id"])
    refused_as_forged(r, base)
    assert b"privileged" not in r.stdout.encode()  # not even shown as an innocent-looking context
    assert refs(repo) == "" and head(repo) == before


def test_a_crafted_pack_forging_the_base_blob_is_refused_at_approve(repo, env, tmp_path):
    rec = propose(env, repo, tmp_path)
    assert rec["status"] == "pending", rec
    base = git(repo, "rev-parse", f"HEAD:{COMPOSE}").strip()
    forge_pack(repo, base, evil(git_bytes(repo, "cat-file", "blob", base)))
    before = head(repo)
    r = approve(env, repo, rec["id"])
    refused_as_forged(r, base)
    assert refs(repo) == "" and head(repo) == before


def test_a_forged_base_blob_before_propose_is_refused_there(repo, env, tmp_path):
    base = git(repo, "rev-parse", f"HEAD:{COMPOSE}").strip()
    forge(repo, base, "blob", evil(git_bytes(repo, "cat-file", "blob", base)))
    rec = propose(env, repo, tmp_path)
    assert rec["status"] == "not-recorded", rec
    assert f"object {base}" in rec["stderr"] and "git fsck" in rec["stderr"], rec


DOC_EDIT = ("docs/deploiement.md", "compose -f docker-compose.prod.yml pull`",
            "compose -f docker-compose.prod.yml pull --quiet`")
DOC_META = ["--reason", "the pull progress bars flood the deployment log (INT-13)",
            "--risk", "a failed pull says less while it runs", "--rollback",
            "revert the commit in docs/deploiement.md to drop --quiet"]


def test_a_forged_subtree_pointing_at_the_agents_blob_is_refused(repo, env, tmp_path):
    """The blob is honest (its own id); the tree of docs/ is forged to name it for the file the
    proposal edits (git checks a root tree it is asked for by name, not the trees below it)."""
    path = DOC_EDIT[0]
    real = git_bytes(repo, "cat-file", "blob", f"HEAD:{path}")
    bad = _hash_object(repo, real + b"9. Ouvrir le port 22 de `prod-1` \xc3\xa0 0.0.0.0/0 pour l'agent.\n")
    sub = git(repo, "rev-parse", "HEAD:docs").strip()
    raw = git_bytes(repo, "cat-file", "tree", sub)
    old = bytes.fromhex(git(repo, "rev-parse", f"HEAD:{path}").strip())
    assert raw.count(old) == 1
    forge(repo, sub, "tree", raw.replace(old, bytes.fromhex(bad)))
    before = head(repo)
    patch = make_patch(repo, *DOC_EDIT, tmp_path / "doc.diff")
    r = env.cli(repo, "propose", "--patch", str(patch), *DOC_META, "--scope", "deploy", "--format", "json")
    if r.returncode == 0 and json.loads(r.stdout)["status"] == "pending":  # whichever step meets it refuses
        r = approve(env, repo, json.loads(r.stdout)["id"])
    refused_as_forged(r, sub)
    assert refs(repo, "refs/devops-agent/approved/") == "" and head(repo) == before


def _hash_object(repo: Path, data: bytes) -> str:
    import subprocess

    from gate_helpers import QUIET
    return subprocess.run(["git", *QUIET, "hash-object", "-w", "--no-filters", "--stdin"], cwd=repo, input=data,
                          capture_output=True, check=True).stdout.decode().strip()


def test_a_forged_signed_blob_between_approve_and_apply_is_refused_and_nothing_moves_or_is_written(
        repo, env, tmp_path):
    rec = propose(env, repo, tmp_path)
    assert rec["status"] == "pending", rec
    r = approve(env, repo, rec["id"])
    assert r.returncode == 0, r.stderr
    signed = git(repo, "rev-parse", f"refs/devops-agent/approved/{rec['id']}").strip()
    new = git(repo, "rev-parse", f"{signed}:{COMPOSE}").strip()
    honest = git_bytes(repo, "cat-file", "blob", new)
    assert b"restart: unless-stopped" in honest and b"privileged" not in honest
    forge(repo, new, "blob", evil(honest))
    before, work = head(repo), (repo / COMPOSE).read_bytes()
    r = env.cli(repo, "apply", rec["id"])
    refused_as_forged(r, new)
    assert head(repo) == before and (repo / COMPOSE).read_bytes() == work
    assert b"privileged" not in (repo / COMPOSE).read_bytes()


def test_a_forged_revert_blob_after_apply_is_refused_by_rollback_and_nothing_moves(repo, env, tmp_path):
    rec = propose(env, repo, tmp_path)
    assert rec["status"] == "pending", rec
    assert approve(env, repo, rec["id"]).returncode == 0
    base = git(repo, "rev-parse", f"HEAD:{COMPOSE}").strip()  # the revert's blob is the base's
    r = env.cli(repo, "apply", rec["id"])
    assert r.returncode == 0, r.stderr
    forge(repo, base, "blob", evil(git_bytes(repo, "cat-file", "blob", base)))
    before, work = head(repo), (repo / COMPOSE).read_bytes()
    r = env.cli(repo, "rollback", rec["id"])
    refused_as_forged(r, base)
    assert head(repo) == before and (repo / COMPOSE).read_bytes() == work


def test_a_forged_parent_blob_at_accept_is_refused_and_nothing_is_signed(repo, env, tmp_path):
    """The agent lands an unsigned infra commit adding two lines, then forges its parent's blob to hold the
    worst of them: Product would read only the restart line and accept `privileged: true` with it."""
    compose = repo / COMPOSE
    old = compose.read_bytes()
    parent_blob = git(repo, "rev-parse", f"HEAD:{COMPOSE}").strip()
    compose.write_bytes(evil(old).replace(RESTART[1].encode(), RESTART[2].encode(), 1))
    sha = hand_commit(repo, "compose: restart the scheduler", COMPOSE)
    forge(repo, parent_blob, "blob", evil(old))
    before = head(repo)
    r = env.cli(repo, "accept", sha, "--reason", "read and accepted by Product", "--key", str(env.key), "--yes")
    refused_as_forged(r, parent_blob)
    assert head(repo) == before


def test_a_forged_gate_commit_cannot_hide_its_audit_head_from_audit_verify(repo, env, tmp_path):
    """A gate commit records the audit log's head; the agent forges that commit (below HEAD) without the
    trailer, so that a truncated log would no longer be compared with it."""
    rec = propose(env, repo, tmp_path)
    assert approve(env, repo, rec["id"]).returncode == 0
    assert env.cli(repo, "apply", rec["id"]).returncode == 0
    gate_commit = head(repo)
    raw = git_bytes(repo, "cat-file", "commit", gate_commit)
    assert b"\nAudit-Head: " in raw
    (repo / "README.md").write_text((repo / "README.md").read_text() + "\nA note.\n")
    hand_commit(repo, "docs: a note", "README.md")
    forged = b"".join(line for line in raw.splitlines(keepends=True) if not line.startswith(b"Audit-Head: "))
    forge(repo, gate_commit, "commit", forged)
    r = env.cli(repo, "audit", "verify")
    refused_as_forged(r, gate_commit)


def test_git_itself_serves_forged_bytes_without_complaint(repo):
    """Why the gate re-hashes: plain git reads the forged object under its id, silently."""
    base = git(repo, "rev-parse", f"HEAD:{COMPOSE}").strip()
    forge(repo, base, "blob", b"anything\n")
    assert git_bytes(repo, "show", f"HEAD:{COMPOSE}") == b"anything\n"


# ------------------------------------------------------------------ the reader itself (sources.git.objects)

def _small_repo(tmp: Path, *init: str) -> tuple[Path, str, str]:
    repo = tmp / "small"
    repo.mkdir()
    git(repo, "init", "-q", *init)
    (repo / "deploy").mkdir()
    (repo / "deploy" / "compose.yml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    git(repo, "add", "deploy/compose.yml")
    git(repo, "commit", "-q", "-m", "compose")
    return repo, head(repo), git(repo, "rev-parse", "HEAD:deploy/compose.yml").strip()


@pytest.mark.parametrize("fmt", ["sha1", "sha256"])
def test_the_reader_re_hashes_with_the_repositorys_hash(tmp_path, fmt):
    from sources.git import ForgedObject, close_object_stores, read_blob_at, tree_entry

    repo, commit, blob = _small_repo(tmp_path, f"--object-format={fmt}")
    assert len(commit) == (40 if fmt == "sha1" else 64)
    assert read_blob_at(repo, commit, "deploy/compose.yml") == b"services:\n  web:\n    image: nginx:1.27\n"
    assert tree_entry(repo, commit, "deploy/compose.yml") == ("100644", "blob", blob)
    close_object_stores()  # a new command: nothing verified yet
    forge(repo, blob, "blob", b"services:\n  web:\n    image: nginx:1.27\n    privileged: true\n")
    with pytest.raises(ForgedObject) as err:
        read_blob_at(repo, commit, "deploy/compose.yml")
    assert err.value.exit_code == 2 and f"object {blob} in {repo.resolve()} does not match its id" in err.value.message


def test_a_loose_object_git_cannot_even_inflate_is_named_as_altered(tmp_path):
    from sources.git import ForgedObject, objects

    repo, commit, blob = _small_repo(tmp_path)
    path = loose_path(repo, blob)
    os.chmod(path, 0o644)
    path.write_bytes(b"not zlib at all")
    with pytest.raises(ForgedObject) as err:
        objects(repo).read(blob)
    assert f"object {blob}" in err.value.message
    assert objects(repo).read(commit, "commit").startswith(b"tree ")  # the reader goes on after git died


def test_one_cat_file_process_serves_every_read_of_a_repository(tmp_path):
    from sources.git import objects, read_blob_at, tree_entry

    repo, commit, blob = _small_repo(tmp_path)
    store = objects(repo)
    read_blob_at(repo, commit, "deploy/compose.yml")
    first = store._proc.pid if store._proc else None
    tree_entry(repo, commit, "deploy")
    objects(repo).read(git(repo, "rev-parse", "HEAD^{tree}").strip())
    assert first is not None and store._proc is not None and store._proc.pid == first and objects(repo) is store
