"""An endpoint that trickles one byte a second, or never answers, costs `review` its budget
(notion.timeout, wall clock per call, two tries), not forever: the cache stands in, marked stale, and
the message names the tries and the setting."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from slow_endpoint import SlowEndpoint  # noqa: E402
from test_notion import configure, notion, notion_sources, platform, review_json  # noqa: E402, F401


@pytest.mark.parametrize("mode", ["trickle", "silent"])
def test_a_slow_notion_falls_back_to_the_cache_within_the_budget(platform, mode):  # noqa: F811
    with notion() as fake:
        configure(platform, fake)
        assert [s["status"] for s in notion_sources(review_json(platform))] == ["ok", "ok"]  # the cache
    cache = platform / ".devops-agent" / "notion-cache.json"
    with SlowEndpoint(mode) as slow:
        cache.write_text(cache.read_text().replace(fake.url, slow.url))  # the cache is keyed by the endpoint
        fake.url = slow.url
        configure(platform, fake)  # notion.timeout: 2
        started = time.monotonic()
        data = review_json(platform)
        took = time.monotonic() - started
    srcs = notion_sources(data)
    assert [s["status"] for s in srcs] == ["stale", "stale"]
    message = srcs[0]["message"]
    assert "Notion did not answer for the Release database db-release (no answer within 2 s, 2 tries); " \
           "notion.timeout in .devops-agent.yaml sets the wait; using the cache fetched at" in message, message
    assert slow.connections == 2
    print(f"{mode}: review took {took:.1f} s")
    assert took < 30, took  # two tries of 2 s and a review; it never returned before
