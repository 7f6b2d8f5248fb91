"""`devops-agent review` on the corpus of public repositories (tests/corpus/manifest.yaml), scored against the
judgments beside it (tests/corpus/judgments.yaml). Never run in CI: it needs the local git mirrors.

Run: python benchmarks/corpus.py [--set tune|holdout|all] [--repo NAME] [--jobs N] [--mirrors DIR] [--timeout S]
Each manifest commit is checked out from its mirror (<mirrors>/<owner>+<name>/repo, submodules left
uninitialised) into a temporary work tree and reviewed by the real CLI as a subprocess. Every finding goes
to benchmarks/out/corpus-<set>.json. The table gives per repository the verdict, blockers/highs, TP/FP/unjudged
and the wall time; precision = TP/(TP+FP) over blocker and high findings, recall = real problems reported (by a
finding of any severity) / real problems; tune and holdout apart. Unjudged blocker/high findings are listed last.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
OUT = ROOT / "benchmarks" / "out"
SEVERITIES = ("blocker", "high", "medium", "low", "info")
JUDGED = ("blocker", "high")


def cli() -> list[str]:
    venv = ROOT / ".venv" / "bin" / "devops-agent"
    if venv.exists():
        return [str(venv)]
    exe = shutil.which("devops-agent")
    return [exe] if exe else [sys.executable, "-m", "agent.cli"]


class CorpusError(Exception):
    """A manifest or judgments file that cannot be read: one line for the user, exit 2."""


def load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise CorpusError(f"{path.relative_to(ROOT)}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    return data or {}


def mirror_of(mirrors: Path, repo: str) -> Path:
    return mirrors / repo.replace("/", "+") / "repo"


def normalise(text: str, tree: Path) -> str:
    """Titles must not depend on where the work tree was made (a `../x` context resolves beside it)."""
    return text.replace(str(tree), "<repo>").replace(str(tree.parent), "<outside>")


def _partial_checkout(tree: Path, commit: str) -> int | None:
    """Every file of `commit` whose blob the mirror holds, written out, HEAD detached at `commit`; the number of
    files left absent, or None when the commit itself is not there."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True)

    if git("update-ref", "--no-deref", "HEAD", commit).returncode != 0 or git("read-tree", commit).returncode != 0:
        return None
    written = git("checkout-index", "--all", "--force")
    return sum("unable to read" in line for line in written.stderr.splitlines())


def review(entry: dict, mirrors: Path, timeout: float) -> dict:
    name, repo, commit = entry["name"], entry["repo"], entry["commit"]
    record: dict = {"name": name, "repo": repo, "commit": commit, "set": entry["set"]}
    mirror = mirror_of(mirrors, repo)
    if not mirror.exists():
        return {**record, "skipped": f"no mirror at {mirror} (fetch {repo} first)"}
    with tempfile.TemporaryDirectory(prefix="corpus-") as tmp:
        tree = Path(tmp) / name
        clone = subprocess.run(["git", "clone", "-q", "--no-checkout", "--shared", str(mirror), str(tree)],
                               capture_output=True, text=True)
        checkout = clone.returncode == 0 and subprocess.run(
            ["git", "-C", str(tree), "-c", "advice.detachedHead=false", "checkout", "-q", commit],
            capture_output=True, text=True).returncode == 0
        if not checkout and clone.returncode == 0:
            # a snapshot without some large blobs (a video, a test fixture): check out every file it holds, at the
            # commit; the files it lacks stay tracked and absent, as in a checkout whose LFS objects were not pulled
            missing = _partial_checkout(tree, commit)
            checkout = missing is not None
            if checkout:
                record["absent_files"] = missing
        if not checkout:
            return {**record, "skipped": f"cannot check out {commit} from {mirror}"}
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
        start = time.perf_counter()
        try:
            run = subprocess.run([*cli(), "review", "--repo", str(tree), "--format", "json"],
                                 capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp)
        except subprocess.TimeoutExpired:
            return {**record, "seconds": round(time.perf_counter() - start, 2), "exit": None,
                    "verdict": "TIMEOUT", "findings": []}
        seconds = round(time.perf_counter() - start, 2)
        try:
            brief = json.loads(run.stdout)
        except json.JSONDecodeError:
            tail = (run.stderr.strip().splitlines() or ["no output"])[-1]
            return {**record, "seconds": seconds, "exit": run.returncode, "verdict": "ERROR",
                    "error": normalise(tail, tree), "findings": []}
    findings = []
    for f in brief.get("findings", []):
        locs = f.get("locations") or [{}]
        loc = locs[0]
        paths = list(dict.fromkeys(normalise(x.get("path") or "", tree) for x in locs))
        findings.append({"id": f["id"], "severity": f["severity"], "path": normalise(loc.get("path") or "", tree),
                         "line": loc.get("line"), "title": normalise(f.get("title", ""), tree),
                         **({"paths": paths} if len(paths) > 1 else {})})
    return {**record, "seconds": seconds, "exit": run.returncode, "verdict": brief.get("verdict"),
            "environments": [{"name": e.get("name"), "files": e.get("files")} for e in brief.get("environments", [])],
            "findings": findings}


