"""SARIF, the generated check catalogue, and the compose / dockerfile / ci views through the real CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from agent.example import init_example

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1", **(env_extra or {})})


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    return init_example(tmp_path_factory.mktemp("ex") / "animesphere")


def test_sarif_is_usable_by_code_scanning(example):
    r = cli("review", "--repo", str(example), "--format", "sarif")
    assert r.returncode == 1  # the example is NO-GO
    sarif = json.loads(r.stdout)
    assert sarif["version"] == "2.1.0" and len(sarif["runs"]) == 1
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    catalogue = json.loads(cli("checks", "--format", "json").stdout)
    assert [r["id"] for r in rules] == [c["id"] for c in catalogue]  # one rule per check
    assert all(r["shortDescription"]["text"] and r["help"]["text"] for r in rules)
    assert run["results"]
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        assert res["locations"], res  # GitHub needs a location on every result
        for loc in res["locations"]:
            uri = loc["physicalLocation"]["artifactLocation"]["uri"]
            assert not uri.startswith("/") and (example / unquote(uri)).exists()  # a space is %20
            assert loc["physicalLocation"].get("region", {}).get("startLine", 1) >= 1
    assert len({res["partialFingerprints"]["devopsAgentFinding/v2"] for res in run["results"]}) == len(run["results"])


def test_catalogue_doc_is_generated_from_code():
    r = cli("checks", "--format", "markdown")
    assert r.returncode == 0
    assert (ROOT / "docs/checks.md").read_text() == r.stdout, "regenerate: devops-agent checks --format markdown > docs/checks.md"


def test_catalogue_has_at_least_30_checks_with_clauses():
    rows = json.loads(cli("checks", "--format", "json").stdout)
    assert len(rows) >= 30
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert r["severity"] in ("blocker", "high", "medium", "low", "info")
        assert r["clause"] and r["remediation"]


def test_compose_view_redacts_secrets(example):
    r = cli("compose", "--repo", str(example), "--env", "dev", "--format", "json")
    assert r.returncode == 0, r.stderr
    model = json.loads(r.stdout)
    assert model["services"]["anime-saas-mysql"]["environment"]["MYSQL_ROOT_PASSWORD"] == "<redacted>"
    assert '"root"' not in r.stdout
    one = json.loads(cli("compose", "--repo", str(example), "--env", "prod", "--service", "anime-saas-api",
                         "--format", "json").stdout)
    assert one["image"].startswith("ghcr.io/stephengodard/anime-saas-api:main-")
    bad = cli("compose", "--repo", str(example), "--env", "staging")
    assert bad.returncode == 2 and "unknown environment 'staging'" in bad.stderr


def test_dockerfile_diff_between_revisions(example):
    r = cli("dockerfile", "diff", "anime-saas-mlservice", "--from", "HEAD~1", "--repo", str(example),
            "--format", "json")
    assert r.returncode == 0, r.stderr
    diff, = json.loads(r.stdout)
    assert diff["changed"] and diff["from"] == "HEAD~1"
    text = cli("dockerfile", "diff", "anime-saas-mlservice", "--from", "HEAD~1", "--repo", str(example)).stdout
    assert "EXPOSE 5000/tcp -> 8000/tcp" in text and "+EXPOSE 8000" in text
    bad = cli("dockerfile", "diff", "anime-saas-api", "--from", "no-such-rev", "--repo", str(example))
    assert bad.returncode == 2 and "unknown revision" in bad.stderr


def test_ci_view(example):
    r = cli("ci", "--repo", str(example), "--format", "json")
    assert r.returncode == 0, r.stderr
    flows = {wf["path"]: wf for wf in json.loads(r.stdout)}
    proxy = flows["anime-saas-reverseproxy/.github/workflows/ci.yml"]
    assert any(d["environment"] == "staging" for d in proxy["deploys"])
    images = {i["name"] for wf in flows.values() for i in wf["images"]}
    assert "ghcr.io/stephengodard/anime-saas-mlscheduler" in images


def test_min_severity_filters_the_view_not_the_verdict(example):
    full = json.loads(cli("review", "--repo", str(example), "--format", "json").stdout)
    r = cli("review", "--repo", str(example), "--format", "json", "--min-severity", "high")
    shown = json.loads(r.stdout)
    assert r.returncode == 1 and shown["verdict"] == full["verdict"] == "NO-GO"
    assert {f["severity"] for f in shown["findings"]} <= {"blocker", "high"}
    assert len(shown["findings"]) + shown["findings_hidden"] == len(full["findings"]) and shown["findings_hidden"] > 0
    text = cli("review", "--repo", str(example), "--min-severity", "blocker").stdout
    assert "below --min-severity not shown" in text and " low " not in text


# -- output a user acts on ----------------------------------------------------------

def _valid_sarif(text: str) -> dict:
    """The full SARIF 2.1.0 schema and GitHub's upload rules (tests/agent/test_sarif.py)."""
    from tests.agent.test_sarif import github_errors, schema_errors

    sarif = json.loads(text)
    assert schema_errors(sarif) == [] and github_errors(sarif) == []
    return sarif


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false",
                    *args], cwd=cwd, check=True, capture_output=True)


