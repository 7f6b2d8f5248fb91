"""The vocabulary the checks and the change policy share: one fact, one function, word lists once.

What a file IS (`infra_kind`), what names a staging environment (`is_staging_name`), which tools and images a
file introduces (`tools_in`, `images_in`), what the platform already runs (`Inventory`), whether a shell text
runs docker (`runs_docker`), what a real env file is (`is_real_env_file`), and whether a sentence asks for
something rather than denying it (`mentions`). Everything here reads text it is given; nothing opens a file.

Infrastructure, by what a file is (never by the folder it sits in: a `.py`, `.ts` or `.cs` under `deploy/` or
`scripts/` is application code):
- `compose`: `docker-compose*.y(a)ml`, `compose*.y(a)ml`;
- `dockerfile`: `Dockerfile*`, `*.Dockerfile`, `Containerfile*`; `dockerignore`: `.dockerignore`, `*.dockerignore`;
- `ci`: `.github/workflows/*.y(a)ml` and composite actions `.github/actions/**/action.y(a)ml` (root or submodule);
- `nginx`: a `*.conf` / `*.conf.template` / `nginx*` file whose text parses as nginx (crossplane, strict: every
  directive is one nginx knows; snippets of `conf.d` parse too, an INI `logging.conf` does not);
- `env_example`: `.env.example`, `.env.<name>.example`;
- `makefile`: `Makefile`/`makefile`/`GNUmakefile`/`*.mk` with at least one target that calls docker or
  docker compose (directly or through a variable such as `COMPOSE = docker compose`); the policy further
  requires every target a change touches to call docker/compose or to run the test suite (`make_target_ok`);
- `deploy_script`: a `*.sh`/`*.bash` file whose text runs docker, docker compose or docker-compose as a command
  (not in a comment or an echo), or a container entrypoint/healthcheck script (`*entrypoint*.sh`,
  `healthcheck*.sh`); a shell script that runs neither is application tooling;
- `docs`: deploy notes and documentation, `*.md` under `docs/`, `README.md`, or a markdown file named for
  deployment, runbook, rollback or production;
- `signers`: `.allowed_signers` at the platform root, Product's signer list (git's allowedSignersFile format).
"""
from __future__ import annotations

import os
import posixpath
import re
import shlex
import tempfile
from dataclasses import dataclass, field
from typing import Iterable

import yaml

from agent.core import yaml_safe
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


# ------------------------------------------------------------------------------------ tools

@dataclass(frozen=True)
class Tool:
    name: str
    words: tuple[str, ...]  # what an intention says to ask for it
    command: re.Pattern  # how a script, a workflow step or a RUN line shows it
    images: re.Pattern | None = None  # repositories that are this tool


def _rx(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.I)


OBSERVABILITY_WORDS = ("observabilite", "observability", "monitoring")
_OBS = ("prometheus", "grafana", "loki", "promtail", "elasticsearch", "kibana", "logstash", "jaeger", "tempo",
        "alertmanager", "datadog", "zipkin", "fluentd", "fluent-bit", "victoriametrics", "signoz", "node-exporter")

