"""What you save is what is stored: a stateful property test of saved state (S8, S10).

Hypothesis runs random sequences of operations on a few models (``models.py``):
creating instances, loading and reloading them, copying them (same key, new key,
shallow, deep), changing them in place at any depth (nested dicts and lists, embedded
models, lists of references, extra fields) or by assignment, ``save``, ``save_all``,
``update_one``, ``find_one_and_update`` (after and before images), ``delete``,
``remove``, transactions that commit or abort, and ``with_transaction`` whose callback
fails once with a transient error.

Beside the database, the test keeps a model of what it must hold: each document, as
BSON, and for each Python instance the document anyodm must remember for it: the one it
was loaded or last saved as, or none (fresh, deleted, a before-image returned by
``find_one_and_update``, loaded in an aborted transaction), in which case the next save
writes it whole (an upsert).  A save writes exactly the top-level fields whose BSON
differs from what the instance remembers (so two instances that change different fields
both survive), and nothing when none does.  After every step each collection, read with
PyMongo, must hold exactly the predicted documents; after a save of an instance that was
current, the stored document must equal its ``model_dump_doc()``; a load must give the
stored document (a missing optional reference as None); a save with nothing to send
must send no write (counted by a PyMongo ``CommandListener``).  Transactions follow S8:
what an aborted one did is forgotten, what a committed one did counts.

The test uses anyodm's public API only (and PyMongo to read the database), so it holds
however anyodm keeps saved state.  It runs on ``SyncEngine`` and on ``Engine`` under
asyncio and under trio (the async engine is driven through an anyio blocking portal).

Each engine kind runs 50 examples of 30 steps by default (about ten seconds).  To
search longer::

    ANYODM_PROPERTY_EXAMPLES=1000 scripts/run-tests 3.13 tests/properties

``ANYODM_PROPERTY_STEPS`` sets the number of steps per example.  A failure is printed
as the steps that lead to it, with what each did; shrinking it to a short sequence may
take Hypothesis a few minutes, and a rerun replays it first (from ``.hypothesis/``).
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
import bson
import pymongo
import pytest
from hypothesis import HealthCheck, event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from pymongo import monitoring
from pymongo.errors import OperationFailure

from anyodm import (
    DocumentNotFoundError,
    DocumentParsingError,
    DuplicateKeyError,
    Engine,
    Model,
    ObjectId,
    RevisionConflictError,
    SyncEngine,
    WrittenDocumentParsingError,
    update,
)
from tests.properties.models import (
    COLLECTION_MODELS,
    Circle,
    Ledger,
    Loose,
    Part,
    Person,
    Polygon,
    Record,
    Shape,
)

T = TypeVar("T")

EXAMPLES = int(os.environ.get("ANYODM_PROPERTY_EXAMPLES") or 50)
STEPS = int(os.environ.get("ANYODM_PROPERTY_STEPS") or 30)
#: a pass takes about 0.2 s an example; Hypothesis shrinks a failure for up to 5 minutes
TIMEOUT = 420 + EXAMPLES

SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

#: the stored key of the revision of optimistic concurrency (documented, reserved)
REVISION = "_rev"

# -- BSON, the one form compared ---------------------------------------------------------
#
# Every value is compared as its BSON encoding: an int, a float and a bool that Python
# calls equal (1, 1.0, True; 0.0 and -0.0) are different stored values, and so are two
# embedded documents with their keys in another order.  The order of top-level keys is
# not compared (a $set of a new field appends it).

Fields = dict[str, bytes]


def enc(value: Any) -> bytes:
    return bson.encode({"v": value})


def dec(raw: bytes) -> Any:
    return bson.decode(raw)["v"]


def fields_of(doc: Mapping[str, Any]) -> Fields:
    """A document's top-level fields, each as BSON (without the revision)."""
    return {key: enc(value) for key, value in doc.items() if key != REVISION}


def dump_fields(instance: Model) -> Fields:
    return fields_of(instance.model_dump_doc())


def show(raw: bytes | None) -> str:
    return "<absent>" if raw is None else repr(dec(raw))


def describe_difference(expected: Mapping[str, bytes], actual: Mapping[str, bytes]) -> str:
    lines = []
    for key in sorted(set(expected) | set(actual)):
        want, got = expected.get(key), actual.get(key)
        if want != got:
            same_repr = (
                " (same repr: BSON type or key order differs)" if show(want) == show(got) else ""
            )
            lines.append(f"    {key}: expected {show(want)}, stored {show(got)}{same_repr}")
    return "\n".join(lines)


# -- the model of the database and of what each instance remembers -----------------------


@dataclass(frozen=True)
class Known:
    """The instance is known to be stored as ``fields`` (at ``version``)."""

    fields: Mapping[str, bytes]
    version: int


#: what an instance remembers: a stored document, or None — nothing known to be stored
#: (fresh, deleted, a before-image, loaded in an aborted transaction): the next save
#: writes the whole document (an upsert).
Baseline = Optional[Known]  # noqa: UP045 - a runtime alias, kept valid on Python 3.10


@dataclass
class Stored:
    model: type[Model]
    fields: Fields
    #: bumped by every write; an optimistic-concurrency write conflicts unless the
    #: instance knows the current version
    version: int


class Tracked:
    """One Python instance the test follows (hashed by identity)."""

    def __init__(self, inst: Model, key: Any, name: str) -> None:
        self.inst = inst
        self.key = key
        self.name = name

    def __repr__(self) -> str:
        return self.name


@dataclass
class World:
    docs: dict[Any, Stored]
    baselines: dict[Tracked, Baseline]

    def copy(self) -> World:
        docs = {k: Stored(s.model, dict(s.fields), s.version) for k, s in self.docs.items()}
        return World(docs, dict(self.baselines))


@dataclass
class Write:
    """One instance's part of a save, as predicted."""

    tracked: Tracked
    error: tuple[type[Exception], ...]
    writes: bool
    #: the instance remembered the stored document: after the save, stored == dump
    current: bool


def revised(model: type[Model]) -> bool:
    return issubclass(model, Ledger)


def collection_model(model: type[Model]) -> type[Model]:
    return next(root for root in COLLECTION_MODELS if issubclass(model, root))


