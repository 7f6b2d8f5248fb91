"""The only way the agent talks to the platform: the API's HTTP endpoints."""
import os

import httpx

API_URL = os.environ.get("API_URL", "http://anime-saas-api:8080/api")


def client() -> httpx.Client:
    return httpx.Client(base_url=API_URL, timeout=10.0)
