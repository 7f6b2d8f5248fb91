"""Release and Intention read live through the official notion-client, against a local fake of the API
(tests/sources/notion_fake.py): the brief, `review --format json`, pagination, retries, the cache and
its staleness, a missing token, the export fallback, and what Product signs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from notion_fake import FakeNotion  # noqa: E402

from agent.example import init_example  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "secret_fake_token"
LIVE = """rules_file: docs/rules/global_rules.md
notion:
  release_database: db-release
  intention_database: db-intention
  base_url: {url}
  timeout: 2
{extra}environments:
  dev: [docker-compose.yml]
  prod: [docker-compose.prod.yml]
deploy_notes: [docs/deploiement.md]
"""
RELEASE_PROPS = {"Nom": "title", "Tag": "rich_text", "Statut": "status"}
INTENTION_PROPS = {"Nom": "title", "ID": "rich_text", "Release": "relation", "Problème utilisateur": "rich_text",
                   "Hypothèse": "rich_text", "Valeur attendue": "rich_text", "Critère de succès": "rich_text",
                   "Validation": "status"}


def notion(**kw) -> FakeNotion:
    """The platform's two databases: 0.4.0 delivered, 0.5.0 in progress with two intentions."""
    fake = FakeNotion(TOKEN, **kw)
    fake.add_database("db-release", "Release", "ds-release", RELEASE_PROPS)
    fake.add_database("db-intention", "Intention", "ds-intention", INTENTION_PROPS)
    fake.add_user("user-product", "Camille (Product)")
    fake.add_page("ds-release", "rel-040", {"Nom": "Lancement MVP", "Tag": "0.4.0", "Statut": "Livrée"})
    fake.add_page("ds-release", "rel-050", {"Nom": "Bêta privée", "Tag": "0.5.0", "Statut": "En cours"},
                  last_edited_time="2026-11-30T08:00:00.000Z")
    fake.add_page("ds-intention", "int-13", {
        "Nom": "Service fiable pendant la bêta privée", "ID": "INT-13", "Release": ["rel-050"],
        "Problème utilisateur": "Le service tombe et ne revient pas seul après un crash pendant la bêta.",
        "Hypothèse": "Redémarrer les conteneurs automatiquement suffit pendant la bêta.",
        "Valeur attendue": "Moins d'interruptions visibles.", "Critère de succès": "Aucune panne de plus de 5 min.",
        "Validation": "Validée"}, last_edited_time="2026-11-29T17:45:00.000Z")
    fake.add_page("ds-intention", "int-15", {
        "Nom": "Tableau de bord de la santé du service", "ID": "INT-15", "Release": ["rel-050"],
        "Validation": "Proposée"})
    fake.add_page("ds-intention", "int-9", {"Nom": "Liste de saison filtrable", "ID": "INT-9",
                                            "Release": ["rel-040"], "Validation": "Validée"})
    fake.set_blocks("int-13", [{"type": "heading_2", "text": "Contexte"},
                               {"type": "bulleted_list_item", "text": "crashs du mlscheduler",
                                "children": [{"type": "paragraph", "text": "trois fois la semaine dernière"}]},
                               {"type": "to_do", "text": "vérifier les healthchecks", "checked": True}])
    return fake


@pytest.fixture
def platform(tmp_path, monkeypatch):
    monkeypatch.setenv("DEVOPS_AGENT_HOME", str(tmp_path / "home"))
    return init_example(tmp_path / "animesphere")


def configure(root: Path, fake: FakeNotion, extra: str = "", commit: bool = False) -> None:
    (root / ".devops-agent.yaml").write_text(LIVE.format(url=fake.url, extra=extra))
    if commit:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "live notion"],
                       cwd=root, check=True)


def cli(root: Path, *args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "NOTION_TOKEN"}
    if token is not None:
        env["NOTION_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "agent.cli", *args, "--repo", str(root)], capture_output=True,
                          text=True, cwd=ROOT, env={**env, "NO_COLOR": "1"}, timeout=300)


def review_json(root: Path, *extra: str, token: str | None = TOKEN) -> dict:
    r = cli(root, "review", "--format", "json", *extra, token=token)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def notion_sources(data: dict) -> list[dict]:
    return [s for s in data["sources"] if s["kind"] == "notion"]


