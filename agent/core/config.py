"""Project config `.devops-agent.yaml`: binds the charter's abstract sources to this machine.

Optional; every key is typed and checked here (unknown keys are an error), with plain dataclasses:
pydantic would cost more to import than the whole of a warm `review`.
"""
from __future__ import annotations

import dataclasses
import datetime
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agent.core import yaml_safe
from agent.core.errors import UserError

CONFIG_NAME = ".devops-agent.yaml"
DEFAULT_MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_APPROVAL_TTL_DAYS = 7
MAX_CONFIG_BYTES = 256 * 1024


# The Notion property each fact is read from, named as the platform's databases name them (the Product
# charter's intention format); `notion.properties` renames them. None: the data source's title property.
NOTION_PROPERTIES: dict[str, str | None] = {
    "release_title": None,
    "release_tag": "Tag",
    "release_status": "Statut",
    "intention_title": None,
    "intention_release": "Release",
    "problem": "Problème utilisateur",
    "hypothesis": "Hypothèse",
    "value": "Valeur attendue",
    "success": "Critère de succès",
    "validation": "Validation",
}
STATE_DIR = ".devops-agent"  # the repo's local state: the gate's store, the turn log, the Notion cache


class ConfigValueError(ValueError):
    """One key of the config has the wrong shape: `where` is its dotted path."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where


@dataclass
class NotionConfig:
    # The live API (sources/notion.py): read when both databases are set and the token variable is.
    token_env: str = "NOTION_TOKEN"
    base_url: str | None = None  # the API's root without /v1 (a proxy, or a test server)
    release_database: str | None = None
    intention_database: str | None = None
    # The property names, when they differ from the platform's French ones (NOTION_PROPERTIES).
    properties: dict[str, str] = field(default_factory=dict)
    release: str | None = None  # a release tag to read instead of the one `En cours` (--release)
    timeout: int | None = None  # seconds per request
    # A Notion "Markdown & CSV" export folder (repo-relative or absolute): read when the API is not
    # configured, or has no token on this machine.
    export_dir: str | None = None

    def __post_init__(self) -> None:
        for key in self.properties:
            if key not in NOTION_PROPERTIES:
                raise ConfigValueError(f"notion.properties.{key}", f"unknown property key; the keys are "
                                                                   f"{', '.join(NOTION_PROPERTIES)}")
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigValueError("notion.timeout", "must be a number of seconds greater than 0")


TOOL_CHOICES = ("auto", "two-step")


@dataclass
class ModelConfig:
    # The model of `ask` and `chat` (flags, then OPENAI_* / DEVOPS_AGENT_* variables, win over these).
    # Never a key: OPENAI_API_KEY stays in the environment.
    name: str | None = None
    base_url: str | None = None
    timeout: int | None = None
    max_tokens: int | None = None
    prompt_budget: int | None = None
    max_tool_calls: int | None = None  # tool calls in one turn before the model must answer (default 15)
    tool_choice: str | None = None  # auto (default) or two-step: pick a tool, then call it forced (agent/loop.py)

    def __post_init__(self) -> None:
        if self.tool_choice is not None and self.tool_choice not in TOOL_CHOICES:
            raise ConfigValueError("tool_choice", f"must be {' or '.join(TOOL_CHOICES)}")


@dataclass
class ExtraGlobs:
    dockerfile: list[str] = field(default_factory=list)
    ci_workflow: list[str] = field(default_factory=list)
    compose: list[str] = field(default_factory=list)
    docs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for kind in ("dockerfile", "ci_workflow", "compose", "docs"):
            for i, pattern in enumerate(getattr(self, kind)):
                where = f"extra_globs.{kind}[{i}]"
                if not isinstance(pattern, str) or not pattern.strip():
                    raise ConfigValueError(where, "an empty pattern; write a glob relative to the repository, "
                                                  "e.g. deploy/*.yml")
                if pattern.startswith(("/", "\\")) or (len(pattern) > 1 and pattern[1] == ":") or \
                        ".." in pattern.replace("\\", "/").split("/"):
                    raise ConfigValueError(where, f"{pattern!r} reaches outside the repository; write a glob "
                                                  "relative to the repository, e.g. deploy/*.yml")


_CHECK_ID = re.compile(r"^[A-Z]{2,5}[0-9]{3}$")


@dataclass
class IgnoreEntry:
    """An accepted finding (`ignore:`): the check's id, the files it covers (a glob, default every file), why,
    and until when. Without a reason it still applies, and the review reports it (SUP001); once expired it no
    longer applies, and the review says so."""

    id: str
    path: str = "*"
    reason: str = ""
    expires: object = None  # a YAML date (2027-01-31) or the same as a string; a datetime.date once loaded

    def __post_init__(self) -> None:
        if not _CHECK_ID.match(self.id):
            raise ConfigValueError("id", f"{self.id!r} is not a check id; write one such as DKF002 "
                                                "(`devops-agent checks` lists them)")
        if not self.path.strip() or self.path.startswith("/") or ".." in self.path.split("/"):
            raise ConfigValueError("path", f"{self.path!r}: write a glob relative to the repository, "
                                                  "e.g. api/Dockerfile or services/*/compose.yaml")
        if self.expires is not None and not isinstance(self.expires, datetime.date):
            try:
                self.expires = datetime.date.fromisoformat(str(self.expires))
            except ValueError:
                raise ConfigValueError("expires", f"{self.expires!r} is not a date; write YYYY-MM-DD") from None
        if isinstance(self.expires, datetime.datetime):
            self.expires = self.expires.date()

    def expired(self, today: datetime.date) -> bool:
        return isinstance(self.expires, datetime.date) and today > self.expires


@dataclass
class ProjectConfig:
    charter: str | None = None
    # The charter names a rules file on its author's machine; this binds it here.
    rules_file: str | None = None
    notion: NotionConfig | None = None
    # Compose environments: name -> the `-f` files, in order.
    environments: dict[str, list[str]] = field(default_factory=dict)
    # Deployment notes (the charter's optional "notes de déploiement").
    deploy_notes: list[str] = field(default_factory=list)
    extra_globs: ExtraGlobs = field(default_factory=ExtraGlobs)
    model: ModelConfig | None = None
    # owner/repo of the platform on GitHub, for `${{ github.repository }}` in workflows whose
    # submodule URL is not a GitHub one (the owner is reused for the submodules).
    github_repository: str | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    # Capped: a config (which the role can edit) may only shorten how long an approval stays valid.
    approval_ttl_days: int = MAX_APPROVAL_TTL_DAYS
    # Kept so that older configs still load: Product's SSH signature is now always required
    # (docs/gate-security.md); the value changes nothing.
    require_product_key: bool = True
    # Accepted findings (docs/config.md, "Accepting a finding"); each is listed in every report, never silent.
    ignore: list[IgnoreEntry] = field(default_factory=list)
    # The review baseline `review` compares with when no --baseline is given (repo-relative).
    baseline: str | None = None

    def __post_init__(self) -> None:
        if self.max_file_bytes <= 0:
            raise ConfigValueError("max_file_bytes", "must be greater than 0")
        if not 0 < self.approval_ttl_days <= MAX_APPROVAL_TTL_DAYS:
            raise ConfigValueError("approval_ttl_days", f"must be between 1 and {MAX_APPROVAL_TTL_DAYS}")
        for name, files in self.environments.items():
            if not files:
                raise ConfigValueError(f"environments.{name}", f"environment {name!r} lists no compose file")

    @classmethod
    def model_validate(cls, raw: Any) -> "ProjectConfig":
        """The config of a parsed YAML mapping; ConfigValueError names the first key that is wrong."""
        return _build(cls, raw, "")


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false"}


def _value(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None and len(options) < len(typing.get_args(kind)):
            return None
        return _value(options[0], value, where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigValueError(where, "should be a list")
        return [_value(typing.get_args(kind)[0], v, f"{where}.{i}") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigValueError(where, "should be a mapping")
        key_kind, value_kind = typing.get_args(kind)
        return {_value(key_kind, k, where): _value(value_kind, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, where)
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigValueError(where, "should be an integer")
    if not isinstance(value, kind):
        raise ConfigValueError(where, f"should be {_TYPE_NAMES.get(kind, kind.__name__)}")
    return value


def _build(cls: Any, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigValueError(where, "should be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in raw.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise ConfigValueError(path, f"unknown key {path!r}")
        values[key] = _value(hints[key], value, path)
    try:
        return cls(**values)
    except ConfigValueError as exc:  # a list item's own check names its key alone: say which item
        if where and "." not in exc.where and "[" not in exc.where:
            raise ConfigValueError(f"{where}.{exc.where}", str(exc).split(": ", 1)[1]) from None
        raise


def load_config(repo: Path, path: Path | None = None) -> tuple[ProjectConfig, Path | None]:
    """The repo's config, or defaults when there is none. Returns the file used."""
    cfg_path = path or repo / CONFIG_NAME
    if not cfg_path.exists() and not cfg_path.is_symlink():  # a broken link or a loop is reported, not ignored
        if path is not None:
            raise UserError(f"config {cfg_path} does not exist", "pass an existing file to --config")
        return ProjectConfig(), None
    if not cfg_path.is_file():
        raise UserError(f"config {cfg_path} is not a regular file", f"make {CONFIG_NAME} a YAML file, or remove it")
    try:
        size = cfg_path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise UserError(f"{cfg_path.name} is {size:,} bytes, over the {MAX_CONFIG_BYTES:,}-byte cap of a config",
                            "a config is a few lines: check that this is the right file")
        raw = yaml_safe.load(cfg_path.read_text(encoding="utf-8"), cfg_path.name)
    except OSError as exc:
        raise UserError(f"config {cfg_path} cannot be read: {exc.strerror or exc}", "check its permissions") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{cfg_path.name}: not valid UTF-8 ({exc.reason} at byte {exc.start})",
                        "save the file as UTF-8") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{cfg_path.name}: YAML syntax error{where}: {problem}",
                        "fix the YAML and run again") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"{cfg_path.name}: expected a mapping at the top level, got {type(raw).__name__}",
                        f"see docs/config.md for the keys of {CONFIG_NAME}")
    try:
        return ProjectConfig.model_validate(raw), cfg_path
    except ConfigValueError as exc:
        message = str(exc).split(": ", 1)[1] if str(exc).startswith(f"{exc.where}: unknown key") \
            or "lists no compose file" in str(exc) else str(exc)
        raise UserError(f"{cfg_path.name}: {message}", f"see docs/config.md for the keys of {CONFIG_NAME}") from None