def referenced(instance: Model) -> list[Model]:
    """The instances a save of ``instance`` reaches through references."""
    if isinstance(instance, Record):
        found: list[Model] = [] if instance.owner is None else [instance.owner]
        return [*found, *instance.people]
    return []


#: in predicted changes: a field the save removes (an extra field no longer on the instance)
REMOVED: Any = object()


def keeps_extras(model: type[Model]) -> bool:
    """A model whose stored fields are all on the instance (``extra="allow"``): a save
    removes what the instance no longer has, and an upsert of it replaces the document."""
    return issubclass(model, Loose)


def changes(world: World, tracked: Tracked) -> Fields | None:
    """The fields a save sends (None: the whole document; ``REMOVED``: unset)."""
    baseline = world.baselines[tracked]
    dump = dump_fields(tracked.inst)
    if baseline is None:
        return None
    changed = {k: v for k, v in dump.items() if k != "_id" and baseline.fields.get(k) != v}
    if keeps_extras(type(tracked.inst)):
        changed.update({k: REMOVED for k in baseline.fields if k not in dump and k != "_id"})
    return changed


def _applied(fields: Fields, changed: Fields) -> Fields:
    merged = {**fields, **changed}
    return {k: v for k, v in merged.items() if v is not REMOVED}


def simulate_save(world: World, tracked: Tracked, in_tx: bool = False) -> Write:
    """Predict one instance's save, applying it to ``world``."""
    model = type(tracked.inst)
    dump = dump_fields(tracked.inst)
    baseline = world.baselines[tracked]
    stored = world.docs.get(tracked.key)
    if baseline is not None:
        current = (
            stored is not None
            and dict(baseline.fields) == stored.fields
            and baseline.version == stored.version
        )
        changed = changes(world, tracked)
        assert changed is not None
        if not changed:
            return Write(tracked, (), False, current)
        if revised(model) and (stored is None or stored.version != baseline.version):
            return Write(tracked, (RevisionConflictError,), False, current)
        if stored is None:  # deleted meanwhile: the upsert stores it whole
            new = Stored(model, dict(dump), 1)
        else:
            new = Stored(stored.model, _applied(stored.fields, changed), stored.version + 1)
    else:
        current = stored is None or keeps_extras(model) or stored.fields.keys() <= dump.keys()
        if stored is not None and revised(model):
            return Write(tracked, (RevisionConflictError, DuplicateKeyError), False, current)
        if stored is not None and in_tx and "id" not in tracked.inst.model_fields_set:
            # a fresh instance is inserted; outside a transaction the insert that meets
            # its key is sent again as an upsert, inside one the write error ends it
            return Write(tracked, (DuplicateKeyError,), False, current)
        if stored is None or keeps_extras(model):  # stored whole (replaced)
            new = Stored(model, dict(dump), 1 if stored is None else stored.version + 1)
        else:
            new = Stored(stored.model, {**stored.fields, **dump}, stored.version + 1)
    world.docs[tracked.key] = new
    world.baselines[tracked] = Known(dump, new.version)
    return Write(tracked, (), True, current)


# -- values ------------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c"])
TEXT = st.text(alphabet="xyz", max_size=3)
#: lookalikes on purpose: 1, 1.0 and True are three stored values, so are 0.0 and -0.0
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, 1, -1, 2, 2**31, 2**40]),
    st.sampled_from([0.0, -0.0, 1.0, 0.5, 2.0]),
    TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=6,
)
#: containers in containers, so that changes in place are often deep down
NESTED = st.lists(JSON, min_size=1, max_size=2) | st.dictionaries(
    KEYS, JSON, min_size=1, max_size=2
)
DICTS = st.dictionaries(KEYS, NESTED | JSON, max_size=3)
FLOATS = st.sampled_from([0.0, -0.0, 1.0, 0.5, 2.5])
PARTS = st.builds(Part, label=TEXT, qty=st.integers(0, 3), notes=st.lists(TEXT, max_size=2))
EXTRA_NAMES = ("x1", "x2")

FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": TEXT,
    "title": TEXT,
    "label": TEXT,
    "count": st.integers(-2, 5),
    "radius": st.integers(0, 5),
    "ratio": FLOATS,
    "meta": DICTS,
    "items": st.lists(DICTS, max_size=2),
    "part": PARTS,
    "parts": st.lists(PARTS, max_size=2),
    "sides": st.lists(PARTS, max_size=2),
    "x1": JSON,
    "x2": JSON,
}

ASSIGNABLE: dict[type[Model], tuple[str, ...]] = {
    Person: ("name",),
    Record: (
        "title",
        "count",
        "ratio",
        "meta",
        "items",
        "part",
        "parts",
        "owner",
        "people",
    ),
    Loose: ("label", *EXTRA_NAMES),
    Circle: ("name", "meta", "radius"),
    Polygon: ("name", "meta", "sides"),
    Ledger: ("label", "count", "meta"),
}

#: the string field ``remove`` filters on, per collection
NAME_FIELD: dict[type[Model], str] = {
    Person: "name",
    Record: "title",
    Loose: "label",
    Shape: "name",
    Ledger: "label",
}

KINDS = ("Person", "Record", "Loose", "Circle", "Polygon", "Ledger")


def recent(items: Sequence[T]) -> st.SearchStrategy[T]:
    """One of ``items``, the last few (the most recent) as often as all the others: the
    steps of an example then often work on the same instances and documents."""
    if len(items) <= 3:
        return st.sampled_from(items)
    return st.sampled_from(items[-3:]) | st.sampled_from(items)


def containers_in(value: Any) -> list[Any]:
    """Every dict and list in ``value``, each once, ``value`` itself last (the shrinker
    prefers the first: a change deep down)."""
    found: list[Any] = []

    def walk(item: Any) -> None:
        if isinstance(item, (dict, list)) and not any(item is seen for seen in found):
            found.append(item)
            for child in item.values() if isinstance(item, dict) else item:
                walk(child)

    walk(value)
    return found[::-1]


