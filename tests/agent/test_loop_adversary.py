"""The loop as an adversary sees it: secrets planted everywhere a platform keeps them must not reach the model
endpoint, and a hostile scripted model must neither land a change nor crash the turn."""
from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import fake_openai  # noqa: E402
from fake_openai import FakeOpenAI  # noqa: E402
from loop_fixtures import repo, template  # noqa: E402,F401  (fixtures)

from agent.loop import Conversation, ModelSettings  # noqa: E402
from agent.redact import Redactor, marker  # noqa: E402

PLANTED = {
    "config/*/.env": "cfgsub-plant-value-01",
    "env_file outside the env globs": "outglob-plant-value-02",
    "compose mapping, DB_PASS": "mappass-plant-value-03",
    "compose mapping, a number": "86753091",
    "compose list, SESSION_KEY": "listkey-plant-value-04",
    "CI env, workflow": "ciwf-plant-value-05",
    "CI env, job": "cijob-plant-value-06",
    "CI env, step": "cistep-plant-value-07",
    "CI with: password": "ciwith-plant-value-08",
    "Dockerfile ARG default": "dfarg-plant-value-09",
    "Dockerfile ENV": "dfenv-plant-value-10",
    "Dockerfile legacy ENV": "dfspace-plant-value-11",
    "nginx Authorization": "nginxbearer-plant-value-12",
    "PGPASSWORD in a command": "cmdpg-plant-value-13",
    "mysqladmin -p": "CmdDashP-plant-14",
    "process env DB_PASS": "procpass-plant-value-15",
    "unquoted base64": "q8ZrV2mXnL4tYw9KcB3hJd7FsP0aRuE6gNzTxQ1oMv5i",
    "unquoted hex": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "PGP private key body": "mQINBFplantPGPbodyLineXYZ",
    "a value with a quote and a backslash": 'esc\\aped"plant-16',
    "--db-password, quoted": "quotedpw-plant-value-17",
    "a DSN Password, quoted": "dsnq-plant-value-18",
}


def _plant(repo: Path) -> None:
    p = PLANTED
    (repo / "config/api").mkdir(parents=True, exist_ok=True)
    (repo / "config/api/.env").write_text(f"API_SIGNING_SECRET={p['config/*/.env']}\n")
    (repo / "secrets").mkdir()
    (repo / "secrets/agent.env").write_text(f"STRIPE_KEY={p['env_file outside the env globs']}\n")
    c = (repo / "docker-compose.yml").read_text()
    for old, new in [
        ("      MYSQL_ROOT_PASSWORD: root\n",
         f"      MYSQL_ROOT_PASSWORD: root\n      DB_PASS: {p['compose mapping, DB_PASS']}\n"
         f"      MYSQL_ADMIN_PASSWORD: {p['compose mapping, a number']}\n"
         f"      ESC_PASSWORD: '{p['a value with a quote and a backslash']}'\n"),
        ("      - ASPNETCORE_ENVIRONMENT=Development\n",
         f"      - ASPNETCORE_ENVIRONMENT=Development\n      - SESSION_KEY={p['compose list, SESSION_KEY']}\n"),
        ("      - ./anime-saas-agent/.env\n    environment:\n      - API_URL=http://anime-saas-api:8080/api\n      - OPENAI",
         "      - ./anime-saas-agent/.env\n      - ./secrets/agent.env\n    environment:\n"
         "      - API_URL=http://anime-saas-api:8080/api\n      - OPENAI"),
        ("    command: uvicorn main:app --host 0.0.0.0 --port 5000 --reload\n",
         f"    command: sh -c \"PGPASSWORD={p['PGPASSWORD in a command']} psql -h db && uvicorn main:app --reload"
         f" --db-password=\\\"{p['--db-password, quoted']}\\\"\"\n"
         f"    healthcheck:\n      test: mysqladmin ping -uroot -p{p['mysqladmin -p']}\n"),
    ]:
        assert old in c, old
        c = c.replace(old, new, 1)
    (repo / "docker-compose.yml").write_text(c)
    wf = repo / "anime-saas-api/.github/workflows/ci.yml"
    t = wf.read_text()
    for old, new in [
        ("jobs:\n  build:\n    runs-on: ubuntu-latest\n",
         f"env:\n  DEPLOY_TOKEN: {p['CI env, workflow']}\njobs:\n  build:\n    runs-on: ubuntu-latest\n"
         f"    env:\n      REGISTRY_PASSWORD: {p['CI env, job']}\n"),
        ("          password: ${{ secrets.GITHUB_TOKEN }}\n", f"          password: {p['CI with: password']}\n"),
        ("      - name: Set up Docker Buildx\n",
         f"      - name: Set up Docker Buildx\n        env:\n          SENTRY_AUTH_TOKEN: {p['CI env, step']}\n"),
    ]:
        assert old in t, old
        t = t.replace(old, new, 1)
    wf.write_text(t)
    df = repo / "anime-saas-api/Dockerfile"
    df.write_text(df.read_text().replace("WORKDIR /src\n", (
        f"WORKDIR /src\nARG NPM_TOKEN={p['Dockerfile ARG default']}\nENV API_KEY={p['Dockerfile ENV']}\n"
        f"ENV DB_PASSWORD {p['Dockerfile legacy ENV']}\nENV LICENSE_BLOB={p['unquoted base64']}\n"
        f"ENV SIGNING_HEX={p['unquoted hex']}\nENV DSN=\"Server=db;Password=\\\"{p['a DSN Password, quoted']}\\\"\"\n"),
        1))
    ng = repo / "anime-saas-reverseproxy/nginx.conf"
    ng.write_text(ng.read_text().replace(
        "    server_tokens off;\n",
        f"    server_tokens off;\n    proxy_set_header Authorization \"Bearer {p['nginx Authorization']}\";\n", 1))
    doc = repo / "docs/deploiement.md"
    doc.write_text(doc.read_text() + f"\n```\n-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{p['PGP private key body']}\n"
                                     "=abcd\n-----END PGP PRIVATE KEY BLOCK-----\n```\n")


