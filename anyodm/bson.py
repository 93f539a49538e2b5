"""ODMantic's ``odmantic.bson`` names: the BSON field types and ``WithBsonSerializer``.

``from odmantic.bson import Int64`` becomes ``from anyodm.bson import Int64``.
"""

from anyodm.model.bson_types import (
    Binary,
    Decimal128,
    Int64,
    ObjectId,
    Regex,
    WithBsonSerializer,
)

#: ODMantic's alias of ``Int64``
Long = Int64

__all__ = ["Binary", "Decimal128", "Int64", "Long", "ObjectId", "Regex", "WithBsonSerializer"]
