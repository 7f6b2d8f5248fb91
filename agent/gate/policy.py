"""The change policy: what a proposal may touch and what it must say, each rule citing its charter clause.

`evaluate` runs at proposal time and again at apply time; it works on the patch itself (never only on
resolved targets), so a path leaving the platform is refused before anything is resolved or read.

Perimeter (POL002). Allowed without question: compose files (`docker-compose*.y*ml`, `compose*.y*ml`),
`Dockerfile*` and `*.Dockerfile`, `.dockerignore`, `.github/workflows/*.y*ml` (root or submodule), nginx
configs (`*.conf` named or written as nginx, or under `conf.d/`; files under an `nginx/` folder), `.env.example` at any level,
deploy scripts (`*.sh`, `Makefile`, `scripts/**`, `deploy/**`), docs (`*.md` under `docs/`, `README.md`,
deployment notes). `mysql/init/*.sql` is the database schema, application data: refused. Real env files
(`.env`, `.env.prod`...) hold secrets: refused (edit `.env.example`, and the server's file by hand).
A submodule pointer (`Subproject commit`) is refused: moving a service's code is a Product decision.

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
query — is application code.
"""
from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from agent.core.charter import Charter, fold
from tools.changes import FilePatch, Hunk, Patch, Target, confinement_reason, unsafe_path_reason

RULES: dict[str, tuple[str, tuple[str, str]]] = {
    "POL001": ("A change states a reason, a risk and a rollback",
               ("guardrails", "Une modification infra = une raison, un risque, un rollback")),
    "POL002": ("Only infrastructure files, or build adjustments of application code",
               ("out_of_scope", "Pas de modification de code applicatif")),
    "POL003": ("No new tool (Kubernetes, Terraform, Vault, heavy observability) without a validated intention",
               ("guardrails", "Pas d'ajout de nouveaux outils")),
    "POL004": ("No new environment (staging) unless the current release asks for it",
               ("guardrails", "Pas de staging si la release en cours ne le requiert pas explicitement")),
    "POL005": ("A deployment change names a concrete rollback",
               ("out_of_scope", "Pas de changement de stratégie de déploiement sans plan de rollback clair")),
    "POL006": ("The gate's own files, the charter, keys and git metadata are never a target",
               ("authority", "Il exécute uniquement les besoins de delivery/infra validés par l'agent Product")),
    "POL007": ("Paths stay inside the platform (no absolute path, '..' or symlink out)",
               ("authority", "Il exécute uniquement les besoins de delivery/infra validés par l'agent Product")),
    "POL008": ("No binary patch",
               ("work_rules", "Documenter les changements d'infra et leurs impacts")),
    "POL009": ("No rename, copy or deletion: edits and additions only",
               ("guardrails", "Priorité à la stabilité et à la reproductibilité")),
    "POL010": ("CI keeps its tests (the functional scope is not changed)",
               ("authority", "Il ne change jamais le scope fonctionnel")),
}


@dataclass
class Refusal:
    rule: str
    message: str
    clause: str
    path: str | None = None

    def to_dict(self) -> dict:
        return {"rule": self.rule, "message": self.message, "clause": self.clause, "path": self.path}


@dataclass
class ProposalMeta:
    reason: str
    risk: str
    rollback: str
    type: str = "chore"
    scope: str | None = None
    intention: str | None = None


def clause_text(charter: Charter | None, rule: str) -> str:
    """The cited clause as the charter writes it (`Section: text`), or the rule's words when absent."""
    key, words = RULES[rule][1]
    found = charter.find_clause(key, words) if charter is not None else None
    return found.ref() if found else words