def test_sarif_passes_the_upload_schema_on_the_example(example):
    run = _valid_sarif(cli("review", "--repo", str(example), "--format", "sarif").stdout)["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    brief = json.loads(cli("review", "--repo", str(example), "--format", "json").stdout)
    for res, f in zip(run["results"], brief["findings"]):
        assert res["ruleId"] == f["id"] and res["properties"]["severity"] == f["severity"]
        assert res["properties"]["default_severity"] == rules[f["id"]]["properties"]["severity"]
    gate = [r for r in run["results"] if r["ruleId"] == "GATE002"]  # no file of its own: its charter clause
    loc = gate[0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == ".codex/agents/devops-engineer.md" and loc["region"]["startLine"] > 1


def test_sarif_with_the_generic_charter_points_every_result_at_a_repo_file(tmp_path):
    repo = tmp_path / "shop"
    repo.mkdir()
    (repo / "docker-compose.yml").write_text("services:\n  web:\n    image: nginx:latest\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    r = cli("review", "--repo", str(repo), "--format", "sarif")
    assert r.returncode in (0, 1), r.stderr
    sarif = _valid_sarif(r.stdout)
    brief = json.loads(cli("review", "--repo", str(repo), "--format", "json").stdout)
    assert brief["charter"]["origin"] == "generic"
    results = sarif["runs"][0]["results"]
    assert results and len(results) == len(brief["findings"])
    for res, f in zip(results, brief["findings"]):
        uris = [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in res["locations"]]
        own = [l["path"] for l in f["locations"] if not l["path"].startswith(("/", "<", "notion:"))]
        assert uris == own or (not own and all((repo / u).is_file() for u in uris)), (f, uris)


def test_review_text_shows_each_fix_and_ends_with_the_next_steps(example):
    text = cli("review", "--repo", str(example)).stdout
    brief = json.loads(cli("review", "--repo", str(example), "--format", "json").stdout)
    for f in brief["findings"]:
        assert f"fix: {f['remediation']}" in text, f["id"]
    findings, steps = text.index("\nFindings"), text.index("\nNext steps")
    assert findings < steps < text.index("\nVerdict:")
    tail = text[steps:]
    assert ("devops-agent propose --set docker-compose.prod.yml:services.anime-saas-mlscheduler.restart=unless-stopped"
            in tail)
    assert "devops-agent product-key init" in tail and "devops-agent approve ID" in tail
    assert f"devops-agent review --repo {example}" in tail
    assert [s["command"] for s in brief["next_steps"] if s["command"]] == [
        line.strip() for line in tail.splitlines() if line.startswith("       ")]
    md = cli("review", "--repo", str(example), "--format", "markdown").stdout
    assert "| fix |" in md and "## Next steps" in md


def test_piped_text_keeps_every_line_whole(example):
    r = cli("review", "--repo", str(example), env_extra={"COLUMNS": "40"})
    lines = r.stdout.splitlines()
    brief = json.loads(cli("review", "--repo", str(example), "--format", "json").stdout)
    long = [f for f in brief["findings"] if len(f["title"]) > 120]
    assert long  # the example has titles longer than any terminal line
    for f in brief["findings"]:
        assert any(f["title"] in line for line in lines), f["title"]
        assert any(f"fix: {f['remediation']}" in line for line in lines)
    for s in brief["sources"]:
        assert any(s["path"] in line for line in lines)


def test_one_severity_per_check_everywhere(example):
    catalogue = {c["id"]: c["severity"] for c in json.loads(cli("checks", "--format", "json").stdout)}
    brief = json.loads(cli("review", "--repo", str(example), "--format", "json").stdout)
    text = cli("review", "--repo", str(example)).stdout.splitlines()
    adjusted = [f for f in brief["findings"] if f["severity"] != catalogue[f["id"]]]
    assert adjusted  # the example has lowered and raised ones (dev, the repo winning a conflict, INT-13)
    for f in brief["findings"]:
        assert f["default_severity"] == catalogue[f["id"]]
        line = next(line for line in text if f["title"] in line)
        assert line.split()[:2] == [f["severity"], f["id"]]
        assert (f"(check default: {catalogue[f['id']]})" in line) == (f in adjusted)
    checks = cli("checks").stdout
    assert "Severity is each check's default" in checks and "default severity" in checks.splitlines()[1]


def test_next_steps_for_a_missing_submodule_and_unsigned_commits(tmp_path):
    from gate_helpers import build_template, hand_commit

    repo, env = build_template(tmp_path)
    git(repo, "submodule", "deinit", "-f", "anime-saas-api")
    (repo / "docker-compose.prod.yml").write_text((repo / "docker-compose.prod.yml").read_text() + "# hand edit\n")
    hand_commit(repo, "hand change", "docker-compose.prod.yml")
    r = env.cli(repo, "review")
    assert r.returncode == 1, r.stderr
    steps = r.stdout[r.stdout.index("\nNext steps"):]
    assert f"git -C {repo} submodule update --init -- anime-saas-api" in steps
    assert "GATE001" in steps and "devops-agent verify --repo" in steps


@pytest.mark.parametrize("command", ["review", "sources", "ci"])
def test_review_outside_a_git_repository(tmp_path, command):
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    r = subprocess.run([sys.executable, "-m", "agent.cli", command], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "not inside a git repository" in r.stderr and "--repo" in r.stderr
    if command != "review":
        return
    named = subprocess.run([sys.executable, "-m", "agent.cli", "review", "--repo", ".", "--format", "json"],
                           capture_output=True, text=True, cwd=tmp_path,
                           env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)})
    assert named.returncode in (0, 1), named.stderr
    assert json.loads(named.stdout)["repo"] == str(tmp_path.resolve())


def test_the_next_step_of_a_repo_without_a_charter_is_init(tmp_path):
    r = cli("review", "--repo", str(tmp_path))
    assert r.returncode == 0  # the generic charter asks for no file by name: nothing is missing
    steps = r.stdout[r.stdout.index("\nNext steps"):]
    first = steps.splitlines()[2:4]
    assert "SRC007" in first[0] and first[1].strip() == f"devops-agent init --repo {tmp_path}"
