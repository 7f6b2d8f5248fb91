"""Two versions of a Dockerfile compared stage by stage, and a service's Dockerfile read at a revision."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from agent.core.errors import UserError
from sources.git import GitError, read_blob_at, resolve_commit
from tools.dockerfile.model import DockerfileInfo, Instruction, Stage
from tools.dockerfile.parse import parse_dockerfile_text

# ---------------------------------------------------------------- diff

@dataclass
class InstructionChange:
    old: Instruction
    new: Instruction


@dataclass
class StageDiff:
    status: str  # added | removed | changed | unchanged
    old: Stage | None
    new: Stage | None
    added: list[Instruction] = field(default_factory=list)
    removed: list[Instruction] = field(default_factory=list)
    changed: list[InstructionChange] = field(default_factory=list)
    base_change: tuple[str | None, str | None] | None = None
    expose_change: tuple[list, list] | None = None
    user_change: tuple[str | None, str | None] | None = None
    healthcheck_change: tuple[str | None, str | None] | None = None
    name_change: tuple[str | None, str | None] | None = None

    @property
    def label(self) -> str:
        stage = self.new or self.old
        return stage.label if stage else "?"

    def summary(self) -> list[str]:
        """One line per notable change, for text output."""
        out: list[str] = []
        if self.status in ("added", "removed"):
            stage = self.new or self.old
            out.append(f"stage {self.label} {self.status} (FROM {stage.base_image}, line {stage.line})")
            return out
        if self.name_change:
            out.append(f"stage renamed {self.name_change[0]} -> {self.name_change[1]}")
        if self.base_change:
            out.append(f"base image {self.base_change[0]} -> {self.base_change[1]}")
        if self.expose_change:
            fmt = lambda ports: ", ".join(f"{p}/{proto}" for p, proto in ports) or "none"
            out.append(f"EXPOSE {fmt(self.expose_change[0])} -> {fmt(self.expose_change[1])}")
        if self.user_change:
            out.append(f"USER {self.user_change[0] or 'root (default)'} -> {self.user_change[1] or 'root (default)'}")
        if self.healthcheck_change:
            out.append(f"HEALTHCHECK {self.healthcheck_change[0] or 'none'} -> {self.healthcheck_change[1] or 'none'}")
        for ins in self.removed:
            out.append(f"- line {ins.start_line}: {ins.normalized()}")
        for ins in self.added:
            out.append(f"+ line {ins.start_line}: {ins.normalized()}")
        for ch in self.changed:
            out.append(f"~ line {ch.old.start_line} -> {ch.new.start_line}: {ch.old.normalized()}  =>  {ch.new.normalized()}")
        return out

    def to_dict(self) -> dict:
        ins = lambda i: {"cmd": i.cmd, "line": i.start_line, "end_line": i.end_line, "text": i.normalized()}
        return {
            "stage": self.label, "status": self.status,
            "old_index": self.old.index if self.old else None, "new_index": self.new.index if self.new else None,
            "added": [ins(i) for i in self.added], "removed": [ins(i) for i in self.removed],
            "changed": [{"old": ins(c.old), "new": ins(c.new)} for c in self.changed],
            "base_change": list(self.base_change) if self.base_change else None,
            "expose_change": [[f"{p}/{pr}" for p, pr in side] for side in self.expose_change] if self.expose_change else None,
            "user_change": list(self.user_change) if self.user_change else None,
            "healthcheck_change": list(self.healthcheck_change) if self.healthcheck_change else None,
            "name_change": list(self.name_change) if self.name_change else None,
        }


@dataclass
class DockerfileDiff:
    old: DockerfileInfo
    new: DockerfileInfo
    stages: list[StageDiff]
    unified: str
    args_change: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    from_rev: str | None = None
    to_rev: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.unified)

    def summary(self) -> list[str]:
        out = [f"ARG {k}: {a} -> {b}" for k, (a, b) in self.args_change.items()]
        for sd in self.stages:
            lines = sd.summary()
            if lines:
                out.append(f"[{sd.label}]")
                out.extend(f"  {line}" for line in lines)
        return out

    def to_dict(self) -> dict:
        return {
            "path": self.new.path, "from": self.from_rev, "to": self.to_rev, "changed": self.changed,
            "args_change": {k: list(v) for k, v in self.args_change.items()},
            "stages": [s.to_dict() for s in self.stages],
            "errors": {"old": [str(e) for e in self.old.errors], "new": [str(e) for e in self.new.errors]},
            "unified": self.unified,
        }


def diff_dockerfile(old_text: str | bytes, new_text: str | bytes, path: str = "Dockerfile",
                    from_label: str = "a", to_label: str = "b") -> DockerfileDiff:
    """Stage-aware diff: stages paired by name, then by index; instructions diffed inside each pair."""
    old = parse_dockerfile_text(old_text, path)
    new = parse_dockerfile_text(new_text, path)
    unified = "".join(difflib.unified_diff(
        old.text.splitlines(keepends=True), new.text.splitlines(keepends=True),
        fromfile=f"{from_label}/{path}", tofile=f"{to_label}/{path}",
    ))
    args_change = {
        k: (old.args.get(k), new.args.get(k))
        for k in sorted(set(old.args) | set(new.args))
        if k not in old.args or k not in new.args or old.args[k] != new.args[k]
    }
    return DockerfileDiff(old, new, [_diff_stage(a, b) for a, b in _pair_stages(old.stages, new.stages)],
                          unified, args_change)


def _pair_stages(old: list[Stage], new: list[Stage]) -> list[tuple[Stage | None, Stage | None]]:
    pairs: list[tuple[Stage | None, Stage | None]] = []
    new_left = list(new)
    old_left: list[Stage] = []
    for o in old:
        match = next((n for n in new_left if o.name and n.name and o.name.lower() == n.name.lower()), None)
        if match is not None:
            new_left.remove(match)
            pairs.append((o, match))
        else:
            old_left.append(o)
    for o in list(old_left):
        # A named stage keeps its name elsewhere; pairing it by index would hide that move.
        match = next((n for n in new_left if n.index == o.index
                      and not (n.name and any(s.name == n.name for s in old))), None)
        if match is not None:
            new_left.remove(match)
            old_left.remove(o)
            pairs.append((o, match))
    pairs.extend((o, None) for o in old_left)
    pairs.extend((None, n) for n in new_left)
    order = lambda p: (p[1].index if p[1] else p[0].index, 0 if p[1] else 1)
    return sorted(pairs, key=order)


def _hc_text(stage: Stage | None) -> str | None:
    return stage.healthcheck.command_text() if stage and stage.healthcheck else None


def _diff_stage(old: Stage | None, new: Stage | None) -> StageDiff:
    if old is None or new is None:
        return StageDiff("added" if old is None else "removed", old, new,
                         added=list(new.instructions) if new else [],
                         removed=list(old.instructions) if old else [])
    sd = StageDiff("unchanged", old, new)
    a = [i.normalized() for i in old.instructions]
    b = [i.normalized() for i in new.instructions]
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        olds, news = old.instructions[i1:i2], new.instructions[j1:j2]
        if tag == "replace":
            # Same keyword at the same place reads as one changed instruction.
            for o in list(olds):
                n = next((x for x in news if x.cmd == o.cmd), None)
                if n is not None:
                    sd.changed.append(InstructionChange(o, n))
                    olds.remove(o)
                    news.remove(n)
        sd.removed.extend(olds)
        sd.added.extend(news)
    if (old.base_ref or old.base_image) != (new.base_ref or new.base_image):
        sd.base_change = (old.base_ref or old.base_image, new.base_ref or new.base_image)
    if sorted(old.exposes) != sorted(new.exposes):
        sd.expose_change = (sorted(old.exposes), sorted(new.exposes))
    if old.user != new.user:
        sd.user_change = (old.user, new.user)
    if _hc_text(old) != _hc_text(new):
        sd.healthcheck_change = (_hc_text(old), _hc_text(new))
    if old.name != new.name:
        sd.name_change = (old.name, new.name)
    if (sd.added or sd.removed or sd.changed or sd.name_change or sd.base_change or sd.expose_change
            or sd.user_change or sd.healthcheck_change):
        sd.status = "changed"
    return sd


def dockerfile_at(repo_dir: Path, rev: str | None, path: str) -> str:
    """The Dockerfile at `rev` in the git repo `repo_dir` (git show REV:path), or the working tree when rev is None."""
    repo_dir = Path(repo_dir)
    if rev is None:
        full = repo_dir / path
        try:
            return full.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            raise UserError(f"cannot read {full}: {exc.strerror or exc}", "check the service's Dockerfile path") from None
    try:
        commit = resolve_commit(repo_dir, rev)
    except (GitError, OSError) as exc:
        reason = exc.message if isinstance(exc, GitError) else str(exc)
        raise UserError(f"cannot read git history in {repo_dir}: {reason}", "is the submodule initialised?") from None
    if commit is None:
        raise UserError(f"unknown revision {rev!r} in {repo_dir}", "give a commit, tag or branch of that repository")
    data = read_blob_at(repo_dir, commit, path)
    if data is None:
        raise UserError(f"{path} does not exist at {rev} ({commit[:12]}) in {repo_dir}")
    return data.decode("utf-8", errors="replace")


def diff_service_dockerfile(submodule_dir: Path, dockerfile_rel: str, from_rev: str,
                            to_rev: str | None) -> DockerfileDiff:
    """The diff behind `devops-agent dockerfile diff SERVICE --from REV [--to REV]` (to_rev None = working tree)."""
    old_text = dockerfile_at(submodule_dir, from_rev, dockerfile_rel)
    new_text = dockerfile_at(submodule_dir, to_rev, dockerfile_rel)
    diff = diff_dockerfile(old_text, new_text, dockerfile_rel, from_label=from_rev, to_label=to_rev or "worktree")
    diff.from_rev, diff.to_rev = from_rev, to_rev
    return diff
