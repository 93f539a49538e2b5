"""Property: random sequences of bulk items leave the collection as a simple model of
it says (an ordered bulk write applies them in turn, stopping at the first failure),
and each written instance's saved state says whether it is stored."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyodm import BulkWriteError, SyncEngine, bulk, update
from anyodm.model.tracking import is_persisted, saved_state
from tests.bulk.models import Book

TITLES = ["a", "b", "c"]

#: ("insert" | "save" | "delete", slot) on one of four instances, or ("bump", title) /
#: ("drop", title) by query
steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["insert", "save", "delete"]), st.integers(0, 3)),
        st.tuples(st.sampled_from(["bump", "drop"]), st.sampled_from(TITLES)),
    ),
    min_size=1,
    max_size=8,
)


def _expected(
    items: list[tuple[str, Any]],
    books: list[Book],
    docs: dict[Any, tuple[str, int]],
) -> tuple[dict[Any, tuple[str, int]], list[str]]:
    """The documents after the items (keyed by ``_id``), and each item's status."""
    # each instance's saved state at the start: its document as reloaded (or none)
    saved = {
        index: docs[book.id][1] if book.id in docs else None for index, book in enumerate(books)
    }
    docs = dict(docs)
    statuses: list[str] = []
    failed = False
    for kind, target in items:
        if failed:
            statuses.append("not_written")
            continue
        ok = True
        if kind == "save" and saved[target] == books[target].pages:
            pass  # nothing changed since the instance's last write: nothing is sent
        elif kind in ("insert", "save"):
            book = books[target]
            taken = {title for key, (title, _) in docs.items() if key != book.id}
            if book.title in taken or (kind == "insert" and book.id in docs):
                ok = False
            else:
                docs[book.id] = (book.title, book.pages)
                saved[target] = book.pages
        elif kind == "delete":
            docs.pop(books[target].id, None)
            saved[target] = None
        elif kind == "bump":
            docs = {k: (t, p + 1 if t == target else p) for k, (t, p) in docs.items()}
        else:
            docs = {k: v for k, v in docs.items() if v[0] != target}
        statuses.append("written" if ok else "failed")
        failed = failed or not ok
    return docs, statuses


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rounds=st.lists(steps, min_size=1, max_size=3), data=st.data())
def test_random_bulk_writes_match_a_model_of_the_collection(
    anyodm_sync_engine: SyncEngine, rounds: list[list[Any]], data: Any
) -> None:
    engine = anyodm_sync_engine
    engine.configure_database([Book])
    engine.remove(Book)
    books = [Book(title=TITLES[i % 3], pages=i) for i in range(4)]
    docs: dict[Any, tuple[str, int]] = {}
    for round_steps in rounds:
        # each instance once per call (a call refuses it twice)
        seen: set[int] = set()
        chosen = [
            (kind, target)
            for kind, target in round_steps
            if isinstance(target, str) or not (target in seen or seen.add(target))  # type: ignore[func-returns-value]
        ]
        for _, target in chosen:
            if isinstance(target, int):
                books[target].pages = data.draw(st.integers(0, 5))
        items: list[bulk.BulkItem] = []
        for kind, target in chosen:
            if kind == "insert":
                items.append(bulk.Insert(books[target]))
            elif kind == "save":
                items.append(bulk.Save(books[target]))
            elif kind == "delete":
                items.append(bulk.Delete(books[target]))
            elif kind == "bump":
                items.append(
                    bulk.UpdateMany(Book, Book.title == target, update=update.inc(Book.pages, 1))
                )
            else:
                items.append(bulk.DeleteMany(Book, Book.title == target))
        expected, statuses = _expected(chosen, books, docs)
        try:
            result = engine.bulk_write(items)
        except BulkWriteError as exc:
            result = exc.result
        assert [item.status for item in result.items] == statuses
        stored = {
            doc["_id"]: (doc["title"], doc["pages"]) for doc in engine.get_collection(Book).find()
        }
        assert stored == expected
        docs = expected
        for item in result.items:
            instance = item.instance
            if instance is None:
                continue
            if item.status == "written" and item.item.hook_kind != "delete":
                assert is_persisted(instance)
            elif item.status == "written":
                assert saved_state(instance) is None
        # instances whose document a by-query item changed: resync by reloading
        for index, book in enumerate(books):
            found = engine.find_one(Book, Book.id == book.id)
            books[index] = (
                found if found is not None else Book(id=book.id, title=book.title, pages=book.pages)
            )
