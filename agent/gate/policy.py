"""The change policy: what a proposal may touch and what it must say, each rule citing its charter clause.

`evaluate` runs at proposal time and again at apply time; it works on the patch itself (never only on
resolved targets), so a path leaving the platform is refused before anything is resolved or read. File
contents come only from `read_base` (the committed base text of a platform-relative path): the work tree is
an input the role can forge, so `root` serves only the lexical and symlink confinement checks.

Perimeter (POL002). A proposal touches infrastructure files, classified by what they are, never by the folder
they sit in (`tools/facts.py`, `infra_kind`, whose rules are listed below), or by what the base commit's deploy
reads them as (`facts.deploy_paths`, the set `verify` reads too: a mounted file, a compose file pulled in by
`include:`, a script a Makefile recipe or a workflow step runs). `mysql/init/*.sql` and any `*.sql`
is the database schema, application data: refused. Real env files (`.env`, `.env.prod`, `prod.env`) hold
secrets: refused (edit `.env.example`, and set the server's file by hand). A submodule pointer
(`Subproject commit`) is refused: moving a service's code is a Product decision. A Makefile change is infra
only when every target it touches calls docker/compose or runs the test suite; a shell script only when it runs
docker/compose (both in its committed base and after the change) or is a container entrypoint/healthcheck.

Build-time rewrites are application changes (POL002): a Dockerfile instruction the change adds that rewrites
application sources while the image builds (`RUN sed -i`/`perl -pi` on a source, `RUN echo/cat/printf … >
app.py`, `tee`, `cp`/`mv` over a source, `patch`/`git apply`, a `COPY` of a `*.patch`/`*.diff`, a `COPY`
heredoc written to a source) is refused. A source is a file with an application extension (`.py`, `.cs`,
`.ts`, `.vue`, `.json`...), a relative path under a source folder, or anything under `/src`, `/app`,
`/usr/src`, `/workspace`, `/code`, `/srv`, `/opt`, `/home`, `/var/www`, `/usr/share/nginx/html`; system
configuration (`/etc/...`, such as `sed -i` on `/etc/nginx/conf.d/default.conf`), `/tmp` and `/dev` are not.

Everything else is application code, refused unless the change is a **build adjustment**: every added and
removed line, once blank lines, comments and bare punctuation (`}`, `);`, `],`) are set aside, either
  (a) reads or names an environment variable: `os.environ`, `os.getenv`, `getenv(`, `process.env`,
      `import.meta.env`, `Environment.GetEnvironmentVariable`, `Configuration[...]`, `GetValue<...>(...)`,
      `runtimeConfig`, `${VAR}`; or the import that such a read needs (`import os`, `from os import
      environ/getenv`, `using System;`, `from dotenv import load_dotenv`, `load_dotenv()`),
  (b) sets or reads a port, host or listen URL: `port=`/`port:`/`--port`/`*_PORT`, `host=`/`--host`/
      `*_HOST`, `Server=`/`Data Source=` of a connection string, `UseUrls`, `ASPNETCORE_URLS`, `urls:`,
      `0.0.0.0`, `127.0.0.1`, `localhost:NNNN`, `listen`, `Listen*(`, `devServer`,
and, outside its string literals, holds no control flow (`if`, `else`, `for`, `while`, `return`, `def`, `class`, `lambda`, `try`,
`catch`, `except`, `switch`, `await`, `yield`, `function`, `=>`, `exec`, `eval`, `subprocess`, `delete`,
`drop`), nor two statements on one line; or the file is a build manifest and only its build fields change:
`package.json` `scripts`/`engines` (every other key parses equal before and after), `*.csproj`
`<TargetFramework(s)>`/`<RuntimeIdentifier(s)>` lines, `requirements*.txt` version pins of packages
already listed (no package added or removed). Anything else — a new dependency, a new route, a changed
query — is application code. A new application file is refused.

New tools and images (POL003), found by parsing (`tools/facts.py`): Kubernetes (`apiVersion` + `kind` in any
YAML/JSON document, block or flow style, multi-document; kustomization, skaffold), Helm (Chart.yaml, templates),
Terraform (`*.tf`, `*.tfvars`, HCL blocks), Vault (HCL config, `hashicorp/vault`, `vault kv ...`), Nomad,
Consul, Ansible, Pulumi, Docker Swarm, heavy observability (Prometheus, Grafana, Loki, ELK, Jaeger,
OpenTelemetry collector...), by file, command or image. Any tool, and any image (`FROM x`, compose `image:`,
workflow `container:`/`services:` images), that is neither in the file's committed base nor in the platform's
inventory (the images and tools of its committed infra files) needs `--intention` naming a validated
intention of the current release that names it (an image by its short name, `redis` for `bitnami/redis:7`).
A new tag of an image already there is not a new image.

Staging (POL004) is recognised by its synonyms (`staging`, `stage`, `stg`, `preprod`, `pre-prod`, `uat`, `qa`,
`recette`) as whole words of a name: added file names, compose service names, `profiles:` and `env_file:`,
workflow job ids, `environment:` names and branch filters, Makefile target names, and the names in new lines of
scripts, env examples and nginx `server_name`s. `qatar`, `quality` or `profiles: [debug]` are not staging.

Tests (POL010) are counted in CI workflows, Dockerfiles (the effective `CMD`/`ENTRYPOINT` of each stage and its
`RUN`s), Makefiles, compose files and scripts: fewer test runs after the change, a test image whose command no
longer runs tests (`CMD ["true"]`), a test job removed, or a disabling construct added to or near a test run
(`|| true`, `; exit 0`, `continue-on-error: true`, `if: false`, `--passWithNoTests`, `-k 'not …'`,
`-m 'not …'`, `--deselect`, `--ignore`, `--filter`, `--exclude`, `--testPathIgnorePatterns`, `--collect-only`,
`SKIP_TESTS`) are refused, as is a `RUN rm` of a test folder.

Symlinks (mode 120000, POL011), any mode change (`old mode`/`new mode`, a new file that is not 100644, POL012)
and git's own configuration files (`.gitattributes`, `.gitmodules`, `.gitignore`, any `.git*` file, POL013)
are refused: they change what a path is or how git reads the tree, which a reviewed diff of lines does not show.
"""
from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from agent.core.charter import Charter, fold
from tools import facts
from tools.changes import FilePatch, Hunk, Patch, Target, check_metadata, confinement_reason, unsafe_path_reason

ReadBase = Callable[[str], "str | None"]