def policy_markdown(charter: Charter | None) -> str:
    """docs/policy.md, generated from RULES and the charter."""
    out = ["# Change policy", "",
           "Generated from `agent/gate/policy.py` (`policy_markdown`); do not edit by hand.", "",
           f"{len(RULES)} rules, checked when a change is proposed and again before it is applied.", "",
           "| id | rule | charter clause |", "| --- | --- | --- |"]
    for rule, (title, _) in RULES.items():
        out.append(f"| {rule} | {title} | {clause_text(charter, rule).replace('|', '/')} |")
    doc = (__doc__ or "").strip().split("\n\n", 1)[1]
    out += ["", "## Perimeter and build adjustments", "", doc, ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------ helpers

def _name(path: str) -> str:
    return posixpath.basename(path)


def _parts(path: str) -> list[str]:
    return path.split("/")


_WORKFLOW = re.compile(r"(^|/)\.github/workflows/[^/]+\.ya?ml$")
_COMPOSE = re.compile(r"^(docker-)?compose[^/]*\.ya?ml$", re.I)
_ENV_NAMES = r"staging|preprod|pre-prod|uat|recette"


def is_workflow(path: str) -> bool:
    return bool(_WORKFLOW.search(path))


def is_compose(path: str) -> bool:
    return bool(_COMPOSE.match(_name(path)))


def is_dockerfile(path: str) -> bool:
    name = _name(path)
    return name.startswith("Dockerfile") or name.endswith(".Dockerfile") or name.lower() == "dockerfile"


def is_deploy_script(path: str) -> bool:
    parts = _parts(path)
    return (_name(path).endswith(".sh") or _name(path) in ("Makefile", "makefile", "GNUmakefile")
            or "scripts" in parts[:-1] or "deploy" in parts[:-1])


def is_deploy_doc(path: str) -> bool:
    name = fold(_name(path))
    return name.endswith(".md") and bool(re.search(r"deploi|deploy|runbook|rollback|mise-en-prod|production", name))


def is_doc(path: str) -> bool:
    parts = _parts(path)
    return _name(path).endswith(".md") and ("docs" in parts[:-1] or _name(path) == "README.md" or is_deploy_doc(path))


_NGINX_WORDS = re.compile(r"^\s*(server|location|upstream|http|events|proxy_pass|listen|server_name|worker_processes"
                          r"|include|add_header|ssl_certificate)\b")


def _current_text(root: Path, path: str, limit: int = 2_000_000) -> str | None:
    """The file's working-tree text, read only once the path is known to stay in the platform."""
    if unsafe_path_reason(path) or confinement_reason(root, path):
        return None
    full = Path(root) / path
    try:
        if not full.is_file() or full.is_symlink() or full.stat().st_size > limit:
            return None
        return full.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def is_nginx(path: str, fp: FilePatch | None, root: Path | None) -> bool:
    parts = _parts(path)
    if "nginx" in parts[:-1] or (_name(path).endswith(".conf") and "conf.d" in parts[:-1]):
        return True
    if not _name(path).endswith(".conf"):
        return False
    if "nginx" in _name(path).lower():
        return True
    lines = list(fp.added_lines if fp else [])
    current = _current_text(root, path) if root is not None else None
    if current:
        lines += current.split("\n")
    return sum(1 for l in lines if _NGINX_WORDS.match(l)) >= 2


def infra_kind(path: str, fp: FilePatch | None = None, root: Path | None = None) -> str | None:
    """What kind of infrastructure file `path` is, or None for application code and data."""
    name = _name(path)
    if is_compose(path):
        return "compose"
    if is_dockerfile(path):
        return "dockerfile"
    if name == ".dockerignore":
        return "dockerignore"
    if is_workflow(path):
        return "ci"
    if name == ".env.example":
        return "env_example"
    if is_deploy_script(path):
        return "deploy_script"
    if is_doc(path):
        return "docs"
    if is_nginx(path, fp, root):
        return "nginx"
    return None


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


_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(==|>=|<=|~=|!=|>|<|===)\s*[^\s;#]+"
                  r"(\s*,\s*(==|>=|<=|~=|!=|>|<)\s*[^\s;#]+)*\s*(;[^#]*)?(#.*)?$")
_CSPROJ_BUILD = re.compile(r"^\s*<(TargetFrameworks?|RuntimeIdentifiers?)>[^<]*</\1>\s*$")


def _manifest_adjustment(path: str, fp: FilePatch, root: Path) -> bool | None:
    """True/False for a build manifest (only its build fields changed?), None for any other file."""
    name = _name(path)
    changed = [l for l in fp.changed_lines if l.strip() and not _comment(l)]
    if name == "package.json":
        old = _current_text(root, path)
        new = apply_hunks(old, fp.hunks) if old is not None else None
        if new is None:
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
        names = lambda ls: sorted(_REQ.match(l).group(1).lower().replace("_", "-")  # noqa: E731
                                  for l in ls if l.strip() and not _comment(l))
        return names(fp.added_lines) == names(fp.removed_lines)
    return None


def is_build_adjustment(path: str, fp: FilePatch, root: Path) -> bool:
    """See the module docstring: env variables, ports/hosts, or a manifest's build fields only."""
    if fp.binary or fp.status not in ("modify", "mode"):
        return False
    manifest = _manifest_adjustment(path, fp, root)
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
_NOUNS_STOP = {"le", "la", "les", "l", "un", "une", "de", "du", "des", "the", "a", "an", "to", "au", "a", "version",
               "etat", "state", "one", "si", "if", "en", "on"}


def concrete_rollback(text: str) -> bool:
    """Does the rollback name a command, a file, a sha/tag/version, or the previous value of something?"""
    if any(rx.search(text) for rx, _ in _CONCRETE_ROLLBACK):
        return True
    folded = fold(text)
    for m in _PREVIOUS.finditer(folded):
        before = re.findall(r"[a-z_]{3,}", folded[:m.start()])[-2:]
        after = re.findall(r"[a-z_]{3,}", folded[m.end():])[:2]
        if any(w not in _NOUNS_STOP for w in before + after):
            return True
    return False


_TOOLS: dict[str, tuple[re.Pattern, tuple[str, ...]]] = {
    # tool -> (how the patch shows it, words an intention uses for it)
    "kubernetes": (re.compile(r"\b(kubectl|kubernetes|k8s|helm|kustomize|minikube|k3s|kind\s+create)\b", re.I),
                   ("kubernetes", "k8s")),
    "terraform": (re.compile(r"\b(terraform|opentofu|tofu\s+apply)\b", re.I), ("terraform",)),
    "vault": (re.compile(r"\b(hashicorp/vault|vault)\b", re.I), ("vault",)),
}
for _tool in ("prometheus", "grafana", "loki", "promtail", "elasticsearch", "kibana", "logstash", "jaeger", "tempo",
              "datadog"):
    _TOOLS[_tool] = (re.compile(rf"\b{_tool}\b", re.I), (_tool,))
_TOOLS["otel-collector"] = (re.compile(r"\b(otel[-_]?collector|opentelemetry[-_]collector)\b", re.I),
                            ("otel", "opentelemetry"))
_K8S_KIND = re.compile(r"^\s*kind:\s*[\"']?(Deployment|Service|Ingress|StatefulSet|ConfigMap|Secret|DaemonSet|Job"
                       r"|CronJob|Pod|Namespace|PersistentVolumeClaim|HorizontalPodAutoscaler|HelmRelease"
                       r"|Kustomization|ServiceAccount|Role|RoleBinding|ClusterRole|NetworkPolicy)\b")


def _tools_by_path(path: str, patch: Patch) -> str | None:
    parts, name = _parts(path), _name(path)
    if any(p in ("k8s", "kubernetes", "kube", "manifests", "charts", "helm") for p in parts[:-1]) \
            and name.endswith((".yaml", ".yml", ".tpl")):
        return "kubernetes"
    if name in ("kustomization.yaml", "kustomization.yml", "Chart.yaml", "Chart.lock", "helmfile.yaml"):
        return "kubernetes"
    if name.startswith("values") and name.endswith((".yaml", ".yml")):
        folder = posixpath.dirname(path)
        if any(f.path == posixpath.join(folder, "Chart.yaml") for f in patch.files):
            return "kubernetes"
    if name.endswith((".tf", ".tfvars", ".tf.json")) or name == ".terraform.lock.hcl":
        return "terraform"
    if name.endswith(".hcl"):
        return "vault" if "vault" in path.lower() else "terraform"
    return None


def _new_lines(fp: FilePatch) -> list[str]:
    """Added lines that were not already there (a moved or re-indented line is not new)."""
    removed = {l.strip() for l in fp.removed_lines}
    return [l for l in fp.added_lines if l.strip() and l.strip() not in removed and not _comment(l)]


def _intention_text(intention) -> str:
    return fold(" ".join([intention.id, intention.name, *intention.fields.values()]))


_NEGATION = re.compile(r"\b(pas de|pas d'|sans|aucun|aucune|no|without|not|ni|jamais|never)\s+(\w+\s+){0,2}$")


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    """`text` (folded) names one of `words` in a sentence that does not deny it."""
    for word in words:
        for m in re.finditer(rf"(?<![a-z0-9]){re.escape(fold(word))}(?![a-z0-9])", text):
            if not _NEGATION.search(text[max(0, m.start() - 40):m.start()]):
                return True
    return False


# ------------------------------------------------------------------------------------ evaluate

def evaluate(charter: Charter | None, patch: Patch, targets: list[Target], meta: ProposalMeta, release,
             root: Path) -> list[Refusal]:
    """Every policy refusal for this proposal (empty: the policy allows it)."""
    root = Path(root)
    out: list[Refusal] = []

    def refuse(rule: str, message: str, path: str | None = None) -> None:
        out.append(Refusal(rule=rule, message=message.replace("\n", " "), clause=clause_text(charter, rule), path=path))

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
        _perimeter(fp, root, refuse)
        _new_tools(fp, patch, meta, release, root, refuse)
        _new_environment(fp, release, refuse)
        if _deploy_change(fp, root):
            deploy_files.append(fp.path)
        _tests_removed(fp, root, refuse)

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
    if name == ".gitmodules":
        return "the submodule map"
    if name.endswith((".pem", ".key")) or name.startswith("product-key"):
        return "a key"
    return None


def _perimeter(fp: FilePatch, root: Path, refuse) -> None:
    path, name = fp.path, _name(fp.path)
    if any(l.startswith("Subproject commit ") for l in fp.changed_lines):
        refuse("POL002", f"{path}: submodule pointer change; moving a service's code is not an infra change", path)
        return
    if re.match(r"^mysql/|(^|/)(init|migrations?)/[^/]*\.sql$", path) or name.endswith(".sql"):
        refuse("POL002", f"{path}: database schema or data is application data, not infrastructure", path)
        return
    if re.match(r"^\.env(\..+)?$", name) and name != ".env.example":
        refuse("POL002", f"{path}: real env files hold secrets; change .env.example and set the value on the "
                         f"server by hand", path)
        return
    if infra_kind(path, fp, root) is not None:
        return
    if fp.status == "add":
        refuse("POL002", f"{path}: new application file; only build adjustments of application code are allowed",
               path)
        return
    if not is_build_adjustment(path, fp, root):
        bad = next((l.strip() for l in fp.changed_lines if not adjustment_line_ok(l)), None)
        detail = f" (e.g. {bad[:60]!r})" if bad else ""
        refuse("POL002", f"{path}: application code change that is not a build adjustment (env variables, "
                         f"ports, build fields){detail}", path)


def _new_tools(fp: FilePatch, patch: Patch, meta: ProposalMeta, release, root: Path, refuse) -> None:
    path = fp.path
    found: dict[str, None] = {}
    by_path = _tools_by_path(path, patch)
    if by_path:
        found[by_path] = None
    new = _new_lines(fp)
    existing = "\n".join(fp.removed_lines) + "\n" + (_current_text(root, path) or "")
    if path.endswith((".yaml", ".yml")) and any(re.match(r"^\s*apiVersion:", l) for l in new) \
            and any(_K8S_KIND.match(l) for l in new):
        found["kubernetes"] = None
    if not is_doc(path):
        for tool, (rx, _) in _TOOLS.items():
            if any(rx.search(l) for l in new) and not rx.search(existing):
                found[tool] = None  # a tool the file already runs is not a new one
    for tool in found:
        why = _intention_allows(meta, release, _TOOLS[tool][1] if tool in _TOOLS else (tool,), tool)
        if why:
            refuse("POL003", f"{path}: adds {tool}, a new tool; {why}", path)


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
    if not _mentions(_intention_text(found), words):
        return f"intention {found.id} ({found.name}) does not mention {what}"
    return None


_ENV_FILE = re.compile(rf"(^|[._-])({_ENV_NAMES}|qa)([._-]|$)", re.I)
_ENV_LINE = re.compile(rf"\b({_ENV_NAMES})\b|environment:\s*[\"']?qa\b|\bqa[-_]|[-_]qa\b|^\s*qa\s*:", re.I)


def _new_environment(fp: FilePatch, release, refuse) -> None:
    path = fp.path
    hits: list[str] = []
    if fp.status == "add" and not is_doc(path) and _ENV_FILE.search(_name(path)):
        hits.append(f"adds the file {_name(path)}")
    if is_workflow(path) or is_compose(path) or is_deploy_script(path) or _name(path).startswith(".env"):
        line = next((l.strip() for l in _new_lines(fp) if _ENV_LINE.search(l)), None)
        if line:
            hits.append(f"adds {line[:60]!r}")
    if not hits:
        return
    if release is not None and any(i.validated and _mentions(_intention_text(i), ("staging",))
                                   for i in release.intentions):
        return
    where = f"release {release.name!r}" if release is not None else "no current release"
    refuse("POL004", f"{path}: {hits[0]}, a new environment; no validated intention of the {where} asks for "
                     f"staging", path)


_CI_DEPLOY = re.compile(r"\bdeploy|\bssh\b|\bscp\b|\brsync\b|ssh-action|docker[ -]compose\s+(up|pull|down|-f)"
                        r"|\bkubectl\b|\bhelm\s+upgrade|^\s*environment:", re.I)
_COMPOSE_DEPLOY = re.compile(r"^\s*(deploy|restart|update_config|rollback_config|replicas|pull_policy)\s*:")
_MAKE_TARGET = re.compile(r"^([A-Za-z0-9_.-]+)\s*:(?!=)")


def _deploy_change(fp: FilePatch, root: Path) -> bool:
    path = fp.path
    if is_deploy_doc(path):
        return any(l.strip() for l in fp.changed_lines)  # markdown '#' lines are headings, not comments
    changed = [l for l in fp.changed_lines if l.strip() and not _comment(l)]
    if not changed:
        return False
    if _name(path) in ("Makefile", "makefile", "GNUmakefile"):
        if any(re.search(r"prod|deploy|release|rollback", l, re.I) for l in changed):
            return True
        current = _current_text(root, path) or ""
        lines = current.split("\n")
        for hunk in fp.hunks:
            for old in hunk.touched_old_lines():
                target = next((m.group(1) for l in reversed(lines[:max(old, 1)]) if (m := _MAKE_TARGET.match(l))), "")
                if re.search(r"prod|deploy|release|rollback|up", target, re.I):
                    return True
        return False
    if is_deploy_script(path):
        return True
    if is_workflow(path):
        return any(_CI_DEPLOY.search(l) for l in changed)
    if is_compose(path):
        if any(_COMPOSE_DEPLOY.match(l) for l in changed):
            return True
        lines = (_current_text(root, path) or "").split("\n")
        for hunk in fp.hunks:
            for old in hunk.touched_old_lines():
                if any(k in ("deploy", "update_config", "rollback_config") for k in _ancestor_keys(lines, old)):
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


_TEST_CMD = re.compile(r"\bdotnet\s+test\b|\bpytest\b|\bpython\d?\s+-m\s+(pytest|unittest)\b|\b(npm|pnpm|yarn|bun)\s+"
                       r"(run\s+)?test\b|\bnpx\s+(vitest|jest)\b|\bvitest\b|\bjest\b|\bgo\s+test\b|\bmake\s+test\b"
                       r"|Dockerfile\.test|\btarget:\s*test\b|\bdocker\s+run\b[^\n]*-tests?\b"
                       r"|\bname:[^\n]*\b[Tt]ests?\b")
_DISABLE = re.compile(r"continue-on-error:\s*true|^\s*if:\s*(\$\{\{\s*)?false|\|\|\s*true\b|;\s*exit\s+0\b", re.I)


def _tests_removed(fp: FilePatch, root: Path, refuse) -> None:
    if not is_workflow(fp.path):
        return
    old = _current_text(root, fp.path)
    new = apply_hunks(old, fp.hunks) if old is not None else None
    if old is not None and new is not None:
        before, after = len(_TEST_CMD.findall(old)), len(_TEST_CMD.findall(new))
        jobs_before = set(re.findall(r"(?m)^  ([\w-]*test[\w-]*):", old))
        jobs_after = set(re.findall(r"(?m)^  ([\w-]*test[\w-]*):", new))
    else:
        before = sum(bool(_TEST_CMD.search(l)) for l in fp.removed_lines)
        after = sum(bool(_TEST_CMD.search(l)) for l in fp.added_lines)
        jobs_before = {m.group(1) for l in fp.removed_lines if (m := re.match(r"^  ([\w-]*test[\w-]*):", l))}
        jobs_after = {m.group(1) for l in fp.added_lines if (m := re.match(r"^  ([\w-]*test[\w-]*):", l))}
    if after < before or jobs_before - jobs_after:
        what = ", ".join(sorted(jobs_before - jobs_after)) or "a test step"
        refuse("POL010", f"{fp.path}: removes {what} from CI; dropping tests changes the functional scope", fp.path)
        return
    disabling = next((l.strip() for l in _new_lines(fp) if _DISABLE.search(l)), None)
    if disabling and (any(_TEST_CMD.search(l) for l in fp.added_lines) or _near_test(old, fp)):
        refuse("POL010", f"{fp.path}: disables tests ({disabling[:50]!r}); dropping tests changes the functional "
                         f"scope", fp.path)


def _near_test(old: str | None, fp: FilePatch) -> bool:
    """A disabling line added within the few lines around a test command of the current workflow."""
    if not old:
        return False
    lines = old.split("\n")
    for hunk in fp.hunks:
        for n in hunk.touched_old_lines():
            window = lines[max(0, n - 4):n + 4]
            if any(_TEST_CMD.search(l) for l in window):
                return True
    return False
