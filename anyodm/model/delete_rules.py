"""Which references constrain the delete of a model's documents
(``Reference(on_delete="deny" | "cascade")``), read from every model class the process
defined (no I/O).

A rule is declared on the referencing side and applies to the documents holding the
reference when their target is deleted.  The referencing models are found in
:mod:`anyodm.model.registry` on the first delete (they may be defined after the
target), cached until another model class is defined.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple
from weakref import WeakKeyDictionary

from anyodm.model.reference_paths import FieldStep, ReferencePath, reference_paths
from anyodm.model.registry import any_delete_rules, known_models, registry_version

if TYPE_CHECKING:
    from anyodm.model.model import Model

__all__ = ["IncomingRule", "cascades", "incoming_rules"]


class IncomingRule(NamedTuple):
    """A reference to the model with a delete rule: the model holding it (whose
    documents it constrains), its python path (dotted through embedded models), its
    stored path, and ``"deny"`` or ``"cascade"``."""

    source: type[Model]
    field: str
    key: str
    rule: str
    #: the discriminators of the source's polymorphic subclasses that declare this
    #: field again otherwise (another rule, target or type): not this rule's documents
    excluded: tuple[Any, ...] = ()


_cache: WeakKeyDictionary[type[Any], tuple[int, tuple[IncomingRule, ...]]] = WeakKeyDictionary()


def incoming_rules(model: type[Any]) -> tuple[IncomingRule, ...]:
    """The references with a rule other than ``"leave"`` that may point at documents
    of ``model`` (references to ``model``, to one of its bases or subclasses in its
    polymorphic family), each once per stored path: a polymorphic subclass's inherited
    reference is covered by its base's."""
    if not any_delete_rules():
        return ()
    version = registry_version()
    cached = _cache.get(model)
    if cached is None or cached[0] != version:
        cached = _cache[model] = (version, _compute(model))
    return cached[1]


def cascades(model: type[Any]) -> bool:
    """Whether deleting documents of ``model`` may delete others (a cascade rule)."""
    return any(rule.rule == "cascade" for rule in incoming_rules(model))


def _related(model: type[Any], target: type[Any]) -> bool:
    """Whether a reference to ``target`` may hold a key of a document of ``model``: one
    is the other's subclass, in one collection (a plain subclass, not polymorphic, has
    a collection of its own, where the same key is another document)."""
    if model.__anyodm__.collection != target.__anyodm__.collection:
        return False
    return issubclass(model, target) or issubclass(target, model)


def _paths_of(source: type[Any]) -> tuple[ReferencePath, ...]:
    """The source's reference paths; none for a class whose references cannot be
    resolved (a generic model's type variable, a forward reference not defined yet):
    such a class cannot hold stored references (saves and finds refuse it)."""
    try:
        return reference_paths(source)
    except (TypeError, NameError):
        return ()


def _compute(model: type[Any]) -> tuple[IncomingRule, ...]:
    found: list[tuple[type[Any], ReferencePath]] = []
    for source in known_models():
        for path in _paths_of(source):
            if path.on_delete != "leave" and _related(model, path.target):
                found.append((source, path))
    rules = []
    for source, path in found:
        if any(_covers(other, other_path, source, path) for other, other_path in found):
            continue
        field = ".".join(step.name for step in path.steps if isinstance(step, FieldStep))
        excluded = _redeclaring(source, path)
        rules.append(IncomingRule(source, field, path.dotted, path.on_delete, excluded))
    rules.sort(key=lambda rule: (rule.source.__qualname__, rule.key))
    return tuple(rules)


def _redeclaring(source: type[Any], path: ReferencePath) -> tuple[Any, ...]:
    """The discriminators of the subclasses of ``source`` in its polymorphic family
    that do not hold ``path`` as it is (they redeclared the field)."""
    family = source.__anyodm__.family
    if family is None:
        return ()
    return tuple(
        member.__anyodm__.discriminator
        for member in family.members_of(source)
        if member is not source and path not in _paths_of(member)
    )


def _covers(
    other: type[Any], other_path: ReferencePath, source: type[Any], path: ReferencePath
) -> bool:
    """Whether ``other`` is a proper base of ``source`` in its polymorphic family with
    the same reference: the documents of ``source`` are among ``other``'s."""
    family = source.__anyodm__.family
    return (
        other is not source
        and family is not None
        and other.__anyodm__.family is family
        and issubclass(source, other)
        and other_path == path
    )