_PRODUCT = ("authority", "Il exécute uniquement les besoins de delivery/infra validés par l'agent Product")
RULES: dict[str, tuple[str, tuple[str, str]]] = {
    "POL001": ("A change states a reason, a risk and a rollback",
               ("guardrails", "Une modification infra = une raison, un risque, un rollback")),
    "POL002": ("Only infrastructure files, or build adjustments of application code; no build-time rewrite of sources",
               ("out_of_scope", "Pas de modification de code applicatif")),
    "POL003": ("No new tool or image (Kubernetes, Terraform, Vault, heavy observability...) without a validated "
               "intention naming it",
               ("guardrails", "Pas d'ajout de nouveaux outils")),
    "POL004": ("No new environment (staging and its synonyms) unless the current release asks for it",
               ("guardrails", "Pas de staging si la release en cours ne le requiert pas explicitement")),
    "POL005": ("A deployment change names a concrete rollback",
               ("out_of_scope", "Pas de changement de stratégie de déploiement sans plan de rollback clair")),
    "POL006": ("The gate's own files, the charter, keys and git metadata are never a target", _PRODUCT),
    "POL007": ("Paths stay inside the platform (no absolute path, '..' or symlink out)", _PRODUCT),
    "POL008": ("No binary patch",
               ("work_rules", "Documenter les changements d'infra et leurs impacts")),
    "POL009": ("No rename, copy or deletion: edits and additions only",
               ("guardrails", "Priorité à la stabilité et à la reproductibilité")),
    "POL010": ("Tests keep running: CI, test images and test targets (the functional scope is not changed)",
               ("authority", "Il ne change jamais le scope fonctionnel")),
    "POL011": ("No symlink: a proposal changes file contents, not what a path points to", _PRODUCT),
    "POL012": ("No file mode change (executable bit included): a mode is not a reviewable line",
               ("work_rules", "Documenter les changements d'infra et leurs impacts")),
    "POL013": ("git's own configuration (.gitattributes, .gitmodules, .gitignore, .git*) is never a target", _PRODUCT),
    "POL014": ("The review's checks find no new blocker or high finding on the proposed tree, and every check that "
               "ran on the base runs on it (judged once, at propose)",
               ("guardrails", "Priorité à la stabilité et à la reproductibilité")),
}


@dataclass
class Refusal:
    rule: str
    message: str
    clause: str
    path: str | None = None

    def to_dict(self) -> dict:
        return {"rule": self.rule, "message": self.message, "clause": self.clause, "path": self.path}


def check_refusal(charter: Charter | None, finding, not_run: str | None = None) -> Refusal:
    """POL014: the refusal for a new blocker/high finding of the checks on the proposed tree (or a check that
    could not run on it), in the words of the policy's other refusals."""
    if finding is None:
        return Refusal(rule="POL014", message=f"a check cannot run on the proposed tree ({not_run})",
                       clause=clause_text(charter, "POL014"))
    first = finding.locations[0] if finding.locations else None
    return Refusal(rule="POL014", message=f"the change introduces a new {finding.severity} finding: {finding.id} "
                                          f"{finding.title}", clause=clause_text(charter, "POL014"),
                   path=first.path if first else None)


@dataclass
class ProposalMeta:
    reason: str
    risk: str
    rollback: str
    type: str = "chore"
    scope: str | None = None
    intention: str | None = None

    def __post_init__(self) -> None:
        # Bounded before anything reads it: one line, no control character, known type, strict scope and id.
        check_metadata({"reason": self.reason, "risk": self.risk, "rollback": self.rollback, "type": self.type,
                        "scope": self.scope, "intention": self.intention})


def clause_text(charter: Charter | None, rule: str) -> str:
    """The cited clause as the charter writes it (`Section: text`), or the rule's words when absent."""
    key, words = RULES[rule][1]
    found = charter.find_clause(key, words) if charter is not None else None
    return found.ref() if found else words


def policy_markdown(charter: Charter | None) -> str:
    """docs/policy.md, generated from RULES, this module's and tools/facts.py's docstrings, and the charter."""
    out = ["# Change policy", "",
           "Generated from `agent/gate/policy.py` (`policy_markdown`); do not edit by hand.", "",
           f"{len(RULES)} rules, checked when a change is proposed and again before it is applied.", "",
           "| id | rule | charter clause |", "| --- | --- | --- |"]
    for rule, (title, _) in RULES.items():
        out.append(f"| {rule} | {title} | {clause_text(charter, rule).replace('|', '/')} |")
    doc = (__doc__ or "").strip().split("\n\n", 1)[1]
    kinds = (facts.__doc__ or "").strip().split("\n\n", 1)[1]
    out += ["", "## Perimeter, rewrites, tools, staging, tests", "", doc, "",
            "## What a file is (tools/facts.py)", "", kinds, ""]
    return "\n".join(out)


def work_tree_reader(root: Path, limit: int = 2_000_000) -> ReadBase:
    """A `read_base` over the work tree, for callers that have no committed base to offer (tests, old callers).
    The gate passes a reader of the committed blobs instead: the work tree is forgeable."""
    root = Path(root)

    def read(path: str) -> str | None:
        if unsafe_path_reason(path) or confinement_reason(root, path):
            return None
        full = root / path
        try:
            if not full.is_file() or full.is_symlink() or full.stat().st_size > limit:
                return None
            return full.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    return read


def _name(path: str) -> str:
    return posixpath.basename(path)


def _parts(path: str) -> list[str]:
    return path.split("/")


# ------------------------------------------------------------------------------------ lines

_DIRECTIVE = re.compile(r"^#\s*(if|ifdef|ifndef|elif|else|endif|define|undef|pragma|include|region|nullable)\b|^#!")


def _comment(line: str) -> bool:
    """Blank or a comment (`#`, `//`, `/* */`, `<!-- -->`, `-- `); preprocessor directives are code."""
    s = line.strip()
    if not s:
        return True
    if _DIRECTIVE.match(s):
        return False
    return s.startswith(("#", "//", "/*", "*/", "* ", "<!--", "-->", "-- ")) or s in ("*", "--")


_PUNCT = re.compile(r"^[\s{}\[\]();,]*$")
_ENV_READ = re.compile(
    r"os\.environ|os\.getenv|\bgetenv\s*\(|process\.env|import\.meta\.env|Environment\.GetEnvironmentVariable"
    r"|Configuration\s*\[|GetValue\s*<|runtimeConfig|RuntimeConfig|\$\{[A-Z_][A-Z0-9_]*(:?-[^}]*)?\}")
_ENV_IMPORT = re.compile(
    r"^\s*(import\s+os|from\s+os\s+import\s+(environ|getenv)(\s*,\s*(environ|getenv))*|using\s+System\s*;"
    r"|from\s+dotenv\s+import\s+load_dotenv|load_dotenv\(\s*\)|import\s+dotenv)\s*;?\s*$")
