"""Models whose references and back-references name classes defined after them; nothing
here is instantiated at import, so the first find resolves the forward references."""

from __future__ import annotations

from anyodm import BackReference, EmbeddedModel, Field, Model, Reference


class Pen(Model):
    name: str
    letters: list[Letter] = BackReference("folds.by")


class Letter(Model):
    folds: list[Fold] = Field(default_factory=list)
    stamp: Stamp | None = Reference(default=None)


class Fold(EmbeddedModel):
    by: Pen = Reference()


class Stamp(Model):
    value: int
