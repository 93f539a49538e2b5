"""Saved state inside a transaction: recorded as pending, applied at commit (S8).

A write inside a transaction is not durable until the commit.  So the saved state it
would give an instance is kept here, one :class:`PendingStates` per transaction, and
applied to the instances only when the commit succeeds.  An abort, a failed commit or a
``with_transaction`` retry drops it: every instance is as it was before the
transaction, and a retry sends it whole again.  A commit whose outcome is unknown marks
the instances ``MAYBE_STORED``.

While the transaction runs, its own pending states are what later operations in it
compare with (a second save of a fresh instance in one transaction is an update, not a
second insert).

An instance read in the transaction is recorded too: what it was loaded as may show the
transaction's own uncommitted writes, so after an abort nothing is known of it
(``MAYBE_STORED``); a commit leaves it as loaded.  Nothing of its state is copied for
that, and the ledger holds every instance weakly: one dropped while the transaction
runs (a streamed find's, batch after batch) is forgotten, so a transaction keeps no
more in memory than the code running in it does.

The ledger is found from the driver session (transactions anyodm starts register one).
A write in a transaction that anyodm does not manage (a raw PyMongo ``ClientSession``
whose transaction the caller started) cannot see the commit: its instances become
``MAYBE_STORED`` at once.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel
from pymongo.client_session import ClientSession

from anyodm.core.lifecycle import TransactionPhase
from anyodm.model.reference_paths import linked_instances
from anyodm.model.tracking import (
    MAYBE_STORED,
    SavedState,
    is_persisted,
    saved_state,
    set_saved_state,
)

if TYPE_CHECKING:
    from anyodm.model import Model

__all__ = [
    "PendingStates",
    "note_loaded",
    "open_ledger",
    "record_durable_or_pending",
    "record_unknown",
    "settle_ledger",
    "state_for_save",
    "writes_in_flight",
]

_FLIGHTS_LOCK = threading.Lock()
_IN_FLIGHT: dict[int, int] = {}  # id(instance) -> writes of it on their way
_OVERLAPPED: set[int] = set()  # instances two of whose writes were on their way at once

_LEDGERS: weakref.WeakKeyDictionary[ClientSession, PendingStates] = weakref.WeakKeyDictionary()
_LEDGERS_LOCK = threading.Lock()


class _Ref(weakref.ref[Any]):
    """A weak reference to a ledger's instance that knows its key (to find its entry
    once the instance is gone)."""

    __slots__ = ("key",)

    key: int

    def __new__(cls, instance: Any, callback: Callable[[Any], object]) -> _Ref:
        self = super().__new__(cls, instance, callback)
        self.key = id(instance)
        return self


class _Loaded:
    __slots__ = ()

    def __repr__(self) -> str:
        return "LOADED"


#: The pending state of an instance the transaction only read: its own saved state
#: (what it was loaded as) is what a commit confirms; nothing is kept for it.
_LOADED: Final = _Loaded()

_Entry = tuple[_Ref, "SavedState | _Loaded", SavedState]


class PendingStates:
    """The saved states a transaction's writes give its instances once committed.

    It holds the instances weakly: an instance dropped while the transaction runs (a
    stream's, batch after batch) is forgotten, and nothing is kept of an instance the
    transaction only read.  Entries are keyed by ``id(instance)``; an id is reused once
    its object is gone, so an entry counts only while its reference still points at the
    instance asked about.  A reference's callback (it may run in any thread, at any
    allocation, even while :attr:`_lock` is held) only appends it to :attr:`_dead`; the
    next :meth:`record`/:meth:`loaded` removes those entries under the lock.
    """

    __slots__ = ("__weakref__", "_dead", "_lock", "_states")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # id(instance) -> (reference, state at commit or _LOADED, state before the transaction)
        self._states: dict[int, _Entry] = {}
        self._dead: deque[_Ref] = deque()

    def __len__(self) -> int:
        """How many entries are held (dead ones not yet removed included)."""
        return len(self._states)

    def _reference(self, instance: Model) -> _Ref:
        return _Ref(instance, self._dead.append)  # every Model supports weak references

    def _purge(self) -> None:
        """Remove the entries of the instances that died (under the lock)."""
        dead, states = self._dead, self._states
        while dead:
            ref = dead.popleft()
            entry = states.get(ref.key)
            if entry is not None and entry[0] is ref:
                del states[ref.key]

    def _entry(self, instance: Model) -> _Entry | None:
        """The live entry of ``instance`` (not one of a dead object that had its id)."""
        entry = self._states.get(id(instance))
        if entry is None or entry[0]() is not instance:
            return None
        return entry

    def record(self, instance: Model, state: SavedState) -> None:
        """``instance`` will have ``state`` if the transaction commits."""
        with self._lock:
            self._purge()
            entry = self._entry(instance)
            if entry is None:
                self._states[id(instance)] = (
                    self._reference(instance),
                    state,
                    saved_state(instance),
                )
            else:
                self._states[id(instance)] = (entry[0], state, entry[2])

    def loaded(self, instance: Model) -> None:
        """``instance`` was read in this transaction: what it was loaded as holds only if
        the transaction commits (it may show the transaction's own uncommitted writes);
        if not, nothing is known of it (``MAYBE_STORED``)."""
        with self._lock:
            self._purge()
            if self._entry(instance) is None:
                self._states[id(instance)] = (self._reference(instance), _LOADED, MAYBE_STORED)

    def lookup(self, instance: Model) -> tuple[bool, SavedState]:
        """``(True, state)`` if this transaction wrote ``instance``, else ``(False, None)``
        (an instance it only read compares with its own saved state)."""
        with self._lock:
            entry = self._entry(instance)
        if entry is None:
            return False, None
        state = entry[1]
        if isinstance(state, _Loaded):
            return False, None
        return True, state

    def _take(self) -> list[tuple[Model, SavedState | _Loaded, SavedState]]:
        """The entries of the instances still alive; the ledger is emptied."""
        with self._lock:
            entries = list(self._states.values())
            self._states.clear()
            self._dead.clear()
        return [
            (instance, state, before)
            for ref, state, before in entries
            if (instance := ref()) is not None
        ]

    def committed(self) -> None:
        """The commit succeeded: the pending states become the instances' states (an
        instance only read keeps what it was loaded as)."""
        for instance, state, _ in self._take():
            if not isinstance(state, _Loaded):
                set_saved_state(instance, state)

    def discarded(self) -> None:
        """Aborted, or the commit failed: every instance is as before the transaction."""
        for instance, _, before in self._take():
            set_saved_state(instance, before)

    def unknown(self) -> None:
        """The commit's outcome is unknown: every instance still alive is MAYBE_STORED.

        The entries are kept: a retried commit that succeeds (or is refused) still
        settles them; an instance only read keeps, as its pending state, what it was
        loaded as.
        """
        with self._lock:
            self._purge()
            instances = []
            for key, (ref, state, before) in list(self._states.items()):
                instance = ref()
                if instance is None:
                    continue
                if state is _LOADED:
                    self._states[key] = (ref, saved_state(instance), before)
                instances.append(instance)
        for instance in instances:
            set_saved_state(instance, MAYBE_STORED)


def settle_ledger(ledger: PendingStates | None, phase: TransactionPhase) -> None:
    """Apply what a transaction's final ``phase`` means for its instances' saved state."""
    if ledger is None:
        return
    if phase is TransactionPhase.COMMITTED:
        ledger.committed()
    elif phase is TransactionPhase.ABORTED:
        ledger.discarded()
    elif phase is TransactionPhase.COMMIT_UNKNOWN:
        ledger.unknown()


def open_ledger(driver: ClientSession) -> PendingStates:
    """A new ledger for the transaction just started on ``driver``."""
    ledger = PendingStates()
    with _LEDGERS_LOCK:
        _LEDGERS[driver] = ledger
    return ledger


def _ledger_of(session: ClientSession | None) -> tuple[bool, PendingStates | None]:
    """``(in_transaction, ledger)`` for a write on ``session``."""
    if session is None or not session.in_transaction:
        return False, None
    with _LEDGERS_LOCK:
        return True, _LEDGERS.get(session)


def state_for_save(instance: Model, session: ClientSession | None) -> SavedState:
    """What a save of ``instance`` on ``session`` compares with."""
    _, ledger = _ledger_of(session)
    if ledger is not None:
        found, state = ledger.lookup(instance)
        if found:
            return state
    return saved_state(instance)


def record_durable_or_pending(
    instance: Model, state: SavedState, session: ClientSession | None
) -> None:
    """A write giving ``instance`` the saved state ``state`` succeeded on ``session``."""
    in_tx, ledger = _ledger_of(session)
    if not in_tx:
        set_saved_state(instance, state)
    elif ledger is not None:
        ledger.record(instance, state)
    else:
        set_saved_state(instance, MAYBE_STORED)


class _WritesInFlight:
    """The context manager of :func:`writes_in_flight` (a class: it is on every save's
    path, where a generator-based one costs more)."""

    __slots__ = ("_keys",)

    def __init__(self, instances: Iterable[Model]) -> None:
        self._keys = [id(instance) for instance in instances]

    def __enter__(self) -> Callable[[Model], bool]:
        with _FLIGHTS_LOCK:
            for key in self._keys:
                count = _IN_FLIGHT.get(key, 0)
                _IN_FLIGHT[key] = count + 1
                if count:
                    _OVERLAPPED.add(key)
        return _overlapped

    def __exit__(self, *exc_info: object) -> None:
        with _FLIGHTS_LOCK:
            for key in self._keys:
                count = _IN_FLIGHT[key] - 1
                if count:
                    _IN_FLIGHT[key] = count
                else:
                    del _IN_FLIGHT[key]
                    _OVERLAPPED.discard(key)


def _overlapped(instance: Model) -> bool:
    return id(instance) in _OVERLAPPED


def writes_in_flight(instances: Iterable[Model]) -> _WritesInFlight:
    """Mark writes of ``instances`` as on their way; ``with`` gives ``overlapped(instance)``.

    Two writes of one instance on their way at once (two tasks saving it) land in an
    order nobody can tell: whichever finishes last must not claim to be what the
    database holds, so both record ``MAYBE_STORED``.
    """
    return _WritesInFlight(instances)


def note_loaded(items: Iterable[Any], session: ClientSession | None) -> None:
    """Instances just decoded from documents read on ``session``: inside a transaction
    their loaded state (and that of the references and back-referenced documents loaded
    with them) is pending like a write's."""
    in_tx, ledger = _ledger_of(session)
    if not in_tx:
        return
    loaded = [model for item in items for model in _models_in(item) if is_persisted(model)]
    for instance in [*loaded, *linked_instances(loaded)]:
        if not is_persisted(instance):
            continue
        if ledger is None:  # a transaction anyodm does not manage: its outcome is unseen
            set_saved_state(instance, MAYBE_STORED)
        else:
            ledger.loaded(instance)


def _models_in(item: Any) -> Iterator[Any]:
    """``item`` if it is a document instance; for a projection's view (a plain pydantic
    model), the document instances its fields hold (referenced documents)."""
    if getattr(type(item), "__anyodm_kind__", None) == "document":
        yield item
    elif isinstance(item, BaseModel):
        for value in item.__dict__.values():
            for candidate in value if isinstance(value, list) else (value,):
                if getattr(type(candidate), "__anyodm_kind__", None) == "document":
                    yield candidate


def record_unknown(instance: Model, session: ClientSession | None) -> None:
    """A write of ``instance`` failed without telling whether it was applied."""
    in_tx, _ = _ledger_of(session)
    if not in_tx:  # inside a transaction, the transaction as a whole fails
        set_saved_state(instance, MAYBE_STORED)
