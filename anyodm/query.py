"""Query and sort helpers: ``from anyodm import query; query.and_(...)``.

These functions take the field first: ``query.in_(Book.tags, ["sf"])``,
``query.desc(Book.pages)``. They build the same queries as the field proxies' methods
(``Book.tags.in_(["sf"])``, ``Book.pages.desc()``) and, unlike those, type-check: to a
type checker ``Book.pages`` is an ``int`` (see the typing page of the documentation).
``query.text(...)`` searches the collection's text index, ``query.text_score()`` sorts
by relevance and ``query.TextScore`` types a projection view field reading it.
"""

from anyodm.model.query import (
    FieldProxy,
    QueryExpression,
    QueryLike,
    SortExpression,
    all_,
    and_,
    asc,
    contains,
    desc,
    elem_match,
    embedded,
    eq,
    exists,
    gt,
    gte,
    in_,
    lt,
    lte,
    match,
    ne,
    nor_,
    not_in,
    or_,
    size,
)
from anyodm.model.text_search import TextScore, text, text_score

__all__ = [
    "FieldProxy",
    "QueryExpression",
    "QueryLike",
    "SortExpression",
    "TextScore",
    "all_",
    "and_",
    "asc",
    "contains",
    "desc",
    "elem_match",
    "embedded",
    "eq",
    "exists",
    "gt",
    "gte",
    "in_",
    "lt",
    "lte",
    "match",
    "ne",
    "nor_",
    "not_in",
    "or_",
    "size",
    "text",
    "text_score",
]