_PORT_HOST = re.compile(
    r"(?i:\bports?[\"']?\s*[:=(]|--port\b|\.port\b|\bhost(name)?[\"']?\s*[:=]|--host\b|\burls[\"']?\s*[:=]"
    r"|\blisten\s*[(:=]|\blisten\s+\d|\b(server|data source)\s*=)|\b[A-Z_]*(PORT|HOST|URLS?)\b|UseUrls|ASPNETCORE_URLS|0\.0\.0\.0|127\.0\.0\.1"
    r"|localhost:\d{2,5}|\bListen\w*\s*\(|devServer")
_LOGIC = re.compile(
    r"\b(if|elif|else|for|foreach|while|return|def|class|lambda|try|catch|except|switch|case|await|yield|function"
    r"|exec|eval|subprocess|delete|drop|DELETE|DROP)\b|=>")


def adjustment_line_ok(line: str) -> bool:
    """One changed line of application code that a build adjustment may contain."""
    if _comment(line) or _PUNCT.match(line):
        return True
    if _ENV_IMPORT.match(line):
        return True
    code = line.split(" #", 1)[0].split(" //", 1)[0]
    bare = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', code)  # string contents are data
    if _LOGIC.search(bare) or bare.rstrip().rstrip(";").count(";") > 0:
        return False
    return bool(_ENV_READ.search(code) or _PORT_HOST.search(code))


def apply_hunks(old: str, hunks: list[Hunk]) -> str | None:
    """The new text of a file after its hunks, or None when the context does not match."""
    lines = old.split("\n")
    trailing = old.endswith("\n")
    if trailing:
        lines.pop()
    out: list[str] = []
    pos = 0
    for hunk in hunks:
        start = hunk.old_start - 1 if hunk.old_len else hunk.old_start
        if start < pos or start > len(lines):
            return None
        out += lines[pos:start]
        pos = start
        for line in hunk.lines:
            tag, body = line[:1], line[1:]
            if tag in (" ", "-"):
                if pos >= len(lines) or lines[pos] != body:
                    return None
                pos += 1
                if tag == " ":
                    out.append(body)
            elif tag == "+":
                out.append(body)
    out += lines[pos:]
    return "\n".join(out) + ("\n" if trailing else "")


@dataclass
class _File:
    """One file of the patch with its committed base text and its text after the change (None when unknown)."""

    fp: FilePatch
    base: str | None
    new: str | None
    deploy_kind: str | None = None  # what the base commit's deploy reads it as (facts.DeployPaths.proposal_kind)

    @property
    def path(self) -> str:
        return self.fp.path

    @property
    def old_view(self) -> str:
        """The base, or what the hunks show of it (context and removed lines) when there is none."""
        if self.base is not None:
            return self.base
        return "\n".join(l[1:] for h in self.fp.hunks for l in h.lines if l[:1] in (" ", "-"))

    @property
    def new_view(self) -> str:
        if self.new is not None:
            return self.new
        return "\n".join(l[1:] for h in self.fp.hunks for l in h.lines if l[:1] in (" ", "+"))


def _load(fp: FilePatch, read_base: ReadBase) -> _File:
    if fp.status == "add":
        return _File(fp, None, "\n".join(fp.added_lines) + ("\n" if fp.added_lines else ""))
    base = read_base(fp.path)
    new = apply_hunks(base, fp.hunks) if base is not None else None
    return _File(fp, base, new)


def _new_lines(fp: FilePatch) -> list[str]:
    """Added lines that were not already there (a moved or re-indented line is not new)."""
    removed = {l.strip() for l in fp.removed_lines}
    return [l for l in fp.added_lines if l.strip() and l.strip() not in removed and not _comment(l)]


_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(==|>=|<=|~=|!=|>|<|===)\s*[^\s;#]+"
                  r"(\s*,\s*(==|>=|<=|~=|!=|>|<)\s*[^\s;#]+)*\s*(;[^#]*)?(#.*)?$")
_CSPROJ_BUILD = re.compile(r"^\s*<(TargetFrameworks?|RuntimeIdentifiers?)>[^<]*</\1>\s*$")


def _manifest_adjustment(path: str, fp: FilePatch, read: ReadBase) -> bool | None:
    """True/False for a build manifest (only its build fields changed?), None for any other file."""
    name = _name(path)
    changed = [l for l in fp.changed_lines if l.strip() and not _comment(l)]
    if name == "package.json":
        old = read(path)
        new = apply_hunks(old, fp.hunks) if old is not None else None
        if old is None or new is None:
            return False
        try:
            before, after = json.loads(old), json.loads(new)
        except ValueError:
            return False
        if not isinstance(before, dict) or not isinstance(after, dict):
            return False
        strip = lambda d: {k: v for k, v in d.items() if k not in ("scripts", "engines")}  # noqa: E731
        return strip(before) == strip(after)
    if name.endswith(".csproj"):
        return all(_CSPROJ_BUILD.match(l) for l in changed)
    if re.match(r"^requirements[^/]*\.txt$", name):
        if not all(_REQ.match(l) for l in changed):
            return False
        names = lambda ls: sorted(m.group(1).lower().replace("_", "-")  # noqa: E731
                                  for l in ls if l.strip() and not _comment(l) and (m := _REQ.match(l)))
        return names(fp.added_lines) == names(fp.removed_lines)
    return None


def is_build_adjustment(path: str, fp: FilePatch, read: ReadBase | Path) -> bool:
    """See the module docstring: env variables, ports/hosts, or a manifest's build fields only."""
    if fp.binary or fp.status not in ("modify", "mode"):
        return False
    if not callable(read):
        read = work_tree_reader(read)
    manifest = _manifest_adjustment(path, fp, read)
    if manifest is not None:
        return manifest
    return all(adjustment_line_ok(l) for l in fp.changed_lines)


def _meaningful(value: str | None) -> str | None:
    """Why a reason/risk/rollback says nothing, or None when it says something."""
    text = (value or "").strip()
    if not text:
        return "is empty"
    folded = fold(text).strip(" .!?")
    if folded in _PLACEHOLDERS or re.fullmatch(r"[\W_]*", folded) or re.fullmatch(r"(x+|\.+|\?+|-+|tbd|todo)", folded):
        return f"is a placeholder ({text!r})"
    if len(re.findall(r"[\w'’-]+", text)) < 2:
        return f"is a single word ({text!r})"
    if len(text) < 12:
        return f"is too short to say anything ({text!r}, under 12 characters)"
    return None


