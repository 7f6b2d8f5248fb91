"""zizmor (GitHub Actions security audits), run offline over the workflows a session loaded.

Folded in as hadolint is: the binary comes from the `zizmor` wheel (found on PATH or beside the interpreter),
one call lints every workflow (`--offline --format json`), results are cached by content (the binary, each
workflow's bytes, the repository's zizmor config), and when it is missing or fails, `ZizmorRun.notes` says so:
never a crash, never a silence.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

# zizmor reads its config from these, looked up from the repository root.
_CONFIGS = ("zizmor.yml", "zizmor.yaml", ".github/zizmor.yml", ".github/zizmor.yaml")
TIMEOUT = 60.0


@dataclass
class ZizmorIssue:
    audit: str  # zizmor's audit id: template-injection, dangerous-triggers...
    severity: str  # zizmor's: High | Medium | Low | Informational | Unknown
    confidence: str  # High | Medium | Low | Unknown
    line: int | None  # 1-based line of the primary location
    message: str  # the audit's description
    annotation: str = ""  # what the primary location says (`this step`, `attacker-controllable code`...)
    job: str | None = None  # the job the primary location sits in, when it is inside one
    feature: str = ""  # what the primary location points at (the one expression a template injection expands)


@dataclass
class ZizmorRun:
    results: dict[str, list[ZizmorIssue]] = field(default_factory=dict)  # repo-relative workflow -> issues
    notes: list[str] = field(default_factory=list)  # why it did not run at all
    skipped: dict[str, str] = field(default_factory=dict)  # workflow -> why zizmor did not audit it
    failed: dict[str, str] = field(default_factory=dict)  # workflow -> the error zizmor stopped on, auditing it alone
    ran: bool = True
    seconds: float = 0.0


def zizmor_binary() -> str | None:
    found = shutil.which("zizmor")
    if found:
        return found
    beside = Path(sys.executable).parent / "zizmor"  # the wheel installs next to the interpreter
    return str(beside) if beside.is_file() else None


def run_zizmor(root: Path, paths: list[str], timeout: float = TIMEOUT) -> ZizmorRun:
    """Audit the repo-relative workflow `paths` under `root`, offline, with one zizmor call for the files the
    cache does not hold."""
    started = time.monotonic()
    root = Path(root)
    run = ZizmorRun(results={p: [] for p in paths})
    binary = zizmor_binary()
    if binary is None:
        run.ran = False
        run.notes.append("could not run zizmor: not found on PATH (pip install zizmor)")
        return run
    keys = _keys(binary, root, paths)
    todo = []
    for p in paths:
        hit = _cached(keys.get(p))
        if hit is None:
            todo.append(p)
        else:
            run.results[p] = hit
    if todo:
        raw, error = _zizmor_json(binary, root, todo, timeout)
        if raw is None and not error.startswith(("[Errno", "Command")):
            # zizmor stops the whole call on one workflow an audit of its own fails on: audit each alone, so
            # one file's failure costs that file (said, and the verdict cannot tell), not every workflow's audit
            deadline = started + timeout
            first, raw, error = error, [], ""
            for p in todo:
                alone, why = ((None, first) if len(todo) == 1 else
                              _zizmor_json(binary, root, [p], max(1.0, deadline - time.monotonic())))
                if alone is None:
                    run.failed[p] = why
                else:
                    raw.extend(alone)
                    error += why
            if len(todo) > 1 and len(run.failed) == len(todo) and len(set(run.failed.values())) == 1:
                raw, error = None, first  # the same error on every file: zizmor itself does not run
                run.failed = {}
        if raw is None:
            run.ran = False
            run.notes.append(f"could not run zizmor: {error}")
        else:
            for item in raw:
                path, issue = _issue(item)
                if path in run.results:
                    run.results[path].append(issue)
            run.skipped = {p: why for p, why in _skipped(error).items() if p in run.results}
            for p in todo:
                if p not in run.skipped and p not in run.failed:
                    _store(keys.get(p), run.results[p])
    run.seconds = time.monotonic() - started
    return run


def _zizmor_json(binary: str, root: Path, paths: list[str], timeout: float) -> tuple[list | None, str]:
    # --no-exit-codes: the exit code reflects a failure of zizmor, not findings; --offline: no network at all.
    cmd = [binary, "--offline", "--format", "json", "--no-progress", "--no-exit-codes", "--color", "never", *paths]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GH_", "GITHUB_", "ZIZMOR_"))}
    try:
        proc = subprocess.run(cmd, cwd=str(root), capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    if proc.returncode != 0:
        if "no inputs collected" in proc.stderr and _skipped(proc.stderr):
            return [], proc.stderr  # every workflow given was one zizmor cannot read: each is said, none audited
        lines = [line.strip() for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        said = next((line for line in lines if line.startswith(("error:", "fatal:"))), None)
        return None, said or (lines[0] if lines else f"exit {proc.returncode}")
    try:
        data = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        return None, "unreadable JSON output"
    return (data, proc.stderr or "") if isinstance(data, list) else (None, "unexpected JSON output")


# zizmor warns, and goes on, when an input is not a workflow it can read (a schema violation, bad YAML).
_SKIPPED = re.compile(r"failed to (?:validate|load|parse) file://(\S+?)(?: as \w+)?: (.*)$")


def _skipped(stderr: str) -> dict[str, str]:
    out = {}
    for line in stderr.splitlines():
        m = _SKIPPED.search(line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def _issue(item: dict) -> tuple[str | None, ZizmorIssue]:
    det = item.get("determinations") or {}
    locations = item.get("locations") or []
    primary = next((loc for loc in locations if (loc.get("symbolic") or {}).get("kind") == "Primary"),
                   locations[0] if locations else {})
    symbolic = primary.get("symbolic") or {}
    key = symbolic.get("key") or {}
    path = (key.get("Local") or {}).get("verbatim_path") if isinstance(key, dict) else None
    row = (((primary.get("concrete") or {}).get("location") or {}).get("start_point") or {}).get("row")
    route = [step.get("Key") if isinstance(step, dict) else None
             for step in ((symbolic.get("route") or {}).get("route") or [])]
    job = str(route[1]) if len(route) >= 2 and route[0] == "jobs" and route[1] is not None else None
    return path, ZizmorIssue(
        audit=str(item.get("ident", "")), severity=str(det.get("severity", "Unknown")),
        confidence=str(det.get("confidence", "Unknown")), line=row + 1 if isinstance(row, int) else None,
        message=" ".join(str(item.get("desc", "")).split()), annotation=" ".join(str(symbolic.get("annotation", "")).split()),
        job=job, feature=_feature(primary))


def _feature(primary: dict) -> str:
    """The text zizmor points at: the one expression a template injection names (its subfeature), else the
    location's whole text."""
    sub = ((primary.get("symbolic") or {}).get("feature_kind") or {})
    fragment = (sub.get("Subfeature") or {}).get("fragment") if isinstance(sub, dict) else None
    raw = fragment.get("Raw") if isinstance(fragment, dict) else None
    if isinstance(raw, str) and raw.strip():
        return raw if "${{" in raw else "${{ " + raw + " }}"
    return str((primary.get("concrete") or {}).get("feature") or "")[:4000]


