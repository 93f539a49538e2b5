"""Text search: ``query.text(...)``, its relevance score and the checks around them.

``query.text("coffee shop")`` is a ``$text`` filter on the collection's text index, used
like any query (combined with others it stays at the top level of the filter, where
every server accepts it). ``query.text_score()`` sorts by relevance (``sort=``), and a
projection view field typed ``query.TextScore`` reads the score.

MongoDB allows one ``$text`` per query, not inside ``$nor`` or ``$elemMatch``; a sort or
projection on the score needs one. The combinators refuse the first cases when the
query is built (:mod:`anyodm.model.query`); :func:`check_text_search` refuses a score
without a search, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, cast

from anyodm.model.query import QueryExpression, SortExpression

__all__ = [
    "TEXT_SCORE",
    "TEXT_SCORE_SORT_KEY",
    "TextScore",
    "check_text_search",
    "has_text_search",
    "is_text_score",
    "sorts_by_text_score",
    "text",
    "text_score",
]

#: the ``$meta`` expression of a text search's relevance score
TEXT_SCORE: Final[Mapping[str, str]] = {"$meta": "textScore"}
#: the key a sort by relevance names (the server ignores it; chosen so that it never
#: meets a stored key of a sort by fields too)
TEXT_SCORE_SORT_KEY: Final = "__text_score"


class _TextScoreMarker:
    """Marks a projection view field as the text search's relevance score."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "TextScore"


#: A projection view field holding the relevance score of a text search
#: (``score: query.TextScore``): a ``float`` that the server computes, read with the
#: view; the search itself is ``query.text(...)`` in the find's filter.
TextScore = Annotated[float, _TextScoreMarker()]


def is_text_score(metadata: Any) -> bool:
    """Whether a field's metadata (pydantic ``FieldInfo.metadata``) marks a text score."""
    return any(isinstance(item, _TextScoreMarker) for item in metadata)


def _optional_bool(value: Any, name: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"query.text(): {name} must be True, False or None, not {value!r:.80}")
    return value


def text(
    search: str,
    *,
    language: str | None = None,
    case_sensitive: bool | None = None,
    diacritic_sensitive: bool | None = None,
) -> QueryExpression:
    """A text search on the collection's text index (``$text``): documents holding any
    of the words of ``search`` (``"\\"exact phrase\\""`` for a phrase, ``-word`` to
    exclude one), in the index's language unless ``language`` is given.

    ``case_sensitive`` / ``diacritic_sensitive``: ``None`` leaves the server's default
    (insensitive). One text search per query; not inside ``nor_`` or ``elem_match``.
    """
    if not isinstance(search, str):
        raise TypeError(f"query.text() searches a str, not {search!r:.80}")
    if language is not None and (not isinstance(language, str) or not language):
        raise TypeError(f"query.text(): language must be a language name, not {language!r:.80}")
    spec: dict[str, Any] = {"$search": search}
    if language is not None:
        spec["$language"] = language
    if _optional_bool(case_sensitive, "case_sensitive") is not None:
        spec["$caseSensitive"] = case_sensitive
    if _optional_bool(diacritic_sensitive, "diacritic_sensitive") is not None:
        spec["$diacriticSensitive"] = diacritic_sensitive
    return QueryExpression({"$text": spec})


def text_score() -> SortExpression:
    """Sort by the relevance of a text search, best first (``sort=query.text_score()``,
    alone or in a tuple with field sorts); the find's filter needs ``query.text``."""
    return SortExpression(cast(Mapping[str, int], {TEXT_SCORE_SORT_KEY: dict(TEXT_SCORE)}))


def has_text_search(filter_: Mapping[str, Any]) -> bool:
    """Whether a built filter holds a ``$text`` search (at its top level, where
    :func:`anyodm.model.query.all_of` keeps it, or in a logical operator)."""
    if "$text" in filter_:
        return True
    for key in ("$and", "$or"):
        parts = filter_.get(key)
        if isinstance(parts, list) and any(
            isinstance(part, Mapping) and has_text_search(part) for part in parts
        ):
            return True
    return False


def sorts_by_text_score(sort: list[tuple[str, Any]] | None) -> bool:
    """Whether a built sort orders by a text score (``{"$meta": "textScore"}``)."""
    return sort is not None and any(
        isinstance(direction, Mapping) and direction.get("$meta") == "textScore"
        for _, direction in sort
    )


def check_text_search(
    model: type[Any],
    filter_: Mapping[str, Any],
    sort: list[tuple[str, Any]] | None,
    reads_score: bool,
    operation: str,
) -> None:
    """``TypeError`` naming the operation and model if a sort or projection uses the
    text score while the filter holds no text search (MongoDB would refuse it)."""
    if not (reads_score or sorts_by_text_score(sort)) or has_text_search(filter_):
        return
    what = "projection reads" if reads_score else "sort uses"
    raise TypeError(
        f"{operation}() on {model.__name__}: the {what} the text score, which needs a "
        "text search in the filter (query.text(...))"
    )
