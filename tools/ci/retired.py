"""Action versions GitHub.com refuses to run: a dated table, read from the `uses:` reference alone (no network).

Artifact actions v1-v3 fail every run since 2025-01-30 (v4 changed the artifact backend); `actions/cache` below
3.4.0, and 4.x below 4.2.0, fail since the legacy cache service closed on 2025-03-01. A floating major (`@v3`)
resolves to the newest release of that line, which works; a pinned older release (`@v3.3.1`, `@v4.0`) does not.
A commit SHA is not judged: the table does not know which release it is.

Hosted runner images GitHub removed (`runs-on: ubuntu-20.04`): a job asking for one waits for a runner that never
comes and fails; a label list with `self-hosted` names the project's own machines and is not judged."""
from __future__ import annotations

import re

from tools.ci.model import ActionRef

_VERSION = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")

_ARTIFACTS = ("actions/upload-artifact", "actions/download-artifact")
_CACHE = ("actions/cache", "actions/cache/save", "actions/cache/restore")
ARTIFACT_WHEN = "2025-01-30"
CACHE_WHEN = "2025-03-01"


def retired(ref: ActionRef | None) -> str | None:
    """Why GitHub refuses this action version, or None (not in the table, a SHA, a branch, a working version)."""
    if ref is None or ref.kind != "action" or not ref.ref or ref.pinned:
        return None
    m = _VERSION.fullmatch(ref.ref)
    if not m:
        return None
    major = int(m.group(1))
    minor = int(m.group(2)) if m.group(2) is not None else None
    action = ref.action.lower()
    if action in _ARTIFACTS and major <= 3:
        return f"{ref.action}@{ref.ref}: artifact actions v1-v3 fail every run since {ARTIFACT_WHEN} (use v4)"
    if action in _CACHE and (major < 3 or (major == 3 and minor is not None and minor < 4)
                             or (major == 4 and minor is not None and minor < 2)):
        return (f"{ref.action}@{ref.ref}: cache releases before 3.4.0 and 4.2.0 fail since the legacy cache "
                f"service closed on {CACHE_WHEN} (use v4)")
    return None


# GitHub-hosted runner images removed from github.com, with the month the removal completed (GitHub's changelog and
# the actions/runner-images announcements).
RETIRED_RUNNERS = {
    "ubuntu-16.04": "September 2021", "ubuntu-18.04": "April 2023", "ubuntu-20.04": "April 2025",
    "macos-10.15": "August 2022", "macos-11": "June 2024", "macos-12": "December 2024",
    "windows-2016": "March 2022", "windows-2019": "June 2025",
}


def retired_runner(runs_on) -> str | None:
    """Why no hosted runner takes a job's `runs-on`, or None (a current label, a self-hosted list, an expression)."""
    labels = [runs_on] if isinstance(runs_on, str) else runs_on if isinstance(runs_on, list) else \
        runs_on.get("labels") if isinstance(runs_on, dict) else None
    if isinstance(labels, str):
        labels = [labels]
    if not isinstance(labels, list) or any(str(x).strip().lower() == "self-hosted" for x in labels):
        return None
    for label in labels:
        when = RETIRED_RUNNERS.get(str(label).strip().lower())
        if when:
            return f"runs-on {label}: a runner image GitHub removed in {when}, so the job never starts"
    return None
