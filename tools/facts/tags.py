"""Whether an image tag is mutable: one function (`tag_mutability`) that every check judging a tag calls.

A tag is mutable when the same reference can pull different bytes tomorrow in a way that changes behaviour:
- `latest`, or no tag at all (which means `latest`);
- a channel tag (`stable`, `lts`, `mainline`, `edge`, `current`, `rolling`, `testing`...), alone or in a variant
  (`stable-alpine`, `lts-slim`): it follows whatever the project releases next, new majors included;
- a tag naming no version (`alpine`, `slim`, `bookworm` on a node image, a branch name like `main`): the
  newest release of the image, as for `latest`;
- a tag naming less than a release line (`python:3`, `mysql:8`, `redis:7-alpine`, `alpine:3`, `golang:1`):
  it moves across lines that add features and change defaults (MySQL 8.0 -> 8.4 changed the default
  authentication plugin). Release lines come from `tools.facts.lifecycle`: a tag that names one
  (`postgres:16`, `node:20-alpine`, `python:3.11-slim`, `debian:bookworm`) moves only with that line's fixes
  and is pinned enough, which is what DKF002's remediation asks for.
A digest (`@sha256:...`) is never mutable, whatever the tag says. An unknown image's numeric tag is never judged
floating (`app:42` may be a build number).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from tools.facts.lifecycle import CODENAMES, end_of_life, major_closed, product_of, release_lines

CHANNEL_WORDS = frozenset({"latest", "stable", "lts", "mainline", "edge", "current", "rolling", "nightly", "devel",
                           "testing", "unstable", "sid", "canary"})


@dataclass(frozen=True)
class Mutability:
    kind: str  # latest | untagged | floating
    why: str  # for a message: "latest", "no tag (means latest)", "channel tag `stable`"...
    basis: str = ""  # latest | untagged | channel | no-version | partial
    any_version: bool = True  # it may pull any version, a new major included (False: it stays within a major)


# A tag a deploy step writes over before anything pulls it (`chroma:CHROMA_VERSION` with `sed -i 's/CHROMA_VERSION/…/'`,
# a skeleton's `user/image:tag`): a name for the version, never a tag a registry holds.
_PLACEHOLDER_TAG = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|VERSION|TAG|RELEASE|tag|version|<[^>]*>|"
                              r"v?(?:x\.y(?:\.z)?|X\.Y(?:\.Z)?)")  # `vX.Y`, `x.y.z`: the docs' "your version here"


def is_placeholder_tag(tag: str | None) -> bool:
    return bool(tag) and bool(_PLACEHOLDER_TAG.fullmatch(str(tag)))


def tag_mutability(ref) -> Mutability | None:
    """How an image reference's tag is mutable, or None when it is pinned (a digest, or a tag naming at least a
    release line) or cannot be judged (an invalid reference, an unresolved variable)."""
    from tools.dockerfile import ImageRef, image_pin, parse_image_ref

    image = ref if isinstance(ref, ImageRef) else parse_image_ref(str(ref))
    pin = image_pin(image)  # what CMP003 and DKF002 judge `latest` by: the two cannot disagree
    if pin == "untagged":
        return Mutability("untagged", "no tag (means latest)", "untagged")
    if pin == "latest":
        return Mutability("latest", "latest", "latest")
    if pin != "tag" or not image.tag:
        return None  # a digest, or a reference that does not parse
    tag = image.tag
    if is_placeholder_tag(tag):
        return None  # a deploy step writes the version there: nothing to judge in the file
    words = [w for w in re.split(r"[-_.]", tag.lower()) if w]
    channel = next((w for w in words if w in CHANNEL_WORDS), None)
    if channel == "latest" and re.fullmatch(r"v?\d+(?:\.\d+)+[-_.]latest", tag, re.I):
        return None  # `v1.30-latest`: the newest patch of the 1.30 line, a release line as `1.30` is
    if channel:
        return Mutability("floating", f"channel tag `{tag}`: it follows the project's next `{channel}` release",
                          "channel")
    product = product_of(image)
    if not any(c.isdigit() for c in tag):
        if product in ("debian", "ubuntu") and words and words[0] in CODENAMES:
            return None  # the distribution's codename is its release line
        return Mutability("floating", f"tag `{tag}` names no version: it is the newest release, as `latest` is",
                          "no-version")
    partial = next((rl for rl in release_lines(image) if rl.partial), None)
    if partial is not None and any(e.product == partial.product and e.written == partial.written
                                   for e in end_of_life(image)):
        return None  # `redis:6`: every 6.x line has ended, so the tag moves no more (its end of life is PRD004's)
    if partial is not None and "." not in partial.written and major_closed(partial.product, partial.written):
        # `redis:7` once Redis 8 shipped: the last 7.x line's patches only; an install made on an earlier 7.x line
        # moves to that last line once, at its next pull
        return Mutability("floating", f"tag `{tag}` names {partial.product} {partial.written}, a closed major: it "
                                      f"follows its last line only", "closed-major", any_version=False)
    if partial is not None:
        return Mutability("floating", f"tag `{tag}` names {partial.product} {partial.written} only: it moves across "
                                      f"its {partial.written}.x release lines", "partial", any_version=False)
    return None


_REWRITE = re.compile(r"(?<![\w./-])(sed|perl|yq)\s[^\n]*")
_SUBSTITUTE = re.compile(r"\bs([/|#,:@]).+\1|\bs\{|-i\b|--in-place|\.tag\b|\bstrenv\(")


def rewrites_tag(text: str | None, variables: Iterable[str], image: str) -> bool:
    """A script's text rewrites an image's tag in place at release (`sed -i "s/^SNUBA_IMAGE=…:.*/…:$VERSION/" .env`):
    a `sed`/`perl`/`yq` line that edits in place and names the variable holding the tag (whole, or as its first
    word and the rest, as `\\(SENTRY\\|SNUBA\\)_IMAGE=` does), the image's repository, or the tag itself
    (`s/unstable/stable-$VERSION/` over the compose files). A tag a release rewrites is
    the release's version in what users install, whatever the default branch says."""
    if not text:
        return False
    repo = image.split("@", 1)[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image.split("@", 1)[0]
    repo = repo.rsplit("/", 1)[-1]
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    names = [v for v in variables if v]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        for m in _REWRITE.finditer(line):
            command = m.group(0)
            if not _SUBSTITUTE.search(command):
                continue
            if any(_names_variable(command, v) for v in names) or (len(repo) > 2 and f"{repo}:" in command) \
                    or _substitutes_word(command, tag):
                return True
    return False


_COMPOSE_RUN = re.compile(r"\bdocker[- ]compose\b|\bdocker\s+stack\s+deploy\b")


def sets_tag_variable(text: str | None, variables: Iterable[str]) -> bool:
    """A deploy script chooses the tag: it hands the variable to the Compose run it makes (`LATEST_IMAGE=$V docker
    compose up`), or writes it into the env file Compose reads (`set_env_var "LATEST_IMAGE" "$V"`,
    `echo "APP_TAG=$V" >> .env`). The file's default (`${LATEST_IMAGE:-latest}`) is then a fallback, not what runs."""
    names = [v for v in variables if v and re.fullmatch(r"[A-Za-z_]\w*", v)]
    if not text or not names or not _COMPOSE_RUN.search(text):
        return False
    # words, not backtracking patterns: a script line may be long (linear in it, issue 20)
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = [w.strip("'\"") for w in line.split()]
        compose = bool(_COMPOSE_RUN.search(line))
        for v in names:
            assigned = any(w.startswith(f"{v}=") and len(w) > len(v) + 1 for w in words)
            if compose and assigned:
                return True  # an assignment the Compose command on that line sees
            if words[0] not in ("echo", "printf") and any(
                    "env" in w.lower() and words[i + 1] == v and i + 2 < len(words) for i, w in enumerate(words[:-1])):
                return True  # a helper that sets a variable of the env file (`set_env_var "APP_TAG" "$V"`)
            if words[0] in ("echo", "printf") and assigned and ">" in line \
                    and "env" in line[line.rfind(">"):].lower():
                return True  # `echo "APP_TAG=$V" >> .env`
    return False


_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def tag_variables(written: str | None) -> list[str]:
    """The variables an image's tag is written with (`coolify:${LATEST_IMAGE:-latest}` -> [LATEST_IMAGE])."""
    last = (written or "").rsplit("/", 1)[-1]
    return _VARIABLE.findall(last.split(":", 1)[1]) if ":" in last else []


def tag_chosen_by(sources, variables: Iterable[str], image: str) -> tuple[str, str] | None:
    """(the loaded script, Makefile or workflow, how) that chooses this image's tag outside the compose file: it
    rewrites the tag in place at release (`rewrites_tag`: "rewrites it at release"), or sets the tag's variable for
    the Compose run it makes (`sets_tag_variable`: "sets it at deploy"); None when nothing does."""
    variables = [v for v in variables if v]
    for src in sources:
        if src.kind in ("compose", "dockerfile", "docs", "readme") or not getattr(src, "ok", False):
            continue
        if rewrites_tag(src.text, variables, image):
            return src.path, "rewrites it at release"
        if sets_tag_variable(src.text, variables):
            return src.path, f"sets {', '.join(variables)} at deploy"
    return None


_PATTERN = re.compile(r"(?:^|[\s'\"])-?-?(?:e\s*)?['\"]?s([/|#,:@])((?:\\.|(?!\1).)+)\1")


def _substitutes_word(command: str, word: str) -> bool:
    """The command's substitution searches the tag itself (`sed -i -e "s/unstable/stable-$V/" *.yml`)."""
    if len(word) < 3:
        return False
    return any(re.search(rf"(?<![\w.-]){re.escape(word)}(?![\w.-])", m.group(2)) for m in _PATTERN.finditer(command))


def _names_variable(command: str, variable: str) -> bool:
    """`SNUBA_IMAGE` whole, or split at any `_` as a regex alternation writes it (`\\(UPTIME_CHECKER\\|…\\)_IMAGE`)."""
    if variable in command:
        return True
    for cut in (i for i, c in enumerate(variable) if c == "_" and i):
        head, rest = variable[:cut], variable[cut:]
        if rest in command and re.search(rf"(?<![A-Za-z0-9_]){re.escape(head)}(?![A-Za-z0-9_])", command):
            return True
    return False
