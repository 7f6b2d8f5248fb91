"""`devops-agent`: parses arguments and dispatches to agent/commands/; the rules live in the session,
tools and gate. Heavy imports (langchain, openai, mcp, docker) happen inside the commands that need them.
"""
from __future__ import annotations

import os
import sys

import typer

try:  # recent typer vendors click; older ones use the real package
    from typer._click.exceptions import ClickException
    from typer.exceptions import Abort
except ImportError:  # pragma: no cover
    from click.exceptions import Abort, ClickException

from agent.commands import session, views, gate, init, release, example  # noqa: F401,I001  (registers them, in help order)
from agent.commands.common import app
from agent.core.errors import UserError

def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("DEVOPS_AGENT_DEBUG"))
    args = [a for a in args if a != "--debug"]
    command = _command(args)
    try:
        code = command.main(args=args, prog_name="devops-agent", standalone_mode=False)
    except UserError as exc:
        if debug:
            raise
        sys.stderr.write(f"devops-agent: {exc.line()}\n")
        sys.exit(exc.exit_code)
    except Abort:
        sys.stderr.write("devops-agent: aborted\n")
        sys.exit(130)
    except ClickException as exc:
        exc.show()
        sys.exit(2)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # never a traceback without --debug
        if debug:
            raise
        sys.stderr.write(f"devops-agent: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)\n")
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def _command(args: list[str]) -> object:
    """The click command for `args`, built only as far as they need (every option of every command costs
    more to build than to parse): the named subcommand alone; for the top-level help, each one's name and
    help; anything else (an unknown name, with its "did you mean") the whole tree."""
    import copy

    from typer.main import get_command, get_command_name, get_group

    commands = {c.name or get_command_name(c.callback.__name__): c for c in app.registered_commands}
    groups = {g.name: g for g in app.registered_groups}
    pruned = copy.copy(app)
    if args and (args[0] in commands or args[0] in groups):
        pruned.registered_commands = [commands[args[0]]] if args[0] in commands else []
        pruned.registered_groups = [groups[args[0]]] if args[0] in groups else []
    elif args in ([], ["--help"]):
        pruned.registered_commands = [_listed(name, info) for name, info in commands.items()]
        pruned.registered_groups = [_listed_group(info) for info in groups.values()]
    else:
        return get_command(app)
    return get_group(pruned)  # a group even of one command, as the whole app is (typer collapses a lone one)


def _listed(name: str, info: object) -> object:
    """A command as the top-level help lists it: its name and help, no options."""
    import copy
    import inspect

    def listed() -> None:  # never invoked: the help exits first
        raise AssertionError(name)

    listed.__doc__ = inspect.getdoc(info.callback)
    stub = copy.copy(info)
    stub.name, stub.callback = name, listed
    return stub


def _listed_group(info: object) -> object:
    """A command group as the top-level help lists it: its Typer's own settings, no commands."""
    import copy

    stub, inner = copy.copy(info), copy.copy(info.typer_instance)
    inner.registered_commands, inner.registered_groups = [], []
    stub.typer_instance = inner
    return stub


if __name__ == "__main__":
    main()