TOOLS: dict[str, Tool] = {t.name: t for t in [
    Tool("kubernetes", ("kubernetes", "k8s"),
         _rx(r"(?<![\w-])(kubectl|kubeadm|minikube|k3s|k3d|kind\s+create|kustomize|skaffold)(?![\w-])"),
         _rx(r"(^|/)(kubectl|k3s|kind-node|kustomize)$")),
    Tool("helm", ("helm", "kubernetes", "k8s"), _rx(r"(?<![\w-])(helm|helmfile)\s+\w"), _rx(r"(^|/)helm$")),
    Tool("terraform", ("terraform", "opentofu"), _rx(r"(?<![\w-])(terraform|terragrunt|tofu)\s+\w"),
         _rx(r"(^|/)(terraform|opentofu|terragrunt)$")),
    Tool("vault", ("vault",), _rx(r"(?<![\w./-])vault\s+(kv|read|write|login|server|agent|operator|secrets)\b"
                                  r"|hashicorp/vault"), _rx(r"(^|/)vault$")),
    Tool("nomad", ("nomad",), _rx(r"(?<![\w-])nomad\s+(job|run|agent)\b"), _rx(r"(^|/)nomad$")),
    Tool("consul", ("consul",), _rx(r"(?<![\w-])consul\s+(agent|kv|services)\b"), _rx(r"(^|/)consul$")),
    Tool("ansible", ("ansible",), _rx(r"(?<![\w-])ansible(-playbook|-galaxy)?\s+\S"), _rx(r"(^|/)ansible[\w-]*$")),
    Tool("pulumi", ("pulumi",), _rx(r"(?<![\w-])pulumi\s+(up|preview|stack)\b"), _rx(r"(^|/)pulumi[\w-]*$")),
    Tool("docker-swarm", ("swarm",), _rx(r"docker\s+(swarm\s+init|stack\s+deploy|service\s+create)")),
    *[Tool(n, (n, *OBSERVABILITY_WORDS), _rx(rf"(?<![\w-]){re.escape(n)}(?![\w-])"), _rx(rf"(^|/){re.escape(n)}$"))
      for n in _OBS],
    Tool("otel-collector", ("otel", "opentelemetry", *OBSERVABILITY_WORDS),
         _rx(r"(otel|opentelemetry)[-_]?collector"), _rx(r"(otel|opentelemetry)[-_]?collector(-contrib)?$")),
]}


def tool_words(tool: str) -> tuple[str, ...]:
    """The words an intention uses to ask for `tool`."""
    return TOOLS[tool].words if tool in TOOLS else (tool,)


def tool_of_image(repository: str) -> str | None:
    """The tool an image is (`hashicorp/vault` -> vault, `grafana/grafana` -> grafana), or None."""
    repo = repository.lower()
    for tool in TOOLS.values():
        if tool.images is not None and tool.images.search(repo):
            return tool.name
    return None


# ------------------------------------------------------------------------------------ yaml

def yaml_documents(text: str | None) -> list | None:
    """Every document of a YAML (or JSON) text, block or flow style; None when it does not parse."""
    if not text:
        return []
    try:
        return [d for d in yaml_safe.load_all(text) if d is not None]
    except (yaml.YAMLError, yaml_safe.YamlLimitError):
        return None
    except (ValueError, TypeError, RecursionError):
        return None


_API_VERSION = re.compile(r"""(^|[\s{,])["']?apiVersion["']?\s*:\s*["']?[\w./-]+""", re.M)
_KIND = re.compile(r"""(^|[\s{,])["']?kind["']?\s*:\s*["']?([A-Z][A-Za-z]+)""", re.M)


def kubernetes_kinds(text: str | None) -> list[str]:
    """Kinds of the Kubernetes objects a YAML/JSON text declares (`apiVersion` + `kind`, any style, any document);
    a text that does not parse (a Helm template) is read line by line."""
    return _kinds_in(yaml_documents(text), text)


def _kinds_in(docs: list | None, text: str | None) -> list[str]:
    """kubernetes_kinds of a text already parsed into `docs` (None: it does not parse)."""
    if docs is None:
        if text and _API_VERSION.search(text):
            return [m.group(2) for m in _KIND.finditer(text)]
        return []
    out: list[str] = []

    def walk(node, depth=0) -> None:
        if depth > 3:
            return
        if isinstance(node, dict):
            if isinstance(node.get("apiVersion"), str) and isinstance(node.get("kind"), str):
                out.append(node["kind"])
            for key in ("items", "resources", "objects"):
                if isinstance(node.get(key), list):
                    for item in node[key]:
                        walk(item, depth + 1)
        elif isinstance(node, list):
            for item in node:
                walk(item, depth + 1)

    for doc in docs:
        walk(doc)
    return out


