"""What an image build's commands do that a reviewer would stop at: code downloaded and run with nothing
checked, dependencies installed at whatever version the registry holds that day, files made writable by
everyone, compilers left in the image that ships, a secrets file copied in. Each function reads one RUN text
(or a script line) and says what it found in words; the checks decide where it matters.

Only what hadolint does not already say: `pip install x` (DL3013), `npm install x` (DL3016), `gem install x`
(DL3028), `apk add x` (DL3018) and `apt-get install x` (DL3008) without a version are its own rules.
"""
from __future__ import annotations

import posixpath
import re

from tools.facts.shell import pipelines, program_of as _program

_FETCHERS = {"curl", "wget"}
_INTERPRETERS = {"sh", "bash", "zsh", "ash", "dash", "ksh", "php", "perl", "ruby", "node", "python", "python2",
                 "python3"}
# A step that checks what was fetched: a checksum compared, a signature verified.
_VERIFIES = re.compile(r"\b(?:sha(?:1|224|256|384|512)sum|shasum|md5sum|b2sum|gpgv|cosign|minisign|signify)\b"
                       r"|\bopenssl\s+(?:dgst|sha\d*)\b|--checksum[= ]|\bhash_file\s*\(|\bsha(?:256|384|512)\s*\(",
                       re.I)
_PACKAGE_FILE = re.compile(r"\.(?:deb|rpm|apk|run|sh|bin)$", re.I)


def _urls(args: list[str]) -> list[str]:
    """The URLs a fetch names: literal, or a variable holding one (`curl "$driver_url"`), as written."""
    literal = [a for a in args if re.match(r"(?:https?|ftp)://", a)]
    return literal or [a for a in args if re.match(r"\$\{?[A-Za-z_]\w*\}?(?:$|/)", a)]


def _output_file(args: list[str]) -> str | None:
    """The file `curl -o F` / `wget -O F` / `curl URL >F` writes (None for stdout)."""
    for i, a in enumerate(args):
        if a in (">", ">>") and i + 1 < len(args):
            return args[i + 1]
        if re.fullmatch(r">>?[^>&].*", a):
            return a.lstrip(">")
        if a in ("-o", "-O", "--output", "--output-document") and i + 1 < len(args):
            return None if args[i + 1] == "-" else args[i + 1]
        for flag in ("--output=", "--output-document="):
            if a.startswith(flag):
                return a[len(flag):] or None
        if re.fullmatch(r"-[a-zA-Z]*o", a) and i + 1 < len(args) and a.startswith("-") and not a.startswith("--"):
            return None if args[i + 1] == "-" else args[i + 1]
    return None


_UNPACKERS = {"tar", "bsdtar", "unzip"}


def _unpacks(prog: str, args: list[str]) -> bool:
    """`tar -xzf F`, `tar xf F`, `tar --extract`, `unzip F`, `bsdtar -xf F`: the command extracts files."""
    if prog == "unzip":
        return True
    first = args[0] if args else ""
    return any(a in ("--extract", "--get") or (a.startswith("-") and not a.startswith("--") and "x" in a)
               for a in args) or bool(re.fullmatch(r"[a-zA-Z]*x[a-zA-Z]*", first))


def _made_executable(prog: str, args: list[str]) -> list[str]:
    """The files `chmod +x F` / `chmod 755 F` / `install -m 755 F DEST` make executable."""
    if prog == "chmod":
        mode = next((a for a in args if not a.startswith("-")), "")
        if "x" in mode or re.fullmatch(r"0?[0-7]*[1357][0-7]*", mode):
            return [a for a in args if not a.startswith("-") and a != mode]
    if prog == "install":
        files = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] not in (
            "-m", "--mode", "-o", "-g", "--owner", "--group", "-t", "--target-directory"))]
        return files[:-1]
    return []


_PROCESS_SUBSTITUTION = re.compile(r"(?<![\w/.-])(bash|sh|zsh|source|\.)[ \t]+<\([ \t]*(?:curl|wget)\b[^()\n]*?"
                                   r"(https?://[^\s'\")]+)")


_CONTROL_WORDS = frozenset({"if", "then", "else", "elif", "do", "while", "until", "{", "(", "!", "fi", "done", "}"})


