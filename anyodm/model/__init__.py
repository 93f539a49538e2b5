"""The model layer: pydantic models mapped to MongoDB documents, with no I/O.

``Model``, ``EmbeddedModel``, ``Field``, ``Reference``, ``Index``, the BSON field types,
and (in :mod:`anyodm.model.query`) the query and sort builders.
"""

from anyodm.model.bson_types import (
    Binary,
    Decimal128,
    Int64,
    ObjectId,
    Regex,
    WithBsonSerializer,
)
from anyodm.model.fields import BackReference, Field, Reference
from anyodm.model.index import Index
from anyodm.model.info import ModelInfo
from anyodm.model.kinds import TimeSeries, View
from anyodm.model.model import EmbeddedModel, Model, ODMConfigDict

__all__ = [
    "BackReference",
    "Binary",
    "Decimal128",
    "EmbeddedModel",
    "Field",
    "Index",
    "Int64",
    "Model",
    "ModelInfo",
    "ODMConfigDict",
    "ObjectId",
    "Reference",
    "Regex",
    "TimeSeries",
    "View",
    "WithBsonSerializer",
]