_TF_BLOCK = re.compile(r'^\s*(terraform|provider|resource)\b\s*(?:"[^"\n]*"\s*)*\{', re.M)
_TF_JSON_KEYS = ("terraform", "provider", "resource")


def terraform_block(name: str, text: str | None) -> str | None:
    """What makes a file Terraform: a `.tf` with a `terraform`, `provider` or `resource` block, a `.tf.json`
    with one of those keys, or a file only Terraform reads (`.tfvars`, its lock file, terragrunt.hcl); None
    otherwise (a `.tf` of variables only). Without the text, a `.tf`/`.tf.json` is taken by its name."""
    if name in (".terraform.lock.hcl", "terragrunt.hcl") or name.endswith(".tfvars"):
        return {".terraform.lock.hcl": "lock file", "terragrunt.hcl": "Terragrunt"}.get(name, "variable values")
    if text is None:
        return "by name"
    if name.endswith(".tf.json"):
        import json

        try:
            data = json.loads(text)
        except ValueError:
            return None
        key = next((k for k in _TF_JSON_KEYS if isinstance(data, dict) and k in data), None)
        return f"{key} block" if key else None
    m = _TF_BLOCK.search(text)
    return f"{m.group(1)} block" if m else None


_VAULT_HCL = re.compile(r'^\s*(storage|listener|seal|auto_auth|vault|ui\s*=|api_addr\s*=|path\s+"[^"]*"\s*\{)', re.M)
_NOMAD_HCL = re.compile(r'^\s*job\s+"[^"]+"\s*\{', re.M)


def tools_in(path: str, text: str | None, commands: bool = True, images: bool = True) -> dict[str, str]:
    """{tool: evidence} for each tool the file introduces, by its name and by parsing its content; with
    `commands`, also the tools its lines run (`kubectl apply`), with `images`, the tools its images are."""
    name = posixpath.basename(path).lower()
    found: dict[str, str] = {}
    if name.endswith((".tf", ".tf.json", ".tfvars")) or name in (".terraform.lock.hcl", "terragrunt.hcl"):
        block = terraform_block(name, text)
        if block:
            found["terraform"] = f"Terraform file {name} ({block})"
    elif name.endswith((".hcl", ".nomad")) and text:  # HCL is a syntax (docker-bake.hcl, Packer), not Terraform
        if _NOMAD_HCL.search(text):
            found["nomad"] = "Nomad job"
        elif _TF_BLOCK.search(text):
            found["terraform"] = f"HCL with a Terraform {_TF_BLOCK.search(text).group(1)} block"
        elif _VAULT_HCL.search(text) or "vault" in name:
            found["vault"] = "Vault configuration"
    if name in ("chart.yaml", "chart.yml", "chart.lock", "helmfile.yaml", "helmfile.yml", "values.schema.json"):
        found["helm"] = f"Helm file {name}"
    if name in ("kustomization.yaml", "kustomization.yml", "skaffold.yaml"):
        found["kubernetes"] = f"Kubernetes file {name}"
    if name in ("pulumi.yaml", "pulumi.yml"):
        found["pulumi"] = "Pulumi project"
    if name == "ansible.cfg":
        found["ansible"] = "Ansible configuration"
    if name.endswith((".yaml", ".yml", ".json", ".tpl")) and text:
        # Parsed once, and only when it can declare a tool: a manifest names `apiVersion`, a playbook `hosts`
        # (a repository's many locale, fixture and spec files are not parsed at all).
        docs = yaml_documents(text) if "apiVersion" in text or "hosts" in text else []
        kinds = _kinds_in(docs, text)
        if kinds:
            found.setdefault("kubernetes", f"Kubernetes manifest (kind {kinds[0]})")
        if re.search(r"\{\{-?\s*\.(Values|Release|Chart)\b", text):
            found.setdefault("helm", "Helm template")
        docs = docs or []
        if any(isinstance(d, list) and any(isinstance(p, dict) and "hosts" in p and ({"tasks", "roles"} & set(p))
                                           for p in d) for d in docs):
            found.setdefault("ansible", "Ansible playbook")
    if commands and text and not name.endswith(".md"):
        for line in _code_lines(text):
            for tool in TOOLS.values():
                if tool.name not in found and tool.command.search(line) and not (tool.images and _is_image_line(line)):
                    found[tool.name] = f"runs {line.strip()[:60]!r}"
    for ref in images_in(path, text) if images else []:
        tool = tool_of_image(ref.split(":", 1)[0].split("@", 1)[0])
        if tool:
            found.setdefault(tool, f"image {ref}")
    return found


