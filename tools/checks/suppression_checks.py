"""A suppression must say why: an accepted finding without a reason is a finding of its own (never suppressed)."""
from __future__ import annotations

from tools.checks.registry import check
from tools.findings import Location

A_REASON = ("guardrails", "une raison, un risque, un rollback")


@check("SUP001", "Suppression without a reason", "low", "charter", A_REASON,
       "Say why the finding is accepted, after the ids: `# devops-agent: ignore[DKF002] pinned by digest at "
       "deploy`; hadolint's pragma takes it as a second comment (`# hadolint ignore=DL3007  # why`); an `ignore:` "
       "entry takes `reason:`.")
def suppression_without_reason(ctx, spec):
    inputs = ctx.models.get("suppressions")
    if inputs is None:
        return
    for path, comments in sorted(inputs.comments.items()):
        for c in comments:
            if not c.reason and c.ids:
                yield spec.finding(ctx, f"{path}: `{c.written}` accepts {', '.join(c.ids)} without a reason",
                                   [Location(path, c.line)])
    seen = set()
    for config, rules in inputs.hadolint.values():
        for rule in rules:
            if not rule.reason and (config, rule.line) not in seen:
                seen.add((config, rule.line))
                yield spec.finding(ctx, f"{config}: hadolint's `ignored: {rule.rule}` accepts {rule.check} "
                                        "without a reason", [Location(config, rule.line)],
                                   remediation=f"Add the reason as a comment on the item: `- {rule.rule}  # why`.")
    for i, entry in enumerate(inputs.ignore):
        if not entry.reason.strip():
            yield spec.finding(ctx, f"{inputs.config_name} ignore[{i}] accepts {entry.id} in {entry.path} "
                                    "without a reason", [Location(inputs.config_name)] if inputs.config_path else [])