def test_the_release_and_its_intentions_are_read_live_into_the_brief_and_the_json(platform):
    with notion() as fake:
        configure(platform, fake)
        data = review_json(platform)
        text = cli(platform, "review").stdout
    release = data["release"]
    assert release["tag"] == "0.5.0" and release["name"] == "Bêta privée" and release["origin"] == "notion"
    assert release["read"].startswith("live from Notion through http://127.0.0.1")
    by_id = {i["id"]: i for i in release["intentions"]}
    assert set(by_id) == {"INT-13", "INT-15"}  # INT-9 belongs to 0.4.0: the relation filter is the server's
    i13 = by_id["INT-13"]
    assert i13["validated"] and not by_id["INT-15"]["validated"] and i13["status"] == "Validée"
    assert i13["fields"]["critere de succes"] == "Aucune panne de plus de 5 min."
    assert i13["fields"]["probleme utilisateur"].startswith("Le service tombe")  # joined across text pieces
    assert i13["last_edited"] == "2026-11-29T17:45:00.000Z" and i13["last_edited_by"] == "Camille (Product)"
    assert i13["url"] and len(i13["sha256"]) == 64
    assert i13["fields"]["page"] == ("## Contexte\n- crashs du mlscheduler\n  trois fois la semaine dernière\n"
                                     "- [x] vérifier les healthchecks")
    srcs = notion_sources(data)
    assert [s["status"] for s in srcs] == ["ok", "ok"] and all(s["fetched_at"] and len(s["sha256"]) == 64
                                                               for s in srcs)
    assert "read live from Notion" in text and "INT-13" in text and "Camille (Product)" in text
    assert all(r["headers"].get("notion-version") == "2025-09-03" for r in fake.requests)
    assert fake.count(r"/v1/data_sources/ds-intention/query", "POST") == 2  # review and the text brief


def test_release_tag_picks_another_release(platform):
    with notion() as fake:
        configure(platform, fake)
        data = review_json(platform, "--release", "0.4.0")
    assert data["release"]["tag"] == "0.4.0" and [i["id"] for i in data["release"]["intentions"]] == ["INT-9"]


def test_every_page_of_a_paginated_answer_is_read(platform):
    with notion(page_size_cap=10) as fake:
        for n in range(25):
            fake.add_page("ds-intention", f"extra-{n}", {"Nom": f"intention {n}", "ID": f"INT-{100 + n}",
                                                         "Release": ["rel-050"], "Validation": "Proposée"})
        configure(platform, fake)
        data = review_json(platform)
        queries = fake.count(r"/v1/data_sources/ds-intention/query", "POST")
    assert len(data["release"]["intentions"]) == 27 and queries == 3


def test_rate_limits_server_errors_and_timeouts_are_retried(platform):
    with notion() as fake:
        configure(platform, fake)
        fake.fail(r"/v1/data_sources/ds-release/query", 429, retry_after=1)   # the client's own retry
        fake.fail(r"/v1/data_sources/ds-intention/query", 500, times=2)     # a POST: ours
        fake.slow(r"/v1/blocks/int-13/children", 3.0)                       # > timeout 2 s: ours
        started = time.monotonic()
        data = review_json(platform)
        took = time.monotonic() - started
    assert data["release"]["tag"] == "0.5.0" and len(data["release"]["intentions"]) == 2
    assert [s["status"] for s in notion_sources(data)] == ["ok", "ok"]
    assert took >= 1.0
    assert fake.count(r"/v1/data_sources/ds-intention/query", "POST") == 3


def test_notion_down_uses_the_cache_marked_stale_with_its_fetch_time(platform):
    with notion() as fake:
        configure(platform, fake)
        fresh = review_json(platform)
        url = fake.url
    fetched = notion_sources(fresh)[0]["fetched_at"]
    assert (platform / ".devops-agent" / "notion-cache.json").is_file()
    # The fake is gone: nothing listens on its port any more.
    data = review_json(platform)
    srcs = notion_sources(data)
    assert [s["status"] for s in srcs] == ["stale", "stale"]
    assert all(s["fetched_at"] == fetched and "using the cache fetched at " + fetched in s["message"] for s in srcs)
    assert "Notion did not answer" in srcs[0]["message"]
    assert data["release"]["origin"] == "cache" and "stale" in data["release"]["read"]
    assert [i["id"] for i in data["release"]["intentions"]] == ["INT-13", "INT-15"]
    stale = [f for f in data["findings"] if f["id"] == "SRC008"]
    assert len(stale) == 2 and stale[0]["severity"] == "medium" and fetched in stale[0]["title"]
    r = cli(platform, "sources")
    text = r.stdout
    assert r.returncode == 0, r.stderr
    assert "stale" in text and f"cache@{fetched}" in text and url not in text.split("Environments")[-1]


def test_no_cache_and_no_answer_is_a_missing_source_that_says_why(platform):
    with notion() as fake:
        configure(platform, fake)
    r = cli(platform, "sources")
    assert r.returncode == 1
    assert "Notion did not answer for the Release database db-release" in r.stdout


def test_a_wrong_token_is_named_and_the_cache_is_not_used_for_it(platform):
    with notion() as fake:
        configure(platform, fake)
        review_json(platform)  # a cache exists
        data = review_json(platform, token="secret_wrong")
    srcs = notion_sources(data)
    assert [s["status"] for s in srcs] == ["missing", "missing"]
    assert "Notion refused the token" in srcs[0]["message"] and data["release"] is None


def test_an_unknown_database_is_named(platform):
    with notion() as fake:
        configure(platform, fake)
        (platform / ".devops-agent.yaml").write_text(
            (platform / ".devops-agent.yaml").read_text().replace("db-intention", "db-nope"))
        data = review_json(platform)
    message = notion_sources(data)[0]["message"]
    assert "the Intention database db-nope not found or not shared with the integration" in message


