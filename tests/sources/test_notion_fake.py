"""The Notion fake proven with the official client: what sources/notion.py's tests stand on."""
from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from notion_client import (APIErrorCode, APIResponseError, Client, RequestTimeoutError, RetryOptions,
                           UnknownHTTPResponseError, iterate_paginated_api)

sys.path.insert(0, str(Path(__file__).parent))
from notion_fake import FakeNotion  # noqa: E402

SCHEMA = {"Name": "title", "Notes": "rich_text", "Status": "status", "Kind": "select", "Release": "relation",
          "Owner": "people", "Due": "date", "Edited by": "last_edited_by"}


@pytest.fixture
def fake():
    with FakeNotion(page_size_cap=100) as f:
        f.add_user("user-product", "Pat Product")
        f.add_database("db1", "Intentions", "ds1", SCHEMA)
        f.add_page("ds1", "rel-1", {"Name": "Release 1.4", "Status": "Done"})
        f.add_page("ds1", "p1", {"Name": "Ship the export " * 5, "Status": "In progress", "Kind": "Feature",
                                 "Release": ["rel-1"], "Owner": ["user-product"], "Due": "2026-12-01"})
        f.add_page("ds1", "p2", {"Name": "Fix login", "Status": "Done", "Kind": "Bug", "Release": ["rel-1"]})
        f.add_page("ds1", "p3", {"Name": "Old idea", "Status": "Done"}, archived=True)
        yield f


def client(fake: FakeNotion, **kw) -> Client:
    return Client(auth=kw.pop("auth", fake.token), base_url=fake.url, notion_version="2025-09-03", **kw)


def names(pages: list[dict]) -> list[str]:
    return ["".join(t["plain_text"] for t in p["properties"]["Name"]["title"]) for p in pages]


def query(notion: Client, **kw) -> list[dict]:
    return list(iterate_paginated_api(notion.data_sources.query, data_source_id="ds1", **kw))


def test_database_data_source_and_page_shapes(fake):
    notion = client(fake)
    db = notion.databases.retrieve(database_id="db1")
    assert db["object"] == "database" and db["title"][0]["plain_text"] == "Intentions"
    assert db["data_sources"] == [{"id": "ds1", "name": "Intentions"}]
    ds = notion.data_sources.retrieve(data_source_id="ds1")
    assert ds["properties"]["Status"]["type"] == "status" and ds["properties"]["Name"]["id"] == "title"
    assert {o["name"] for o in ds["properties"]["Status"]["status"]["options"]} == {"Done", "In progress"}
    page = notion.pages.retrieve(page_id="p1")
    props = page["properties"]
    assert page["parent"] == {"type": "data_source_id", "data_source_id": "ds1", "database_id": "db1"}
    assert page["last_edited_by"] == {"object": "user", "id": "user-product"} and not page["in_trash"]
    assert len(props["Name"]["title"]) == 2 and names([page]) == ["Ship the export " * 5]  # 80 chars, 2 pieces
    assert props["Status"]["status"]["name"] == "In progress" and props["Kind"]["select"]["color"]
    assert props["Release"]["relation"] == [{"id": "rel-1"}] and props["Due"]["date"]["start"] == "2026-12-01"
    assert props["Owner"]["people"][0]["name"] == "Pat Product"
    assert props["Edited by"]["last_edited_by"]["id"] == "user-product" and props["Notes"]["rich_text"] == []
    assert notion.pages.retrieve(page_id="p2")["properties"]["Kind"]["select"]["name"] == "Bug"
    assert notion.users.retrieve(user_id="user-product")["name"] == "Pat Product"
    assert notion.pages.retrieve(page_id="p3")["archived"] is True  # retrievable, but never queried
    seen = fake.requests[0]
    assert seen["headers"]["notion-version"] == "2025-09-03" and seen["path"] == "/v1/databases/db1"
    assert seen["status"] == 200


def test_query_paginates_at_the_cap():
    with FakeNotion(page_size_cap=100) as fake:
        fake.add_database("db1", "Big", "ds1", {"Name": "title"})
        for i in range(250):
            fake.add_page("ds1", f"p{i:03}", {"Name": f"n{i:03}"})
        pages = query(client(fake), page_size=100)
        assert names(pages) == [f"n{i:03}" for i in range(250)]
        assert fake.count(r"/query$", "POST") == 3
        cursors = [r["body"].get("start_cursor") for r in fake.requests]
        assert cursors == [None, "p100", "p200"]
    with FakeNotion(page_size_cap=10) as small:
        small.add_database("db1", "Big", "ds1", {"Name": "title"})
        for i in range(25):
            small.add_page("ds1", f"p{i}", {"Name": "x"})
        first = client(small).data_sources.query(data_source_id="ds1")
        assert len(first["results"]) == 10 and first["has_more"] and first["type"] == "page_or_data_source"
        assert first["page_or_data_source"] == {} and len(query(client(small))) == 25


