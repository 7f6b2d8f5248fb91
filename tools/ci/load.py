"""Workflows loaded from YAML into the model, each value with the line it was written on."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from agent.core import yaml_safe
from tools.ci.model import ActionRef, Environment, FILTER_KEYS, Job, ParseError, SHA_RE, Step, Trigger, Workflow

# ---------------------------------------------------------------- loading

def load_workflow(path: Path, rel_path: str, text: str | None = None, node: Any = None) -> Workflow:
    """Read one workflow; never raises: unreadable or malformed input lands in `errors`. `node` is the
    document as the session's source composed it (yaml_safe, measured): it is not parsed again."""
    wf = Workflow(name=None, path=Path(path), rel_path=rel_path)
    if node is None and text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            wf.errors.append(ParseError(f"cannot read {rel_path}: {exc}"))
            return wf
    try:
        root = node if node is not None else yaml_safe.load_node(text or "", rel_path, construct=False)[0]
    except yaml_safe.YamlLimitError as exc:
        wf.errors.append(ParseError(f"YAML error: {exc.problem}"))
        return wf
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        msg = " ".join(p for p in (exc.context, exc.problem) if p) or str(exc)
        wf.errors.append(ParseError(f"YAML error: {msg}", mark.line + 1 if mark else None, mark.column + 1 if mark else None))
        return wf
    except yaml.YAMLError as exc:
        wf.errors.append(ParseError(f"YAML error: {exc}"))
        return wf
    if root is None:
        wf.errors.append(ParseError("empty workflow file", 1, 1))
        return wf
    dups: list[tuple[tuple, int]] = []
    wf.raw = _build(root, (), wf._nodes, wf._key_lines, dups, {})
    for dpath, line in dups:
        wf.errors.append(ParseError(f"duplicate key {'.'.join(map(str, dpath))!s}", line))
    if not isinstance(wf.raw, dict):
        wf.errors.append(ParseError("a workflow must be a mapping at the top level", root.start_mark.line + 1, 1))
        return wf
    raw = wf.raw
    wf.name = as_str(raw.get("name"))
    wf.env = _dict(raw.get("env"))
    if "on" not in raw:
        wf.errors.append(ParseError("missing `on`: the workflow has no trigger", 1, 1))
    wf.triggers = _triggers(wf, raw.get("on"))
    jobs = raw.get("jobs")
    if not isinstance(jobs, dict):
        wf.errors.append(ParseError("missing or invalid `jobs`", wf.line_of("jobs") or 1))
        return wf
    for job_id, job in jobs.items():
        wf.jobs[str(job_id)] = _job(wf, str(job_id), job if isinstance(job, dict) else {})
    return wf


def load_workflows(root: Path, repo_root: Path | None = None) -> list[Workflow]:
    """Every `.github/workflows/*.y*ml` under `root`, sorted, with paths relative to `repo_root`."""
    base = repo_root or root
    wdir = Path(root) / ".github" / "workflows"
    if not wdir.is_dir():
        return []
    files = sorted(p for p in wdir.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
    return [load_workflow(p, p.relative_to(base).as_posix()) for p in files]


def _scalar(node: ScalarNode) -> Any:
    # GitHub reads YAML 1.2: only true/false are booleans; `on`, `yes`, `off` stay strings.
    if node.style:
        return node.value
    tag, value = node.tag, node.value
    if tag.endswith(":bool"):
        low = value.lower()
        return {"true": True, "false": False}.get(low, value)
    if tag.endswith(":null"):
        return None
    if tag.endswith(":int"):
        try:
            return int(value.replace("_", ""), 0)
        except ValueError:
            return value
    if tag.endswith(":float"):
        try:
            return float(value.replace("_", ""))
        except ValueError:
            return value
    return value


def _build(node: Node, path: tuple, nodes: dict, key_lines: dict, dups: list, memo: dict) -> Any:
    nodes[path] = node
    if isinstance(node, ScalarNode):
        return _scalar(node)
    if id(node) in memo:  # an alias: share the value, index the first occurrence only
        return memo[id(node)]
    if isinstance(node, SequenceNode):
        out: list = []
        memo[id(node)] = out
        for i, item in enumerate(node.value):
            out.append(_build(item, path + (i,), nodes, key_lines, dups, memo))
        return out
    if isinstance(node, MappingNode):
        outd: dict = {}
        memo[id(node)] = outd
        merges = []
        for knode, vnode in node.value:
            key = knode.value if isinstance(knode, ScalarNode) else str(_build(knode, path + ("?",), {}, {}, [], {}))
            if key == "<<" and isinstance(knode, ScalarNode) and knode.tag.endswith(":merge"):
                merges.append(_build(vnode, path + ("<<",), nodes, key_lines, dups, memo))
                continue
            p = path + (key,)
            if key in outd:
                dups.append((p, knode.start_mark.line + 1))
            key_lines[p] = knode.start_mark.line + 1
            outd[key] = _build(vnode, p, nodes, key_lines, dups, memo)
        for merged in merges:
            for m in merged if isinstance(merged, list) else [merged]:
                if isinstance(m, dict):
                    for k, v in m.items():
                        outd.setdefault(k, v)
        return outd
    return None


def as_str(value: Any) -> str | None:
    """A YAML scalar as the string GitHub reads (`true`/`false` for booleans), None when absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[str]:
    """A string-or-list value (`needs:`, filters) as a list of strings."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _triggers(wf: Workflow, on: Any) -> dict[str, Trigger]:
    out: dict[str, Trigger] = {}
    if isinstance(on, str):
        out[on] = Trigger(on, line=wf.line_of("on"))
    elif isinstance(on, list):
        for i, ev in enumerate(on):
            out[str(ev)] = Trigger(str(ev), line=wf.line_of("on", i))
    elif isinstance(on, dict):
        for ev, cfg in on.items():
            trig = Trigger(ev, line=wf.line_of("on", ev))
            if isinstance(cfg, dict):
                for key in FILTER_KEYS:
                    setattr(trig, key.replace("-", "_"), as_list(cfg.get(key)))
            elif isinstance(cfg, list) and ev == "schedule":
                trig.crons = [str(c.get("cron")) for c in cfg if isinstance(c, dict) and c.get("cron")]
            out[ev] = trig
    return out


def split_image(ref: str) -> tuple[str, str | None]:
    """`registry/repo:tag` → (registry/repo, tag); digests are kept as the tag."""
    if "@" in ref:
        name, digest = ref.split("@", 1)
        return name, "@" + digest
    masked = re.sub(r"<[^<>]*>", lambda m: "x" * len(m.group(0)), ref)  # `<sha:long>` holds a colon
    slash = masked.rfind("/")
    colon = masked.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:]
    return ref, None