def _is_image_line(line: str) -> bool:
    return bool(re.match(r"^\s*(-\s*)?(image\s*:|FROM\s)", line, re.I))


def _code_lines(text: str) -> list[str]:
    """Lines that are not comments or echoes (what a script or config would actually run)."""
    out = []
    for line in text.split("\n"):
        s = line.strip()
        if not s or s.startswith(("#", "//")) or re.match(r"^(echo|printf)\b", s):
            continue
        out.append(line)
    return out


# ------------------------------------------------------------------------------------ images

_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", re.I | re.M)
_IMAGE_LINE = re.compile(r"""^\s*(?:-\s*)?image\s*:\s*["']?([^\s"'#]+)""", re.M)


def image_key(ref: str) -> str:
    """An image's identity without tag or digest, normalised (`nginx:1.27` -> `docker.io/library/nginx`)."""
    from tools.dockerfile import parse_image_ref

    parsed = parse_image_ref(ref)
    if parsed.valid:
        return f"{parsed.registry}/{parsed.repository}"
    # A tag written with variables (`api:${TAG:-main-${SHA}}`) ends at the name: the first `:` of the last part.
    head, _, last = ref.split("@", 1)[0].rpartition("/")
    name = (head + "/" if head else "") + last.split(":", 1)[0]
    again = parse_image_ref(name)
    return f"{again.registry}/{again.repository}" if again.valid else name


def image_short_name(ref: str) -> str:
    """The name an intention uses for an image: its last path component (`bitnami/redis:7` -> redis)."""
    return image_key(ref).rsplit("/", 1)[-1]


def images_in(path: str, text: str | None) -> list[str]:
    """Image references a file runs or builds from: Dockerfile `FROM` (not earlier stages, not scratch), compose
    `image:`, workflow `container:`/`services:` images and `docker://` steps."""
    if not text:
        return []
    kind = infra_kind(path, text)
    out: list[str] = []
    if kind == "dockerfile":
        stages: set[str] = set()
        for m in _FROM.finditer(text):
            ref = m.group(1)
            if ref.lower() != "scratch" and ref.lower() not in stages:
                out.append(ref)
            if m.group(2):
                stages.add(m.group(2).lower())
        return out
    if kind not in ("compose", "ci") and not posixpath.basename(path).endswith((".yml", ".yaml")):
        return out
    docs = yaml_documents(text)
    if docs is None:
        return [m.group(1) for m in _IMAGE_LINE.finditer(text)]
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        for svc in (doc.get("services") or {}).values() if isinstance(doc.get("services"), dict) else []:
            if isinstance(svc, dict) and isinstance(svc.get("image"), str):
                out.append(svc["image"])
        for job in (doc.get("jobs") or {}).values() if isinstance(doc.get("jobs"), dict) else []:
            if not isinstance(job, dict):
                continue
            container = job.get("container")
            if isinstance(container, str):
                out.append(container)
            elif isinstance(container, dict) and isinstance(container.get("image"), str):
                out.append(container["image"])
            for svc in (job.get("services") or {}).values() if isinstance(job.get("services"), dict) else []:
                if isinstance(svc, dict) and isinstance(svc.get("image"), str):
                    out.append(svc["image"])
            for step in job.get("steps") if isinstance(job.get("steps"), list) else []:
                uses = step.get("uses") if isinstance(step, dict) else None
                if isinstance(uses, str) and uses.startswith("docker://"):
                    out.append(uses[len("docker://"):])
    return out


