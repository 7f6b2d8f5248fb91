"""Release and Intention read live from Notion through the official client (API version 2025-09-03).

The charter's priority-1 source is Product's intentions and release constraints in Notion. An export
on disk can be edited by whoever has a shell, so the live API is read when a token is set; every
successful fetch is kept in a cache under `.devops-agent/`, used (and marked `stale`, with its fetch
time) when Notion cannot be reached. With no token, the source says which variable to set, and the
export folder, when configured, is read instead and marked as such.

What is read is data, never instructions: the loop quotes it, and the gate names the intentions a
decision relied on (status, last edit, the sha256 of what was read, and where it was read from) in
the commit Product signs.

In 2025-09-03 a database holds data sources: `databases.retrieve` gives their ids and pages are listed
with `data_sources.query` (there is no `databases.query`). notion-client >= 3.1 retries a 429 itself
(honouring Retry-After) and 5xx on GET; a POST query's 5xx, timeouts and connection errors are
retried here.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from agent.core.charter import fold
from agent.core.deadline import Overdue, within
from agent.core.config import NOTION_PROPERTIES as DEFAULT_PROPERTIES
from sources.notion_export import CURRENT_STATUSES, VALIDATED_STATUSES, Intention, Release

API_VERSION = "2025-09-03"
CACHE_FILE = "notion-cache.json"
CACHE_FORMAT = 1
RETRIES = 3  # ours, on top of the client's own (a refused connection: 1)
# Wall-clock seconds for one API call, its transfer and the client's own retries included (a read timeout
# alone restarts at every byte); the whole read gets READ_CALLS times that.
DEFAULT_TIMEOUT_S = 5.0
READ_CALLS = 5
TIMEOUT_SETTING = "notion.timeout in .devops-agent.yaml sets the wait"
_BUDGET: ContextVar[tuple[float, float]] = ContextVar("notion_budget", default=(DEFAULT_TIMEOUT_S, float("inf")))


_FIELDS = ("problem", "hypothesis", "value", "success")


class NotionError(Exception):
    """Notion could not be read: `line` says what and what to do; `reachable` is False when the service
    did not answer (a cache may stand in), True when it answered no (a token or an id is wrong)."""

    def __init__(self, line: str, reachable: bool) -> None:
        super().__init__(line)
        self.line = line
        self.reachable = reachable


@dataclass
class Fetched:
    """One read of the release and its intentions, as plain data (cached as is)."""

    fetched_at: str
    release: dict
    intentions: list[dict]
    origin: str = "notion"  # or "cache"
    endpoint: str | None = None  # the API root when it is not Notion's own

    def to_json(self) -> dict:
        return {"format": CACHE_FORMAT, "fetched_at": self.fetched_at, "endpoint": self.endpoint,
                "release": self.release, "intentions": self.intentions}

    def model(self) -> tuple[Release, list[Intention]]:
        """The release and its intentions, as the session and the policy use them (the export's classes;
        the session links them)."""
        r = self.release
        release = Release(name=r["title"], version=r.get("tag"), status=r.get("status") or "", target_date=None,
                          current=True, origin=self.origin, url=r.get("url"), last_edited=r.get("last_edited"),
                          fetched_at=self.fetched_at, endpoint=self.endpoint)
        intentions = []
        for i in self.intentions:
            fields = {fold(DEFAULT_PROPERTIES[k] or k): i[k] for k in _FIELDS if i.get(k)}
            if i.get("body"):
                fields["page"] = i["body"]
            intentions.append(Intention(
                id=i["id"], name=i["title"], status=i.get("validation") or "", validated=bool(i.get("validated")),
                release=r["title"], fields=fields, origin=self.origin, url=i.get("url"),
                last_edited=i.get("last_edited"), last_edited_by=i.get("last_edited_by"), sha256=i.get("sha256"),
                endpoint=self.endpoint))
        return release, intentions


def digest(data: Any) -> str:
    """The sha256 of what was read (canonical JSON): what the gate names in the commit Product signs."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def as_markdown(part: dict | list) -> str:
    """What was read, as the text of the source (read_source, the model's quoted data)."""
    if isinstance(part, dict):
        return (f"# Release {part.get('tag') or ''} {part['title']}\n\nStatut: {part.get('status') or '-'}\n"
                f"Last edited: {part.get('last_edited') or '-'}\nURL: {part.get('url') or '-'}\n")
    out = []
    for i in part:
        out.append(f"## {i['id']} {i['title']}\n\nValidation: {i.get('validation') or '-'}"
                   f"{' (validated)' if i.get('validated') else ''}\n"
                   + "".join(f"{DEFAULT_PROPERTIES[k]}: {i[k]}\n" for k in _FIELDS if i.get(k))
                   + f"Last edited: {i.get('last_edited') or '-'} by {i.get('last_edited_by') or '-'}\n"
                   f"URL: {i.get('url') or '-'}\nsha256: {i.get('sha256')}\n"
                   + (f"\n{i['body']}\n" if i.get("body") else ""))
    return "\n".join(out) or "(no intention in this release)\n"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- property values