def _past_control(words: list[str]) -> list[str]:
    """A command's words past the shell's own that lead it: `if`, `then`, `do`, and a `case … in pattern)` head
    (`case "$TARGETPLATFORM" in "linux/amd64") curl -o lib.zip …` runs curl)."""
    w = list(words)
    while w:
        if w[0] in _CONTROL_WORDS:
            w = w[1:]
        elif w[0] == "case" and "in" in w:
            w = w[w.index("in") + 1:]
        elif len(w) > 1 and w[0].endswith(")") and not w[0].startswith(("$(", "(")):
            w = w[1:]  # a case pattern (`linux/amd64)`, `*)`)
        else:
            break
    return w


_NO_SIGNATURE_FLAGS = {
    "apk": ("--allow-untrusted",),
    "apt-get": ("--allow-unauthenticated", "--allow-insecure-repositories"),
    "apt": ("--allow-unauthenticated", "--allow-insecure-repositories"),
    "aptitude": ("--allow-untrusted",),
    "yum": ("--nogpgcheck",), "dnf": ("--nogpgcheck",), "microdnf": ("--nogpgcheck",), "tdnf": ("--nogpgcheck",),
    "rpm": ("--nosignature", "--nodigest"), "zypper": ("--no-gpg-checks",),
}
_APT_INSECURE_OPTION = re.compile(r"AllowUnauthenticated\s*=\s*(?:true|1|yes)|AllowInsecureRepositories\s*=\s*"
                                  r"(?:true|1|yes)|Verify-Peer\s*=\s*(?:false|0|no)", re.I)
# `[trusted=yes]` on a remote source; a `file:` repository of packages the same step built from source is local
_TRUSTED_SOURCE = re.compile(r"\[\s*(?:[\w-]+=\S+\s+)*trusted=yes\b[^\]]*\](?!\s*(?:file|copy):)")
_GPGCHECK_OFF = re.compile(r"(?:(?<!\w)|(?<=\\n))(?:repo_)?gpgcheck\s*=\s*0\b")  # also after a printf's `\n`
_TO_PLAIN_HTTP = re.compile(r"\bs([/|#,@])https(?::|\\:)?\1http(?::|\\:)?\1")
_PACKAGE_SOURCES = re.compile(r"/etc/apk/repositories|/etc/apt/sources\.list|\.repo\b")


def checks_turned_off(command: str | None) -> list[str]:
    """What a build step installs or fetches with its verification turned off, in words: packages whose signatures
    the package manager is told not to check (`apk add --allow-untrusted`, `yum --nogpgcheck`, an apt source marked
    `[trusted=yes]`, a repository written with `gpgcheck=0`), package sources rewritten from https to http, and
    downloads that skip TLS verification (`curl -k`, `wget --no-check-certificate`, `pip --trusted-host`, git's
    `http.sslVerify=false`, npm's `strict-ssl false`). Whoever sits on the path can then swap what is installed."""
    text = command or ""
    out: list[str] = []
    for pipeline in pipelines(text):
        for words in pipeline:
            program, args = _program(words)
            flags = [a for a in args if a.startswith("-")]
            off = [f for f in _NO_SIGNATURE_FLAGS.get(program, ()) if f in flags]
            if program in ("apt-get", "apt") and any(_APT_INSECURE_OPTION.search(a) for a in args):
                off.append("-o " + next(a for a in args if _APT_INSECURE_OPTION.search(a)))
            if off:
                out.append(f"installs packages with {program} {off[0]}: their signatures are not checked")
            elif program == "curl" and any(f == "--insecure" or not f.startswith("--") and "k" in f[1:]
                                           for f in flags):
                out.append("fetches with curl -k: the server's TLS certificate is not checked")
            elif program == "wget" and "--no-check-certificate" in flags:
                out.append("fetches with wget --no-check-certificate: the server's TLS certificate is not checked")
            elif program in ("pip", "pip3", "uv") and any(f.startswith("--trusted-host") for f in flags):
                out.append(f"installs with {program} --trusted-host: that index's TLS certificate is not checked")
            elif program == "git" and any(re.fullmatch(r"http\.sslverify=(?:false|0)", a, re.I) for a in args) or \
                    program == "git" and "config" in args and any(a.lower() == "http.sslverify" for a in args) and \
                    any(a.lower() in ("false", "0") for a in args):
                out.append("turns off git's TLS verification (http.sslVerify false)")
            elif program in ("npm", "yarn", "pnpm") and "strict-ssl" in args and \
                    any(a.lower() == "false" for a in args):
                out.append(f"turns off {program}'s TLS verification (strict-ssl false)")
            elif program == "sed" and _TO_PLAIN_HTTP.search(" ".join(args)) and \
                    any(_PACKAGE_SOURCES.search(a) for a in args):
                out.append("rewrites the package sources from https to http: packages are fetched in the clear")
    if _TRUSTED_SOURCE.search(text):
        out.append("adds a package source marked [trusted=yes]: its packages' signatures are not checked")
    if _GPGCHECK_OFF.search(text):
        out.append("writes a package repository with gpgcheck=0: its packages' signatures are not checked")
    return list(dict.fromkeys(out))


