"""The charter is read like every source (issue 20, 5): a regular file, inside the repository, under the cap;
anything else is one line and exit 2, in bounded time (never a read of /dev/zero or a wait on stdin)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.core.files import SourceReadError, read_source_file

ROOT = Path(__file__).resolve().parent.parent
CHARTER = ".codex/agents/devops-engineer.md"
COMPOSE = "services:\n  web:\n    image: nginx:1.25\n"
CHARTER_TEXT = "# Agent: DevOps (shop)\n\n## Sources de vérité (à charger)\n- compose: `docker-compose.yml`\n"


def _repo(tmp_path: Path, files: dict[str, str], links: dict[str, str] | None = None) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for rel, content in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(content, encoding="utf-8")
    for rel, target in (links or {}).items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, repo / rel)
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t", "-c", "commit.gpgsign=false", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "fixture"], check=True)
    return repo


def _review(repo: Path, *extra: str) -> subprocess.CompletedProcess:
    # stdin is a pipe nobody writes to: a reader that followed /dev/stdin would wait until the timeout
    return subprocess.run([sys.executable, "-m", "agent.cli", "review", "--repo", str(repo), *extra], cwd=ROOT,
                          stdin=subprocess.PIPE, capture_output=True, text=True, timeout=60)


def _refused(proc: subprocess.CompletedProcess, words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "cannot read the charter" in lines[0] and words in lines[0], lines[0]


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/stdin"])
def test_committed_charter_symlink_to_a_device_is_refused(tmp_path: Path, target: str) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": COMPOSE}, links={CHARTER: target})
    _refused(_review(repo), "resolves outside the repository")


def test_config_charter_naming_a_device_is_refused(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": COMPOSE, ".devops-agent.yaml": "charter: /dev/zero\n"})
    _refused(_review(repo), "/dev/zero is an absolute path")


def test_config_charter_that_is_a_fifo_in_the_repository_is_refused(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": COMPOSE, ".devops-agent.yaml": "charter: agents/charter.md\n"})
    (repo / "agents").mkdir()
    os.mkfifo(repo / "agents/charter.md")  # nobody writes: opening it for a blocking read would never return
    _refused(_review(repo), "agents/charter.md is not a regular file")


def test_charter_over_the_cap_is_refused_with_its_size(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": COMPOSE, ".devops-agent.yaml": "max_file_bytes: 1000\n",
                            CHARTER: CHARTER_TEXT + "- note\n" * 200})
    _refused(_review(repo), f"{CHARTER} is {len(CHARTER_TEXT.encode()) + 7 * 200} bytes, over the 1000-byte cap")


def test_charter_under_the_cap_is_read(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": COMPOSE, ".devops-agent.yaml": "max_file_bytes: 1000\n",
                            CHARTER: CHARTER_TEXT})
    proc = _review(repo, "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    assert '"role": "DevOps"' in proc.stdout


def test_explicit_charter_must_be_a_regular_file(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"docker-compose.yml": COMPOSE})
    _refused(_review(repo, "--charter", "/dev/zero"), "/dev/zero is not a regular file")


def test_reader_refuses_a_fifo_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(SourceReadError, match="is not a regular file"):
        read_source_file(fifo, 1000)


def test_reader_never_reads_past_the_cap_of_a_device(tmp_path: Path) -> None:
    link = tmp_path / "zero.md"
    os.symlink("/dev/zero", link)  # read unconfined (an explicit path): still not a regular file
    with pytest.raises(SourceReadError, match="is not a regular file"):
        read_source_file(link, 1000)
