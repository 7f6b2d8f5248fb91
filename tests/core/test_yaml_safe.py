"""Bounded YAML: alias bombs, deep nesting and recursive aliases are refused in bounded time; every
ordinary document loads exactly as yaml.safe_load loads it."""
from __future__ import annotations

import time

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.core.errors import UserError
from agent.core.yaml_safe import YamlLimitError, load, load_all

BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x, x]"]
                 + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)])


def test_an_alias_bomb_is_refused_quickly():
    t0 = time.perf_counter()
    with pytest.raises(YamlLimitError, match="alias bomb"):
        load(f"services:\n  x:\n    {BOMB.replace(chr(10), chr(10) + '    ')}\n", "docker-compose.yml")
    assert time.perf_counter() - t0 < 5


def test_deep_nesting_is_refused_without_recursion_error():
    with pytest.raises((YamlLimitError, yaml.YAMLError)):  # libyaml caps flow nesting itself
        load("a: " + "[" * 5000 + "]" * 5000, "ci.yml")
    with pytest.raises(YamlLimitError, match="nested"):
        load("".join(f"{' ' * (2 * i)}k{i}:\n" for i in range(200)) + " " * 400 + "v: 1\n", "ci.yml")


def test_a_recursive_alias_is_refused():
    with pytest.raises(YamlLimitError, match="recursive"):
        load("a: &a [*a]\n")


def test_the_refusal_is_a_user_error_naming_the_file():
    with pytest.raises(UserError) as err:
        load(BOMB, "compose.yaml")
    assert err.value.message.startswith("compose.yaml: ")


def test_ordinary_documents_load_as_safe_load_does():
    text = "x-base: &base {image: nginx:1.27, restart: always}\nservices:\n  a: *base\n  b:\n    <<: *base\n    ports: ['80:80']\n"
    assert load(text) == yaml.safe_load(text)
    assert load_all("a: 1\n---\nb: [1, 2]\n") == [{"a": 1}, {"b": [1, 2]}]
    assert load("") is None


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=20))
_docs = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=5)),
                     max_leaves=30)


@settings(max_examples=150, deadline=None)
@given(_docs)
def test_any_plain_document_round_trips(doc):
    text = yaml.safe_dump(doc)
    assert load(text) == yaml.safe_load(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_data_or_a_yaml_error_never_a_crash(text):
    try:
        load(text)
    except (yaml.YAMLError, YamlLimitError):
        pass


def test_the_config_is_bounded_and_says_so_in_one_line(tmp_path):
    import subprocess
    import sys

    (tmp_path / ".devops-agent.yaml").mkdir()
    run = lambda: subprocess.run([sys.executable, "-m", "agent.cli", "sources", "--repo", str(tmp_path)],  # noqa: E731
                                 capture_output=True, text=True)
    r = run()
    assert r.returncode == 2 and "not a regular file" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / ".devops-agent.yaml").rmdir()
    (tmp_path / ".devops-agent.yaml").write_text(BOMB + "\n")
    r = run()
    assert r.returncode == 2 and "alias bomb" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    (tmp_path / ".devops-agent.yaml").write_text("#" * (300 * 1024))
    r = run()
    assert r.returncode == 2 and "cap" in r.stderr


def test_a_large_document_without_aliases_loads_as_safe_load_does():
    text = "services:\n" + "".join(f"  s{i}:\n    image: nginx:1.27\n    ports: ['{i % 60000}:80']\n"
                                   for i in range(6000))
    assert len(text) > 256 * 1024
    assert load(text) == yaml.safe_load(text)
    with pytest.raises(YamlLimitError, match="alias bomb"):
        load(text + BOMB + "\n")


def test_an_anchor_defined_again_means_the_latest_as_compose_reads_it(tmp_path):
    """`&mongo` written once per replica, each alias meaning the one above it: YAML 1.2 and Compose's parser accept it,
    libyaml and PyYAML refuse it ("found duplicate anchor"); the loaders read it as Compose does, the sources too."""
    from agent.core import yaml_safe
    from sources.loader import parse_yaml

    text = ("services:\n  mongo1:\n    image: &img mongo:7.0\n    command: &cmd [mongod, --replSet, rs0]\n"
            "  mongo2:\n    image: *img\n    command: *cmd\n"
            "  mongo3:\n    image: &img mongo:8.0\n    command: *cmd\n  probe:\n    image: *img\n")
    for data in (yaml_safe.load(text, "c.yml"), yaml_safe.load_all(text)[0],
                 yaml_safe.load_node(text, compose_tags=True)[1], parse_yaml(text, compose=True)[0][1]):
        images = {name: svc["image"] for name, svc in data["services"].items()}
        assert images == {"mongo1": "mongo:7.0", "mongo2": "mongo:7.0", "mongo3": "mongo:8.0", "probe": "mongo:8.0"}
    with pytest.raises(yaml.YAMLError):
        yaml_safe.load("a: *nowhere\n")  # an alias to nothing is still an error
