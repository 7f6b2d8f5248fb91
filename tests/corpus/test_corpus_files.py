"""The corpus files are well formed and benchmarks/corpus.py scores what it says (no mirror, no network)."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
_spec = importlib.util.spec_from_file_location("corpus_runner", ROOT / "benchmarks" / "corpus.py")
corpus = importlib.util.module_from_spec(_spec)
sys.modules["corpus_runner"] = corpus
_spec.loader.exec_module(corpus)

MANIFEST = yaml.safe_load((HERE / "manifest.yaml").read_text(encoding="utf-8"))["repositories"]
JUDGED = yaml.safe_load((HERE / "judgments.yaml").read_text(encoding="utf-8"))
NAMES = {e["name"] for e in MANIFEST}


def test_manifest_names_commits_and_a_third_held_out():
    assert len(MANIFEST) >= 20
    assert len(NAMES) == len(MANIFEST), "repository names repeat"
    for e in MANIFEST:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", e["repo"]), e
        assert re.fullmatch(r"[0-9a-f]{40}", e["commit"]), e
        assert e["set"] in ("tune", "holdout"), e
        assert e.get("stack") and e.get("why"), e
    holdout = sum(e["set"] == "holdout" for e in MANIFEST)
    # a spent holdout joins the tune set, and a fresh one of at least 8 repositories (a quarter or more) is held out
    assert holdout >= 8 and 4 * holdout >= len(MANIFEST), "hold out a fresh quarter of the corpus"


def test_every_judgment_names_a_repository_a_verdict_a_reason_and_valid_patterns():
    for j in JUDGED["findings"]:
        assert j["repo"] in NAMES, j
        assert j["verdict"] in ("TP", "FP"), j
        assert j.get("reason", "").strip(), j
        re.compile(j.get("subject", ""))
    ids = [p["id"] for p in JUDGED["problems"]]
    assert len(ids) == len(set(ids)), "problem ids repeat"
    for p in JUDGED["problems"]:
        assert p["repo"] in NAMES, p
        assert p.get("what") and p.get("where"), p
        assert p["match"] and all(isinstance(m, dict) and m for m in p["match"]), p
        for m in p["match"]:
            re.compile(m.get("title", ""))


def _finding(check: str, severity: str, path: str, title: str) -> dict:
    return {"id": check, "severity": severity, "path": path, "line": 3, "title": title}


RULES = [
    {"repo": "shop", "check": "CMP008", "path": "deploy/*.yml", "subject": "DB_PASSWORD", "verdict": "TP", "reason": "r"},
    {"repo": "shop", "check": "XF007", "subject": "points at placeholder", "verdict": "FP", "reason": "r"},
]
PROBLEMS = [
    {"id": "shop-latest", "repo": "shop", "match": [{"check": "CMP003", "path": "compose.yaml", "title": "redis"}]},
    {"id": "shop-eol", "repo": "shop", "match": [{"path": "api/Dockerfile", "title": "end of life"}]},
]


def test_scoring_counts_tp_fp_unjudged_and_problems_reported_at_any_severity():
    record = {"name": "shop", "set": "tune", "seconds": 1.5, "findings": [
        _finding("CMP008", "high", "deploy/prod.yml", "api: DB_PASSWORD is a literal"),
        _finding("CMP008", "high", "compose.yaml", "api: DB_PASSWORD is a literal"),  # path outside the glob
        _finding("XF007", "high", "compose.yaml", "api HOST points at placeholder, not a service"),
        _finding("CMP003", "low", "compose.yaml", "cache runs redis:latest"),  # low: not judged, but reports
        _finding("XF007", "medium", "compose.yaml", "x points at placeholder"),  # medium: never judged
    ]}
    corpus.score(record, RULES, PROBLEMS)
    assert [f.get("judgment") for f in record["findings"]] == ["TP", None, "FP", None, None]
    assert record["problems"] == [{"id": "shop-latest", "found": True, "by": "CMP003 compose.yaml:3"},
                                  {"id": "shop-eol", "found": False, "by": None}]
    t = corpus.tally([record])
    assert (t["tp"], t["fp"], t["unjudged"], t["problems"], t["found"]) == (1, 1, 1, 2, 1)


def test_a_problem_is_reported_by_a_finding_that_names_its_file_at_any_location_a_judgment_by_the_first():
    grouped = {**_finding("PRD004", "high", "Dockerfile", "Dockerfile and 1 more Dockerfile(s): FROM node:14: end of life"),
               "paths": ["Dockerfile", "api/Dockerfile"]}
    record = {"name": "shop", "set": "tune", "findings": [grouped]}
    rules = [{"repo": "shop", "check": "PRD004", "path": "api/Dockerfile", "subject": "node", "verdict": "FP",
              "reason": "r"}]
    corpus.score(record, rules, PROBLEMS)
    assert record["problems"][1] == {"id": "shop-eol", "found": True, "by": "PRD004 Dockerfile:3"}
    assert record["findings"][0]["judgment"] is None  # keyed on the path it is shown at


def test_a_judgment_of_another_repository_never_applies():
    record = {"name": "other", "set": "holdout", "findings": [
        _finding("CMP008", "blocker", "deploy/prod.yml", "api: DB_PASSWORD is a literal")]}
    corpus.score(record, RULES, PROBLEMS)
    assert record["findings"][0]["judgment"] is None and record["problems"] == []


def test_titles_do_not_depend_on_where_the_work_tree_was_made(tmp_path):
    tree = tmp_path / "shop"
    title = f"test: vote build context {tmp_path}/vote does not exist; {tree}/x"
    assert corpus.normalise(title, tree) == "test: vote build context <outside>/vote does not exist; <repo>/x"


def test_a_missing_mirror_is_one_skipped_line(tmp_path):
    entry = {"name": "shop", "repo": "acme/shop", "commit": "0" * 40, "set": "tune"}
    record = corpus.review(entry, tmp_path, timeout=5)
    assert record["skipped"].startswith("no mirror at ") and "acme/shop" in record["skipped"]


def test_a_judgments_file_that_is_not_yaml_is_one_line(tmp_path, monkeypatch):
    bad = tmp_path / "judgments.yaml"
    bad.write_text("findings:\n  - {repo: a, reason: x: y\n", encoding="utf-8")
    monkeypatch.setattr(corpus, "ROOT", tmp_path)
    with pytest.raises(corpus.CorpusError, match=r"judgments.yaml:\d+: not valid YAML"):
        corpus.load_yaml(bad)


def test_a_snapshot_missing_a_blob_is_checked_out_without_it(tmp_path):
    import subprocess

    def git(cwd, *args):
        return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True).stdout.strip()

    src = tmp_path / "src"
    src.mkdir()
    git(src, "init", "-q")
    (src / "compose.yaml").write_text("services:\n  web:\n    image: nginx:1.27\n")
    (src / "video.bin").write_text("a large file the snapshot left out\n")
    git(src, "add", "-A")
    git(src, "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "x")
    commit = git(src, "rev-parse", "HEAD")
    blob = git(src, "rev-parse", "HEAD:video.bin")
    (src / ".git/objects" / blob[:2] / blob[2:]).unlink()
    tree = tmp_path / "tree"
    subprocess.run(["git", "clone", "-q", "--no-checkout", "--shared", str(src), str(tree)], check=True)
    assert corpus._partial_checkout(tree, commit) == 1
    assert (tree / "compose.yaml").read_text().startswith("services:") and not (tree / "video.bin").exists()
    assert git(tree, "rev-parse", "HEAD") == commit
