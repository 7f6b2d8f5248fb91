"""Checks on the branch's history: every infra change carries Product's signature.

The session puts the gate's verify report (agent/gate/verify.py, from git alone) in the context as
`models["signatures"]`; these checks only read it, so `checks`, SARIF and docs/checks.md list them
with every other check. No report (not a git repo, or a session of the gate's own trees): nothing.
"""
from __future__ import annotations

from agent.core import hints
from tools.checks.registry import check
from tools.facts import SIGNERS_FILE
from tools.findings import Location

_PRODUCT = ("authority", "validés par l")


def _report(ctx):
    return ctx.models.get("signatures")


@check("GATE001", "Infra commit not signed by Product", "blocker", "security", _PRODUCT,
       "Revert the commit, then propose the change (`devops-agent propose`) for Product to sign; "
       "require signed commits and the `devops-agent verify` check in branch protection.")
def unsigned_infra_commit(ctx, spec):
    report = _report(ctx)
    for commit in (report.failures if report else []):
        if commit.status == "unverifiable":
            continue
        where = f"{commit.repo}@" if commit.repo else ""
        yield spec.finding(ctx, f"infra commit {where}{commit.sha[:12]} '{commit.subject[:60]}' is not Product-signed",
                           [Location(f"{commit.repo}/{p}" if commit.repo else p) for p in commit.paths[:5]],
                           detail=f"{commit.status}: {commit.detail}")


@check("GATE002", "No Product signer list (trust root)", "medium", "charter", _PRODUCT,
       "Run `devops-agent product-key init` in Product's own terminal: it commits the signer list, signed.",
       command=hints.product_key_init())
def no_trust_root(ctx, spec):
    report = _report(ctx)
    if report is not None and report.trust_root is None:
        yield spec.finding(ctx, "no Product signer list: infra commits cannot be verified",
                           [], detail="; ".join(report.problems))


@check("GATE003", "History cannot be verified", "high", "security", _PRODUCT,
       "Fetch the whole history (fetch-depth: 0) and keep the trust root pinned (`verify --trust-root`).")
def unverifiable_history(ctx, spec):
    report = _report(ctx)
    if report is not None and report.trust_root is not None:
        for problem in report.problems:
            yield spec.finding(ctx, problem, [Location(SIGNERS_FILE)])


@check("GATE004", "Submodule history cannot be verified here", "low", "reproducibility", _PRODUCT,
       "Initialise the submodule (`git submodule update --init`) so its commits can be verified.")
def unverifiable_submodule(ctx, spec):
    report = _report(ctx)
    for commit in (report.failures if report else []):
        if commit.status == "unverifiable":
            yield spec.finding(ctx, f"cannot tell whether {commit.repo} moved to Product-signed commits "
                                    f"({commit.subject})", [], detail=commit.detail,
                               command=hints.submodule_init(commit.repo) if commit.repo else "")


@check("GATE005", "Product signer key without passphrase", "medium", "security", _PRODUCT,
       "Demo keys only: replace it with a passphrase-protected or security key (`product-key add`, then remove it).")
def demo_signer(ctx, spec):
    report = _report(ctx)
    for fingerprint in (report.demo_signers if report else []):
        yield spec.finding(ctx, f"signer {fingerprint} was created without a passphrase (demo only)",
                           [Location(SIGNERS_FILE)])
