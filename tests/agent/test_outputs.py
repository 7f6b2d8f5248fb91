"""SARIF, the generated check catalogue, and the compose / dockerfile / ci views through the real CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.example import init_example

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1"})


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
            assert not uri.startswith("/") and (example / uri).exists()
            assert loc["physicalLocation"].get("region", {}).get("startLine", 1) >= 1
    assert len({res["partialFingerprints"]["devopsAgentFinding/v1"] for res in run["results"]}) == len(run["results"])


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
