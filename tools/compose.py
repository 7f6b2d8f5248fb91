"""The effective Compose model of an environment, computed with Compose's own rules in pure Python.

Read-only. `load_compose` merges the `-f` files in order, interpolates, applies
`extends` and profiles, and normalises the model the way `docker compose config
--format json` (Compose v2) prints it; the tests compare the two. Source lines are
kept so checks can point at `path:line`.
"""
from __future__ import annotations

import copy
import math
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from agent.core import yaml_safe
from agent.core.errors import UserError
from tools.findings import Location


REDACTED = "<redacted>"
SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|PWD|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE|CERT|SALT|AUTH|DSN", re.I
)
SECRET_VALUE = re.compile(r"(?i)password=[^;\s]+|pwd=[^;\s]+|://[^:/@\s]*:[^@\s]+@")


class ComposeError(UserError):
    """A compose file cannot be loaded: one line with the file, the line and the problem."""

    def __init__(self, problem: str, path: str | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        self.problem = problem
        self.path = path
        self.line_no = line
        self.column = column
        where = path or ""
        if path and line:
            where += f":{line}" + (f":{column}" if column else "")
        super().__init__(f"{where}: {problem}" if where else problem,
                         "fix the compose file or the variables it uses")


@dataclass(frozen=True)
class MissingEnvFile:
    service: str
    path: str  # relative to the project root, posix
    location: Location


@dataclass(frozen=True)
class SchemaIssue:
    path: str  # JSON path such as services.web.ports[0]
    message: str
    location: Location | None = None


@dataclass
class ComposeProject:
    files: list[Path]
    project_dir: Path
    name: str
    model: dict
    services: list[str]
    missing_env_files: list[MissingEnvFile] = field(default_factory=list)
    locations: dict[tuple[str, str | None], Location] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Each file as read and interpolated, before merging: what the schema is checked on.
    raw_files: list[tuple[str, dict, dict[tuple, int]]] = field(default_factory=list)

    def location(self, service: str, key: str | None = None) -> Location:
        """Where a service (or one of its keys, e.g. `image`, `environment.FOO`, `volumes./data`) is set."""
        candidates = [(service, key), (service, key.split(".", 1)[0])] if key else []
        for k in (*candidates, (service, None)):
            if k in self.locations:
                return self.locations[k]
        return Location(self._rel(self.files[0]) if self.files else "")

    def _rel(self, path: Path) -> str:
        return _relpath(path, self.project_dir)


def _relpath(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:
        return Path(path).as_posix()


# ---------------------------------------------------------------- YAML with lines

def _read_yaml(path: Path, rel: str) -> tuple[dict, dict[tuple, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ComposeError(f"compose file {rel} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ComposeError(f"cannot read compose file: {exc}", rel) from None
    try:
        node, data = yaml_safe.load_node(text, rel)
    except yaml_safe.YamlLimitError as exc:
        raise ComposeError(exc.problem, rel) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ComposeError(problem or "invalid YAML", rel,
                           mark.line + 1 if mark else None, mark.column + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ComposeError(f"invalid YAML: {str(exc).splitlines()[0]}", rel) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ComposeError("top-level must be a mapping", rel, 1, 1)
    lines: dict[tuple, int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return data, lines


# The boundary between parsed YAML and our model: the shapes the code below relies on, as Compose's schema has them.
_TOP_MAPPINGS = ("services", "networks", "volumes", "secrets", "configs")
_SERVICE_STRING_LISTS = ("links", "external_links", "cap_add", "cap_drop", "profiles", "security_opt")
_SERVICE_LISTS = ("ports", "expose", "volumes", "devices", "dns_search", "env_file", "secrets", "configs")
_SERVICE_LIST_OR_MAPPING = ("depends_on", "environment", "labels", "networks", "extra_hosts", "sysctls")


def _check_shapes(data: dict, rel: str, lines: dict[tuple, int]) -> None:
    """One ComposeError, with the line, for a value whose type Compose would reject."""
    def fail(path: tuple, expected: str) -> None:
        key = ".".join(str(p) for p in path)
        raise ComposeError(f"{key} must be {expected}", rel, lines.get(path))

    for key in _TOP_MAPPINGS:
        if data.get(key) is not None and not isinstance(data[key], dict):
            fail((key,), "a mapping")
    for name, svc in (data.get("services") or {}).items():
        if not isinstance(svc, dict):
            continue
        at = ("services", name)
        ext = svc.get("extends")
        if ext is not None and not isinstance(ext, str) and not (
                isinstance(ext, dict) and isinstance(ext.get("service"), str)
                and isinstance(ext.get("file", ""), str)):
            fail((*at, "extends"), "a service name or a mapping with `service:` (and `file:`)")
        for key in _SERVICE_STRING_LISTS:
            value = svc.get(key)
            if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                fail((*at, key), "a list of strings")
        for key in _SERVICE_LISTS:
            if svc.get(key) is not None and not isinstance(svc[key], (list, str)):
                fail((*at, key), "a list")
        for key in _SERVICE_LIST_OR_MAPPING:
            if svc.get(key) is not None and not isinstance(svc[key], (list, dict)):
                fail((*at, key), "a list or a mapping")


def _index_lines(node: yaml.Node, path: tuple, out: dict[tuple, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            key = knode.value
            if key == "<<":
                continue
            p = (*path, key)
            out[p] = knode.start_mark.line + 1
            _index_lines(vnode, p, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            p = (*path, i)
            out[p] = item.start_mark.line + 1
            _index_lines(item, p, out)


# ---------------------------------------------------------------- env and interpolation

_NAME = r"[_a-zA-Z][_a-zA-Z0-9]*"
_SIMPLE = re.compile(_NAME)


class _Interpolator:
    def __init__(self, env: Mapping[str, str], warnings: list[str], where: str = "") -> None:
        self.env = env
        self.warnings = warnings
        self.where = where
        self.warned: set[str] = set()

    def __call__(self, text: str) -> str:
        if "$" not in text:
            return text
        out, i, n = [], 0, len(text)
        while i < n:
            c = text[i]
            if c != "$":
                out.append(c)
                i += 1
                continue
            if i + 1 < n and text[i + 1] == "$":
                out.append("$")
                i += 2
                continue
            if i + 1 < n and text[i + 1] == "{":
                end = self._closing(text, i + 2)
                if end < 0:
                    raise ComposeError(f"invalid interpolation format for {text!r}", self.where)
                out.append(self._braced(text[i + 2:end], text))
                i = end + 1
                continue
            m = _SIMPLE.match(text, i + 1)
            if m:
                out.append(self._lookup(m.group(0)))
                i = m.end()
                continue
            out.append("$")
            i += 1
        return "".join(out)

    @staticmethod
    def _closing(text: str, start: int) -> int:
        depth = 1
        i = start
        while i < len(text):
            if text.startswith("${", i):
                depth += 1
                i += 2
                continue
            if text[i] == "}":
                depth -= 1
                if depth == 0:
                    return i
            i += 1
        return -1

    def _lookup(self, name: str) -> str:
        if name in self.env:
            return self.env[name]
        if name not in self.warned:
            self.warned.add(name)
            self.warnings.append(f'The "{name}" variable is not set. Defaulting to a blank string.')
        return ""

    def _braced(self, expr: str, whole: str) -> str:
        m = re.match(rf"({_NAME})(.*)", expr, re.S)
        if not m:
            raise ComposeError(f"invalid interpolation format for {whole!r}: ${{{expr}}}", self.where)
        name, rest = m.group(1), m.group(2)
        if not rest:
            return self._lookup(name)
        for op in (":-", ":?", ":+", "-", "?", "+"):
            if rest.startswith(op):
                arg = rest[len(op):]
                break
        else:
            raise ComposeError(f"invalid interpolation format for {whole!r}: ${{{expr}}}", self.where)
        value = self.env.get(name)
        unset = value is None
        empty = unset or value == ""
        missing = empty if op.startswith(":") else unset
        if op in (":-", "-"):
            return self(arg) if missing else value
        if op in (":+", "+"):
            return "" if missing else self(arg)
        if missing:
            raise ComposeError(f"required variable {name} is missing a value: {self(arg)}".rstrip(": "),
                               self.where)
        return value


def _interpolate(data, fn):
    if isinstance(data, str):
        return fn(data)
    if isinstance(data, dict):
        return {k: _interpolate(v, fn) for k, v in data.items()}
    if isinstance(data, list):
        return [_interpolate(v, fn) for v in data]
    return data


def parse_env_file(path: Path, lookup: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Compose's dotenv rules: `export`, quotes, comments, interpolation with earlier lines."""
    result: dict[str, str | None] = {}
    text = path.read_text(encoding="utf-8")
    scope: dict[str, str] = dict(lookup or {})
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        raw = lines[i].strip()
        i += 1
        if not raw or raw.startswith("#"):
            continue
        if raw.startswith("export "):
            raw = raw[7:].lstrip()
        if "=" not in raw:
            key = raw.split()[0]
            val = scope.get(key)
            result[key] = val
            continue
        key, val = raw.split("=", 1)
        key = key.strip()
        val = val.strip()
        interp = _Interpolator(_Chain(result, scope), [])
        if val[:1] in ("'", '"'):
            q = val[0]
            body = val[1:]
            while q not in body and i < len(lines):
                body += "\n" + lines[i]
                i += 1
            body = body[: body.find(q)] if q in body else body
            if q == '"':
                body = body.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
                body = interp(body)
            value = body
        else:
            value = re.split(r"\s+#", val, maxsplit=1)[0].strip()
            value = interp(value)
        result[key] = value
    return result


class _Chain(Mapping):
    def __init__(self, *maps: Mapping) -> None:
        self.maps = maps

    def __getitem__(self, key):
        for m in self.maps:
            if key in m and m[key] is not None:
                return m[key]
        raise KeyError(key)

    def __iter__(self):
        return iter({k for m in self.maps for k in m})

    def __len__(self):
        return len(set(self))


# ---------------------------------------------------------------- type casts (after interpolation)

def _to_bool(v):
    if isinstance(v, str):
        low = v.lower()
        if low in ("true", "yes", "y", "on", "1"):
            return True
        if low in ("false", "no", "n", "off", "0"):
            return False
    return v


def _to_int(v):
    if isinstance(v, str) and re.fullmatch(r"[+-]?\d+", v.strip()):
        return int(v)
    return v


def _to_float(v):
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    if isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    return v


_SERVICE_BOOLS = ("init", "oom_kill_disable", "privileged", "read_only", "stdin_open", "tty")
_SERVICE_INTS = ("scale", "oom_score_adj", "pids_limit", "cpu_count", "cpu_period", "cpu_quota",
                 "cpu_rt_period", "cpu_rt_runtime", "cpu_shares")

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3,
          "gb": 1024**3, "t": 1024**4, "tb": 1024**4, "p": 1024**5, "pb": 1024**5}


def _unit_bytes(v):
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        size = v
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtpb]?b?|[kmgtp]ib)\s*", str(v), re.I)
        if not m:
            return v
        size = float(m.group(1)) * _UNITS.get(m.group(2).lower().replace("ib", "b"), 1)
    if isinstance(size, float) and not math.isfinite(size):
        raise ValueError(f"{v!r} is not a finite size")
    return str(int(size))


_DUR = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DUR_NS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 10**6, "s": 10**9,
           "m": 60 * 10**9, "h": 3600 * 10**9}


def _duration(v):
    """Go's time.Duration String() of a compose duration."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        ns = int(v * 10**9)
    else:
        s = str(v).strip()
        pos, ns = 0, 0
        for m in _DUR.finditer(s):
            if m.start() != pos:
                return v
            ns += int(float(m.group(1)) * _DUR_NS[m.group(2)])
            pos = m.end()
        if pos != len(s) or not s:
            return v
    return _go_duration(ns)


def _go_duration(ns: int) -> str:
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < 10**9:
        for unit, div in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if u >= div:
                whole, frac = divmod(u, div)
                digits = len(str(div)) - 1
                text = str(whole) + (("." + str(frac).zfill(digits).rstrip("0")) if frac else "")
                return sign + text + unit
    total, frac = divmod(u, 10**9)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    sec = str(s) + (("." + str(frac).zfill(9).rstrip("0")) if frac else "") + "s"
    if h:
        return f"{sign}{h}h{m}m{sec}"
    if m:
        return f"{sign}{m}m{sec}"
    return sign + sec


# ---------------------------------------------------------------- canonical (long) forms

def _kv_list_to_map(value, null_for_bare: bool, sep: str = "=") -> dict:
    if isinstance(value, dict):
        return {str(k): _scalar_str(v) for k, v in value.items()}
    out: dict = {}
    for item in value or []:
        item = str(item)
        if sep in item:
            k, v = item.split(sep, 1)
            out[k] = v
        else:
            out[item] = None if null_for_bare else ""
    return out


def _scalar_str(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _is_path(source: str) -> bool:
    return source.startswith((".", "/", "~")) or bool(re.match(r"^[A-Za-z]:[\\/]", source))


def _parse_volume(spec: str) -> dict:
    parts = spec.split(":")
    if re.match(r"^[A-Za-z]$", parts[0]) and len(parts) > 1:  # windows drive letter
        parts = [parts[0] + ":" + parts[1], *parts[2:]]
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0], "volume": {}}
    source, target = parts[0], parts[1]
    modes = parts[2].split(",") if len(parts) > 2 else []
    vol: dict = {"type": "bind" if _is_path(source) else "volume", "source": source, "target": target}
    sub: dict = {}
    for mode in modes:
        if mode == "ro":
            vol["read_only"] = True
        elif mode in ("z", "Z"):
            sub["selinux"] = mode
        elif mode in ("shared", "rshared", "slave", "rslave", "private", "rprivate"):
            sub["propagation"] = mode
        elif mode in ("cached", "delegated", "consistent"):
            vol["consistency"] = mode
        elif mode == "nocopy":
            sub["nocopy"] = True
    vol[vol["type"]] = sub
    return vol


def _parse_ports(spec) -> list[dict]:
    if isinstance(spec, dict):
        p = dict(spec)
        p.setdefault("mode", "ingress")
        p.setdefault("protocol", "tcp")
        p["target"] = _to_int(p.get("target"))
        if p.get("published") is not None:
            p["published"] = str(p["published"])
        return [p]
    if isinstance(spec, int):
        return [{"mode": "ingress", "target": spec, "protocol": "tcp"}]
    s = str(spec)
    proto = "tcp"
    if "/" in s:
        s, proto = s.rsplit("/", 1)
    host_ip = ""
    m = re.match(r"^\[([^\]]+)\]:(.*)$", s)
    if m:
        host_ip, s = m.group(1), m.group(2)
        parts = s.split(":")
    else:
        parts = s.split(":")
        if len(parts) == 3:
            host_ip = parts.pop(0)
        elif len(parts) > 3:  # bare IPv6
            host_ip = ":".join(parts[:-2])
            parts = parts[-2:]
    published, target = (parts if len(parts) == 2 else ["", parts[0]])

    def rng(text: str) -> list[int]:
        a, _, b = text.partition("-")
        low, high = int(a), int(b or a)
        if not 0 <= low <= high <= 65535:  # Compose refuses it too; and a million-port range is a million entries
            raise ValueError(f"port range {text} is not within 0-65535")
        return list(range(low, high + 1))

    targets = rng(target)
    if published and "-" in published and len(rng(published)) == len(targets):
        pubs = [str(p) for p in rng(published)]
    elif published and len(targets) == 1:
        pubs = [published]
    elif published:
        start = rng(published)[0]
        pubs = [str(start + i) for i in range(len(targets))]
    else:
        pubs = [""] * len(targets)
    out = []
    for t, p in zip(targets, pubs):
        entry: dict = {"mode": "ingress"}
        if host_ip:
            entry["host_ip"] = host_ip
        entry["target"] = t
        if p:
            entry["published"] = p
        entry["protocol"] = proto
        out.append(entry)
    return out


def _canonical_service(svc: dict) -> dict:
    svc = dict(svc)
    for key in _SERVICE_BOOLS:
        if key in svc:
            svc[key] = _to_bool(svc[key])
    for key in _SERVICE_INTS:
        if key in svc:
            svc[key] = _to_int(svc[key])
    if "cpus" in svc:
        svc["cpus"] = _to_float(svc["cpus"])
    if isinstance(svc.get("build"), str):
        svc["build"] = {"context": svc["build"]}
    if isinstance(svc.get("build"), dict):
        b = dict(svc["build"])
        for k in ("args", "labels"):
            if k in b and b[k] is not None:
                b[k] = _kv_list_to_map(b[k], null_for_bare=True)
        svc["build"] = b
    if isinstance(svc.get("extends"), str):
        svc["extends"] = {"service": svc["extends"]}
    for key in ("command", "entrypoint"):
        if isinstance(svc.get(key), str):
            svc[key] = shlex.split(svc[key])
    if "environment" in svc:
        svc["environment"] = _kv_list_to_map(svc["environment"], null_for_bare=True)
    for key in ("labels", "annotations"):
        if key in svc and svc[key] is not None:
            svc[key] = _kv_list_to_map(svc[key], null_for_bare=False)
    if "sysctls" in svc and svc["sysctls"] is not None:
        svc["sysctls"] = _kv_list_to_map(svc["sysctls"], null_for_bare=False)
    if "extra_hosts" in svc and svc["extra_hosts"] is not None:
        hosts = svc["extra_hosts"]
        if isinstance(hosts, dict):
            hosts = [f"{k}={v}" for k, v in hosts.items()]
        svc["extra_hosts"] = [re.sub(r"^([^=:]+):", r"\1=", str(h)) if "=" not in str(h) else str(h)
                              for h in hosts]
    for key in ("dns", "dns_search", "dns_opt", "tmpfs", "env_file", "label_file"):
        if isinstance(svc.get(key), str):
            svc[key] = [svc[key]]
    if "env_file" in svc:
        svc["env_file"] = [{"path": e} if isinstance(e, str) else dict(e) for e in svc["env_file"] or []]
        for e in svc["env_file"]:
            if "required" in e:
                e["required"] = _to_bool(e["required"])
    if "expose" in svc:
        svc["expose"] = [str(e) for e in svc["expose"] or []]
    if "ports" in svc:
        svc["ports"] = [p for spec in svc["ports"] or [] for p in _parse_ports(spec)]
    if "volumes" in svc:
        vols = []
        for v in svc["volumes"] or []:
            if isinstance(v, str):
                vols.append(_parse_volume(v))
            else:
                v = dict(v)
                if "read_only" in v:
                    v["read_only"] = _to_bool(v["read_only"])
                vols.append(v)
        svc["volumes"] = vols
    if "secrets" in svc:
        svc["secrets"] = [{"source": s, "target": f"/run/secrets/{s}"} if isinstance(s, str) else dict(s)
                          for s in svc["secrets"] or []]
    if "configs" in svc:
        svc["configs"] = [{"source": s} if isinstance(s, str) else dict(s) for s in svc["configs"] or []]
    if "networks" in svc:
        nets = svc["networks"]
        svc["networks"] = {n: None for n in nets} if isinstance(nets, list) else dict(nets or {})
    if "depends_on" in svc:
        dep = svc["depends_on"]
        if isinstance(dep, list):
            svc["depends_on"] = {d: {"condition": "service_started", "required": True} for d in dep}
        else:
            out = {}
            for name, cfg in (dep or {}).items():
                cfg = dict(cfg or {})
                cfg.setdefault("condition", "service_started")
                cfg["required"] = _to_bool(cfg.get("required", True))
                if "restart" in cfg:
                    cfg["restart"] = _to_bool(cfg["restart"])
                out[name] = cfg
            svc["depends_on"] = out
    if isinstance(svc.get("healthcheck"), dict):
        hc = dict(svc["healthcheck"])
        if isinstance(hc.get("test"), str):
            hc["test"] = ["CMD-SHELL", hc["test"]]
        if "retries" in hc:
            hc["retries"] = _to_int(hc["retries"])
        if "disable" in hc:
            hc["disable"] = _to_bool(hc["disable"])
        for k in ("interval", "timeout", "start_period", "start_interval"):
            if k in hc:
                hc[k] = _duration(hc[k])
        svc["healthcheck"] = hc
    if "stop_grace_period" in svc:
        svc["stop_grace_period"] = _duration(svc["stop_grace_period"])
    for key in ("mem_limit", "mem_reservation", "memswap_limit", "shm_size"):
        if key in svc:
            svc[key] = _unit_bytes(svc[key])
    if isinstance(svc.get("ulimits"), dict):
        svc["ulimits"] = {k: (_to_int(v) if not isinstance(v, dict) else {a: _to_int(b) for a, b in v.items()})
                          for k, v in svc["ulimits"].items()}
    if isinstance(svc.get("deploy"), dict):
        d = copy.deepcopy(svc["deploy"])
        if "replicas" in d:
            d["replicas"] = _to_int(d["replicas"])
        if isinstance(d.get("labels"), list):
            d["labels"] = _kv_list_to_map(d["labels"], null_for_bare=False)
        for kind in ("limits", "reservations"):
            r = (d.get("resources") or {}).get(kind)
            if isinstance(r, dict):
                if "cpus" in r:
                    r["cpus"] = _to_float(r["cpus"])
                if "memory" in r:
                    r["memory"] = _unit_bytes(r["memory"])
        d.setdefault("placement", {})
        svc["deploy"] = d
    return svc


# ---------------------------------------------------------------- merge (compose-spec merge rules)

def _unique(seq: list, key) -> list:
    out: list = []
    index: dict = {}
    for item in seq:
        k = key(item)
        if k in index:
            out[index[k]] = item
        else:
            index[k] = len(out)
            out.append(item)
    return out


def _port_key(p: dict):
    return (p.get("host_ip"), p.get("target"), p.get("published"), p.get("protocol"), p.get("mode"))


_UNIQUE = {
    "ports": _port_key,
    "volumes": lambda v: v.get("target"),
    "expose": str,
    "dns": str, "dns_search": str, "dns_opt": str, "cap_add": str, "cap_drop": str,
    "profiles": str, "links": str, "extra_hosts": str, "tmpfs": str,
    "secrets": lambda s: s.get("target") or f"/run/secrets/{s.get('source')}",
    "configs": lambda s: s.get("target") or s.get("source"),
    "env_file": lambda e: e.get("path"),
    "devices": lambda d: str(d).split(":")[1] if isinstance(d, str) and ":" in d else repr(d),
}
_OVERRIDE = {"command", "entrypoint"}


def _merge_service(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if key not in out or value is None or out[key] is None:
            out[key] = value
            continue
        old = out[key]
        if key in _OVERRIDE:
            out[key] = value
        elif key == "healthcheck" and isinstance(old, dict) and isinstance(value, dict):
            out[key] = {**old, **value}
        elif key == "networks" and isinstance(old, dict) and isinstance(value, dict):
            nets = dict(old)
            for n, cfg in value.items():
                if isinstance(nets.get(n), dict) and isinstance(cfg, dict):
                    merged = _merge_mapping(nets[n], cfg)
                    if "aliases" in merged:
                        merged["aliases"] = _unique(merged["aliases"], str)
                    nets[n] = merged
                else:
                    nets[n] = cfg if cfg is not None or n not in nets else nets[n]
            out[key] = nets
        elif isinstance(old, list) and isinstance(value, list):
            merged = old + value
            out[key] = _unique(merged, _UNIQUE[key]) if key in _UNIQUE else merged
        elif isinstance(old, dict) and isinstance(value, dict):
            out[key] = _merge_mapping(old, value)
        else:
            out[key] = value
    return out


def _merge_mapping(old: dict, new: dict) -> dict:
    out = dict(old)
    for k, v in new.items():
        if isinstance(out.get(k), dict) and isinstance(v, dict):
            out[k] = _merge_mapping(out[k], v)
        elif isinstance(out.get(k), list) and isinstance(v, list):
            out[k] = out[k] + v
        else:
            out[k] = v
    return out


# ---------------------------------------------------------------- loading one file

@dataclass
class _File:
    path: Path
    rel: str
    data: dict
    lines: dict[tuple, int]
    entry_locs: dict[str, dict]
    raw: dict


def _rebase_service(svc: dict, base_dir: Path) -> dict:
    """Relative paths of a service taken from another file's directory, made absolute."""
    svc = dict(svc)

    def fix(p: str) -> str:
        if p.startswith("~") or os.path.isabs(p) or "://" in p or p.startswith("git@"):
            return p
        return os.path.normpath(base_dir / p)

    if isinstance(svc.get("build"), dict) and "context" in svc["build"]:
        svc["build"] = {**svc["build"], "context": fix(svc["build"]["context"])}
    if isinstance(svc.get("build"), dict) and "context" not in svc["build"]:
        svc["build"] = {**svc["build"], "context": str(base_dir)}
    if "env_file" in svc:
        svc["env_file"] = [{**e, "path": fix(e["path"])} for e in svc["env_file"]]
    if "volumes" in svc:
        svc["volumes"] = [{**v, "source": fix(v["source"])}
                          if v.get("type") == "bind" and v.get("source") else v for v in svc["volumes"]]
    return svc


class _Loader_:
    def __init__(self, project_dir: Path, env: Mapping[str, str], warnings: list[str], root: Path) -> None:
        self.project_dir = project_dir
        self.env = env
        self.warnings = warnings
        self.root = root
        self.cache: dict[Path, _File] = {}

    def rel(self, path: Path) -> str:
        return _relpath(path, self.root)

    def file(self, path: Path) -> _File:
        path = Path(os.path.normpath(path))
        if path not in self.cache:
            rel = self.rel(path)
            data, lines = _read_yaml(path, rel)
            _check_shapes(data, rel, lines)
            interp = _Interpolator(self.env, self.warnings, rel)
            data = _interpolate(data, interp)
            raw = copy.deepcopy(data)
            services = data.get("services") or {}
            if not isinstance(services, dict):
                raise ComposeError("services must be a mapping", rel, lines.get(("services",)))
            data["services"] = {}
            entry_locs: dict[str, dict] = {}
            for name, svc in services.items():
                if svc is None:
                    svc = {}
                if not isinstance(svc, dict):
                    raise ComposeError(f"service {name} must be a mapping", rel, lines.get(("services", name)))
                try:
                    data["services"][name] = _canonical_service(svc)
                except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
                    raise self._shape_error(rel, raw, lines, name, exc) from None
                entry_locs[name] = _entry_locations(rel, name, svc, lines)
            self.cache[path] = _File(path, rel, data, lines, entry_locs, raw)
        return self.cache[path]

    @staticmethod
    def _shape_error(rel: str, raw: dict, lines: dict, name: str, exc: Exception) -> ComposeError:
        # A shape Compose rejects: report the schema's first issue, which says what is expected.
        issues = [i for i in validate_schema(raw, lines, rel) if i.path.startswith(f"services.{name}")]
        if issues:
            first = issues[0]
            return ComposeError(f"{first.path}: {first.message}", rel, first.location.line)
        svc = (raw.get("services") or {}).get(name) or {}
        for key, value in svc.items():
            try:
                _canonical_service({key: value})
            except (ValueError, TypeError, AttributeError, KeyError):
                return ComposeError(f"services.{name}.{key}: invalid value {value!r} ({exc})", rel,
                                    lines.get(("services", name, key)))
        return ComposeError(f"services.{name}: invalid value ({exc})", rel, lines.get(("services", name)))

    def service(self, f: _File, name: str, seen: tuple = ()) -> tuple[dict, dict]:
        """A service with `extends` applied, and its key locations."""
        if (f.path, name) in seen:
            raise ComposeError(f"circular extends for service {name}", f.rel, f.lines.get(("services", name)))
        svc = f.data["services"].get(name)
        if svc is None:
            raise ComposeError(f"cannot extend service {name!r}: not found in {f.rel}", f.rel)
        locs = {key: Location(f.rel, f.lines.get(("services", name, key))) for key in svc}
        locs[None] = Location(f.rel, f.lines.get(("services", name)))
        locs.update(f.entry_locs.get(name, {}))
        ext = svc.get("extends")
        if not ext:
            return svc, locs
        base_file = f
        if ext.get("file"):
            target = Path(ext["file"])
            if not target.is_absolute():
                target = f.path.parent / target
            base_file = self.file(target)
        base, base_locs = self.service(base_file, ext["service"], (*seen, (f.path, name)))
        if base_file.path.parent != f.path.parent:
            base = _rebase_service(base, base_file.path.parent)
        own = {k: v for k, v in svc.items() if k != "extends"}
        merged = _merge_service(base, own)
        own_locs = {k: v for k, v in locs.items() if k != "extends"}
        return merged, {**base_locs, **own_locs}


def _entry_locations(rel: str, name: str, raw: dict, lines: dict[tuple, int]) -> dict:
    """Lines of environment entries, volumes (by target) and dependencies, from the raw service."""
    base = ("services", name)
    locs: dict = {}
    env = raw.get("environment")
    if isinstance(env, dict):
        for key in env:
            locs[f"environment.{key}"] = Location(rel, lines.get((*base, "environment", key)))
    elif isinstance(env, list):
        for i, item in enumerate(env):
            key = str(item).split("=", 1)[0]
            locs[f"environment.{key}"] = Location(rel, lines.get((*base, "environment", i)))
    for i, item in enumerate(raw.get("volumes") or []):
        target = item.get("target") if isinstance(item, dict) else _parse_volume(str(item)).get("target")
        locs[f"volumes.{target}"] = Location(rel, lines.get((*base, "volumes", i)))
    deps = raw.get("depends_on")
    if isinstance(deps, dict):
        for dep in deps:
            locs[f"depends_on.{dep}"] = Location(rel, lines.get((*base, "depends_on", dep)))
    elif isinstance(deps, list):
        for i, dep in enumerate(deps):
            locs[f"depends_on.{dep}"] = Location(rel, lines.get((*base, "depends_on", i)))
    return locs


# ---------------------------------------------------------------- the project

def _normalise_name(name: str) -> str:
    name = re.sub(r"[^a-z0-9_-]", "", name.lower())
    return re.sub(r"^[^a-z0-9]+", "", name)


def _escape(data):
    if isinstance(data, str):
        return data.replace("$", "$$")
    if isinstance(data, dict):
        return {k: _escape(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_escape(v) for v in data]
    return data


def load_compose(
    files: list[Path],
    project_dir: Path,
    env: Mapping[str, str] | None = None,
    profiles: list[str] | None = None,
    project_name: str | None = None,
    *,
    resolve_env_files: bool = True,
    root: Path | None = None,
) -> ComposeProject:
    """The effective model, as `docker compose -f F1 -f F2 config --format json` prints it.

    `resolve_env_files=False` keeps `env_file` as a list (like `--no-env-resolution`).
    Env files that are absent are recorded in `missing_env_files`, never raised.
    Locations are relative to `root` (default: `project_dir`).
    """
    project_dir = Path(project_dir).resolve()
    root = Path(root).resolve() if root else project_dir
    process_env = dict(os.environ if env is None else env)
    warnings: list[str] = []
    dotenv_path = project_dir / ".env"
    dot: dict = {}
    if dotenv_path.is_file():
        try:
            dot = {k: v for k, v in parse_env_file(dotenv_path, process_env).items() if v is not None}
        except (OSError, UnicodeDecodeError) as exc:
            raise ComposeError(f"cannot read .env: {exc}", _relpath(dotenv_path, root)) from None
    scope = {**dot, **process_env}
    if profiles is None:
        profiles = [p for p in scope.get("COMPOSE_PROFILES", "").split(",") if p]
    files = [Path(f) if Path(f).is_absolute() else project_dir / f for f in files]
    if not files:
        raise ComposeError("no compose file given")
    loader = _Loader_(project_dir, scope, warnings, root)

    top: dict = {}
    services: dict[str, dict] = {}
    locations: dict[tuple[str, str | None], Location] = {}
    raw_files = []
    for path in files:
        f = loader.file(path)
        raw_files.append((f.rel, f.raw, f.lines))
        for key, value in f.data.items():
            if key == "services":
                continue
            if key == "version":
                warnings.append(f"{f.rel}: the attribute `version` is obsolete, it will be ignored")
                continue
            if key == "include":
                warnings.append(f"{f.rel}: `include` is not supported by this reader; included files ignored")
                continue
            if isinstance(value, dict) and isinstance(top.get(key), dict):
                top[key] = _merge_top(top[key], value)
            else:
                top[key] = value
        for name in f.data["services"]:
            svc, locs = loader.service(f, name)
            if name in services:
                services[name] = _merge_service(services[name], svc)
                for k, loc in locs.items():
                    if k is not None:
                        locations[(name, k)] = loc
            else:
                services[name] = svc
                for k, loc in locs.items():
                    locations[(name, k)] = loc

    explicit = project_name or scope.get("COMPOSE_PROJECT_NAME")
    if explicit and not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", explicit):
        raise ComposeError(f"invalid project name {explicit!r}: use lowercase letters, digits, '-' and '_'")
    name = explicit or _normalise_name(str(top.get("name") or project_dir.name))
    if not name:
        raise ComposeError("project name is empty once normalised; pass a project name")

    active = set(profiles)
    enabled = {n: s for n, s in services.items()
               if not s.get("profiles") or "*" in active or active & set(s["profiles"])}

    missing: list[MissingEnvFile] = []
    out_services: dict[str, dict] = {}
    for sname in sorted(enabled):
        out_services[sname] = _normalise_service(
            sname, enabled[sname], project_dir, scope, resolve_env_files, missing, locations, root)
    for sname, svc in out_services.items():
        for dep, cfg in (svc.get("depends_on") or {}).items():
            if dep not in out_services and cfg.get("required", True):
                raise ComposeError(f'service "{sname}" depends on undefined service "{dep}"',
                                   locations.get((sname, "depends_on"), Location("")).path or None,
                                   locations.get((sname, "depends_on"), Location("")).line)
            if dep not in out_services:
                warnings.append(f'service "{sname}" depends on undefined service "{dep}" (not required)')

    model: dict = {"name": name}
    for key, value in top.items():
        if key in ("name", "networks", "volumes", "secrets", "configs"):
            continue
        model[key] = value
    model["services"] = out_services
    _top_resources(model, top, out_services, name, project_dir)
    model = _escape(model)
    model["name"] = name
    return ComposeProject(
        files=files, project_dir=project_dir, name=name, model=model, services=list(out_services),
        missing_env_files=missing, locations=locations, warnings=warnings, raw_files=raw_files)


def _merge_top(old: dict, new: dict) -> dict:
    out = dict(old)
    for k, v in new.items():
        if isinstance(out.get(k), dict) and isinstance(v, dict):
            out[k] = _merge_mapping(out[k], v)
        elif v is not None or k not in out:
            out[k] = v
    return out


def _resolve_path(p: str, base: Path, scope: Mapping[str, str]) -> str:
    if p.startswith("~"):
        home = scope.get("HOME") or os.path.expanduser("~")
        return os.path.normpath(home + p[1:])
    if os.path.isabs(p):
        return os.path.normpath(p)
    return os.path.normpath(base / p)


def _is_remote(ctx: str) -> bool:
    return "://" in ctx or ctx.startswith(("git@", "github.com/"))


def _normalise_service(name: str, svc: dict, project_dir: Path, scope: Mapping[str, str],
                       resolve_env_files: bool, missing: list[MissingEnvFile],
                       locations: dict, root: Path) -> dict:
    # Compose prints no service-level `x-` extensions.
    svc = copy.deepcopy({k: v for k, v in svc.items() if not k.startswith("x-")})
    svc.pop("extends", None)
    if "profiles" in svc and not svc["profiles"]:
        del svc["profiles"]
    svc.setdefault("command", None)
    svc.setdefault("entrypoint", None)
    if "build" in svc and isinstance(svc["build"], dict):
        b = svc["build"]
        ctx = str(b.get("context", "."))
        b["context"] = ctx if _is_remote(ctx) else _resolve_path(ctx, project_dir, scope)
        if "dockerfile" not in b and "dockerfile_inline" not in b:
            b["dockerfile"] = "Dockerfile"
        if "args" in b:
            args = {}
            for k, v in b["args"].items():
                if v is None:
                    if k in scope:
                        args[k] = scope[k]
                else:
                    args[k] = v
            b["args"] = args
    if "network_mode" not in svc and not svc.get("networks"):
        svc["networks"] = {"default": None}
    for v in svc.get("volumes") or []:
        if v.get("type") == "bind" and v.get("source"):
            v["source"] = _resolve_path(v["source"], project_dir, scope)
    env: dict = {}
    if "env_file" in svc:
        kept = []
        for e in svc["env_file"]:
            path = Path(_resolve_path(e["path"], project_dir, scope))
            e["path"] = str(path)
            kept.append(e)
            if not path.is_file():
                if e.get("required", True):
                    missing.append(MissingEnvFile(name, _relpath(path, root), locations.get(
                        (name, "env_file"), Location(""))))
                continue
            if resolve_env_files:
                try:
                    env.update(parse_env_file(path, scope))
                except (OSError, UnicodeDecodeError) as exc:
                    raise ComposeError(f"cannot read env file: {exc}", _relpath(path, root)) from None
        if resolve_env_files:
            del svc["env_file"]
        else:
            svc["env_file"] = kept
    if "environment" in svc or env:
        env.update(svc.get("environment") or {})
        svc["environment"] = {k: (scope.get(k) if v is None else v) for k, v in env.items()}
    deps = svc.get("depends_on") or {}
    implicit = []
    if str(svc.get("network_mode", "")).startswith("service:"):
        implicit.append(svc["network_mode"].split(":", 1)[1])
    for link in svc.get("links") or []:
        implicit.append(link.split(":", 1)[0])
    for vf in svc.get("volumes_from") or []:
        if not vf.startswith("container:"):
            implicit.append(vf.split(":", 1)[0])
    for dep in implicit:
        deps.setdefault(dep, {"condition": "service_started", "restart": True, "required": True})
    if deps:
        svc["depends_on"] = deps
    if "extra_hosts" in svc:
        svc["extra_hosts"] = sorted(svc["extra_hosts"])
    return svc


def _top_resources(model: dict, top: dict, services: dict, project: str, project_dir: Path) -> None:
    used_nets: set = set()
    used_vols: set = set()
    used_secrets: set = set()
    used_configs: set = set()
    for svc in services.values():
        used_nets.update((svc.get("networks") or {}).keys())
        for v in svc.get("volumes") or []:
            if v.get("type") == "volume" and v.get("source"):
                used_vols.add(v["source"])
        used_secrets.update(s.get("source") for s in svc.get("secrets") or [])
        used_secrets.update(s.get("source") for s in (svc.get("build") or {}).get("secrets") or []
                            if isinstance(s, dict))
        used_configs.update(c.get("source") for c in svc.get("configs") or [])
    nets = dict(top.get("networks") or {})
    if "default" in used_nets and "default" not in nets:
        nets["default"] = None
    out_nets = {}
    for key in sorted(n for n in nets if n in used_nets):
        cfg = dict(nets[key] or {})
        if isinstance(cfg.get("labels"), list):
            cfg["labels"] = _kv_list_to_map(cfg["labels"], null_for_bare=False)
        for b in ("external", "internal", "attachable", "enable_ipv6"):
            if b in cfg:
                cfg[b] = _to_bool(cfg[b])
        external = cfg.get("external") is True
        cfg = {"name": cfg.get("name") or (key if external else f"{project}_{key}"),
               **{k: v for k, v in cfg.items() if k != "name"}}
        cfg.setdefault("ipam", {})
        out_nets[key] = cfg
    if out_nets:
        model["networks"] = out_nets
    for section, used, path_keys in (("volumes", used_vols, ()), ("secrets", used_secrets, ("file",)),
                                     ("configs", used_configs, ("file",))):
        decl = top.get(section) or {}
        out = {}
        for key in sorted(k for k in decl if k in used):
            cfg = dict(decl[key] or {})
            if isinstance(cfg.get("labels"), list):
                cfg["labels"] = _kv_list_to_map(cfg["labels"], null_for_bare=False)
            if "external" in cfg:
                cfg["external"] = _to_bool(cfg["external"])
            external = cfg.get("external") is True
            for pk in path_keys:
                if isinstance(cfg.get(pk), str):
                    cfg[pk] = _resolve_path(cfg[pk], project_dir, {})
            out[key] = {"name": cfg.get("name") or (key if external else f"{project}_{key}"),
                        **{k: v for k, v in cfg.items() if k != "name"}}
        if out:
            model[section] = out


# ---------------------------------------------------------------- redaction

def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def redacted(model: dict) -> dict:
    """A copy of the model with secret-like values replaced by `<redacted>`, structure kept."""
    out = copy.deepcopy(model)
    for svc in (out.get("services") or {}).values():
        for section in ("environment",):
            env = svc.get(section)
            if isinstance(env, dict):
                for k, v in env.items():
                    if v is not None and (is_secret_name(k) or SECRET_VALUE.search(str(v))):
                        env[k] = REDACTED
        args = (svc.get("build") or {}).get("args")
        if isinstance(args, dict):
            for k, v in args.items():
                if v is not None and (is_secret_name(k) or SECRET_VALUE.search(str(v))):
                    args[k] = REDACTED
        hc = svc.get("healthcheck") or {}
        if isinstance(hc.get("test"), list):
            hc["test"] = [_redact_text(t) for t in hc["test"]]
        for key in ("command", "entrypoint"):
            if isinstance(svc.get(key), list):
                svc[key] = [_redact_text(t) for t in svc[key]]
    return out


def _redact_text(text):
    if not isinstance(text, str):
        return text
    text = SECRET_VALUE.sub(lambda m: _keep_prefix(m.group(0)), text)
    return re.sub(r"(\s-p)(\S+)", r"\1" + REDACTED, text)


def _keep_prefix(match: str) -> str:
    if match.startswith("://"):
        user = match[3:].split(":", 1)[0]
        return f"://{user}:{REDACTED}@"
    return match.split("=", 1)[0] + "=" + REDACTED


# ---------------------------------------------------------------- schema

_SCHEMA_VALIDATOR = None


def _validator():
    global _SCHEMA_VALIDATOR
    if _SCHEMA_VALIDATOR is None:
        import jsonschema

        from tools.schemas import vendored_schema

        schema = vendored_schema("compose-spec.json")
        _SCHEMA_VALIDATOR = jsonschema.validators.validator_for(schema)(schema)
    return _SCHEMA_VALIDATOR


def _json_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def validate_schema(raw: dict, lines: Mapping[tuple, int] | None = None,
                    path: str | None = None) -> list[SchemaIssue]:
    """Issues of one compose file against the compose-spec schema vendored by check-jsonschema."""
    from tools.schemas import schema_errors

    issues = []
    errors = schema_errors("compose-spec.json", raw, _reduce_error, lambda schema: _validator())
    for err in sorted(errors, key=lambda e: list(map(str, e["parts"]))):
        parts = tuple(err["parts"])
        line = None
        if err["validator"] in ("additionalProperties", "unevaluatedProperties"):
            extra = re.findall(r"'([^']+)'", err["message"])
            if extra and lines and (*parts, extra[0]) in lines:
                parts = (*parts, extra[0])
        if lines:
            probe = parts
            while probe and probe not in lines:
                probe = probe[:-1]
            line = lines.get(probe)
        loc = Location(path, line) if path else None
        issues.append(SchemaIssue(_json_path(parts), err["message"].splitlines()[0], loc))
    return issues


def _reduce_error(err) -> dict:
    return {"parts": list(err.absolute_path), "validator": err.validator, "message": err.message}


def validate_project(project: ComposeProject) -> list[SchemaIssue]:
    """Schema issues of every file of the project, with their lines."""
    return [issue for rel, data, lines in project.raw_files
            for issue in validate_schema(data, lines, rel)]


# ---------------------------------------------------------------- environments from the repo

_COMPOSE_CALL = re.compile(r"(?:docker\s+compose|docker-compose)((?:\s+(?:-f|--file)(?:\s+|=)\S+)+)")
_FILE_ARG = re.compile(r"(?:-f|--file)(?:\s+|=)(\S+)")
_TARGET_ALIASES = {"up": "dev", "dev": "dev", "start": "dev", "run": "dev", "prod": "prod",
                   "production": "prod", "deploy": "prod"}


def infer_environments(repo: Path) -> dict[str, list[str]]:
    """Environments (name -> `-f` files) from how the Makefile or shell scripts call compose."""
    repo = Path(repo)
    envs: dict[str, list[str]] = {}
    makefile = next((repo / n for n in ("Makefile", "makefile", "GNUmakefile") if (repo / n).is_file()), None)
    if makefile is not None:
        target = None
        for line in makefile.read_text(encoding="utf-8", errors="replace").splitlines():
            m = re.match(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", line)
            if m:
                target = m.group(1)
                continue
            call = _COMPOSE_CALL.search(line)
            if call and target:
                files = [f.strip("'\"") for f in _FILE_ARG.findall(call.group(1))]
                name = _TARGET_ALIASES.get(target, target)
                envs.setdefault(name, files)
    for script in sorted(repo.glob("*.sh")) + sorted(repo.glob("scripts/*.sh")):
        for line in script.read_text(encoding="utf-8", errors="replace").splitlines():
            call = _COMPOSE_CALL.search(line)
            if call:
                files = [f.strip("'\"") for f in _FILE_ARG.findall(call.group(1))]
                name = _TARGET_ALIASES.get(script.stem, script.stem)
                if files not in envs.values():
                    envs.setdefault(name, files)
    if not envs:
        base = next((n for n in ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
                     if (repo / n).is_file()), "docker-compose.yml")
        files = [base]
        stem = base.rsplit(".", 1)[0]
        for ext in ("yml", "yaml"):
            if (repo / f"{stem}.override.{ext}").is_file():
                files.append(f"{stem}.override.{ext}")
                break
        envs["dev"] = files
    return envs


def command_argv(value) -> list[str]:
    """A service's `command` or `entrypoint` as words: a string split as Compose's short form, a list as is."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    return [str(v) for v in value]
