"""Golden cases of every check, as files (actionlint's testdata): `tests/checks/<ID>/<case>/` is a small repository
tree and its `expected.yaml`. Each case is committed into a fresh git repository and reviewed by the real session;
the findings of that check id must be exactly the expected ones (no missing, no extra). `ok-*` cases expect none.

expected.yaml:
  findings:          # each: at (`path:line`, `path`, a list of them, or absent), title, severity (when it matters);
                     # in titles, <commit> stands for a commit id and <fingerprint> for a new key's
  xfail: "reason"    # the check is still being fixed; removed once the case passes
  requires: [bin]    # binaries the check needs; the case is skipped, with the reason, without them
  cli: true          # run through `devops-agent review --format json` instead of in process
  setup: [...]       # steps after the first commit: {write: path, text} leaves a file changed, uncommitted;
                     # {commit: path, text} commits it unsigned; {gitlink: path} records an uninitialised
                     # submodule (as a clone without --recurse leaves it), or moves it; {submodule: path} adds
                     # the case's `<path>.sub/` folder as a real submodule, checked out; {product-key: demo or
                     # passphrase} commits Product's signer list, signed; {shallow: depth} reviews a shallow clone
  shown: [paths]     # the files docs/checks.md shows for this case (default: those the findings name)
  env: {NAME: value} # variables set for the review (a Notion token's variable, for example)
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _git
from tools.checks import CHECKS
from tools.checks.cases import CASES_DIR, Case, Expected, cases

ALL = cases()
CLI = Path(sys.executable).parent / "devops-agent"


def _repo(case: Case, tmp: Path) -> Path:
    repo = tmp / "repo"
    shutil.copytree(case.folder, repo, ignore=lambda d, names: ["expected.yaml"] if Path(d) == case.folder else [])
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", f"{case.check_id} {case.name}")
    for i, step in enumerate(case.setup):
        if "write" in step:  # changed in the work tree, not committed
            (repo / step["write"]).write_text(step["text"])
        elif "commit" in step:  # an unsigned commit, as anyone with a shell makes one
            (repo / step["commit"]).parent.mkdir(parents=True, exist_ok=True)
            (repo / step["commit"]).write_text(step["text"])
            _git(repo, "add", "--", step["commit"])
            _git(repo, "commit", "-q", "-m", step.get("message", f"edit {step['commit']}"))
        elif "gitlink" in step:  # a submodule pointer whose objects are not here (added, or moved on)
            (repo / step["gitlink"]).mkdir(parents=True, exist_ok=True)
            _git(repo, "update-index", "--add", "--cacheinfo", f"160000,{str(i + 1) * 40},{step['gitlink']}")
            _git(repo, "commit", "-q", "-m", f"submodule {step['gitlink']} at {str(i + 1) * 7}")
        elif "submodule" in step:  # a real submodule, checked out: its files are the case's `<path>.sub/` folder
            upstream = tmp / "upstream" / step["submodule"]
            shutil.copytree(repo / f"{step['submodule']}.sub", upstream)
            shutil.rmtree(repo / f"{step['submodule']}.sub")
            for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "first"]):
                _git(upstream, *args)
            _git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", f"file://{upstream}",
                 step["submodule"])
            _git(repo, "commit", "-q", "-m", f"submodule {step['submodule']}")
        elif "product-key" in step:  # Product's key and the signed signer list (the trust root)
            _product_key(repo, tmp / "keys" / "product", step["product-key"])
        elif "shallow" in step:  # the review runs in a clone of that depth (actions/checkout's default is 1)
            clone = tmp / "clone"
            _git(tmp, "-c", "protocol.file.allow=always", "clone", "-q", "--depth", str(step["shallow"]),
                 f"file://{repo}", str(clone))
            repo = clone
        else:
            raise ValueError(f"{case.folder}/expected.yaml: unknown setup step {step}")
    return repo


def _product_key(repo: Path, key: Path, kind: str) -> None:
    """`demo`: what `product-key init --no-passphrase` makes. `passphrase`: a key with a passphrase, which
    ssh-keygen reads from SSH_ASKPASS here as it would ask Product on a terminal."""
    from agent.gate.gate import Gate
    from agent.gate.ssh import read_public_key

    if kind == "demo":
        Gate(repo).init_product_key(key, "product@acme.example", passphrase=False)
        return
    assert kind == "passphrase", kind
    key.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "correct horse", "-C", "product", "-f", str(key)],
                   check=True)
    askpass = key.parent / "askpass.sh"
    askpass.write_text("#!/bin/sh\necho 'correct horse'\n")
    askpass.chmod(0o700)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SSH_ASKPASS", str(askpass))
        mp.setenv("SSH_ASKPASS_REQUIRE", "force")
        mp.setenv("DISPLAY", ":0")
        Gate(repo).add_signer(read_public_key(key), "product@acme.example", key)


@pytest.fixture(scope="session")
def cases_home(tmp_path_factory) -> Path:
    """One DEVOPS_AGENT_HOME for every case: its caches are keyed by content, so cases share them. zizmor audits
    each workflow alone (its cache key is the workflow's bytes): one call over every case's workflows fills the
    cache the sessions read, instead of one call per case."""
    from tools.zizmor import run_zizmor, zizmor_binary

    home = tmp_path_factory.mktemp("cases-home")
    root = tmp_path_factory.mktemp("cases-workflows")
    paths = []
    for case in ALL:
        for rel in case.files():
            if rel.startswith(".github/workflows/") and rel.endswith((".yml", ".yaml")):
                flat = f".github/workflows/{case.check_id}-{case.name}-{Path(rel).name}"
                (root / flat).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(case.folder / rel, root / flat)
                paths.append(flat)
    if paths and zizmor_binary() is not None:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DEVOPS_AGENT_HOME", str(home))
            run_zizmor(root, paths)
    return home


def _found(case: Case, repo: Path) -> list[tuple[tuple[str, ...], str, str]]:
    """(locations, title, severity) of the case's check id, from the session or the CLI's JSON."""
    if case.cli:
        proc = subprocess.run([str(CLI), "review", "--repo", str(repo), "--format", "json"],
                              capture_output=True, text=True, timeout=120, env={**os.environ, **case.env})
        assert proc.returncode in (0, 1, 3), proc.stderr
        rows = json.loads(proc.stdout)["findings"]
        return [(tuple(f"{loc['path']}:{loc['line']}" if loc.get("line") else loc["path"] for loc in f["locations"]),
                 f["title"], f["severity"]) for f in rows if f["id"] == case.check_id]
    from agent.session import open_session

    return [(tuple(str(loc) for loc in f.locations), f.title, f.severity)
            for f in open_session(repo).findings if f.id == case.check_id]


# What changes with each run of a case: a commit id (12 hex digits) and a new key's fingerprint.
_VARYING = [(re.compile(r"\b[0-9a-f]{12}\b"), "<commit>"), (re.compile(r"SHA256:[A-Za-z0-9+/]{43}"), "<fingerprint>")]


def _stable(title: str) -> str:
    for rx, name in _VARYING:
        title = rx.sub(name, title)
    return title


def _line(check_id: str, at: tuple[str, ...], title: str, severity: str | None) -> str:
    return Expected(at, _stable(title), severity).line(check_id)


@pytest.mark.parametrize("case", ALL, ids=[f"{c.check_id}/{c.name}" for c in ALL])
def test_case(case: Case, tmp_path, request, monkeypatch, cases_home):
    monkeypatch.setenv("DEVOPS_AGENT_HOME", str(cases_home))
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    for binary in case.requires:
        if shutil.which(binary) is None and not (Path(sys.executable).parent / binary).is_file():
            pytest.skip(f"{case.check_id} needs {binary}, not on PATH")
    if case.xfail:
        request.applymarker(pytest.mark.xfail(reason=case.xfail, strict=True))
    found = _found(case, _repo(case, tmp_path))
    # Severity is compared where the case states it; every other finding compares on place and title.
    got = sorted(_line(case.check_id, at, title, None) for at, title, _ in found)
    want = sorted(_line(case.check_id, e.at, e.title, None) for e in case.findings)
    assert got == want, "\n".join(["findings differ:", *[f"- {w}" for w in want if w not in got],
                                   *[f"+ {g}" for g in got if g not in want]])
    by_place = {(at, _stable(title)): severity for at, title, severity in found}
    for e in case.findings:
        if e.severity:
            got_severity = by_place[(e.at, _stable(e.title))]
            assert got_severity == e.severity, f"{e.line(case.check_id)}: got {got_severity}"


def test_every_check_has_a_case_that_finds_and_one_that_stays_silent():
    """Every registered id has both. The one that cannot run offline here: CI009 (actionlint, which has no offline
    wheel; its case runs where actionlint is on PATH). GHA000-GHA008 need zizmor, a dependency of the project."""
    folders = {p.name for p in CASES_DIR.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert sorted(folders - set(CHECKS)) == [], "case folders for ids that are not registered checks"
    missing = [i for i in CHECKS if not any(c.check_id == i and not c.ok for c in ALL)]
    silent = [i for i in CHECKS if not any(c.check_id == i and c.ok for c in ALL)]
    assert missing == [] and silent == [], f"without a finding case: {missing}; without an ok-* case: {silent}"
    for c in ALL:
        assert c.ok == (not c.findings), f"{c.check_id}/{c.name}: ok-* cases expect nothing, others something"


def test_catalogue_page_shows_each_checks_first_case():
    """docs/checks.md (generated, and tested equal to the code's output in tests/agent/test_outputs.py) carries
    each check's first finding case: its folder and its expected lines."""
    from tools.checks.cases import first_case

    page = (CASES_DIR.parent.parent / "docs" / "checks.md").read_text(encoding="utf-8")
    for check_id in CHECKS:
        found, ok = first_case(check_id)
        assert found is not None and ok is not None, check_id
        section = page.split(f"### {check_id}: ", 1)[1].split("\n### ", 1)[0]
        assert f"`tests/checks/{check_id}/{found.name}/`" in section, check_id
        assert all(e.line(check_id) in section for e in found.findings), check_id
        assert f"`tests/checks/{check_id}/{ok.name}/` leaves {check_id} silent" in section, check_id


def test_case_section_shows_the_files_the_findings_name_and_the_setup_as_written(tmp_path):
    from tools.checks.cases import case_markdown

    found = tmp_path / "DKF002" / "untagged"
    (found / "app").mkdir(parents=True)
    (found / "app" / "Dockerfile").write_text("FROM python\n")
    (found / "app" / "main.py").write_text("print(1)\n")
    (found / "expected.yaml").write_text("setup:\n  - write: app/main.py  # left uncommitted\n    text: |\n"
                                         "      print(2)\nfindings:\n  - at: app/Dockerfile:1\n    title: untagged\n")
    (tmp_path / "DKF002" / "ok-pinned").mkdir()
    (tmp_path / "DKF002" / "ok-pinned" / "expected.yaml").write_text("findings: []\n")
    page = "\n".join(case_markdown("DKF002", "Base image not pinned", tmp_path))
    assert "`app/Dockerfile`\n\n```dockerfile\nFROM python\n```" in page
    assert "Other files: `app/main.py`." in page and "print(1)" not in page
    assert "  - write: app/main.py  # left uncommitted\n    text: |\n      print(2)" in page
    assert "```text\napp/Dockerfile:1: DKF002 untagged\n```" in page
    assert "Correct: `tests/checks/DKF002/ok-pinned/` leaves DKF002 silent." in page