def mutate_json(data: st.DataObject, root: Any, root_items: st.SearchStrategy[Any]) -> str:
    """Change one dict or list somewhere in ``root``, in place; ``root_items`` are the
    values the root list may hold."""
    target = data.draw(st.sampled_from(containers_in(root)), label="container")
    before = repr(target)
    element = root_items if target is root and isinstance(root, list) else JSON
    if isinstance(target, dict):
        operation = data.draw(st.sampled_from(["set", "del"] if target else ["set"]))
        if operation == "set":
            key = data.draw(KEYS, label="key")
            target[key] = data.draw(JSON, label="value")
        else:
            del target[data.draw(st.sampled_from(sorted(target)), label="key")]
    else:
        choices = ["append", "replace", "pop"] if target else ["append"]
        operation = data.draw(st.sampled_from(choices))
        if operation == "append":
            target.append(data.draw(element, label="value"))
        elif operation == "replace":
            index = data.draw(st.integers(0, len(target) - 1), label="index")
            target[index] = data.draw(element, label="value")
        else:
            target.pop()
    return f"{before} -> {target!r}"


def transient_error() -> OperationFailure:
    return OperationFailure(
        "write conflict (simulated)",
        code=112,
        details={"errorLabels": ["TransientTransactionError"]},
    )


class _Abort(Exception):
    """Raised in a transaction block to abort it."""


class _Skip(Exception):
    """The step cannot be predicted (or must not run in a transaction): nothing was sent."""


# -- engines -----------------------------------------------------------------------------

#: commands that cannot change what the database holds
READ_COMMANDS = frozenset(
    {"find", "aggregate", "getMore", "count", "killCursors", "endSessions", "hello", "ping"}
)