_PLACEHOLDERS = {"todo", "tbd", "n/a", "na", "-", "none", "rien", "aucun", "aucune", "?", "...", "xxx", "idem",
                 "same", "nothing", "null", "nil", "a definir", "a faire", "voir plus haut", "see above", "tba",
                 "pas de rollback", "no rollback", "non", "no", "n.a.", "wip"}

_CONCRETE_ROLLBACK = [
    (re.compile(r"`[^`]+`"), "a command in backticks"),
    (re.compile(r"\bgit\s+(revert|checkout|reset|restore)\b", re.I), "git"),
    (re.compile(r"IMAGE_TAG\w*"), "an image tag variable"),
    (re.compile(r"\bdocker[ -]compose\b|\bdocker\s+(compose|run|pull|tag)\b|\bmake\s+[\w-]+", re.I), "a command"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b"), "a commit sha"),
    (re.compile(r"\bv?\d+\.\d+(\.\d+)?\b|\bmain-[0-9a-f]{7,}\b"), "a version or tag"),
    (re.compile(r"[\w./-]+\.(ya?ml|sh|conf|env|json|md|example|txt|csproj|tf)\b|\b(Makefile|Dockerfile[\w.-]*)\b"),
     "a file"),
]
_PREVIOUS = re.compile(r"\b(previous|prior|precedente?s?|ancienne?s?|d'avant|last known good)\b")
# What "the previous …" must name to be a rollback someone can run: a tag, an image, a commit, a value. "The previous
# version" alone names nothing (of which service? which tag?); "the previous anime-saas-api version" names the image.
_CONCRETE_NOUNS = {"tag", "tags", "image", "images", "digest", "commit", "commits", "sha", "value", "valeur", "values",
                   "valeurs", "setting", "settings", "line", "ligne", "config", "configuration", "file", "fichier",
                   "port", "replicas", "limit", "limite", "build", "healthcheck", "variable"}
# Reverting the change itself is what the gate's rollback does: "revert the commit in anime-saas-api", "annuler ce
# commit".
# (The commit, a thing git can revert; "roll back the change if it breaks" stays vague.)
_REVERT_THE_CHANGE = re.compile(r"\b(revert(?:ing)?|annuler|d[ée]faire|revenir sur)\s+(?:the|this|that|its|le|la|ce|"
                                r"cette|les)\s+(?:\w+\s+)?(commit|merge|proposal|proposition)s?\b", re.I)


def concrete_rollback(text: str) -> bool:
    """Does the rollback name a command, a file, a sha/tag/version, the change's own revert, or the previous value
    of something named?"""
    if any(rx.search(text) for rx, _ in _CONCRETE_ROLLBACK) or _REVERT_THE_CHANGE.search(text):
        return True
    folded = fold(text)
    for m in _PREVIOUS.finditer(folded):
        near = re.findall(r"[\w-]+", folded[max(0, m.start() - 40):m.start()])[-2:] + \
            re.findall(r"[\w-]+", folded[m.end():])[:3]
        if any(w in _CONCRETE_NOUNS or ("-" in w.strip("-") and len(w) > 4) or "_" in w for w in near):
            return True
    return False


# ------------------------------------------------------------------------------------ evaluate

def evaluate(charter: Charter | None, patch: Patch, targets: list[Target], meta: ProposalMeta, release,
             root: Path, read_base: ReadBase | None = None,
             inventory: facts.Inventory | None = None, deploy: facts.DeployPaths | None = None) -> list[Refusal]:
    """Every policy refusal for this proposal (empty: the policy allows it).

    `read_base(path)` gives the committed base text of a platform-relative path (None when absent); without it
    the work tree is read (`work_tree_reader`), which only old callers and tests should rely on. `inventory` is
    what the platform already runs (`facts.inventory` of its committed infra files); without it only each
    file's own base counts, so every image or tool that file did not already name needs an intention.
    `deploy` is what the base commit's deploy uses (agent.gate.verify.deploy_set, the set `verify` reads): a
    file it reads as configuration by its path (a mounted file, an included compose file, a script a recipe
    runs) is infrastructure whatever its name.
    `root` serves the lexical and symlink confinement checks only."""
    root = Path(root)
    read = read_base or work_tree_reader(root)
    known = inventory or facts.Inventory()
    out: list[Refusal] = []

    def refuse(rule: str, message: str, path: str | None = None) -> None:
        out.append(Refusal(rule=rule, message=" ".join(message.split()), clause=clause_text(charter, rule), path=path))

    for field_name in ("reason", "risk", "rollback"):
        why = _meaningful(getattr(meta, field_name, None))
        if why:
            refuse("POL001", f"the {field_name} {why}: a change states a reason, a risk and a rollback")

    deploy_files: list[str] = []
    for fp in patch.files:
        paths = [p for p in (fp.old_path, fp.path) if p]
        escaped = False
        for path in paths:
            reason = unsafe_path_reason(path) or confinement_reason(root, path)
            if reason:
                refuse("POL007", f"{path}: path {reason}; patches stay inside the platform", path)
                escaped = True
        if escaped:
            continue
        own = [p for p in paths if _own_file(p)]
        for path in own:
            refuse("POL006", f"{path}: {_own_file(path)} is never changed through a proposal", path)
        if own:
            continue
        git_files = [p for p in paths if facts.is_git_file(p)]
        for path in git_files:
            refuse("POL013", f"{path}: git's own configuration (attributes, filters, submodule URLs, ignores) is "
                             f"never changed through a proposal; ask Product to change it by hand", path)
        if git_files:
            continue
        if _links(fp, root):
            refuse("POL011", f"{fp.path}: {_links(fp, root)}; propose the file's content itself", fp.path)
            continue
        mode = _mode_change(fp)
        if mode:
            refuse("POL012", f"{fp.path}: {mode}; propose the file as 100644 (run scripts with `sh script.sh`) or "
                             f"ask Product to change the mode by hand", fp.path)
            continue
        if fp.binary:
            refuse("POL008", f"{fp.path}: binary patch; only text changes can be reviewed and approved", fp.path)
            continue
        if fp.status == "rename":
            refuse("POL009", f"{fp.path}: renamed from {fp.old_path}; propose the new file as an addition and "
                             f"the removal as a separate Product decision", fp.path)
            continue
        if fp.status == "copy":
            refuse("POL009", f"{fp.path}: copied from {fp.old_path}; propose the new file as a plain addition so "
                             f"its whole content is reviewed", fp.path)
            continue
        if fp.status == "delete":
            refuse("POL009", f"{fp.path}: deletion; propose an edit that empties the file, or ask Product for the "
                             f"removal", fp.path)
            continue
        f = _load(fp, read)
        f.deploy_kind = deploy.proposal_kind(f.path) if deploy is not None else None
        _perimeter(f, read, refuse)
        _rewrites(f, refuse)
        _new_tools(f, patch, meta, release, known, refuse)
        _new_environment(f, release, refuse)
        if _deploy_change(f):
            deploy_files.append(fp.path)
        _tests_removed(f, refuse)

    if deploy_files:
        empty = _meaningful(meta.rollback)
        for path in deploy_files:
            if empty:
                refuse("POL005", f"{path}: deployment change without a rollback plan (the rollback {empty})", path)
            elif not concrete_rollback(meta.rollback):
                refuse("POL005", f"{path}: deployment change but the rollback {meta.rollback.strip()[:80]!r} names "
                                 f"no command, file, tag/sha or previous value", path)
    return out


def _own_file(path: str) -> str | None:
    parts, name = _parts(path), _name(path).lower()
    if ".git" in parts:
        return "git metadata"
    if ".devops-agent" in parts or name in (".devops-agent.yaml", ".devops-agent.yml"):
        return "the gate's own state and configuration"
    if any(a == ".codex" and b == "agents" for a, b in zip(parts, parts[1:])):
        return "the role charter"
    if name.endswith((".pem", ".key")) or name.startswith("product-key"):
        return "a key"
    return None


def _links(fp: FilePatch, root: Path) -> str | None:
    """Why this file change makes or edits a symlink, or None."""
    for line in fp.ext_headers:
        if line.endswith(" 120000") and line.startswith(("new file mode", "old mode", "new mode", "deleted file mode")):
            return f"symlink ({line})"
    for path in (fp.old_path, fp.path):
        if path and (Path(root) / path).is_symlink():
            return "the path is a symlink in the platform"
    return None


def _mode_change(fp: FilePatch) -> str | None:
    for line in fp.ext_headers:
        if line.startswith(("old mode ", "new mode ")):
            return f"mode change ({line})"
        if line.startswith("new file mode ") and line.split()[-1] != "100644":
            return f"new file with mode {line.split()[-1]}"
    return None


def _perimeter(f: _File, read: ReadBase, refuse) -> None:
    fp, path, name = f.fp, f.path, _name(f.path)
    if any(l.startswith("Subproject commit ") for l in fp.changed_lines):
        refuse("POL002", f"{path}: submodule pointer change; moving a service's code is not an infra change", path)
        return
    if re.match(r"^mysql/|(^|/)(init|migrations?)/[^/]*\.sql$", path) or name.endswith(".sql"):
        refuse("POL002", f"{path}: database schema or data is application data, not infrastructure", path)
        return
    if facts.is_real_env_file(path):
        refuse("POL002", f"{path}: real env files hold secrets; change .env.example and set the value on the "
                         f"server by hand", path)
        return
    kind = _kind(f)
    if kind == "makefile":
        bad = _makefile_outside(f)
        if bad:
            refuse("POL002", f"{path}: changes the make target {bad!r}, which neither calls docker/compose nor "
                             f"runs the tests; only those targets are infrastructure", path)
        return
    if kind is not None:
        return
    why = _kind_lost(f)
    if why:
        refuse("POL002", f"{path}: {why}", path)
        return
    if fp.status == "add":
        refuse("POL002", f"{path}: new application file (infrastructure is told by what a file is, not by its "
                         f"folder); only build adjustments of application code are allowed", path)
        return
    if not is_build_adjustment(path, fp, read):
        bad = next((l.strip() for l in fp.changed_lines if not adjustment_line_ok(l)), None)
        detail = f" (e.g. {bad[:60]!r})" if bad else ""
        refuse("POL002", f"{path}: application code change that is not a build adjustment (env variables, "
                         f"ports, build fields){detail}", path)


def _kind(f: _File) -> str | None:
    """The file's infra kind, which must hold for its committed base (what it is) and after the change."""
    after = facts.infra_kind(f.path, f.new_view)
    if after is None and f.deploy_kind is not None:
        return f.deploy_kind  # by what the deploy reads it as, which no edit of the file itself changes
    if f.fp.status == "add" or after in facts.NAME_KINDS:
        return after
    before = facts.infra_kind(f.path, f.old_view)
    return after if after == before else None


def _kind_lost(f: _File) -> str | None:
    """Why a content-classified file is refused: it was infra and stops being, or becomes infra only now."""
    if f.fp.status == "add":
        return None
    before, after = facts.infra_kind(f.path, f.old_view), facts.infra_kind(f.path, f.new_view)
    if before and not after:
        return f"after the change it is no longer a {before} file (it would stop being infrastructure)"
    if after and not before:
        return f"its committed content is not a {after} file; a change cannot make application code infrastructure"
    return None


def _makefile_outside(f: _File) -> str | None:
    """The first make target a change touches that is not infrastructure, or None."""
    old_targets, new_targets = facts.makefile_targets(f.old_view), facts.makefile_targets(f.new_view)
    old_vars, new_vars = facts.makefile_variables(f.old_view), facts.makefile_variables(f.new_view)
    for hunk in f.fp.hunks:
        for number in hunk.touched_old_lines():
            t = next((t for t in old_targets if t.first <= number <= t.last), None)
            if t is not None and not facts.make_target_ok(t, old_vars):
                return t.name
        for number in hunk.added_line_numbers():
            t = next((t for t in new_targets if t.first <= number <= t.last), None)
            if t is not None and not facts.make_target_ok(t, new_vars):
                return t.name
    return None


# -- build-time rewrites --------------------------------------------------------------------

_APP_EXT = (".py", ".cs", ".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".vue", ".svelte", ".go", ".java", ".kt",
            ".rb", ".php", ".rs", ".fs", ".vb", ".cshtml", ".razor", ".html", ".htm", ".css", ".scss", ".sql",
            ".csproj", ".sln", ".json", ".xml", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".dll", ".so", ".pyc")
_SOURCE_ROOTS = ("/src", "/app", "/usr/src", "/workspace", "/code", "/srv", "/opt", "/home", "/var/www",
                 "/usr/share/nginx/html")
_SYSTEM_ROOTS = ("/etc/", "/usr/local/etc/", "/tmp/", "/dev/", "/var/log/", "/run/", "/var/run/", "/proc/")
_SOURCE_DIRS = {"src", "app", "lib", "pages", "components", "server", "api", "tests", "test", "spec"}


def _is_source(target: str) -> bool:
    target = target.strip("\"'")
    if not target or target.startswith(("$", "-", "&")):
        return False
    if target.startswith(_SYSTEM_ROOTS) or target in ("/dev/null", "/dev/stdout", "/dev/stderr"):
        return False
    base = posixpath.basename(target).lower()
    if base.endswith(_APP_EXT) or base.startswith("requirements") or base in ("gemfile", "go.mod", "go.sum"):
        return True
    if target.startswith("/"):
        return any(target == r or target.startswith(r + "/") for r in _SOURCE_ROOTS)
    return bool(set(target.split("/")[:-1]) & _SOURCE_DIRS)


_REDIRECT = re.compile(r"(?<![0-9&])>{1,2}\s*([^\s;&|<>]+)")


def rewrite_targets(command: str) -> list[tuple[str, str]]:
    """(how, file) for each file a shell text rewrites in place or writes: `sed -i`, `perl -pi`, redirections,
    `tee`, `cp`/`mv`/`install` destinations, `patch`/`git apply`, `rm` (how = 'rm')."""
    out: list[tuple[str, str]] = []
    for m in _REDIRECT.finditer(command):
        out.append(("writes", m.group(1)))
    for words in facts.split_shell(command):
        while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in ("sudo", "exec", "env")):
            words = words[1:]
        if not words:
            continue
        cmd, args = posixpath.basename(words[0]), words[1:]
        plain = [a for a in args if not a.startswith("-") and not a.startswith(">")]
        if cmd in ("sed", "gsed") and any(a == "--in-place" or re.match(r"^-[a-zA-Z]*i", a) for a in args):
            script_given = any(a in ("-e", "--expression", "-f") for a in args)
            out += [("sed -i", a) for a in (plain if script_given else plain[1:])]
        elif cmd == "perl" and any(re.match(r"^-\w*i", a) for a in args):
            rest = [a for i, a in enumerate(args) if not a.startswith("-") and (i == 0 or args[i - 1] != "-e")]
            out += [("perl -i", a) for a in rest]
        elif cmd in ("awk", "gawk") and "inplace" in args:
            out += [("awk -i inplace", a) for a in plain[2:]]
        elif cmd == "tee":
            out += [("tee", a) for a in plain]
        elif cmd in ("cp", "mv", "install", "ln", "rsync") and len(plain) >= 2:
            out.append((cmd, plain[-1]))
        elif cmd == "patch" or (cmd == "git" and args[:1] in (["apply"], ["am"])):
            out.append((cmd if cmd == "patch" else f"git {args[0]}", "the sources"))
        elif cmd == "rm":
            out += [("rm", a) for a in plain]
        elif cmd == "truncate":
            out += [("truncate", a) for a in plain]
    return out