def test_no_token_says_which_variable_to_set_and_the_export_stands_in_marked(platform):
    with notion() as fake:
        configure(platform, fake)
        bare = review_json(platform, token=None)
        assert "NOTION_TOKEN is not set: set it to the Notion integration's token" in \
            notion_sources(bare)[0]["message"]
        configure(platform, fake, extra="  export_dir: notion-export\n")
        data = review_json(platform, token=None)
        assert not fake.requests
    srcs = notion_sources(data)
    assert [s["status"] for s in srcs] == ["ok", "ok"] and all(s["origin"] == "export" for s in srcs)
    assert "read from the export: NOTION_TOKEN is not set" in srcs[0]["message"]
    assert data["release"]["origin"] == "export" and "export on disk" in data["release"]["read"]


def test_bad_notion_config_is_one_line(platform):
    with notion() as fake:
        configure(platform, fake, extra="  properties: {problme: X}\n")
        r = cli(platform, "review")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "notion.properties.problme" in r.stderr


def test_renamed_properties_are_read(platform):
    with FakeNotion(TOKEN) as fake:
        fake.add_database("db-release", "Release", "ds-release", {"Name": "title", "Version": "select",
                                                                  "State": "select"})
        fake.add_database("db-intention", "Intention", "ds-intention", {"Title": "title", "For": "relation",
                                                                        "Approval": "select", "Success": "rich_text"})
        fake.add_page("ds-release", "r1", {"Name": "Beta", "Version": "0.5.0", "State": "In progress"})
        fake.add_page("ds-intention", "i1", {"Title": "Reliable beta", "For": ["r1"], "Approval": "Validated",
                                             "Success": "no outage over 5 min"})
        configure(platform, fake, extra="  properties: {release_tag: Version, release_status: State, "
                                        "intention_release: For, validation: Approval, success: Success}\n")
        data = review_json(platform)
    [intention] = data["release"]["intentions"]
    assert data["release"]["tag"] == "0.5.0" and intention["validated"] and intention["name"] == "Reliable beta"
    assert intention["fields"]["critere de succes"] == "no outage over 5 min"


def test_the_commit_product_signs_names_the_intention_as_read(platform, tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "agent"))
    from gate_helpers import GOOD, RESTART, make_patch

    with notion() as fake:
        configure(platform, fake, commit=True)
        key = tmp_path / "keys" / "product"
        r = cli(platform, "product-key", "init", "--identity", "product@animesphere", "--out", str(key),
                "--no-passphrase")
        assert r.returncode == 0, r.stderr
        patch = make_patch(platform, *RESTART, tmp_path / "restart.patch")
        r = cli(platform, "propose", "--patch", str(patch), *GOOD, "--scope", "compose", "--intention", "INT-13",
                "--format", "json")
        assert r.returncode == 0, r.stdout + r.stderr
        pid = json.loads(r.stdout)["id"]
        r = cli(platform, "approve", pid, "--key", str(key), "--yes")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Intention: INT-13 (Validée" in r.stdout  # what Product was shown before signing
        r = cli(platform, "apply", pid)
        assert r.returncode == 0, r.stdout + r.stderr
        read = {i["id"]: i for i in review_json(platform)["release"]["intentions"]}["INT-13"]
    message = subprocess.run(["git", "log", "-1", "--format=%B"], cwd=platform, capture_output=True,
                             text=True).stdout
    line = next(x for x in message.splitlines() if x.startswith("Intention: "))
    assert line.startswith("Intention: INT-13 (Validée; last edited 2026-11-29T17:45:00.000Z by Camille (Product); "
                           "read live via http://127.0.0.1:")
    assert line.endswith(f"sha256 {read['sha256']})")


def test_an_intention_read_from_the_export_is_marked_in_what_product_signs(platform, tmp_path):
    from agent.gate import Gate

    gate = Gate(platform)
    assert gate._intentions_relied_on({"intention": "INT-13"}) == [
        "INT-13 (Validée; read EXPORT on disk notion-export/Intention 8b7d4e20.csv; sha256 "
        + next(s.sha256 for s in gate.session().sources if s.path.startswith("notion-export/Intention")) + ")"]


def test_the_token_is_redacted_whatever_its_variable_is_called(platform, monkeypatch):
    from agent import redact
    from agent.session import open_session

    with notion() as fake:
        configure(platform, fake)
        text = (platform / ".devops-agent.yaml").read_text().replace("  timeout: 2\n",
                                                                     "  timeout: 2\n  token_env: NOTION_CRED_X\n")
        (platform / ".devops-agent.yaml").write_text(text)
        monkeypatch.setenv("NOTION_CRED_X", TOKEN)
        session = open_session(platform, run_checks=False)
    assert session.release is not None and session.release.origin == "notion"
    assert TOKEN not in redact.for_session(session)(f"the token is {TOKEN}")
