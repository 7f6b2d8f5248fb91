"""Dockerfiles read with BuildKit's own parser: stages, base images, ports, users, hadolint, diffs.

Never raises on bad input: parse problems land in `DockerfileInfo.errors` with a line.

One module per part: imageref, model, parse, hadolint, diff, ports; this package re-exports their public names."""
from __future__ import annotations

from tools.dockerfile.imageref import DEFAULT_REGISTRY, image_env, image_name, image_pin, ImageRef, parse_image_ref
from tools.dockerfile.model import Copy, DockerfileInfo, ExecForm, final_stage, Healthcheck, Instruction, PACKAGE_BINARIES, ParseProblem, Stage
from tools.dockerfile.parse import arg_pairs, installed_packages, KNOWN_INSTRUCTIONS, parse_dockerfile, parse_dockerfile_text, substitute, unquote
from tools.dockerfile.hadolint import COULD_NOT_RUN_RULE, hadolint_binary, hadolint_config, HADOLINT_MAX_LINES, HadolintIssue, HadolintRun, PARSE_LIMIT_RULE, run_hadolint, run_hadolint_full, start_hadolint
from tools.dockerfile.diff import diff_dockerfile, diff_service_dockerfile, dockerfile_at, DockerfileDiff, InstructionChange, StageDiff
from tools.dockerfile.ports import image_has_binary_guess, Listen, listen_from_command, port_from_command, stage_listen

__all__ = [
    "arg_pairs",
    "Copy",
    "COULD_NOT_RUN_RULE",
    "DEFAULT_REGISTRY",
    "diff_dockerfile",
    "diff_service_dockerfile",
    "dockerfile_at",
    "DockerfileDiff",
    "DockerfileInfo",
    "ExecForm",
    "final_stage",
    "hadolint_binary",
    "hadolint_config",
    "HADOLINT_MAX_LINES",
    "HadolintIssue",
    "HadolintRun",
    "Healthcheck",
    "image_env",
    "image_has_binary_guess",
    "image_name",
    "image_pin",
    "ImageRef",
    "installed_packages",
    "Instruction",
    "InstructionChange",
    "KNOWN_INSTRUCTIONS",
    "Listen",
    "listen_from_command",
    "PACKAGE_BINARIES",
    "parse_dockerfile",
    "parse_dockerfile_text",
    "parse_image_ref",
    "PARSE_LIMIT_RULE",
    "ParseProblem",
    "port_from_command",
    "run_hadolint",
    "run_hadolint_full",
    "Stage",
    "stage_listen",
    "StageDiff",
    "start_hadolint",
    "substitute",
    "unquote",
]
