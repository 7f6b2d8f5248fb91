"""YAML with bounded work: every reader of compose files, workflows and the config goes through here.

PyYAML (like libyaml) shares an aliased node instead of copying it, so an alias bomb ("billion laughs")
costs nothing to load and gigabytes to walk. Here the composed node graph is measured first, without
recursion: its expanded size (what a walk of the data would visit), its depth, and recursive aliases.
Past a limit the document is refused with one line instead of being constructed.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from agent.core.errors import UserError

MAX_EXPANDED_NODES = 1_000_000  # a generous real file has a few thousand
MAX_DEPTH = 64
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ComposeLoader(_Loader):  # type: ignore[misc,valid-type]
    """Compose's merge tags, `!reset` and `!override`, read as the value they carry."""


def _as_written(loader: Any, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    value = loader.construct_scalar(node)
    return None if node.tag == "!reset" and value in ("", "null", "~") else value


class _RedefiningLoader(yaml.SafeLoader):
    """YAML 1.2 and Compose's own parser let an anchor be defined again (`&db` per service, each alias meaning the
    latest): libyaml and PyYAML refuse it ("found duplicate anchor"). Read so only when they refuse it."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if not isinstance(event, yaml.AliasEvent) and getattr(event, "anchor", None) is not None:
            self.anchors.pop(event.anchor, None)
        return super().compose_node(parent, index)


class _RedefiningComposeLoader(_RedefiningLoader):
    """The same, with Compose's merge tags."""


for _tag in ("!reset", "!override"):
    _ComposeLoader.add_constructor(_tag, _as_written)
    _RedefiningComposeLoader.add_constructor(_tag, _as_written)


def _redefined_anchor(exc: Exception) -> bool:
    return isinstance(exc, yaml.composer.ComposerError) and "found duplicate anchor" in str(exc)


# An alias is `*name`: a large document without one cannot share (so cannot multiply) a node, and the
# composer's own recursion limit bounds its depth, so measuring it is skipped (big files stay linear);
# a small one is always measured (its depth too).
_ALIAS = re.compile(r"\*[^\s,\]\}]")
_ALWAYS_MEASURED = 256 * 1024


def _must_measure(text: str | bytes) -> bool:
    if len(text) < _ALWAYS_MEASURED:
        return True
    sample = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return _ALIAS.search(sample) is not None


class YamlLimitError(UserError):
    """A YAML document over the work limits (alias bomb, nesting, recursive alias)."""

    def __init__(self, what: str, problem: str) -> None:
        self.problem = problem
        super().__init__(f"{what}: {problem}", "simplify the file (expand or remove the aliases, flatten the nesting)")


def _has_alias(text: str | bytes) -> bool:
    sample = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return _ALIAS.search(sample) is not None


def _measure_text(root: yaml.Node, aliases: bool, what: str) -> None:
    """`_measure`, or its cheaper form when the text has no alias (`aliases` False): then the graph is a tree
    (no node is shared, none reaches itself), its expanded size is its node count and only depth is walked."""
    if aliases:
        _measure(root, what)
        return
    count = 0
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise YamlLimitError(what, f"nested more than {MAX_DEPTH} levels deep")
        value = node.value
        if isinstance(node, yaml.MappingNode):
            for key, item in value:
                stack.append((key, depth + 1))
                stack.append((item, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in value)
    if count > MAX_EXPANDED_NODES:
        raise YamlLimitError(what, f"expands to more than {MAX_EXPANDED_NODES:,} values (an alias bomb?)")


def _measure(root: yaml.Node, what: str) -> None:
    """Expanded size and depth of the node graph, iteratively; a node reached from itself is refused."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = _children(node)
            total = 1 + sum(sizes[id(c)] for c in children)
            if total > MAX_EXPANDED_NODES:
                raise YamlLimitError(what, f"expands to more than {MAX_EXPANDED_NODES:,} values (an alias bomb?)")
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise YamlLimitError(what, "an alias refers to a node that contains it (a recursive structure)")
        if depth > MAX_DEPTH:
            raise YamlLimitError(what, f"nested more than {MAX_DEPTH} levels deep")
        on_path.add(key)
        stack.append((node, depth, True))
        for child in _children(node):
            if id(child) not in sizes:
                stack.append((child, depth + 1, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _construct(loader: Any, what: str, measure: bool, text: str | bytes) -> Any:
    try:
        node = loader.get_single_node()
    except RecursionError:
        raise YamlLimitError(what, f"nested more than {MAX_DEPTH} levels deep") from None
    if node is None:
        return None
    if measure:
        _measure_text(node, _has_alias(text), what)
    return _construct_node(loader, node, what)


def _construct_node(loader: Any, node: yaml.Node, what: str) -> Any:
    try:
        return loader.construct_document(node)
    except ValueError as exc:  # an integer past Python's 4,300-digit conversion limit
        raise YamlLimitError(what, f"a value cannot be read ({str(exc).split(':')[0]})") from None


def _allowing_redefined_anchors(read: Any, text: str | bytes, what: str) -> Any:
    """`read(loader class, text, what)` with the strict loader, then, when the only complaint is an anchor defined
    again (YAML 1.2 and Compose take the latest), with the loader that allows it."""
    try:
        return read(_Loader, text, what)
    except yaml.composer.ComposerError as exc:
        if not _redefined_anchor(exc):
            raise
        return read(_RedefiningLoader, text, what)


def load(text: str | bytes, what: str = "YAML") -> Any:
    """One document, like `yaml.safe_load`, within the limits (YamlLimitError past them; yaml.YAMLError
    for a syntax error, as before)."""
    return _allowing_redefined_anchors(_load_one, text, what)


def _load_one(cls: Any, text: str | bytes, what: str) -> Any:
    loader = cls(text)
    try:
        return _construct(loader, what, _must_measure(text), text)
    finally:
        loader.dispose()


def load_node(text: str | bytes, what: str = "YAML", construct: bool = True,
              compose_tags: bool = False) -> tuple[yaml.Node | None, Any]:
    """(node, data) of one document, for readers that keep each value's line; the node graph is
    measured before anything walks it (YamlLimitError past the limits; yaml.YAMLError for a syntax error).
    `compose_tags` accepts Compose's `!reset` and `!override`."""
    loader = (_ComposeLoader if compose_tags else _Loader)(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YamlLimitError(what, f"nested more than {MAX_DEPTH} levels deep") from None
        except yaml.composer.ComposerError as exc:
            if not _redefined_anchor(exc):
                raise
            loader.dispose()
            loader = (_RedefiningComposeLoader if compose_tags else _RedefiningLoader)(text)
            node = loader.get_single_node()
        if node is None:
            return None, None
        if _must_measure(text):
            _measure_text(node, _has_alias(text), what)
        return node, _construct_node(loader, node, what) if construct else None
    finally:
        loader.dispose()


def load_all(text: str | bytes, what: str = "YAML") -> list:
    """Every document, like `yaml.safe_load_all`, each within the limits."""
    return _allowing_redefined_anchors(_load_all, text, what)


def _load_all(cls: Any, text: str | bytes, what: str) -> list:
    loader = cls(text)
    out = []
    measure = _must_measure(text)
    aliases = measure and _has_alias(text)
    try:
        while loader.check_node():
            try:
                node = loader.get_node()
            except RecursionError:
                raise YamlLimitError(what, f"nested more than {MAX_DEPTH} levels deep") from None
            if measure:
                _measure_text(node, aliases, what)
            out.append(_construct_node(loader, node, what))
        return out
    finally:
        loader.dispose()


def index_lines(node: yaml.Node | None) -> dict[tuple, int]:
    """The 1-based line of every key path (`("services", "web", "ports", 0)`) of a composed document,
    iteratively (no recursion limit); merge keys (`<<`) are not paths of their own."""
    out: dict[tuple, int] = {}
    stack: list[tuple[yaml.Node, tuple]] = [(node, ())] if node is not None else []
    while stack:
        current, path = stack.pop()
        if isinstance(current, yaml.MappingNode):
            for knode, vnode in current.value:
                if knode.value == "<<":
                    continue
                p = (*path, knode.value)
                out[p] = knode.start_mark.line + 1
                stack.append((vnode, p))
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                p = (*path, i)
                out[p] = item.start_mark.line + 1
                stack.append((item, p))
    return out
