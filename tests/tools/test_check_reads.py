"""The Dockerfile checks read repository files (scripts a stage runs, requirement files, bake files, .dockerignore)
through one bounded reader: a regular file inside the checkout, capped; a symlink out of it or to a device reads
nothing."""
from __future__ import annotations

import os

from tools.checks.dockerfile_checks import _repo_text


def test_a_regular_file_inside_the_checkout_is_read_up_to_the_cap(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "install.sh").write_text("curl -L https://x/y.tar.gz | tar -xz\n")
    (repo / "big.txt").write_text("x" * 5000)
    assert _repo_text(repo, repo / "install.sh") == "curl -L https://x/y.tar.gz | tar -xz\n"
    assert _repo_text(repo, repo / "big.txt", cap=1000) is None
    assert _repo_text(repo, repo / "absent.sh") is None


def test_a_symlink_out_of_the_checkout_or_to_a_device_reads_nothing(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "secret.txt").write_text("TOKEN=abc\n")
    os.symlink(tmp_path / "secret.txt", repo / "outside.sh")
    os.symlink("/dev/zero", repo / "zero.sh")
    assert _repo_text(repo, repo / "outside.sh") is None
    assert _repo_text(repo, repo / "zero.sh") is None
