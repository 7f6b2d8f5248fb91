"""The next-step command lines the gate and its commands print, each built by one function here.

A hint is a shell line a user copies; it must run as printed (the parser accepts it). Upper-case words
(KEY, SHA, REASON) are the placeholders the user fills in; `EXAMPLES` gives every hint with sample
arguments, so a test runs each one through the CLI (tests/agent/test_gate_product_view.py). It imports
nothing of ours: every layer (the gate, tools' catalogue, the front ends) prints its hints from here."""
from __future__ import annotations

from shlex import quote
from typing import Callable

KEY = "KEY"  # Product's key: the private key file, or its .pub when the key is in ssh-agent


_GATE_ARGS = "--reason '...' --risk '...' --rollback '...'"


def propose_set(edit: str = "FILE:KEY.PATH=VALUE") -> str:
    """The role proposes a YAML edit (FILE:KEY.PATH=VALUE) through the gate."""
    return f"devops-agent propose --set {quote(edit)} {_GATE_ARGS}"


def propose_patch(patch: str = "FIX.diff") -> str:
    """The role proposes a unified diff through the gate."""
    return f"devops-agent propose --patch {quote(patch)} {_GATE_ARGS}"


def approve(pid: str, key: str = KEY) -> str:
    """Product reads the proposal's commits and signs them."""
    return f"devops-agent approve {quote(pid)} --key {key}"


def reject(pid: str, key: str = KEY) -> str:
    return f"devops-agent reject {quote(pid)} --reason 'why' --key {key}"


def apply(pid: str) -> str:
    """The role lands an approved proposal."""
    return f"devops-agent apply {quote(pid)}"


def rollback(pid: str) -> str:
    """The role lands the revert Product signed with the approval."""
    return f"devops-agent rollback {quote(pid)}"


def show(pid: str) -> str:
    return f"devops-agent proposals show {quote(pid)}"


def proposals() -> str:
    return "devops-agent proposals"


def accept(sha: str = "SHA", key: str = KEY) -> str:
    """Product reads an infra commit nobody signed and accepts it (a signed commit)."""
    return f"devops-agent accept {sha} --reason 'why Product accepts it' --key {key}"


def verify(trust_root: str | None = None) -> str:
    return "devops-agent verify" + (f" --trust-root {trust_root}" if trust_root else "")


def submodule_init(path: str | None = None) -> str:
    """Check a submodule out (all of them, recursively, without a path). A path comes from `.gitmodules`, a file
    anyone can write: it is quoted once, here, and put after `--`."""
    from shlex import join

    return join(["git", "submodule", "update", "--init", "--", path]) if path else \
        "git submodule update --init --recursive"


def init() -> str:
    """Write a charter and .devops-agent.yaml from what the repository holds."""
    return "devops-agent init"


def product_key_init() -> str:
    """Product makes its key, in its own terminal."""
    return "devops-agent product-key init"


def audit_verify() -> str:
    return "devops-agent audit verify"


def audit_acknowledge_reset() -> str:
    return "devops-agent audit verify --acknowledge-reset"


def release_check() -> str:
    return "devops-agent release check"


def release_notes() -> str:
    return "devops-agent release notes"


def ssh_add(key: str = KEY) -> str:
    """Load Product's key in ssh-agent once; `--key KEY.pub` then signs without asking again."""
    return f"ssh-add {key}"


# Every hint, with sample arguments: the placeholders a test replaces by real values, the rest as printed.
EXAMPLES: dict[str, Callable[[], str]] = {
    "propose-set": lambda: propose_set("docker-compose.prod.yml:services.anime-saas-mlscheduler.restart=unless-stopped"),
    "propose-patch": lambda: propose_patch("PATCH"),
    "approve": lambda: approve("PROPOSAL"),
    "reject": lambda: reject("PROPOSAL"),
    "apply": lambda: apply("PROPOSAL"),
    "rollback": lambda: rollback("PROPOSAL"),
    "show": lambda: show("PROPOSAL"),
    "proposals": proposals,
    "accept": accept,
    "verify": verify,
    "verify-trust-root": lambda: verify("SHA"),
    "product-key-init": product_key_init,
    "audit-verify": audit_verify,
    "audit-acknowledge-reset": audit_acknowledge_reset,
    "release-check": release_check,
    "release-notes": release_notes,
}
