"""The text renderer on its own: a terminal wraps under the title at its width, a pipe never wraps, and the
next steps name the command that fixes or proposes each finding."""
from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

from agent import render
from agent.next_steps import NextStep, next_steps
from tools.findings import Finding, Location

LONG = ("prod: anime-saas-reverseproxy runs ghcr.io/stephengodard/anime-saas-platform/anime-saas-reverseproxy:latest "
        "which is a mutable tag that a later push silently replaces on the server")


def _finding(**kw) -> Finding:
    base = dict(id="CMP003", severity="blocker", category="reproducibility", title=LONG,
                locations=[Location("docker-compose.prod.yml", 5)], remediation="Pin the image to the CI tag.")
    return Finding(**{**base, **kw})


def _console(terminal: bool, width: int = 60):
    from rich.console import Console

    if terminal:
        return Console(file=io.StringIO(), force_terminal=True, color_system=None, width=width, highlight=False)
    return Console(file=io.StringIO(), force_terminal=False, width=render.PIPE_WIDTH, highlight=False,
                   soft_wrap=True)


def test_a_pipe_gets_each_line_whole():
    con = _console(terminal=False)
    render.print_finding(con, _finding(), "blocker")
    lines = con.file.getvalue().splitlines()
    assert len(lines) == 2
    assert LONG in lines[0] and lines[0].startswith("  blocker CMP003  ") and lines[0].endswith(":5")
    assert lines[1] == " " * 18 + "fix: Pin the image to the CI tag."


def test_a_terminal_wraps_at_its_width_under_the_title():
    con = _console(terminal=True, width=60)
    render.print_finding(con, _finding(severity="info"), "blocker")
    lines = [line.rstrip() for line in con.file.getvalue().splitlines()]
    assert len(lines) > 3 and all(len(line) <= 60 for line in lines)
    assert lines[0].startswith("  info    CMP003  prod:")
    indent = lines[0].index("prod:")
    assert all(line[:indent].strip() == "" for line in lines[1:])  # hanging indent: nothing under severity/id
    text = " ".join(line.strip() for line in lines)
    assert "(check default: blocker)" in text and "fix: Pin the image to the CI tag." in text


def test_the_default_severity_is_shown_only_when_it_differs():
    con = _console(terminal=False)
    render.print_finding(con, _finding(severity="medium"), "medium")
    assert "check default" not in con.file.getvalue()


def _session(findings, sources=(), origin="repo", root=None):
    return SimpleNamespace(findings=findings, sources=list(sources), charter_origin=origin, snapshot=None, not_run=[],
                           root=root or Path.cwd().resolve())


