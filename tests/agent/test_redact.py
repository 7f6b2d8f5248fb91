"""The one redactor: structure kept, literals replaced by a stable short hash, every known shape caught."""
from __future__ import annotations

from agent.redact import Redactor, env_file_values, marker

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"


def test_references_stay_and_literals_become_distinct_markers():
    red = Redactor(["first-secret-value", "second-secret-value"])
    out = red("A=${DB_PASSWORD} B=first-secret-value C=second-secret-value D=first-secret-value")
    assert "${DB_PASSWORD}" in out and "secret-value" not in out
    assert out.count(marker("first-secret-value")) == 2 and marker("second-secret-value") in out
    assert marker("first-secret-value") != marker("second-secret-value")


def test_shapes_are_caught_without_knowing_the_value():
    text = "\n".join([
        "DATABASE_URL=mysql://app:Zq9xLm2pW@db:3306/anime",
        "Server=db;User Id=sa;Password=N0tInAnyFile!;",
        f"key: {KEY}",
        "token ghp_" + "a1B2c3D4e5" * 4,
        "openai sk-proj-" + "Q" * 24,
        "slack xoxb-1234567890-abcdefghij",
        "aws AKIA" + "ABCDEFGHIJKLMNOP",
    ])
    out = Redactor()(text)
    for leaked in ("Zq9xLm2pW", "N0tInAnyFile!", "b3BlbnNzaC1rZXkt", "a1B2c3D4e5", "QQQQQQQQ", "abcdefghij",
                   "ABCDEFGHIJKLMNOP"):
        assert leaked not in out, leaked
    assert "mysql://app:[redacted:" in out and "User Id=sa;Password=[redacted:" in out


def test_ordinary_infra_text_is_left_alone():
    text = "replicas: 3\nimage: nginx:1.25\nports: ['8080:80']\nhealthcheck: curl -f http://localhost/health"
    assert Redactor()(text) == text


def test_the_tools_own_help_keeps_its_placeholders():
    """A tool's error tells the model the shape to use: `FILE:KEY=VALUE` is documentation, not a secret."""
    for text in ("error: give either patch or sets — sets takes FILE:KEY=VALUE edits", "API_TOKEN=<value>",
                 "set DB_PASSWORD=your-value"):
        assert Redactor()(text) == text
    assert Redactor()("API_TOKEN=Value-4471-Real") != "API_TOKEN=Value-4471-Real"


def test_secret_like_names_give_their_values(tmp_path):
    (tmp_path / ".env").write_text("DB_PASSWORD=Dotenv-Value-123\nDB_USER=app\n# API_TOKEN=commented\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "api.env").write_text("export API_TOKEN='tok-quoted-456'\n")
    values = env_file_values(tmp_path)
    assert values["DB_PASSWORD"] == "Dotenv-Value-123" and values["API_TOKEN"] == "tok-quoted-456"
    red = Redactor()
    red.add_env(values)
    out = red("user app, pw Dotenv-Value-123, token tok-quoted-456")
    assert "Dotenv-Value-123" not in out and "tok-quoted-456" not in out and "user app" in out


def test_a_short_secret_is_replaced_where_it_is_a_value_not_everywhere():
    red = Redactor()
    red.add_env({"MYSQL_ROOT_PASSWORD": "root"})
    out = red("MYSQL_ROOT_PASSWORD: root\nthe container runs as root\nDB_PASSWORD=root;")
    assert "MYSQL_ROOT_PASSWORD: [redacted:" in out and "runs as root" in out and "DB_PASSWORD=[redacted:" in out


def test_digests_and_commit_ids_stay_readable():
    import hashlib

    sha = hashlib.sha256(b"a source").hexdigest()  # real digests: high entropy, and still no secret
    commit = hashlib.sha1(b"a commit").hexdigest()
    text = (f'{{"sha256": "{sha}", "commit": "{commit}", "applied_commits": {{"": "{commit}"}}}}\n'
            f"Content-Hash: {sha}\nsources.md sha256 {sha}")
    assert Redactor()(text) == text
    # A hex value under another name may be a key: masked, as a named one that says it is a key.
    for line in (f"ENV SIGNING_HEX={sha}", f"COMMIT_SIGNING_KEY={sha}"):
        assert sha not in Redactor()(line), line