def unverified_downloads(command: str | None, fetched: dict[str, str] | None = None) -> list[str]:
    """Code fetched and run, installed, unpacked or made executable with no checksum or signature checked,
    in words: `https://get.acme.sh piped into sh`, `https://x/tool.deb installed by dpkg without a checksum`,
    `https://x/app.tar.gz unpacked by tar without a checksum`. `fetched` (file name -> URL) carries what earlier
    steps of the same build stage downloaded (a RUN that fetches, the next one that unpacks) and is updated."""
    text = command or ""
    fetched = {} if fetched is None else fetched
    if not text.strip():
        return []
    steps = pipelines(text)
    steps = [p for p in ([w for w in (_past_control(c) for c in pipeline) if w] for pipeline in steps) if p]
    out: list[str] = []
    said: dict[str, str] = {}
    verified_all = False
    for m in _PROCESS_SUBSTITUTION.finditer(text):  # `bash <(curl -s https://codecov.io/bash)`: a pipe by another name
        out.append(f"{m.group(2)} run by {m.group(1)} through a process substitution")
    for pipeline in steps:
        if any(_VERIFIES.search(" ".join(words)) or (_program(words)[0] == "gpg" and "--verify" in words)
               for words in pipeline):
            # a checksum or a signature checked (`echo "$SHA  app.tgz" | sha256sum -c -`, `gpg --verify x.sig x`):
            # the files it names are verified; one naming none of them (`sha256sum -c SHASUMS`) verifies them all
            names = {posixpath.basename(w.strip("\"'")) for words in pipeline for w in words}
            named = [k for k in fetched if k in names or any(k in w for words in pipeline for w in words)]
            for k in named or list(fetched):
                fetched.pop(k, None)
            if not named:
                verified_all = True
            continue
        first, rest = _program(pipeline[0])
        urls = _urls(rest) if first in _FETCHERS else []
        if urls and len(pipeline) > 1:
            runner, runner_args = _program(pipeline[-1])
            if runner in _INTERPRETERS:
                out.append(f"{urls[0]} piped into {runner}")
                continue
            if runner in _UNPACKERS and _unpacks(runner, runner_args) and not _is_key(urls[0]):
                out.append(f"{urls[0]} unpacked by {runner} without a checksum")
                continue
        if urls:
            target = _output_file(rest)
            if target is None and first == "wget" and not any(a.startswith("-") and "O" in a for a in rest):
                target = posixpath.basename(urls[0].split("?", 1)[0])  # wget keeps the remote file name
            if target:
                fetched[posixpath.basename(target)] = urls[0]
            continue
        prog, args = _program(pipeline[0])
        installed = None
        if prog in ("dpkg", "rpm") and any(a in ("-i", "--install", "-U", "-ivh", "-Uvh") for a in args):
            installed = [a for a in args if not a.startswith("-")]
        elif prog in ("apt", "apt-get") and "install" in args:
            installed = [a for a in args if a.startswith(("./", "/")) and _PACKAGE_FILE.search(a)]
        elif prog in _INTERPRETERS and args and not args[0].startswith("-"):
            installed = args[:1]
        elif prog.startswith("./") or pipeline[0][0].startswith("./"):
            installed = [pipeline[0][0]]
        how = "installed by " + prog if prog in ("dpkg", "rpm", "apt", "apt-get") else "run"
        if installed is None and prog in _UNPACKERS and _unpacks(prog, args):
            installed, how = [a for a in args if not a.startswith("-")], f"unpacked by {prog}"
        elif installed is None and prog in ("chmod", "install"):
            installed, how = _made_executable(prog, args), "made executable"
        for f in installed or ():
            url = fetched.pop(posixpath.basename(f), None)
            if url is None and not verified_all:
                unknown = [k for k in fetched if "$" in k]  # `wget "$URL"` keeps a remote name not known here
                url = fetched.pop(unknown[-1]) if unknown and _unpacks(prog, args) else None
            if url is None and prog in ("dpkg", "rpm") and fetched:
                url = next(iter(fetched.values()))  # a package unpacked from what was fetched (a zip of .deb files)
            if url:
                said[url] = f"{url} {how} without a checksum"  # what is done last to it says most
                if how.startswith("unpacked"):
                    fetched["\0" + url] = url  # its contents may be installed next (a zip of .deb files)
    return list(dict.fromkeys(out + list(said.values())))


