"""Decoding and validating driver batches into models without holding the GIL for long.

Finds ask the driver for *undecoded* documents (``RawBSONDocument``: the bytes of each
document, cut out of the server's reply) and decode them here, ``SLICE`` documents at a
time, handing the GIL over between slices whenever ``HAND_OVER_EVERY`` has passed since
the last hand-over.  So a worker thread never holds the GIL for a whole server batch,
which may be thousands of documents: the driver's C decoder would hold it from the first
document to the last, and the event loop's thread, which needs the GIL to run at all,
would stall that long (CPython only forces a switch every 5 ms).  Reading raw documents
lets finds use the driver's own (large) batch sizes, one round trip for most results,
and still keep the loop responsive.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from bson import decode_all
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

__all__ = [
    "HAND_OVER_EVERY",
    "RAW_SLICE",
    "SLICE",
    "YieldingRawDocument",
    "decode_into",
    "raw_codec_options",
]

T = TypeVar("T")

#: Documents decoded and validated between two checks of the clock (~0.5 ms of work).
SLICE = 64
#: Raw documents cut out of a reply between two checks of the clock (~0.1 ms of work).
RAW_SLICE = 64
#: Longest stretch of decoding (seconds) before the GIL is handed over.  Each hand-over
#: costs the worker ~0.1 ms (more on a busy machine), so it is paced by time, not done
#: after every slice: the loop's stalls stay near this bound, at a few percent of cost.
HAND_OVER_EVERY = 0.001
#: A real (if tiny) sleep: ``sleep(0)`` gives the GIL back so fast that a waiting thread
#: rarely wins it; a few microseconds let the event loop's thread take its turn.
_PAUSE = 0.00002

_last = threading.local()  # .at: when this thread last handed the GIL over
_raw_made = itertools.count(1)


def _hand_over() -> None:
    """Let another thread (the event loop's) take the GIL."""
    time.sleep(_PAUSE)


def _hand_over_if_due() -> None:
    now = time.perf_counter()
    if now - getattr(_last, "at", 0.0) >= HAND_OVER_EVERY:
        _hand_over()
        _last.at = time.perf_counter()


class YieldingRawDocument(RawBSONDocument):
    """A ``RawBSONDocument`` that hands the GIL over while the driver makes many of them.

    The driver cuts a server reply into documents in C, holding the GIL for the whole
    reply (thousands of documents), except when it calls back into Python, as it does to
    make each of these: the hand-over keeps even a large reply from stalling the event
    loop for longer than ``HAND_OVER_EVERY``.
    """

    __slots__ = ()

    def __init__(
        self, bson_bytes: bytes | memoryview, codec_options: CodecOptions[Any] | None = None
    ) -> None:
        super().__init__(bson_bytes, codec_options)
        if not next(_raw_made) % RAW_SLICE:
            _hand_over_if_due()


def raw_codec_options(options: CodecOptions[Any]) -> CodecOptions[Any]:
    """``options`` returning undecoded documents (decoded later with ``options`` itself)."""
    return options.with_options(document_class=YieldingRawDocument)


def decode_into(
    out: list[T],
    raw_docs: Sequence[RawBSONDocument],
    codec_options: CodecOptions[Any],
    load: Callable[[Mapping[str, Any], bytes | memoryview], T],
) -> None:
    """Append ``load(decoded doc, its bytes)`` for each raw document, in order, slice by
    slice, handing the GIL over between slices when it is due."""
    append = out.append
    for start in range(0, len(raw_docs), SLICE):
        chunk = [doc.raw for doc in raw_docs[start : start + SLICE]]
        for doc, raw in zip(decode_all(b"".join(chunk), codec_options), chunk, strict=True):
            append(load(doc, raw))
        _hand_over_if_due()
