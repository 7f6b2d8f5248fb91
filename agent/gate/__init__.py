"""The change gate: proposals, the charter's policy, Product's signer list and signed commits,
apply (verify and fast-forward), verify, the audit log and the state store."""
from agent.gate.gate import Gate

__all__ = ["Gate"]
