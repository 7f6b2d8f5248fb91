"""The command-line kit: commands declared as typed functions (`Option`, `Argument`, groups), parsed
with the standard library's argparse.

Why not typer: typer 0.2x coerces every parameter through pydantic, about 150 ms of imports before any
command runs, which is most of `--help` and of a warm `review`. The declarations read the same way
(a function, its annotations, `Option("--flag", help=...)` defaults) and only the command named on the
command line is turned into a parser. No rules here: commands call the session, tools and gate.
"""
from __future__ import annotations

import enum
import inspect
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


REQUIRED: Any = ...


@dataclass
class ParamInfo:
    default: Any
    decls: tuple[str, ...]
    help: str | None
    argument: bool
    metavar: str | None = None
    bare: str | None = None  # the value of the option given without one (`--resume` alone)


def Option(default: Any = REQUIRED, *decls: str, help: str | None = None,  # noqa: N802 (typer's spelling)
           metavar: str | None = None, bare: str | None = None) -> Any:
    """An option: `--name VALUE` (a flag for a bool; repeatable for a list); `...` as default: required;
    `bare`: the value when the option is given alone (its value is then optional)."""
    return ParamInfo(default, decls, help, argument=False, metavar=metavar, bare=bare)


def Argument(default: Any = REQUIRED, help: str | None = None) -> Any:  # noqa: N802
    """A positional argument; a list takes one or more; `None` as default: optional."""
    return ParamInfo(default, (), help, argument=True)


class Exit(Exception):
    """Leave the command with an exit code (no message)."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.exit_code = code


class UsageError(Exception):
    """The command line is wrong: one line, exit 2."""

    def __init__(self, message: str, prog: str) -> None:
        super().__init__(message)
        self.message = message
        self.prog = prog

    def line(self) -> str:
        return f"Error: {self.message} (see `{self.prog} --help`)"


def echo(message: str = "", err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{message}\n")
    stream.flush()


@dataclass
class Context:
    """What a group's callback knows: the subcommand that follows it, if any."""

    invoked_subcommand: str | None = None


@dataclass
class _Command:
    name: str
    fn: Callable


@dataclass
class Group:
    """A command group: its commands, its subgroups and an optional callback (options of the group)."""

    name: str | None = None
    help: str | None = None
    no_args_is_help: bool = False
    invoke_without_command: bool = False
    commands: dict[str, _Command] = field(default_factory=dict)
    groups: dict[str, "Group"] = field(default_factory=dict)
    callback_fn: Callable | None = None

    def command(self, name: str | None = None) -> Callable[[Callable], Callable]:
        def register(fn: Callable) -> Callable:
            cname = name or fn.__name__.rstrip("_").replace("_", "-")
            self.commands[cname] = _Command(cname, fn)
            return fn
        return register

    def callback(self) -> Callable[[Callable], Callable]:
        def register(fn: Callable) -> Callable:
            self.callback_fn = fn
            return fn
        return register

    def add_group(self, sub: "Group", name: str) -> None:
        sub.name = name
        self.groups[name] = sub

    # ------------------------------------------------------------------ running

    def main(self, args: list[str], prog_name: str) -> int:
        """Run what `args` name; the exit code (usage errors raise UsageError)."""
        return self._run(list(args), prog_name)

    def _run(self, args: list[str], prog: str) -> int:
        if not args or args[0] in ("-h", "--help"):
            if not args and self.callback_fn is not None and self.invoke_without_command:
                return _invoke(self.callback_fn, [], prog, Context(None))
            echo(self.help_text(prog))
            return 0 if args else 2 if self.no_args_is_help else 0
        head = args[0]
        if head in self.commands:
            return _invoke(self.commands[head].fn, args[1:], f"{prog} {head}")
        if head in self.groups:
            return self.groups[head]._run(args[1:], f"{prog} {head}")
        if self.callback_fn is not None and head.startswith("-"):
            # the group's own options, then maybe a subcommand
            split = next((i for i, a in enumerate(args) if a in self.commands or a in self.groups), len(args))
            sub = args[split] if split < len(args) else None
            code = _invoke(self.callback_fn, args[:split], prog, Context(sub))
            return self._run(args[split:], prog) if sub else code
        import difflib

        names = [*self.commands, *self.groups]
        close = difflib.get_close_matches(head, names, n=1)
        raise UsageError(f"no such command {head!r}" + (f"; did you mean {close[0]!r}?" if close else ""), prog)

    def help_text(self, prog: str) -> str:
        lines = [f"Usage: {prog} COMMAND [ARGS]...", ""]
        if self.help:
            lines += [self.help, ""]
        doc = inspect.getdoc(self.callback_fn) if self.callback_fn else None
        if doc:
            lines += [doc, ""]
        entries = [(n, _first_line(inspect.getdoc(c.fn))) for n, c in self.commands.items()]
        entries += [(n, _first_line(g.help)) for n, g in self.groups.items()]
        if entries:
            width = max(len(n) for n, _ in entries)
            lines.append("Commands:")
            lines += [f"  {n.ljust(width)}  {h}".rstrip() for n, h in entries]
        lines += ["", f"Run `{prog} COMMAND --help` for a command's options."]
        return "\n".join(lines)


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0]


