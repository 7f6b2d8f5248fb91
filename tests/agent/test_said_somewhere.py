"""Issue 20, cause 8: what could not be read is said, never dropped in silence (through the real CLI and
the model's tool, on tiny git repositories)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from test_views_said import WORKFLOW, cli, make_repo  # noqa: E402

BROKEN = "name: deploy\non: [push\njobs:\n  deploy: {\n"


def test_ci_names_a_workflow_it_cannot_parse_and_exits_3(tmp_path):
    root = make_repo(tmp_path / "platform", {".github/workflows/build.yml": WORKFLOW,
                                             ".github/workflows/deploy.yml": BROKEN,
                                             "docker-compose.yml": "services:\n  web:\n    image: nginx:1.27.3\n"})
    r = cli(root, "ci")
    assert r.returncode == 3, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("not every workflow read: .github/workflows/deploy.yml: YAML syntax error at line 3"), first
    r = cli(root, "ci", "--format", "json")
    assert r.returncode == 3
    by_path = {w["path"]: w for w in json.loads(r.stdout)}
    assert by_path[".github/workflows/deploy.yml"]["status"] == "parse-error"
    assert by_path[".github/workflows/build.yml"]["ok"] is True

    from agent.toolbox import Toolbox, run_tool

    out = run_tool(Toolbox(root), lambda text: text, "ci_view", {})
    assert out.ok
    result = json.loads(out.text)
    assert [w["path"] for w in result["workflows"]] == [".github/workflows/build.yml"]
    [unread] = result["not_read"]
    assert unread["path"] == ".github/workflows/deploy.yml" and unread["status"] == "parse-error"
    assert unread["message"].startswith("YAML syntax error at line 3")


def test_a_bare_repository_says_so_and_exits_2(tmp_path):
    import subprocess

    from test_views_said import GIT, ROOT

    source = make_repo(tmp_path / "platform", {"docker-compose.yml": "services:\n  web:\n    image: nginx:1.27.3\n"})
    bare = tmp_path / "platform.git"
    subprocess.run(GIT + ["clone", "-q", "--bare", str(source), str(bare)], check=True)
    r = cli(bare, "review")
    assert r.returncode == 2, r.stdout
    assert r.stderr == (f"devops-agent: {bare.resolve()} is a bare repository: review a checkout (git clone / git "
                        "worktree add) — then pass --repo with the checkout's folder\n")
    inside = subprocess.run([sys.executable, "-m", "agent.cli", "review"], capture_output=True, text=True,
                            cwd=bare, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert inside.returncode == 2 and "is a bare repository: review a checkout" in inside.stderr, inside.stderr


def test_an_nginx_file_symlinked_out_of_the_repository_is_listed_as_refused(tmp_path):
    outside = tmp_path / "elsewhere.conf"
    outside.write_text("server {\n  listen 80;\n  location / { proxy_pass http://api:8080; }\n}\n")
    root = make_repo(tmp_path / "platform", {
        "docker-compose.yml": "services:\n  proxy:\n    image: nginx:1.27.3\n    volumes:\n"
                              "      - ./nginx/nginx.conf:/etc/nginx/nginx.conf:ro\n"
                              "  web:\n    build: ./web\n  api:\n    image: ghcr.io/acme/api:1.0.0\n",
        "web/Dockerfile": "FROM nginx:1.27.3\nCOPY default.conf /etc/nginx/conf.d/default.conf\n"})
    (root / "nginx").mkdir()
    (root / "nginx" / "nginx.conf").symlink_to(outside)
    (root / "web" / "default.conf").symlink_to(outside)
    r = cli(root, "review", "--format", "json")
    assert r.returncode in (0, 1, 3), r.stderr  # 3: CANNOT-TELL when hadolint is not installed here
    nginx = {s["path"]: s for s in json.loads(r.stdout)["sources"] if s["kind"] == "nginx"}
    assert sorted(nginx) == ["nginx/nginx.conf", "web/default.conf"]
    for path, src in nginx.items():
        assert src["status"] == "unreadable"
        assert src["message"] == f"refused: {path} resolves outside the repository (symlink to {outside})"


def test_a_gitmodules_git_cannot_parse_is_a_note_naming_the_file_and_gits_message(tmp_path):
    root = make_repo(tmp_path / "platform", {
        "docker-compose.yml": "services:\n  api:\n    image: ghcr.io/acme/api:1.0.0\n",
        ".gitmodules": '[submodule "api"]\n\tpath = api\n\turl = https://example.com/api.git\n'
                       '[submodule "web\n\tpath = web\n'})
    r = cli(root, "review", "--format", "json")
    assert r.returncode in (0, 1, 3), r.stderr
    assert json.loads(r.stdout)["notes"] == [
        ".gitmodules cannot be parsed by git (fatal: bad config line 4 in file .gitmodules): its submodules are "
        "not listed, read or reviewed; fix the file (`git config -f .gitmodules --list` shows the error)"]
    assert "note .gitmodules cannot be parsed by git (fatal: bad config line 4" in cli(root, "review").stdout
