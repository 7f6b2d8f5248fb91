"""Issue 21, item 4: the composite Action (action.yml) and the workflow docs/github-action.md tells teams to copy.

Both are checked with zizmor, as `review` runs it, and with the schemas GitHub's files follow (check-jsonschema's
vendored GitHub workflow and Action schemas). Then the Action's steps run as a script, the way the runner runs a
composite action (bash -eo pipefail, `env:` from the step, GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files, `if:`
evaluated), against the bundled example platform; only the two `uses:` steps stand in: setup-python gives this
interpreter, and the upload checks the SARIF file it is handed.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from tools.ci.schema import validate_schema
from tools.schemas import vendored_schema
from tools.zizmor import run_zizmor

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())


def documented_workflow() -> str:
    text = (ROOT / "docs" / "github-action.md").read_text()
    block = text.split("## The workflow to copy", 1)[1]
    return re.search(r"```yaml\n(.*?)```", block, re.S).group(1)


# -- checked as the review checks workflows ------------------------------------------------------------------------

def test_the_documented_workflow_and_the_action_pass_zizmor(tmp_path):
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "devops-agent.yml").write_text(documented_workflow())
    (tmp_path / "action.yml").write_text((ROOT / "action.yml").read_text())
    run = run_zizmor(tmp_path, [".github/workflows/devops-agent.yml", "action.yml"])
    assert run.ran, run.notes
    assert not run.skipped, run.skipped
    found = {path: [(i.audit, i.line, i.message) for i in issues] for path, issues in run.results.items() if issues}
    assert found == {}


def test_the_documented_workflow_follows_githubs_workflow_schema():
    workflow = yaml.safe_load(documented_workflow())
    assert validate_schema(workflow) == []
    assert workflow["jobs"]["review"]["permissions"] == {"contents": "read", "security-events": "write"}
    uses = [s["uses"] for s in workflow["jobs"]["review"]["steps"]]
    assert all(re.search(r"@[0-9a-f]{40}$", u) for u in uses), uses  # pinned to commits


def test_the_action_follows_githubs_action_schema():
    schema = vendored_schema("github-actions.json")
    errors = [e.message for e in jsonschema.validators.validator_for(schema)(schema).iter_errors(ACTION)]
    assert errors == []
    uses = [s["uses"] for s in ACTION["runs"]["steps"] if "uses" in s]
    assert [u.split("@")[0] for u in uses] == ["actions/setup-python", "github/codeql-action/upload-sarif"]
    assert all(re.search(r"@[0-9a-f]{40}$", u) for u in uses), uses


def test_no_expression_is_spliced_into_a_script():
    for step in ACTION["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step["name"]


# -- the steps, run as the runner runs them --------------------------------------------------------------------------

def _text(value) -> str:
    """A YAML value as the runner hands it to a step (`false`, not `False`)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


_REF = re.compile(r"\b(inputs|github|steps)((?:\.[A-Za-z_][\w-]*)+)")


class Runner:
    """The composite action's steps with GitHub's contexts: inputs, github, steps.<id>.outputs."""

    def __init__(self, workspace: Path, temp: Path, inputs: dict[str, str], event_name: str, event: dict):
        self.workspace, self.temp = workspace, temp
        self.inputs = {k: str(v.get("default", "")) for k, v in ACTION["inputs"].items()} | inputs
        self.github = {"action_path": str(ROOT), "event_name": event_name, "event": event,
                       "workspace": str(workspace)}
        self.outputs: dict[str, dict[str, str]] = {}
        self.summary = temp / "summary.md"
        self.ran: list[str] = []
        self.uploaded: list[dict] = []

    def value(self, root: str, dotted: str):
        parts = dotted.strip(".").split(".")
        if root == "inputs":
            return self.inputs.get(parts[0], "")
        if root == "steps":
            return self.outputs.get(parts[0], {}).get(parts[2], "") if len(parts) == 3 else ""
        node = self.github
        for p in parts:
            node = node.get(p, "") if isinstance(node, dict) else ""
        return node if isinstance(node, str) else ""

    def expand(self, text: str) -> str:
        return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", lambda m: self.value(*_REF.fullmatch(m.group(1)).groups()), text)

    def condition(self, expr: str) -> bool:
        """GitHub's `if:` for the forms action.yml uses: references, literals, ==, !=, &&, ||, !, always()."""
        py = _REF.sub(lambda m: repr(self.value(m.group(1), m.group(2))), expr)
        py = py.replace("always()", "True").replace("&&", " and ").replace("||", " or ")
        py = re.sub(r"!(?!=)", " not ", py)
        return bool(eval(py, {"__builtins__": {}}, {}))  # noqa: S307 — action.yml's own expressions, this repo's file

    def run(self) -> int:
        for step in ACTION["runs"]["steps"]:
            if "if" in step and not self.condition(step["if"]):
                continue
            self.ran.append(step["name"])
            code = self._uses(step) if "uses" in step else self._run(step)
            if code:
                return code
        return 0

    def _uses(self, step: dict) -> int:
        with_ = {k: self.expand(_text(v)) for k, v in step.get("with", {}).items()}
        if step["uses"].startswith("actions/setup-python@"):
            assert with_["python-version"] and with_["update-environment"] == "false"
            self.outputs[step["id"]] = {"python-path": sys.executable}
        elif step["uses"].startswith("github/codeql-action/upload-sarif@"):
            sarif = json.loads(Path(with_["sarif_file"]).read_text())
            assert sarif["version"] == "2.1.0" and with_["category"] == "devops-agent"
            self.uploaded.append(sarif)
        return 0

    def _run(self, step: dict) -> int:
        out = self.temp / f"output-{len(self.ran)}"
        out.write_text("")
        script = self.temp / f"step-{len(self.ran)}.sh"
        script.write_text(step["run"])
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update({k: self.expand(_text(v)) for k, v in step.get("env", {}).items()})
        env.update(GITHUB_WORKSPACE=str(self.workspace), RUNNER_TEMP=str(self.temp), GITHUB_OUTPUT=str(out),
                   GITHUB_STEP_SUMMARY=str(self.summary), GITHUB_ACTIONS="true", NO_COLOR="1")
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], env=env,
                              capture_output=True, text=True, timeout=900, cwd=self.workspace)
        self.log = getattr(self, "log", "") + proc.stdout + proc.stderr
        if "id" in step:
            self.outputs[step["id"]] = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
        return proc.returncode


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runner-temp")  # one venv for every run, as a runner's cache would keep it