def _is_key(url: str) -> bool:
    """A signing key or a checksum list fetched (`KEY.asc`, `SHA256SUMS`), not code."""
    return bool(re.search(r"\.(?:asc|gpg|pub|key|sig|sha256|sha512)$|sums?$", url.split("?", 1)[0], re.I))


_RANGE = re.compile(r"^[\^~]|^(?:latest|next|\*|x)$|[<>*]|\.x$")


def _npm_spec_version(spec: str) -> str | None:
    """The version part of `name@version` / `@scope/name@version` (None when there is none)."""
    at = spec.rfind("@")
    return spec[at + 1:] if at > 0 else None


# Options of npm, pnpm, yarn and bun that take a value as the next word (`--omit dev`, `--filter web`).
_NPM_VALUE_FLAGS = frozenset({"--omit", "--include", "--only", "--registry", "--prefix", "--cache", "--loglevel",
                              "-w", "--workspace", "--filter", "-F", "--userconfig", "--network-timeout",
                              "--modules-folder", "--cwd", "-C", "--dir", "--store-dir", "--mutex"})


def unpinned_installs(command: str | None) -> list[str]:
    """Dependencies a build step installs at a version it does not fix, beyond hadolint's rules, in words:
    `pip wheel apprise (no version)`, `go get with no go.mod`, `turbo@^2.10.0 (a range)`."""
    out: list[str] = []
    text = command or ""
    for pipeline in pipelines(text):
        for words in pipeline:
            prog, args = _program(words)
            if prog in ("pip", "pip3", "python") and args[:2] == ["-m", "pip"]:
                args = args[2:]
                prog = "pip"
            if prog in ("pip", "pip3", "uv") and "install" in args[:2]:
                for spec in args:
                    redirected = _REDIRECTED_SPEC.match(spec)
                    if redirected and re.search(rf"(?:^|[\s;&|(]){re.escape(spec)}", text):  # not inside quotes
                        out.append(f"{spec} unquoted (the shell reads `{redirected.group(2)}` as a redirection: pip "
                                   f"installs the newest {redirected.group(1)})")
            if prog in ("pip", "pip3") and args[:1] and args[0] in ("wheel", "download"):
                loose = _pip_loose(args[1:])
                if loose:
                    out.append(f"pip {args[0]} {' '.join(loose)} (no version)")
            elif prog == "go" and args[:1] == ["get"]:
                # with no `@version`, go get resolves `@upgrade`: the newest release the day of the build
                loose = [p for p in args[1:] if not p.startswith(("-", "."))
                         and ("@" not in p or p.rsplit("@", 1)[1] in ("latest", "upgrade", "master", "main"))]
                if loose:
                    out.append(f"go get {' '.join(loose)} (no version: the newest release the day of the build)")
                elif all(a.startswith("-") for a in args[1:]) and "go mod init" in text:
                    # a go.mod made in the build requires nothing: go get takes every import at its newest release
                    out.append("go get after go mod init (no go.mod kept: every dependency at its newest release)")
            elif prog == "go" and args[:1] == ["install"]:
                loose = [p for p in args[1:] if not p.startswith("-") and p.rsplit("@", 1)[-1] in ("latest", "master", "main")]
                if loose:
                    out.append(f"go install {' '.join(loose)} (a moving version)")
            elif prog in ("npm", "pnpm", "yarn", "bun") and any(a in ("install", "i", "add") for a in args):
                verb = next(i for i, a in enumerate(args) if a in ("install", "i", "add"))
                rest = args[verb + 1:]
                named = [a for i, a in enumerate(rest) if not a.startswith("-") and a not in ("global",)
                         and not (i and rest[i - 1] in _NPM_VALUE_FLAGS)
                         and not a.startswith((".", "/", "file:", "git+", "http")) and "$" not in a]
                for spec in named:
                    version = _npm_spec_version(spec)
                    if version and _RANGE.search(version):
                        out.append(f"{spec} (a range: each build may install another version)")
                    elif version and re.fullmatch(r"v?\d+", version):
                        out.append(f"{spec} (a major only: each build may install another minor)")
                    elif not version:
                        out.append(f"{spec} (no version: the newest release the day of the build)")
            elif prog == "composer" and args[:1] == ["require"]:
                loose = [a for a in args[1:] if not a.startswith("-") and ":" not in a and "/" in a]
                if loose:
                    out.append(f"composer require {' '.join(loose)} (no version constraint: the newest release)")
            elif prog == "cargo" and args[:1] == ["install"] and "--version" not in args \
                    and not any(a.startswith("--version=") for a in args) and "--path" not in args:
                loose = [a for a in args[1:] if not a.startswith("-") and "@" not in a]
                if loose:
                    out.append(f"cargo install {' '.join(loose)} (no version: the newest release the day of the build)")
            elif prog == "corepack" and args[:1] in (["prepare"], ["install"]):
                for spec in args[1:]:
                    version = _npm_spec_version(spec) if not spec.startswith("-") else None
                    if version and _RANGE.search(version):
                        out.append(f"corepack {spec} (a moving version)")
    return out


