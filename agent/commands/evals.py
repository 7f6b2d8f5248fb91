"""The eval runner's commands: `eval run` and `eval list`. No rules: agent/evals scores."""
from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

from agent.commands import kit
from agent.commands.common import app, require_extra

eval_app = kit.Group(help="Eval scenarios: replay (scripted model), live (a real endpoint).", no_args_is_help=True)
app.add_group(eval_app, name="eval")

def _bundled() -> Path:
    import evals

    return Path(evals.__file__).resolve().parent / "scenarios"


class Mode(str, Enum):
    replay = "replay"
    live = "live"
    record = "record"


class EvalReport(str, Enum):
    text = "text"
    json = "json"
    junit = "junit"
    markdown = "markdown"


def _scenarios(paths: list[str]):
    from agent.evals.scenario import discover, load_scenario

    files = discover([Path(p) for p in paths] if paths else [_bundled()])
    if not files:
        from agent.core.errors import UserError

        raise UserError("no scenario.yaml found", f"pass scenario folders (the bundled ones are in {_bundled()})")
    return [load_scenario(f) for f in files]


@eval_app.command("run")
def eval_run(
    paths: list[str] = kit.Argument(None, help="Scenario folders or files (default: the bundled scenarios)."),
    mode: Mode = kit.Option(Mode.replay, "--mode", help="replay: the scenario's scripted model; live: a real model; "
                                                          "record: live, saved as replayable scenarios under --out."),
    k: int = kit.Option(1, "--k", help="Trials per scenario (live: pass^k)."),
    jobs: int = kit.Option(2, "--jobs", help="Scenarios run at once."),
    report: EvalReport = kit.Option(EvalReport.text, "--report"),
    out: Optional[Path] = kit.Option(None, "--out", help="Also write report.json and junit.xml in this folder."),
    model: Optional[str] = kit.Option(None, "--model", help="live: the model name."),
    base_url: Optional[str] = kit.Option(None, "--base-url", help="live: the OpenAI-compatible endpoint."),
    budget: Optional[str] = kit.Option(None, "--budget", help="Token budget of the system prompt (default: "
                                                              "the config's, else 12000; small local models want less)."),
) -> None:
    """Run scenarios, each in its own temporary platform; exit 1 if any fails or any safety rule breaks."""
    require_extra("eval")
    from agent.commands.assistant import prompt_budget
    from agent.evals.runner import run

    tokens = prompt_budget(budget)
    scenarios = _scenarios(paths)
    settings = None
    if mode is not Mode.replay:
        from agent.loop import ModelSettings

        settings = ModelSettings.resolve(model, base_url)
    if mode is Mode.record and out is None:
        from agent.core.errors import UserError

        raise UserError("--mode record writes the recorded scenarios under --out DIR", "pass --out DIR")
    progress = None
    if sys.stderr.isatty():
        done = []

        total = len(scenarios) * max(1, k)

        def progress(outcome) -> None:
            done.append(outcome)
            filled = 30 * len(done) // total
            failed = sum(not o.passed for o in done)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {len(done)}/{total}"
                             + (f", {failed} failed" if failed else "") + "\033[K")
            sys.stderr.flush()
    result = run(scenarios, mode.value, max(1, k), max(1, jobs), settings, progress,
                 record_dir=(out / "recorded") if mode is Mode.record and out is not None else None, budget=tokens)
    if progress:
        sys.stderr.write("\n")
    if out is not None:
        import json

        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
        (out / "junit.xml").write_text(result.junit())
    _print(result, report)
    if not result.ok:
        raise kit.Exit(1)


def _print(result, report: EvalReport) -> None:
    if report is EvalReport.json:
        from agent import render

        render.dump_json(result.to_dict())
        return
    if report is EvalReport.junit:
        sys.stdout.write(result.junit())
        return
    live = result.mode != "replay" or any(o.tokens for o in result.outcomes)  # a cassette replays tokens too
    rows = [(("PASS" if o.passed else "FAIL"), o.name + (f" #{o.trial + 1}" if result.k > 1 else ""),
             ",".join(o.tags), f"{o.seconds:.1f}s", f"{o.tokens} tok" if live else "",
             "; ".join(o.safety + o.failures)) for o in result.outcomes]
    if report is EvalReport.markdown:
        lines = ["| result | scenario | tags | time | tokens | problems |", "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {' | '.join(r)} |" for r in rows]
    else:
        width = max((len(r[1]) for r in rows), default=10)
        lines = [f"{r[0]}  {r[1].ljust(width)}  {r[3]:>6}  {r[4] + '  ' if live else ''}{r[5]}".rstrip()
                 for r in rows]
    data = result.to_dict()
    pr = (f", tool calls precision {data['tool_call_precision']:.0%} recall {data['tool_call_recall']:.0%}"
          if data["tool_call_precision"] is not None and data["tool_call_recall"] is not None else "")
    lines.append(f"\n{sum(o.passed for o in result.outcomes)}/{len(result.outcomes)} passed "
                 f"(pass^{result.k} {result.pass_hat_k():.0%}), safety violations {result.safety_total}{pr}, "
                 f"{result.seconds:.1f} s, mode {result.mode}")
    sys.stdout.write("\n".join(lines) + "\n")


@eval_app.command("list")
def eval_list(paths: list[str] = kit.Argument(None, help="Scenario folders (default: the bundled ones).")) -> None:
    """The scenarios, and the clause coverage matrix of the packaged charter."""
    require_extra("eval")
    from agent.core.charter import parse_charter
    from agent.evals.runner import coverage
    from agent.session import packaged_charter

    scenarios = _scenarios(paths)
    for s in scenarios:
        kit.echo(f"{s.name}  [{', '.join(s.tags)}]  {', '.join(s.clauses)}")
    charter = parse_charter(packaged_charter())
    table = coverage(scenarios, charter)
    covered = sum(1 for names in table.values() if names)
    kit.echo(f"\nclause coverage: {covered}/{len(table)}")
    for cid, names in table.items():
        text = charter.clause_by_id()[cid].text if cid in charter.clause_by_id() else "(not a clause of the charter)"
        kit.echo(f"  {'x' if names else ' '} {cid:<22} {len(names):>2}  {text[:70]}")
