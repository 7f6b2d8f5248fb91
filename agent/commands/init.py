"""`init`: a charter and `.devops-agent.yaml` for a repo that has none, from what the repo holds."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from agent.commands import kit

from agent.commands.common import RepoOpt, app
from agent.core.charter_template import charter_text
from agent.core.errors import UserError



def _q(path: str) -> str:
    """A path as a YAML (JSON) string, so that spaces or colons stay data."""
    return json.dumps(path, ensure_ascii=False)


def config_text(discovery, notion_export: str | None, rules: str | None, docs: list[str]) -> str:
    lines = ["# Written by `devops-agent init`: binds the charter's sources to this repository",
             "# (keys: docs/config.md). Edit freely; `devops-agent sources` shows what is loaded."]
    if rules:
        lines.append(f"rules_file: {_q(rules)}")
    if notion_export:
        lines += ["notion:", f"  export_dir: {_q(notion_export)}  # a Notion \"Markdown & CSV\" export"]
    if discovery.environments:
        lines.append("# Compose environments, with the -f files in order, and where each was found.")
        lines.append("environments:")
        for env in discovery.environments.values():
            files = ", ".join(_q(f) for f in env.files)
            lines.append(f"  {_q(env.name)}: [{files}]  # from {env.origin_text()}")
    for u in discovery.unresolved:
        lines.append(f"# cannot tell which file `-f {u.argument}` names at {u.path}:{u.line}: "
                     "add that environment above by hand")
    for path in discovery.orphans:
        lines.append(f"# {path} is in no environment: add the environment that uses it")
    if docs:
        lines.append(f"deploy_notes: [{', '.join(_q(d) for d in docs)}]")
    return "\n".join(lines) + "\n"


def _discover(root: Path):
    """What the repo holds, read as a session with a charter that asks for every kind of source."""
    import tempfile

    from agent.session import open_session

    from agent.core.charter_template import generic_charter_text

    probe = generic_charter_text(root.name)  # every kind of source, looked for where the tools look
    with tempfile.TemporaryDirectory(prefix="devops-agent-init-") as tmp:
        charter = Path(tmp) / "charter.md"
        charter.write_text(probe, encoding="utf-8")
        empty = Path(tmp) / "config.yaml"
        empty.write_text("{}\n", encoding="utf-8")
        session = open_session(root, charter=charter, config=empty, run_checks=False, signatures=False)
        found: dict[str, list[str]] = {k: [] for k in ("compose", "dockerfile", "ci_workflow", "docs")}
        for src in session.sources:
            if src.kind in found and src.ok:
                found[src.kind].append(src.path)
    # Dockerfiles that no compose service builds yet (CI builds them) are the repo's too.
    for pattern in ("Dockerfile*", "*.Dockerfile", "*/Dockerfile*", "*/*.Dockerfile"):
        for hit in sorted(root.glob(pattern)):
            rel = hit.relative_to(root).as_posix()
            if hit.is_file() and not rel.startswith((".", "node_modules/")) and rel not in found["dockerfile"]:
                found["dockerfile"].append(rel)
    return found, session.discovery()


@app.command()
def init(
    repo: Optional[Path] = RepoOpt,
    notion_export: Optional[str] = kit.Option(None, "--notion-export", metavar="DIR",
                                                help="Bind a Notion 'Markdown & CSV' export (Release / Intention)."),
    rules: Optional[str] = kit.Option(None, "--rules", metavar="FILE", help="Bind the rules file."),
    force: bool = kit.Option(False, "--force", help="Overwrite an existing charter or config."),
) -> None:
    """Write a charter (.codex/agents/devops-engineer.md) and .devops-agent.yaml for a repo that has none."""
    from agent.core.config import CONFIG_NAME, load_config
    from agent.session import REPO_CHARTER, resolve_repo

    root = resolve_repo(repo)
    charter_path, config_path = root / REPO_CHARTER, root / CONFIG_NAME
    existing = [p for p in (config_path, charter_path) if p.exists() or p.is_symlink()]
    if existing and not force:
        raise UserError(f"{existing[0].relative_to(root)} already exists", "pass --force to overwrite it")
    if notion_export and not (root / notion_export if not Path(notion_export).is_absolute()
                              else Path(notion_export)).expanduser().is_dir():
        raise UserError(f"--notion-export {notion_export} is not a directory", "pass the export's folder")
    found, discovery = _discover(root)
    charter = charter_text(root.name, found, notion=bool(notion_export), rules=rules)
    config = config_text(discovery, notion_export, rules, found["docs"])
    for path in (config_path, charter_path):
        if path.is_symlink() or path.is_dir():
            raise UserError(f"{path.relative_to(root)} is a symlink or a directory", "remove it, then run init again")
    charter_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(config, encoding="utf-8")
    charter_path.write_text(charter, encoding="utf-8")
    load_config(root)  # what was written loads: a bug here must not leave a config that breaks every command
    kit.echo(f"wrote {CONFIG_NAME} ({len(discovery.environments)} environment(s): "
               f"{', '.join(discovery.environments) or 'none'}) and {REPO_CHARTER}; "
               f"next: devops-agent review --repo {root}")
