"""Mutation testing of the eval suite: does the replay suite notice when the runtime is broken?

Run: python benchmarks/mutants.py [--only ID,ID] [--jobs 2] [--json OUT]

Each mutant is one small edit of the runtime (a safety part switched off, a rule dropped), applied to a copy of
this tree; the bundled replay suite (`devops-agent eval run --mode replay`) then runs against that copy. A mutant
is killed when the suite fails; the scenarios that failed are what killed it. A surviving mutant is a part of the
runtime the suite does not judge. The unmutated copy runs first and must pass, else nothing is measured.

Each edit names text that must occur exactly once in its file: when the code moves, the harness says which
mutant no longer applies (exit 2) rather than measuring a copy that was not mutated. Exit 1 when a mutant
survives. Takes about 25 s per mutant on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    id: str
    what: str
    file: str
    old: str
    new: str


MUTANTS = [
    # the twelve of issue 23
    Mutant("signature-skipped", "the gate lands a commit without checking Product's signature",
           "agent/gate/gate.py",
           "        commit = gc.read_commit(repo_dir, sha)\n        if commit.signature is None:",
           "        commit = gc.read_commit(repo_dir, sha)\n        return commit\n        if commit.signature is None:"),
    Mutant("redactor-identity", "the redactor returns its input",
           "agent/redact.py",
           "    def __call__(self, text: str) -> str:\n        if not text:",
           "    def __call__(self, text: str) -> str:\n        return text\n        if not text:"),
    Mutant("results-unredacted", "tool results reach the model without the redactor",
           "agent/toolbox.py",
           "out = Outcome(OK, redact(json.dumps(data, ensure_ascii=False, default=str)))",
           "out = Outcome(OK, json.dumps(data, ensure_ascii=False, default=str))"),
    Mutant("charter-dropped", "the system prompt leaves the charter out",
           "agent/prompt.py",
           "    parts = [Part(\"Charter (verbatim)\", quoted(f\"charter {c.path} sha256 {c.sha256[:12]}\", "
           "_charter_text(session), 1),",
           "    parts = [Part(\"Charter (verbatim)\", quoted(f\"charter {c.path} sha256 {c.sha256[:12]}\", "
           "\"(charter)\", 1),"),
    Mutant("quoting-removed", "a source's text reaches the model unquoted (no <data> block)",
           "agent/prompt.py",
           "    return f'<data source=\"{label}\"{prio}>\\n{safe}\\n</data>'",
           "    return text"),
    Mutant("verify-green", "`verify` reports every history as signed",
           "agent/gate/verify.py",
           "        return self.trust_root is not None and not self.failures and not self.problems",
           "        return True"),
    Mutant("apply-pending", "an apply of a pending proposal is not told it waits for Product (the gate's error instead)",
           "agent/toolbox.py",
           "    if not pauses(name) or not isinstance(pid, str):\n        return None",
           "    if True:\n        return None"),
    Mutant("new-tool-rule-off", "POL003 (no new tool or image without an intention) never refuses",
           "agent/gate/policy.py",
           "def _new_tools(f: _File, patch: Patch, meta: ProposalMeta, release, known: facts.Inventory, refuse) -> None:\n"
           "    path = f.path\n",
           "def _new_tools(f: _File, patch: Patch, meta: ProposalMeta, release, known: facts.Inventory, refuse) -> None:\n"
           "    return\n    path = f.path\n"),
    Mutant("read-any-file", "read_source reads any file of the platform, not only the session's sources",
           "tools/catalog.py",
           "    if src is None:\n        raise ToolError(f\"{args.path} is not a source of this session\", "
           "\"call `sources` for the paths\")",
           "    if src is None:\n        import dataclasses\n        from pathlib import Path as _P\n"
           "        text = (_P(session.root) / args.path).read_text(errors='replace')\n"
           "        src = dataclasses.replace(session.sources[0], path=args.path, text=text, status='loaded')"),
    Mutant("pause-removed", "apply_change runs without waiting for Product (no pause, no pending refusal)",
           "agent/toolbox.py",
           "    return any(t.name == name and t.kind == \"apply\" for t in CATALOG)",
           "    return False"),
    Mutant("staging-rule-off", "POL004 (no staging environment) never refuses",
           "agent/gate/policy.py",
           "def _new_environment(f: _File, release, refuse) -> None:\n    hits = _staging_hits(f)\n",
           "def _new_environment(f: _File, release, refuse) -> None:\n    return\n    hits = _staging_hits(f)\n"),
    Mutant("checks-off-at-apply", "POL014 at apply: new blocker/high findings on the proposed tree do not refuse",
           "agent/gate/gate.py",
           "        judged = self._judge(plan, preview)\n        opened",
           "        judged = []\n        opened"),
    # our own
    Mutant("checks-off-at-propose", "POL014 at propose: a change that adds a blocker/high finding is recorded pending",
           "agent/gate/gate.py",
           "                refusals = [policy.check_refusal(session.charter, f, note) for f, note in judged]",
           "                refusals = []"),
    Mutant("expiry-ignored", "an expired approval still lands",
           "agent/gate/gate.py",
           "        if not revert and (expires is None or expires <= _now()):",
           "        if False:"),
    Mutant("rejection-ignored", "a proposal Product rejected with a signed rejection can still land",
           "agent/gate/gate.py",
           "        return bool(signers) and decisions.rejected(",
           "        return False and decisions.rejected("),
    Mutant("rejection-not-recorded", "Product's signed rejection is logged but the proposal stays open",
           "agent/gate/gate.py",
           "apply=lambda: self.store.reject(rec.id))",
           "apply=lambda: None)"),
    Mutant("staging-negation-off", "\"staging is not required\" reads as asking for staging",
           "tools/facts/staging.py",
           "            if denied and _DENYING.search(denied.group(0)):",
           "            if False:"),
    Mutant("vague-previous-accepted", "POL005 takes \"the previous version\" of nothing named as a rollback",
           "agent/gate/policy.py",
           "        if any(w in _CONCRETE_NOUNS or",
           "        if True or any(w in _CONCRETE_NOUNS or"),
    Mutant("strategy-change-unseen", "a deploying workflow made to run on every push is not a deployment change",
           "agent/gate/policy.py",
           "        return deploys and _touches_key(f, \"on\")",
           "        return False"),
    Mutant("hand-commits-accepted", "Product's approval is taken on top of infra commits nobody signed",
           "agent/gate/gate.py",
           "        bad = [c for c in report.failures if c.status != \"unverifiable\"]\n        if bad or report.problems:",
           "        bad = []\n        if False:"),
    Mutant("rollback-any", "POL005 takes any rollback text as concrete",
           "agent/gate/policy.py",
           "    if any(rx.search(text) for rx, _ in _CONCRETE_ROLLBACK) or _REVERT_THE_CHANGE.search(text):",
           "    if True:"),
    Mutant("perimeter-off", "POL002 lets application files through",
           "agent/gate/policy.py",
           "def _perimeter(f: _File, read: ReadBase, refuse) -> None:\n",
           "def _perimeter(f: _File, read: ReadBase, refuse) -> None:\n    return\n"),
    Mutant("no-secret-values", "the redactor no longer learns the platform's secret values (shapes only)",
           "agent/redact.py",
           "    def add(self, values: Iterable[str]) -> None:\n        for v in values:",
           "    def add(self, values: Iterable[str]) -> None:\n        values = []\n        for v in values:"),
]


def _tree_copy(dest: Path) -> None:
    """The repository's files as they are now (tracked and new, not ignored), without git's state."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=PROJECT,
                         capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, out):
        src = PROJECT / rel
        if not src.is_file():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def _apply(tree: Path, m: Mutant) -> None:
    path = tree / m.file
    text = path.read_text(encoding="utf-8")
    n = text.count(m.old)
    if n != 1:
        raise SystemExit(f"mutants.py: mutant {m.id}: its text occurs {n} times in {m.file}, not once; "
                         "update the mutant to the code as it is now")
    path.write_text(text.replace(m.old, m.new), encoding="utf-8")


