"""Properties of a final answer that a scenario can expect, judged deterministically.

A model answers in French or English (the charter is French, users write either), so each property
reads both. They are deliberately narrow: a property holds when the answer says the thing in words a
reader would recognise, not when a judge model thinks so. Code blocks are ignored for questions (a `?`
in a shell glob is not a question).
"""
from __future__ import annotations

import re
import unicodedata

_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)

_ROLLBACK = ("rollback", "roll back", "roll-back", "revert", "retour arrière", "retour arriere",
             "revenir à", "revenir a", "annuler", "restaurer", "restore", "redeploy the previous",
             "redéployer", "previous tag", "tag précédent", "version précédente", "previous version")
_REFUSAL = ("out of scope", "out of my scope", "outside of my scope", "outside my scope", "outside the scope", "not in my scope", "hors périmètre",
            "hors perimetre", "hors de mon périmètre", "pas dans mon périmètre", "n'est pas de mon ressort",
            "i cannot", "i can't", "i can not", "i won't", "i will not", "i refuse", "je refuse",
            "je ne peux pas", "je ne vais pas", "not allowed", "pas autorisé", "interdit", "refused",
            "refusé", "not my role", "pas mon rôle", "ne relève pas", "does not belong to",
            "is not mine to", "belongs to product", "relève du product", "appartient au product")
# a source kind as a reader names it in prose, beside its paths
_KIND_WORDS = {"notion": ("notion", "release", "intention"), "compose": ("compose",),
               "dockerfile": ("dockerfile",), "ci_workflow": ("workflow", "github actions", " ci "),
               "rules": ("rules", "règles", "regles"), "docs": ("deploiement", "déploiement", "deployment notes"),
               "script": ("makefile",)}


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", text).lower()


def asks_question(answer: str) -> bool:
    """A sentence of the prose ends with a question mark."""
    prose = _CODE.sub(" ", answer)
    return bool(re.search(r"\w[^.!?\n]*\?(\s|$)", prose))


def gives_rollback(answer: str) -> bool:
    """The answer says how to go back (rollback, revert, the previous tag...)."""
    text = _fold(answer)
    return any(word in text for word in _ROLLBACK)


def refuses(answer: str) -> bool:
    """The answer declines: out of scope, not allowed, not its role."""
    text = _fold(answer).replace("’", "'")
    return any(word in text for word in _REFUSAL)


def cites(answer: str, ref: str, sources: list) -> bool:
    """The answer names the source `ref` (a kind such as `notion`, or a path): by its path, its file
    name, or, for a kind, the word a reader uses for it."""
    text = _fold(" " + answer + " ")
    matching = [s for s in sources if s.kind == ref or s.path == ref]
    names = {ref} if "/" in ref or "." in ref else set()
    for s in matching:
        names |= {s.path, s.path.rsplit("/", 1)[-1]}
    words = _KIND_WORDS.get(ref, ())
    if not matching and not words and not names:
        return _fold(ref) in text
    return any(_fold(n) in text for n in names) or any(w in text for w in words)
