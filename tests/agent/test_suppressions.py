"""Issue 21, item 3: a finding can be accepted, and every acceptance is said.

Inline `# devops-agent: ignore[ID] reason` comments, hadolint's pragma (read exactly as hadolint reads it), `ignore:`
entries of `.devops-agent.yaml` (with an expiry), a baseline keyed on the findings' fingerprints, `--fail-on`; each
suppression is listed in the text brief, the markdown, the JSON and SARIF's `suppressions`. What decides a
suppression is an input the gate treats as infrastructure. The golden cases (tests/checks/DKF002, DKF007, CMP003,
SUP001) hold the checks' side; this file holds the review's.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gate_helpers import build_template, copy_repo, git, head

from tests.conftest import _git, require_binary
from tools.facts import infra_kind
from tools.facts.suppressions import inline_ignores

COMPOSE = """\
services:
  web:
    image: ghcr.io/acme/shop-web:2.3.1
    restart: unless-stopped
    ports:
      - "8080:8080"
  cache:
    image: redis:latest
    restart: unless-stopped
"""
DOCKERFILE = """\
FROM python:3.12-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
USER 10001
CMD ["python", "-m", "worker"]
"""


def cli(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args, "--repo", str(repo)], capture_output=True,
                          text=True, env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})


def review(repo: Path, *args: str) -> tuple[int, dict]:
    r = cli(repo, "review", "--format", "json", *args)
    assert r.returncode in (0, 1, 3), r.stderr
    return r.returncode, json.loads(r.stdout)


def commit_all(repo: Path, message: str = "platform") -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def shop(tmp_path) -> Path:
    """A small platform: a compose file whose cache runs `redis:latest` (CMP003) and a worker image."""
    repo = tmp_path / "shop"
    (repo / "worker").mkdir(parents=True)
    (repo / "compose.yaml").write_text(COMPOSE)
    (repo / "worker" / "Dockerfile").write_text(DOCKERFILE)
    (repo / "worker" / "requirements.txt").write_text("redis==5.0.8\n")
    (repo / "worker" / ".dockerignore").write_text(".git\n")
    _git(repo, "init", "-q", "-b", "main")
    commit_all(repo)
    return repo


def ids(data: dict, key: str = "findings") -> list[str]:
    return sorted(f["id"] for f in data[key])


# -- hadolint's pragma, read as hadolint reads it --------------------------------------------------------------

PRAGMAS = [
    "# hadolint ignore=DL3007",
    "# hadolint ignore=DL3007  # the CDN team certifies latest weekly",
    "#hadolint ignore=DL3008,DL3007",
    "# hadolint ignore=DL3007 because we said so",  # text after the list: hadolint drops the pragma
    "# hadolint ignore DL3007",
    "# hadolint global ignore=DL3007",
]


@pytest.mark.parametrize("pragma", PRAGMAS)
def test_a_hadolint_pragma_silences_dkf002_exactly_when_hadolint_honours_it(pragma, tmp_path):
    """Our reading of `# hadolint ignore=` agrees with the hadolint binary the review runs, pragma by pragma."""
    binary = require_binary("hadolint")
    where = 1 if "global" in pragma else 2
    text = "FROM alpine:3.20\n" + ("\n" if "global" in pragma else "") + f"{pragma}\nFROM nginx:latest\n"
    if "global" in pragma:
        text = f"{pragma}\nFROM alpine:3.20\nFROM nginx:latest\n"
    (tmp_path / "Dockerfile").write_text(text)
    out = subprocess.run([binary, "--format", "json", "--no-fail", "Dockerfile"], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    hadolint_honours = not any(i["code"] == "DL3007" for i in json.loads(out.stdout))
    ours = inline_ignores("Dockerfile", text)
    line_of_from = text.splitlines().index("FROM nginx:latest") + 1
    assert any("DKF002" in c.ids and c.covers(line_of_from) for c in ours) == hadolint_honours, (pragma, where)


# -- the review: accepted findings are listed, never counted ------------------------------------------------------

def test_an_inline_comment_accepts_on_its_line_or_the_next_and_the_brief_says_so(shop):
    text = COMPOSE.replace("    image: redis:latest",
                           "    # devops-agent: ignore[CMP003] redis is a disposable cache\n    image: redis:latest")
    (shop / "compose.yaml").write_text(text)
    commit_all(shop)
    _, data = review(shop)
    assert "CMP003" not in ids(data)
    [accepted] = [s for s in data["suppressed"] if s["id"] == "CMP003"]
    assert accepted["suppression"]["kind"] == "inSource"
    assert accepted["suppression"]["where"] == "compose.yaml:8"
    assert accepted["suppression"]["reason"] == "redis is a disposable cache"
    # two lines above is too far: the finding stands
    (shop / "compose.yaml").write_text(text.replace("\n    image: redis:latest", "\n    restart: always\n    image: redis:latest")
                                       .replace("    restart: unless-stopped\n", "", 2))
    commit_all(shop)
    _, data = review(shop)
    assert "CMP003" in ids(data) and not data["suppressed"]


def test_every_report_lists_the_suppression(shop):
    (shop / ".devops-agent.yaml").write_text("ignore:\n  - id: CMP003\n    path: compose.yaml\n"
                                            "    reason: redis is a disposable cache\n    expires: 2999-12-31\n")
    commit_all(shop)
    text = cli(shop, "review").stdout
    assert "Suppressed (1" in text and "redis is a disposable cache" in text and "until 2999-12-31" in text
    md = cli(shop, "review", "--format", "markdown").stdout
    assert "## Suppressed (1)" in md and "| CMP003 |" in md.split("## Suppressed")[1]
    sarif = json.loads(cli(shop, "review", "--format", "sarif").stdout)
    results = sarif["runs"][0]["results"]
    [accepted] = [r for r in results if r.get("suppressions")]
    assert accepted["ruleId"] == "CMP003"
    assert accepted["suppressions"][0]["kind"] == "external"
    assert "redis is a disposable cache" in accepted["suppressions"][0]["justification"]
    assert all(not r.get("suppressions") for r in results if r is not accepted)
    # the CI formats say it too: a notice annotation, a skipped JUnit test case, a compact line
    github = cli(shop, "review", "--format", "github").stdout
    assert [l for l in github.splitlines() if l.startswith("::notice ") and "title=CMP003 accepted" in l
            and "redis is a disposable cache" in l]
    junit = cli(shop, "review", "--format", "junit").stdout
    assert '<skipped message="accepted: redis is a disposable cache' in junit
    compact = cli(shop, "review", "--format", "compact").stdout
    assert [l for l in compact.splitlines() if ": accepted CMP003 " in l and "redis is a disposable cache" in l]


def test_an_expired_entry_brings_the_finding_back_with_a_note(shop):
    (shop / ".devops-agent.yaml").write_text("ignore:\n  - id: CMP003\n    path: compose.yaml\n"
                                            "    reason: until the cache is pinned\n    expires: 2021-06-30\n")
    commit_all(shop)
    _, data = review(shop)
    assert "CMP003" in ids(data) and not data["suppressed"]
    assert any("expired on 2021-06-30" in n for n in data["notes"])


def test_a_path_glob_accepts_only_the_files_it_names(shop):
    (shop / ".devops-agent.yaml").write_text("ignore:\n  - id: CMP003\n    path: deploy/*.yaml\n"
                                            "    reason: the deploy folder's stacks are pinned at release\n")
    commit_all(shop)
    _, data = review(shop)
    assert "CMP003" in ids(data)
    assert any("accepts no finding" in n for n in data["notes"])


@pytest.mark.parametrize("entry,said", [
    ("  - id: cmp3\n", "ignore.0.id: 'cmp3' is not a check id"),
    ("  - id: CMP003\n    expires: next spring\n", "ignore.0.expires: 'next spring' is not a date"),
    ("  - id: CMP003\n    path: ../elsewhere/*\n", "ignore.0.path"),
    ("  - id: CMP003\n    until: 2027-01-01\n", "unknown key 'ignore.0.until'"),
])
def test_a_wrong_ignore_entry_is_one_line_and_exit_2(shop, entry, said):
    (shop / ".devops-agent.yaml").write_text("ignore:\n" + entry)
    r = cli(shop, "review")
    assert r.returncode == 2 and said in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr and not r.stdout


# -- --fail-on and the baseline ----------------------------------------------------------------------------------

def test_fail_on_sets_the_severity_that_fails(shop):
    code, data = review(shop)
    assert data["verdict"] != "NO-GO" and not any(f["severity"] == "blocker" for f in data["findings"])
    severities = {f["severity"] for f in data["findings"]}
    assert "medium" in severities or "high" in severities
    code_medium, data_medium = review(shop, "--fail-on", "medium")
    assert (code_medium, data_medium["verdict"], data_medium["fail_on"]) == (1, "NO-GO", "medium")


def test_a_baseline_accepts_what_it_holds_by_fingerprint_and_only_new_findings_fail(shop, tmp_path):
    baseline = tmp_path / "devops-agent-baseline.json"
    code, data = review(shop, "--baseline", str(baseline), "--fail-on", "low")
    assert baseline.is_file() and code == 0, data["findings"]  # written, then everything in it is accepted
    held = json.loads(baseline.read_text())
    assert held["version"] == 1 and {e["id"] for e in held["findings"]} >= {"CMP003"}
    assert {s["suppression"]["by"] for s in data["suppressed"]} == {"baseline"}

    # lines move above every finding: the fingerprints do not, so nothing is new
    (shop / "compose.yaml").write_text("# shop platform, production stack\n# owners: platform team\n\n" + COMPOSE)
    commit_all(shop, "comments")
    code, data = review(shop, "--baseline", str(baseline), "--fail-on", "low")
    assert code == 0 and not data["findings"], data["findings"]

    # a new finding is the only one that counts
    (shop / "compose.yaml").write_text(COMPOSE + "  queue:\n    image: rabbitmq:latest\n    restart: unless-stopped\n")
    commit_all(shop, "queue")
    code, data = review(shop, "--baseline", str(baseline), "--fail-on", "low")
    assert code == 1 and data["verdict"] == "NO-GO"
    assert {f["id"] for f in data["findings"]} == {"CMP003"}
    assert all("queue" in f["title"] for f in data["findings"]), data["findings"]

    # --write-baseline takes the new one in
    code, data = review(shop, "--baseline", str(baseline), "--write-baseline", "--fail-on", "low")
    assert code == 0 and not data["findings"]


def test_a_baseline_named_in_the_config_is_used_without_the_flag(shop):
    (shop / "ci").mkdir()
    review(shop, "--baseline", str(shop / "ci" / "accepted.json"))
    code, data = review(shop, "--fail-on", "low")
    assert code == 1 and data["findings"] and not data["suppressed"]
    (shop / ".devops-agent.yaml").write_text("baseline: ci/accepted.json\n")
    commit_all(shop)
    code, data = review(shop, "--fail-on", "low")
    assert code == 0 and not data["findings"] and data["suppressed"]


@pytest.mark.parametrize("content,said", [("{not json", "is not JSON"),
                                          ('{"version": 7, "findings": []}', "is not a devops-agent baseline")])
def test_a_file_that_is_no_baseline_is_one_line_and_exit_2(shop, tmp_path, content, said):
    bad = tmp_path / "baseline.json"
    bad.write_text(content)
    r = cli(shop, "review", "--baseline", str(bad))
    assert r.returncode == 2 and said in r.stderr and "Traceback" not in r.stderr and not r.stdout


def test_write_baseline_needs_the_file(shop):
    r = cli(shop, "review", "--write-baseline")
    assert r.returncode == 2 and "--write-baseline needs --baseline FILE" in r.stderr


# -- the gate: what decides a suppression is infrastructure ------------------------------------------------------

@pytest.mark.parametrize("path,kind", [(".hadolint.yaml", "suppressions"), ("api/.hadolint.yml", "suppressions"),
                                       ("devops-agent-baseline.json", "suppressions"),
                                       ("ci/.devops-agent-baseline.json", "suppressions"),
                                       ("ci/baseline.txt", None)])
def test_suppression_files_are_an_infra_kind(path, kind):
    assert infra_kind(path, None) == kind


@pytest.fixture(scope="module")
def signed_platform(tmp_path_factory):
    base = tmp_path_factory.mktemp("suppressions-gate")
    repo, env = build_template(base)
    r = env.cli(repo, "verify", "--format", "json")
    assert r.returncode == 0, r.stdout
    return repo, env


@pytest.mark.parametrize("rel,text", [
    (".devops-agent.yaml", "ignore:\n  - id: CMP007\n    path: '*'\n    reason: the port is firewalled\n"),
    (".hadolint.yaml", "ignored:\n  - DL3002  # root is needed\n"),
    ("devops-agent-baseline.json", '{"version": 1, "findings": []}\n'),
])
def test_an_unsigned_change_to_what_accepts_findings_fails_verify(signed_platform, tmp_path, rel, text):
    template, env = signed_platform
    repo = copy_repo(template, tmp_path / "platform")
    target = repo / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text((target.read_text() if target.exists() else "") + text)
    git(repo, "add", "-f", "--", rel)
    git(repo, "commit", "-q", "-m", f"chore: {rel}")
    sha = head(repo)
    r = env.cli(repo, "verify", "--format", "json")
    report = json.loads(r.stdout)
    assert r.returncode == 1, report
    assert any(c["sha"] == sha and c["status"] != "signed" and rel in c["paths"] for c in report["infra_commits"])


def test_sarif_with_suppressions_is_still_what_github_and_the_schema_accept(shop, tmp_path):
    """The accepted findings' results (with `suppressions`) pass the full SARIF 2.1.0 schema, GitHub's upload rules
    and, where installed, Microsoft's validator; each keeps the fingerprint the JSON gives it."""
    from test_sarif import _multitool, github_errors, multitool_problems, schema_errors

    (shop / "compose.yaml").write_text(COMPOSE.replace(
        "    image: redis:latest", "    # devops-agent: ignore[CMP003] redis is a disposable cache\n    image: redis:latest"))
    (shop / ".devops-agent.yaml").write_text("ignore:\n  - id: DKF006\n    path: worker/*\n")  # no reason: SUP001
    commit_all(shop)
    sarif = json.loads(cli(shop, "review", "--format", "sarif").stdout)
    accepted = [r for r in sarif["runs"][0]["results"] if r.get("suppressions")]
    assert {r["ruleId"] for r in accepted} == {"CMP003"}
    assert schema_errors(sarif) == [] and github_errors(sarif) == []
    tool = _multitool()
    if tool is not None:
        assert multitool_problems(tool, sarif, tmp_path) == []
    _, data = review(shop)
    [json_fp] = [s["fingerprint"] for s in data["suppressed"] if s["id"] == "CMP003"]
    assert accepted[0]["partialFingerprints"] == {"devopsAgentFinding/v2": json_fp}


def test_a_finding_in_a_file_whose_name_is_not_utf8_has_a_fingerprint():
    """A name git gives as bytes that are not UTF-8 (kept by surrogateescape) is hashed as those bytes, never a crash."""
    from tools.findings import Finding, Location

    odd = Finding("PRD004", "low", "security", "Dockerfile.\udcff: FROM alpine:3.19",
                  [Location("api/Dockerfile.\udcff", 1)])
    other = Finding("PRD004", "low", "security", "Dockerfile.\udcfe: FROM alpine:3.19",
                    [Location("api/Dockerfile.\udcfe", 1)])
    assert len(odd.fingerprint()) == 64 and odd.fingerprint() != other.fingerprint()


def test_a_findings_dict_has_every_field_in_order():
    """to_dict is written by hand (no deep copy): a field added to Finding must be added there too."""
    from dataclasses import asdict, fields

    from tools.findings import Finding, Location

    f = Finding("X", "low", "security", "t", [Location("a", 1)], "c", "r", "d", "cmd", "s")
    want = {**asdict(f), "locations": [{"path": "a", "line": 1}]}
    assert f.to_dict() == want and list(f.to_dict()) == [x.name for x in fields(Finding)]
