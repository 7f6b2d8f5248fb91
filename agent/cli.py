"""`devops-agent`: parses arguments and dispatches to agent/commands/; the rules live in the session,
tools and gate. Heavy imports (langchain, openai, mcp, docker) happen inside the commands that need them;
the command line itself is parsed with argparse (agent/commands/kit.py), so `--help` costs no pydantic.
"""
from __future__ import annotations

import os
import sys

from agent.commands import session, views, gate, init, release, example, assistant, evals, mcp, diagnose  # noqa: F401,I001  (registers them, in help order)
from agent.commands.common import app
from agent.commands.kit import Exit, UsageError
from agent.core.errors import UserError


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("DEVOPS_AGENT_DEBUG"))
    args = [a for a in args if a != "--debug"]
    try:
        if args[:1] in (["--version"], ["-V"]):
            from agent import render

            render.print_version()
            sys.exit(0)
        code = app.main(args, prog_name="devops-agent")
    except Exit as exc:
        code = exc.exit_code
    except UsageError as exc:
        sys.stderr.write(f"{exc.prog}: {exc.line()}\n")
        sys.exit(2)
    except UserError as exc:
        if debug:
            raise
        sys.stderr.write(f"devops-agent: {exc.line()}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("devops-agent: aborted\n")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # never a traceback without --debug: a crash log the user can attach to a report
        if debug:
            raise
        from agent import crash

        path = crash.write(exc, ["devops-agent", *args], "cli")
        sys.stderr.write(f"devops-agent: {crash.line(exc, path)}\n")
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
