"""The tool catalogue: one declaration per tool, none of Product's acts, every tool runs on the example."""
from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

from agent.toolbox import Toolbox
from tools.catalog import CATALOG, FORBIDDEN_ACTS, ToolError, catalogue_markdown, tool


def test_no_tool_does_what_only_product_may():
    for t in CATALOG:
        words = f"{t.name} {' '.join(t.args.model_fields)}".lower().replace("_", " ").split()
        assert not set(words) & set(FORBIDDEN_ACTS), t.name
    assert {t.kind for t in CATALOG} <= {"read", "propose", "apply"}
    assert [t.name for t in CATALOG if t.kind == "apply"] == ["apply_change"]
    assert len({t.name for t in CATALOG}) == len(CATALOG)


def test_docs_are_generated_from_the_catalogue():
    assert (ROOT / "docs/tools.md").read_text() == catalogue_markdown(), \
        "regenerate: devops-agent tools --format markdown > docs/tools.md"
    r = subprocess.run([sys.executable, "-m", "agent.cli", "tools", "--format", "markdown"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout == catalogue_markdown()


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    from agent.example import init_example

    return Toolbox(init_example(tmp_path_factory.mktemp("cat") / "animesphere"))


def test_every_read_tool_runs_on_the_example(box):
    sources = tool("sources").call(box, {})
    assert any(s.kind == "compose" and s.status == "ok" for s in sources.sources)
    text = tool("read_source").call(box, {"path": "docker-compose.prod.yml", "start_line": 1, "end_line": 3})
    assert text.end_line == 3 and text.text.count("\n") == 2 and text.provenance.startswith("platform@")
    compose = tool("compose_view").call(box, {"env": "prod"})
    assert "services" in compose.environments["prod"]
    review = tool("review").call(box, {"min_severity": "blocker"})
    assert review.verdict == "NO-GO" and all(f.severity == "blocker" for f in review.findings)
    assert tool("ci_view").call(box, {}).workflows
    assert tool("verify").call(box, {}).report["branch"]
    assert tool("release_checklist").call(box, {}).checklist["services"]


def test_bad_arguments_and_unknown_paths_are_tool_errors(box):
    with pytest.raises(ToolError, match="bad argument path"):
        tool("read_source").call(box, {})
    with pytest.raises(ToolError, match="bad argument bogus"):
        tool("review").call(box, {"bogus": 1})
    with pytest.raises(ToolError, match="is not a source of this session"):
        tool("read_source").call(box, {"path": "/etc/passwd"})
    with pytest.raises(ToolError, match="no tool named 'approve'"):
        tool("approve")


def test_apply_of_an_unsigned_proposal_changes_nothing(box):
    from agent.core.errors import UserError
    from sources.git import run_git

    head = run_git(["rev-parse", "HEAD"], box.root).strip()
    text = (box.root / "docker-compose.prod.yml").read_text()
    old = "main-${IMAGE_TAG_MLSCHEDULER}\n"
    patch_src = text.replace(old, old + "    restart: unless-stopped\n", 1)
    (box.root / "docker-compose.prod.yml").write_text(patch_src)
    diff = run_git(["diff", "--", "docker-compose.prod.yml"], box.root)
    (box.root / "docker-compose.prod.yml").write_text(text)
    rec = tool("propose_change").call(box, {
        "patch": diff, "reason": "the scheduler must restart after a crash", "scope": "compose",
        "risk": "a crash loop restarts forever",
        "rollback": "revert the commit to remove `restart: unless-stopped` from docker-compose.prod.yml"})
    assert rec.status == "pending" and "you cannot approve it" in rec.next, rec.refusals
    with pytest.raises(UserError):
        tool("apply_change").call(box, {"proposal_id": rec.id})
    assert run_git(["rev-parse", "HEAD"], box.root).strip() == head
    assert (box.root / "docker-compose.prod.yml").read_text() == text


def test_session_schemas_list_known_values_and_leave_an_argument_free_when_a_value_cannot_be_sent():
    from tools.catalog import MAX_ENUM, session_schema, tool

    read = tool("read_source")
    assert session_schema(read, {"sources": ["a.yml", "b.yml"]})["properties"]["path"]["enum"] == ["a.yml", "b.yml"]
    assert "enum" not in session_schema(read, {"sources": ["a.yml", "caf\udce9.yml"]})["properties"]["path"]
    many = [f"f{i}.yml" for i in range(MAX_ENUM + 1)]
    assert "enum" not in session_schema(read, {"sources": many})["properties"]["path"]
    assert session_schema(read) == session_schema(read, {}) and "x-devops-agent-known" not in str(session_schema(read))
    env = session_schema(tool("compose_view"), {"environments": ["prod"]})["properties"]["env"]["anyOf"]
    assert env == [{"type": "string", "enum": ["prod"]}, {"type": "null"}]
