"""The one YAML loader: show.yaml, front matter and the asset manifest all go through it.

YAML can be made to explode: a few lines of aliases of aliases ("billion laughs") stand for
billions of values, and deep nesting overflows the stack. Nothing podforge reads needs more than
a handful of aliases or a few levels, so the loader refuses anything bigger before building it,
and every file is answered in milliseconds. Timestamps are checked here too: a date that is not
on the calendar stays text (the caller reports it with its line) instead of raising.
"""

from __future__ import annotations

import datetime as dt

import yaml

MAX_BYTES = 256_000  # a show.yaml or manifest is a few kB
MAX_ALIASES = 20
MAX_DEPTH = 32


class LimitError(yaml.YAMLError):
    """The document is bigger than any podforge file needs; `problem_mark` says where."""

    def __init__(self, problem: str, mark):
        super().__init__(problem)
        self.problem, self.problem_mark = problem, mark


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader refusing many aliases or deep nesting while it composes, before it builds."""

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise LimitError(f"more than {MAX_ALIASES} aliases (*name); write the values "
                                 "out", self.peek_event().start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise LimitError(f"nested more than {MAX_DEPTH} levels deep",
                                 self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1



def _timestamp(loader, node):
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError):
        return loader.construct_scalar(node)  # "2026-02-30": text, refused by the caller


BoundedLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


_Fast = type("_Fast", (yaml.CSafeLoader,), {}) if hasattr(yaml, "CSafeLoader") else None
if _Fast is not None:  # libyaml: ten times faster; the limits are checked on its nodes
    _Fast.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def load(text: str, limit: int = MAX_BYTES):
    """Parse one YAML document within the limits; yaml.YAMLError (or LimitError) otherwise."""
    if len(text) > limit:
        raise LimitError(f"{len(text) / 1000:.0f} kB is more than the {limit / 1000:.0f} kB "
                         "limit", None)
    try:
        if _Fast is not None and _flow_depth(text) <= MAX_DEPTH:
            loader = _Fast(text)
            try:
                node = loader.get_single_node()
                if node is None:
                    return None
                _check_nodes(node)
                return loader.construct_document(node)
            finally:
                loader.dispose()
        return yaml.load(text, Loader=BoundedLoader)
    except RecursionError:
        raise LimitError("nested too deeply", None) from None


def _flow_depth(text: str) -> int:
    """An upper bound on [ { nesting (quotes ignored): deep flow nesting takes the slow,
    guarded path, since libyaml's composer recurses on the C stack."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}" and depth:
            depth -= 1
    return deepest


def _check_nodes(root) -> None:
    """The composed graph within the limits: a node met again is an alias; walked once each."""
    seen: set[int] = set()
    aliases = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise LimitError(f"more than {MAX_ALIASES} aliases (*name); write the values "
                                 "out", node.start_mark)
            continue
        seen.add(id(node))
        if depth > MAX_DEPTH:
            raise LimitError(f"nested more than {MAX_DEPTH} levels deep", node.start_mark)
        if isinstance(node, yaml.MappingNode):
            stack += [(n, depth + 1) for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            stack += [(n, depth + 1) for n in node.value]


def describe(err: yaml.YAMLError, where: str, line_offset: int = 0, kind: str = "") -> str:
    """`file:line:col: YAML error: problem` — the one way every YAML problem is reported.

    `line_offset` is the number of lines before the document in its file (front matter).
    """
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    if mark is not None:
        where = f"{where}:{mark.line + 1 + line_offset}:{mark.column + 1}"
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return f"{where}: {kind + ' ' if kind else ''}YAML error: {problem}"


def as_date(value) -> dt.date | None:
    """A YAML date or datetime as the day it names (a datetime's own day); else None."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return None
