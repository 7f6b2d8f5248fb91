"""What a stage listens on (from its command and environment) and what its base image likely holds."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tools.dockerfile.imageref import DEFAULT_REGISTRY, ImageRef, parse_image_ref
from tools.dockerfile.model import DockerfileInfo, Stage
from tools.dockerfile.parse import substitute
from tools.facts.shell import split_words

# ---------------------------------------------------------------- ports and base-image facts

@dataclass(frozen=True)
class Listen:
    port: int
    host: str | None  # None when the command does not say (the program's default)
    source: str  # flag | env | default
    program: str


# Default ports when the command names none; uvicorn/gunicorn also default to 127.0.0.1 / 127.0.0.1.
_DEFAULTS = {
    "uvicorn": (8000, "127.0.0.1"), "gunicorn": (8000, "127.0.0.1"), "hypercorn": (8000, "127.0.0.1"),
    "next": (3000, None), "nuxt": (3000, None), "nuxi": (3000, None), "node": (3000, None),
    "flask": (5000, "127.0.0.1"), "dotnet": (8080, None),  # .NET 8 images set ASPNETCORE_HTTP_PORTS=8080
}
_PROGRAMS = ("uvicorn", "gunicorn", "hypercorn", "fastapi", "flask", "dotnet", "next", "nuxt", "nuxi",
             "node", "npm", "yarn", "pnpm", "nginx", "streamlit", "http.server", "serve")
_PORT_FLAGS = ("--port", "-p", "--listen-port", "--server.port", "--http-port")
_BIND_FLAGS = ("--bind", "-b", "--host-port", "--listen", "-l")


def _words(argv_or_str: str | list[str] | tuple[str, ...]) -> list[str]:
    raw = [argv_or_str] if isinstance(argv_or_str, str) else list(argv_or_str)
    words: list[str] = []
    for item in raw:
        if " " in item.strip() or isinstance(argv_or_str, str):
            try:
                words.extend(split_words(item))
            except ValueError:
                words.extend(item.split())
        else:
            words.append(item)
    # sh -c "..." / exec / && chains: flatten, then drop shell operators.
    flat: list[str] = []
    for w in words:
        if " " in w.strip():
            flat.extend(_words(w))
        else:
            flat.extend(x for x in re.split(r"(&&|\|\||;)", w) if x)
    return flat


def _port_of(text: str) -> int | None:
    m = re.search(r":(\d{1,5})(?:/|$)", text) or re.fullmatch(r"(\d{1,5})", text)
    if m and 0 < int(m.group(1)) <= 65535:
        return int(m.group(1))
    return None


def _host_of(text: str) -> str | None:
    m = re.match(r"^(?:[a-z]+://)?(\[[^\]]+\]|[^:/]+):\d", text)
    return m.group(1) if m else None


def listen_from_command(argv_or_str: str | list[str] | tuple[str, ...],
                        env: dict[str, str] | None = None) -> Listen | None:
    """Where a container command listens: flags first, then env (ASPNETCORE_URLS, PORT…), then defaults."""
    env = dict(env or {})
    words = _words(argv_or_str)
    for w in list(words):  # inline `PORT=3000 node …`
        m = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=(.*)", w)
        if m:
            env.setdefault(m.group(1), m.group(2))
    program = next((p for w in words for p in _PROGRAMS
                    if Path(w).name == p or (p == "http.server" and w == p)), "")
    if program == "nginx":
        return None  # nginx listens where its config says: see tools.nginx
    for i, w in enumerate(words):
        flag, eq, inline = w.partition("=")
        value = inline if eq else (words[i + 1] if i + 1 < len(words) else "")
        if "$" in value and flag in (*_PORT_FLAGS, *_BIND_FLAGS, "--urls"):
            value = substitute(value, env) or ""
            if not value:
                return None  # `--port $PORT` with PORT set at run time: cannot tell, never the default
        if flag in _PORT_FLAGS and (port := _port_of(value)):
            host = next((words[j + 1] for j, x in enumerate(words[:-1]) if x in ("--host", "-H")), None)
            return Listen(port, host, "flag", program)
        if flag in _BIND_FLAGS and (port := _port_of(value)):
            return Listen(port, _host_of(value), "flag", program)
        if flag == "--urls" and (port := _port_of(value.split(";")[0])):
            return Listen(port, _host_of(value.split(";")[0]), "flag", program)
    if program == "http.server":
        after = words[words.index("http.server") + 1:]
        given = next((int(w) for w in after if re.fullmatch(r"[0-9]{1,5}", w)), None)
        return Listen(8000, None, "default", program) if given is None else Listen(given, None, "flag", program)
    if program == "dotnet" or any(k.startswith("ASPNETCORE_") for k in env):
        if env.get("ASPNETCORE_URLS") and (port := _port_of(env["ASPNETCORE_URLS"].split(";")[0])):
            return Listen(port, _host_of(env["ASPNETCORE_URLS"].split(";")[0]), "env", program or "dotnet")
        for key in ("ASPNETCORE_HTTP_PORTS", "DOTNET_HTTP_PORTS", "ASPNETCORE_HTTPS_PORTS"):
            if env.get(key) and (port := _port_of(env[key].split(";")[0].strip())):
                return Listen(port, None, "env", program or "dotnet")
    if program in ("node", "next", "nuxt", "nuxi", "npm", "yarn", "pnpm", "serve", ""):
        for key in ("PORT", "NITRO_PORT", "NUXT_PORT"):
            if env.get(key) and (port := _port_of(env[key])):
                return Listen(port, env.get("HOST") or env.get("NITRO_HOST"), "env", program or "?")
    if program == "flask" and env.get("FLASK_RUN_PORT") and (port := _port_of(env["FLASK_RUN_PORT"])):
        return Listen(port, env.get("FLASK_RUN_HOST"), "env", program)
    if program in ("uvicorn", "gunicorn") and env.get("PORT") and (port := _port_of(env["PORT"])):
        return Listen(port, None, "env", program)
    if program == "node" and not any(".output/server" in w for w in words):
        return None  # plain node has no default port; Nitro's .output server defaults to 3000
    if program in _DEFAULTS:
        port, host = _DEFAULTS[program]
        return Listen(port, host, "default", program)
    return None


def port_from_command(argv_or_str: str | list[str] | tuple[str, ...], env: dict[str, str] | None = None) -> int | None:
    """The port a command listens on, or None (nginx: read its config with tools.nginx)."""
    found = listen_from_command(argv_or_str, env)
    return found.port if found else None


def stage_listen(stage: Stage, info: DockerfileInfo | None = None) -> Listen | None:
    """Where the stage's container listens: ENTRYPOINT + CMD with the stage's ENV (and its base image's, given `info`)."""
    argv: list[str] = []
    for form in (stage.entrypoint, stage.cmd):
        if form:
            argv.extend(form.words())
    env = info.runtime_env(stage) if info is not None else stage.env
    return listen_from_command(argv, env) if argv else None


def image_has_binary_guess(base_ref: str | ImageRef | None, binary: str) -> bool | None:
    """Whether a base image probably ships `binary` (curl, wget); None when not known.

    Facts: busybox gives alpine-based images wget, not curl; nginx's alpine images add curl;
    debian/ubuntu base images and -slim variants have neither; the full node/python/golang images
    (buildpack-deps) have both; dotnet aspnet/runtime images have neither, the sdk has both;
    distroless and chiseled images have no shell tools; mysql's Oracle Linux image has curl, not wget.
    """
    if base_ref is None:
        return None
    image = base_ref if isinstance(base_ref, ImageRef) else parse_image_ref(base_ref)
    if not image.valid:
        return None
    binary = binary.lower()
    if binary not in ("curl", "wget"):
        return None
    name, tag, repo = image.short_name, (image.tag or "latest").lower(), image.repository
    if repo == "library/scratch" or "distroless" in repo or "distroless" in tag or "chiseled" in tag:
        return False
    alpine = name == "alpine" or "alpine" in tag
    if name == "busybox":
        return binary == "wget"
    if name == "nginx" and image.registry == DEFAULT_REGISTRY:
        return True if alpine else None
    if alpine:
        return binary == "wget"
    if repo in ("library/debian", "library/ubuntu"):
        return False
    if image.registry == "mcr.microsoft.com" and repo.startswith("dotnet/"):
        if repo.endswith("/sdk"):
            return True
        if repo.split("/")[-1] in ("aspnet", "runtime", "runtime-deps"):
            return False
        return None
    if repo == "library/mysql":
        if "debian" in tag:
            return None
        return binary == "curl"
    if repo in ("library/node", "library/python", "library/golang", "library/buildpack-deps",
                "library/ruby", "library/openjdk", "library/php"):
        if "slim" in tag:
            return False
        return True if repo != "library/php" else None
    return None