def plain_text(rich: list | None) -> str:
    return "".join(part.get("plain_text") or part.get("text", {}).get("content", "") for part in rich or [])


def property_text(prop: dict | None) -> str:
    """A property value as text, for the types a release or an intention uses."""
    if not prop:
        return ""
    kind = prop.get("type")
    value = prop.get(kind)
    if kind in ("title", "rich_text"):
        return plain_text(value).strip()
    if kind in ("select", "status"):
        return (value or {}).get("name", "") or ""
    if kind == "multi_select":
        return ", ".join(v.get("name", "") for v in value or [])
    if kind in ("number", "checkbox", "url", "email", "phone_number"):
        return "" if value is None else str(value)
    if kind == "date":
        return (value or {}).get("start", "") or ""
    if kind == "formula":
        return str((value or {}).get((value or {}).get("type"), "") or "")
    if kind == "unique_id":
        v = value or {}
        return f"{v.get('prefix') + '-' if v.get('prefix') else ''}{v.get('number', '')}"
    if kind in ("people", "relation"):
        return ", ".join(v.get("name") or v.get("id", "") for v in value or [])
    return ""


def _title_of(page: dict, name: str | None) -> str:
    props = page.get("properties") or {}
    if name and name in props:
        return property_text(props[name])
    return next((property_text(p) for p in props.values() if p.get("type") == "title"), "")


def _prop(page: dict, name: str) -> dict | None:
    props = page.get("properties") or {}
    if name in props:
        return props[name]
    want = fold(name)  # "Critere de succes" matches "Critère de succès"
    return next((p for k, p in props.items() if fold(k) == want), None)


# ---------------------------------------------------------------- blocks as markdown

_PREFIX = {"heading_1": "# ", "heading_2": "## ", "heading_3": "### ", "bulleted_list_item": "- ",
           "numbered_list_item": "1. ", "quote": "> ", "callout": "> ", "toggle": "- "}


def blocks_markdown(blocks: list[dict], children: Callable[[str], list[dict]], depth: int = 0) -> str:
    """A page's blocks as markdown (nested lists indented; unknown blocks skipped)."""
    lines: list[str] = []
    pad = "  " * depth
    for b in blocks:
        kind = b.get("type", "")
        body = b.get(kind) or {}
        text = plain_text(body.get("rich_text"))
        if kind == "to_do":
            lines.append(f"{pad}- [{'x' if body.get('checked') else ' '}] {text}")
        elif kind == "code":
            lines += [f"{pad}```{body.get('language') or ''}", *[pad + t for t in text.splitlines()], f"{pad}```"]
        elif kind == "divider":
            lines.append(f"{pad}---")
        elif kind in _PREFIX or kind == "paragraph":
            lines.append(pad + _PREFIX.get(kind, "") + text)
        if b.get("has_children") and kind not in ("child_page", "child_database"):
            nested = blocks_markdown(children(b["id"]), children, depth + 1)
            if nested:
                lines.append(nested)
    return "\n".join(lines)


# ---------------------------------------------------------------- the fetch

@dataclass
class Settings:
    token: str
    release_database: str
    intention_database: str
    base_url: str | None = None
    properties: dict[str, str | None] = field(default_factory=lambda: dict(DEFAULT_PROPERTIES))
    release_tag: str | None = None  # --release TAG; else the release whose status is current
    timeout_s: float = DEFAULT_TIMEOUT_S


def _client(s: Settings):
    try:
        from notion_client import Client
        from notion_client.client import RetryOptions
    except ImportError:  # the base install: the live API comes with the [agent] extra; a cache may stand in
        raise NotionError("the live Notion read needs the [agent] extra (pip install 'devops-agent[agent]'); "
                          "or bind a Notion export with notion.export_dir", False) from None

    quiet = logging.getLogger("devops_agent.notion")  # the client logs retries at WARNING on stderr
    if not quiet.handlers:
        quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    options: dict[str, Any] = {"auth": s.token, "notion_version": API_VERSION, "timeout_ms": int(s.timeout_s * 1000),
                               "retry": RetryOptions(max_retries=3, initial_retry_delay_ms=500,
                                                     max_retry_delay_ms=10_000), "logger": quiet}
    if s.base_url:
        options["base_url"] = s.base_url.rstrip("/").removesuffix("/v1")
    return Client(**options)


