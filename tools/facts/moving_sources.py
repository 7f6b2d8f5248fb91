"""Code fetched by a build from a source that moves: a branch's archive, a git URL without a pinned ref, a raw
file on a branch. Each build may get other code than the last, with no change in the repository to review.

A ref names a version when it holds a digit (`v2.3.1`, `1.4`, `release-7`) or is a commit id; a branch name
(`main`, `master`, `develop`, `stable`, `HEAD`) or no ref at all moves.
"""
from __future__ import annotations

import re

_URL = re.compile(r"(?:git\+)?https?://[^\s'\"<>;|&)]+", re.I)
_ARCHIVE = re.compile(r"/(?:archive|tarball|zipball)/(?:refs/heads/)?([^/\s]+?)(?:\.zip|\.tar\.gz|\.tgz)?$", re.I)
_RAW = re.compile(r"^https?://raw\.githubusercontent\.com/[^/]+/[^/]+/(?:refs/heads/)?([^/]+)/", re.I)
_GITLAB_RAW = re.compile(r"/-/(?:raw|archive)/([^/]+)/", re.I)
_COMMIT = re.compile(r"[0-9a-f]{7,64}")
# GitHub's moving release links: /releases/latest/download/<asset>, and the API's /releases/latest
_LATEST_RELEASE = re.compile(r"/releases/latest(?:/download)?(?:/|$)", re.I)


def _moves(ref: str | None) -> bool:
    """A ref that names no version: none, a branch, HEAD."""
    if not ref:
        return True
    ref = ref.strip()
    return not (_COMMIT.fullmatch(ref.lower()) or re.search(r"\d", ref))


def moving_sources(command: str | None) -> list[str]:
    """What a command (a RUN line, a script line) fetches from a moving source, each said in words:
    `https://github.com/acme/lib/archive/main.zip (the main branch's archive)`."""
    out: list[str] = []
    for m in _URL.finditer(command or ""):
        url = m.group(0).rstrip(".,")
        why = None
        if url.lower().startswith("git+"):
            base, _, ref = url[4:].partition("@") if "@" in url.split("//", 1)[-1].split("/", 1)[-1] else (url[4:], "", "")
            ref = ref.split("#", 1)[0]
            if _moves(ref or None):
                why = f"the {ref} branch" if ref else "the default branch: no ref pinned"
        elif (a := _ARCHIVE.search(url.split("?", 1)[0])) and _moves(a.group(1)):
            why = f"the {a.group(1)} branch's archive"
        elif (r := _RAW.match(url) or _GITLAB_RAW.search(url)) and _moves(r.group(1)):
            why = f"a file on the {r.group(1)} branch"
        elif _LATEST_RELEASE.search(url):
            why = "the latest release: each build may take another"
        if why:
            out.append(f"{url} ({why})")
    return out
