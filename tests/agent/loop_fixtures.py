"""Fixtures of the loop's tests (imported by each module): one example platform per run, a fresh copy each test."""
from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    from agent.example import init_example

    return init_example(tmp_path_factory.mktemp("example") / "animesphere")


@pytest.fixture
def repo(template, tmp_path):
    dest = tmp_path / "animesphere"
    shutil.copytree(template, dest, symlinks=True)
    shutil.rmtree(dest / ".devops-agent", ignore_errors=True)
    return dest
