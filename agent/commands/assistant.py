"""The model's side: the tool catalogue, one-shot `ask`, the terminal `chat`, and the turn `logs`."""
from __future__ import annotations

import sys

from agent.commands import kit
from agent.commands.common import CatalogueFmt, app


@app.command()
def tools(fmt: CatalogueFmt = kit.Option(CatalogueFmt.text, "--format")) -> None:
    """The tools the model may call (the loop, MCP and evals expose exactly these): name, kind, arguments."""
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
