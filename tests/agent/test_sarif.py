"""SARIF as GitHub code scanning takes it, through the real CLI: the full official SARIF 2.1.0 schema (vendored in
tests/schemas/), GitHub's upload rules and limits, Microsoft's validator when installed, and fingerprints that
survive lines moving."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from agent.example import init_example

ROOT = Path(__file__).resolve().parents[2]
# The SARIF 2.1.0 schema as Microsoft's SARIF Multitool 5.7.0 ships it (npm @microsoft/sarif-multitool-linux,
# sarif-2.1.0.json): the OASIS standard's schema, in JSON Schema 2020-12.
SCHEMA = ROOT / "tests" / "schemas" / "sarif-2.1.0.json"
IN_CI = os.environ.get("CI") == "true"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1"})


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false",
                    *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    return init_example(tmp_path_factory.mktemp("ex") / "animesphere")


# RFC 3986 URI references: unreserved, reserved and percent-encoded characters only (jsonschema checks no `uri`
# format without an extra package; the schema names the format, this holds it).
_URI_CHARS = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")


def _format_checker():
    import jsonschema

    checker = jsonschema.FormatChecker()
    checker.checks("uri")(lambda v: not isinstance(v, str) or bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", v))
                          and bool(_URI_CHARS.match(v)))
    checker.checks("uri-reference")(lambda v: not isinstance(v, str) or bool(_URI_CHARS.match(v)))
    return checker


def schema_errors(sarif: dict) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()), format_checker=_format_checker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(sarif)]


def github_errors(sarif: dict) -> list[str]:
    """What GitHub's upload refuses or truncates beyond the schema (docs.github.com: SARIF support for code
    scanning, and "SARIF results exceed limits")."""
    errors = []
    runs = sarif["runs"]
    if len(runs) > 20:
        errors.append(f"{len(runs)} runs > 20")
    for run in runs:
        rules = run["tool"]["driver"]["rules"]
        if not run.get("automationDetails", {}).get("id"):
            errors.append("no automationDetails.id (the category)")
        for rule in rules:
            tags = rule.get("properties", {}).get("tags", [])
            if len(tags) > 10 or len(set(tags)) != len(tags):
                errors.append(f"rule {rule['id']}: tags {tags}")
            score = rule.get("properties", {}).get("security-severity")
            if not (isinstance(score, str) and re.fullmatch(r"\d+(\.\d+)?", score) and 0 <= float(score) <= 10):
                errors.append(f"rule {rule['id']}: security-severity {score!r}")
            if not (rule.get("help", {}).get("text") and rule["help"].get("markdown")):
                errors.append(f"rule {rule['id']}: no help")
        if len(run["results"]) > 5000:
            errors.append(f"{len(run['results'])} results > 5000 kept")
        for i, res in enumerate(run["results"]):
            if not res.get("locations") or len(res["locations"]) > 100:
                errors.append(f"result {i}: {len(res.get('locations') or [])} locations")
            if not res.get("partialFingerprints"):
                errors.append(f"result {i}: no partialFingerprints")
            for loc in res.get("locations") or []:
                phys = loc["physicalLocation"]
                uri = phys["artifactLocation"]["uri"]
                if uri.startswith("/") or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri):
                    errors.append(f"result {i}: uri {uri} is not relative")
                if phys.get("region", {}).get("startLine", 0) < 1:
                    errors.append(f"result {i}: startLine {phys.get('region')}")
    return errors


def sarif_of(repo: Path) -> dict:
    r = cli("review", "--repo", str(repo), "--format", "sarif")
    assert r.returncode in (0, 1, 3), r.stderr
    return json.loads(r.stdout)


def test_the_example_review_is_valid_sarif_that_github_accepts(example):
    sarif = sarif_of(example)
    assert schema_errors(sarif) == []
    assert github_errors(sarif) == []
    run = sarif["runs"][0]
    assert sarif["$schema"].endswith("sarif-schema-2.1.0.json")
    assert run["automationDetails"]["id"].startswith("devops-agent/review/")
    security = [r for r in run["tool"]["driver"]["rules"] if r["properties"]["category"] == "security"]
    assert security and all(r["properties"]["tags"].count("security") == 1 for r in security)
    # the Notion export's file name holds a space: escaped, and it still names the file
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"] for res in run["results"] for loc in res["locations"]}
    spaced = [u for u in uris if "%20" in u]
    assert spaced and all((example / unquote(u)).is_file() for u in uris), uris


def test_the_schema_check_refuses_what_github_refuses(example):
    """The checks above are not vacuous: the faults of the issue (a duplicate tag, a raw space, line 0) fail."""
    sarif = sarif_of(example)
    run = sarif["runs"][0]
    run["tool"]["driver"]["rules"][0]["properties"]["tags"].append("devops-agent")
    run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "notion-export/a b.csv"
    run["results"][1]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    errors = " ".join(schema_errors(sarif))
    assert "non-unique" in errors and "is not a 'uri-reference'" in errors and "less than the minimum of 1" in errors


def test_awkward_paths_are_relative_escaped_uris(tmp_path):
    repo = tmp_path / "shop"
    for folder, base in (("my app", "python:latest"), ("café", "node:latest"), ("ops #1%", "alpine:latest")):
        (repo / folder).mkdir(parents=True)
        (repo / folder / "Dockerfile").write_text(f"FROM {base}\nCOPY . /app\nCMD [\"sh\"]\n")
    (repo / "docker-compose.yml").write_text(
        "services:\n  web:\n    build: ./my app\n  front:\n    build: ./café\n  ops:\n    build: \"./ops #1%\"\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    sarif = sarif_of(repo)
    assert schema_errors(sarif) == [] and github_errors(sarif) == []
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
            for res in sarif["runs"][0]["results"] for loc in res["locations"]}
    assert {"my%20app/Dockerfile", "caf%C3%A9/Dockerfile", "ops%20%231%25/Dockerfile"} <= uris
    assert all((repo / unquote(u)).is_file() for u in uris)


# -- Microsoft's validator -------------------------------------------------------------------------------

def _multitool() -> str | None:
    """The SARIF Multitool's binary: $SARIF_MULTITOOL, the one .ci/run installs, or beside `sarif-multitool` on PATH
    (its npm wrapper runs the binary through a shell, which splits `Sarif;Ghas`)."""
    candidates = [os.environ.get("SARIF_MULTITOOL"),
                  str(ROOT / ".ci" / "node" / "node_modules" / "@microsoft" / "sarif-multitool-linux" / "Sarif.Multitool")]
    wrapper = shutil.which("sarif-multitool")
    if wrapper:
        candidates.append(str(Path(wrapper).resolve().parent.parent / "sarif-multitool-linux" / "Sarif.Multitool"))
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


def multitool_problems(tool: str, sarif: dict, tmp_path: Path) -> list[dict]:
    """Errors and warnings of `validate` with the SARIF rules and GitHub Advanced Security's (GH*) rules."""
    src, out = tmp_path / "review.sarif", tmp_path / "validation.sarif"
    src.write_text(json.dumps(sarif))
    r = subprocess.run([tool, "validate", str(src), "-o", str(out), "--rule-kind", "Sarif;Ghas",
                        "--level", "Error;Warning", "--log", "ForceOverwrite"],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "DOTNET_CLI_TELEMETRY_OPTOUT": "1"})
    assert r.returncode == 0 and out.is_file(), r.stdout + r.stderr
    return [{"rule": res["ruleId"], "level": res["level"], "message": res["message"]}
            for res in json.loads(out.read_text())["runs"][0]["results"]]


