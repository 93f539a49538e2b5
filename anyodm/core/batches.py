"""Validating driver batches into models without holding the GIL for long.

A worker thread that decodes and validates a thousand documents in one go holds the
GIL for milliseconds; the event loop's thread, which needs the GIL to run at all, then
stalls for that long (CPython only forces a switch every 5 ms).  Reading small driver
batches (the driver decodes a batch in C, holding the GIL) and pausing every
``YIELD_EVERY`` validated documents keeps the loop's stalls well below that, at a
cost of a few microseconds per batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["YIELD_EVERY", "validate_into"]

T = TypeVar("T")

#: Documents decoded and validated between two hand-overs of the GIL.
YIELD_EVERY = 64
#: A real (if tiny) sleep: ``sleep(0)`` gives the GIL back so fast that a waiting thread
#: rarely wins it; a few microseconds let the event loop's thread take its turn.
_PAUSE = 0.00002


def validate_into(
    out: list[T],
    docs: list[Any],
    validate: Callable[[Mapping[str, Any]], T],
) -> None:
    """Append ``validate(doc)`` for each already decoded document, with the hand-overs."""
    append = out.append
    for start in range(0, len(docs), YIELD_EVERY):
        for doc in docs[start : start + YIELD_EVERY]:
            append(validate(doc))
        time.sleep(_PAUSE)
