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

    def construct_yaml_timestamp(self, node):
        try:
            value = super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            return self.construct_scalar(node)  # "2026-02-30": text, refused by the caller
        return value


BoundedLoader.add_constructor("tag:yaml.org,2002:timestamp",
                              BoundedLoader.construct_yaml_timestamp)


def load(text: str, limit: int = MAX_BYTES):
    """Parse one YAML document within the limits; yaml.YAMLError (or LimitError) otherwise."""
    if len(text) > limit:
        raise LimitError(f"{len(text) / 1000:.0f} kB is more than the {limit / 1000:.0f} kB "
                         "limit", None)
    try:
        return yaml.load(text, Loader=BoundedLoader)
    except RecursionError:
        raise LimitError("nested too deeply", None) from None


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