def test_microsofts_sarif_validator_accepts_the_example(example, tmp_path):
    tool = _multitool()
    if tool is None:
        if IN_CI:
            pytest.fail("the SARIF Multitool is not installed: .ci/run installs @microsoft/sarif-multitool")
        pytest.skip("Microsoft's SARIF Multitool not found (npm install @microsoft/sarif-multitool, or set "
                    "SARIF_MULTITOOL to its Sarif.Multitool binary)")
    sarif = sarif_of(example)
    assert multitool_problems(tool, sarif, tmp_path) == []
    sarif["runs"][0]["tool"]["driver"]["rules"][0]["properties"]["tags"] *= 2  # the validator does refuse
    sarif["runs"][0]["results"][0]["locations"] = []
    rules = {p["rule"] for p in multitool_problems(tool, sarif, tmp_path)}
    assert "JSON1020" in rules and any(r.startswith("GH") for r in rules), rules


# -- fingerprints ------------------------------------------------------------------------------------------

def _fingerprints(repo: Path) -> list[tuple[str, str, str]]:
    run = sarif_of(repo)["runs"][0]
    return [(res["ruleId"], res["partialFingerprints"]["devopsAgentFinding/v2"], res["message"]["text"])
            for res in run["results"]]


def test_fingerprints_stay_when_lines_move(tmp_path):
    repo = init_example(tmp_path / "animesphere")
    before = _fingerprints(repo)
    compose = repo / "docker-compose.prod.yml"
    compose.write_text("# production stack: deployed by hand on the server\n" + compose.read_text())
    git(repo, "commit", "-qam", "a comment on top")
    after = _fingerprints(repo)
    lines = json.loads(cli("review", "--repo", str(repo), "--format", "json").stdout)
    moved = [f for f in lines["findings"] if any(l["path"] == "docker-compose.prod.yml" and l["line"]
                                                  for l in f["locations"])]
    assert len(moved) >= 10  # the comment moved the lines of many findings ...
    assert sorted(fp for _, fp, _ in after) == sorted(fp for _, fp, _ in before)  # ... and no fingerprint
    fps = [fp for _, fp, _ in after]
    assert len(set(fps)) == len(fps)  # two findings never share one
    healthchecks = {fp for rule, fp, _ in after if rule == "CMP012"}
    assert len(healthchecks) >= 2  # one check, one file, different services: different fingerprints
    # the intention a title quotes is renamed in Notion: the titles change, what the findings are about does not
    export = next((repo / "notion-export").glob("Intention *.csv"))
    export.write_text(export.read_text(encoding="utf-8").replace("Service fiable pendant la bêta privée",
                                                                 "Bêta privée sans panne"), encoding="utf-8")
    git(repo, "commit", "-qam", "intention renamed")
    renamed = _fingerprints(repo)
    assert {fp for rule, fp, _ in renamed if rule == "CMP012"} == healthchecks
    assert all("Bêta privée sans panne" in text for rule, _, text in renamed if rule == "CMP012")


