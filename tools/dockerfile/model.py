"""What a Dockerfile holds once parsed: instructions, stages, copies, healthchecks, and the parse problems with their lines."""
from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field

from tools.dockerfile.imageref import ImageRef, image_env
from tools.facts.shell import split_words

# ---------------------------------------------------------------- model

# Packages whose binary has another name; any other package provides a binary of its own name.
PACKAGE_BINARIES: dict[str, tuple[str, ...]] = {
    "httpie": ("http", "https"), "curl-minimal": ("curl",), "wget2": ("wget",), "netcat-openbsd": ("nc",),
    "netcat-traditional": ("nc",), "netcat": ("nc",), "iputils-ping": ("ping",), "procps": ("ps", "pgrep"),
    "postgresql-client": ("psql", "pg_isready"), "default-mysql-client": ("mysql", "mysqladmin"),
    "mysql-client": ("mysql", "mysqladmin"), "mariadb-client": ("mariadb", "mysql", "mysqladmin"),
    "redis-tools": ("redis-cli",), "redis": ("redis-cli", "redis-server"),
}


@dataclass
class Instruction:
    cmd: str  # upper-cased keyword
    original: str
    start_line: int
    end_line: int
    flags: list[str] = field(default_factory=list)
    value: list[str] = field(default_factory=list)
    json: bool = False
    sub_cmd: str | None = None  # ONBUILD's inner keyword
    heredocs: list[str] = field(default_factory=list)  # heredoc bodies, in order

    def normalized(self) -> str:
        """Whitespace-insensitive text, for diffs."""
        return " ".join(self.original.split())


@dataclass
class ParseProblem:
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass
class ExecForm:
    """CMD / ENTRYPOINT: argv as written; shell form keeps the single command string."""

    argv: list[str]
    shell: bool
    line: int

    def words(self) -> list[str]:
        if not self.shell:
            return list(self.argv)
        try:
            return split_words(self.argv[0]) if self.argv else []
        except ValueError:
            return self.argv[0].split() if self.argv else []


@dataclass
class Healthcheck:
    """Docker's own form: test == ['NONE'] | ['CMD', argv...] | ['CMD-SHELL', 'command']."""

    test: list[str]
    options: dict[str, str]
    line: int

    @property
    def disabled(self) -> bool:
        return self.test[:1] == ["NONE"]

    def command_text(self) -> str:
        if self.disabled:
            return "NONE"
        if self.test[:1] == ["CMD-SHELL"]:
            return " ".join(self.test[1:])
        return " ".join(shlex.quote(w) for w in self.test[1:])


@dataclass
class Copy:
    instruction: str  # COPY or ADD
    sources: list[str]
    dest: str
    from_: str | None  # --from=stage|index|image
    flags: list[str]
    line: int
    heredoc: bool = False


@dataclass
class Stage:
    index: int
    name: str | None
    base_image: str  # as written, e.g. ${BASE} or nginx:alpine
    base_ref: str | None  # after global ARG substitution; None when a variable has no known value
    base: ImageRef | None  # parsed base_ref; None when the base is a stage, scratch or unresolved
    base_stage: str | None  # the earlier stage this one builds FROM
    pinned: str  # image_pin() value, or 'stage' | 'scratch' | 'unresolved'
    platform: str | None
    line: int
    user: str | None = None  # last USER (inherited from a base stage); None = the image's default, root for most
    user_line: int | None = None
    exposes: list[tuple[int, str]] = field(default_factory=list)
    expose_lines: dict[tuple[int, str], int] = field(default_factory=dict)
    healthcheck: Healthcheck | None = None
    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, str | None] = field(default_factory=dict)
    copies: list[Copy] = field(default_factory=list)
    cmd: ExecForm | None = None
    entrypoint: ExecForm | None = None
    workdir: str | None = None
    instructions: list[Instruction] = field(default_factory=list)
    packages: dict[str, int] = field(default_factory=dict)  # package -> line of the RUN that installs it (inherited)

    @property
    def label(self) -> str:
        return self.name or f"#{self.index}"

    def installs(self, binary: str) -> bool:
        """Whether a RUN of this stage (or of the stage it builds FROM) installs a package providing `binary`."""
        return any(binary in PACKAGE_BINARIES.get(pkg, (pkg,)) for pkg in self.packages)


@dataclass
class DockerfileInfo:
    path: str
    stages: list[Stage] = field(default_factory=list)
    args: dict[str, str | None] = field(default_factory=dict)  # global ARGs (before the first FROM)
    errors: list[ParseProblem] = field(default_factory=list)
    instructions: list[Instruction] = field(default_factory=list)
    directives: dict[str, str] = field(default_factory=dict)  # syntax, escape, check
    text: str = ""

    @property
    def final_stage(self) -> Stage | None:
        return self.stages[-1] if self.stages else None

    def stage(self, name_or_index: str | int) -> Stage | None:
        for s in self.stages:
            if s.index == name_or_index or (s.name and isinstance(name_or_index, str)
                                            and s.name.lower() == name_or_index.lower()):
                return s
        return None

    def root_stage(self, stage: Stage) -> Stage:
        """The first stage of `stage`'s FROM chain: the one whose base is an image."""
        seen = 0
        while stage.base_stage is not None and seen < len(self.stages):
            parent = self.stage(stage.base_stage)
            if parent is None:
                break
            stage, seen = parent, seen + 1
        return stage

    def runtime_env(self, stage: Stage) -> dict[str, str]:
        """The environment the stage's process starts with: its base image's own ENV, then the stage's."""
        return {**image_env(self.root_stage(stage).base), **stage.env}

    def heredoc_end_lines(self) -> list[int]:
        return [i.end_line for i in self.instructions if i.heredocs]

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("text")
        return data


def final_stage(info: DockerfileInfo) -> Stage | None:
    return info.final_stage
