"""`devops-agent mcp`: the MCP server for IDEs (agent/mcp_server.py) over stdio or streamable HTTP."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

from agent.commands import kit
from agent.commands.common import CharterOpt, ConfigOpt, RepoOpt, app, require_extra
from agent.core.errors import UserError


class Transport(str, Enum):
    stdio = "stdio"
    http = "http"


@app.command()
def mcp(
    transport: Transport = kit.Option(Transport.stdio, "--transport",
                                      help="stdio (the IDE starts the server) or http (streamable HTTP, a bearer token)."),
    port: int = kit.Option(8765, "--port", help="HTTP port (default: 8765)."),
    host: str = kit.Option("127.0.0.1", "--host", help="HTTP address to bind (default: 127.0.0.1)."),
    repo: Optional[Path] = RepoOpt,
    charter: Optional[Path] = CharterOpt,
    config: Optional[Path] = ConfigOpt,
) -> None:
    """The MCP server for IDEs: the same sources, tools and gate; applying still needs Product's signature."""
    require_extra("mcp")
    if not 0 < port < 65536:
        raise UserError(f"--port {port} is not a TCP port", "give a port between 1 and 65535")
    if repo is None:
        from agent.commands.common import _require_git_root

        _require_git_root()
    from agent.mcp_server import serve

    raise kit.Exit(serve(repo, transport.value, host, port, charter, config))