@dataclass(frozen=True)
class Inventory:
    """What the platform already runs: image identities (`image_key`) and tools."""

    images: frozenset[str] = field(default_factory=frozenset)
    tools: frozenset[str] = field(default_factory=frozenset)

    def has_image(self, ref: str) -> bool:
        return image_key(ref) in self.images


def inventory(files: Iterable[tuple[str, str | None]]) -> Inventory:
    """The inventory of a platform from its (path, text) files, e.g. the session's loaded sources or the
    committed base files."""
    images: set[str] = set()
    tools: set[str] = set()
    for path, text in files:
        if not text:
            continue
        images |= {image_key(r) for r in images_in(path, text)}
        tools |= set(tools_in(path, text))
    return Inventory(frozenset(images), frozenset(tools))


def inventory_from_sources(sources: Iterable) -> Inventory:
    """The inventory of the session's loaded sources (each with `path`, `ok`, `text`)."""
    return inventory((s.path, s.text) for s in sources if getattr(s, "ok", False) and getattr(s, "text", None))


# ------------------------------------------------------------------------------------ shell and make

_DOCKER_CMD = re.compile(r"(?<![\w./-])(docker(\s+compose)?|docker-compose|podman(-compose)?)\s+[-\w$]")


def runs_docker(text: str | None) -> bool:
    """The shell text runs docker, docker compose or docker-compose as a command (comments and echoes aside)."""
    return any(_DOCKER_CMD.search(l) for l in _code_lines(text or ""))


_TEST_RUN = re.compile(r"\bdotnet\s+test\b|\bpytest\b|\bpython\d?\s+-m\s+(pytest|unittest)\b|\b(npm|pnpm|yarn|bun)\s+"
                       r"(run\s+)?test\b|\bnpx\s+(vitest|jest)\b|\bvitest\b|\bjest\b|\bgo\s+test\b|\bmake\s+test\b"
                       r"|\bcargo\s+test\b|\bmvn\s+(-\S+\s+)*(test|verify)\b|\bgradlew?\s+test\b"
                       # a test image built and run, a test build target, a step named for tests
                       r"|Dockerfile\.tests?\b|\btarget:\s*tests?\b|\bdocker\s+run\b[^\n]*-tests?\b"
                       r"|\bname:[^\n]*\b[Tt]ests?\b")


def runs_tests(text: str | None) -> bool:
    """The text runs a test suite (pytest, dotnet test, npm test, vitest, go test...)."""
    return bool(_TEST_RUN.search(text or ""))


def test_commands(text: str | None) -> int:
    """How many test-suite runs the text holds (comments aside)."""
    return sum(len(_TEST_RUN.findall(l)) for l in _code_lines(text or ""))


@dataclass
class MakeTarget:
    name: str
    first: int  # 1-based line of `name:`
    last: int  # last recipe line
    recipe: list[str]


# The name ends on a non-space (not a lazy `*?` before `\s*`, quadratic on a long run of spaces).
_MAKE_RULE = re.compile(r"^([A-Za-z0-9_.%/$(){}-](?:[A-Za-z0-9_.%/ $(){}-]*[A-Za-z0-9_.%/$(){}-])?)\s*::?(?!=)(.*)$")
_MAKE_VAR = re.compile(r"^\s*(?:export\s+|override\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(?:\?|:|::|\+|!)?=\s*(.*)$")