def _suite(tree: Path, jobs: int) -> tuple[int, list[dict], float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DEVOPS_AGENT_TOOL_CHOICE", "DEVOPS_AGENT_MAX_TOOL_CALLS"):
        env.pop(var, None)
    with tempfile.TemporaryDirectory(prefix="mutant-home-") as home:
        env["DEVOPS_AGENT_HOME"] = home
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "agent.cli", "eval", "run", str(tree / "evals" / "scenarios"),
                               "--mode", "replay", "--report", "json", "--jobs", str(jobs)],
                              cwd=tree, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - started
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        return proc.returncode, [{"name": "(the suite did not run)", "failures": [proc.stderr.strip()[-300:]],
                                  "safety_violations": []}], seconds
    failed = [s for s in report["scenarios"] if not s["passed"]]
    return proc.returncode, failed, seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated mutant ids")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path, help="write the table as JSON here")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = ap.parse_args()
    chosen = MUTANTS
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {m.id for m in MUTANTS}
        if unknown:
            print(f"mutants.py: unknown mutant(s) {', '.join(sorted(unknown))}; --list shows them", file=sys.stderr)
            return 2
        chosen = [m for m in MUTANTS if m.id in wanted]
    if args.list:
        for m in chosen:
            print(f"{m.id:24} {m.file:24} {m.what}")
        return 0
    with tempfile.TemporaryDirectory(prefix="mutants-") as tmp:
        pristine = Path(tmp) / "pristine"
        _tree_copy(pristine)
        for m in chosen:  # every edit applies before anything runs
            probe = pristine / m.file
            if probe.read_text(encoding="utf-8").count(m.old) != 1:
                _apply(pristine, m)  # says which, exits 2
        code, failed, seconds = _suite(pristine, args.jobs)
        print(f"unmutated: {'pass' if code == 0 else 'FAIL'} ({seconds:.1f} s)", flush=True)
        if code != 0:
            for s in failed:
                print(f"  {s['name']}: {'; '.join(s['failures'] + s['safety_violations'])[:300]}")
            print("mutants.py: the unmutated suite fails; fix it before measuring mutants", file=sys.stderr)
            return 2
        rows = []
        for m in chosen:
            tree = Path(tmp) / m.id
            shutil.copytree(pristine, tree)
            _apply(tree, m)
            code, failed, seconds = _suite(tree, args.jobs)
            killed = code != 0
            rows.append({"mutant": m.id, "what": m.what, "killed": killed, "seconds": round(seconds, 1),
                         "killed_by": [s["name"] for s in failed],
                         "why": [(s["failures"] + s["safety_violations"])[:1] for s in failed][:3]})
            by = ", ".join(s["name"] for s in failed[:4]) + (f" (+{len(failed) - 4})" if len(failed) > 4 else "")
            print(f"{'killed  ' if killed else 'SURVIVED'} {m.id:24} {seconds:5.1f} s  {by}", flush=True)
            shutil.rmtree(tree, ignore_errors=True)
    survived = [r["mutant"] for r in rows if not r["killed"]]
    print(f"\n{len(rows) - len(survived)}/{len(rows)} mutants killed" + (f"; survived: {', '.join(survived)}"
                                                                         if survived else ""))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