def _rewrites(f: _File, refuse) -> None:
    if facts.infra_kind(f.path, f.new_view) != "dockerfile":
        return
    from tools import dockerfile as df_tool

    old_seen = {i.normalized() for i in df_tool.parse_dockerfile_text(f.old_view or "", f.path).instructions} \
        if f.fp.status != "add" else set()
    new_info = df_tool.parse_dockerfile_text(f.new_view, f.path)
    added = [i for i in new_info.instructions if i.normalized() not in old_seen]
    if new_info.errors and not new_info.instructions:  # unparsable: read the added lines themselves
        added = [df_tool.Instruction(l.split(None, 1)[0].upper(), l, 0, 0, value=[l.split(None, 1)[-1]])
                 for l in _new_lines(f.fp) if l.strip()]
    for ins in added:
        if ins.cmd in ("RUN", "ONBUILD"):
            text = " ".join(ins.value) + "\n" + "\n".join(ins.heredocs)
            for how, target in rewrite_targets(text):
                if how == "rm":
                    if re.search(r"(?i)(^|[/._-])tests?([/._-]|$)|spec", target):
                        refuse("POL010", f"{f.path}: `{ins.original.strip()[:60]}` removes tests while the image "
                                         f"builds; dropping tests changes the functional scope", f.path)
                        return
                    continue
                if how in ("patch", "git apply", "git am") or _is_source(target):
                    refuse("POL002", f"{f.path}: `{ins.original.strip()[:60]}` rewrites application source "
                                     f"({how} {target}) while the image builds; change the source itself through "
                                     f"Product, or configure it by environment variable", f.path)
                    return
        elif ins.cmd in ("COPY", "ADD"):
            sources = [v for v in ins.value[:-1]]
            dest = ins.value[-1] if ins.value else ""
            if any(s.lower().endswith((".patch", ".diff")) for s in sources):
                refuse("POL002", f"{f.path}: `{ins.original.strip()[:60]}` copies a patch into the build; rewriting "
                                 f"application sources at build time is an application change", f.path)
                return
            if ins.heredocs and _is_source(dest):
                refuse("POL002", f"{f.path}: `{ins.original.strip()[:60]}` writes application source {dest} from a "
                                 f"heredoc; that is an application change", f.path)
                return