class WriteCounter(monitoring.CommandListener):
    """Records the insert and update commands sent (through any session), and counts
    every command that may change the database."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.changes = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name in ("insert", "update"):
            self.sent.append(name)
        if name not in READ_COMMANDS:
            self.changes += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def _invoke(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    result = func(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


class Blocking:
    """An async engine, session or transaction, its methods called from a thread."""

    def __init__(self, target: Any, call: Callable[..., Any]) -> None:
        self._target = target
        self._call = call

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def method(*args: Any, **kwargs: Any) -> Any:
            return self._call(_invoke, attribute, args, kwargs)

        return method


class Driver:
    """One engine kind, used through blocking calls with the same shapes."""

    kind: str
    engine: Any
    database: Any
    counter: WriteCounter

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        raise NotImplementedError

    def with_transaction(self, body: Callable[[Any], None]) -> None:
        raise NotImplementedError

    def collection(self, model: type[Model]) -> Any:
        return self.database[self.names[collection_model(model)]]

    names: dict[type[Model], str]


class SyncDriver(Driver):
    def __init__(self, engine: SyncEngine, database: Any, counter: WriteCounter) -> None:
        self.kind = "sync"
        self.engine = engine
        self.database = database
        self.counter = counter
        self.names = {m: engine.get_collection(m).name for m in COLLECTION_MODELS}

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        tx: contextlib.AbstractContextManager[Any] = self.engine.transaction()
        return tx

    def with_transaction(self, body: Callable[[Any], None]) -> None:
        self.engine.with_transaction(body)


class AsyncDriver(Driver):
    def __init__(
        self,
        kind: str,
        engine: Engine,
        portal: anyio.from_thread.BlockingPortal,
        database: Any,
        counter: WriteCounter,
    ) -> None:
        self.kind = kind
        self.raw = engine
        self.portal = portal
        self.engine = Blocking(engine, portal.call)
        self.database = database
        self.counter = counter
        self.names = {m: engine.get_collection(m).name for m in COLLECTION_MODELS}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.portal.wrap_async_context_manager(self.raw.transaction()) as tx:
            yield Blocking(tx, self.portal.call)

    def with_transaction(self, body: Callable[[Any], None]) -> None:
        async def callback(tx: Any) -> None:
            await anyio.to_thread.run_sync(body, Blocking(tx, anyio.from_thread.run))

        self.portal.call(self.raw.with_transaction, callback)


@contextlib.contextmanager
def open_driver(kind: str, uri: str, database_name: str) -> Iterator[Driver]:
    counter = WriteCounter()
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        uri, event_listeners=[counter]
    )
    database = client[database_name]
    try:
        if kind == "sync":
            yield SyncDriver(SyncEngine(client=client, database=database_name), database, counter)
            return
        with anyio.from_thread.start_blocking_portal(kind) as portal:
            engine = Engine(client=client, database=database_name)
            try:
                yield AsyncDriver(kind, engine, portal, database, counter)
            finally:
                portal.call(engine.aclose)
    finally:
        client.close()


# -- the machine ---------------------------------------------------------------------------


class SavedStateMachine(RuleBasedStateMachine):
    driver: ClassVar[Driver]

    def __init__(self) -> None:
        super().__init__()
        for model in COLLECTION_MODELS:
            self.driver.collection(model).delete_many({})
        self.world = World({}, {})
        self.doc_names: dict[Any, str] = {}
        self.instance_counts: dict[Any, int] = {}
        self.kind_counts: dict[str, int] = {}
        #: keys of documents deleted at some point (a revised one is not inserted again)
        self.deleted: set[Any] = set()
        #: what the last database check verified: (commands that may change it, docs)
        self.verified: tuple[int, dict[Any, tuple[type[Model], Fields]]] | None = None

    # -- bookkeeping -----------------------------------------------------------------------

    @property
    def engine(self) -> Any:
        return self.driver.engine

    def tracked(self, *kinds: type[Model]) -> list[Tracked]:
        return [t for t in self.world.baselines if not kinds or isinstance(t.inst, kinds)]

    def tracked_of(self, instance: Model) -> Tracked:
        for t in self.world.baselines:
            if t.inst is instance:
                return t
        raise AssertionError(f"test bug: {instance!r} is not tracked")

    def is_tracked(self, instance: Model) -> bool:
        return any(t.inst is instance for t in self.world.baselines)

    def adopt(self, instance: Model, baseline: Baseline, how: str) -> Tracked:
        key = instance.id
        if key not in self.doc_names:
            kind = type(instance).__name__
            number = self.kind_counts[kind] = self.kind_counts.get(kind, 0) + 1
            self.doc_names[key] = f"{kind}{number}"
        count = self.instance_counts[key] = self.instance_counts.get(key, 0) + 1
        tracked = Tracked(instance, key, f"{self.doc_names[key]}#{count}")
        self.world.baselines[tracked] = baseline
        note(f"  {tracked} = {how}")
        return tracked

    def adopt_loaded(self, instance: Model, stored: Stored | None, how: str) -> Tracked:
        """A loaded instance (``stored``: what it was loaded as; None for a before-image,
        which is not known stored) and the referenced instances loaded with it."""
        baseline = None if stored is None else Known(dict(stored.fields), stored.version)
        tracked = self.adopt(instance, baseline, how)
        for target in referenced(instance):
            if not self.is_tracked(target):
                target_doc = self.world.docs[target.id]
                self.adopt(
                    target,
                    Known(dict(target_doc.fields), target_doc.version),
                    f"loaded with {tracked}",
                )
        return tracked

    def pick(self, data: st.DataObject, *kinds: type[Model]) -> Tracked:
        return data.draw(recent(self.tracked(*kinds)), label="instance")

    def pick_document(self, data: st.DataObject) -> Any:
        keys = {self.doc_names[key]: key for key in self.world.docs}
        return keys[data.draw(recent(list(keys)), label="document")]

    def draw_person(self, data: st.DataObject) -> Person:
        people = [t.inst for t in self.tracked(Person)]
        existing = bool(people) and data.draw(st.booleans(), label="an existing person")
        if existing:
            person = data.draw(st.sampled_from(people), label="person")
            assert isinstance(person, Person)
            return person
        person = Person(name=data.draw(TEXT, label="name"))
        self.adopt(person, None, "new Person (unsaved)")
        return person

    def missing_people(self, stored: Stored, world: World | None = None) -> bool:
        """A Record whose list of references names a missing Person does not load."""
        world = world or self.world
        if not issubclass(stored.model, Record):
            return False
        return any(not self.is_person_doc(world, key) for key in dec(stored.fields["people"]))

    @staticmethod
    def is_person_doc(world: World, key: Any) -> bool:
        stored = world.docs.get(key)
        return stored is not None and issubclass(stored.model, Person)

    def expected_load(self, stored: Stored) -> Fields:
        """What ``model_dump_doc()`` of an instance loaded from ``stored`` gives: the
        stored document, a missing optional reference loaded as None."""
        fields = dict(stored.fields)
        if issubclass(stored.model, Record):
            owner = dec(fields["owner"])
            if owner is not None and not self.is_person_doc(self.world, owner):
                fields["owner"] = enc(None)
        return fields

    def clean_and_current(self, tracked: Tracked) -> bool:
        baseline = self.world.baselines[tracked]
        stored = self.world.docs.get(tracked.key)
        return (
            baseline is not None
            and stored is not None
            and dict(baseline.fields) == stored.fields
            and baseline.version == stored.version
            and dump_fields(tracked.inst) == stored.fields
        )

    def read(self, model: type[Model], key: Any, session: Any = None) -> Fields | None:
        doc = self.driver.collection(model).find_one({"_id": key}, session=session)
        return None if doc is None else fields_of(doc)

    # -- operations (outside or inside a transaction: ``ops`` is the engine or the tx) --

    def run_saves(self, ops: Any, roots: Sequence[Tracked], *, many: bool, in_tx: bool) -> None:
        trial = self.world.copy()
        writes = self.plan_saves(trial, roots, in_tx)
        if writes is None:
            note("    (skipped: not predictable, see plan_saves)")
            raise _Skip
        error = writes[-1].error if writes else ()
        if error and in_tx:
            note("    (skipped in a transaction: it would fail)")
            raise _Skip
        self.driver.counter.sent.clear()
        try:
            if many:
                ops.save_all([t.inst for t in roots])
            else:
                ops.save(roots[0].inst)
        except Exception as exc:
            if not error or not isinstance(exc, error):
                raise
            note(f"    raised {type(exc).__name__}, as predicted")
        else:
            assert not error, f"the save should have raised {error[0].__name__}"
        sent = len(self.driver.counter.sent)
        operation = ("tx." if in_tx else "") + ("save_all" if many else "save")
        if error:
            event(f"{operation}: raised, as predicted")
        else:
            event(f"{operation}: {'wrote' if sent else 'nothing to send'}")
        if not error:
            if any(w.writes for w in writes):
                written = [w.tracked for w in writes if w.writes]
                assert sent > 0, f"the save sent no write, but {written} had changes to send"
            else:
                assert sent == 0, (
                    f"a save with nothing to send sent {self.driver.counter.sent} "
                    f"(instances: {[w.tracked for w in writes]})"
                )
        self.world = trial
        if in_tx:
            return
        keys = [w.tracked.key for w in writes if w.writes]
        raised = f" (it raised {error[0].__name__} for {writes[-1].tracked})" if error else ""
        for w in writes:
            if w.writes and w.current and keys.count(w.tracked.key) == 1:
                stored = self.read(type(w.tracked.inst), w.tracked.key)
                dump = dump_fields(w.tracked.inst)
                assert stored == dump, (
                    f"after {operation}{raised}, the stored document of {w.tracked} is not "
                    f"its model_dump_doc():\n{describe_difference(dump, stored or {})}"
                )

    def plan_saves(
        self, world: World, roots: Sequence[Tracked], in_tx: bool = False
    ) -> list[Write] | None:
        """Predict a save (of several roots: save_all): the referenced instances with
        changes first, then the roots, each once; None if the order is unknowable."""
        unique: list[Tracked] = []
        for t in roots:
            if t not in unique:
                unique.append(t)
        reached: list[Tracked] = []
        for t in unique:
            for target in referenced(t.inst):
                ref = self.tracked_of(target)
                if ref not in reached and ref not in unique:
                    reached.append(ref)
        changing = [t for t in reached if changes(world, t) != {}]
        if len({t.key for t in changing}) != len(changing):
            return None  # two instances of one document: their order is anyodm's
        writes = []
        for t in [*changing, *unique]:
            if (
                revised(type(t.inst))
                and world.baselines[t] is None
                and t.key in self.deleted
                and t.key not in world.docs
            ):
                # it would be inserted again at revision 1, a revision instances loaded
                # before the delete may know: optimistic concurrency cannot tell them apart
                return None
            write = simulate_save(world, t, in_tx)
            writes.append(write)
            if write.error:
                break
        return writes

    def run_delete(self, ops: Any, tracked: Tracked, *, in_tx: bool) -> None:
        baseline = self.world.baselines[tracked]
        stored = self.world.docs.get(tracked.key)
        outcomes: list[tuple[type[Exception] | None, bool]]  # (error, deleted)
        if stored is None:
            outcomes = [(DocumentNotFoundError, False)]
        elif revised(type(tracked.inst)) and baseline is not None:
            current = baseline.version == stored.version
            outcomes = [(None, True)] if current else [(RevisionConflictError, False)]
        elif revised(type(tracked.inst)):
            # nothing known stored: a revision check is as right as none
            outcomes = [(None, True), (RevisionConflictError, False)]
        else:
            outcomes = [(None, True)]
        if in_tx and (len(outcomes) > 1 or outcomes[0][0] is not None):
            note("    (skipped in a transaction: it would fail)")
            raise _Skip
        observed: type[Exception] | None = None
        try:
            ops.delete(tracked.inst)
        except (DocumentNotFoundError, RevisionConflictError) as exc:
            observed = type(exc)
            note(f"    raised {observed.__name__}")
        matching = [
            (error, deleted)
            for error, deleted in outcomes
            if (error is None) == (observed is None)
            and (observed is None or error is None or issubclass(observed, error))
        ]
        assert matching, f"delete({tracked}): expected {outcomes}, got {observed}"
        error, deleted = matching[0]
        event(f"delete: {'deleted' if deleted else error.__name__ if error else '?'}")
        if deleted:
            del self.world.docs[tracked.key]
            self.deleted.add(tracked.key)
        if error is not RevisionConflictError:
            self.world.baselines[tracked] = None  # deleted (or not there): unsaved

    def run_load(self, ops: Any, key: Any, model: type[Model], how: str) -> Tracked | None:
        stored = self.world.docs.get(key)
        visible = stored is not None and issubclass(stored.model, model)
        if stored is not None and visible and self.missing_people(stored):
            with pytest.raises(DocumentParsingError):
                ops.find_one(model, model.id == key)
            note("    raised DocumentParsingError (a listed Person is missing), as predicted")
            return None
        found = ops.find_one(model, model.id == key)
        if stored is None or not visible:
            assert found is None, f"find_one({model.__name__}) found a document not stored"
            return None
        assert type(found) is stored.model
        expected = self.expected_load(stored)
        loaded = dump_fields(found)
        assert loaded == expected, (
            f"{how}: the loaded instance is not the stored document:\n"
            f"{describe_difference(expected, loaded)}"
        )
        return self.adopt_loaded(found, stored, how)

    def draw_server_update(
        self, data: st.DataObject, model: type[Model]
    ) -> tuple[str, Any, Callable[[Fields], Fields]]:
        """An update (described, as sent, as applied to stored fields) for ``model``."""

        def set_to(key: str, value: Any) -> Callable[[Fields], Fields]:
            return lambda fields: {**fields, key: enc(value)}

        def add(key: str, amount: int) -> Callable[[Fields], Fields]:
            return lambda fields: {**fields, key: enc(dec(fields[key]) + amount)}

        def push(key: str, value: Any) -> Callable[[Fields], Fields]:
            return lambda fields: {**fields, key: enc([*dec(fields[key]), value])}

        choices: list[str] = []
        if issubclass(model, Person):
            choices = ["name"]
        elif issubclass(model, Record):
            choices = ["title", "count", "items", "meta", "part.qty", "parts"]
        elif issubclass(model, Loose):
            choices = ["label", "extra"]
        elif issubclass(model, Shape):
            choices = ["name", "meta", *(["radius"] if model is Circle else [])]
            choices += ["sides"] if model is Polygon else []
        elif issubclass(model, Ledger):
            choices = ["label", "count", "meta"]
        choice = data.draw(st.sampled_from(choices), label="server update")
        proxy: Any = model
        if choice in ("name", "title", "label"):
            text = data.draw(TEXT, label="value")
            op = update.set(getattr(proxy, choice), text)
            return f"set {choice}={text!r}", op, set_to(choice, text)
        if choice in ("count", "radius"):
            amount = data.draw(st.integers(-2, 3), label="amount")
            return (
                f"inc {choice} by {amount}",
                update.inc(getattr(proxy, choice), amount),
                add(choice, amount),
            )
        if choice == "meta":
            meta = data.draw(DICTS, label="value")
            return f"set meta={meta!r}", update.set(proxy.meta, meta), set_to("meta", meta)
        if choice == "items":
            item = data.draw(DICTS, label="value")
            return f"push items {item!r}", update.push(proxy.items, item), push("items", item)
        if choice in ("parts", "sides"):
            part = data.draw(PARTS, label="part")
            op = update.push(getattr(proxy, choice), part)
            return f"push {choice} {part!r}", op, push(choice, part.model_dump_doc())
        if choice == "part.qty":
            qty = data.draw(st.integers(0, 5), label="qty")

            def set_qty(fields: Fields) -> Fields:
                part = dec(fields["part"])
                part["qty"] = qty
                return {**fields, "part": enc(part)}

            return f"set part.qty={qty}", update.set(Record.part.qty, qty), set_qty
        assert choice == "extra"
        name = data.draw(st.sampled_from(EXTRA_NAMES), label="extra")
        value = data.draw(JSON, label="value")
        raw = {"$set": {name: value}}
        return f"raw {raw!r}", raw, set_to(name, value)

    def target_of_update(self, data: st.DataObject) -> tuple[Any, type[Model]]:
        tracked = self.pick(data)
        stored = self.world.docs.get(tracked.key)
        return tracked.key, type(tracked.inst) if stored is None else stored.model

    def run_update_one(self, ops: Any, data: st.DataObject) -> None:
        key, model = self.target_of_update(data)
        what, op, apply = self.draw_server_update(data, model)
        note(f"  update_one({self.doc_names[key]}: {what})")
        stored = self.world.docs.get(key)
        result = ops.update_one(model, model.id == key, update=op)
        assert result.matched == (0 if stored is None else 1)
        if stored is not None:
            stored.fields = apply(stored.fields)
            stored.version += 1

    def mutate_in_place(self, data: st.DataObject, tracked: Tracked) -> None:
        inst: Any = tracked.inst
        options: list[str] = []
        if isinstance(inst, (Record, Shape, Ledger)):
            options.append("meta")
        if isinstance(inst, Record):
            options += ["items", "part", "parts", "people"]
        if isinstance(inst, Polygon):
            options.append("sides")
        if isinstance(inst, Loose):
            extras = inst.model_extra or {}
            options += [n for n in EXTRA_NAMES if isinstance(extras.get(n), (dict, list))]
        if not options:
            note(f"  ({tracked}: nothing to change in place)")
            return
        where = data.draw(st.sampled_from(options), label="in place")
        if where == "meta":
            change = mutate_json(data, inst.meta, DICTS)
        elif where == "items":
            change = mutate_json(data, inst.items, DICTS)
        elif where in EXTRA_NAMES:
            change = mutate_json(data, (inst.model_extra or {})[where], JSON)
        elif where == "part":
            change = self.mutate_part(data, inst.part)
        elif where in ("parts", "sides"):
            parts: list[Part] = getattr(inst, where)
            operation = data.draw(
                st.sampled_from(["append", "pop", "item"] if parts else ["append"])
            )
            if operation == "append":
                part = data.draw(PARTS, label="part")
                parts.append(part)
                change = f"append {part!r}"
            elif operation == "pop":
                change = f"pop {parts.pop()!r}"
            else:
                index = data.draw(st.integers(0, len(parts) - 1), label="index")
                change = f"[{index}]: " + self.mutate_part(data, parts[index])
        else:
            people: list[Person] = inst.people
            if bool(people) and data.draw(st.booleans(), label="pop"):
                change = f"pop {self.tracked_of(people.pop())}"
            else:
                person = self.draw_person(data)
                people.append(person)
                change = f"append {self.tracked_of(person)}"
        note(f"  {tracked}.{where} in place: {change}")

    def mutate_part(self, data: st.DataObject, part: Part) -> str:
        operation = data.draw(st.sampled_from(["qty", "label", "notes"]), label="part change")
        if operation == "qty":
            part.qty = data.draw(st.integers(0, 5), label="qty")
            return f"qty={part.qty}"
        if operation == "label":
            part.label = data.draw(TEXT, label="label")
            return f"label={part.label!r}"
        note_text = data.draw(TEXT, label="note")
        part.notes.append(note_text)
        return f"notes.append({note_text!r})"

    def assign(self, data: st.DataObject, tracked: Tracked) -> None:
        inst: Any = tracked.inst
        name = data.draw(st.sampled_from(ASSIGNABLE[type(inst)]), label="field")
        if name == "owner":
            value: Any = self.draw_person(data) if data.draw(st.booleans(), label="owner") else None
        elif name == "people":
            value = [self.draw_person(data) for _ in range(data.draw(st.integers(0, 2)))]
        else:
            value = data.draw(FIELD_VALUES[name], label="value")
        extras = inst.__pydantic_extra__
        if name in EXTRA_NAMES and extras and name in extras and data.draw(st.booleans()):
            del extras[name]  # an extra field removed: the save removes it too
            note(f"  del {tracked}.{name}")
            return
        setattr(inst, name, value)
        if isinstance(value, Model):
            shown = repr(self.tracked_of(value))
        elif name == "people":
            shown = repr([self.tracked_of(p) for p in value])
        else:
            shown = repr(value)
        note(f"  {tracked}.{name} = {shown}")

    def draw_new(
        self,
        data: st.DataObject,
        kind: str,
        *,
        owner: Person | None = None,
        people: list[Person] | None = None,
    ) -> Model:
        if kind == "Person":
            return Person(name=data.draw(TEXT, label="name"))
        if kind == "Record":
            if owner is None and data.draw(st.booleans(), label="owner"):
                owner = self.draw_person(data)
            if people is None:
                people = [self.draw_person(data) for _ in range(data.draw(st.integers(0, 2)))]
            return Record(
                title=data.draw(TEXT, label="title"),
                count=data.draw(FIELD_VALUES["count"], label="count"),
                ratio=data.draw(FLOATS, label="ratio"),
                meta=data.draw(DICTS, label="meta"),
                items=data.draw(FIELD_VALUES["items"], label="items"),
                part=data.draw(PARTS, label="part"),
                parts=data.draw(FIELD_VALUES["parts"], label="parts"),
                owner=owner,
                people=people,
            )
        if kind == "Loose":
            extras = data.draw(
                st.dictionaries(st.sampled_from(EXTRA_NAMES), JSON, max_size=2), label="extras"
            )
            return Loose(label=data.draw(TEXT, label="label"), **extras)
        if kind == "Circle":
            return Circle(
                name=data.draw(TEXT, label="name"),
                meta=data.draw(DICTS, label="meta"),
                radius=data.draw(FIELD_VALUES["radius"], label="radius"),
            )
        if kind == "Polygon":
            return Polygon(
                name=data.draw(TEXT, label="name"),
                meta=data.draw(DICTS, label="meta"),
                sides=data.draw(FIELD_VALUES["sides"], label="sides"),
            )
        assert kind == "Ledger"
        return Ledger(
            label=data.draw(TEXT, label="label"),
            count=data.draw(FIELD_VALUES["count"], label="count"),
            meta=data.draw(DICTS, label="meta"),
        )

    def roots_for_save_all(self, data: st.DataObject) -> list[Tracked]:
        family = data.draw(st.sampled_from(COLLECTION_MODELS), label="save_all of")
        candidates = self.tracked(family)
        if not candidates:
            return []
        return data.draw(
            st.lists(st.sampled_from(candidates), min_size=1, max_size=3), label="instances"
        )

    # -- rules -----------------------------------------------------------------------------

    @initialize(data=st.data())
    def populate(self, data: st.DataObject) -> None:
        """One saved instance of each kind to start with; the Record last, with an owner
        of its own (a list of people makes a document unloadable once one is deleted)."""
        for kind in (*(k for k in KINDS if k != "Record"), "Record"):
            if kind == "Record":
                owner = Person(name=data.draw(TEXT, label="name"))
                self.adopt(owner, None, "new Person")
                new = self.draw_new(data, kind, owner=owner, people=[])
            else:
                new = self.draw_new(data, kind)
            tracked = self.adopt(new, None, f"new {kind}")
            note(f"  save({tracked})")
            self.run_saves(self.engine, [tracked], many=False, in_tx=False)

    @rule(data=st.data(), kind=st.sampled_from(KINDS), save=st.booleans())
    def create(self, data: st.DataObject, kind: str, save: bool) -> None:
        tracked = self.adopt(self.draw_new(data, kind), None, f"new {kind}")
        if save:
            note(f"  save({tracked})")
            with contextlib.suppress(_Skip):
                self.run_saves(self.engine, [tracked], many=False, in_tx=False)

    @precondition(lambda self: bool(self.world.docs))
    @rule(data=st.data(), how=st.sampled_from(["by its class", "by the base class", "reload"]))
    def load(self, data: st.DataObject, how: str) -> None:
        if how == "reload":
            self.reload(data)
            return
        key = self.pick_document(data)
        stored = self.world.docs[key]
        model = collection_model(stored.model) if how == "by the base class" else stored.model
        self.run_load(self.engine, key, model, f"find_one({model.__name__}, {self.doc_names[key]})")

    def reload(self, data: st.DataObject) -> None:
        """Load an instance's document again: unchanged since it was loaded or saved, the
        instance equals what is loaded."""
        tracked = self.pick(data)
        clean = self.clean_and_current(tracked)
        stored = self.world.docs.get(tracked.key)
        reloaded = self.run_load(self.engine, tracked.key, type(tracked.inst), f"reload {tracked}")
        missing_reference = stored is not None and self.expected_load(stored) != stored.fields
        if reloaded is not None and clean and not missing_reference:
            assert dump_fields(reloaded.inst) == dump_fields(tracked.inst), (
                f"reloading {tracked}, unchanged since it was saved or loaded, "
                "gives another document"
            )

    @precondition(lambda self: bool(self.world.baselines))
    @rule(data=st.data(), changes=st.integers(1, 3))
    def change(self, data: st.DataObject, changes: int) -> None:
        tracked = self.pick(data)
        for _ in range(changes):
            self.change_one(data, tracked)

    def change_one(self, data: st.DataObject, tracked: Tracked) -> None:
        if data.draw(st.booleans(), label="in place"):
            self.mutate_in_place(data, tracked)
        else:
            self.assign(data, tracked)

    @precondition(lambda self: bool(self.world.baselines))
    @rule(data=st.data(), load=st.booleans(), changes=st.integers(1, 3))
    def edit_and_save(self, data: st.DataObject, load: bool, changes: int) -> None:
        """The usual way: load (or take) an instance, change it, save it."""
        if load and self.world.docs:
            key = self.pick_document(data)
            model = self.world.docs[key].model
            tracked = self.run_load(
                self.engine, key, model, f"find_one({model.__name__}, {self.doc_names[key]})"
            )
            if tracked is None:
                return
        else:
            tracked = self.pick(data)
        for _ in range(changes):
            self.change_one(data, tracked)
        note(f"  save({tracked})")
        with contextlib.suppress(_Skip):
            self.run_saves(self.engine, [tracked], many=False, in_tx=False)

    @precondition(lambda self: bool(self.world.baselines))
    @rule(data=st.data(), many=st.booleans())
    def save(self, data: st.DataObject, many: bool) -> None:
        if many:
            roots = self.roots_for_save_all(data)
            if not roots:
                return
            note(f"  save_all({roots})")
        else:
            roots = [self.pick(data)]
            note(f"  save({roots[0]})")
        with contextlib.suppress(_Skip):
            self.run_saves(self.engine, roots, many=many, in_tx=False)

    @precondition(lambda self: bool(self.world.baselines))
    @rule(
        data=st.data(),
        how=st.sampled_from(["update_one", "find_one_and_update", "find_one_and_update(before)"]),
    )
    def server_update(self, data: st.DataObject, how: str) -> None:
        if how == "update_one":
            self.run_update_one(self.engine, data)
        else:
            self.find_one_and_update(data, return_updated=how == "find_one_and_update")

    def find_one_and_update(self, data: st.DataObject, return_updated: bool) -> None:
        key, model = self.target_of_update(data)
        what, op, apply = self.draw_server_update(data, model)
        how = f"find_one_and_update({self.doc_names[key]}: {what}, return_updated={return_updated})"
        stored = self.world.docs.get(key)
        if stored is None:
            found = self.engine.find_one_and_update(
                model, model.id == key, update=op, return_updated=return_updated
            )
            assert found is None
            note(f"  {how} -> None")
            return
        before = Stored(stored.model, dict(stored.fields), stored.version)
        stored.fields = apply(stored.fields)
        stored.version += 1
        if self.missing_people(stored):
            with pytest.raises(WrittenDocumentParsingError):
                self.engine.find_one_and_update(
                    model, model.id == key, update=op, return_updated=return_updated
                )
            note(f"  {how}: raised WrittenDocumentParsingError, as predicted")
            return
        found = self.engine.find_one_and_update(
            model, model.id == key, update=op, return_updated=return_updated
        )
        assert found is not None, f"{how} found nothing"
        image = stored if return_updated else before
        expected = self.expected_load(image)
        got = dump_fields(found)
        assert got == expected, (
            f"{how} returned another document than the "
            f"{'updated' if return_updated else 'original'} one:\n"
            f"{describe_difference(expected, got)}"
        )
        # a before-image is not what is stored: nothing known stored
        self.adopt_loaded(found, stored if return_updated else None, how)

    @precondition(lambda self: bool(self.world.baselines))
    @rule(data=st.data(), deep=st.booleans(), new_key=st.booleans())
    def copy(self, data: st.DataObject, deep: bool, new_key: bool) -> None:
        tracked = self.pick(data)
        # a deep copy would copy the referenced instances too, whose saved state is
        # not part of the contract: copy those shallowly
        deep = deep and not referenced(tracked.inst)
        new_id = {"id": ObjectId()} if new_key else None
        copied = tracked.inst.model_copy(update=new_id, deep=deep)
        baseline = None if new_key else self.world.baselines[tracked]
        how = f"{tracked}.model_copy(deep={deep}{', new id' if new_key else ''})"
        self.adopt(copied, baseline, how)

    @precondition(lambda self: bool(self.world.baselines))
    @rule(data=st.data(), by_query=st.booleans())
    def delete(self, data: st.DataObject, by_query: bool) -> None:
        if by_query and self.world.docs:
            self.remove(data)
            return
        tracked = self.pick(data)
        note(f"  delete({tracked})")
        self.run_delete(self.engine, tracked, in_tx=False)

    def remove(self, data: st.DataObject) -> None:
        """``remove`` by a query on the name-like field (a value held by some document)."""
        models: list[type[Model]] = [*COLLECTION_MODELS, Circle, Polygon]
        model = data.draw(st.sampled_from(models), label="remove from")
        field = NAME_FIELD[collection_model(model)]
        docs = self.world.docs
        values = sorted({dec(s.fields[field]) for s in docs.values() if issubclass(s.model, model)})
        value = data.draw(st.sampled_from(values) | TEXT if values else TEXT, label=f"{field} ==")
        gone = [
            k
            for k, s in docs.items()
            if issubclass(s.model, model) and dec(s.fields[field]) == value
        ]
        note(
            f"  remove({model.__name__}, {field} == {value!r}): {[self.doc_names[k] for k in gone]}"
        )
        removed = self.engine.remove(model, getattr(model, field) == value)
        assert removed == len(gone)
        for key in gone:
            del docs[key]
            self.deleted.add(key)

    @precondition(lambda self: bool(self.world.baselines))
    @rule(data=st.data(), commit=st.booleans())
    def transaction(self, data: st.DataObject, commit: bool) -> None:
        before = self.world.copy()
        changes_before = self.driver.counter.changes
        steps = data.draw(st.integers(1, 3), label="operations")
        note(f"  transaction ({'commit' if commit else 'abort'}):")
        try:
            with self.driver.transaction() as tx:
                for _ in range(steps):
                    self.transaction_step(data, tx)
                if not commit:
                    raise _Abort
        except _Abort:
            # S8: everything as before the transaction; what it loaded is not known stored
            restored = before.copy()
            for tracked in self.world.baselines:
                restored.baselines.setdefault(tracked, None)
            self.world = restored
            note("  aborted")
        else:
            note("  committed")
        # the commit or abort is one command: more means the transaction wrote
        wrote = self.driver.counter.changes - changes_before > 1
        event(f"transaction: {'committed' if commit else 'aborted'}, wrote: {wrote}")

    def transaction_step(self, data: st.DataObject, tx: Any) -> None:
        step = data.draw(
            st.sampled_from(["change", "save", "save_all", "delete", "update", "load"]),
            label="step",
        )
        try:
            if step == "change":
                self.change_one(data, self.pick(data))
            elif step == "save":
                tracked = self.pick(data)
                note(f"  tx.save({tracked})")
                self.run_saves(tx, [tracked], many=False, in_tx=True)
            elif step == "save_all":
                roots = self.roots_for_save_all(data)
                if roots:
                    note(f"  tx.save_all({roots})")
                    self.run_saves(tx, roots, many=True, in_tx=True)
            elif step == "delete":
                tracked = self.pick(data)
                note(f"  tx.delete({tracked})")
                self.run_delete(tx, tracked, in_tx=True)
            elif step == "update":
                self.run_update_one(tx, data)
            elif self.world.docs:
                key = self.pick_document(data)
                model = self.world.docs[key].model
                self.run_load(
                    tx, key, model, f"tx.find_one({model.__name__}, {self.doc_names[key]})"
                )
        except _Skip:
            pass

    @precondition(lambda self: bool(self.world.baselines))
    @rule(data=st.data(), fail_once=st.booleans())
    def with_transaction(self, data: st.DataObject, fail_once: bool) -> None:
        roots = data.draw(
            st.lists(st.sampled_from(self.tracked()), min_size=1, max_size=2), label="saves"
        )
        trial = self.world.copy()
        planned: list[Write] = []
        for tracked in roots:
            writes = self.plan_saves(trial, [tracked], in_tx=True)
            if writes is None or any(w.error for w in writes):
                note(f"  (with_transaction skipped: saving {tracked} is not predictable)")
                return
            planned += writes
        attempts = 0

        def body(tx: Any) -> None:
            nonlocal attempts
            attempts += 1
            for tracked in roots:
                tx.save(tracked.inst)
            if fail_once and attempts == 1:
                raise transient_error()

        note(f"  with_transaction(save {roots}{', failing once' if fail_once else ''})")
        self.driver.counter.sent.clear()
        self.driver.with_transaction(body)
        assert attempts == (2 if fail_once else 1)
        wrote = any(w.writes for w in planned)
        assert bool(self.driver.counter.sent) == wrote, (
            f"with_transaction sent {self.driver.counter.sent}, but "
            f"{'some' if wrote else 'none'} of {roots} had changes to send"
        )
        event(f"with_transaction: fail_once={fail_once}, wrote: {wrote}")
        self.world = trial

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def the_database_holds_the_predicted_documents(self) -> None:
        docs = {key: (s.model, dict(s.fields)) for key, s in self.world.docs.items()}
        state = (self.driver.counter.changes, docs)
        if state == self.verified:
            return  # nothing sent, nothing predicted since the last check
        problems = []
        for root in COLLECTION_MODELS:
            stored = {doc["_id"]: fields_of(doc) for doc in self.driver.collection(root).find({})}
            expected = {
                key: s.fields
                for key, s in self.world.docs.items()
                if collection_model(s.model) is root
            }
            for key in sorted(set(stored) | set(expected), key=str):
                name = self.doc_names.get(key, str(key))
                if key not in stored:
                    problems.append(f"  {name}: missing")
                elif key not in expected:
                    problems.append(f"  {name}: stored, but should not be")
                elif stored[key] != expected[key]:
                    holders = [t for t in self.world.baselines if t.key == key]
                    problems.append(
                        f"  {name} (instances {holders}):\n"
                        + describe_difference(expected[key], stored[key])
                    )
        assert not problems, "the database differs from what was saved:\n" + "\n".join(problems)
        self.verified = state


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("kind", ["sync", "asyncio", "trio"])
def test_what_you_save_is_what_is_stored(kind: str, mongodb_uri: str, mongo_database: Any) -> None:
    with open_driver(kind, mongodb_uri, mongo_database.name) as driver:

        class Machine(SavedStateMachine):
            pass

        Machine.driver = driver
        run_state_machine_as_test(Machine, settings=SETTINGS)