# ---------------------------------------------------------------- one command -> argparse

def _unwrap(annotation: Any) -> tuple[Any, bool, bool]:
    """(base type, optional, is a list) of an annotation such as Optional[Path] or list[str]."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else str
        origin = typing.get_origin(annotation)
    if origin in (list, typing.List):  # noqa: UP006
        inner = (typing.get_args(annotation) or (str,))[0]
        return inner, optional, True
    return annotation, optional, False


def _converter(kind: Any, prog: str, name: str) -> Callable[[str], Any]:
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        values = [m.value for m in kind]

        def to_enum(text: str) -> Any:
            try:
                return kind(text)
            except ValueError:
                raise UsageError(f"invalid value for {name}: {text!r} is not one of "
                                 + ", ".join(repr(v) for v in values), prog) from None
        return to_enum
    if kind is Path:
        return Path
    if kind is int:
        def to_int(text: str) -> int:
            try:
                return int(text)
            except ValueError:
                raise UsageError(f"invalid value for {name}: {text!r} is not an integer", prog) from None
        return to_int
    return str


class _Parser:
    def __init__(self, prog: str) -> None:
        import argparse

        class Quiet(argparse.ArgumentParser):
            def error(self, message: str) -> typing.NoReturn:  # one line, exit 2, through the CLI
                raise UsageError(message, prog)

        self.argparse = argparse
        self.parser = Quiet(prog=prog, add_help=True, allow_abbrev=False)


def _build(fn: Callable, prog: str) -> tuple[Any, list[tuple[str, Callable, bool, Any]]]:
    """An argparse parser for `fn` and, per parameter, (name, converter, is a list, default)."""
    holder = _Parser(prog)
    parser = holder.parser
    doc = inspect.getdoc(fn)
    if doc:
        parser.description = doc
    hints = typing.get_type_hints(fn)
    params: list[tuple[str, Callable, bool, Any]] = []
    for name, param in inspect.signature(fn).parameters.items():
        info = param.default
        annotation = hints.get(name, str)
        if annotation is Context:
            continue
        if not isinstance(info, ParamInfo):
            info = ParamInfo(REQUIRED if param.default is inspect.Parameter.empty else param.default, (),
                             None, argument=True)
        kind, optional, many = _unwrap(annotation)
        required = info.default is REQUIRED
        label = info.decls[0] if info.decls else name.upper()
        convert = _converter(kind, prog, label)
        help_text = info.help
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            choices = "|".join(str(m.value) for m in kind)
            help_text = f"{help_text} " if help_text else ""
            help_text += f"[{choices}]" + ("" if required or info.default is None else
                                            f" (default: {_shown(info.default)})")
        if info.argument:
            nargs = ("+" if required else "*") if many else (None if required else "?")
            kwargs: dict[str, Any] = {"metavar": name.upper(), "help": help_text}
            if nargs:
                kwargs["nargs"] = nargs
            parser.add_argument(name, **kwargs)
        elif kind is bool and not many:
            parser.add_argument(*info.decls, dest=name, action="store_true", help=help_text)
        else:
            kwargs = {"dest": name, "help": help_text, "metavar": info.metavar or label.lstrip("-").upper()}
            if many:
                kwargs["action"] = "append"
            if info.bare is not None:
                kwargs["nargs"], kwargs["const"] = "?", info.bare
            if required:
                kwargs["required"] = True
            parser.add_argument(*info.decls, **kwargs)
        params.append((name, convert, many, None if required else info.default))
    return parser, params


def _shown(value: Any) -> str:
    return str(value.value) if isinstance(value, enum.Enum) else str(value)


def _invoke(fn: Callable, args: list[str], prog: str, ctx: Context | None = None) -> int:
    parser, params = _build(fn, prog)
    if "-h" in args or "--help" in args:
        echo(parser.format_help().rstrip())
        return 0
    namespace = parser.parse_args(args)
    values: dict[str, Any] = {}
    for name, convert, many, default in params:
        raw = getattr(namespace, name, None)
        if raw is None:
            values[name] = list(default) if isinstance(default, list) else default
        elif many:
            values[name] = [convert(v) for v in raw]
        else:
            values[name] = raw if isinstance(raw, bool) else convert(raw)
    if ctx is not None:
        hints = typing.get_type_hints(fn)
        values.update({name: ctx for name in inspect.signature(fn).parameters if hints.get(name) is Context})
    result = fn(**values)
    return result if isinstance(result, int) else 0
