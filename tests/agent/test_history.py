"""`history` and `review --since` on a history built here, through the real CLI, real git, real submodules and
Product's real signatures: a defect brought in by a hand commit in a submodule, fixed by a Product-signed proposal,
reintroduced by hand; an unsigned infra commit that Product accepts; a line added above every finding of a file; a
workflow renamed; an application file edited; a branch merged."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gate_helpers import build_template, git, hand_commit, head, make_patch

SUB = "anime-saas-mlservice"
PROD = "docker-compose.prod.yml"


def _sub_commit(repo: Path, sub: str, message: str, edit) -> tuple[str, str]:
    """A hand commit in a submodule and the platform's hand commit that moves its gitlink."""
    edit(repo / sub)
    sha = hand_commit(repo / sub, message, ".")
    git(repo, "add", sub)
    return sha, hand_commit(repo, f"chore: bump {sub}")


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("history")
    repo, env = build_template(base)
    c: dict[str, str] = {}
    (repo / "assets").mkdir()
    (repo / "assets" / "palette.txt").write_text("primary #ff4f7b\n")
    hand_commit(repo, "assets: the palette", "assets")
    git(repo, "tag", "v1")
    # 1. root in the mlservice image, by hand; Product accepts the hand commit, then signs the fix it was proposed
    c["s_root"], c["p_root"] = _sub_commit(repo, SUB, "run as root for debugging",
                                           lambda d: _replace(d / "Dockerfile", "USER ml\n", ""))
    r = env.cli(repo, "accept", c["s_root"], "--reason", "a debug session on the server, fixed next",
                "--key", str(env.key), "--yes")
    assert r.returncode == 0, r.stderr
    c["accept"] = head(repo)
    patch = make_patch(repo, f"{SUB}/Dockerfile", "EXPOSE 8000", "USER ml\nEXPOSE 8000", base / "fix.diff")
    r = env.cli(repo, "propose", "--patch", str(patch), "--reason", "the mlservice must not run as root (DKF003)",
                "--risk", "files the app wrote as root become unreadable", "--rollback",
                f"revert the commit in {SUB}/Dockerfile", "--scope", "dockerfile", "--format", "json")
    assert r.returncode == 0, r.stderr
    c["proposal"] = json.loads(r.stdout)["id"]
    for step in (["approve", c["proposal"], "--key", str(env.key), "--yes"], ["apply", c["proposal"]]):
        r = env.cli(repo, *step)
        assert r.returncode == 0, r.stderr
    c["s_fix"] = git(repo / SUB, "rev-parse", "HEAD").strip()
    # 2. root again, by hand, in the submodule
    c["s_again"], c["p_again"] = _sub_commit(repo, SUB, "debug as root again",
                                             lambda d: _replace(d / "Dockerfile", "USER ml\n", ""))
    # 3. a line added above every finding of the prod compose file
    (repo / PROD).write_text("# production\n" + (repo / PROD).read_text())
    c["comment"] = hand_commit(repo, "docs: say what the file is", PROD)
    # 4. a workflow the charter does not name, renamed in a submodule
    front = repo / "anime-saas-api"
    git(front, "mv", "Dockerfile.test", "Dockerfile.tests")
    c["s_rename"] = hand_commit(front, "rename the test image's Dockerfile")
    git(repo, "add", "anime-saas-api")
    c["p_rename"] = hand_commit(repo, "chore: bump anime-saas-api")
    # 5. a file no review reads (every file a build context ships is read: secrets, listen ports)
    (repo / "assets" / "palette.txt").write_text("primary #ff4f7b\naccent #2ec4b6\n")
    c["app"] = hand_commit(repo, "assets: an accent colour", "assets")
    # 6. a branch that pins mysql to latest, merged without fast-forward
    git(repo, "checkout", "-q", "-b", "side")
    _replace(repo / PROD, "mysql:8.0", "mysql:latest")
    c["side"] = hand_commit(repo, "chore: mysql latest", PROD)
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    c["merge"] = head(repo)
    r = env.cli(repo, "history", "--since", "v1", "--format", "json")
    assert r.returncode == 0, r.stderr
    return repo, env, c, json.loads(r.stdout)


def _lives(data: dict, check: str, path: str | None = None) -> list[dict]:
    return [life for key in ("introduced", "fixed", "unchanged") for life in data[key]
            if life["finding"]["id"] == check
            and (path is None or any(loc["path"] == path for loc in life["finding"]["locations"]))]