def settings(fake: FakeOpenAI) -> ModelSettings:
    return ModelSettings(model="scripted", base_url=fake.url, api_key="dummy", timeout=30, max_retries=0)


def calls(*pairs) -> dict:
    return {"tool_calls": [{"name": n, "args": a} for n, a in pairs]}


def tool_results(body: dict) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


def head(repo: Path) -> str:
    from sources.git import run_git

    return run_git(["rev-parse", "HEAD"], repo).strip()


# ------------------------------------------------------------------ (1) secrets

def _leaks(text: str) -> list[str]:
    forms = lambda v: {v, json.dumps(v)[1:-1], json.dumps(json.dumps(v)[1:-1])[1:-1]}  # noqa: E731
    return [where for where, v in PLANTED.items() if any(f in text for f in forms(v))]


def test_secrets_planted_everywhere_never_reach_the_endpoint(repo, monkeypatch):
    from agent.session import open_session

    _plant(repo)
    monkeypatch.setenv("DB_PASS", PLANTED["process env DB_PASS"])
    paths = [s.path for s in open_session(repo, run_checks=False).sources if s.ok]
    script = [calls(("sources", {})), calls(*[("read_source", {"path": p}) for p in paths],
                                            ("read_source", {"path": "anime-saas-reverseproxy/nginx.conf"})),
              calls(("compose_view", {}), ("ci_view", {}), ("review", {}), ("release_checklist", {}),
                    ("dockerfile_diff", {"service": "anime-saas-api", "from_rev": "HEAD~1"})),
              {"content": "reviewed"}]
    with FakeOpenAI(script) as fake:
        Conversation(repo, settings(fake)).ask(f"my db pass is {PLANTED['process env DB_PASS']}")
    results = tool_results(fake.requests[-1])
    assert len(results) == 1 + len(paths) + 1 + 5 and not any(r.startswith("error") for r in results)
    assert _leaks(json.dumps(fake.requests, ensure_ascii=False)) == []
    log = sqlite3.connect(repo / ".devops-agent" / "turns.sqlite")
    assert _leaks("\n".join(r[0] for r in log.execute("SELECT content FROM turns"))) == []


def test_the_redactor_catches_shapes_and_keeps_what_is_no_secret():
    red = Redactor(['esc\\aped"v-1'])
    text = json.dumps({"text": "\n".join([
        'proxy_set_header Authorization "Bearer lowentropy-bearer";',
        "curl -H 'Authorization: Basic dXNlcjpwYXNz' http://x",
        "proxy_set_header X-Api-Key \"header-key-value\";",
        "PGPASSWORD=pg-value psql; MYSQL_PWD=my-value mysql",
        'mysqld --password="quoted-value"',
        "mysqladmin ping -uroot -pDashValue",
        "ENV BLOB=q8ZrV2mXnL4tYw9KcB3hJd7FsP0aRuE6gNzTxQ1oMv5i",
        "ENV HEX=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQdGBGPbodyOfTheKey\n-----END PGP PRIVATE KEY BLOCK-----",
        'ESC_PASSWORD: \'esc\\aped"v-1\'',
    ])})
    out = red(text)
    for leaked in ("lowentropy-bearer", "dXNlcjpwYXNz", "header-key-value", "pg-value", "my-value", "quoted-value",
                   "DashValue", "q8ZrV2mX", "9f86d0818", "lQdGBGPbody", "aped"):
        assert leaked not in out, leaked
    assert marker('esc\\aped"v-1') in out  # the same marker as the value itself, escaped or not
    kept = ("image: nginx@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
            "docker run -p8080:80 app\nURL=${DB_PASSWORD}\n"
            "https://www.notion.so/Onboarding-en-3-choix-2f3cb33dd6ca81a1b2c3d4e5f60718293\n"
            "KEYCLOAK_REALM=anime")
    assert Redactor()(kept) == kept
    red = Redactor()
    red.add_env({"DB_PASS": "dbpass-v", "SESSION_KEY": "sess-v", "PIN_TOKEN": 86753091, "KEYCLOAK_REALM": "anime"})
    assert red("dbpass-v sess-v 86753091 anime") == " ".join([marker("dbpass-v"), "sess-v",
                                                              marker("86753091"), "anime"])
    # a value shorter than 8 characters is an ordinary word too: replaced where it is the value of its name
    assert red("SESSION_KEY=sess-v") == f"SESSION_KEY={marker('sess-v')}"