@pytest.fixture
def platform(tmp_path) -> Path:
    """The bundled example platform, with Product's (demo) signer list committed: `verify` has a trust root."""
    repo = tmp_path / "animesphere"
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "example", "init", str(repo), "--demo-product-key",
                           str(tmp_path / "product-key")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return repo


def test_on_a_push_the_action_reviews_uploads_summarises_verifies_and_fails_on_a_blocker(platform, runner_temp):
    before = subprocess.run(["git", "rev-parse", "HEAD~1"], cwd=platform, capture_output=True, text=True).stdout.strip()
    runner = Runner(platform, runner_temp, {}, "push", {"before": before})
    code = runner.run()
    assert code == 1, runner.log[-3000:]  # the example platform has blockers (XF001): NO-GO
    assert runner.ran == [s["name"] for s in ACTION["runs"]["steps"]], runner.ran  # verify ran, on a push
    assert runner.outputs["review"]["verdict"] == "NO-GO"
    [sarif] = runner.uploaded
    assert any(r["ruleId"] == "XF001" for r in sarif["runs"][0]["results"])
    summary = runner.summary.read_text()
    assert "session brief" in summary and "**Verdict: NO-GO**" in summary and "| blocker | XF001 |" in summary
    assert "::error title=devops-agent::review verdict NO-GO" in runner.log
    assert "all Product-signed" in runner.log  # verify's own line: the example's infra commits are signed


def test_on_a_pull_request_a_baseline_lets_only_new_findings_decide_and_verify_is_skipped(platform, runner_temp):
    inputs = {"baseline": "devops-agent-baseline.json", "fail-on": "high"}
    runner = Runner(platform, runner_temp, inputs, "pull_request", {"pull_request": {"head": {"sha": "0" * 40}}})
    code = runner.run()
    assert code == 0, runner.log[-3000:]  # the baseline was written from this review: nothing is new
    assert (platform / "devops-agent-baseline.json").is_file()
    assert "Verify Product's signatures" not in runner.ran
    assert runner.outputs["review"]["verdict"] == "GO"
    results = runner.uploaded[0]["runs"][0]["results"]
    assert results and all(r.get("suppressions") for r in results if r["ruleId"] != "SUP001")
    assert "## Suppressed" in runner.summary.read_text()


def test_on_a_pull_request_the_base_is_the_baseline_and_only_new_findings_fail(platform, runner_temp):
    """`since` (the pull request's base) marks each SARIF result new or unchanged; with `fail-on-new` the example's
    standing blockers fail nothing, a blocker the pull request brings in does."""
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=platform, capture_output=True, text=True).stdout.strip()
    inputs = {"since": base, "fail-on-new": "true"}
    event = {"pull_request": {"head": {"sha": "0" * 40}, "base": {"sha": base}}}
    runner = Runner(platform, runner_temp, inputs, "pull_request", event)
    assert runner.run() == 0, runner.log[-3000:]
    results = runner.uploaded[0]["runs"][0]["results"]
    assert results and {r["baselineState"] for r in results} == {"unchanged"}
    prod = platform / "docker-compose.prod.yml"
    prod.write_text(prod.read_text().replace("image: mysql:8.0", "image: mysql:8.0\n    depends_on: [ghost]", 1))
    runner = Runner(platform, runner_temp, inputs, "pull_request", event)
    assert runner.run() == 1, runner.log[-3000:]
    new = [r for r in runner.uploaded[0]["runs"][0]["results"] if r["baselineState"] == "new"]
    assert [r["ruleId"] for r in new if r["level"] == "error"] == ["CMP005"], new
