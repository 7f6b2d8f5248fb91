"""The images a docs page tells its users to run (tools/facts/documented.py)."""
from __future__ import annotations

import pytest

from tools.facts.documented import documented_images


def _images(text: str, path: str = "README.md") -> list[tuple[int, str, str]]:
    return [(d.line, d.image, d.how) for d in documented_images(path, text)]


@pytest.mark.parametrize("command, image", [
    ("docker run -d -p 8080:80 acme/app:1", "acme/app:1"),
    ("docker run -d -p8080:80 --name=app -e A=B -v /x:/y acme/app", "acme/app"),
    ("docker run -dit --restart always acme/app", "acme/app"),
    ("sudo docker run -d acme/app serve --port 80", "acme/app"),
    ("$ docker container run -d acme/app", "acme/app"),
    ("podman run -d docker.io/acme/app:2.0", "docker.io/acme/app:2.0"),
    ("docker create --name app acme/app", "acme/app"),
    ("docker pull ghcr.io/acme/app", "ghcr.io/acme/app"),
    ("mkdir data && docker run -d -v $PWD/data:/data acme/app", "acme/app"),
    ("TZ=UTC docker run -d acme/app", "acme/app"),
    ("docker run -d --restart=unless-stopped -- acme/app", "acme/app"),
])
def test_the_image_of_a_run_or_pull_command(command, image):
    assert _images(f"```sh\n{command}\n```\n") == [(2, image, "docker pull" if " pull " in command else "docker run")]


def test_a_command_continued_over_lines_is_one_and_its_image_keeps_its_own_line():
    text = "```bash\ndocker run -d \\\n  --name app \\\n  -p 80:80 \\\n  acme/app:latest\n```\n"
    assert _images(text) == [(5, "acme/app:latest", "docker run")]


def test_compose_blocks_name_their_images_on_their_lines():
    text = "~~~yaml\nservices:\n  app:\n    image: acme/app\n  db:\n    image: 'postgres:16'\n~~~\n"
    assert _images(text) == [(4, "acme/app", "compose"), (6, "postgres:16", "compose")]


@pytest.mark.parametrize("command", [
    "docker run --rm acme/keygen",                      # one-shot
    "docker run --rm -it acme/app shell",               # one-shot, interactive
    "docker run -d <image>",                            # placeholders
    "docker run -d ${IMAGE}",
    "docker run -d your-org/app:latest",
    "docker run -d myapp",                              # a single word the page may have built
    "docker run -d user/image:tag",
    "echo docker run -d acme/app",                      # not a docker command
    "# docker run -d acme/app",                         # a comment
])
def test_what_is_no_deployment_is_left_out(command):
    assert _images(f"```sh\n{command}\n```\n") == []


def test_a_one_shot_command_that_is_also_detached_or_restarted_is_a_deployment():
    assert _images("```sh\ndocker run --rm -d acme/app\n```\n") == [(2, "acme/app", "docker run")]


def test_single_word_library_images_are_judged_and_names_the_page_builds_are_not():
    text = "```sh\ndocker build -t thing .\ndocker run -d thing\ndocker run -d redis\ndocker run -d phpmyadmin\n```\n"
    assert [i for _, i, _ in _images(text)] == ["redis", "phpmyadmin"]


def test_sections_and_pages_for_developers_are_left_out():
    text = ("# App\n\n## Install\n\n```sh\ndocker run -d acme/app\n```\n\n## Development\n\n"
            "```sh\ndocker run -d postgres:latest\n```\n\n### Tests\n\n```sh\ndocker run -d redis\n```\n\n"
            "## Upgrade\n\n```sh\ndocker pull acme/app\n```\n")
    assert _images(text) == [(6, "acme/app", "docker run"), (24, "acme/app", "docker pull")]
    assert _images("```sh\ndocker run -d acme/app\n```\n", path="CONTRIBUTING.md") == []
    assert _images("```sh\ndocker run -d acme/app\n```\n", path="docs/development/setup.md") == []


def test_prose_inline_code_and_other_languages_are_not_read():
    text = ("Run `docker run -d acme/app` to start.\n\n```dockerfile\nFROM acme/app\n```\n\n"
            "```python\nimage: acme/app\n```\n")
    assert _images(text) == []


def test_a_longer_fence_holds_a_shorter_one():
    text = "````md\n```sh\ndocker run -d acme/inner\n```\n````\n\n```sh\ndocker run -d acme/outer\n```\n"
    assert [i for _, i, _ in _images(text)] == ["acme/outer"]


def test_an_unbalanced_quote_reads_words_as_they_are():
    assert _images("```sh\ndocker run -d -e 'A=b acme/app\n```\n") == [(2, "acme/app", "docker run")]


def test_a_ci_pipelines_steps_are_no_deployment():
    text = "```yaml\nsteps:\n  build:\n    image: golang\n    commands: [go build]\n```\n"
    assert _images(text) == []


@pytest.mark.parametrize("command", ["docker run -it ubuntu bash", "docker run --interactive --tty debian",
                                     "docker run -t alpine ls /"])
def test_an_interactive_run_is_a_shell_not_a_deployment(command):
    assert _images(f"```sh\n{command}\n```\n") == []


def test_blog_posts_are_no_deployment_docs():
    assert _images("```sh\ndocker run -d acme/app\n```\n", path="docs/blog/2024-01-01-release/index.md") == []


def test_a_version_placeholder_tag_is_no_tag_to_judge():
    from tools.facts.tags import tag_mutability

    assert tag_mutability("healthchecks/healthchecks:vX.Y") is None
    assert tag_mutability("acme/app:x.y.z") is None
