"""A read-only model of GitHub Actions workflows: triggers, jobs, steps, images built, deploys, secrets, branches.

One module per part: model, load, expr, metadata_action, deploy, schema, summary; this package re-exports their public names."""
from __future__ import annotations

from tools.ci.model import ACTIONLINT_SKIPPED, ActionlintIssue, ActionRef, BranchFact, BuiltImage, DeployTarget, DIGITS, ENV_NAMES, Environment, EXPR_RE, FILTER_KEYS, GITHUB_TOKEN_RE, HEX_CHARS, Job, ParseError, SchemaIssue, SECRET_RE, SecretRef, SHA_RE, Step, TAG_CHARS, TagPattern, Trigger, Workflow, Location
from tools.ci.load import load_workflow, load_workflows, parse_uses
from tools.ci.expr import always_true_condition, branch_facts, condition_branches, Context, evaluate, never_runs, secrets_used, strip_expr, trigger_contexts, undefined_references, UndefinedRef
from tools.ci.metadata_action import built_images, expand, pattern_regex, shell_commands, tag_pattern_matches
from tools.ci.deploy import deploy_targets, reachable
from tools.ci.schema import run_actionlint, validate_schema
from tools.ci.summary import summary

__all__ = [
    "always_true_condition",
    "ACTIONLINT_SKIPPED",
    "ActionlintIssue",
    "ActionRef",
    "branch_facts",
    "BranchFact",
    "built_images",
    "BuiltImage",
    "condition_branches",
    "Context",
    "deploy_targets",
    "DeployTarget",
    "DIGITS",
    "ENV_NAMES",
    "Environment",
    "evaluate",
    "expand",
    "EXPR_RE",
    "FILTER_KEYS",
    "GITHUB_TOKEN_RE",
    "HEX_CHARS",
    "Job",
    "load_workflow",
    "load_workflows",
    "Location",
    "never_runs",
    "parse_uses",
    "ParseError",
    "pattern_regex",
    "reachable",
    "run_actionlint",
    "SchemaIssue",
    "SECRET_RE",
    "SecretRef",
    "secrets_used",
    "SHA_RE",
    "shell_commands",
    "Step",
    "strip_expr",
    "undefined_references",
    "UndefinedRef",
    "summary",
    "TAG_CHARS",
    "tag_pattern_matches",
    "TagPattern",
    "Trigger",
    "trigger_contexts",
    "validate_schema",
    "Workflow",
]
