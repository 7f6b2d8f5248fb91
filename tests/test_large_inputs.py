"""Inputs under the caps that used to make `review` slow or blame the wrong thing (issue 20, 7)."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

from tests.test_charter_reads import _repo

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = "services:\n  web:\n    image: nginx:1.25\n    environment:\n      LEVEL: ${LOG_LEVEL:-info}\n"


def test_dotenv_over_the_cap_names_the_file_and_its_size_not_the_compose_install(tmp_path: Path) -> None:
    dotenv = "LOG_LEVEL=debug\n" + "# generated\n" * 500
    repo = _repo(tmp_path, {"docker-compose.yml": COMPOSE, ".env": dotenv,
                            ".devops-agent.yaml": "max_file_bytes: 4000\n"})
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "review", "--repo", str(repo), "--format", "json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode in (1, 3), proc.stderr
    titles = [f["title"] for f in json.loads(proc.stdout)["findings"]]
    said = [t for t in titles if ".env is" in t]
    assert said and f".env is {len(dotenv):,} bytes, over the 4,000-byte cap" in said[0], titles
    assert not any("install Compose" in t or "did not finish" in t for t in titles), titles


# -- growth: 10x the input costs about 10x this process's time (Compose, a child process, is not counted) ------

CHARTER_RULES = """# Agent: DevOps Engineer (Acme)

## Sources de vérité (à charger)
- Regles: `/Users/ops/.windsurf/global_rules.md` (section: Containerisation).
- Docker Compose: les fichiers compose du dépôt (compose*.yaml, docker-compose*.yml).
{listed}
## Priorité des sources (en cas de conflit)
En cas d'information contradictoire entre plusieurs sources, la priorite est la suivante :

1. Règles (fichier de règles lié)
2. Fichiers du repo (docker-compose*, Dockerfiles, workflows CI)
"""
RULES = """# Rules

## Containerisation
- Never `latest` in production: every image is pinned to a version.
- Every service has a restart policy.
- web listens on port 8080, api on port 9000, worker port 7000.
"""
SLACK = 2.5  # linear is at most 10x (less: the fixed cost); quadratic would be 100x


def _platform(tmp_path: Path, services: int = 1, listed: int = 0, rules: str = RULES) -> Path:
    compose = "services:\n" + "".join(f"  svc{i}:\n    image: nginx:1.25\n    ports: ['{8000 + i}:80']\n"
                                      for i in range(services))
    tmp_path.mkdir(parents=True, exist_ok=True)
    charter = CHARTER_RULES.format(listed="".join(f"- page {i} : `docs/page-{i}.md`\n" for i in range(listed)))
    return _repo(tmp_path, {".codex/agents/devops-engineer.md": charter, ".devops-agent.yaml": "rules_file: docs/rules.md\n",
                            "docs/rules.md": rules, "docker-compose.prod.yml": compose})


def _review_cpu(repo: Path, monkeypatch) -> tuple[float, str]:
    """This process's CPU for a review session and its text (a pipe), and that text."""
    import io

    from rich.console import Console

    from agent import render
    from agent.session import open_session

    out = io.StringIO()
    monkeypatch.setattr(render, "console", lambda: Console(file=out, width=render.PIPE_WIDTH, highlight=False,
                                                           soft_wrap=True))
    start = time.process_time()
    render.print_review(open_session(repo, signatures=False))
    return time.process_time() - start, out.getvalue()


def test_ten_times_the_services_cost_about_ten_times_the_review(tmp_path: Path, monkeypatch) -> None:
    """10,000 services cost 22x a normal review (issue 20, 7): a finding per service, each printed line by line."""
    small, large = _platform(tmp_path / "s", 150), _platform(tmp_path / "l", 1500)
    _review_cpu(small, monkeypatch)  # imports and Compose's cache are not the input's cost
    _review_cpu(large, monkeypatch)
    t_small, text = _review_cpu(small, monkeypatch)
    t_large, text_large = _review_cpu(large, monkeypatch)
    assert "prod: svc149 runs nginx:1.25" in text and "prod: svc1499 runs nginx:1.25" in text_large
    assert t_large <= 10 * SLACK * t_small, f"150 services {t_small:.2f} s, 1,500 {t_large:.2f} s"


def test_ten_times_the_charter_paths_cost_about_ten_times_the_review(tmp_path: Path, monkeypatch) -> None:
    """A charter listing 2,000 paths cost 8x a normal review (issue 20, 7): each path is a source, a table row,
    a finding and a line of what could not be checked."""
    small, large = _platform(tmp_path / "s", listed=200), _platform(tmp_path / "l", listed=2000)
    _review_cpu(small, monkeypatch)
    t_small, text = _review_cpu(small, monkeypatch)
    t_large, text_large = _review_cpu(large, monkeypatch)
    assert "docs/page-199.md does not exist" in text and "docs/page-1999.md does not exist" in text_large
    assert t_large <= 10 * SLACK * t_small, f"200 paths {t_small:.2f} s, 2,000 {t_large:.2f} s"