def test_a_defect_by_hand_fixed_by_product_then_reintroduced_in_a_submodule_has_two_lives(built):
    _, _, c, data = built
    lives = sorted(_lives(data, "DKF003", f"{SUB}/Dockerfile"), key=lambda life: life["status"])
    assert [life["status"] for life in lives] == ["fixed", "open"], lives
    first, second = lives
    assert first["introduced"]["commit"] == c["s_root"] and first["introduced"]["repo"] == SUB
    assert first["introduced"]["product_signed"] is False
    assert first["introduced"]["via"]["commit"] == c["p_root"]  # the platform commit that brought it in
    assert first["removed"]["commit"] == c["s_fix"] and first["removed"]["product_signed"] is True
    assert first["removed"]["signed_by"] == "product@animesphere"
    assert first["removed"]["proposal"] == c["proposal"]
    assert second["introduced"]["commit"] == c["s_again"] and second["removed"] is None
    assert second["introduced"]["author"] == "agent" and second["introduced"]["date"][:4].isdigit()


def test_an_unsigned_infra_commit_lives_until_product_accepts_it(built):
    _, _, c, data = built
    gate = [life for life in _lives(data, "GATE001") if c["s_root"][:12] in life["finding"]["title"]]
    assert len(gate) == 1, gate
    assert gate[0]["introduced"]["commit"] == c["p_root"] and gate[0]["removed"]["commit"] == c["accept"]
    assert gate[0]["removed"]["product_signed"] is True and gate[0]["removed"]["proposal"] is None


def test_a_line_added_above_keeps_every_finding_of_the_file(built):
    _, _, c, data = built
    for key in ("introduced", "fixed"):
        moved = [life for life in data[key] if life["introduced"] and life["introduced"]["commit"] == c["comment"]
                 or life["removed"] and life["removed"]["commit"] == c["comment"]]
        assert [life["finding"]["id"] for life in moved] in ([], ["GATE001"]), moved  # the commit itself is unsigned
    repo, env = built[0], built[1]
    at_v1 = {f["fingerprint"]: f for f in json.loads(env.cli(repo, "review", "--rev", "v1", "--format", "json").stdout)
             ["findings"]}
    standing = [life for life in data["unchanged"]
                if [loc["path"] for loc in life["finding"]["locations"]] == [PROD] and life["finding"]["locations"][0]["line"]]
    assert len(standing) >= 3, "the prod compose file has findings standing since v1"
    for life in standing:
        before = at_v1[life["fingerprint"]]["locations"][0]["line"]
        assert life["finding"]["locations"][0]["line"] == before + 1, life  # moved down a line, the same life


def test_a_renamed_file_carries_its_findings(built):
    _, _, c, data = built
    new = "anime-saas-api/Dockerfile.tests"
    carried = [life for life in data["unchanged"] if any(loc["path"] == new for loc in life["finding"]["locations"])]
    assert carried, "the findings of the renamed Dockerfile stand since v1 under its new name"
    gone = [life for life in data["fixed"]
            if any(loc["path"] == "anime-saas-api/Dockerfile.test" for loc in life["finding"]["locations"])]
    assert not gone, gone
    brought = [life["finding"]["id"] for life in data["introduced"]
               if any(loc["path"] == new for loc in life["finding"]["locations"])]
    assert brought == ["GATE001"], brought  # only the rename's own commit, unsigned


def test_a_merged_branch_is_judged_by_its_own_commit_and_an_app_edit_is_not_reviewed_again(built):
    _, _, c, data = built
    latest = [life for life in _lives(data, "CMP003") if "mysql:latest" in life["finding"]["title"]]
    assert len(latest) == 1 and latest[0]["introduced"]["commit"] == c["side"], latest
    assert data["counts"]["inherited"] == 1  # the palette's edit: its findings are its parent's, not reviewed again
    shas = [s["commit"] for s in data["commits"]]
    assert c["merge"] in shas and c["app"] in shas and shas.index(c["s_root"]) < shas.index(c["s_fix"])