# `opencv-python-headless>=4.8.0.76` as a bare shell word: `>` redirects, the requirement is the name alone
_REDIRECTED_SPEC = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-\[\],]*)(>=?)[^\s]*$")


def _pip_loose(args: list[str]) -> list[str]:
    """The package arguments of a pip command that name no version (files, paths, URLs and -r lists aside)."""
    loose = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-r", "--requirement", "-c", "--constraint", "-w", "--wheel-dir", "-d", "--dest", "-f",
                 "--find-links", "-i", "--index-url", "--extra-index-url", "--no-binary", "--only-binary"):
            skip = True
            continue
        if a.startswith("-") or "/" in a or a in (".", "..") or "://" in a or a.endswith((".whl", ".zip", ".tar.gz")):
            continue
        if not re.search(r"==|===|@", a):
            loose.append(a)
    return loose


_WIDE_MODE = re.compile(r"^0?[0-7]?[0-7]{2}[2367]$")  # the others' digit holds write
_WIDE_SYMBOLIC = re.compile(r"^[ugo]*[oa][ugoa]*[+=][rwxXst]*w")
_SCRATCH = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


def world_writable(command: str | None) -> list[str]:
    """Paths a chmod makes writable by every user (777, o+w, a+w), scratch folders aside, in words:
    `/var/www/html/config (chmod -R 777)`."""
    out: list[str] = []
    for pipeline in pipelines(command or ""):
        for words in pipeline:
            prog, args = _program(words)
            if prog != "chmod":
                continue
            operands = [a for a in args if not a.startswith("-") or re.fullmatch(r"-[rwxXst]+", a)]
            if not operands:
                continue
            mode, paths = operands[0], operands[1:]
            if mode.startswith("1") and len(mode) == 4:
                continue  # the sticky bit: a shared scratch folder, as /tmp is
            wide = bool(_WIDE_MODE.match(mode)) or any(_WIDE_SYMBOLIC.match(p) for p in mode.split(","))
            if not wide:
                continue
            flags = " ".join(a for a in args if a.startswith("-") and a not in operands)
            for p in paths:
                if p.rstrip("/") in _SCRATCH or p.startswith(tuple(s + "/" for s in _SCRATCH)):
                    continue
                out.append(f"{p} (chmod {flags + ' ' if flags else ''}{mode})")
    return out


# Packages that build code: needed to compile, not to run.
_BUILD_PACKAGES = re.compile(r"^(?:build-essential|build-base|gcc(?:-[\d.]+)?|g\+\+(?:-[\d.]+)?|clang|make|cmake"
                             r"|autoconf|automake|libtool|pkg-config|pkgconf|musl-dev|linux-headers|sudo)(?:=.*)?$")
_INSTALLERS = {("apt-get", "install"), ("apt", "install"), ("apk", "add"), ("yum", "install"), ("dnf", "install"),
               ("microdnf", "install")}
_REMOVERS = {("apt-get", "purge"), ("apt-get", "remove"), ("apt", "purge"), ("apt", "remove"), ("apk", "del"),
             ("yum", "remove"), ("dnf", "remove"), ("apt-get", "autoremove")}