def makefile_targets(text: str | None) -> list[MakeTarget]:
    lines = (text or "").split("\n")
    out: list[MakeTarget] = []
    current: MakeTarget | None = None
    for number, line in enumerate(lines, 1):
        if line.startswith("\t"):
            if current is not None:
                current.recipe.append(line)
                current.last = number
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _MAKE_RULE.match(line)
        if m and not _MAKE_VAR.match(line):
            current = MakeTarget(m.group(1).strip(), number, number, [])
            out.append(current)
        else:
            current = None
    return out


def makefile_variables(text: str | None) -> dict[str, str]:
    out = {}
    for line in (text or "").split("\n"):
        m = _MAKE_VAR.match(line)
        if m and not line.startswith("\t"):
            out[m.group(1)] = m.group(2)
    return out


def make_target_ok(target: MakeTarget, variables: dict[str, str]) -> bool:
    """A Makefile target is infra when its recipe calls docker/compose (directly or through a variable) or
    runs the test suite (which POL010 then guards); a target with no recipe (aliases, `.PHONY`) is too."""
    if target.name.startswith("."):
        return True
    recipe = "\n".join(l.lstrip("\t@-+ ") for l in target.recipe)
    if not recipe.strip():
        return True
    expanded = re.sub(r"\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]", lambda m: variables.get(m.group(1), m.group(0)), recipe)
    if runs_docker(expanded):
        return True
    lines = [l for l in _code_lines(expanded) if l.strip()]
    return bool(lines) and all(runs_tests(l) or re.match(r"^\s*(cd|set|export)\b", l) for l in lines)


def makefile_is_infra(text: str | None) -> bool:
    variables = makefile_variables(text)
    return any(runs_docker("\n".join(t.recipe)) or make_target_ok(t, variables) and t.recipe
               for t in makefile_targets(text))


# ------------------------------------------------------------------------------------ nginx

_NGINX_NAME = re.compile(r"(\.conf|\.conf\.template|\.nginx)$|^nginx")


def is_nginx_text(text: str | None) -> bool:
    """The text parses as nginx configuration (crossplane, strict directives, any context) with at least one
    directive."""
    if not text or not text.strip() or len(text) > 2_000_000:
        return False
    import crossplane

    fd, tmp = tempfile.mkstemp(suffix=".conf")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            payload = crossplane.parse(tmp, single=True, strict=True, check_ctx=False, check_args=False,
                                       comments=False, catch_errors=True)
        except Exception:  # crossplane raises on inputs its lexer cannot read
            return False
        if payload.get("status") != "ok" or not payload.get("config"):
            return False
        return bool(payload["config"][0].get("parsed"))
    finally:
        os.unlink(tmp)


# ------------------------------------------------------------------------------------ what a file is

_WORKFLOW = re.compile(r"(^|/)\.github/workflows/[^/]+\.ya?ml$")
_ACTION = re.compile(r"(^|/)\.github/actions/(.+/)?action\.ya?ml$")
_COMPOSE = re.compile(r"^(docker-)?compose([._-][^/]*)?\.ya?ml$", re.I)
_MAKEFILE = re.compile(r"^(GNUmakefile|[Mm]akefile|.+\.mk)$")
_DEPLOY_DOC = re.compile(r"deploi|deploy|runbook|rollback|mise-en-prod|production|release|exploitation|operations")
_ENV_EXAMPLE = re.compile(r"^\.env(\.[\w-]+)?\.example$")
SIGNERS_FILE = ".allowed_signers"
# Kinds decided by name alone; the others need the file's text.
NAME_KINDS = ("compose", "dockerfile", "dockerignore", "ci", "env_example", "docs", "signers")


def is_compose_path(path: str) -> bool:
    return bool(_COMPOSE.match(posixpath.basename(path)))


def is_dockerfile_path(path: str) -> bool:
    name = posixpath.basename(path)
    return (name.startswith(("Dockerfile", "Containerfile")) or name.endswith((".Dockerfile", ".dockerfile"))
            or name.lower() == "dockerfile") and not name.endswith(".dockerignore")