def test_a_file_name_that_is_not_utf8_does_not_break_the_conversation(repo):
    with open(bytes(repo / "anime-saas-api") + b"/Dockerfile.\xff", "wb") as fh:
        fh.write(b"FROM alpine:3.19\n")
    with FakeOpenAI([calls(("sources", {})), {"content": "listed"}]) as fake:
        assert Conversation(repo, settings(fake)).ask("sources?").answer == "listed"
    assert "Dockerfile.\ufffd" in fake.requests[0]["messages"][0]["content"]


# ------------------------------------------------------------------ (2) a hostile model

@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_odd_arguments_are_error_results_and_the_thread_goes_on(repo, stream):
    """JSON that is not an object, an integer beyond 64 bits, a lone surrogate: each failed the whole turn
    (langchain's AIMessage validation, msgpack in the checkpoint, UTF-8 in the next request) and the thread."""
    script = [calls(("read_source", "[1, 2]")), calls(("sources", "5")),
              calls(("read_source", {"path": "Makefile", "start_line": 10 ** 40})),
              calls(("read_source", '{"path": "\\ud800x"}')),
              {"content": "sorry"}, {"content": "still here"}]
    on_event = (lambda kind, data: None) if stream else None
    with FakeOpenAI(script) as fake:
        conv = Conversation(repo, settings(fake))
        assert conv.ask("read", on_event=on_event).answer == "sorry"
        assert conv.ask("again", on_event=on_event).answer == "still here"
    results = tool_results(fake.requests[4])
    assert len(results) == 4 and all("error" in r.lower() for r in results), results
    assert "not a source of this session" in results[3] and "\ufffd" in results[3]


def test_hundreds_of_calls_in_one_reply_change_nothing_and_are_all_logged(repo):
    before = head(repo)
    script = [calls(*[("read_source", {"path": "Makefile"})] * 300),
              calls(*[("apply_change", {"proposal_id": f"p-{i}"}) for i in range(150)],
                    ("apply_change", {"proposal_id": 5}), ("apply_change", {})),
              {"content": "done"}]
    with FakeOpenAI(script) as fake:
        result = Conversation(repo, settings(fake)).ask("go")
    assert len(result.waiting) == 152 and head(repo) == before
    assert all("waits for Product" in r for r in tool_results(fake.requests[-1])[300:])
    log = sqlite3.connect(repo / ".devops-agent" / "turns.sqlite")
    counts = dict(log.execute("SELECT kind, COUNT(*) FROM turns GROUP BY kind").fetchall())
    assert counts["tool_call"] == 300 and counts["tool_result"] == 300, counts  # parallel tools, one connection


def test_a_reply_with_text_and_tool_calls(repo, monkeypatch):
    plain = fake_openai._message

    def both(reply: dict) -> dict:
        msg = plain(reply)
        if reply.get("say"):
            msg["content"] = reply["say"]
        return msg

    monkeypatch.setattr(fake_openai, "_message", both)
    before = head(repo)
    with FakeOpenAI([{"say": "let me land it", **calls(("apply_change", {"proposal_id": "p-1"}))},
                     {"say": "and read", **calls(("sources", {}))}, {"content": "ok"}]) as fake:
        result = Conversation(repo, settings(fake)).ask("land p-1")
    assert result.answer == "ok" and result.waiting == ["p-1"] and head(repo) == before
    assert [m.get("content") for m in fake.requests[1]["messages"] if m["role"] == "assistant"] == ["let me land it"]


def test_proposals_that_reach_outside_write_nothing(repo, tmp_path):
    before = head(repo)
    meta = {"reason": "r", "risk": "r", "rollback": "r"}
    hook = ("diff --git a/.git/hooks/pre-commit b/.git/hooks/pre-commit\nnew file mode 100755\n--- /dev/null\n"
            "+++ b/.git/hooks/pre-commit\n@@ -0,0 +1 @@\n+touch pwned\n")
    outside = "--- a/../outside.txt\n+++ b/../outside.txt\n@@ -0,0 +1 @@\n+pwned\n"
    with FakeOpenAI([calls(("propose_change", {"patch": hook, **meta}), ("propose_change", {"patch": outside, **meta}),
                           ("propose_change", {"sets": ["../../etc/hosts:a=b"], **meta}),
                           ("dockerfile_diff", {"service": "anime-saas-api", "from_rev": f"--output={tmp_path}/x"})),
                     {"content": "tried"}]) as fake:
        assert Conversation(repo, settings(fake)).ask("go").answer == "tried"
    assert head(repo) == before and not (repo / ".git/hooks/pre-commit").exists()
    assert not (repo.parent / "outside.txt").exists() and not (tmp_path / "x").exists()
    results = tool_results(fake.requests[-1])
    assert all('"status": "refused"' in r or r.startswith("error") for r in results), results
