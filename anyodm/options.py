"""The options each operation accepts as keywords, as ``TypedDict`` s (for
``engine.find(Book, **options)`` with a typed ``options``), and the read preference type.
"""

from anyodm.core.options import (
    CountOptions,
    DistinctOptions,
    FindOneOptions,
    FindOptions,
    SaveOptions,
    WriteOptions,
)
from anyodm.model.concerns import ReadPreferenceMode

__all__ = [
    "CountOptions",
    "DistinctOptions",
    "FindOneOptions",
    "FindOptions",
    "ReadPreferenceMode",
    "SaveOptions",
    "WriteOptions",
]