# -- new tools and images -------------------------------------------------------------------

def _new_tools(f: _File, patch: Patch, meta: ProposalMeta, release, known: facts.Inventory, refuse) -> None:
    path = f.path
    if facts.is_doc_path(path):
        return
    after = facts.tools_in(path, f.new_view)
    before = facts.tools_in(path, f.old_view) if f.fp.status != "add" else {}
    if _name(path).startswith("values") and path.endswith((".yaml", ".yml")):
        folder = posixpath.dirname(path)
        if any(p.path == posixpath.join(folder, "Chart.yaml") for p in patch.files):
            after.setdefault("helm", "values of a Helm chart")
    reported: set[str] = set()
    for tool, evidence in after.items():
        if tool in before or tool in known.tools:
            continue  # a tool the file or the platform already runs is not a new one
        reported.add(tool)
        why = _intention_allows(meta, release, facts.tool_words(tool), tool)
        if why:
            refuse("POL003", f"{path}: adds {tool} ({evidence}), a new tool; {why}", path)
    old_images = {facts.image_key(r) for r in facts.images_in(path, f.old_view)} if f.fp.status != "add" else set()
    for ref in facts.images_in(path, f.new_view):
        key = facts.image_key(ref)
        if key in old_images or key in known.images:
            continue
        if facts.tool_of_image(key) in reported:
            continue
        short = facts.image_short_name(ref)
        why = _intention_allows(meta, release, (short, key.split("/", 1)[-1]), short)
        if why:
            refuse("POL003", f"{path}: adds the image {ref}, not yet in the platform; {why}", path)
        old_images.add(key)


def _intention_text(intention) -> str:
    return fold(" ".join([intention.id, intention.name, *intention.fields.values()]))


