"""Tools a file introduces (Kubernetes, Terraform, Vault, observability...) by its YAML, HCL, commands and images; what the platform already runs."""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Iterable

from tools.facts.documents import yaml_documents
from tools.facts.images import image_key, images_in
from tools.facts.shell import code_lines

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


_TF_BLOCK = re.compile(r'^[ \t]*(terraform|provider|resource)\b\s*(?:"[^"\n]*"\s*)*\{', re.M)
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


_VAULT_HCL = re.compile(r'^[ \t]*(storage|listener|seal|auto_auth|vault|ui\s*=|api_addr\s*=|path\s+"[^"]*"\s*\{)', re.M)
_NOMAD_HCL = re.compile(r'^[ \t]*job\s+"[^"]+"\s*\{', re.M)


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
        for line in code_lines(text):
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