def matches(rule: dict, repo: str, finding: dict, any_location: bool = False) -> bool:
    """A judgment or a problem's matcher: repo, check id(s), path glob, and a regex on the title (the subject).
    A judgment's path is the finding's first location (what it is keyed on); a problem is reported by a finding
    that names its file at any of its locations (`any_location`: one finding for the Dockerfiles FROM one ended
    base names each of them)."""
    if rule.get("repo") not in (None, repo):
        return False
    checks = rule.get("check", rule.get("checks"))
    if checks is not None and finding["id"] not in ([checks] if isinstance(checks, str) else checks):
        return False
    path = rule.get("path")
    paths = (finding.get("paths") or [finding["path"]]) if any_location else [finding["path"]]
    if path is not None and not any(fnmatch.fnmatchcase(p, path) for p in paths):
        return False
    subject = rule.get("subject", rule.get("title"))
    return subject is None or re.search(subject, finding["title"]) is not None


def score(record: dict, judgments: list[dict], problems: list[dict]) -> None:
    name = record["name"]
    mine = [j for j in judgments if j.get("repo") == name]
    for f in record.get("findings", []):
        if f["severity"] not in JUDGED:
            continue
        rule = next((j for j in mine if matches(j, name, f)), None)
        f["judgment"] = rule["verdict"] if rule else None
        if rule:
            f["reason"] = rule.get("reason", "")
    record["problems"] = []
    for p in problems:
        if p.get("repo") != name:
            continue
        rules = p.get("match") or []
        hit = next((f for f in record.get("findings", []) for r in rules if matches(r, name, f, any_location=True)),
                   None)
        record["problems"].append({"id": p["id"], "found": hit is not None,
                                   "by": f"{hit['id']} {hit['path']}:{hit['line']}" if hit else None})


def tally(records: list[dict]) -> dict:
    t = {"tp": 0, "fp": 0, "unjudged": 0, "problems": 0, "found": 0, "seconds": 0.0}
    for r in records:
        for f in r.get("findings", []):
            if f["severity"] in JUDGED:
                key = {"TP": "tp", "FP": "fp"}.get(f.get("judgment") or "", "unjudged")
                t[key] += 1
        t["problems"] += len(r.get("problems", []))
        t["found"] += sum(p["found"] for p in r.get("problems", []))
        t["seconds"] += r.get("seconds", 0.0)
    return t


def ratio(a: int, b: int) -> str:
    return f"{100 * a / b:5.1f}% ({a}/{b})" if b else "    - (0/0)"


