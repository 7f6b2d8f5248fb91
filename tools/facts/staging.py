"""Words: what names a staging environment, and whether a sentence mentions a word without negating it."""
from __future__ import annotations

import re
from typing import Iterable

from agent.core.charter import fold

# ------------------------------------------------------------------------------------ words

# Names of a pre-production environment, matched as whole tokens of a name (`deploy-stg`, `preProd`,
# `.env.recette`); `qatar`, `quality`, `usage` are not staging.
STAGING_WORDS = ("staging", "stage", "stg", "preprod", "pre-prod", "preproduction", "uat", "qa", "recette")
_STAGING_TOKENS = {"staging", "stage", "stg", "preprod", "preproduction", "uat", "qa", "recette"}
_PRE_PAIRS = {("pre", "prod"), ("pre", "production")}

NEGATION = re.compile(r"\b(pas de|pas d'|pas du|pas une?|sans|aucun|aucune|no|without|not|ni|jamais|never)"
                      r"\s+(\S+\s+){0,2}$")


def _tokens(text: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)  # deployStaging -> deploy Staging
    return [t for t in re.split(r"[^a-z0-9]+", fold(spaced)) if t]


def staging_word(text: str | None) -> str | None:
    """The staging word `text` names (`stg`, `pre-prod`...), or None."""
    if not text:
        return None
    tokens = _tokens(str(text))
    for a, b in zip(tokens, tokens[1:]):
        if (a, b) in _PRE_PAIRS:
            return f"{a}-{b}"
    return next((t for t in tokens if t in _STAGING_TOKENS), None)


def is_staging_name(text: str | None) -> bool:
    """A name (file, environment, job id, profile, branch, command) that means a staging environment."""
    return staging_word(text) is not None


def mentions(text: str, words: Iterable[str]) -> bool:
    """`text` names one of `words` (whole word, plural allowed) in a sentence that does not deny it."""
    folded = fold(text)
    for word in words:
        for m in re.finditer(rf"(?<![a-z0-9]){re.escape(fold(word))}(s|es)?(?![a-z0-9])", folded):
            if not NEGATION.search(folded[max(0, m.start() - 40):m.start()]):
                return True
    return False