def test_next_steps_name_the_command_of_each_finding():
    findings = [
        _finding(id="CMP011", severity="medium", title="prod: anime-saas-mlscheduler has no restart policy",
                 locations=[Location("docker-compose.prod.yml", 73)]),
        _finding(),
        _finding(id="SRC001", title="dockerfile source anime-saas-api/Dockerfile is missing",
                 locations=[Location("anime-saas-api/Dockerfile")],
                 detail="submodule anime-saas-api is not initialised: run `git submodule update --init -- anime-saas-api`", command="git submodule update --init -- anime-saas-api"),
        _finding(id="XF003", severity="info", title="dev: anime-saas-api builds from an uninitialised submodule",
                 remediation="run `git submodule update --init -- anime-saas-api`", command="git submodule update --init -- anime-saas-api"),
        # a command written in prose alone is never lifted into the next steps
        _finding(id="SRC011", severity="medium", title="1 submodule(s) not checked out (x $(touch y))",
                 locations=[Location(".gitmodules", 1)], remediation="Run `git submodule update --init x $(touch y)`"),
        _finding(id="GATE001", severity="blocker", title="infra commit abc not signed by Product", locations=[]),
        _finding(id="DKF002", severity="medium", title="FROM python:latest",
                 locations=[Location("anime-saas-agent/Dockerfile", 1)]),
        _finding(id="SRC003", severity="high", title="No current release in Notion", locations=[],
                 remediation="Mark the release in progress as 'En cours' in Notion."),
        _finding(id="DKF007", severity="info", title="hadolint DL3059", locations=[Location("Dockerfile", 3)]),
    ]
    steps = {s.command: s for s in next_steps(_session(findings))}
    assert steps["git submodule update --init -- anime-saas-api"].findings == ["SRC001", "XF003"]
    assert not any("touch" in c for c in steps)
    assert steps["devops-agent verify"].findings == ["GATE001"]
    compose = next(s for c, s in steps.items() if c.startswith("devops-agent propose --set"))
    assert "docker-compose.prod.yml:services.anime-saas-mlscheduler.restart=unless-stopped" in compose.command
    assert compose.findings == ["CMP011", "CMP003"] and compose.severity == "blocker"
    assert any(c.startswith("devops-agent propose --patch") for c in steps)
    product = steps[""]
    assert product.findings == ["SRC003"] and "En cours" in product.what
    assert not any("DKF007" in s.findings for s in steps.values())  # info, nothing to do
    order = [s.command for s in next_steps(_session(findings))]
    assert order[-1] == "" and order.index("git submodule update --init -- anime-saas-api") < order.index(compose.command)


def test_next_steps_carry_the_repo_when_run_from_elsewhere(tmp_path):
    findings = [_finding(id="GATE001", locations=[]),
                _finding(id="SRC001", locations=[], detail="run `git submodule update --init -- api`",
                         command="git submodule update --init -- api")]
    steps = next_steps(_session(findings, root=tmp_path))
    assert {s.command for s in steps} == {f"devops-agent verify --repo {tmp_path}",
                                          f"git -C {tmp_path} submodule update --init -- api"}


def test_a_next_step_wraps_under_itself_and_its_command_is_never_broken():
    con = _console(terminal=True, width=50)
    step = NextStep("devops-agent propose --set docker-compose.prod.yml:services.a.restart=unless-stopped "
                           "--reason '...' --risk '...' --rollback '...'",
                           "docker-compose.prod.yml: propose the fixes through the gate", ["CMP011", "CMP011"])
    render.print_next_steps(con, [step], _session([]))
    lines = [line.rstrip() for line in con.file.getvalue().splitlines()]
    assert lines[2].startswith("  1. docker-compose.prod.yml:") and lines[3].startswith("     ")
    assert "(CMP011 ×2)" in " ".join(lines)
    at = next(i for i, line in enumerate(lines) if line.startswith("       devops-agent propose"))
    shown = []  # broken only between shell words, each line but the last continued with ` \`
    for line in lines[at:]:
        shown.append(line.strip().removesuffix(" \\"))
        if not line.endswith(" \\"):
            break
    assert len(shown) > 1 and " ".join(shown) == step.command


def test_many_findings_print_in_batches_not_one_console_call_per_line():
    """rich's cost is per call (about 0.1 ms): 10,000 findings printed line by line took seconds (issue 20, 7)."""
    con = _console(terminal=False)
    calls = []
    real = con.print
    con.print = lambda *a, **kw: (calls.append(1), real(*a, **kw))  # type: ignore[method-assign]
    findings = [_finding(id="PRD004", severity="low", title=f"dev: svc{i} runs nginx:1.25 [dim]x[/]",
                         locations=[Location("docker-compose.yml", 3 + 2 * i)]) for i in range(1000)]
    render.print_findings(con, findings, {"PRD004": "medium"})
    lines = con.file.getvalue().splitlines()
    assert len(lines) == 2000 and len(calls) <= 10
    assert lines[2 * 999] == ("  low     PRD004  dev: svc999 runs nginx:1.25 [dim]x[/]  docker-compose.yml:2001  "
                              "(check default: medium)")
    assert lines[1] == " " * 18 + "fix: Pin the image to the CI tag."


