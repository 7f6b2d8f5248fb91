"""Recommendation service: serves the precomputed recommendations of each user."""
import os

from fastapi import FastAPI, HTTPException
from sqlalchemy import create_engine, text

engine = create_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)
app = FastAPI(title="anime-saas-mlservice")


@app.get("/health")
def health() -> dict:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok"}


@app.get("/recommendations/{user_id}")
def recommendations(user_id: int, limit: int = 10) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT anime_id, score FROM recommendation WHERE user_id = :u ORDER BY score DESC LIMIT :n"),
            {"u": user_id, "n": limit},
        ).all()
    if not rows:
        raise HTTPException(status_code=404, detail="no recommendations yet")
    return [{"anime_id": r.anime_id, "score": float(r.score)} for r in rows]