def _keys(binary: str, root: Path, paths: list[str]) -> dict[str, str]:
    """Each workflow's cache key: zizmor's identity, the file's bytes, the repository's zizmor config. Not the
    path: the audits read the content only."""
    try:
        st = os.stat(binary)
        parts = [f"{binary}|{st.st_size}|{st.st_mtime_ns}|v3"]
        for name in _CONFIGS:
            conf = root / name
            parts.append(hashlib.sha256(conf.read_bytes()).hexdigest() if conf.is_file() else "-")
    except OSError:
        return {}
    keys = {}
    for p in paths:
        try:
            digest = hashlib.sha256((root / p).read_bytes()).hexdigest()
        except OSError:
            continue
        keys[p] = hashlib.sha256("|".join([*parts, digest]).encode()).hexdigest()
    return keys


def _cache_dir() -> Path:
    from tools.schemas import cache_root

    return cache_root() / "zizmor"


def _cached(key: str | None) -> list[ZizmorIssue] | None:
    if key is None:
        return None
    try:
        data = json.loads((_cache_dir() / key[:2] / f"{key}.json").read_text(encoding="utf-8"))
        return [ZizmorIssue(**d) for d in data]
    except (OSError, ValueError, TypeError):
        return None


def _store(key: str | None, issues: list[ZizmorIssue]) -> None:
    if key is None:
        return
    path = _cache_dir() / key[:2] / f"{key}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps([asdict(i) for i in issues]), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only home only costs the speed-up
