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


# A denial after the word, in the same clause: "un environnement de staging n'est pas requis", "staging is not
# needed", "Grafana isn't wanted for the beta", "staging: out of scope". Only what denies a need or a plan: "staging
# is not ready yet, create it" still asks for it.
NEGATION_AFTER = re.compile(
    r"^[^.;!?\n]{0,40}?(?:\b(?:n'est|ne sont|ne seront|ne sera|n'etait|is|are|was|will be|isn't|aren't|won't be)"
    r"\s+(?:pas|plus|not|no longer|never)?\s*(?:du tout\s+|at all\s+)?"
    r"(?:requis|requise|requises|necessaire|necessaires|demande|demandee|prevu|prevue|voulu|voulue|souhaite|souhaitee"
    r"|utile|needed|required|wanted|planned|necessary|desired|asked for)\b"
    r"|\b(?:pas|plus) (?:requis|necessaire|prevu|demande|souhaite)\b"
    r"|\bnot (?:needed|required|wanted|planned|necessary)\b|\bhors (?:perimetre|scope)\b|\bout of scope\b)")
_DENYING = re.compile(r"\b(?:pas|plus|not|no longer|never|isn't|aren't|won't|hors)\b|\bout of scope\b")


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
    """`text` names one of `words` (whole word, plural allowed) in a sentence that does not deny it, before the word
    (`pas de staging`) or after it (`un staging n'est pas requis`, `staging is not needed`)."""
    folded = fold(text)
    for word in words:
        for m in re.finditer(rf"(?<![a-z0-9]){re.escape(fold(word))}(s|es)?(?![a-z0-9])", folded):
            if NEGATION.search(folded[max(0, m.start() - 40):m.start()]):
                continue
            after = folded[m.end():m.end() + 80].lstrip(" :,-")
            denied = NEGATION_AFTER.match(after)  # "staging is needed" matches too: only a denying word denies
            if denied and _DENYING.search(denied.group(0)):
                continue
            return True
    return False