def test_a_second_run_is_served_from_the_cache_with_the_same_lives(built):
    repo, env, _, data = built
    r = env.cli(repo, "history", "--since", "v1", "--format", "json")
    again = json.loads(r.stdout)
    assert again["counts"]["reviewed"] == 0 and again["counts"]["inherited"] == 0
    assert again["counts"]["cached"] == data["counts"]["reviewed"] + data["counts"]["inherited"]
    assert {k: again[k] for k in ("introduced", "fixed", "unchanged")} == \
        {k: data[k] for k in ("introduced", "fixed", "unchanged")}
    text = env.cli(repo, "history", "--since", "v1").stdout
    assert "Introduced and still standing" in text and "removed by anime-saas-mlservice@" in text
    assert "proposal " + built[2]["proposal"] in text


def test_review_since_marks_new_and_fixed_and_fail_on_new_counts_only_new(built):
    repo, env, c, history = built
    r = env.cli(repo, "review", "--since", "v1", "--format", "json")
    data = json.loads(r.stdout)
    states = {f["fingerprint"]: f["baseline_state"] for f in data["findings"]}
    assert set(states.values()) == {"new", "unchanged"}
    new = {life["fingerprint"] for life in history["introduced"]}
    assert {fp for fp, s in states.items() if s == "new"} == new
    assert {f["fingerprint"] for f in data["since"]["fixed"]} <= {life["fingerprint"] for life in history["fixed"]}
    from test_sarif import github_errors, schema_errors

    whole = json.loads(env.cli(repo, "review", "--since", "v1", "--format", "sarif").stdout)
    assert schema_errors(whole) == [] and github_errors(whole) == []  # the official schema, GitHub's upload rules
    sarif = whole["runs"][0]
    assert {res["baselineState"] for res in sarif["results"]} == {"new", "unchanged"}
    assert sarif["properties"]["since"]["counts"]["new"] == len(new)
    text = env.cli(repo, "review", "--since", "v1").stdout
    assert "new blocker GATE001" in " ".join(text.split()) and "Fixed since v1" in text
    # GATE001 (new, blocker) decides it; against HEAD nothing is new, so nothing decides it
    assert env.cli(repo, "review", "--since", "v1", "--fail-on-new").returncode == 1
    r = env.cli(repo, "review", "--since", "HEAD", "--fail-on-new", "--format", "json")
    assert json.loads(r.stdout)["since"]["counts"]["new"] == 0 and r.returncode in (0, 3), r.stderr


