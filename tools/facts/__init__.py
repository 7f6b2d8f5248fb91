"""The vocabulary the checks and the change policy share: one fact, one function, word lists once.

What a file IS (`infra_kind`), what names a staging environment (`is_staging_name`), which tools and images a
file introduces (`tools_in`, `images_in`), what the platform already runs (`Inventory`), whether a shell text
runs docker (`runs_docker`), what a real env file is (`is_real_env_file`), and whether a sentence asks for
something rather than denying it (`mentions`). Everything here reads text it is given; nothing opens a file.

Infrastructure, by what a file is (never by the folder it sits in: a `.py`, `.ts` or `.cs` under `deploy/` or
`scripts/` is application code):
- `compose`: `docker-compose*.y(a)ml`, `compose*.y(a)ml`;
- `dockerfile`: `Dockerfile*`, `*.Dockerfile`, `*.Dockerfile.*`, `Containerfile*` (any case); `dockerignore`:
  `.dockerignore`, `*.dockerignore`;
- `ci`: `.github/workflows/*.y(a)ml` and composite actions `action.y(a)ml`, in `.github/actions/` or anywhere;
- `nginx`: a `*.conf` / `*.conf.template` / `nginx*` file, or any file in a `nginx/`, `conf.d/`,
  `sites-available/`, `sites-enabled/` or `snippets/` folder, whose text parses as nginx (crossplane, strict: every
  directive is one nginx knows; snippets of `conf.d` parse too, an INI `logging.conf` does not);
- `env_example`: `.env.example`, `.env.<name>.example`; `env`: a real env file (`.env`, `.env.prod`, `prod.env`);
- `bake`: `docker-bake*.hcl` / `.json`; `kubernetes`: `kustomization`, `Chart`, `skaffold`, `helmfile` YAML, or a
  YAML/JSON file declaring `apiVersion` + `kind`;
- `makefile`: `Makefile`/`makefile`/`GNUmakefile`/`*.mk` with at least one target that calls docker or
  docker compose (directly or through a variable such as `COMPOSE = docker compose`); the policy further
  requires every target a change touches to call docker/compose or to run the test suite (`make_target_ok`);
- `deploy_script`: a `*.sh`/`*.bash` file (or a file without extension starting with a shell `#!`) whose text
  runs docker, docker compose or docker-compose as a command (not in a comment or an echo), or named for a
  container entrypoint/healthcheck or for deploy/rollback/release (`*entrypoint*`, `healthcheck*`, `deploy*`);
  a shell script that does neither is application tooling;
- `docs`: deploy notes and documentation, `*.md` under `docs/`, `README.md`, or a markdown file named for
  deployment, runbook, rollback or production;
- `signers`: `.allowed_signers` at the platform root, Product's signer list (git's allowedSignersFile format);
- `suppressions`: what decides which findings a review accepts: hadolint's config (`.hadolint.yaml`,
  `.hadolint.yml`) and a review baseline (`*devops-agent-baseline.json`); `.devops-agent.yaml` (its `ignore:`)
  is a gate input of its own (agent/gate/verify.py), inline `# devops-agent: ignore[ID]` comments sit in files
  that are infrastructure already.
A text file larger than `MAX_CLASSIFIED` (256 KiB) is not classified by its text: `verify` counts it as infra.
Infrastructure is also what the deploy uses (`deploy_paths`, tools/facts/deploy_paths.py): a mounted file, a
compose file pulled in by `include:`, a script a Makefile recipe or a workflow step runs, whatever its name.
"""
# One module per part: staging, documents, shell, paths, images, tooling; this package re-exports their
# public names (and the secrets' ones from tools/facts/secrets.py).
from __future__ import annotations

from tools.facts.staging import is_staging_name, mentions, NEGATION, staging_word, STAGING_WORDS
from tools.facts.documents import yaml_documents
from tools.facts.shell import make_target_ok, makefile_is_infra, makefile_targets, makefile_variables, MakeTarget, runs_docker, runs_tests, split_shell, test_commands
from tools.facts.paths import infra_kind, is_compose_path, is_deploy_doc_path, is_doc_path, is_dockerfile_path, is_git_file, is_infra_path, is_makefile_path, is_nginx_text, is_real_env_file, is_shell_path, is_workflow_path, MAX_CLASSIFIED, NAME_KINDS, needs_text, SIGNERS_FILE
from tools.facts.deploy_paths import deploy_paths, DeployPaths, is_deploy_root
from tools.facts.images import image_key, image_short_name, images_in
from tools.facts.tooling import Inventory, inventory, inventory_from_sources, kubernetes_kinds, OBSERVABILITY_WORDS, terraform_block, Tool, tool_of_image, tool_words, TOOLS, tools_in

__all__ = [
    "deploy_paths",
    "DeployPaths",
    "is_deploy_root",
    "MAX_CLASSIFIED",
    "image_key",
    "image_short_name",
    "images_in",
    "infra_kind",
    "Inventory",
    "inventory",
    "inventory_from_sources",
    "is_compose_path",
    "is_deploy_doc_path",
    "is_doc_path",
    "is_dockerfile_path",
    "is_git_file",
    "is_infra_path",
    "is_makefile_path",
    "is_nginx_text",
    "is_real_env_file",
    "is_shell_path",
    "is_staging_name",
    "is_workflow_path",
    "kubernetes_kinds",
    "make_target_ok",
    "makefile_is_infra",
    "makefile_targets",
    "makefile_variables",
    "MakeTarget",
    "mentions",
    "NAME_KINDS",
    "needs_text",
    "NEGATION",
    "OBSERVABILITY_WORDS",
    "runs_docker",
    "runs_tests",
    "SIGNERS_FILE",
    "split_shell",
    "staging_word",
    "STAGING_WORDS",
    "terraform_block",
    "test_commands",
    "Tool",
    "tool_of_image",
    "tool_words",
    "TOOLS",
    "tools_in",
    "yaml_documents",
]

# One definition of a secret (names, values, shapes, command lines): tools/facts/secrets.py.
from tools.facts.secrets import (  # noqa: E402
    command_line_secret, is_placeholder, is_reference, is_secret_name, is_secret_reference, replace_secrets,
    secret_severity, secret_spans, secret_value_kind,
)

__all__ += [
    "command_line_secret", "is_placeholder", "is_reference", "is_secret_name", "is_secret_reference",
    "replace_secrets", "secret_severity", "secret_spans", "secret_value_kind",
]
