"""Aggregation helpers: ``from anyodm import pipeline``.

``pipeline.lookup_references(Book)`` gives the stages that load ``Book``'s references
the way ``find`` does (so ``aggregate(..., into=Book)`` can follow them);
``pipeline.field_path(Book.pages)`` is ``"$pages"``.  Field proxies may also be used
directly in stages passed to ``aggregate``.
"""

from anyodm.model.pipeline import field_path, lookup_references

__all__ = ["field_path", "lookup_references"]