def _intention_allows(meta: ProposalMeta, release, words: tuple[str, ...], what: str) -> str | None:
    """None when the proposal's intention is a validated intention of the current release naming `what`."""
    if not meta.intention:
        return "name a validated intention of the current release that asks for it (--intention)"
    if release is None:
        return f"intention {meta.intention} cannot be checked: no current release"
    found = next((i for i in release.intentions if fold(i.id) == fold(meta.intention)), None)
    if found is None:
        return f"intention {meta.intention} is not in the current release {release.name!r}"
    if not found.validated:
        return f"intention {found.id} ({found.name}) is {found.status!r}, not validated by Product"
    if not facts.mentions(_intention_text(found), words):
        return f"intention {found.id} ({found.name}) does not mention {what}"
    return None


# -- staging --------------------------------------------------------------------------------

def _names(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, dict):
        return [k for k in value if isinstance(k, str)]
    return []


def environment_names(path: str, text: str | None) -> set[str]:
    """The names a compose file or workflow gives to where things run: compose service names, `profiles:`,
    `env_file:` and project `name:`; workflow job ids, `environment:` names and branch filters."""
    kind = facts.infra_kind(path, text)
    docs = facts.yaml_documents(text) if kind in ("compose", "ci") else []
    out: set[str] = set()
    for doc in docs or []:
        if not isinstance(doc, dict):
            continue
        if kind == "compose":
            if isinstance(doc.get("name"), str):
                out.add(doc["name"])
            for svc_name, svc in (doc.get("services") or {}).items() if isinstance(doc.get("services"), dict) else []:
                out.add(str(svc_name))
                if isinstance(svc, dict):
                    out |= {f"profile {p}" for p in _names(svc.get("profiles"))}
                    env_files = svc.get("env_file")
                    for e in env_files if isinstance(env_files, list) else [env_files]:
                        value = e.get("path") if isinstance(e, dict) else e
                        if isinstance(value, str):
                            out.add(f"env_file {value}")
        else:
            triggers = doc.get("on", doc.get(True))
            if isinstance(triggers, dict):
                for trig in triggers.values():
                    if isinstance(trig, dict):
                        for key in ("branches", "tags"):
                            out |= {f"branch {b}" for b in _names(trig.get(key))}
                        for inp in (trig.get("inputs") or {}).values() if isinstance(trig.get("inputs"), dict) else []:
                            if isinstance(inp, dict):
                                out |= {f"input option {o}" for o in _names(inp.get("options"))}
            for job_id, job in (doc.get("jobs") or {}).items() if isinstance(doc.get("jobs"), dict) else []:
                out.add(f"job {job_id}")
                env = job.get("environment") if isinstance(job, dict) else None
                if isinstance(env, dict):
                    env = env.get("name")
                if isinstance(env, str):
                    out.add(f"environment {env}")
    return out


def _staging_hits(f: _File) -> list[str]:
    path, name = f.path, _name(f.path)
    hits: list[str] = []
    if facts.is_doc_path(path):
        return hits
    if f.fp.status == "add" and facts.is_staging_name(re.sub(r"\.(ya?ml|json|conf|sh|env|example|tf)$", "", name)):
        hits.append(f"adds the file {name}")
    kind = facts.infra_kind(path, f.new_view) or ("env" if name.startswith(".env") else None)
    if kind in ("compose", "ci"):
        before = environment_names(path, f.old_view) if f.fp.status != "add" else set()
        after = environment_names(path, f.new_view)
        hits += [f"adds {n}" for n in sorted(after - before) if facts.is_staging_name(n.split(" ", 1)[-1])]
    if kind == "makefile":
        old = {t.name for t in facts.makefile_targets(f.old_view)} if f.fp.status != "add" else set()
        hits += [f"adds the target {t.name}" for t in facts.makefile_targets(f.new_view)
                 if t.name not in old and facts.is_staging_name(t.name)]
    if kind in ("deploy_script", "makefile", "env_example", "env", "ci", "compose"):
        line = next((l.strip() for l in _new_lines(f.fp) if facts.is_staging_name(l)), None)
        if line and not hits:
            hits.append(f"adds {line[:60]!r}")
    if kind == "nginx":
        line = next((l.strip() for l in _new_lines(f.fp)
                     if re.match(r"^\s*(server_name|upstream)\b", l) and facts.is_staging_name(l)), None)
        if line:
            hits.append(f"adds {line[:60]!r}")
    return hits


def _new_environment(f: _File, release, refuse) -> None:
    hits = _staging_hits(f)
    if not hits:
        return
    if release is not None and any(i.validated and facts.mentions(_intention_text(i), facts.STAGING_WORDS)
                                   for i in release.intentions):
        return
    where = f"release {release.name!r}" if release is not None else "no current release"
    refuse("POL004", f"{f.path}: {hits[0]}, a new environment; no validated intention of the {where} asks for "
                     f"staging", f.path)


# -- deployment changes ---------------------------------------------------------------------

_CI_DEPLOY = re.compile(r"\bdeploy|\bssh\b|\bscp\b|\brsync\b|ssh-action|docker[ -]compose\s+(up|pull|down|-f)"
                        r"|\bkubectl\b|\bhelm\s+upgrade|^\s*environment:", re.I)
_COMPOSE_DEPLOY = re.compile(r"^\s*(deploy|restart|update_config|rollback_config|replicas|pull_policy)\s*:")
_DEPLOY_TARGET = re.compile(r"prod|deploy|release|rollback|up", re.I)


def _deploy_change(f: _File) -> bool:
    fp, path = f.fp, f.path
    if facts.is_deploy_doc_path(path):
        return any(l.strip() for l in fp.changed_lines)  # markdown '#' lines are headings, not comments
    changed = [l for l in fp.changed_lines if l.strip() and not _comment(l)]
    if not changed:
        return False
    kind = facts.infra_kind(path, f.new_view)
    if facts.is_makefile_path(path):
        if any(re.search(r"prod|deploy|release|rollback", l, re.I) for l in changed):
            return True
        targets = facts.makefile_targets(f.old_view)
        for hunk in fp.hunks:
            for old in hunk.touched_old_lines():
                target = next((t.name for t in reversed(targets) if t.first <= max(old, 1)), "")
                if _DEPLOY_TARGET.search(target):
                    return True
        return False
    if kind == "deploy_script" or f.deploy_kind == "deploy_script":
        return True
    if kind == "ci":
        if any(_CI_DEPLOY.search(l) for l in changed):
            return True
        # when a deploying workflow runs is its deploy strategy: manual (workflow_dispatch) to every push is a change
        deploys = any(_CI_DEPLOY.search(l) for l in f.new_view.split("\n") if l.strip() and not _comment(l))
        return deploys and _touches_key(f, "on")
    if kind == "compose":
        if any(_COMPOSE_DEPLOY.match(l) for l in changed):
            return True
        lines = f.old_view.split("\n")
        for hunk in fp.hunks:
            for old in hunk.touched_old_lines():
                if any(k in ("deploy", "update_config", "rollback_config") for k in _ancestor_keys(lines, old)):
                    return True
    return False


