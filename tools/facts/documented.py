"""The images a repository's docs tell its users to run: compose snippets (`image:` lines) and `docker run`,
`docker create` and `docker pull` commands in the fenced code blocks of its READMEs and docs pages.

A self-hosting user copies the README's compose block or `docker run` line as it is: the images it names are a
deployment as much as a compose file's. Left out, because they are no deployment a user copies:
- sections and pages for the project's developers (Development, Contributing, Building from source, Testing);
- one-shot commands (`docker run --rm …` without `-d` or `--restart`): a key generator, a backup helper;
- names the same page builds (`docker build -t app .` then `docker run app`), placeholders (`<image>`,
  `your-image`, `${IMAGE}`), and single-word names that are no image of Docker Hub's library one would know.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from sources.rules import markdown_headings
from tools.facts.shell import shell_tokens

_FENCE = re.compile(r"^[ \t]*(```+|~~~+)[ \t]*([\w+-]*)")
_IMAGE_LINE = re.compile(r"""^[ \t]*(?:-[ \t]+)?image[ \t]*:[ \t]*["']?([^\s"'#]+)""")
# Sections and pages written for the project's own developers, not for whoever deploys it.
_FOR_DEVELOPERS = re.compile(r"\b(?:develop(?:ment|ing|er|ers)?|contribut\w*|hacking|testing|tests?|debug\w*|"
                             r"build(?:ing)? (?:from source|locally|the (?:docker )?image|it yourself|your own)|"
                             r"from source|local(?:ly)? (?:build|setup|development))\b", re.I)
_DEV_PAGE = re.compile(r"(?:^|/)(?:contributing|development|develop|hacking|changelog|changes|history|"
                       r"release[-_ ]?notes|test(?:s|ing)?|blog|news|posts)(?:[./_-]|$)", re.I)
# A YAML block of a CI pipeline (Woodpecker, Drone, GitLab: `steps:` of `image:`): its images run a build step.
_PIPELINE_KEYS = re.compile(r"^(?:steps|pipeline|stages|jobs|script|before_script|workflow)[ \t]*:", re.M)
_CODE_LANGS = frozenset({"", "yaml", "yml", "sh", "bash", "shell", "console", "shell-session", "zsh", "text",
                         "txt", "plain", "compose", "docker", "powershell", "ps1", "cmd", "bat"})
# Docker Hub library images a page may name with a single word (the lifecycle table knows the others).
_LIBRARY = frozenset({
    "adminer", "busybox", "caddy", "cassandra", "couchdb", "drupal", "eclipse-mosquitto", "elasticsearch",
    "ghost", "haproxy", "httpd", "influxdb", "joomla", "kibana", "logstash", "matomo", "memcached",
    "mongo-express", "nats", "neo4j", "nextcloud", "odoo", "owncloud", "percona", "phpmyadmin", "postfixadmin",
    "rabbitmq", "redmine", "registry", "solr", "sonarqube", "telegraf", "tomcat", "traefik", "varnish",
    "wordpress", "zookeeper", "chronograf", "kapacitor", "rethinkdb", "mediawiki", "friendica",
    "teamspeak", "znc", "postgres", "mysql", "mariadb", "redis", "mongo", "nginx", "alpine", "debian", "ubuntu",
    "node", "python", "ruby", "php", "golang", "openjdk", "eclipse-temurin", "clickhouse", "valkey"})
_PLACEHOLDER = re.compile(r"[<>{}\[\]$%]|\byour\w*|\bsome(?:repo|container|image|app|user|org|name)\b|\bmy[-_]?(?:app|image|org|name|repo|registry|project|user|"
                          r"service|company|container|account)\b|\bexample\b", re.I)
_PLACEHOLDER_PARTS = frozenset({"image", "name", "repo", "repository", "tag", "version", "user", "username", "org",
                                "owner", "organization", "namespace", "foo", "bar"})
# docker run/create options that take no value (everything else written without `=` takes the next word)
_BOOL_SHORT = frozenset("ditP")
_BOOL_LONG = frozenset({"--rm", "--detach", "--interactive", "--tty", "--privileged", "--init", "--read-only",
                        "--publish-all", "--no-healthcheck", "--oom-kill-disable", "--quiet", "--all-tags",
                        "--disable-content-trust", "--help", "--sig-proxy"})
_SEPARATORS = frozenset({"&&", "||", ";", "|", "&"})


@dataclass(frozen=True)
class DocumentedImage:
    path: str
    line: int
    image: str
    how: str  # "compose" (an `image:` line) | "docker run" | "docker pull"


def _image_after(words: list[str]) -> str | None:
    """The image argument of `docker run|create|pull …` (the words after the verb)."""
    i = 0
    while i < len(words):
        w = words[i]
        if w == "--":
            return words[i + 1] if i + 1 < len(words) else None
        if w.startswith("--"):
            i += 1 if "=" in w or w in _BOOL_LONG else 2
            continue
        if w.startswith("-") and len(w) > 1:
            i += 1 if set(w[1:]) <= _BOOL_SHORT or len(w) > 2 else 2
            continue
        return w
    return None


def _commands(line: str) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for w in shell_tokens(line):
        if w in _SEPARATORS:
            out.append([])
        else:
            out[-1].append(w)
    return [c for c in out if c]


def _docker_image(words: list[str]) -> tuple[str, str, list[str]] | None:
    """(image, how, the run's words) of one shell command that runs or pulls an image, else None."""
    while words and (words[0] in ("sudo", "$", ">", "exec") or re.fullmatch(r"[A-Za-z_]\w*=.*", words[0])):
        words = words[1:]
    if len(words) < 3 or posixpath.basename(words[0]) not in ("docker", "podman"):
        return None
    rest = words[1:]
    if rest[0] in ("container", "image") and len(rest) > 1:
        rest = rest[1:]
    if rest[0] not in ("run", "create", "pull"):
        return None
    image = _image_after(rest[1:])
    return (image, "docker pull" if rest[0] == "pull" else "docker run", rest[1:]) if image else None


def _one_shot(words: list[str]) -> bool:
    """`docker run --rm …` or `docker run -it …` with no `-d` and no `--restart`: a command or a shell, not a
    service left running."""
    flags = [w for w in words if w.startswith("-")]
    short = {c for w in flags if not w.startswith("--") and set(w[1:]) <= _BOOL_SHORT for c in w[1:]}
    detached = "d" in short or any(w == "--detach" or w.startswith("--restart") for w in flags)
    interactive = bool(short & {"i", "t"}) or any(w in ("--interactive", "--tty") for w in flags)
    return ("--rm" in flags or interactive) and not detached


def _built_here(text: str) -> set[str]:
    names: set[str] = set()
    for m in re.finditer(r"\b(?:docker|podman)\s+(?:image\s+)?(?:build|buildx\s+build|tag)\b[^\n]*", text):
        words = m.group(0).split()
        for i, w in enumerate(words):
            if w in ("-t", "--tag") and i + 1 < len(words):
                names.add(words[i + 1].split(":", 1)[0])
            elif w.startswith("--tag="):
                names.add(w.split("=", 1)[1].split(":", 1)[0])
        if words[1] == "tag" or (len(words) > 2 and words[2] == "tag"):
            names.update(w.split(":", 1)[0] for w in words[-1:])
    return names


def _worth_judging(image: str, built: set[str]) -> bool:
    from tools.dockerfile import parse_image_ref
    from tools.facts.lifecycle import product_of

    if _PLACEHOLDER.search(image) or image.split(":", 1)[0] in built or \
            _PLACEHOLDER_PARTS & set(re.split(r"[/:@]", image.lower())):
        return False
    parsed = parse_image_ref(image)
    if not parsed.valid:
        return False
    if "/" not in image.split("@", 1)[0]:
        return parsed.repository.rsplit("/", 1)[-1] in _LIBRARY or product_of(image) is not None
    return True


def for_developers(path: str) -> bool:
    """A page written for the project's developers (CONTRIBUTING.md, docs/development/…)."""
    return bool(_DEV_PAGE.search(path))


def _pipeline_block(lines: list[str], opened: int, fence: str) -> dict[int, bool]:
    """{line: True} over a fenced block that opens at line `opened` when it is a CI pipeline's YAML."""
    body: list[int] = []
    for no in range(opened + 1, len(lines) + 1):
        if lines[no - 1].lstrip().startswith(fence):
            break
        body.append(no)
    text = "\n".join(lines[no - 1] for no in body)
    return dict.fromkeys(body, True) if _PIPELINE_KEYS.search(text) else {}


def documented_images(path: str, text: str | None) -> list[DocumentedImage]:
    """The images a docs page's code blocks deploy, in page order (see the module's docstring for what is left
    out). `path` is the page's path in the repository."""
    if not text or for_developers(path):
        return []
    lines = text.splitlines()
    heads = markdown_headings(text)
    dev_lines: set[int] = set()
    for i, (start, level, title) in enumerate(heads):
        if _FOR_DEVELOPERS.search(title):
            end = next((ln for ln, lv, _ in heads[i + 1:] if lv <= level), len(lines) + 1)
            dev_lines.update(range(start, end))
    built = _built_here(text)
    out: list[DocumentedImage] = []
    fence: str | None = None
    lang = ""
    pending: list[tuple[int, str]] = []  # a shell line continued with a backslash
    pipeline: dict[int, bool] | None = None
    for no, raw in enumerate(lines, 1):
        m = _FENCE.match(raw)
        if m and (fence is None or m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)):
            if fence is None:
                fence, lang, pending = m.group(1), m.group(2).lower(), []
                pipeline = _pipeline_block(lines, no, fence)
            else:
                fence = None
            continue
        if fence is None or no in dev_lines or lang not in _CODE_LANGS:
            continue
        im = _IMAGE_LINE.match(raw)
        if im and pipeline is not None and pipeline.get(no):
            continue
        if im:
            image = im.group(1)
            if _worth_judging(image, built):
                out.append(DocumentedImage(path, no, image, "compose"))
            continue
        pending.append((no, raw))
        if raw.rstrip().endswith(("\\", "`")) and lang not in ("yaml", "yml"):
            continue
        joined = " ".join(part.rstrip().rstrip("\\`") for _, part in pending)
        chunk, pending = pending, []
        for words in _commands(joined.strip().lstrip("$> ")):
            found = _docker_image(words)
            if found is None:
                continue
            image, how, run = found
            if how == "docker run" and _one_shot(run) or not _worth_judging(image, built):
                continue
            at = next((n for n, part in chunk if image in part), chunk[0][0])
            out.append(DocumentedImage(path, at, image, how))
    return out
