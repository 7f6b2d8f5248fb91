"""`devops-agent diagnose`: read-only incident diagnosis on a Docker engine (tools/diagnose.py)."""
from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

from agent.commands import kit
from agent.commands.common import ConfigOpt, RepoOpt, _session, app, require_extra


class DiagnoseFmt(str, Enum):
    text = "text"
    json = "json"
    markdown = "markdown"


@app.command()
def diagnose(
    env: Optional[str] = kit.Option(None, "--env", help="Environment that runs on the engine (default: prod)."),
    project: Optional[str] = kit.Option(None, "--project", metavar="NAME",
                                        help="Compose project name on the engine (default: as Compose names it)."),
    service: Optional[str] = kit.Option(None, "--service", help="Only this service."),
    since: str = kit.Option("30m", "--since", help="Window of logs and events: 30m, 2h, 1d or an ISO time (default: 30m)."),
    host: Optional[str] = kit.Option(None, "--host", metavar="URL",
                                     help="Engine: unix:///path/docker.sock, ssh://user@server, tcp://h:2376 "
                                          "(default: $DOCKER_HOST)."),
    repo: Optional[Path] = RepoOpt,
    config: Optional[Path] = ConfigOpt,
    fmt: DiagnoseFmt = kit.Option(DiagnoseFmt.text, "--format"),
) -> None:
    """Read-only incident diagnosis: what runs on the engine against the compose model, probable causes ranked
    (exit 1 when a high one is found). Nothing is changed."""
    require_extra("diagnose")
    from agent import redact, render
    from tools import diagnose as diagnose_tool

    session = _session(repo, None, config, run_checks=False)
    result = diagnose_tool.diagnose_platform(session.platform(), env, host=host, project_name=project,
                                             service=service, since=since, redact=redact.for_session(session))
    if fmt is DiagnoseFmt.json:
        render.dump_json(result.to_dict())
    elif fmt is DiagnoseFmt.markdown:
        sys.stdout.write(diagnose_tool.to_markdown(result))
    else:
        sys.stdout.write(diagnose_tool.to_text(result))
    if not result.healthy:
        raise kit.Exit(1)