def is_workflow_path(path: str) -> bool:
    return bool(_WORKFLOW.search(path) or _ACTION.search(path))


def is_makefile_path(path: str) -> bool:
    return bool(_MAKEFILE.match(posixpath.basename(path)))


def is_shell_path(path: str) -> bool:
    return posixpath.basename(path).endswith((".sh", ".bash"))


def is_doc_path(path: str) -> bool:
    name = posixpath.basename(path)
    if not name.lower().endswith(".md"):
        return False
    return "docs" in path.split("/")[:-1] or name == "README.md" or bool(_DEPLOY_DOC.search(fold(name)))


def is_deploy_doc_path(path: str) -> bool:
    name = posixpath.basename(path)
    return name.lower().endswith(".md") and bool(_DEPLOY_DOC.search(fold(name)))


def is_real_env_file(path: str) -> bool:
    """A real env file (`.env`, `.env.prod`, `prod.env`): it holds secrets, unlike `.env.example`."""
    name = posixpath.basename(path)
    if name.endswith((".example", ".sample", ".template", ".dist")):
        return False
    return bool(re.match(r"^\.env(\..+)?$", name) or re.match(r"^[\w.-]+\.env$", name))


def is_git_file(path: str) -> bool:
    """git's own configuration files in a tree: `.gitattributes` (filters), `.gitmodules` (URLs), `.gitignore`..."""
    name = posixpath.basename(path)
    return name.startswith(".git") and name != ".github"


def infra_kind(path: str, text: str | None) -> str | None:
    """What kind of infrastructure file `path` is, by what it is (its name and, where needed, its text), or None
    for application code and data. Kinds that need the text (nginx, makefile, deploy_script) are None without it."""
    name = posixpath.basename(path)
    if path == SIGNERS_FILE:
        return "signers"
    if is_compose_path(path):
        return "compose"
    if is_dockerfile_path(path):
        return "dockerfile"
    if name == ".dockerignore" or name.endswith(".dockerignore"):
        return "dockerignore"
    if is_workflow_path(path):
        return "ci"
    if _ENV_EXAMPLE.match(name):
        return "env_example"
    if is_doc_path(path):
        return "docs"
    if is_makefile_path(path):
        return "makefile" if text is not None and makefile_is_infra(text) else None
    if is_shell_path(path):
        if re.search(r"entrypoint|^healthcheck", name):
            return "deploy_script"
        return "deploy_script" if runs_docker(text) else None
    if _NGINX_NAME.search(name) and is_nginx_text(text):
        return "nginx"
    return None


def is_infra_path(path: str, text: str | None = None) -> bool:
    """`infra_kind(path, text) is not None`. Pass the committed text: Makefiles, shell scripts and nginx configs
    are infrastructure only by their content."""
    return infra_kind(path, text) is not None


def needs_text(path: str) -> bool:
    """Whether `infra_kind` of this path depends on the file's text (so a caller knows to read it)."""
    return infra_kind(path, None) is None and (is_makefile_path(path) or is_shell_path(path)
                                                or bool(_NGINX_NAME.search(posixpath.basename(path))))


def split_shell(command: str) -> list[list[str]]:
    """A shell text as simple commands (split on newlines, `&&`, `||`, `;`, `|`), each as words."""
    out = []
    for segment in re.split(r"\n|&&|\|\||;|\|", command.replace("\\\n", " ")):
        segment = segment.strip()
        if not segment:
            continue
        try:
            words = shlex.split(segment, comments=True)
        except ValueError:
            words = segment.split()
        if words:
            out.append(words)
    return out


# ------------------------------------------------------------------------------------ secrets
# One definition of a secret (names, values, shapes, command lines): tools/facts/secrets.py.
from tools.facts.secrets import (  # noqa: E402,F401
    command_line_secret, is_placeholder, is_reference, is_secret_name, is_secret_reference, replace_secrets,
    secret_severity, secret_spans, secret_value_kind,
)
