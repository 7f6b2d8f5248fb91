"""Each parser's time grows linearly with hostile input (issue 20, 6): 10x the input costs at most ~10x the time.

A regex that backtracks over a run of blanks (a lazy group before `\\s*`, `\\s*` before an alternative under
`re.split`, a lazy title before `(`) costs 100x or more there. The bound is a ratio of two runs in the same
process with generous slack, never an absolute time; each run is the best of a few, so a pause of the shared
machine does not count as growth.
"""
from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import Callable

import pytest

from agent.core import yaml_safe
from agent.core.charter import parse_charter_text
from sources import notion_export
from sources.loader import parse_yaml
from tools import environments
from tools.ci.load import load_workflow
from tools.ci.metadata_action import shell_commands
from tools.dockerfile.parse import parse_dockerfile_text
from tools.facts.shell import split_words
from tools.facts.variables import parse_env_text, referenced_variables
from tools.nginx import parse_nginx_text

N = 150_000  # past the CPU caches and malloc's mmap threshold (128 KB): below them a linear parser grows 20-50x
# Linear is 10x, quadratic 100x or more; on the shared 2-core machine linear parsers measured up to ~35x here
# (a 1.5 MB string lives in fresh mmap'd pages, a 150 KB one in warm heap).
SLACK = 40.0


def _workflow(text: str) -> None:
    wf = load_workflow(Path("ci.yml"), ".github/workflows/ci.yml", text=text)
    for job in wf.jobs.values():
        for step in job.steps:
            if step.run:
                shell_commands(step.run)
    environments.workflow_calls(".github/workflows/ci.yml", text, yaml_safe.load(text, "ci.yml"))


def _compose(text: str) -> None:
    parsed, _ = parse_yaml(text, compose=True)
    if parsed:
        yaml_safe.index_lines(parsed[0])
    referenced_variables(text)


def _file_kinds(text: str) -> None:
    """What decides a file's kind and role from its whole text: templates, images, tools, dev modes, secrets."""
    from agent.core.files import is_compose_template, is_template
    from agent.redact import dockerfile_values
    from tools.facts.images import images_in
    from tools.facts.tooling import tools_in
    from tools.nginx import guess_context

    is_template("Dockerfile", text)
    is_compose_template("docker-compose.yml", text)
    images_in("Dockerfile", text)
    images_in("docker-compose.yml", text)
    tools_in("infra/main.hcl", text)
    guess_context(text)
    dockerfile_values(text)


def _makefile_and_script(text: str) -> None:
    environments.makefile_calls("Makefile", text)
    environments.script_calls("deploy.sh", text)


_WF = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
_CHARTER = "# Agent: DevOps (shop)\n\n## Sources de vérité (à charger)\n- compose: `docker-compose.yml`\n"
_RELEASES = '\ufeffName,Version,Status,Target date,Intentions\nR,0.5.0,En cours,"May 1, 2026","a'
_INTENTIONS = '\ufeffID,Name,Release,Status\nI-1,Connexion,"Lancement MVP'

# parser -> (function, [(head, piece repeated to the size, tail)])
PARSERS: dict[str, tuple[Callable[[str], object], list[tuple[str, str, str]]]] = {
    "workflow": (_workflow, [
        (_WF + "      - run: echo a", " ", "b\n"),  # a run line of spaces
        (_WF + "      - run: docker compose -f", " ", "x.yml up\n"),
        (_WF + "      - run: a", " && ", "b\n"),
        (_WF + "      - run: echo \"", "${ ", "\"\n"),  # one long quoted word (shlex: quadratic)
    ]),
    "dockerfile": (parse_dockerfile_text, [
        ("# syntax=docker/dockerfile:1", "\t", "x\nFROM alpine:3.19\n"),  # a `# syntax=` line of blanks
        ("FROM alpine:3.19\n", "RUN echo " + "1." * 500 + "\n", "USER app\n"),  # long words, each under the cap
        ("FROM alpine:3.19\n", "ENV A=" + "${" * 500 + "\n", "USER app\n"),
        ("FROM alpine:3.19\nRUN echo \\\n", "  a \\\n", "  b\n"),  # one instruction continued at length
    ]),
    "nginx": (lambda text: parse_nginx_text(text, "nginx.conf"), [
        ("events {}\nhttp {\n  server {\n    listen 80;\n    server_name a", " ", "b;\n  }\n}\n"),
        ("events {}\nhttp {\n  server {\n    location / { proxy_pass \"http://api", " ", ":80\"; }\n  }\n}\n"),
    ]),
    "compose": (_compose, [
        ("services:\n  web:\n    image: nginx:1.25\n    command: echo a", " ", "b\n"),
        ("services:\n  web:\n    image: \"", "${", "\"\n"),
        ("services:\n  web:\n    image: nginx:1.25\n#", " ", "x\n"),
    ]),
    "notion export": (lambda text: notion_export.parse_intentions(text, "Intention 8b7d4e20.csv"), [
        (_INTENTIONS, " ", " (https://www.notion.so/x\",Validée\n"),  # a relation cell of spaces, no `)`
        (_INTENTIONS, " (https://x)", "\",Validée\n"),
    ]),
    "notion releases": (lambda text: notion_export.parse_releases(text, "Release 3f2a9c1e.csv"), [
        (_RELEASES, " ", "b (https://x\"\n"),
    ]),
    "charter": (lambda text: parse_charter_text(text, "devops-engineer.md"), [
        (_CHARTER + "- `a", " ", "b\n"),  # a stray quote, then blanks
        (_CHARTER + "- compose (", " ", "b\n"),
        ("# Agent:", " ", "x\n" + _CHARTER.split("\n", 1)[1]),
    ]),
    ".env": (parse_env_text, [
        ("A=a", " ", "b\n"),
        ("export", " ", "A=b\n"),
        ("A=", "${", "\n"),
    ]),
    "file kinds": (_file_kinds, [
        ("FROM alpine:3.19\n", " \n", "USER app\n"),  # lines of blanks: `^\\s*` under re.M rescans them all
        ("services:\n  web:\n    image: nginx:1.25\n", "\t\n", "x: 1\n"),
        ("FROM alpine:3.19\nENV A a", " ", "b\n"),  # a lazy value before `\\s*$`
        ("- ", " \n", "NODE_ENV: development\n"),
    ]),
    "makefile and script": (_makefile_and_script, [
        ("up:\n\tdocker compose -f", " ", "x.yml up\n"),
        ("up:\n\tdocker compose", " \\\n", " up\n"),
        ("a", " a", "\n"),
    ]),
}
CASES = [(name, shape) for name, (_, shapes) in PARSERS.items() for shape in shapes]


