"""The model's side: the tool catalogue, one-shot `ask`, the terminal `chat`, and the turn `logs`."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from agent.commands import kit
from agent.commands.common import CatalogueFmt, Fmt, RepoOpt, app, require_extra


@app.command()
def tools(fmt: CatalogueFmt = kit.Option(CatalogueFmt.text, "--format")) -> None:
    """The tools the model may call (the loop, MCP and evals expose exactly these): name, kind, arguments."""
    require_extra("tools")
    from tools.catalog import CATALOG, catalogue_markdown

    if fmt is CatalogueFmt.markdown:
        sys.stdout.write(catalogue_markdown())
        return
    if fmt is CatalogueFmt.json:
        from agent import render

        render.dump_json([{"name": t.name, "kind": t.kind, "description": t.description,
                           "arguments": t.args.model_json_schema(), "result": t.result.model_json_schema()}
                          for t in CATALOG])
        return
    width = max(len(t.name) for t in CATALOG)
    for t in CATALOG:
        kit.echo(f"{t.name.ljust(width)}  {t.kind:<7}  {t.description}")


ModelOpt = kit.Option(None, "--model", help="Model name (default: $DEVOPS_AGENT_MODEL, else gpt-4o-mini).")
BaseUrlOpt = kit.Option(None, "--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL).")
TimeoutOpt = kit.Option(None, "--timeout", help="Seconds per model call (default: 60).")
BudgetOpt = kit.Option(None, "--budget", help="Token budget of the system prompt (default: 12000).")


def prompt_budget(budget) -> int | None:
    """--budget as a number of tokens (UserError when it is not one, or too small to hold the charter)."""
    from agent.core.errors import UserError

    try:
        tokens = int(budget) if budget else None
    except ValueError:
        raise UserError("--budget takes a number of tokens", "e.g. --budget 4000") from None
    if tokens is not None and tokens < 500:
        raise UserError(f"--budget {tokens} is too small for the charter and the rules", "give 500 tokens or more")
    return tokens


def _conversation(repo, thread, model, base_url, timeout, budget=None, background=False):
    from agent.core.errors import UserError
    from agent.loop import Conversation, ModelSettings

    try:
        seconds = float(timeout) if timeout else None
    except ValueError:
        raise UserError("--timeout takes seconds", "e.g. --timeout 120") from None
    tokens = prompt_budget(budget)
    from agent.core.config import load_config
    from agent.session import resolve_repo

    root = resolve_repo(repo if repo is not None else _git_root())
    settings = ModelSettings.resolve(model, base_url, seconds, config=load_config(root)[0])
    return Conversation(root, settings, thread, budget=tokens, background=background)


def _git_root():
    from agent.commands.common import _require_git_root

    _require_git_root()
    return None


@app.command()
def ask(
    question: str = kit.Argument(..., help="What to ask the DevOps Engineer."),
    thread: Optional[str] = kit.Option(None, "--thread", help="Continue this conversation (default: a new one)."),
    model: Optional[str] = ModelOpt,
    base_url: Optional[str] = BaseUrlOpt,
    timeout: Optional[str] = TimeoutOpt,
    budget: Optional[str] = BudgetOpt,
    repo: Optional[Path] = RepoOpt,
    fmt: Fmt = kit.Option(Fmt.text, "--format"),
) -> None:
    """One turn, non-interactively (scripts, CI): the answer; an apply waits for Product's signature."""
    require_extra("ask")
    conv = _conversation(repo, thread, model, base_url, timeout, budget)
    result = conv.ask(question)
    if fmt is Fmt.json:
        from agent import render

        render.dump_json(result.to_dict())
        return
    from agent.core.text import escape_terminal

    for call in result.tool_calls:
        kit.echo(f"· {call['name']}({_short_args(call['args'])})", err=True)
    for note in result.notes:
        kit.echo(f"note: {note}", err=True)
    kit.echo(escape_terminal(result.answer))
    kit.echo(f"[thread {result.thread}; {result.tokens_in} in / {result.tokens_out} out tokens]", err=True)


def _short_args(args) -> str:
    import json

    text = json.dumps(args, ensure_ascii=False)[1:-1] if isinstance(args, dict) else str(args)
    return text if len(text) <= 80 else text[:77] + "..."


@app.command()
def logs(
    thread: Optional[str] = kit.Argument(None, help="A thread (default: list the threads)."),
    repo: Optional[Path] = RepoOpt,
    fmt: Fmt = kit.Option(Fmt.text, "--format"),
) -> None:
    """The turn log: every model request and response, tool call and result, as sent (redacted)."""
    from agent.core.errors import UserError
    from agent.loop import STATE_DIR
    from agent.turnlog import TurnLog
    from agent.session import resolve_repo

    root = resolve_repo(repo)
    if not (root / STATE_DIR / "turns.sqlite").is_file():
        raise UserError(f"no conversation recorded in {root}", "start one with `devops-agent ask` or `chat`")
    log = TurnLog(root)
    data = log.entries(thread) if thread else log.threads()
    if thread and not data:
        raise UserError(f"no thread {thread!r}", "list them with `devops-agent logs`")
    if fmt is Fmt.json:
        from agent import render

        render.dump_json(data)
        return
    from agent.core.text import escape_terminal, shorten

    for e in data:
        if thread:
            extra = f" {e['tokens_in']}/{e['tokens_out']} tok" if e["tokens_in"] is not None else ""
            extra += f" {e['latency_ms']:.0f} ms" if e["latency_ms"] is not None else ""
            kit.echo(f"{e['kind']:<15}{(e['name'] or ''):<18}{extra}  {escape_terminal(shorten(e['content'], 160))}")
        else:
            kit.echo(f"{e['thread']}  {e['entries']} entries  {e['tokens_in']} in / {e['tokens_out']} out tokens")


CHAT_HELP = """/sources  /review  /proposals  /diff ID  /checklist  /verify   what the session holds
/approve ID  /reject ID     Product's decision, signed with Product's key (never the model's)
/resume [THREAD]            continue another conversation
/help  /quit                (Ctrl-C cancels the current turn and keeps the conversation)"""


@app.command()
def chat(
    resume: Optional[str] = kit.Option(None, "--resume", metavar="THREAD", bare="last",
                                       help="Continue a conversation (alone: the last one)."),
    model: Optional[str] = ModelOpt,
    base_url: Optional[str] = BaseUrlOpt,
    timeout: Optional[str] = TimeoutOpt,
    budget: Optional[str] = BudgetOpt,
    repo: Optional[Path] = RepoOpt,
) -> None:
    """The terminal chat with the DevOps Engineer: streamed answers, tool calls as lines, slash commands."""
    require_extra("chat")
    from agent import chat as chat_ui
    from agent.loop import Conversation

    thread = resume
    if resume == "last":
        from agent.session import resolve_repo

        thread = Conversation.resume_thread(resolve_repo(repo))
    # the prompt comes before langchain's imports: the graph is built while the user types its first line
    conv = _conversation(repo, thread, model, base_url, timeout, budget, background=True)
    raise kit.Exit(chat_ui.run(conv, CHAT_HELP))
