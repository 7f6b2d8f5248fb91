"""A local fake of the Notion API (version 2025-09-03) on 127.0.0.1, for the tests of sources/notion.py.

Those tests drive the official `notion_client.Client` against it (base_url=fake.url), so what is proven is
the real client's requests, retries and errors, not a mock's. It speaks the read subset the source needs:
GET /v1/databases/{id} (with `data_sources: [{id, name}]`), GET /v1/data_sources/{id} (the schema),
POST /v1/data_sources/{id}/query (filters, sorts, cursor pagination; archived pages left out),
GET /v1/pages/{id}, GET /v1/blocks/{id}/children (paginated, nested) and GET /v1/users/{id}; anything
else is 400 invalid_request_url. Bodies have the real shapes (rich text split in several text objects,
property values with id/type, Notion error objects), Authorization and Notion-Version are checked, and
`fail`/`slow` inject statuses (with Retry-After) and delays. Every request is recorded in `requests`.
Filters: select/status/title/rich_text equals, does_not_equal, contains, does_not_contain, starts_with,
is_empty, is_not_empty; relation/people contains, does_not_contain, is_empty, is_not_empty; date and
{"timestamp": "last_edited_time"|"created_time"} equals, before, after, on_or_before, on_or_after,
is_empty, is_not_empty; compound and/or (nested).
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

COLORS = ["default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red"]
CODES = {400: "validation_error", 401: "unauthorized", 403: "restricted_resource", 404: "object_not_found",
         409: "conflict_error", 429: "rate_limited", 500: "internal_server_error", 502: "bad_gateway",
         503: "service_unavailable", 504: "gateway_timeout"}
CREATED = "2026-11-01T09:00:00.000Z"
SHARE = "Make sure the relevant pages and databases are shared with your integration."


class NotionError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _key(object_id: str) -> str:
    """Notion accepts ids with or without dashes, in any case."""
    return object_id.replace("-", "").lower()


def _short_id(*parts: str) -> str:
    return hashlib.md5("/".join(parts).encode()).hexdigest()[:4]


def rich_text(text: str, chunk: int = 50) -> list[dict]:
    """A rich text array, split every `chunk` characters as real pages often are: join `plain_text`."""
    pieces = [text[i:i + chunk] for i in range(0, len(text), chunk)]
    return [{"type": "text", "text": {"content": p, "link": None}, "plain_text": p, "href": None,
             "annotations": {"bold": False, "italic": False, "strikethrough": False, "underline": False,
                             "code": False, "color": "default"}} for p in pieces]


def _plain(value: list[dict]) -> str:
    return "".join(t["plain_text"] for t in value)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client that timed out went away
        pass


class FakeNotion:
    """A ThreadingHTTPServer on 127.0.0.1:0 in a daemon thread; a context manager."""

    def __init__(self, token: str = "secret_fake_token", page_size_cap: int = 100) -> None:
        self.token, self.page_size_cap = token, page_size_cap
        self.requests: list[dict] = []
        self.databases: dict[str, dict] = {}
        self.data_sources: dict[str, dict] = {}
        self.pages: dict[str, dict] = {}  # key -> page object, in insertion order
        self.users: dict[str, dict] = {}
        self.blocks: dict[str, dict] = {}
        self.children: dict[str, list[dict]] = {}
        self._faults: list[dict] = []
        self._delays: list[dict] = []
        self._lock = threading.RLock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def __enter__(self) -> FakeNotion:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- content -------------------------------------------------------------------------------------------
    def add_database(self, database_id: str, title: str, data_source_id: str, properties: dict[str, str]) -> None:
        """A database with one data source (call again with another data_source_id for a multi-source one)."""
        with self._lock:
            db = self.databases.setdefault(_key(database_id), {
                "object": "database", "id": database_id, "title": rich_text(title), "description": [],
                "parent": {"type": "workspace", "workspace": True}, "is_inline": False, "in_trash": False,
                "is_locked": False, "created_time": CREATED, "last_edited_time": CREATED, "icon": None,
                "cover": None, "url": f"https://www.notion.so/{_key(database_id)}", "public_url": None,
                "data_sources": []})
            db["data_sources"].append({"id": data_source_id, "name": title})
            schema = {name: {"id": "title" if kind == "title" else _short_id(data_source_id, name), "name": name,
                             "type": kind, kind: {"options": []} if kind in ("select", "status") else {}}
                      for name, kind in properties.items()}
            self.data_sources[_key(data_source_id)] = {
                "object": "data_source", "id": data_source_id, "title": rich_text(title), "description": [],
                "parent": {"type": "database_id", "database_id": database_id},
                "database_parent": {"type": "workspace", "workspace": True}, "properties": schema,
                "archived": False, "in_trash": False, "is_inline": False, "created_time": CREATED,
                "last_edited_time": CREATED, "url": f"https://www.notion.so/{_key(data_source_id)}"}

    def add_user(self, user_id: str, name: str) -> None:
        with self._lock:
            self.users[_key(user_id)] = {"object": "user", "id": user_id, "name": name, "avatar_url": None,
                                         "type": "person", "person": {"email": f"{user_id}@example.com"}}

    def _user(self, user_id: str) -> dict:
        return dict(self.users.get(_key(user_id)) or {"object": "user", "id": user_id})

    def add_page(self, data_source_id: str, page_id: str, props: dict[str, Any], *,
                 last_edited_time: str = "2026-11-30T10:00:00.000Z", last_edited_by: str = "user-product",
                 url: str | None = None, archived: bool = False) -> dict:
        """A page of the data source; `props` are plain values converted by the schema's types."""
        with self._lock:
            ds = self.data_sources[_key(data_source_id)]
            unknown = set(props) - set(ds["properties"])
            if unknown:
                raise KeyError(f"not in the schema of {data_source_id}: {sorted(unknown)}")
            properties = {name: self._value(ds, name, props.get(name), last_edited_by) for name in ds["properties"]}
            page = {"object": "page", "id": page_id, "created_time": CREATED, "last_edited_time": last_edited_time,
                    "created_by": {"object": "user", "id": last_edited_by},
                    "last_edited_by": {"object": "user", "id": last_edited_by}, "cover": None, "icon": None,
                    "parent": {"type": "data_source_id", "data_source_id": data_source_id,
                               "database_id": ds["parent"]["database_id"]},
                    "archived": archived, "in_trash": archived, "is_locked": False, "properties": properties,
                    "url": url or f"https://www.notion.so/{_key(page_id)}", "public_url": None}
            self.pages[_key(page_id)] = page
            return page

    def _value(self, ds: dict, name: str, value: Any, editor: str) -> dict:
        prop = ds["properties"][name]
        kind = prop["type"]
        if kind in ("title", "rich_text"):
            out: Any = rich_text(value or "")
        elif kind in ("select", "status"):
            out = None
            if value is not None:
                out = {"id": _short_id(ds["id"], name, value), "name": value,
                       "color": COLORS[int(_short_id(value), 16) % len(COLORS)]}
                if out not in prop[kind]["options"]:
                    prop[kind]["options"].append(out)
        elif kind == "relation":
            out = [{"id": i} for i in value or []]
        elif kind == "people":
            out = [self._user(i) for i in value or []]
        elif kind == "date":
            out = {"start": value, "end": None, "time_zone": None} if value else None
        elif kind == "last_edited_by":
            out = self._user(value or editor)
        else:
            raise ValueError(f"property type {kind!r} is not spoken by the fake")
        return {"id": prop["id"], "type": kind, kind: out, **({"has_more": False} if kind == "relation" else {})}

    def set_blocks(self, block_id: str, blocks: list[dict]) -> None:
        """The children of a page or block, from short dicts ({"type", "text", "checked", "language", "children"})."""
        with self._lock:
            parent = ({"type": "page_id", "page_id": block_id} if _key(block_id) in self.pages
                      else {"type": "block_id", "block_id": block_id})
            expanded = []
            for short in blocks:
                kind, new_id = short["type"], str(uuid.uuid4())
                content: dict = {} if kind == "divider" else {"rich_text": rich_text(short.get("text", "")),
                                                              "color": "default"}
                if kind == "to_do":
                    content["checked"] = bool(short.get("checked"))
                if kind == "code":
                    content = {"caption": [], "rich_text": content["rich_text"],
                               "language": short.get("language", "plain text")}
                if kind.startswith("heading_"):
                    content["is_toggleable"] = False
                block = {"object": "block", "id": new_id, "parent": parent, "created_time": CREATED,
                         "last_edited_time": CREATED, "created_by": {"object": "user", "id": "user-product"},
                         "last_edited_by": {"object": "user", "id": "user-product"},
                         "has_children": bool(short.get("children")), "archived": False, "in_trash": False,
                         "type": kind, kind: content}
                self.blocks[_key(new_id)] = block
                expanded.append(block)
                self.set_blocks(new_id, short.get("children") or [])
            self.children[_key(block_id)] = expanded

    # -- faults and inspection -----------------------------------------------------------------------------
    def fail(self, path_pattern: str, status: int, times: int = 1, retry_after: float | None = None,
             body: dict | None = None, method: str | None = None) -> None:
        """The next `times` requests whose path matches get `status` (a Notion error unless `body`).
        Retry-After is sent as whole seconds when it is whole: the client parses only integer seconds."""
        with self._lock:
            self._faults.append({"pattern": path_pattern, "status": status, "times": times, "method": method,
                                 "retry_after": retry_after, "body": body})

    def slow(self, path_pattern: str, seconds: float, times: int = 1) -> None:
        with self._lock:
            self._delays.append({"pattern": path_pattern, "seconds": seconds, "times": times, "method": None})

    def count(self, path_pattern: str, method: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if re.search(path_pattern, r["path"])
                       and (method is None or r["method"] == method.upper()))

    def _take(self, rules: list[dict], method: str, path: str) -> dict | None:
        with self._lock:
            for rule in rules:
                if rule["times"] > 0 and re.search(rule["pattern"], path) and rule["method"] in (None, method):
                    rule["times"] -= 1
                    return rule
        return None

    # -- the API -------------------------------------------------------------------------------------------
    def _get(self, table: dict, object_id: str, what: str) -> dict:
        found = table.get(_key(object_id))
        if found is None:
            raise NotionError(404, "object_not_found", f"Could not find {what} with ID: {object_id}. {SHARE}")
        return found

    def route(self, method: str, path: str, query: dict, body: dict | None) -> dict:
        with self._lock:
            parts, m = path.strip("/").split("/"), method
            if parts[0] != "v1":
                raise NotionError(400, "invalid_request_url", "Invalid request URL.")
            match parts[1:]:
                case ["databases", i] if m == "GET":
                    return self._get(self.databases, i, "database")
                case ["data_sources", i] if m == "GET":
                    return self._get(self.data_sources, i, "data source")
                case ["data_sources", i, "query"] if m == "POST":
                    return self._query(self._get(self.data_sources, i, "data source"), body or {})
                case ["pages", i] if m == "GET":
                    return self._get(self.pages, i, "page")
                case ["users", i] if m == "GET":
                    return self._get(self.users, i, "user")
                case ["blocks", i, "children"] if m == "GET":
                    if _key(i) not in self.pages and _key(i) not in self.blocks:
                        raise NotionError(404, "object_not_found", f"Could not find block with ID: {i}. {SHARE}")
                    return self._paginate(self.children.get(_key(i), []), query, "block")
            raise NotionError(400, "invalid_request_url", "Invalid request URL.")

    def _paginate(self, items: list[dict], args: dict, kind: str) -> dict:
        size = args.get("page_size", 100)
        if not str(size).isdigit() or not 1 <= int(size) <= 100:
            raise NotionError(400, "validation_error",
                              f"body failed validation: body.page_size should be ≤ `100`, instead was `{size}`.")
        size, start = min(int(size), self.page_size_cap), 0
        if args.get("start_cursor"):
            ids = [_key(item["id"]) for item in items]
            if _key(args["start_cursor"]) not in ids:
                raise NotionError(400, "validation_error", f"start_cursor provided is invalid: {args['start_cursor']}")
            start = ids.index(_key(args["start_cursor"]))
        chunk, rest = items[start:start + size], items[start + size:]
        return {"object": "list", "results": chunk, "next_cursor": rest[0]["id"] if rest else None,
                "has_more": bool(rest), "type": kind, kind: {}, "request_id": str(uuid.uuid4())}

    def _query(self, ds: dict, body: dict) -> dict:
        pages = [p for p in self.pages.values()
                 if _key(p["parent"]["data_source_id"]) == _key(ds["id"]) and not p["in_trash"]]
        if body.get("filter"):
            pages = [p for p in pages if self._match(ds, body["filter"], p)]
        for sort in reversed(body.get("sorts") or []):
            pages.sort(key=lambda p: self._sort_key(ds, sort, p), reverse=sort.get("direction") == "descending")
        return self._paginate(pages, body, "page_or_data_source")

    def _sort_key(self, ds: dict, sort: dict, page: dict) -> str:
        if "timestamp" in sort:
            return page[sort["timestamp"]]
        self._prop(ds, sort["property"])
        value = page["properties"][sort["property"]]
        return self._comparable(value["type"], value[value["type"]]) or ""

    def _prop(self, ds: dict, name: str) -> dict:
        for prop in ds["properties"].values():
            if name in (prop["name"], prop["id"]):
                return prop
        raise NotionError(400, "validation_error", f"Could not find property with name or id: {name}")

    @staticmethod
    def _comparable(kind: str, value: Any) -> Any:
        if kind in ("title", "rich_text"):
            return _plain(value)
        if kind in ("select", "status"):
            return value and value["name"]
        if kind == "date":
            return value and value["start"]
        return value

    def _match(self, ds: dict, flt: dict, page: dict) -> bool:
        if "and" in flt:
            return all(self._match(ds, f, page) for f in flt["and"])
        if "or" in flt:
            return any(self._match(ds, f, page) for f in flt["or"])
        actual: Any
        if "timestamp" in flt:
            kind, actual = "date", page[flt["timestamp"]]
            (op, want), = flt[flt["timestamp"]].items()
        else:
            prop = self._prop(ds, flt.get("property", ""))
            kind = next((k for k in flt if k != "property"), "")
            if kind != prop["type"] and not (kind == "rich_text" and prop["type"] == "title"):
                raise NotionError(400, "validation_error", f"body failed validation: filter for property "
                                  f"{prop['name']} of type {prop['type']} cannot use {kind}.")
            (op, want), = flt[kind].items()
            value = page["properties"][prop["name"]]
            actual = self._comparable(prop["type"], value[prop["type"]])
        if op == "is_empty":
            return not actual
        if op == "is_not_empty":
            return bool(actual)
        if kind in ("relation", "people"):
            ids = {_key(v["id"]) for v in actual}
            return (_key(want) in ids) == (op == "contains")
        ops = {"equals": lambda a, w: a == w, "does_not_equal": lambda a, w: a != w,
               "contains": lambda a, w: w.lower() in (a or "").lower(),
               "does_not_contain": lambda a, w: w.lower() not in (a or "").lower(),
               "starts_with": lambda a, w: (a or "").lower().startswith(w.lower()),
               "before": lambda a, w: bool(a) and a < w, "after": lambda a, w: bool(a) and a > w,
               "on_or_before": lambda a, w: bool(a) and a[:len(w)] <= w,
               "on_or_after": lambda a, w: bool(a) and a[:len(w)] >= w}
        if op not in ops:
            raise NotionError(400, "validation_error", f"body failed validation: unsupported condition {op}.")
        if kind == "date" and op in ("equals", "after", "before"):
            actual = actual and actual[:len(want)]
        return ops[op](actual, want)


