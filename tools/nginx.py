"""NGINX configs read with crossplane: servers, listens, locations, upstreams, certificates, restrictions.

Never raises on bad input: syntax errors and absent includes land in `NginxConfig.errors` /
`.missing_includes`, each with (path, line).
"""
from __future__ import annotations

import fnmatch
import glob
import io
import os
import posixpath
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from crossplane.analyzer import analyze, enter_block_ctx
from crossplane.errors import NgxParserBaseException, NgxParserDirectiveError, NgxParserSyntaxError
# crossplane lexes only named files; its file-object lexer lets us parse the loaded source's text itself.
from crossplane.lexer import _balance_braces, _lex_file_object
from crossplane.parser import _prepare_if_args

from agent.core.config import DEFAULT_MAX_FILE_BYTES
from sources.files import SourceReadError, confine, read_source_file
from sources.provenance import LoadedSource

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
    kind: str = "syntax"  # syntax | directive | context (not allowed here) | cycle | unreadable | limit

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class MissingInclude:
    target: str  # as written in the include directive
    resolved: str  # where it was looked for
    where: Where
    reason: str = "not found"  # why it was not read: absent, over the size cap, outside the repo, cannot tell


@dataclass
class NginxConfig:
    path: str
    context: str = "main"  # where the file is used: main (nginx.conf), http (conf.d/, templates/), unknown
    parsed_as: str = "main"  # the context it was parsed in (unknown: the likeliest one)
    placed_at: str | None = None  # the container path, when known
    chars_read: int = 0  # text read so far, includes together (bounded by MAX_TOTAL_CHARS)
    files: list[str] = field(default_factory=list)
    servers: list[Server] = field(default_factory=list)
    upstreams: dict[str, Upstream] = field(default_factory=dict)
    errors: list[ConfigProblem] = field(default_factory=list)
    missing_includes: list[MissingInclude] = field(default_factory=list)
    roots: list[tuple[str, Where]] = field(default_factory=list)
    # `{{BASE_PATH}}`, `{{ .Domain }}`: a template an entrypoint or a generator renders (nginx has no `{{`)
    placeholders: list[str] = field(default_factory=list)

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

CONTEXTS = ("main", "http", "unknown")
_START = {"main": (), "http": ("http",)}
MAX_FILES = 256  # includes followed per config; a glob over a huge folder stops there
MAX_TOTAL_CHARS = 16 * 1024 * 1024  # text read per config, includes together
MAX_DEPTH = 64  # nested blocks; deeper is refused rather than recursed into

# (text, None) for a readable file, (None, why) when it cannot be read (absent, over the cap, refused).
FileReader = Callable[[str], "tuple[str | None, str | None]"]
# An include's target as written, and the file it sits in -> [(file, text or None, why)], or a reason
# when the target cannot be known from the repo ("cannot tell"), or [] for a glob that matches nothing.
IncludeResolver = Callable[[str, str], "list[tuple[str, str | None, str | None]] | str"]


_PLACEHOLDER = re.compile(r"\{\{-?[ \t]*\.?[A-Za-z_][\w.]*[ \t]*-?\}\}|\{%-?[ \t]*[a-z]+\b")


def template_placeholders(text: str) -> list[str]:
    """The template placeholders of an nginx file (`{{BASE_PATH}}`, `{{ .Host }}`, a Jinja `{% if`), in order: nginx
    itself has no `{{`, so such a file is rendered before nginx reads it (an entrypoint's sed, a generator)."""
    return list(dict.fromkeys(m.group(0) for m in _PLACEHOLDER.finditer(text)))[:5]


def guess_context(text: str) -> str:
    """The context a file of unknown placement most likely has: main when it has top-level events/http."""
    return "main" if re.search(r"^[ \t]*(events|http)\s*\{", text, re.M) else "http"