def build_packages(command: str | None) -> tuple[list[str], list[str]]:
    """(build tools a step installs, packages it removes again): compilers, make, headers' toolchains, sudo.
    `apk add --virtual .build-deps gcc` followed by `apk del .build-deps` counts as removed."""
    added: list[str] = []
    removed: list[str] = []
    virtual: dict[str, list[str]] = {}
    for pipeline in pipelines(command or ""):
        for words in pipeline:
            prog, args = _program(words)
            verb = next((a for a in args if not a.startswith("-")), "")
            names = [a for a in args if not a.startswith("-") and a != verb]
            if (prog, verb) in _INSTALLERS:
                group = None
                for i, a in enumerate(args):
                    if a in ("--virtual", "-t") and i + 1 < len(args):
                        group = args[i + 1]
                    elif a.startswith("--virtual="):
                        group = a.split("=", 1)[1]
                tools = [n for n in names if _BUILD_PACKAGES.match(n) and n != group]
                if group:
                    virtual[group] = tools
                else:
                    added.extend(tools)
            elif (prog, verb) in _REMOVERS:
                for n in names:  # `autoremove` alone removes what was pulled in, never what was named
                    removed.extend(virtual.get(n, [n]))
    for tools in virtual.values():
        added.extend(tools)
    return added, removed


def is_build_tool(package: str) -> bool:
    return bool(_BUILD_PACKAGES.match(package))


# Files that hold a deployment's secrets: copied into an image, anyone who pulls it reads them.
_SECRET_FILES = re.compile(r"^(?:\.env(?:\.(?!example$|sample$|template$|dist$|defaults?$|tpl$|ci$|test$)[\w.-]+)?"
                           r"|id_(?:rsa|ed25519|ecdsa)|\.pypirc|\.netrc)$")


def is_secret_file(path: str) -> bool:
    """A file whose job is to hold secrets (`.env`, `.env.production`, a private key, `.npmrc`), by name."""
    return bool(_SECRET_FILES.match(posixpath.basename(path.rstrip("/"))))


_DEV_GROUP = re.compile(r"(?:^|[,\s=])(?:dev|develop|development|test|tests|lint)(?:$|[,\s])")
_DEV_REQUIREMENTS = re.compile(r"(?:^|[/_.-])(?:dev|test|tests|lint|ci)(?:[/_.-]|$)", re.I)


def _flag_value(args: list[str], *flags: str) -> str | None:
    for i, a in enumerate(args):
        for flag in flags:
            if a == flag and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(flag + "="):
                return a.split("=", 1)[1]
    return None


def dev_dependency_installs(command: str | None, env: dict[str, str] | None = None) -> list[str]:
    """Development dependencies a step installs, in words: `npm ci (devDependencies too)`, `poetry install --only
    main,dev`, `composer install (require-dev too)`, `pip install -r requirements-dev.txt`. `NODE_ENV=production`
    (in `env` or on the line) makes npm, yarn and pnpm leave them out; a later `npm prune --omit=dev` removes them."""
    env = env or {}
    text = command or ""
    out: list[str] = []
    node_prod = env.get("NODE_ENV") == "production" or "NODE_ENV=production" in text
    pruned = bool(re.search(r"\b(?:npm|pnpm|yarn)\s+prune\b", text))
    for pipeline in pipelines(text):
        for words in pipeline:
            prog, args = _program(words)
            verb = next((a for a in args if not a.startswith("-")), "")
            named = [a for a in args if not a.startswith("-") and a != verb]
            if prog == "npm" and verb in ("ci", "install", "i") and not named:
                if not (node_prod or pruned or any(a in ("--production", "--omit=dev", "--only=prod", "--only=production")
                                                  for a in args) or _flag_value(args, "--omit") == "dev"):
                    out.append(f"npm {verb} (devDependencies too)")
            elif prog == "yarn" and verb in ("", "install") and not named:
                if not (node_prod or pruned or "--production" in args or _flag_value(args, "--production") == "true"
                        or "workspaces" in args):
                    out.append("yarn install (devDependencies too)")
            elif prog == "pnpm" and verb in ("install", "i") and not named:
                if not (node_prod or pruned or any(a in ("--prod", "-P", "--production") for a in args)):
                    out.append("pnpm install (devDependencies too)")
            elif prog == "composer" and verb == "install" and "--no-dev" not in args:
                out.append("composer install (require-dev too)")
            elif prog == "poetry" and verb in ("install", "sync"):
                only, with_ = _flag_value(args, "--only"), _flag_value(args, "--with")
                without = _flag_value(args, "--without") or ""
                if only is not None:
                    if _DEV_GROUP.search(only):
                        out.append(f"poetry {verb} --only {only}")
                elif with_ and _DEV_GROUP.search(with_):
                    out.append(f"poetry {verb} --with {with_}")
                elif not ("--no-dev" in args or "--only-root" in args or _DEV_GROUP.search(without)):
                    out.append(f"poetry {verb} (the dev group too)")
            elif prog == "uv" and verb == "sync" and not ({"--no-dev", "--only-group"} & set(a.split("=")[0] for a in args)):
                group = _flag_value(args, "--group") or ""
                out.append(f"uv sync{' --group ' + group if group else ''} (the dev group too)")
            elif prog in ("pip", "pip3") and verb == "install":
                req = _flag_value(args, "-r", "--requirement")
                if req and _DEV_REQUIREMENTS.search(posixpath.basename(req).rsplit(".", 1)[0]):
                    out.append(f"pip install -r {req}")
    return out