def _handler(fake: FakeNotion) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave in two writes: no 40 ms delayed-ACK stall

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _serve(self) -> None:
            split = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            record: dict[str, Any] = {"method": self.command, "path": split.path, "query": dict(parse_qsl(split.query)),
                      "headers": headers, "body": None, "status": 0}
            with fake._lock:
                fake.requests.append(record)
            delay = fake._take(fake._delays, self.command, split.path)
            if delay:
                time.sleep(delay["seconds"])
            extra: dict[str, str] = {}
            try:
                try:
                    record["body"] = json.loads(raw) if raw else None
                except ValueError:
                    raise NotionError(400, "invalid_json", "Error parsing JSON body.")
                fault = fake._take(fake._faults, self.command, split.path)
                if fault:
                    if fault["retry_after"] is not None:
                        extra["Retry-After"] = f"{fault['retry_after']:g}"
                    if fault["body"] is not None:
                        return self._send(fault["status"], fault["body"], record, extra)
                    raise NotionError(fault["status"], CODES.get(fault["status"], "internal_server_error"),
                                      f"Injected {fault['status']} by the fake.")
                if headers.get("authorization") != f"Bearer {fake.token}":
                    raise NotionError(401, "unauthorized", "API token is invalid.")
                if not headers.get("notion-version"):
                    raise NotionError(400, "missing_version", "Notion-Version header failed validation: "
                                      "Notion-Version header should be defined, instead was `undefined`.")
                self._send(200, fake.route(self.command, split.path, record["query"], record["body"]), record)
            except NotionError as e:
                self._send(e.status, {"object": "error", "status": e.status, "code": e.code, "message": e.message,
                                      "request_id": str(uuid.uuid4())}, record, extra)

        def _send(self, status: int, payload: dict, record: dict, extra: dict | None = None) -> None:
            data = json.dumps(payload).encode()
            record["status"] = status
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    return Handler