def _touches_key(f: _File, key: str) -> bool:
    """Whether a changed line of the patch is the YAML key `key` or under it (in the old or the new view)."""
    for view, numbers in ((f.old_view, lambda h: h.touched_old_lines()), (f.new_view, lambda h: h.added_line_numbers())):
        lines = view.split("\n")
        for hunk in f.fp.hunks:
            for n in numbers(hunk):
                here = re.match(r"^\s*-?\s*([\w.-]+)\s*:", lines[n - 1]) if 1 <= n <= len(lines) else None
                if (here and here.group(1) == key) or key in _ancestor_keys(lines, n):
                    return True
    return False


def _ancestor_keys(lines: list[str], number: int) -> list[str]:
    """YAML keys enclosing line `number` (1-based), by indentation, nearest first."""
    if not 1 <= number <= len(lines):
        return []
    line = lines[number - 1]
    indent = len(line) - len(line.lstrip()) if line.strip() else 10**6
    keys = []
    for prev in reversed(lines[:number - 1]):
        if not prev.strip() or prev.lstrip().startswith("#"):
            continue
        pind = len(prev) - len(prev.lstrip())
        if pind < indent:
            m = re.match(r"^\s*-?\s*([\w.-]+)\s*:", prev)
            if m:
                keys.append(m.group(1))
            indent = pind
    return keys


# -- tests ----------------------------------------------------------------------------------

_DISABLE = re.compile(
    r"continue-on-error:\s*true|^\s*if:\s*(\$\{\{\s*)?false|\|\|\s*(true|:)(\s|$|\"|')|;\s*exit\s+0\b"
    r"|--passWithNoTests|--pass-with-no-tests|\s-k\s+[\"']?not\b|\s-m\s+[\"']?not\b|--deselect\b|--ignore(-glob)?\b"
    r"|--filter\b|--exclude\b|--testPathIgnorePatterns|--collect-only\b|\s--co\b|SKIP_TESTS|--no-tests\b", re.I)
_TEST_JOB = re.compile(r"(?m)^  ([\w-]*test[\w-]*):")


def _tests_removed(f: _File, refuse) -> None:
    kind = facts.infra_kind(f.path, f.new_view)
    if kind not in ("ci", "dockerfile", "makefile", "compose", "deploy_script"):
        return
    fp = f.fp
    old = f.old_view if fp.status != "add" else ""
    new = f.new_view
    if f.base is not None and f.new is not None or fp.status == "add":
        before, after = facts.test_commands(old), facts.test_commands(new)
        jobs_before, jobs_after = set(_TEST_JOB.findall(old)), set(_TEST_JOB.findall(new))
    else:
        before = sum(facts.test_commands(l) for l in fp.removed_lines)
        after = sum(facts.test_commands(l) for l in fp.added_lines)
        jobs_before = {m.group(1) for l in fp.removed_lines if (m := _TEST_JOB.match(l))}
        jobs_after = {m.group(1) for l in fp.added_lines if (m := _TEST_JOB.match(l))}
    if kind != "ci":
        jobs_before = jobs_after = set()
    if after < before or jobs_before - jobs_after:
        what = ", ".join(sorted(jobs_before - jobs_after)) or "a test run"
        refuse("POL010", f"{fp.path}: removes {what}; dropping tests changes the functional scope", fp.path)
        return
    if kind == "dockerfile":
        stage = _test_stage_silenced(old, new, fp.path)
        if stage:
            refuse("POL010", f"{fp.path}: the test image's command no longer runs the tests ({stage}); dropping "
                             f"tests changes the functional scope", fp.path)
            return
    if kind == "compose":
        svc = _test_service_silenced(old, new)
        if svc:
            refuse("POL010", f"{fp.path}: the test service {svc} no longer runs the tests; dropping tests changes "
                             f"the functional scope", fp.path)
            return
    disabling = next((l.strip() for l in _new_lines(fp) if _DISABLE.search(" " + l)), None)
    if disabling and (any(facts.runs_tests(l) for l in fp.added_lines) or _near_test(old, fp)):
        refuse("POL010", f"{fp.path}: disables tests ({disabling[:50]!r}); dropping tests changes the functional "
                         f"scope", fp.path)


def _effective_command(stage) -> str:
    parts = []
    for form in (stage.entrypoint, stage.cmd):
        if form is not None:
            parts.append(" ".join(form.argv))
    return " ".join(parts)


def _test_stage_silenced(old: str, new: str, path: str) -> str | None:
    """A stage whose CMD/ENTRYPOINT ran the tests in the base and does not (or disables them) after."""
    from tools import dockerfile as df_tool

    if not old:
        return None
    before, after = df_tool.parse_dockerfile_text(old, path), df_tool.parse_dockerfile_text(new, path)
    for stage in before.stages:
        cmd = _effective_command(stage)
        if not facts.runs_tests(cmd):
            continue
        twin = after.stage(stage.name) if stage.name else after.stage(stage.index)
        if twin is None:
            return f"stage {stage.label} is gone"
        now = _effective_command(twin)
        if not facts.runs_tests(now) or (_DISABLE.search(" " + now) and not _DISABLE.search(" " + cmd)):
            return f"stage {stage.label}: {now[:50]!r}"
    return None


def _test_service_silenced(old: str, new: str) -> str | None:
    """A compose service named for tests whose command/entrypoint override stops running them."""
    def services(text: str) -> dict:
        docs = facts.yaml_documents(text) or []
        doc: dict = docs[0] if docs and isinstance(docs[0], dict) else {}
        found = doc.get("services")
        return found if isinstance(found, dict) else {}

    before, after = services(old), services(new)
    for name, svc in after.items():
        if not isinstance(svc, dict) or not re.search(r"test", str(name), re.I):
            continue
        found = before.get(name)
        prev: dict = found if isinstance(found, dict) else {}
        for key in ("command", "entrypoint"):
            value, was = svc.get(key), prev.get(key)
            if value is None or value == was:
                continue
            text = " ".join(value) if isinstance(value, list) else str(value)
            if not facts.runs_tests(text) or _DISABLE.search(" " + text):
                return str(name)
    return None


def _near_test(old: str | None, fp: FilePatch) -> bool:
    """A disabling line added within the few lines around a test command of the current file."""
    if not old:
        return False
    lines = old.split("\n")
    for hunk in fp.hunks:
        for n in hunk.touched_old_lines():
            window = lines[max(0, n - 4):n + 4]
            if any(facts.runs_tests(l) for l in window):
                return True
    return False