def _call(fn: Callable[..., Any], what: str, sleep: Callable[[float], None] = time.sleep, **kwargs: Any) -> Any:
    """One API call; 5xx, timeouts and connection errors retried with back-off; NotionError when it
    cannot be done."""
    import httpx
    from notion_client import APIResponseError
    from notion_client.errors import HTTPResponseError, RequestTimeoutError

    per_call, read_by = _BUDGET.get()
    last = ""
    for attempt in range(RETRIES + 1):
        left = read_by - time.monotonic()
        if left <= 0:
            raise NotionError(f"Notion's read did not finish within {READ_CALLS * per_call:g} s ({attempt} tries for "
                              f"{what}); {TIMEOUT_SETTING}", False)
        wait = min(per_call, left)
        try:
            return within(wait, fn, **kwargs)
        except Overdue as exc:  # silent or trickling: one more try (a one-off slow answer), then the cache
            last = f"no answer within {exc.seconds:g} s"
            if attempt >= 1:
                break
        except APIResponseError as exc:
            code = str(getattr(exc.code, "value", exc.code))
            if exc.status == 401:
                raise NotionError(f"Notion refused the token ({code}): check the integration token", True) from None
            if exc.status in (403, 404):
                raise NotionError(f"Notion: {what} not found or not shared with the integration ({code}); "
                                  "share it with the integration or fix its id in .devops-agent.yaml", True) from None
            if exc.status == 429:
                raise NotionError(f"Notion is rate limiting ({code}) after the client's retries", False) from None
            if exc.status < 500:
                raise NotionError(f"Notion rejected the request for {what} ({exc.status} {code}): {exc}", True) from None
            last = f"{exc.status} {code}"
        except HTTPResponseError as exc:  # a body that is not Notion's (a proxy's 502, say)
            if exc.status < 500 and exc.status != 429:
                raise NotionError(f"Notion answered {exc.status} for {what} with a body that is not Notion's", True) from None
            last = f"{exc.status}"
        except RequestTimeoutError:  # the client's own timeout beat the deadline: the same fact, said the same way
            last = f"no answer within {wait:g} s"
            if attempt >= 1:
                break
        except httpx.ConnectError as exc:  # offline, refused, no DNS: one more try, then the cache at once
            last = f"{type(exc).__name__}: {exc}"
            if attempt >= 1:
                break
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if attempt < RETRIES:
            sleep(min(0.5 * 2 ** attempt, 4.0))
    raise NotionError(f"Notion did not answer for {what} ({last}, {attempt + 1} tries); {TIMEOUT_SETTING}", False)


def _pages(client, data_source_id: str, what: str, **query: Any) -> list[dict]:
    out, cursor = [], None
    while True:
        args = {"data_source_id": data_source_id, "page_size": 100, **query}
        if cursor:
            args["start_cursor"] = cursor
        page = _call(client.data_sources.query, what, **args)
        out += [p for p in page.get("results", []) if p.get("object") == "page"
                and not p.get("archived") and not p.get("in_trash")]
        if not page.get("has_more") or not page.get("next_cursor"):
            return out
        cursor = page["next_cursor"]


def _children(client, block_id: str) -> list[dict]:
    out, cursor = [], None
    while True:
        args = {"block_id": block_id, "page_size": 100, **({"start_cursor": cursor} if cursor else {})}
        page = _call(client.blocks.children.list, f"the blocks of page {block_id}", **args)
        out += page.get("results", [])
        if not page.get("has_more") or not page.get("next_cursor"):
            return out
        cursor = page["next_cursor"]


def _data_source(client, database_id: str, what: str) -> str:
    db = _call(client.databases.retrieve, f"the {what} database {database_id}", database_id=database_id)
    sources = db.get("data_sources") or []
    if not sources:
        raise NotionError(f"Notion: the {what} database {database_id} has no data source", True)
    return sources[0]["id"]


def _user(client, user: dict | None, names: dict[str, str]) -> str | None:
    if not user or not user.get("id"):
        return None
    uid = user["id"]
    if user.get("name"):
        return user["name"]
    if uid not in names:
        try:
            names[uid] = _call(client.users.retrieve, f"user {uid}", user_id=uid).get("name") or uid
        except NotionError:  # a bot token may not read users: the id is still a name
            names[uid] = uid
    return names[uid]