def _text(shape: tuple[str, str, str], size: int) -> str:
    head, piece, tail = shape
    return head + piece * max(1, size // len(piece)) + tail


def _best(fn: Callable[[str], object], text: str, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        try:
            fn(text)
        except Exception:  # a parser may refuse hostile input: refusing it must be linear too
            pass
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize(("parser", "shape"), CASES, ids=[f"{n}:{s[1]!r}:{i}" for i, (n, s) in enumerate(CASES)])
def test_ten_times_the_input_costs_about_ten_times_the_time(parser: str, shape: tuple[str, str, str]) -> None:
    fn = PARSERS[parser][0]
    _best(fn, _text(shape, N), 1)  # warm: imports and compiled patterns are not the input's cost
    small = _best(fn, _text(shape, N), 3)
    large = _best(fn, _text(shape, 10 * N), 2)
    assert large <= SLACK * max(small, 1e-4), (f"{parser}: {N} chars {small * 1000:.2f} ms, {10 * N} chars "
                                               f"{large * 1000:.2f} ms: x{large / max(small, 1e-4):.0f}")


@pytest.mark.parametrize("text", [
    "docker compose -f a.yml up -d", "echo 'it''s' \"a \\\"b\\\" c\" \\$HOME", "a#b c # comment\nnext line",
    "printf '%s\\n' \"$X\" > out.txt # x", "\"\" '' x\\\ny", "echo \"a\\tb\" 'c\\d'", "  \t\n ", "a\\",
    "echo \"unclosed", "x='a b'\"c d\"e",
])
@pytest.mark.parametrize("comments", [True, False])
def test_split_words_is_shlex_split(text: str, comments: bool) -> None:
    try:
        expected: object = shlex.split(text, comments=comments)
    except ValueError as exc:
        expected = ("ValueError", str(exc))
    try:
        got: object = split_words(text, comments=comments)
    except ValueError as exc:
        got = ("ValueError", str(exc))
    assert got == expected


def test_dockerfile_instruction_over_the_cap_is_one_problem_at_its_line() -> None:
    continued = "RUN apk add \\\n" + "    # pinned below\n" + "    pkg \\\n" * 3_000 + "    last\n"
    info = parse_dockerfile_text("FROM alpine:3.19\n" + continued + "USER app\n")
    assert [(p.line, "not parsed" in p.message) for p in info.errors] == [(2, True)]
    assert info.instructions == []
    ordinary = parse_dockerfile_text("FROM alpine:3.19\nRUN apk add \\\n" + "    pkg \\\n" * 100 + "    last\nUSER app\n")
    assert not ordinary.errors and [i.cmd for i in ordinary.instructions] == ["FROM", "RUN", "USER"]


def test_no_multiline_pattern_starts_a_line_with_blanks_that_cross_lines() -> None:
    """`^\\s*X` under re.M: at every line start `\\s*` runs over all the blank lines below, then fails; a file of
    blank lines costs its square (a 1 MB Dockerfile never finished). A line's indent is `[ \\t]*`."""
    import ast
    import re

    root = Path(__file__).resolve().parent.parent
    bad = []
    for path in sorted(p for d in ("agent", "sources", "tools") for p in (root / d).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "re" and node.args):
                continue
            flags = " ".join(ast.unparse(a) for a in node.args[1:]) + " ".join(ast.unparse(k.value) for k in node.keywords)
            pattern = node.args[0]
            text = pattern.value if isinstance(pattern, ast.Constant) and isinstance(pattern.value, str) else \
                ast.unparse(pattern) if isinstance(pattern, ast.JoinedStr) else ""
            if re.search(r"\bre\.(M|MULTILINE)\b", flags) and re.search(r"\^(?:\(\?:)?\\s[*+]", text):
                bad.append(f"{path.relative_to(root)}:{node.lineno}: {text[:60]}")
    assert not bad, bad