# ------------------------------------------------------------------------------------ installs from a lock file

# Package managers that install a project's dependencies from its manifest: the lock file that fixes every version,
# and the flags that make the install refuse to change it. `npm ci`, `pnpm install` under CI and `uv sync --locked`
# refuse a missing or stale lock by themselves.
LOCK_FILES: dict[str, tuple[str, ...]] = {
    "npm": ("package-lock.json", "npm-shrinkwrap.json"),
    "yarn": ("yarn.lock",),
    "pnpm": ("pnpm-lock.yaml",),
    "composer": ("composer.lock",),
    "bundle": ("Gemfile.lock",),
    "poetry": ("poetry.lock",),
    "uv": ("uv.lock",),
}
_FROZEN = {"yarn": ("--frozen-lockfile", "--immutable"), "bundle": ("--frozen", "--deployment"),
           "uv": ("--locked", "--frozen"), "poetry": ()}


def lock_installs(command: str | None) -> list[tuple[str, str, bool]]:
    """Installs of a project's dependencies from its manifest in a build step: (manager, the command as words,
    whether it refuses to change the lock). `npm install` with no package argument, bare `yarn` or `yarn install`,
    `pnpm install`, `composer install|update`, `bundle install`, `poetry install`, `uv sync`; `npm ci` is none
    (it fails without a lock). Installs of named packages are DKF010's and hadolint's."""
    out: list[tuple[str, str, bool]] = []
    for pipeline in pipelines(command or ""):
        for words in pipeline:
            prog, args = _program(words)
            prog = posixpath.basename(prog or "")
            if prog in ("composer", "composer.phar") or prog == "php" and args[:1] and args[0].endswith("composer.phar"):
                args = args[1:] if prog == "php" else args
                prog = "composer"
            positional = [a for a in args if not a.startswith("-")]
            sub = positional[0] if positional else ""
            text = " ".join([prog, *args])
            if prog == "npm" and sub in ("install", "i") and len(positional) == 1:
                out.append(("npm", text, False))
            elif prog == "yarn" and (not positional or sub == "install"):
                out.append(("yarn", text, any(a in _FROZEN["yarn"] for a in args)))
            elif prog == "pnpm" and sub in ("install", "i") and len(positional) == 1:
                out.append(("pnpm", text, "--no-frozen-lockfile" not in args))
            elif prog == "composer" and sub in ("install", "update") and len(positional) == 1:
                out.append(("composer", text, False if sub == "update" else True))
            elif prog == "bundle" and sub == "install":
                out.append(("bundle", text, any(a in _FROZEN["bundle"] for a in args)))
            elif prog == "poetry" and sub == "install":
                out.append(("poetry", text, True))
            elif prog == "uv" and sub == "sync":
                out.append(("uv", text, any(a in _FROZEN["uv"] for a in args)))
    return out


def loose_requirements(text: str) -> list[str]:
    """The requirements of a pip requirements file that fix no version (`Django>=6.0,<6.1`, `uwsgi`): each build may
    resolve another release. Pinned (`==`, `===`), hashed, URL and path lines, options and comments aside."""
    loose = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")) or "://" in line or line.startswith((".", "/")):
            continue
        spec = line.split(";", 1)[0].strip()
        if "==" in spec or " @ " in spec or "--hash" in line:
            continue
        loose.append(spec)
    return loose


def pip_requirement_files(command: str | None) -> list[tuple[str, bool]]:
    """The requirements files a build step installs with pip (`pip install -r requirements/production.txt`), and
    whether a constraints file (`-c`) or `--require-hashes` pins them."""
    out: list[tuple[str, bool]] = []
    for pipeline in pipelines(command or ""):
        for words in pipeline:
            prog, args = _program(words)
            if prog in ("python", "python3") and args[:2] == ["-m", "pip"]:
                prog, args = "pip", args[2:]
            elif prog in ("uv",) and args[:1] == ["pip"]:
                prog, args = "pip", args[1:]
            if prog not in ("pip", "pip3") or not args or args[0] != "install":
                continue
            pinned = any(a in ("-c", "--constraint", "--require-hashes") or a.startswith(("--constraint=", "-c"))
                         and a != "-c" for a in args)
            for i, a in enumerate(args):
                if a in ("-r", "--requirement") and i + 1 < len(args):
                    out.append((args[i + 1], pinned))
                elif a.startswith("--requirement="):
                    out.append((a.split("=", 1)[1], pinned))
    return out


