"""Query and sort helpers: ``from anyodm import query; query.and_(...)``.

Field expressions (``Book.pages > 100``) build the same queries; these functions take
the field first: ``query.gt(Book.pages, 100)``, ``query.desc(Book.pages)``.
"""

from anyodm.model.query import (
    FieldProxy,
    QueryExpression,
    SortExpression,
    all_,
    and_,
    asc,
    contains,
    desc,
    elem_match,
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

__all__ = [
    "FieldProxy",
    "QueryExpression",
    "SortExpression",
    "all_",
    "and_",
    "asc",
    "contains",
    "desc",
    "elem_match",
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
]