def _sources(n: int):
    from sources.provenance import LoadedSource

    out = [LoadedSource("compose", "docker-compose.yml", "ok", priority=2, sha256="ab" * 32, commit="c0ffee1234"),
           LoadedSource("docs", "docs/Fiche détaillée 配置 [v2].md", "ok", submodule="anime-saas-api", commit="9af0dd2")]
    out += [LoadedSource("docs", f"docs/page-{i}.md", "missing", message=f"docs/page-{i}.md does not exist")
            for i in range(n)]
    return out


def test_the_sources_table_is_laid_out_as_rich_lays_it_out_and_in_few_calls(monkeypatch):
    """2,000 sources through rich's table took seconds (issue 20, 7): a table that fits is laid out directly,
    to the same characters and styles; a narrow terminal still gets rich's stacked table."""
    from rich.console import Console

    sources = _sources(300)
    table = render.sources_table
    for width, rich_lays_it_out in ((render.PIPE_WIDTH, False), (200, False), (40, True)):
        def make():
            if width == render.PIPE_WIDTH:
                return _console(terminal=False)
            return Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=width,
                           highlight=False)

        ours, theirs = make(), make()
        theirs.print(table(sources, theirs.width if theirs.is_terminal else None))
        calls = []
        real = ours.print
        ours.print = lambda *a, **kw: (calls.append(1), real(*a, **kw))  # type: ignore[method-assign]
        used = []
        monkeypatch.setattr(render, "sources_table", lambda s, w=None: (used.append(1), table(s, w))[1])
        render.print_sources_table(ours, sources)
        assert ours.file.getvalue() == theirs.file.getvalue()
        assert len(calls) <= 2 and bool(used) == rich_lays_it_out


def test_lines_written_directly_to_a_pipe_are_what_rich_would_write():
    """A pipe gets the characters directly (rich's rendering of 30,000 lines took a second): the same ones rich
    writes, control characters it drops dropped, wide characters and markup-like text kept; a tab goes
    through rich, which expands it."""
    lines = [[("  ", ""), ("blocker", "bold red"), (" CMP003  [dim]x[/] :warning: 配置 ", ""), ("a.yml:3", "dim")],
             [(" " * 18, ""), ("fix: \x07bell\x08 \x0bvt \x0cff \rcr \x1b[31mred", "")], [], [("", "")],
             [("é" * 300, "dim")]]
    for tab in (False, True):
        batch = lines + ([[("a\tb", "")]] if tab else [])
        ours, theirs = _console(terminal=False), _console(terminal=False)
        render.print_lines(ours, batch)
        for line in batch:
            theirs.print(render._styled([line]))
        assert ours.file.getvalue() == theirs.file.getvalue()


def test_a_terminal_gets_the_findings_as_a_grid_would_show_them_without_measuring_a_grid():
    """A terminal's findings are wrapped here with rich's own Text.wrap (a grid per finding took 1.2 ms each:
    12 s for 10,000); the lines are those of the grid, in colour too, trailing blanks aside."""
    from rich.console import Console

    findings = [_finding(), _finding(severity="info"),
                _finding(id="GATE0001", title="x " * 80 + "y" * 150, remediation="r " * 70),
                _finding(title="配置 " * 40 + "[dim]x[/] :warning: end", detail="d" * 30 + " e" * 60, severity="medium"),
                _finding(title="short", locations=[], remediation="")]
    for width in (40, 60, 80, 120, 200):
        ours, grid = (Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=width,
                              highlight=False) for _ in range(2))
        render.print_findings(ours, findings, {"CMP003": "blocker"})
        for f in findings:
            render._print_grid(grid, [f], {"CMP003": "blocker"})
        assert ([line.rstrip(" ") for line in ours.file.getvalue().splitlines()]
                == [line.rstrip(" ") for line in grid.file.getvalue().splitlines()]), width