def _dockerignore_regex(pattern: str) -> re.Pattern:
    """One .dockerignore pattern as Docker reads it (Go's filepath.Match, plus `**` for any number of folders)."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            if pattern.startswith("**/", i):
                out, i = out + "(?:.*/)?", i + 3
            else:
                out, i = out + ".*", i + 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[" and "]" in pattern[i + 1:]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1:end]
            out += "[" + ("^" + body[1:] if body.startswith("^") else body).replace("\\", "\\\\") + "]"
            i = end
        elif c == "\\" and i + 1 < len(pattern):
            out, i = out + re.escape(pattern[i + 1]), i + 1
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out)


def dockerignore_rules(lines: list[str]) -> list[tuple[bool, re.Pattern]]:
    """The rules of a .dockerignore, in order: (re-included by `!`, pattern). Comments and blank lines dropped;
    each pattern cleaned as Docker cleans it (`./a/` is `a`, a leading `/` is the context's root)."""
    rules: list[tuple[bool, re.Pattern]] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        body = posixpath.normpath(line[1:].strip() if negated else line).lstrip("/")
        if body and body != ".":
            try:
                rules.append((negated, _dockerignore_regex(body)))
            except re.error:
                continue
    return rules


def dockerignore_excludes(rules: list[tuple[bool, re.Pattern]], rel: str) -> bool:
    """Whether a path of the build context stays out of it: the last rule matching the path or one of its parent
    folders decides (a folder left out takes its files with it; `!` brings a path back)."""
    parts = rel.strip("/").split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for negated, rx in rules:
        if any(rx.fullmatch(p) for p in prefixes):
            excluded = not negated
    return excluded


# Files that hold keys by their kind (a keystore, a PEM file), read for what they hold before they count.
_KEY_FILES = re.compile(r"^(?:id_(?:rsa|ed25519|ecdsa|dsa)|[\w.-]+\.(?:pem|key|p12|pfx|jks|keystore))$", re.I)
_BINARY_KEYSTORES = (".p12", ".pfx", ".jks", ".keystore")
# Folders whose files are test or example material, not a deployment's keys.
_NOT_SHIPPED_FOLDERS = frozenset({"test", "tests", "testdata", "testing", "__tests__", "spec", "specs", "fixtures",
                                  "fixture", "mocks", "mock", "e2e", "example", "examples", "sample", "samples"})
_NOT_A_REAL_KEY = re.compile(r"(?:^|[._-])(?:test|tests|example|sample|dummy|fake|mock|snakeoil|insecure)(?:[._-]|$)",
                             re.I)


def secret_file_content(rel: str, text: str | None) -> str | None:
    """What a committed file holds that makes it a secret if an image carries it (`a private key`, `a keystore`,
    `a literal password (DB_PASSWORD)`), or None: a test or example file, a public key or certificate, an env
    file of placeholders. `text` is the file's text (None for a binary keystore)."""
    from tools.facts.secrets import PRIVATE_KEY, secret_value_kind

    name = posixpath.basename(rel)
    folders = {p.lower() for p in rel.split("/")[:-1]}
    if folders & _NOT_SHIPPED_FOLDERS or _NOT_A_REAL_KEY.search(name):
        return None
    if _KEY_FILES.match(name):
        if name.lower().endswith(_BINARY_KEYSTORES):
            return "a keystore"
        return "a private key" if text and PRIVATE_KEY.search(text) else None
    if is_secret_file(name) and name.startswith(".env") and text:
        for line in text.splitlines():
            m = re.match(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$", line)
            if m and not m.group(2).startswith("#"):
                kind = secret_value_kind(m.group(1), m.group(2))
                if kind:
                    return f"{kind} ({m.group(1)})"
    return None


def could_hold_secrets(name: str) -> bool:
    """A file name worth reading for `secret_file_content`: a key file, a keystore, a `.env`."""
    return bool(_KEY_FILES.match(name)) or (is_secret_file(name) and name.startswith(".env"))