def parse_nginx(path: Path | str, context: str = "main", max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> NginxConfig:
    """Parse the file at `path` (size-capped) and its includes, relative ones against its folder."""
    path = Path(path).resolve()
    text, why = read_capped(path, max_bytes)
    if text is None:
        config = NginxConfig(str(path), context=context)
        config.errors.append(ConfigProblem(why or "config file not found", Where(str(path), None), "unreadable"))
        return config

    def resolve(target: str, _from: str) -> list[tuple[str, str | None, str | None]] | str:
        full = target if Path(target).is_absolute() else str(path.parent / target)
        names = sorted(glob.glob(full))[:MAX_FILES + 1] if glob.has_magic(full) else [full]
        return [(n, *read_capped(Path(n), max_bytes)) for n in names]

    return parse_nginx_text(text, str(path), context, resolve)


def read_capped(path: Path, max_bytes: int) -> tuple[str | None, str | None]:
    """A file's text through the sources' reader (size cap, UTF-8), or (None, why)."""
    try:
        return read_source_file(path, max_bytes).text, None
    except SourceReadError as exc:
        return None, exc.message


def parse_nginx_text(text: str, path: str, context: str = "main",
                     resolve: IncludeResolver | None = None) -> NginxConfig:
    """Parse one nginx file's text as what it is where it is used: the main config (`main`), a file included
    inside `http {}` (`http`: conf.d/, templates/), or `unknown` (parsed leniently in its likeliest context).
    Includes come through `resolve`; without it, includes are not followed."""
    if context not in CONTEXTS:
        raise ValueError(f"unknown nginx context {context!r}")
    effective = guess_context(text) if context == "unknown" else context
    config = NginxConfig(path, context=context, parsed_as=effective, placeholders=template_placeholders(text))
    files: list[dict] = []
    index: dict[str, int] = {}
    queue: list[tuple[str, str | None, str | None, tuple]] = [(path, text, None, _START[effective])]
    index[path] = 0
    while queue:
        fname, ftext, why, ctx = queue.pop(0)
        parsing: dict = {"file": fname, "errors": [], "parsed": []}
        files.append(parsing)
        if ftext is None:
            parsing["errors"].append({"error": why or "cannot read", "line": None, "kind": "unreadable"})
            continue
        try:
            tokens = _balance_braces(_lex_file_object(io.StringIO(ftext)), fname)
            parsing["parsed"] = _parse(parsing, tokens, ctx, 0, resolve, index, queue, config)
        except NgxParserBaseException as exc:
            parsing["errors"].append({"error": exc.strerror, "line": exc.lineno, "kind": "syntax"})
        except (StopIteration, RuntimeError, ValueError) as exc:  # the lexer on a truncated quote, and the like
            said = "unexpected end of file: a directive without its \";\" or a block without its \"}\"" \
                if isinstance(exc, StopIteration) else (str(exc) or type(exc).__name__)
            parsing["errors"].append({"error": f"cannot parse: {said}", "line": None, "kind": "syntax"})
    config.files = [f["file"] for f in files]
    for f in files:
        for err in f["errors"]:
            if context == "unknown" and err["kind"] == "context":
                continue  # a snippet of unknown placement (locations for some server{}): where it goes is not known

            config.errors.append(ConfigProblem(_clean_error(err["error"], f["file"]), Where(f["file"], err["line"]),
                                               err["kind"]))
    _walk(files, 0, files[0]["parsed"], config, context=list(_START[effective]), server=None, location=None,
          stack=(0,))
    for server in config.servers:
        for loc in server.all_locations():
            for target in loc.proxy:
                _link_upstream(target, config.upstreams)
    return config


def _parse(parsing: dict, tokens: Iterator, ctx: tuple, depth: int, resolve: IncludeResolver | None,
           index: dict[str, int], queue: list, config: NginxConfig, consume: bool = False) -> list:
    """crossplane's own block parser (parser.parse._parse), from text, in a given context, with includes
    resolved by the caller and bounded depth."""
    fname = parsing["file"]
    parsed: list = []
    for token, lineno, quoted in tokens:
        if token == "}" and not quoted:
            break
        if depth >= MAX_DEPTH:
            raise NgxParserSyntaxError(f"blocks nested deeper than {MAX_DEPTH}", fname, lineno)
        if consume:
            if token == "{" and not quoted:
                _parse(parsing, tokens, ctx, depth + 1, resolve, index, queue, config, consume=True)
            continue
        if token.startswith("#") and not quoted:
            continue
        stmt: dict = {"directive": token, "line": lineno, "args": []}
        token, _, quoted = next(tokens)
        while token not in ("{", ";", "}") or quoted:
            if not (token.startswith("#") and not quoted):
                stmt["args"].append(token)
            token, _, quoted = next(tokens)
        if stmt["directive"] == "if":
            _prepare_if_args(stmt)
        try:
            analyze(fname=fname, stmt=stmt, term=token, ctx=ctx, strict=False, check_ctx=True, check_args=True)
        except NgxParserDirectiveError as exc:
            misplaced = exc.strerror.endswith("is not allowed here")
            parsing["errors"].append({"error": exc.strerror, "line": exc.lineno,
                                      "kind": "context" if misplaced else "directive"})
            if not misplaced:
                if exc.strerror.endswith(' is not terminated by ";"'):
                    if token != "}" or quoted:
                        _parse(parsing, tokens, ctx, depth + 1, resolve, index, queue, config, consume=True)
                    else:
                        break
                continue
            # A block in the wrong context (events/http in conf.d): still read, so its servers are seen.
        if stmt["directive"] == "include" and stmt["args"] and resolve is not None:
            _include(stmt, fname, ctx, resolve, index, queue, config)
        if token == "{" and not quoted:
            stmt["block"] = _parse(parsing, tokens, enter_block_ctx(stmt, ctx), depth + 1, resolve, index,
                                   queue, config)
        parsed.append(stmt)
    return parsed


def _include(stmt: dict, fname: str, ctx: tuple, resolve: IncludeResolver, index: dict[str, int], queue: list,
             config: NginxConfig) -> None:
    target = stmt["args"][0]
    stmt["includes"] = []
    found = resolve(target, fname)
    where = Where(fname, stmt["line"])
    if isinstance(found, str):
        config.missing_includes.append(MissingInclude(target, target, where, found))
        return
    for name, text, why in found:
        if text is None and not glob.has_magic(target):
            config.missing_includes.append(MissingInclude(target, name, where, why or "not found"))
            continue
        if name not in index:
            config.chars_read += len(text or "")
            if len(index) >= MAX_FILES or config.chars_read > MAX_TOTAL_CHARS:
                config.errors.append(ConfigProblem(
                    f"includes over {MAX_FILES} files or {MAX_TOTAL_CHARS} characters; the rest not read", where, "limit"))
                return
            index[name] = len(index)
            queue.append((name, text, why, ctx))
        stmt["includes"].append(index[name])


def _clean_error(message: str, file: str) -> str:
    # crossplane appends " in FILE:LINE"; the location is carried separately.
    return re.sub(rf"\s+in {re.escape(file)}:\d+$", "", message)


def _walk(files: list, file_index: int, block: list, config: NginxConfig, context: list[str],
          server: Server | None, location: Location | None, stack: tuple[int, ...]) -> None:
    file = files[file_index]["file"]
    for d in block:
        name, args, where = d["directive"], d.get("args", []), Where(file, d.get("line"))
        if name == "include":
            for idx in d.get("includes", []):
                if idx in stack:  # nginx itself would recurse until it runs out of files and refuse to start
                    config.errors.append(ConfigProblem(
                        f"include {args[0]} includes {Path(files[idx]['file']).name} again (an include cycle): "
                        f"nginx would fail to start", where, "cycle"))
                elif 0 <= idx < len(files):
                    _walk(files, idx, files[idx].get("parsed", []), config, context, server, location,
                          (*stack, idx))
            continue
        if name == "server" and context and context[-1] == "http":
            new_server = Server(where)
            config.servers.append(new_server)
            _walk(files, file_index, d.get("block", []), config, [*context, "server"], new_server, None, stack)
            _finish_restriction_scope(new_server, None, d.get("block", []), where)
            continue
        if name == "upstream" and args:
            config.upstreams[args[0]] = Upstream(args[0], _upstream_servers(file, d.get("block", [])), where)
            continue
        if name == "location" and server is not None:
            modifier, loc_path = (args[0], args[1]) if len(args) >= 2 else (None, args[0] if args else "")
            loc = Location(modifier, loc_path, where)
            (location.locations if location else server.locations).append(loc)
            _walk(files, file_index, d.get("block", []), config, [*context, "location"], server, loc, stack)
            _finish_restriction_scope(server, loc, d.get("block", []), where)
            continue
        if "block" in d:
            _walk(files, file_index, d["block"], config, [*context, name], server, location, stack)
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


# ---------------------------------------------------------------- placement: where a container reads a file

NGINX_DIR = "/etc/nginx"
# Folders of the official image: a COPY to one of them without a trailing slash still copies into it.
IMAGE_DIRS = ("/etc/nginx", "/etc/nginx/conf.d", "/etc/nginx/templates", "/etc/nginx/sites-enabled")
# Files the image ships itself: an include of them that the repo does not provide is not a question.
_IMAGE_FILES = re.compile(r"^/etc/nginx/(mime\.types|fastcgi_params|fastcgi\.conf|scgi_params|uwsgi_params|"
                          r"koi-utf|koi-win|win-utf|modules/.*|conf\.d/default\.conf)$")
MAX_DIR_FILES = 500  # files taken from one mounted or copied folder


@dataclass(frozen=True)
class Placement:
    """One repo file inside a container: where it lands and what put it there."""

    path: str  # repo-relative
    target: str  # the container path
    how: str  # "volume in docker-compose.yml", "COPY in proxy/Dockerfile"

    @property
    def context(self) -> str | None:
        return context_of(self.target)


def context_of(target: str) -> str | None:
    """The context nginx reads the file at container path `target` in: `main` (/etc/nginx/nginx.conf), `http`
    (conf.d/*.conf, sites-enabled/*, templates/*.conf.template which the image renders into conf.d/*.conf),
    `unknown` (another .conf under /etc/nginx/, or a template rendered into conf.d under a name nginx.conf does
    not load, `templates/server_name.template`: read only if something includes it); None when nginx does not
    read it."""
    t = posixpath.normpath(target)
    if t == "/etc/nginx/nginx.conf":
        return "main"
    if re.fullmatch(r"/etc/nginx/(conf\.d/[^/]+\.conf|sites-enabled/[^/]+|templates/.+\.conf\.template)", t):
        return "http"
    if t.startswith(NGINX_DIR + "/") and (t.endswith((".conf", ".template", ".inc")) or re.fullmatch(
            r"/etc/nginx/(?:conf\.d|snippets|includes?)/[^/.]+", t)):
        return "unknown"  # `conf.d/locations`, `snippets/ssl`: a piece some config includes
    return None


def placements(root: Path, source: str, target: str, how: str, into_dir: bool = False) -> list[Placement]:
    """The nginx files a bind mount or a COPY puts in the container. `source` is repo-relative: a file, a folder
    (its files land under `target`, as both mounts and COPY do) or a glob; `into_dir` when `target` is a folder
    the file goes into (COPY with a trailing slash, several sources, or one of the image's folders)."""
    root_real = root.resolve()
    source = posixpath.normpath(source)
    names = sorted(glob.glob(str(root / source))) if glob.has_magic(source) else [str(root / source)]
    out: list[Placement] = []
    for name in names:
        path = Path(name)
        try:
            real = path.resolve()
        except (OSError, RuntimeError):  # a symlink loop: placed all the same, so reading it says why it fails
            real = root_real / "<loop>"
        if real != root_real and root_real not in real.parents and (source == ".." or source.startswith(("../", "/"))):
            continue  # named outside the repo: not ours to read
        # A repo path that is a symlink out of it is placed all the same: reading it says it is refused,
        # as for a compose file in the same case (it was dropped in silence).
        rel = path.relative_to(root).as_posix()
        if path.is_dir():
            for sub in _files_under(path):
                inner = sub.relative_to(path).as_posix()
                out.append(Placement(sub.relative_to(root).as_posix(), posixpath.join(target, inner), how))
        elif path.is_file() or path.is_symlink():
            dest = posixpath.join(target, path.name) if into_dir or glob.has_magic(source) else target
            out.append(Placement(rel, posixpath.normpath(dest), how))
    return [p for p in out if p.context is not None]


def _files_under(folder: Path) -> list[Path]:
    found: list[Path] = []
    for base, dirs, files in os.walk(folder):  # symlinked folders are not followed
        dirs.sort()
        for name in sorted(files):
            found.append(Path(base) / name)
            if len(found) >= MAX_DIR_FILES:
                return found
    return found


class SourceReader:
    """nginx files read as sources: the session's loaded text when it has the file, else the repo file through
    the sources' reader (confined to the repo, size-capped, hashed). `sources` is the provenance of each read."""

    def __init__(self, root: Path, loaded: list, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.loaded = {s.path: s for s in loaded if getattr(s, "text", None) is not None and s.ok}
        self.sources: dict[str, LoadedSource] = {}

    def read(self, rel: str) -> tuple[str | None, str | None]:
        if rel in self.loaded:
            src = self.loaded[rel]
            self.sources.setdefault(rel, src)
            return src.text, None
        src = self.sources.get(rel)
        if src is None:
            src = LoadedSource(kind="nginx", path=rel, status="ok", label="nginx config")
            try:
                content = read_source_file(confine(self.root, rel), self.max_bytes, shown=rel)
            except SourceReadError as exc:
                src.status, src.message = exc.status, exc.message
            except (OSError, RuntimeError) as exc:  # pathlib reports a symlink loop as RuntimeError
                src.status, src.message = "unreadable", f"cannot be read ({exc})"
            else:
                src.sha256, src.size, src.text = content.sha256, content.size, content.text
            self.sources[rel] = src
        return (src.text, None) if src.ok else (None, src.message)

    def resolver(self, placed: list[Placement]) -> IncludeResolver:
        """Includes as the container sees them: container paths mapped back to the repo files mounted or copied
        there; a relative include also tried beside the including file (a repo laid out like /etc/nginx)."""
        by_target = {p.target: p.path for p in placed}
        for p in placed:  # the image renders templates/X.template into conf.d/X (envsubst) before nginx starts
            m = re.fullmatch(r"/etc/nginx/templates/(.+)\.template", posixpath.normpath(p.target))
            if m:
                by_target.setdefault(f"/etc/nginx/conf.d/{m.group(1)}", p.path)

        def resolve(target: str, from_file: str) -> list[tuple[str, str | None, str | None]] | str:
            container = posixpath.normpath(target if target.startswith("/") else posixpath.join(NGINX_DIR, target))
            magic = glob.has_magic(container)
            hits = sorted(t for t in by_target if fnmatch.fnmatchcase(t, container)) if magic else (
                [container] if container in by_target else [])
            rels = [by_target[t] for t in hits]
            if not rels and not target.startswith("/"):
                here = posixpath.dirname(Path(os.path.relpath(from_file, self.root)).as_posix())
                local = posixpath.normpath(posixpath.join(here, target))
                if not local.startswith(".."):
                    if magic:
                        rels = sorted(Path(n).relative_to(self.root).as_posix()
                                      for n in glob.glob(str(self.root / local)) if Path(n).is_file())
                    elif (self.root / local).is_file():
                        rels = [local]
            if rels:
                return [(str(self.root / r), *self.read(r)) for r in rels[:MAX_FILES + 1]]
            if magic or _IMAGE_FILES.match(container):
                return []  # the image's own files, or a glob nothing in the repo matches
            return (f"{container} is not in the repo (neither mounted nor COPY'd): cannot tell what it holds")

        return resolve
