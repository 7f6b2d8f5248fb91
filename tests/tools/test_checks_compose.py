"""Compose and cross-file checks: a clean platform raises nothing; each planted defect raises its check."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from agent.example import init_example
from agent.session import open_session

CLEAN = Path(__file__).resolve().parent.parent / "fixtures" / "checks" / "clean-platform"
MINE = re.compile(r"^(CMP|XF)\d+$")


def ids(session) -> list[str]:
    return [f.id for f in session.findings if MINE.match(f.id)]


def at(session, check_id: str) -> set[tuple[str, int | None]]:
    return {(loc.path, loc.line) for f in session.findings if f.id == check_id for loc in f.locations}


@pytest.fixture
def clean(tmp_path) -> Path:
    dst = tmp_path / "platform"
    shutil.copytree(CLEAN, dst)
    return dst


def test_clean_platform_has_no_compose_or_cross_file_finding(clean):
    s = open_session(clean)
    assert ids(s) == [], [f.title for f in s.findings]
    assert s.notes == []
    assert s.verdict == "GO"


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1))


MUTATIONS = [
    # (check, file, old, new)
    ("CMP003", "docker-compose.prod.yml", "ghcr.io/acme/proxy:main-${IMAGE_TAG_PROXY}", "ghcr.io/acme/proxy:latest"),
    ("CMP004", "docker-compose.prod.yml", "image: mysql:8.0", "image: MySQL:8.0"),
    ("CMP005", "docker-compose.prod.yml", "      web:\n        condition", "      cache:\n        condition"),
    ("CMP006", "docker-compose.prod.yml", "      db:\n        condition: service_healthy", "      db:\n        condition: service_started"),
    ("CMP007", "docker-compose.yml", "    volumes:\n      - dbdata", "    ports:\n      - \"3306:3306\"\n    volumes:\n      - dbdata"),
    ("CMP008", "docker-compose.yml", "MYSQL_PASSWORD: ${DB_PASSWORD}", "MYSQL_PASSWORD: hunter2"),
    ("CMP009", "docker-compose.prod.yml", '"ping", "-h", "localhost"]', '"ping", "-h", "localhost", "-p${DB_PASSWORD}"]'),
    ("CMP010", "docker-compose.prod.yml", "--port 8000\n    expose", "--port 8000 --reload\n    expose"),
    ("CMP011", "docker-compose.prod.yml", "    image: mysql:8.0\n    restart: unless-stopped\n", "    image: mysql:8.0\n"),
    ("CMP012", "docker-compose.prod.yml", '    healthcheck:\n      test: ["CMD", "wget", "-qO-", "http://localhost/"]\n', ""),
    ("CMP013", "docker-compose.yml", "  db:\n    image: mysql:8.0\n", "  db:\n    image: mysql:8.0\n    container_name: app\n"),
    ("CMP014", "docker-compose.yml", "volumes:\n  dbdata:\n", "volumes:\n  dbdata:\n  cache:\n"),
    ("CMP015", "docker-compose.yml", "    expose: [\"8000\"]\n", "    expose: [\"8000\"]\n    env_file: ./web/.env\n"),
    ("CMP016", "docker-compose.yml", "MYSQL_PASSWORD: ${DB_PASSWORD}", "MYSQL_PASSWORD: ${UNDOCUMENTED_SECRET}"),
    ("XF001", "docker-compose.prod.yml", "ghcr.io/acme/web:main-${IMAGE_TAG_WEB}", "ghcr.io/acme/platform/web:main-${IMAGE_TAG_WEB}"),
    ("XF002", "docker-compose.prod.yml", "ghcr.io/acme/web:main-${IMAGE_TAG_WEB}", "ghcr.io/acme/web:v${IMAGE_TAG_WEB}"),
    ("XF003", "docker-compose.yml", "build: ./web", "build: ./webapp"),
    ("XF004", "web/Dockerfile", "EXPOSE 8000", "EXPOSE 5000"),
    ("XF005", "docker-compose.yml", 'expose: ["8000"]', 'expose: ["5000"]'),
    ("XF006", "proxy/nginx.conf", "proxy_pass http://web:8000/;", "proxy_pass http://api:8000/;"),
    ("XF007", "docker-compose.yml", "@db:3306/app", "@database:3306/app"),
    ("XF008", "docker-compose.prod.yml", '["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen(\'http://localhost:8000/health\')"]',
     '["CMD", "curl", "-f", "http://localhost:8000/health"]'),
    ("XF009", "docker-compose.prod.yml", "    volumes:\n      - ./certs:/etc/letsencrypt:ro\n", ""),
]


@pytest.mark.parametrize("check_id, rel, old, new", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_each_defect_raises_its_check(clean, check_id, rel, old, new):
    edit(clean, rel, old, new)
    if check_id == "CMP013":  # a second service with the same container_name
        edit(clean, "docker-compose.yml", "    build: ./web\n", "    build: ./web\n    container_name: app\n")
    s = open_session(clean)
    assert check_id in ids(s), [(f.id, f.title) for f in s.findings]
    finding = next(f for f in s.findings if f.id == check_id)
    assert finding.clause and finding.remediation and finding.locations


def test_secret_values_never_reach_the_output(clean):
    edit(clean, "docker-compose.yml", "MYSQL_PASSWORD: ${DB_PASSWORD}", "MYSQL_PASSWORD: hunter2")
    s = open_session(clean)
    assert "hunter2" not in repr([f.to_dict() for f in s.findings])


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    return init_example(tmp_path_factory.mktemp("ex") / "animesphere")


@pytest.fixture(scope="module")
def example_session(example):
    return open_session(example)


EXPECTED_ON_EXAMPLE = {
    ("CMP003", "docker-compose.prod.yml", 5),
    ("XF001", "docker-compose.prod.yml", 5),
    ("XF001", "docker-compose.prod.yml", 103),
    ("CMP007", "docker-compose.yml", 90),
    ("CMP009", "docker-compose.prod.yml", 125),
    ("XF008", "docker-compose.yml", 31),
    ("XF004", "anime-saas-mlservice/Dockerfile", 10),
    ("CMP006", "docker-compose.prod.yml", 54),
    ("CMP014", "docker-compose.yml", 127),
    ("CMP008", "docker-compose.yml", 85),
    ("CMP011", "docker-compose.prod.yml", 73),
    ("CMP012", "docker-compose.prod.yml", 4),
    ("CMP012", "docker-compose.prod.yml", 73),
    ("CMP012", "docker-compose.prod.yml", 87),
    ("CMP012", "docker-compose.prod.yml", 102),
}


def test_example_defects_found_at_their_lines(example_session):
    found = {(f.id, loc.path, loc.line) for f in example_session.findings for loc in f.locations}
    assert EXPECTED_ON_EXAMPLE <= found, EXPECTED_ON_EXAMPLE - found
    assert example_session.verdict == "NO-GO"


def test_example_defects_match_the_answer_key(example_session):
    key = (Path(__file__).resolve().parents[2] / "examples/animesphere/DEFECTS.md").read_text()
    defects = key.split("## Deliberate")[0]
    for _, path, line in EXPECTED_ON_EXAMPLE:
        assert f"`{path}:{line}`" in defects


def test_conflicts_name_both_sides_and_the_winner(example_session):
    conflicts = [f for f in example_session.findings if f.id == "XF011"]
    notion = [f for f in conflicts if f.title.startswith("Notion INT-13")]
    assert notion and all(f.severity == "high" and "Notion INT-13 wins" in f.title for f in notion)
    assert any("healthcheck" in f.detail for f in notion)
    rules = [f for f in conflicts if f.title.startswith("rules file")]
    assert rules and all(f.severity == "info" and "the repo files win" in f.title for f in rules)
    # Each conflict points at the repo side and at the source that states the fact.
    assert all(any(loc.path.startswith("notion-export/") for loc in f.locations) for f in notion)


def test_real_platform_findings(real_platform_repo):
    s = open_session(real_platform_repo)
    found = {(f.id, loc.path, loc.line) for f in s.findings for loc in f.locations}
    assert ("CMP003", "docker-compose.prod.yml", 3) in found  # reverse proxy :latest
    assert ("CMP007", "docker-compose.yml", 86) in found  # 3306 published in dev
    assert ("CMP009", "docker-compose.prod.yml", 107) in found  # -p${DB_PASSWORD} on the healthcheck
    assert s.verdict == "NO-GO"


def test_deploy_time_env_files_are_info(example_session):
    absent = [f for f in example_session.findings if f.id == "CMP015"]
    assert absent and all(f.severity == "info" and "deploy-time" in f.title for f in absent)
    assert {loc.path for f in absent for loc in f.locations} == {"docker-compose.prod.yml"}


def test_dev_env_file_absent_is_medium(clean):
    edit(clean, "docker-compose.yml", "    expose: [\"8000\"]\n", "    expose: [\"8000\"]\n    env_file: ./web/.env\n")
    f = next(f for f in open_session(clean).findings if f.id == "CMP015")
    assert f.severity == "medium" and f.locations[0].path == "docker-compose.yml"


def test_conflict_on_a_port_names_both_sides(example_session):
    ports = [f for f in example_session.findings if f.id == "XF011" and f.detail.startswith("port")]
    assert ports, [f.title for f in example_session.findings if f.id == "XF011"]
    f = ports[0]
    assert "mlservice 5000" in f.title and "EXPOSE [8000]" in f.detail
    assert ("anime-saas-mlservice/Dockerfile", 10) in {(l.path, l.line) for l in f.locations}
    assert f.severity == "info" and "the repo files win" in f.title  # rules (3) lose to repo files (2)


def test_conflict_on_a_branch(clean):
    edit(clean, ".codex/agents/devops-engineer.md", "- CI/CD:", "- Regles: `rules.md` (section: Git)\n- CI/CD:")
    (clean / "rules.md").write_text("# Rules\n\n## Git\n- Tout est sur `main` dans chaque submodule.\n")
    edit(clean, "web/.github/workflows/ci.yml", "branches: [main]", "branches: [main, develop]")
    s = open_session(clean)
    branch = [f for f in s.findings if f.id == "XF011" and "branch-main" in f.detail]
    assert branch and "develop" in branch[0].detail
    assert ("web/.github/workflows/ci.yml", 4) in {(l.path, l.line) for l in branch[0].locations}