def fetch(s: Settings) -> Fetched:
    """The current release (status `En cours`, or `release_tag`) and its intentions, read live."""
    p = {**DEFAULT_PROPERTIES, **s.properties}
    client = _client(s)
    budget = _BUDGET.set((s.timeout_s, time.monotonic() + READ_CALLS * s.timeout_s))
    try:
        releases = _pages(client, _data_source(client, s.release_database, "Release"), "the releases")
        tag = p["release_tag"] or "Tag"
        if s.release_tag:
            chosen = [r for r in releases if fold(property_text(_prop(r, tag))) == fold(s.release_tag)
                      or fold(_title_of(r, p["release_title"])) == fold(s.release_tag)]
            if not chosen:
                raise NotionError(f"Notion: no release tagged {s.release_tag!r} in the Release database", True)
        else:
            chosen = [r for r in releases if fold(property_text(_prop(r, p["release_status"] or "Statut")))
                      in CURRENT_STATUSES]
            if not chosen:
                raise NotionError("Notion: no release is 'En cours' in the Release database; "
                                  "pass --release TAG or set a release's status", True)
        rel = max(chosen, key=lambda r: r.get("last_edited_time") or "")
        names: dict[str, str] = {}
        release = {"id": rel["id"], "title": _title_of(rel, p["release_title"]), "tag": property_text(_prop(rel, tag))
                   or None, "status": property_text(_prop(rel, p["release_status"] or "Statut")),
                   "url": rel.get("url"), "last_edited": rel.get("last_edited_time")}
        relation = p["intention_release"] or "Release"
        ds = _data_source(client, s.intention_database, "Intention")
        pages = _pages(client, ds, "the intentions", filter={"property": relation, "relation": {"contains": rel["id"]}})
        intentions = []
        for page in sorted(pages, key=lambda x: x.get("created_time") or ""):
            validation = property_text(_prop(page, p["validation"] or "Validation"))
            item = {"id": _intention_id(page), "page_id": page["id"], "title": _title_of(page, p["intention_title"]),
                    **{k: property_text(_prop(page, p[k] or k)) for k in _FIELDS},
                    "validation": validation, "validated": fold(validation) in VALIDATED_STATUSES,
                    "url": page.get("url"), "last_edited": page.get("last_edited_time"),
                    "last_edited_by": _user(client, page.get("last_edited_by"), names),
                    "body": blocks_markdown(_children(client, page["id"]), lambda b: _children(client, b))}
            item["sha256"] = digest(item)
            intentions.append(item)
        return Fetched(_now(), release, intentions, endpoint=s.base_url)
    finally:
        _BUDGET.reset(budget)
        client.close()


def _intention_id(page: dict) -> str:
    """`INT-13`: the data source's unique-id property, else a text property named `ID`, else the page id
    (what `propose --intention` names)."""
    props = page.get("properties") or {}
    for prop in props.values():
        if prop.get("type") == "unique_id" and property_text(prop):
            return property_text(prop)
    named = _prop(page, "ID")
    return property_text(named) or page["id"]


# ---------------------------------------------------------------- the cache

def cache_path(state_dir: Path) -> Path:
    return state_dir / CACHE_FILE


def save_cache(state_dir: Path, fetched: Fetched, key: str) -> None:
    """Written whole then renamed; keyed by the databases and release asked for."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = cache_path(state_dir)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({**fetched.to_json(), "key": key}, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)


def load_cache(state_dir: Path, key: str) -> Fetched | None:
    """The last fetch for the same databases, or None (absent, unreadable, or for other databases)."""
    try:
        data = json.loads(cache_path(state_dir).read_text(encoding="utf-8"))
        if data.get("format") != CACHE_FORMAT or data.get("key") != key:
            return None
        return Fetched(str(data["fetched_at"]), dict(data["release"]), list(data["intentions"]), origin="cache",
                       endpoint=data.get("endpoint"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cache_key(s: Settings) -> str:
    return f"{s.release_database}|{s.intention_database}|{s.release_tag or ''}|{s.base_url or ''}"


def read(s: Settings, state_dir: Path) -> tuple[Fetched, str]:
    """Live, cached on success; the cache when Notion does not answer (message says so). NotionError
    when neither can be had."""
    key = cache_key(s)
    try:
        fetched = fetch(s)
    except NotionError as exc:
        cached = None if exc.reachable else load_cache(state_dir, key)  # a wrong token or id is not stale
        if cached is None:
            raise
        return cached, f"{exc.line}; using the cache fetched at {cached.fetched_at} (stale)"
    try:
        save_cache(state_dir, fetched, key)
    except OSError as exc:
        return fetched, f"read live; the cache could not be written ({exc.strerror})"
    return fetched, ""