def test_bad_revisions_are_one_line_and_exit_2(built):
    repo, env, c, _ = built
    for args in (["history", "--since", "no-such-tag"], ["history", "--since", c["side"], "--until", "v1"],
                 ["review", "--since", "no-such-tag"]):
        r = env.cli(repo, *args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr


def test_release_check_and_notes_say_what_this_release_introduced_and_fixed(built):
    repo, env, c, history = built
    r = env.cli(repo, "release", "check", "--format", "json")
    found = json.loads(r.stdout)["findings"]
    assert found["since"] == "v1"
    assert {life["fingerprint"] for life in found["introduced"]} == {life["fingerprint"] for life in history["introduced"]}
    assert {life["fingerprint"] for life in found["fixed"]} == {life["fingerprint"] for life in history["fixed"]}
    notes = env.cli(repo, "release", "notes").stdout
    assert "## Introduced by this release (since `v1`)" in notes and "## Fixed by this release" in notes
    fixed_line = next(line for line in notes.splitlines() if "DKF003" in line and "removed by" in line)
    assert c["s_fix"][:12] in fixed_line and f"proposal {c['proposal']}" in fixed_line
    assert "Introduced by this release (since v1)" in env.cli(repo, "release", "check").stdout


def test_the_model_reads_the_history_through_the_catalogue_mcp_and_its_brief(built, monkeypatch):
    """The `history` tool and the `devops://history` resource over a real MCP stdio server; the system prompt says
    what changed since the last tag."""
    from test_mcp import run, stdio

    repo, env, c, history = built

    async def go():
        async with stdio(repo, env) as s:
            called = await s.call_tool("history", {"since": "v1"})
            resource = await s.read_resource("devops://history")
            return called, resource

    called, resource = run(go())
    assert not called.is_error, called.content[0].text
    served = called.structured_content
    assert served["since"] == "v1" and served["counts"]["introduced"] == history["counts"]["introduced"]
    assert any(life["introduced"]["commit"] == c["s_again"] for life in served["introduced"])
    assert json.loads(resource.contents[0].text)["since"] == "v1"  # the last tag by default

    monkeypatch.setenv("DEVOPS_AGENT_HOME", str(env.home))
    from agent import prompt
    from agent.session import open_session

    text = prompt.build(open_session(repo))
    gone = sum(1 for life in history["fixed"] if life["introduced"] is None)  # standing at v1 (not born since)
    head = f"Since the last tag v1 ({history['counts']['introduced']} new, {gone} fixed"
    assert head in text and "- new DKF003 " in text, text[text.find("Since the last tag"):][:3000]


def test_the_folder_updated_from_state_to_state_reviews_what_a_fresh_write_would(built, monkeypatch):
    """The snapshot kept up to date with the files that differ (renames, removals, submodule moves) gives the same
    lives as every state written afresh."""
    from agent import history as module

    repo, env, _, _ = built
    monkeypatch.setenv("DEVOPS_AGENT_HOME", str(env.home))
    kept = module.history(repo, since="v1", cache=False).to_dict()
    monkeypatch.setattr(module._Snapshot, "_apply", lambda self, state, changes: False)
    fresh = module.history(repo, since="v1", cache=False).to_dict()
    assert kept["counts"]["reviewed"] > 5
    assert {k: kept[k] for k in ("introduced", "fixed", "unchanged")} == \
        {k: fresh[k] for k in ("introduced", "fixed", "unchanged")}


def test_a_commit_that_cannot_be_reviewed_is_said_and_the_history_goes_on(tmp_path):
    """A commit whose .devops-agent.yaml is not YAML: a note names it, its findings are its parent's, exit 0."""
    import os
    import subprocess
    import sys

    from agent.example import init_example

    repo = init_example(tmp_path / "platform")
    git(repo, "tag", "v1")
    config = repo / ".devops-agent.yaml"
    good = config.read_text()
    config.write_text("environments: [unclosed\n")
    broken = hand_commit(repo, "config: a typo", ".devops-agent.yaml")
    config.write_text(good)
    hand_commit(repo, "config: fixed", ".devops-agent.yaml")
    r = subprocess.run([sys.executable, "-m", "agent.cli", "history", "--since", "v1", "--format", "json", "--repo",
                        str(repo)], capture_output=True, text=True,
                       env={**os.environ, "DEVOPS_AGENT_HOME": str(tmp_path / "home")},
                       cwd=str(Path(__file__).resolve().parents[2]))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert any(broken[:12] in note and "could not be reviewed" in note for note in data["notes"]), data["notes"]
    assert data["counts"]["introduced"] == 0 and data["counts"]["fixed"] == 0  # nothing came and went with it


def test_a_rename_rewrites_the_whole_path_only():
    from agent.history import _renamed
    from tools.findings import Finding, Location

    f = Finding("CMP003", "high", "reproducibility", "docker-compose.yml: web; api/docker-compose.yml: x; "
                "docker-compose.yml.bak", [Location("docker-compose.yml", 3), Location("api/docker-compose.yml", 1)])
    moved = _renamed(f, {"docker-compose.yml": "compose.yaml"})
    assert moved.title == "compose.yaml: web; api/docker-compose.yml: x; docker-compose.yml.bak"
    assert [loc.path for loc in moved.locations] == ["compose.yaml", "api/docker-compose.yml"]


def test_a_cached_state_is_reviewed_again_when_a_variable_its_compose_files_use_changes(tmp_path, monkeypatch):
    """The cache is keyed by the variables the compose files reference, set or not: setting one later (a state
    inherited from its parent included) is a new review, an unrelated variable is not."""
    from agent.example import init_example
    from agent.history import history

    monkeypatch.setenv("DEVOPS_AGENT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("IMAGE_TAG_API", raising=False)
    repo = init_example(tmp_path / "platform")
    git(repo, "tag", "v1")
    (repo / "anime-saas-api" / "AnimeSaasApi" / "AnimeDb.cs").write_text("// edited\n")
    git(repo / "anime-saas-api", "commit", "-qam", "feat: edit")
    git(repo, "commit", "-qam", "chore: bump api")
    first = history(repo, since="v1")
    assert first.inherited >= 1  # the application edit and its gitlink's move
    monkeypatch.setenv("UNRELATED_VARIABLE", "1")
    assert history(repo, since="v1").cached == first.reviewed + first.inherited
    monkeypatch.setenv("IMAGE_TAG_API", "abc1234")
    again = history(repo, since="v1")
    assert again.cached == 0 and again.reviewed + again.inherited == first.reviewed + first.inherited
