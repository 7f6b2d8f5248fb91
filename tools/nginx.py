"""NGINX configs read with crossplane: servers, listens, locations, upstreams, certificates, restrictions.

Never raises on bad input: syntax errors and absent includes land in `NginxConfig.errors` /
`.missing_includes`, each with (path, line).
"""
from __future__ import annotations

import glob
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import crossplane

_SCHEME_PORTS = {"http": 80, "https": 443, "grpc": 80, "grpcs": 443, "uwsgi": None, "fastcgi": None}
_PASS_DIRECTIVES = ("proxy_pass", "grpc_pass", "uwsgi_pass", "fastcgi_pass")


@dataclass(frozen=True)
class Where:
    path: str
    line: int | None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass
class Listen:
    port: int | None  # None for a unix socket
    address: str | None  # host part when given: 127.0.0.1, [::]
    ssl: bool
    http2: bool
    default_server: bool
    raw: list[str]
    where: Where


@dataclass
class UpstreamServer:
    host: str
    port: int | None
    options: list[str]
    where: Where


@dataclass
class Upstream:
    name: str
    servers: list[UpstreamServer]
    where: Where


@dataclass
class ProxyTarget:
    """A resolved *_pass: where a location sends traffic."""

    directive: str  # proxy_pass, grpc_pass…
    raw: str
    scheme: str | None
    host: str | None
    port: int | None
    uri: str | None  # the part after host[:port], '' when absent
    upstream: Upstream | None  # when host names an upstream {} block
    unresolvable: str | None  # why host/port cannot be known statically (a variable, a unix socket)
    where: Where

    def endpoints(self) -> list[tuple[str, int | None]]:
        """(host, port) pairs traffic may reach: the upstream's servers, or the host itself."""
        if self.upstream is not None:
            return [(s.host, s.port) for s in self.upstream.servers]
        return [(self.host, self.port)] if self.host and not self.unresolvable else []


@dataclass
class Restriction:
    allow: list[str]
    deny: list[str]
    auth_basic: str | None  # realm, or None / 'off'
    auth_basic_user_file: str | None
    where: Where

    @property
    def restricted(self) -> bool:
        return bool(self.deny) or (self.auth_basic not in (None, "off"))


@dataclass
class Location:
    modifier: str | None  # =, ~, ~*, ^~, or None for a prefix
    path: str
    where: Where
    proxy: list[ProxyTarget] = field(default_factory=list)
    root: str | None = None
    alias: str | None = None
    restriction: Restriction | None = None
    return_: list[str] | None = None
    locations: list[Location] = field(default_factory=list)  # nested


@dataclass
class Certificate:
    directive: str  # ssl_certificate | ssl_certificate_key | ssl_trusted_certificate
    path: str
    where: Where


@dataclass
class Server:
    where: Where
    listens: list[Listen] = field(default_factory=list)
    server_names: list[str] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)
    root: str | None = None
    restriction: Restriction | None = None
    http2: bool = False  # `http2 on;` (nginx >= 1.25.1) or any listen … http2

    @property
    def ports(self) -> list[int]:
        return sorted({l.port for l in self.listens if l.port is not None})

    @property
    def ssl(self) -> bool:
        return any(l.ssl for l in self.listens)

    def all_locations(self) -> list[Location]:
        out: list[Location] = []
        stack = list(self.locations)
        while stack:
            loc = stack.pop(0)
            out.append(loc)
            stack[0:0] = loc.locations
        return out


@dataclass
class ConfigProblem:
    message: str
    where: Where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class MissingInclude:
    target: str  # as written in the include directive
    resolved: str  # where it was looked for
    where: Where


