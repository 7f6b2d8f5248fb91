"""The check catalogue: each check has a stable id, severity, category, charter clause and remediation.

Checks register themselves with `@check(...)`; `run_checks` runs them all over a `CheckContext`.
A check that cannot run says so (a note), it is never skipped silently.
"""
from __future__ import annotations

from tools.checks.registry import CHECKS, CheckContext, CheckSpec, check, run_checks  # noqa: F401
from tools.checks import sources as _sources  # noqa: F401  (registers the source checks)
from tools.checks import compose_checks as _compose  # noqa: F401,E402
from tools.checks import conflicts as _conflicts  # noqa: F401,E402
from tools.checks import dockerfile_checks as _dockerfile  # noqa: F401,E402
from tools.checks import ci_checks as _ci  # noqa: F401,E402
from tools.checks import charter_checks as _charter  # noqa: F401,E402
from tools.checks import gate_checks as _gate  # noqa: F401,E402
from tools.checks import environments as _environments  # noqa: F401,E402
from tools.checks import prod_checks as _prod  # noqa: F401,E402
from tools.checks import config_files as _config_files  # noqa: F401,E402
from tools.checks import networks as _networks  # noqa: F401,E402
from tools.checks import suppression_checks as _suppressions  # noqa: F401,E402