def parse_uses(raw: str) -> ActionRef:
    """`owner/repo[/path]@ref`, `./local`, or `docker://image[:tag|@digest]`."""
    raw = raw.strip()
    if raw.startswith("./") or raw.startswith("../"):
        return ActionRef(raw, "local", raw, None, False)
    if raw.startswith("docker://"):
        image = raw[len("docker://"):]
        if "@" in image:
            name, digest = image.split("@", 1)
            return ActionRef(raw, "docker", name, digest, digest.startswith("sha256:"))
        name, tag = split_image(image)
        return ActionRef(raw, "docker", name, tag, False)
    action, _, ref = raw.partition("@")
    kind = "workflow" if "/.github/workflows/" in action else "action"
    return ActionRef(raw, kind, action, ref or None, bool(ref and SHA_RE.match(ref)))


def _job(wf: Workflow, job_id: str, job: dict) -> Job:
    env = job.get("environment")
    environment = None
    if isinstance(env, dict) and env.get("name") is not None:
        environment = Environment(str(env.get("name")), as_str(env.get("url")))
    elif isinstance(env, (str, int)) and not isinstance(env, bool):
        environment = Environment(str(env))
    steps = []
    for i, step in enumerate(job.get("steps") or [] if isinstance(job.get("steps"), list) else []):
        step = step if isinstance(step, dict) else {}
        run = step.get("run")
        run_node = wf._nodes.get(("jobs", job_id, "steps", i, "run"))
        run_line = None
        if run_node is not None:
            # A block scalar's text starts on the line after `run: |`.
            run_line = run_node.start_mark.line + (2 if getattr(run_node, "style", None) in ("|", ">") else 1)
        steps.append(Step(
            index=i,
            name=as_str(step.get("name")),
            id=as_str(step.get("id")),
            uses=parse_uses(str(step["uses"])) if step.get("uses") else None,
            run=as_str(run),
            with_=_dict(step.get("with")),
            env=_dict(step.get("env")),
            if_=as_str(step.get("if")),
            line=wf.line_of("jobs", job_id, "steps", i),
            run_line=run_line,
        ))
    needs = job.get("needs")
    return Job(
        id=job_id,
        name=as_str(job.get("name")),
        if_=as_str(job.get("if")),
        needs=as_list(needs),
        runs_on=job.get("runs-on"),
        environment=environment,
        permissions=job.get("permissions"),
        env=_dict(job.get("env")),
        steps=steps,
        line=wf.line_of("jobs", job_id),
        uses=parse_uses(str(job["uses"])) if job.get("uses") else None,
        secrets=job.get("secrets"),
        matrix=(job.get("strategy") or {}).get("matrix") if isinstance(job.get("strategy"), dict) else None,
    )