@dataclass
class NginxConfig:
    path: str
    files: list[str] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)
    upstreams: dict[str, Upstream] = field(default_factory=dict)
    errors: list[ConfigProblem] = field(default_factory=list)
    missing_includes: list[MissingInclude] = field(default_factory=list)
    roots: list[tuple[str, Where]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def listen_ports(self) -> list[int]:
        return sorted({p for s in self.servers for p in s.ports})

    def proxy_targets(self) -> list[ProxyTarget]:
        return [t for s in self.servers for loc in s.all_locations() for t in loc.proxy]

    def certificates(self) -> list[Certificate]:
        return [c for s in self.servers for c in s.certificates]

    def restricted_locations(self) -> list[tuple[Server, Location]]:
        return [(s, loc) for s in self.servers for loc in s.all_locations()
                if loc.restriction and loc.restriction.restricted]

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------- parsing

def parse_nginx(path: Path | str) -> NginxConfig:
    """Parse `path` and its includes (relative includes resolve against the main file's folder)."""
    path = Path(path).resolve()
    config = NginxConfig(str(path))
    if not path.is_file():
        config.errors.append(ConfigProblem("config file not found", Where(str(path), None)))
        return config
    try:
        payload = crossplane.parse(str(path), catch_errors=True, comments=False, combine=False,
                                   check_ctx=True, check_args=True)
    except Exception as exc:  # crossplane raises on undecodable files and other I/O surprises
        config.errors.append(ConfigProblem(f"cannot parse: {exc}", Where(str(path), None)))
        return config
    files = payload.get("config", [])
    config.files = [f["file"] for f in files]
    includes_at: set[tuple[str, int]] = set()
    for f in files:
        _collect_includes(f["file"], f.get("parsed", []), path.parent, config, includes_at)
    for f in files:
        for err in f.get("errors", []):
            where = Where(f["file"], err.get("line"))
            message = _clean_error(err.get("error", ""), f["file"])
            if (f["file"], err.get("line")) in includes_at and "No such file" in message:
                continue  # reported once, as a missing include
            config.errors.append(ConfigProblem(message, where))
    if not files:
        return config
    # Walk from the main file, following includes by index, so each directive keeps its own file.
    _walk(files, 0, files[0].get("parsed", []), config, context=[], server=None, location=None)
    for server in config.servers:
        for loc in server.all_locations():
            for target in loc.proxy:
                _link_upstream(target, config.upstreams)
    return config


def _clean_error(message: str, file: str) -> str:
    # crossplane appends " in FILE:LINE"; the location is carried separately.
    return re.sub(rf"\s+in {re.escape(file)}:\d+$", "", message)


def _collect_includes(file: str, parsed: list, base: Path, config: NginxConfig, seen: set) -> None:
    for d in parsed:
        if d["directive"] == "include" and d.get("args"):
            target = d["args"][0]
            if not d.get("includes") and not glob.has_magic(target):
                resolved = target if Path(target).is_absolute() else str(base / target)
                config.missing_includes.append(MissingInclude(target, resolved, Where(file, d.get("line"))))
                seen.add((file, d.get("line")))
        if "block" in d:
            _collect_includes(file, d["block"], base, config, seen)


def _walk(files: list, file_index: int, block: list, config: NginxConfig, context: list[str],
          server: Server | None, location: Location | None) -> None:
    file = files[file_index]["file"]
    for d in block:
        name, args, where = d["directive"], d.get("args", []), Where(file, d.get("line"))
        if name == "include":
            for idx in d.get("includes", []):
                if 0 <= idx < len(files):
                    _walk(files, idx, files[idx].get("parsed", []), config, context, server, location)
            continue
        if name == "server" and context and context[-1] == "http":
            new_server = Server(where)
            config.servers.append(new_server)
            _walk(files, file_index, d.get("block", []), config, [*context, "server"], new_server, None)
            _finish_restriction_scope(new_server, None, d.get("block", []), where)
            continue
        if name == "upstream" and args:
            config.upstreams[args[0]] = Upstream(args[0], _upstream_servers(file, d.get("block", [])), where)
            continue
        if name == "location" and server is not None:
            modifier, loc_path = (args[0], args[1]) if len(args) >= 2 else (None, args[0] if args else "")
            loc = Location(modifier, loc_path, where)
            (location.locations if location else server.locations).append(loc)
            _walk(files, file_index, d.get("block", []), config, [*context, "location"], server, loc)
            _finish_restriction_scope(server, loc, d.get("block", []), where)
            continue
        if "block" in d:
            _walk(files, file_index, d["block"], config, [*context, name], server, location)
            continue
        if server is None:
            continue
        if name == "listen" and args:
            server.listens.append(_listen(args, where))
            server.http2 = server.http2 or "http2" in args
        elif name == "http2" and args[:1] == ["on"]:
            server.http2 = True
        elif name == "server_name":
            server.server_names.extend(args)
        elif name in ("ssl_certificate", "ssl_certificate_key", "ssl_trusted_certificate", "ssl_client_certificate") and args:
            server.certificates.append(Certificate(name, args[0], where))
        elif name == "root" and args:
            config.roots.append((args[0], where))
            if location is not None:
                location.root = args[0]
            else:
                server.root = args[0]
        elif name == "alias" and args and location is not None:
            location.alias = args[0]
            config.roots.append((args[0], where))
        elif name in _PASS_DIRECTIVES and args and location is not None:
            location.proxy.append(_proxy_target(name, args[0], where))
        elif name == "return" and location is not None:
            location.return_ = list(args)


def _finish_restriction_scope(server: Server, location: Location | None, block: list, where: Where) -> None:
    allow = [a for d in block if d["directive"] == "allow" for a in d.get("args", [])]
    deny = [a for d in block if d["directive"] == "deny" for a in d.get("args", [])]
    realm = next((d["args"][0] for d in block if d["directive"] == "auth_basic" and d.get("args")), None)
    users = next((d["args"][0] for d in block if d["directive"] == "auth_basic_user_file" and d.get("args")), None)
    if not (allow or deny or realm or users):
        return
    lines = [d.get("line") for d in block if d["directive"] in ("allow", "deny", "auth_basic")]
    restriction = Restriction(allow, deny, realm, users, Where(where.path, min(l for l in lines if l) if any(lines) else where.line))
    if location is not None:
        location.restriction = restriction
    else:
        server.restriction = restriction


def _listen(args: list[str], where: Where) -> Listen:
    first = args[0]
    port: int | None = None
    address: str | None = None
    if first.startswith("unix:"):
        address = first
    elif first.isdigit():
        port = int(first)
    else:
        m = re.fullmatch(r"(\[[^\]]*\]|[^:]+)(?::(\d+))?", first)
        if m:
            address = m.group(1)
            port = int(m.group(2)) if m.group(2) else (None if not m.group(1) else 80)
            if m.group(2) is None and m.group(1).isdigit():
                port, address = int(m.group(1)), None
    return Listen(port, address, "ssl" in args, "http2" in args, "default_server" in args or "default" in args,
                  list(args), where)


def _split_host_port(hostport: str) -> tuple[str, int | None]:
    m = re.fullmatch(r"(\[[^\]]*\]|[^:]*)(?::(\d+))?", hostport)
    if not m:
        return hostport, None
    return m.group(1), int(m.group(2)) if m.group(2) else None


def _upstream_servers(file: str, block: list) -> list[UpstreamServer]:
    out = []
    for d in block:
        if d["directive"] == "server" and d.get("args"):
            target = d["args"][0]
            if target.startswith("unix:"):
                host, port = target, None
            else:
                host, port = _split_host_port(target)
                port = port or 80  # an upstream server without a port means 80
            out.append(UpstreamServer(host, port, d["args"][1:], Where(file, d.get("line"))))
    return out


def _proxy_target(directive: str, raw: str, where: Where) -> ProxyTarget:
    if raw.startswith("unix:"):
        return ProxyTarget(directive, raw, None, None, None, None, None, "unix socket", where)
    has_scheme = "://" in raw
    scheme = raw.split("://", 1)[0].lower() if has_scheme else None
    rest = raw.split("://", 1)[1] if has_scheme else raw
    hostport, slash, uri = rest.partition("/")
    uri = slash + uri if slash else ""
    if "$" in hostport or (scheme and "$" in scheme):
        return ProxyTarget(directive, raw, scheme, None, None, uri, None,
                           f"variable in the target host ({hostport}): resolved at request time", where)
    host, port = _split_host_port(hostport)
    if port is None and scheme in _SCHEME_PORTS:
        port = _SCHEME_PORTS[scheme]
    if directive == "fastcgi_pass" or directive == "uwsgi_pass":
        scheme = scheme or directive.split("_")[0]
    return ProxyTarget(directive, raw, scheme, host, port, uri, None, None, where)


def _link_upstream(target: ProxyTarget, upstreams: dict[str, Upstream]) -> None:
    if target.host and target.host in upstreams:
        target.upstream = upstreams[target.host]
        explicit = bool(re.search(rf"{re.escape(target.host)}:\d+", target.raw))
        if not explicit:
            target.port = None  # the upstream's servers carry the ports
