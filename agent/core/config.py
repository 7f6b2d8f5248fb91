"""Project config `.devops-agent.yaml`: binds the charter's abstract sources to this machine.

Optional; validated with pydantic; unknown keys are an error.
"""
from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.core import yaml_safe
from agent.core.errors import UserError

CONFIG_NAME = ".devops-agent.yaml"
DEFAULT_MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_APPROVAL_TTL_DAYS = 7
MAX_CONFIG_BYTES = 256 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NotionConfig(_Strict):
    # A Notion "Markdown & CSV" export folder (repo-relative or absolute).
    export_dir: str | None = None
    # Live API settings (used when export_dir is not set).
    token_env: str = "NOTION_TOKEN"
    base_url: str | None = None
    release_database: str | None = None
    intention_database: str | None = None


class ExtraGlobs(_Strict):
    dockerfile: list[str] = Field(default_factory=list)
    ci_workflow: list[str] = Field(default_factory=list)
    compose: list[str] = Field(default_factory=list)
    docs: list[str] = Field(default_factory=list)


class ProjectConfig(_Strict):
    charter: str | None = None
    # The charter names a rules file on its author's machine; this binds it here.
    rules_file: str | None = None
    notion: NotionConfig | None = None
    # Compose environments: name -> the `-f` files, in order.
    environments: dict[str, list[str]] = Field(default_factory=dict)
    # Deployment notes (the charter's optional "notes de déploiement").
    deploy_notes: list[str] = Field(default_factory=list)
    extra_globs: ExtraGlobs = Field(default_factory=ExtraGlobs)
    # owner/repo of the platform on GitHub, for `${{ github.repository }}` in workflows whose
    # submodule URL is not a GitHub one (the owner is reused for the submodules).
    github_repository: str | None = None
    max_file_bytes: int = Field(default=DEFAULT_MAX_FILE_BYTES, gt=0)
    # Capped: a config (which the role can edit) may only shorten how long an approval stays valid.
    approval_ttl_days: int = Field(default=MAX_APPROVAL_TTL_DAYS, gt=0, le=MAX_APPROVAL_TTL_DAYS)
    # Kept so that older configs still load: Product's SSH signature is now always required
    # (docs/gate-security.md); the value changes nothing.
    require_product_key: bool = True

    @field_validator("environments")
    @classmethod
    def _non_empty_envs(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, files in value.items():
            if not files:
                raise ValueError(f"environment {name!r} lists no compose file")
        return value


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        return f"unknown key {where!r}"
    if kind == "missing":
        return f"missing key {where!r}"
    return f"{where}: {first['msg']}"


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
    except ValidationError as exc:
        raise UserError(f"{cfg_path.name}: {_describe(exc)}",
                        f"see docs/config.md for the keys of {CONFIG_NAME}") from exc
