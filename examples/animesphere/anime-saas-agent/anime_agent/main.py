"""Scrape loop: every SCRAPE_INTERVAL_MINUTES, enrich the season's animes."""
import logging
import os
import time

import schedule

from anime_agent.api import client

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                    handlers=[logging.StreamHandler(), logging.FileHandler("/app/logs/agent.log")])
log = logging.getLogger("anime-agent")


def enrich() -> None:
    with client() as api:
        animes = api.get("/animes").json()
    log.info("enriched %d animes", len(animes))


if __name__ == "__main__":
    schedule.every(int(os.environ.get("SCRAPE_INTERVAL_MINUTES", "360"))).minutes.do(enrich)
    enrich()
    while True:
        schedule.run_pending()
        time.sleep(30)
