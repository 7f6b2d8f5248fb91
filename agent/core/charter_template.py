"""The family's DevOps charter template: `init` writes it for a repository, and a repository without a
charter of its own is reviewed against its generic form (what any DevOps reviewer holds, without the
rules a platform's Product must state for itself)."""
from __future__ import annotations

import importlib.resources

TEMPLATE = "devops-engineer.template.md"
# Generic sources: every kind, no file named (the loader finds each kind where Compose, Docker and
# GitHub look for it), deployment notes optional.
GENERIC_SOURCES = ("- Docker Compose: les fichiers compose du dépôt (compose*.yaml, docker-compose*.yml).\n"
                   "- Dockerfiles: dans chaque service.\n"
                   "- CI/CD: workflows GitHub Actions.\n"
                   "- Accès prod: notes de déploiement du projet (si disponibles).")
# Clauses of the template that are a platform's own decisions (staging, new tools, one environment):
# only a charter the repository writes for itself can state them, so the generic charter leaves them out.
PLATFORM_DECISIONS = ("Pas d’ajout de nouveaux outils", "Pas de staging si", "Environnements: pas de distinction",
                      "Pas d’introduction de nouveaux environnements")
GENERIC_NOTE = "charter: generic (this repository has no charter of its own)"


def template() -> str:
    return (importlib.resources.files("prompts") / TEMPLATE).read_text(encoding="utf-8")


def _ticks(paths: list[str]) -> str:
    return ", ".join(f"`{p}`" for p in paths)


def charter_text(project: str, found: dict[str, list[str]], notion: bool, rules: str | None) -> str:
    """The family's DevOps charter listing only the sources this repo has (and Notion, rules when bound)."""
    sources, priorities = [], []
    if notion:
        sources.append("- Notion: Release / Intention (pour comprendre quoi livrer et pourquoi).")
        priorities.append("Intentions produit et contraintes de release validées par l’agent Product "
                          "(Notion – Release / Intention)")
    if found.get("compose"):
        sources.append(f"- Docker: {_ticks(found['compose'])}.")
    if found.get("dockerfile"):
        sources.append(f"- Dockerfiles: {_ticks(found['dockerfile'])}.")
    if found.get("ci_workflow"):
        sources.append("- CI/CD: workflows GitHub Actions:")
        sources += [f"  - `{p}`" for p in found["ci_workflow"]]
    if found.get("docs"):
        sources.append(f"- Accès prod: notes de déploiement du projet: {_ticks(found['docs'])} (si disponibles).")
    if rules:
        sources.append(f"- Regles: `{rules}`.")
    if found.get("compose") or found.get("dockerfile") or found.get("ci_workflow"):
        priorities.append("Fichiers du repo (docker-compose*, Dockerfiles, workflows CI)")
    if rules:
        priorities.append("Règles (fichier de règles lié)")
    return _fill(project, "\n".join(sources) or "- Fichiers du repo: `README.md`.", priorities)


def _fill(project: str, sources: str, priorities: list[str]) -> str:
    text = template().replace("{{project}}", project).replace("{{sources}}", sources)
    return text.replace("{{priorities}}", "\n".join(f"{i}. {p}" for i, p in enumerate(priorities, 1))
                        or "1. Fichiers du repo")


def generic_charter_text(project: str, notion: bool = False, rules: bool = False) -> str:
    """The template for a repository that has no charter: every kind of source found where the tools
    look for it (and Notion, a rules file when the config binds them), and none of the decisions only the
    platform's Product can make."""
    sources, priorities = GENERIC_SOURCES, ["Fichiers du repo (docker-compose*, Dockerfiles, workflows CI)"]
    if notion:
        sources = "- Notion: Release / Intention (pour comprendre quoi livrer et pourquoi).\n" + sources
        priorities.insert(0, "Intentions produit et contraintes de release validées par l’agent Product "
                             "(Notion – Release / Intention)")
    if rules:
        sources += "\n- Regles: le fichier de règles lié (rules_file)."
        priorities.append("Règles (fichier de règles lié)")
    text = _fill(project, sources, priorities)
    return "".join(line for line in text.splitlines(keepends=True)
                   if not any(d in line for d in PLATFORM_DECISIONS))
