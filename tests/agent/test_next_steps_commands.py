"""Issue 20, cause 4: a file's text never becomes a command. A submodule path from a hostile `.gitmodules` reaches
the next steps only as one quoted argument, built by agent/core/hints.py, in the text output and in the JSON."""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: `python -m agent.cli` with a bare env

HOSTILE = "x `touch PWNED` y"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def _platform(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "compose.yaml").write_text(f"services:\n  web:\n    build: ./{HOSTILE}\n    image: ghcr.io/acme/web:1.0.0\n")
    (root / ".gitmodules").write_text(f'[submodule "web"]\n\tpath = {HOSTILE}\n\turl = https://example.org/web.git\n')
    _git(root, "init", "-q")
    _git(root, "add", "compose.yaml", ".gitmodules")
    # a gitlink with no checkout: the submodule is not initialised
    _git(root, "update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},{HOSTILE}")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "platform")
    return root


def test_a_hostile_submodule_path_is_one_quoted_argument_in_every_next_step(tmp_path):
    root = _platform(tmp_path)
    run = subprocess.run([sys.executable, "-m", "agent.cli", "review", "--repo", str(root), "--format", "json"],
                         capture_output=True, text=True, cwd=root, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                                                        "NO_COLOR": "1", "PYTHONPATH": str(ROOT)})
    brief = json.loads(run.stdout)
    commands = [s["command"] for s in brief["next_steps"] if "submodule" in s["command"]]
    assert commands, brief["next_steps"]
    assert any(HOSTILE in c for c in commands), commands
    for command in commands:
        argv = shlex.split(command)
        # the shell sees the path as one word after `--`: nothing of it runs
        assert argv == ["git", "submodule", "update", "--init", "--recursive"] or \
            argv == ["git", "submodule", "update", "--init", "--", HOSTILE], command
    # every finding that names a command carries it quoted the same way
    named = [f["command"] for f in brief["findings"] if f.get("command") and "submodule" in f["command"]]
    assert named and all(shlex.split(c)[-1] == HOSTILE for c in named if c.endswith("'"))
    assert not (root / "PWNED").exists() and not (tmp_path / "PWNED").exists()
    text = subprocess.run([sys.executable, "-m", "agent.cli", "review", "--repo", str(root)], capture_output=True,
                          text=True, cwd=root, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1",
                                                    "COLUMNS": "300", "PYTHONPATH": str(ROOT)}).stdout
    assert f"git submodule update --init -- '{HOSTILE}'" in text
    assert f"--init {HOSTILE}" not in text


def test_next_steps_read_each_finding_once(monkeypatch):
    """Issue 25: a propose step per file matched every finding of the review again (1.12 M regex matches at 1,000
    services). Each finding is now read once: the titles read for a concrete `--set` are those of the step's own."""
    from types import SimpleNamespace

    from agent import next_steps as module
    from tools.findings import Finding, Location

    files = 300
    findings = [Finding("CMP011", "medium", "availability", f"prod: svc{i} has no restart policy",
                        [Location(f"svc{i}/compose.yml", 3)]) for i in range(files)]
    findings += [Finding("DKF003", "medium", "security", f"svc{i}/Dockerfile: final stage runs as root",
                         [Location(f"svc{i}/Dockerfile", 1)]) for i in range(files)]
    matched = []

    class Counting:
        def match(self, text):
            matched.append(text)
            return module.re.match(r"^[\w.-]+: (?P<service>[\w.-]+) ", text)

    monkeypatch.setattr(module, "_SERVICE_OF_TITLE", Counting())
    session = SimpleNamespace(sources=[], findings=findings, charter_origin="repo", snapshot=None, not_run=[],
                              root=Path.cwd().resolve())
    steps = module.next_steps(session)
    assert len(steps) == 2 * files and len(matched) == files  # one title per CMP011 finding, none twice
    assert any("svc7/compose.yml:services.svc7.restart=unless-stopped" in s.command for s in steps)