def test_each_claim_of_the_sources_is_checked_against_the_repo_once(tmp_path: Path, monkeypatch) -> None:
    """XF011 compared every statement with every service: a rules file of many lines times 10,000 services.
    Each claim's violations are computed once; a port statement looks its words up in an index."""
    from agent.session import open_session
    from sources import loader
    from tools.checks import conflicts

    lines = "".join(f"- Every service has a restart policy (note {i}); web listens on port {8000 + i}.\n"
                    for i in range(40))
    repo = _platform(tmp_path, 30, rules=RULES + lines)
    calls: dict[str, int] = {}

    def counted(claim):
        def violations(ctx):
            calls[claim.key] = calls.get(claim.key, 0) + 1
            return claim.violations(ctx)
        return dataclasses.replace(claim, violations=violations)

    monkeypatch.setattr(conflicts, "CLAIMS", [counted(c) for c in conflicts.CLAIMS])
    tried = []
    real = loader.matches_service
    monkeypatch.setattr(loader, "matches_service", lambda *a: (tried.append(a), real(*a))[1])
    session = open_session(repo, signatures=False)
    [finding] = [f for f in session.findings if f.id == "XF011" and "restart policy" in f.title]
    assert "svc0 has no restart policy" in (finding.detail or "")
    assert calls and max(calls.values()) == 1, calls
    assert not tried  # the index answers: no service tried word by word


# -- Compose's own time: bounded, said as such, never blamed on the install -------------------------------------

def _slow_compose(tmp_path: Path) -> Path:
    """A Compose that answers `version` and takes 30 s over `config`, as the real one does on files large enough."""
    script = tmp_path / "bin" / "docker-compose"
    script.parent.mkdir(parents=True)
    script.write_text('#!/bin/sh\nif [ "$1" = version ]; then echo 2.99.0; exit 0; fi\nsleep 30\n')
    script.chmod(0o755)
    return script


def test_compose_out_of_time_is_cannot_tell_and_names_the_wait_not_the_install(tmp_path: Path) -> None:
    import os

    repo = _repo(tmp_path, {"docker-compose.yml": COMPOSE})
    env = {**os.environ, "DEVOPS_AGENT_COMPOSE": str(_slow_compose(tmp_path)), "DEVOPS_AGENT_COMPOSE_TIMEOUT": "1.5"}
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "review", "--repo", str(repo), "--format", "json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    brief = json.loads(proc.stdout)
    assert proc.returncode == 3 and brief["verdict"] == "CANNOT-TELL", proc.stderr
    [gap] = brief["not_run"]
    assert "did not finish in 1.5 s" in gap["reason"] and "DEVOPS_AGENT_COMPOSE_TIMEOUT sets the wait" in gap["reason"]
    [finding] = [f for f in brief["findings"] if f["id"] == "CMP017"]
    assert "DEVOPS_AGENT_COMPOSE_TIMEOUT=120" in finding["remediation"]
    assert "install" not in finding["remediation"].lower(), finding["remediation"]


def test_a_compose_wait_that_is_not_seconds_is_one_line_and_exit_2(tmp_path: Path) -> None:
    import os

    repo = _repo(tmp_path, {"docker-compose.yml": COMPOSE})
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "review", "--repo", str(repo)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DEVOPS_AGENT_COMPOSE_TIMEOUT": "soon"})
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout[-500:]
    assert proc.stderr.strip().splitlines() == [
        "devops-agent: DEVOPS_AGENT_COMPOSE_TIMEOUT='soon' is not a number of seconds — e.g. DEVOPS_AGENT_COMPOSE_TIMEOUT=120"]


def test_which_proxy_routes_to_which_service_is_linear_in_the_services() -> None:
    """Every service of 10,000 running nginx is a proxy: each proxy compared itself with every service (3.8 s of
    a 6 s review). Now each proxy claims only the hosts it names, and Traefik's labels are read once."""
    from tools.facts.proxies import routed_services

    def services(n: int) -> dict[str, dict]:
        return {f"svc{i}": {"image": "nginx:1.25"} for i in range(n)}

    def cpu(n: int) -> float:
        start = time.process_time()
        for _ in range(3):
            assert routed_services(services(n), lambda source: None) == {}
        return time.process_time() - start

    cpu(1000)
    small, large = cpu(1000), cpu(10_000)
    assert large <= 10 * SLACK * max(small, 0.002), f"1,000 proxies {small:.3f} s, 10,000 {large:.3f} s"


def test_the_first_proxy_in_the_file_claims_a_service_routed_by_several() -> None:
    from tools.facts.proxies import routed_services

    conf = {"edge.conf": "location / { proxy_pass http://api:8080; }", "side.conf": "upstream u { server api:8080; }"}
    svc = {
        "edge": {"image": "nginx:1.25", "volumes": [{"type": "bind", "source": "edge.conf"}]},
        "lb": {"image": "traefik:v3.1", "labels": {"traefik.enable": "true"}},  # routed by the second Traefik
        "api": {"image": "acme/api:1.2", "labels": ["traefik.http.routers.api.rule=Host(`a.io`)"]},
        "side": {"image": "nginx:1.25", "volumes": [{"type": "bind", "source": "side.conf"}]},
        "off": {"image": "acme/off:1", "labels": {"traefik.enable": "false", "traefik.http.routers.x.rule": "y"}},
        "lb2": {"image": "traefik:v3.1"},
    }
    assert routed_services(svc, conf.get) == {"lb": "lb2", "api": "edge"}
    del svc["edge"]
    assert routed_services(svc, conf.get) == {"lb": "lb2", "api": "lb"}