def report(records: list[dict]) -> None:
    head = f"{'repository':26} {'set':7} {'verdict':8} {'exit':>4} {'B':>3} {'H':>3} {'M':>3} {'L':>3}" \
           f" {'TP':>3} {'FP':>3} {'?':>3} {'found':>6} {'secs':>6}"
    print(head)
    print("-" * len(head))
    for r in records:
        if "skipped" in r:
            print(f"{r['name']:26} {r['set']:7} skipped: {r['skipped']}")
            continue
        sev = {s: sum(f["severity"] == s for f in r["findings"]) for s in SEVERITIES}
        t = tally([r])
        print(f"{r['name']:26} {r['set']:7} {r['verdict'] or '-':8} {str(r['exit']):>4} {sev['blocker']:>3}"
              f" {sev['high']:>3} {sev['medium']:>3} {sev['low']:>3} {t['tp']:>3} {t['fp']:>3} {t['unjudged']:>3}"
              f" {t['found']:>2}/{t['problems']:<3} {r['seconds']:6.1f}")
        if r.get("error"):
            print(f"    error: {r['error']}")
    print()
    for part in ("tune", "holdout"):
        rs = [r for r in records if r["set"] == part and "skipped" not in r]
        if not rs:
            continue
        t = tally(rs)
        sev = {s: sum(f["severity"] == s for r in rs for f in r["findings"]) for s in SEVERITIES}
        nogo = sum(r["verdict"] == "NO-GO" for r in rs)
        print(f"{part:8} repos {len(rs):2}  NO-GO {nogo:2}  blocker {sev['blocker']:3}  high {sev['high']:4}"
              f"  TP {t['tp']:3}  FP {t['fp']:4}  precision {ratio(t['tp'], t['tp'] + t['fp'])}"
              f"  unjudged {t['unjudged']:3}  recall {ratio(t['found'], t['problems'])}  time {t['seconds']:.1f}s")
    unjudged = [(r, f) for r in records for f in r.get("findings", [])
                if f["severity"] in JUDGED and f.get("judgment") is None]
    if unjudged:
        print(f"\nunjudged blocker/high findings ({len(unjudged)}):")
        for r, f in unjudged:
            print(f"  {r['name']:24} {f['severity']:7} {f['id']:7} {f['path']}:{f['line']}  {f['title']}")
    missed = [(r, p) for r in records for p in r.get("problems", []) if not p["found"]]
    if missed:
        print(f"\nreal problems not reported ({len(missed)}):")
        for r, p in missed:
            print(f"  {r['name']:24} {p['id']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=("tune", "holdout", "all"), default="all")
    ap.add_argument("--repo", help="run one repository of the manifest (its name or owner/name)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--mirrors", type=Path, default=Path(os.environ.get("CORPUS_MIRRORS", "/work/.mirror")))
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--score-only", action="store_true",
                    help="re-score benchmarks/out/corpus-<set>.json against the judgments without reviewing")
    ap.add_argument("--input", type=Path, help="with --score-only: a saved run to re-score instead (e.g. a baseline)")
    args = ap.parse_args(argv)
    entries = load_yaml(CORPUS / "manifest.yaml").get("repositories", [])
    if args.repo:
        entries = [e for e in entries if args.repo in (e["name"], e["repo"])]
        if not entries:
            print(f"no repository {args.repo!r} in tests/corpus/manifest.yaml", file=sys.stderr)
            return 2
    elif args.set != "all":
        entries = [e for e in entries if e["set"] == args.set]
    label = args.repo.replace("/", "+") if args.repo else args.set
    out = OUT / f"corpus-{label}.json"
    if args.score_only:
        source = args.input or out
        if not source.exists():
            print(f"no {source}: run without --score-only first", file=sys.stderr)
            return 2
        records = json.loads(source.read_text(encoding="utf-8"))["repositories"]
        if args.input:
            out = args.input
    else:
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            records = list(pool.map(lambda e: review(e, args.mirrors, args.timeout), entries))
        print(f"reviewed {len(records)} repositories in {time.perf_counter() - start:.1f}s wall\n")
    judged = load_yaml(CORPUS / "judgments.yaml")
    for r in records:
        score(r, judged.get("findings") or [], judged.get("problems") or [])
    OUT.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"repositories": records}, indent=1) + "\n", encoding="utf-8")
    report(records)
    print(f"\nall findings: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CorpusError as exc:
        print(f"corpus: {exc}", file=sys.stderr)
        sys.exit(2)