def test_filters_and_sorts(fake):
    notion = client(fake)
    assert names(query(notion, filter={"property": "Status", "status": {"equals": "Done"}})) == ["Release 1.4",
                                                                                                  "Fix login"]
    assert names(query(notion, filter={"property": "Release", "relation": {"contains": "rel-1"}})) == [
        "Ship the export " * 5, "Fix login"]
    both = {"and": [{"property": "Status", "status": {"equals": "Done"}},
                    {"property": "Kind", "select": {"is_not_empty": True}}]}
    assert names(query(notion, filter=both)) == ["Fix login"]
    either = {"or": [{"property": "Kind", "select": {"equals": "Feature"}},
                     {"property": "Name", "title": {"contains": "release"}}]}
    assert names(query(notion, filter=either)) == ["Release 1.4", "Ship the export " * 5]
    assert names(query(notion, filter={"property": "Due", "date": {"on_or_after": "2026-12-01"}})) == [
        "Ship the export " * 5]
    assert names(query(notion, sorts=[{"property": "Name", "direction": "ascending"}]))[0] == "Fix login"
    with pytest.raises(APIResponseError) as err:
        query(notion, filter={"property": "Nope", "status": {"equals": "Done"}})
    assert err.value.code == APIErrorCode.ValidationError and "Nope" in str(err.value)


def test_block_children_nested_and_paginated(fake):
    fake.set_blocks("p1", [{"type": "heading_1", "text": "Goal"},
                           {"type": "bulleted_list_item", "text": "parent",
                            "children": [{"type": "to_do", "text": "sub", "checked": True}]},
                           {"type": "code", "text": "make", "language": "bash"}, {"type": "divider"}])
    notion = client(fake)
    top = list(iterate_paginated_api(notion.blocks.children.list, block_id="p1", page_size=2))
    assert [b["type"] for b in top] == ["heading_1", "bulleted_list_item", "code", "divider"]
    assert fake.count(r"/v1/blocks/p1/children$") == 2 and top[1]["has_children"] and not top[0]["has_children"]
    assert top[0]["heading_1"]["rich_text"][0]["plain_text"] == "Goal" and top[2]["code"]["language"] == "bash"
    assert top[0]["parent"] == {"type": "page_id", "page_id": "p1"}
    sub = notion.blocks.children.list(block_id=top[1]["id"])["results"]
    assert sub[0]["to_do"]["checked"] is True and sub[0]["parent"]["block_id"] == top[1]["id"]
    assert notion.blocks.children.list(block_id="p2")["results"] == []


def test_auth_version_and_unknown_urls(fake):
    with pytest.raises(APIResponseError) as err:
        client(fake, auth="wrong").databases.retrieve(database_id="db1")
    assert err.value.code == APIErrorCode.Unauthorized and err.value.status == 401
    with pytest.raises(UnknownHTTPResponseError) as err:  # missing_version is not among the client's codes
        Client(auth=fake.token, base_url=fake.url, notion_version="").databases.retrieve(database_id="db1")
    assert err.value.status == 400 and '"code": "missing_version"' in err.value.body
    with pytest.raises(APIResponseError) as err:
        client(fake).databases.retrieve(database_id="missing")
    assert err.value.code == APIErrorCode.ObjectNotFound and err.value.status == 404
    assert "Could not find database with ID: missing" in str(err.value)
    with pytest.raises(APIResponseError) as err:
        client(fake).request(path="databases/db1/query", method="POST", body={})
    assert err.value.code == APIErrorCode.InvalidRequestURL


def test_429_retried_by_the_client_after_retry_after(fake):
    fake.fail(r"/v1/data_sources/ds1/query$", 429, retry_after=1)
    start = time.monotonic()
    assert len(query(client(fake, retry=RetryOptions(max_retries=2)))) == 3
    assert time.monotonic() - start >= 1 and fake.count(r"/query$") == 2
    assert [r["status"] for r in fake.requests] == [429, 200]
    fake.fail(r"/query$", 429, body={"error": "not notion"})
    with pytest.raises(UnknownHTTPResponseError):
        query(client(fake))


def test_500_retried_for_get_not_for_post(fake):
    fake.fail(r"/query$", 500, method="POST")
    with pytest.raises(APIResponseError) as err:
        query(client(fake))
    assert err.value.code == APIErrorCode.InternalServerError and fake.count(r"/query$") == 1
    fake.fail(r"/v1/pages/p1$", 500)
    assert client(fake, retry=RetryOptions(max_retries=2, initial_retry_delay_ms=10)).pages.retrieve(page_id="p1")
    assert fake.count(r"/v1/pages/p1$", "GET") == 2


def test_slow_answer_times_out_in_the_client(fake):
    fake.slow(r"/v1/databases/db1$", 1.0)
    start = time.monotonic()
    with pytest.raises(RequestTimeoutError):
        client(fake, timeout_ms=200).databases.retrieve(database_id="db1")
    assert time.monotonic() - start < 0.9
    assert client(fake, timeout_ms=2000).databases.retrieve(database_id="db1")["id"] == "db1"  # once only


def test_concurrent_clients_are_all_answered_and_recorded(fake):
    def read(_: int) -> str:
        return client(fake).pages.retrieve(page_id="p2")["id"]

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(read, range(40))) == {"p2"}
    assert fake.count(r"/v1/pages/p2$") == 40 and {r["status"] for r in fake.requests} == {200}
