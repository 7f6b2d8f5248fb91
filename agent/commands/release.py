"""Release deliverables and the delivery gate."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from agent.commands import kit

from agent.commands.common import (Fmt, MdFmt, RepoOpt, _gate, app)


release_app = kit.Group(help="Release deliverables and the delivery gate.", no_args_is_help=True)
app.add_group(release_app, name="release")


@release_app.command("check")
def release_check(repo: Optional[Path] = RepoOpt, fmt: Fmt = kit.Option(Fmt.text, "--format")) -> None:
    """The review's verdict plus open delivery blocks (exit 0 GO, 1 NO-GO, 3 CANNOT-TELL: a part of the review could not run)."""
    from agent import render

    from tools.deliverables import release_verdict

    from agent.history import release_changes

    gate = _gate(repo)
    session = gate.session(run_checks=True, signatures=True)
    blocks = gate.open_blocks()
    verdict = release_verdict(session, blocks)
    render.print_release_check(session, blocks, verdict, json_out=fmt is Fmt.json,
                               changes=release_changes(session.repo_root or session.root))
    from tools.findings import VERDICT_EXIT_CODES

    if VERDICT_EXIT_CODES[verdict]:
        raise kit.Exit(VERDICT_EXIT_CODES[verdict])


@release_app.command("checklist")
def release_checklist(
    repo: Optional[Path] = RepoOpt,
    env: Optional[str] = kit.Option(None, "--env", help="Production environment (default: prod)."),
    fmt: MdFmt = kit.Option(MdFmt.markdown, "--format"),
) -> None:
    """Per service: image and tag, env vars, volumes and migrations, healthchecks, deploy steps, rollbacks."""
    from agent import render
    from agent.toolbox import Toolbox

    cl = Toolbox(repo).release_checklist(env)
    if fmt is MdFmt.json:
        render.dump_json(render.asdict_deep(cl))
    else:
        sys.stdout.write(render.checklist_markdown(cl))


@release_app.command("notes")
def release_notes(repo: Optional[Path] = RepoOpt, fmt: MdFmt = kit.Option(MdFmt.markdown, "--format")) -> None:
    """Production notes: each applied change since the last release tag, with its reason, risk and rollback."""
    from agent import render
    from tools import deliverables

    from agent.history import release_changes, release_dict

    gate = _gate(repo)
    session = gate.session()
    data = deliverables.notes(session, gate.store, gate.verify())
    data["findings"] = release_dict(release_changes(session.repo_root or session.root))
    if fmt is MdFmt.json:
        render.dump_json(data)
    else:
        sys.stdout.write(render.notes_markdown(data))
