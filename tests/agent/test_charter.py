"""The charter parser on the two real charters and on variants of our own."""
from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.charter import parse_charter, parse_charter_text, section_key
from agent.core.errors import UserError

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "charters"


def by_kind(charter, kind):
    return [s for s in charter.sources if s.kind == kind]


def test_real_devops_charter(realworld):
    c = parse_charter(realworld / ".codex/agents/devops-engineer.md")
    assert (c.role, c.project) == ("DevOps Engineer", "AnimeSphere")
    assert c.all_sources_required
    keys = [s.key for s in c.sections]
    assert keys == ["mission", "authority", "guardrails", "sources", "priority", "responsibilities",
                    "out_of_scope", "work_rules", "deliverables", "tone"]
    assert [s.kind for s in c.sources] == ["notion", "compose", "dockerfile", "ci_workflow", "docs", "rules"]
    notion, = by_kind(c, "notion")
    assert notion.targets == ["Release", "Intention"] and notion.priority == 1
    compose, = by_kind(c, "compose")
    assert compose.locations == ["docker-compose.yml", "docker-compose.prod.yml"] and compose.priority == 2
    docker, = by_kind(c, "dockerfile")
    assert docker.services == ["frontend", "api", "mlservice", "agent", "reverseproxy"] and docker.priority == 2
    ci, = by_kind(c, "ci_workflow")
    assert len(ci.locations) == 5 and all(l.endswith("/.github/workflows/ci.yml") for l in ci.locations)
    assert ci.priority == 2
    docs, = by_kind(c, "docs")
    assert docs.optional and docs.priority is None  # not named by the priority list
    rules, = by_kind(c, "rules")
    assert rules.locations == ["/Users/stephen.godard/.codeium/windsurf/memories/global_rules.md"]
    assert rules.sections == ["Containerisation"] and rules.priority == 3 and not rules.optional
    assert [p.rank for p in c.priorities] == [1, 2, 3]
    clause = c.find_clause("guardrails", "une raison, un risque, un rollback")
    assert clause is not None and clause.section == "Garde-fous MVP"


def test_real_product_charter(realworld):
    c = parse_charter(realworld / ".codex/agents/product.md")
    assert c.role == "Product"
    pages, dbs = by_kind(c, "notion")
    assert pages.targets == ["Animesphere.io - Product Discovery", "Product Workspace", "UX Discovery - Parcours & MVP"]
    assert pages.priority == 1
    assert dbs.targets == ["Release", "Intention", "Delivery"] and dbs.priority == 2
    readme, = by_kind(c, "repo_file")
    assert readme.locations == ["README.md"] and readme.priority == 3
    # Sections of the family this parser does not know are kept verbatim.
    kept = [s for s in c.sections if s.key is None]
    assert {s.heading for s in kept} == {"Format attendu des intentions", "Règles de communication"}
    assert "Problème utilisateur" in kept[0].body


def test_english_headings_and_variants():
    c = parse_charter(FIX / "english.md")
    assert (c.role, c.project) == ("Site Reliability Engineer", "Acme")
    assert c.section("sources").heading == "Sources of truth (to load)"
    assert c.all_sources_required
    assert [s.kind for s in c.sources] == ["notion", "compose", "ci_workflow", "docs", "rules"]
    runbook, = by_kind(c, "docs")
    assert runbook.optional and runbook.locations == ["docs/runbook.md"]
    rules, = by_kind(c, "rules")
    assert rules.sections == ["Containers", "Security"] and rules.priority == 3
    assert by_kind(c, "notion")[0].priority == 1 and by_kind(c, "compose")[0].priority == 2
    assert c.section("deliverables") is not None
    assert any(s.key is None and s.heading == "Escalation" for s in c.sections)


def test_accents_case_and_reordered_priorities():
    c = parse_charter(FIX / "variant-accents.md")
    assert [s.key for s in c.sections][:5] == ["mission", "authority", "guardrails", "sources", "priority"]
    compose, = by_kind(c, "compose")
    assert compose.locations == ["compose/dev.yml", "compose/prod.yml"]
    rules, = by_kind(c, "rules")
    assert rules.sections == ["Tests", "Structure & Architecture"]
    # This charter ranks the rules first: the mapping follows the list, not a fixed order.
    assert rules.priority == 1 and by_kind(c, "notion")[0].priority == 2 and compose.priority == 3
    assert by_kind(c, "dockerfile")[0].services == ["web", "worker"]
    assert not c.all_sources_required


def test_minimal_charter_without_priority():
    c = parse_charter(FIX / "minimal-fr.md")
    assert c.priorities == [] and all(s.priority is None for s in c.sources)
    assert [s.kind for s in c.sources] == ["repo_file", "docs"]
    assert by_kind(c, "docs")[0].optional


@pytest.mark.parametrize("name, words", [
    ("no-title.md", "no title line"),
    ("no-sources.md", "no sources section"),
    ("latin1.md", "not valid UTF-8"),
])
def test_malformed_charters_fail_with_one_line(name, words):
    with pytest.raises(UserError) as err:
        parse_charter(FIX / name)
    assert words in err.value.line() and "\n" not in err.value.line()


def test_missing_charter_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        parse_charter(tmp_path / "nope.md")


def test_sources_section_without_bullets():
    with pytest.raises(UserError, match="lists no source"):
        parse_charter_text("# Agent: X (Y)\n\n## Sources\nJust prose.\n")


@pytest.mark.parametrize("heading, key", [
    ("Priorite des sources (en cas de conflit)", "priority"),
    ("Priorité des sources", "priority"),
    ("Sources de verite (a charger)", "sources"),
    ("Sources de vérité (à charger)", "sources"),
    ("Périmètre de non-intervention", "out_of_scope"),
    ("Regles de travail", "work_rules"),
    ("Ton", "tone"),
    ("Tone", "tone"),
    ("Topologie", None),
    ("Règles de communication", None),
])
def test_section_keys(heading, key):
    assert section_key(heading) == key
