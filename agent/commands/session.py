"""The session commands: charter, sources, review, checks."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from agent.commands import kit

from agent.commands.common import (CatalogueFmt, CharterOpt, ConfigOpt, Fmt, ReleaseOpt, RepoOpt, ReviewFmt,
                                   Severity, _session, app)


@app.command()
def charter(
    path: Optional[Path] = kit.Argument(None, help="Charter to parse (default: the one the session would use)."),
    repo: Optional[Path] = RepoOpt,
    fmt: Fmt = kit.Option(Fmt.text, "--format"),
) -> None:
    """The parsed charter: sections, sources with their priority."""
    from agent import render
    from agent.core.charter import parse_charter
    from agent.core.config import load_config
    from agent.session import load_charter, resolve_repo

    if path is None:
        root = resolve_repo(repo)
        cfg, _ = load_config(root)
        parsed, _ = load_charter(root, None, cfg)
    else:
        parsed = parse_charter(path)
    if fmt is Fmt.json:
        render.dump_json(parsed.to_dict())
    else:
        render.print_charter(parsed)


@app.command()
def sources(
    repo: Optional[Path] = RepoOpt,
    charter: Optional[Path] = CharterOpt,
    config: Optional[Path] = ConfigOpt,
    fmt: Fmt = kit.Option(Fmt.text, "--format"),
    release: Optional[str] = ReleaseOpt,
) -> None:
    """Every source of the session with provenance and load status (exit 1 if a required one is not loaded)."""
    from agent import render

    session = _session(repo, charter, config, run_checks=False, release=release)
    if fmt is Fmt.json:
        render.dump_json({"role": session.charter.role, "repo": str(session.root),
                          "counts": session.source_counts(),
                          "sources": [s.to_dict() for s in session.sources],
                          "environments": session.discovery().to_list()})
    else:
        render.print_sources(session)
    if any(s.blocking for s in session.sources):
        raise kit.Exit(1)


@app.command()
def review(
    repo: Optional[Path] = RepoOpt,
    charter: Optional[Path] = CharterOpt,
    config: Optional[Path] = ConfigOpt,
    fmt: ReviewFmt = kit.Option(ReviewFmt.text, "--format"),
    min_severity: Optional[Severity] = kit.Option(None, "--min-severity",
                                                    help="Show only findings at this severity or above (the verdict counts all)."),
    rev: Optional[str] = kit.Option(None, "--rev", help="Review a commit's blobs (config, charter, Notion export, submodules at their gitlinks), not the work tree."),
    release: Optional[str] = ReleaseOpt,
    baseline: Optional[Path] = kit.Option(None, "--baseline", metavar="FILE",
                                          help="Compare with this baseline (written when absent): only findings not in it decide the verdict; those in it are listed as suppressed (default: the config's `baseline:`)."),
    write_baseline: bool = kit.Option(False, "--write-baseline", help="Write the --baseline FILE again with every finding of this review."),
    fail_on: Severity = kit.Option(Severity.blocker, "--fail-on",
                                   help="The lowest severity that makes the verdict NO-GO (default blocker)."),
    since: Optional[str] = kit.Option(None, "--since", metavar="REV",
                                      help="Mark each finding new or unchanged against this tag or commit, and list its findings fixed since."),
    fail_on_new: bool = kit.Option(False, "--fail-on-new",
                                   help="Only findings new since --since (default: the last release tag) decide the verdict."),
) -> None:
    """The session brief: sources, release intentions, findings, verdict (exit 0 GO, 1 NO-GO, 3 CANNOT-TELL: a part of the review could not run)."""
    from agent.core.collect import few_collections

    with few_collections():  # the review and its rendering: thousands of findings, as many dicts
        _review(repo, charter, config, fmt, min_severity, rev, release, baseline, write_baseline, fail_on, since,
                fail_on_new)


def _review(repo, charter, config, fmt, min_severity, rev, release, baseline, write_baseline, fail_on, since,
            fail_on_new) -> None:
    from agent import render
    from agent.core.errors import UserError

    if write_baseline and baseline is None:
        raise UserError("--write-baseline needs --baseline FILE", "name the file: --baseline devops-agent-baseline.json")
    session = _session(repo, charter, config, rev=rev, release=release)
    session.fail_on = fail_on.value
    if baseline is None and session.config.baseline:
        baseline = session.root / session.config.baseline  # with --rev: the committed one
    if baseline is not None:
        session.compare_baseline(baseline, write=write_baseline)
    if since is None and fail_on_new:
        from tools.deliverables import last_release_tag

        since = last_release_tag(session.repo_root or session.root, rev or "HEAD")
        if since is None:
            raise UserError("--fail-on-new needs a revision to compare with, and the branch has no tag",
                            "pass --since REV (a commit or tag the branch contains)")
    if since is not None:
        session.compare_since(since, new_only=fail_on_new)
    session = session.filtered(min_severity.value if min_severity else None)
    if fmt is ReviewFmt.json:
        render.dump_json(render.review_json(session))
    elif fmt is ReviewFmt.markdown:
        sys.stdout.write(render.review_markdown(session))
    elif fmt is ReviewFmt.sarif:
        render.dump_json(render.review_sarif(session))
    elif fmt in (ReviewFmt.github, ReviewFmt.junit, ReviewFmt.compact):
        from agent import render_ci

        sys.stdout.write({ReviewFmt.github: render_ci.review_github, ReviewFmt.junit: render_ci.review_junit,
                          ReviewFmt.compact: render_ci.review_compact}[fmt](session))
    else:
        render.print_review(session)
    if session.exit_code:
        raise kit.Exit(session.exit_code)


@app.command()
def history(
    repo: Optional[Path] = RepoOpt,
    since: Optional[str] = kit.Option(None, "--since", metavar="TAG|REV",
                                      help="Where the history starts (default: the last tag before --until)."),
    until: Optional[str] = kit.Option(None, "--until", metavar="REV", help="Where it ends (default: HEAD)."),
    fmt: Fmt = kit.Option(Fmt.text, "--format"),
    no_cache: bool = kit.Option(False, "--no-cache", help="Review every state again, ignoring the cache."),
) -> None:
    """Each finding's life since a tag: the commit (platform, or submodule commit a gitlink brought in) that introduced it, with its author, date, Product's signature and proposal, and the commit that removed it."""
    from agent import render
    from agent.core.collect import few_collections
    from agent.history import history as walk
    from agent.session import resolve_repo

    with few_collections():  # hundreds of reviews' findings, alive until the lives are built
        found = walk(resolve_repo(repo), since=since, until=until, cache=not no_cache)
    if fmt is Fmt.json:
        render.dump_json(found.to_dict())
    else:
        render.print_history(found)


@app.command()
def checks(
    repo: Optional[Path] = RepoOpt,
    fmt: CatalogueFmt = kit.Option(CatalogueFmt.text, "--format"),
) -> None:
    """The check catalogue: id, severity, category, charter clause, remediation."""
    from agent import render
    from agent.core.config import load_config
    from agent.session import load_charter, resolve_repo

    root = resolve_repo(repo)
    parsed, _ = load_charter(root, None, load_config(root)[0])
    if fmt is CatalogueFmt.json:
        render.dump_json(render.catalogue(parsed))
    elif fmt is CatalogueFmt.markdown:
        sys.stdout.write(render.catalogue_markdown(parsed))
    else:
        render.print_catalogue(parsed)
