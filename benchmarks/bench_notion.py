"""What reading Notion live costs a review, against the same review reading the export on disk.

Run: python benchmarks/bench_notion.py [--runs 5]
The live read goes through notion-client to the local fake of the API the tests use
(tests/sources/notion_fake.py): two databases, two data sources, the intentions and their blocks.
Printed: both medians, their ratio, the requests one review makes; and, with Notion down, the review
from the cache (stale) against the live one. No target: the figures are for the closing note.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT), str(PROJECT / "tests" / "sources"), str(PROJECT / "benchmarks")]

from timing import median_ms  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from test_notion import LIVE, TOKEN, notion

    from agent.example import init_example

    work = Path(tempfile.mkdtemp(prefix="bench-notion-"))
    env = {**os.environ, "DEVOPS_AGENT_HOME": str(work / "home")}
    env.pop("NOTION_TOKEN", None)
    root = init_example(work / "animesphere")

    def review(extra: dict | None = None) -> None:
        subprocess.run([sys.executable, "-m", "agent.cli", "review", "--format", "json", "--repo", str(root)],
                       capture_output=True, env={**env, **(extra or {})}, check=False)

    export = median_ms(review, args.runs)
    with notion() as fake:
        (root / ".devops-agent.yaml").write_text(LIVE.format(url=fake.url, extra=""))
        live = median_ms(lambda: review({"NOTION_TOKEN": TOKEN}), args.runs)
        requests = len(fake.requests) / args.runs
    stale = median_ms(lambda: review({"NOTION_TOKEN": TOKEN}), args.runs)  # the fake is gone: the cache
    print(f"review, Notion export: {export:.0f} ms; live Notion: {live:.0f} ms ({live / export:.2f}x), "
          f"{requests:.0f} requests per review; Notion down, from the cache: {stale:.0f} ms "
          f"({stale / export:.2f}x, after the retries of a refused connection)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