def test_json_findings_carry_the_same_fingerprint(example):
    brief = json.loads(cli("review", "--repo", str(example), "--format", "json").stdout)
    run = sarif_of(example)["runs"][0]
    assert [f["fingerprint"] for f in brief["findings"]] == \
        [res["partialFingerprints"]["devopsAgentFinding/v2"] for res in run["results"]]


def test_what_a_fingerprint_rests_on():
    """A line number in a title does not count; an image tag, a port or the subject a check names does."""
    from tools.findings import Finding, Location, fingerprints

    def f(title: str, line: int, subject: str = "") -> Finding:
        return Finding("CMP003", "high", "reproducibility", title, [Location("compose.yaml", line)], subject=subject)

    assert f("compose.yaml:12: web runs nginx:1.27", 12).fingerprint() == \
        f("compose.yaml:14: web runs nginx:1.27", 14).fingerprint()
    assert f("line 3: web runs nginx:1.27", 3).fingerprint() == f("line 9: web runs nginx:1.27", 9).fingerprint()
    assert f("web runs nginx:1.27", 3).fingerprint() != f("web runs nginx:1.28", 3).fingerprint()
    assert f("3 actions not pinned", 3, "unpinned").fingerprint() == f("4 actions not pinned", 5, "unpinned").fingerprint()
    same = [f("hadolint DL3059", 3), f("hadolint DL3059", 7)]  # one rule on two lines of one file
    assert len(set(fingerprints(same))) == 2
