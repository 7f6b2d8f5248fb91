"""Issue 18: on the example platform, review and gate agree. The fix XF001 recommends is not a new image for
POL003; the checks judge a proposal once, at propose (POL014), and approve re-uses that judgement.
Real CLI, real git, real ssh-keygen (tests/agent/gate_helpers.py)."""
from __future__ import annotations

import json
import re

import pytest

from tests.agent.gate_helpers import build_template, copy_repo, make_patch

META = ["--reason", "prod pulls the image the CI pushes instead of one no workflow builds (XF001)",
        "--risk", "a wrong tag variable leaves the service without an image at deploy",
        "--rollback", "revert the commit to put the previous image line back in docker-compose.prod.yml"]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("agree"))


@pytest.fixture
def repo(template, tmp_path):
    return copy_repo(template[0], tmp_path / "animesphere")


@pytest.fixture
def env(template):
    return template[1]


def propose(env, repo, patch, *meta: str, extra: dict | None = None) -> dict:
    r = env.cli(repo, "propose", "--patch", str(patch), *(meta or META), "--format", "json", env=extra)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def _xf001(env, repo) -> tuple[str, str]:
    """(the image prod pulls, the image XF001 says the CI pushes) of the review's first XF001 with a remedy."""
    review = json.loads(env.cli(repo, "review", "--format", "json").stdout)
    for f in review["findings"]:
        m = re.search(r"pulls (\S+), which no workflow builds; CI pushes (\S+)$", f["title"])
        if f["id"] == "XF001" and m:
            return m.group(1), m.group(2)
    raise AssertionError("no XF001 naming the image the CI pushes")


def test_the_image_xf001_recommends_is_not_a_new_image(env, repo, tmp_path):
    pulled, pushed = _xf001(env, repo)
    patch = make_patch(repo, "docker-compose.prod.yml", f"image: {pulled}",
                       f"image: {pushed}:main-${{IMAGE_TAG_REVERSEPROXY}}", tmp_path / "xf001.diff")
    rec = propose(env, repo, patch)
    assert rec["status"] == "pending", rec["refusals"]


def test_an_image_no_workflow_pushes_is_still_new(env, repo, tmp_path):
    pulled, _ = _xf001(env, repo)
    patch = make_patch(repo, "docker-compose.prod.yml", f"image: {pulled}",
                       "image: ghcr.io/someone-else/edge-proxy:1.4.2", tmp_path / "other.diff")
    rec = propose(env, repo, patch)
    assert rec["status"] == "refused" and [r["rule"] for r in rec["refusals"]] == ["POL003"]


def test_a_change_that_adds_a_severe_finding_is_refused_at_propose(env, repo, tmp_path):
    patch = make_patch(repo, "docker-compose.prod.yml", "anime-saas-api:main-${IMAGE_TAG_API}",
                       "anime-saas-api:latest", tmp_path / "latest.diff")
    rec = propose(env, repo, patch, "--reason", "pull the newest api image on every deploy for the beta",
                  "--risk", "an untested api image reaches production without a tag",
                  "--rollback", "set the image back to `main-${IMAGE_TAG_API}` in docker-compose.prod.yml")
    assert rec["status"] == "refused"
    assert any(r["rule"] == "POL014" and "CMP003" in r["message"] for r in rec["refusals"]), rec["refusals"]


def test_approve_reuses_the_judgement_of_propose(env, repo, tmp_path):
    # Where MySQL binds comes from the deploy's environment: unset (loopback) when the agent proposes, every
    # interface when Product approves. The proposal is the same: approve signs what propose judged.
    patch = make_patch(repo, "docker-compose.prod.yml", "    image: mysql:8.0\n    container_name: anime-saas-mysql\n",
                       "    image: mysql:8.0\n    container_name: anime-saas-mysql\n"
                       "    ports:\n      - \"${DB_BIND:-127.0.0.1}:3306:3306\"\n", tmp_path / "bind.diff")
    rec = propose(env, repo, patch, "--reason", "the backup host reads MySQL through an ssh tunnel on the server",
                  "--risk", "a DB_BIND set to a public address would open MySQL to the network",
                  "--rollback", "revert the commit to remove the ports line of anime-saas-mysql in docker-compose.prod.yml")
    assert rec["status"] == "pending", rec["refusals"]
    r = env.cli(repo, "approve", rec["id"], "--key", str(env.key), "--yes", env={"DB_BIND": "0.0.0.0"})
    assert r.returncode == 0, r.stderr
