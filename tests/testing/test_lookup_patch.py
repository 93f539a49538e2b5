"""The embedded server's keyed ``$lookup`` on ``_id``: it applies, and it returns exactly
what mongoeco's own ``$lookup`` returns (byte for byte), in process and over the wire."""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import bson
import pymongo
import pytest
from bson import DBRef, ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyodm import SyncEngine
from anyodm.model.references import find_pipeline
from anyodm.testing import (
    EmbeddedServerError,
    MongoServer,
    _child,
    _lookup_patch,
    resolve_server_python,
)
from tests.references.models import Anthology, Book, Edition, Volume

Lookup = Callable[..., list[Any]]
Client = pymongo.MongoClient[dict[str, Any]]

A, B, C, D = (ObjectId(f"6b0529cfe68fd68cce27ba{n:02x}") for n in range(4))
MISSING = ObjectId("6b0529cfe68fd68cce27bbff")
#: The foreign collection, in stored order (not the order of the ids).
AUTHORS = [
    {"_id": C, "name": "c"},
    {"_id": A, "name": "a", "tags": ["x", {"y": 1}]},
    {"_id": B, "name": "b"},
    {"_id": D, "name": "d", "nested": {"deep": [1, 2.5, None]}},
]
SPEC = {"from": "authors", "localField": "authors", "foreignField": "_id", "as": "found"}


class Lookups:
    """mongoeco's ``_apply_lookup`` and the patched one around a spy of it."""

    def __init__(self, original: Lookup) -> None:
        from mongoeco.wire.bson_bridge import encode_wire_value

        self.original = original
        self.calls: list[int] = []  # documents per call that reached mongoeco's code
        self.wire_value = encode_wire_value

        def spy(documents: list[Any], *args: Any, **kwargs: Any) -> list[Any]:
            self.calls.append(len(documents))
            return original(documents, *args, **kwargs)

        self.patched = _lookup_patch.keyed_lookup(spy)

    def encoded(self, documents: list[Any]) -> list[bytes]:
        """The documents as the server would send them."""
        return [bson.encode(self.wire_value(document)) for document in documents]

    def outcome(self, lookup: Lookup, *args: Any, **kwargs: Any) -> object:
        try:
            result = lookup(*args, **kwargs)
        except Exception as exc:
            return ("error", type(exc), str(exc))
        return ("ok", self.encoded(result))

    def compare(
        self,
        documents: list[Any],
        spec: object = SPEC,
        foreign: list[Any] | None = AUTHORS,
        *,
        resolver: bool = True,
        **kwargs: Any,
    ) -> list[int]:
        """Assert both give the same outcome on these inputs; the spy's calls."""

        def resolve(name: str) -> list[Any] | None:
            return foreign if name == "authors" else None

        inputs = self.encoded(documents), self.encoded(foreign or [])
        args = (documents, spec, resolve if resolver else None)
        self.calls.clear()
        got = self.outcome(self.patched, *args, **kwargs)
        calls = list(self.calls)
        expected = self.outcome(self.original, *args, **kwargs)
        assert got == expected
        assert (self.encoded(documents), self.encoded(foreign or [])) == inputs  # not mutated
        return calls


def _encoded(documents: Any) -> list[bytes]:
    return [bson.encode(document) for document in documents]


@pytest.fixture(scope="module")
def lookups() -> Lookups:
    """Needs mongoeco in this interpreter (Python >= 3.13): skipped elsewhere."""
    pytest.importorskip("mongoeco")
    from mongoeco.core.aggregation import join_stages  # where the original lives, unpatched

    return Lookups(join_stages._apply_lookup)


def test_the_patch_applies_to_the_pinned_mongoeco_once(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mongoeco")
    from mongoeco.core.aggregation import stages

    monkeypatch.setattr(stages, "_apply_lookup", stages._apply_lookup)  # undone after
    original = stages._apply_lookup
    assert _lookup_patch.apply() is None
    patched = stages._apply_lookup
    assert patched is not original
    assert _lookup_patch.apply() is None
    assert stages._apply_lookup is patched  # not wrapped twice


def test_changed_internals_leave_mongoeco_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("mongoeco")
    from mongoeco.core.aggregation import stages

    def renamed(docs: list[Any], stage_spec: object, resolver: Any) -> list[Any]:
        return docs

    monkeypatch.setattr(stages, "_apply_lookup", renamed)
    note = _lookup_patch.apply()
    assert note is not None
    assert note.startswith("mongoeco's $lookup internals changed")
    assert stages._apply_lookup is renamed


def test_another_mongoeco_version_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "9.9.9")
    note = "mongoeco 9.9.9 is not 4.11.0, which the patch was written for"
    assert _lookup_patch.apply() == note
    info = _child._apply_patch()
    assert (info["keyed_lookup"], info["keyed_lookup_note"]) == (False, note)


# -- in process: the patched function against mongoeco's, on the same inputs ------------


@pytest.mark.parametrize(
    ("documents", "spec"),
    [
        pytest.param([{"authors": [B, A, B, C, A]}], SPEC, id="duplicate keys"),
        pytest.param([{"authors": [MISSING, A]}, {"authors": [MISSING]}], SPEC, id="missing keys"),
        pytest.param([{"authors": A}, {"authors": MISSING}], SPEC, id="a single key, no list"),
        pytest.param([{"authors": [A, [B], [[C]]]}], SPEC, id="arrays inside the list"),
        pytest.param(
            [
                {"chapters": [{"reviewers": [D, A]}, {"reviewers": C}, {}, {"reviewers": []}]},
                {"chapters": {"reviewers": [B]}},
            ],
            {**SPEC, "localField": "chapters.reviewers"},
            id="keys in embedded documents and arrays of them",
        ),
        pytest.param(
            [{"authors": [A, B]}, {"authors": [C], "meta": {"kept": 1}}],
            {**SPEC, "as": "meta.authors"},
            id="as: a nested path",
        ),
        pytest.param(
            [{"authors": [A, B], "title": "t"}], {**SPEC, "as": "authors"}, id="as: the local field"
        ),
        pytest.param(
            [{"_id": ObjectId(), "authors": [A], "found": "old"}], SPEC, id="as: replaces a field"
        ),
        pytest.param([], SPEC, id="no documents"),
    ],
)
def test_object_id_keys_take_the_keyed_path(
    lookups: Lookups, documents: list[Any], spec: dict[str, Any]
) -> None:
    assert lookups.compare(documents, spec) == []  # mongoeco's code never ran


def test_beanie_dbrefs_take_the_keyed_path(lookups: Lookups) -> None:
    from mongoeco.types import DBRef as MongoecoDBRef  # what the wire server decodes

    spec = {**SPEC, "localField": "authors.$id", "as": "authors"}
    documents = [{"authors": [MongoecoDBRef("authors", C), MongoecoDBRef("authors", A)]}]
    assert lookups.compare(documents, spec) == []
    documents.append({"authors": [MongoecoDBRef("authors", "a"), MongoecoDBRef("authors", B)]})
    assert lookups.compare(documents, spec) == [1]


def test_the_keyed_path_is_taken_and_keeps_stored_order(lookups: Lookups) -> None:
    documents = [{"authors": [B, D, A, B]}]
    assert lookups.compare(documents) == []  # mongoeco's code never ran
    (joined,) = lookups.patched(documents, SPEC, lambda name: AUTHORS)
    assert [author["name"] for author in joined["found"]] == ["a", "b", "d"]  # stored order
    joined["found"][0]["name"] = "changed"
    assert AUTHORS[1]["name"] == "a"  # copies, not the stored documents


def test_mongoeco_joins_the_documents_without_object_id_keys_in_place(lookups: Lookups) -> None:
    documents = [
        {"n": 0, "authors": [A]},
        {"n": 1, "authors": []},
        {"n": 2, "authors": None},
        {"n": 3},
        {"n": 4, "authors": [A, "a"]},  # an ObjectId beside a string
        {"n": 5, "authors": [[A]]},  # only an array: no key of its own
        {"n": 6, "authors": B},
        {"n": 7, "authors": 1.5},
        {"n": 8, "authors": [C, None]},
    ]
    assert lookups.compare(documents) == [7]  # n=1-5, 7, 8, in one call


def test_an_as_that_cannot_be_set_fails_as_mongoeco_fails(lookups: Lookups) -> None:
    spec = {**SPEC, "as": "meta.authors"}
    documents: list[Any] = [{"authors": [A], "meta": [1]}]
    assert lookups.compare(documents, spec) == [1]  # rerun in mongoeco's code
    documents = [{"authors": "a", "meta": 5}, *documents]  # mongoeco fails on this one first
    assert lookups.compare(documents, spec) == [2]


def test_a_foreign_collection_with_other_ids_runs_mongoeco(lookups: Lookups) -> None:
    foreign = [*AUTHORS, {"_id": "b", "name": "str"}, {"_id": 1, "name": "int"}]
    documents = [{"authors": [A, "b", 1.0]}, {"authors": [B]}, {"authors": [1]}]
    assert lookups.compare(documents, foreign=foreign) == [3]


def test_equal_foreign_ids_run_mongoeco(lookups: Lookups) -> None:
    foreign = [*AUTHORS, {"_id": A, "name": "again"}]
    assert lookups.compare([{"authors": [A, B]}], foreign=foreign) == [1]


def test_mongoeco_object_ids_on_either_side(lookups: Lookups) -> None:
    from mongoeco.types import ObjectId as MongoecoObjectId

    foreign = [{**author, "_id": MongoecoObjectId(author["_id"].binary)} for author in AUTHORS]
    assert lookups.compare([{"authors": [A, B]}], foreign=foreign) == []
    documents = [{"authors": [MongoecoObjectId(C.binary), A]}]
    assert lookups.compare(documents) == []


def test_an_empty_or_absent_foreign_collection(lookups: Lookups) -> None:
    assert lookups.compare([{"authors": [A]}, {"authors": None}], foreign=[]) == [1]
    assert lookups.compare([{"authors": [A]}], foreign=None) == []


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({**SPEC, "pipeline": []}, id="pipeline"),
        pytest.param(
            {
                "from": "authors",
                "let": {"ids": "$authors"},
                "pipeline": [{"$match": {"$expr": {"$in": ["$_id", "$$ids"]}}}],
                "as": "found",
            },
            id="let",
        ),
        pytest.param({**SPEC, "foreignField": "name"}, id="another foreignField"),
        pytest.param({**SPEC, "foreignField": "_id.x"}, id="a path under _id"),
    ],
)
def test_other_lookups_run_mongoeco(lookups: Lookups, spec: dict[str, Any]) -> None:
    documents = [{"authors": [A, B]}, {"authors": ["a"]}]
    assert lookups.compare(documents, spec) == [2]


def test_a_collation_or_another_dialect(lookups: Lookups) -> None:
    from mongoeco.compat import MONGODB_DIALECT_80
    from mongoeco.core.collation import CollationSpec

    documents = [{"authors": [A, B]}]
    collation = CollationSpec(locale="en", strength=2)
    assert lookups.compare(documents, collation=collation) == [1]
    assert lookups.compare(documents, dialect=MONGODB_DIALECT_80) == []


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({**SPEC, "as": ""}, id="empty as"),
        pytest.param({**SPEC, "as": "$found"}, id="as: a path expression"),
        pytest.param({**SPEC, "from": 3}, id="from: not a string"),
        pytest.param({**SPEC, "localField": ""}, id="empty localField"),
        pytest.param({**SPEC, "localField": "$authors"}, id="localField: a path expression"),
        pytest.param({**SPEC, "extra": 1}, id="an unknown argument"),
        pytest.param([SPEC], id="not a document"),
    ],
)
def test_bad_specifications_fail_alike(lookups: Lookups, spec: object) -> None:
    lookups.compare([{"authors": [A]}], spec)


def test_no_resolver_fails_alike(lookups: Lookups) -> None:
    lookups.compare([{"authors": [A]}], resolver=False)


def test_a_passed_deadline_fails_alike(lookups: Lookups) -> None:
    documents = [{"authors": [A, B]} for _ in range(500)]
    lookups.compare(documents, deadline=time.monotonic() - 1)


_keys = st.one_of(
    st.sampled_from([A, B, C, D, MISSING]),
    st.sampled_from([None, "a", 1, 1.0, True, {"k": A}]),
)
_values = st.recursive(_keys, lambda inner: st.lists(inner, max_size=5), max_leaves=8)
_documents = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "authors": _values,
            "chapters": st.lists(st.fixed_dictionaries({}, optional={"by": _values}), max_size=3),
            "meta": st.sampled_from([{"kept": 1}, None, 5, [1], [{"kept": 1}]]),
        },
    ),
    max_size=5,
)
_foreign = st.sets(st.sampled_from(range(len(AUTHORS)))).map(
    lambda chosen: [AUTHORS[i] for i in sorted(chosen)]  # in stored order
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    documents=_documents,
    foreign=_foreign,
    local=st.sampled_from(["authors", "chapters.by"]),
    into=st.sampled_from(["found", "found", "authors", "meta.found"]),
    other_id=st.sampled_from([None, None, None, "a", 1]),
)
def test_any_documents_join_as_mongoeco_joins_them(
    lookups: Lookups,
    documents: list[Any],
    foreign: list[Any],
    local: str,
    into: str,
    other_id: object,
) -> None:
    if other_id is not None:
        foreign = [*foreign, {"_id": other_id, "name": "other"}]
    lookups.compare(documents, {**SPEC, "localField": local, "as": into}, foreign)


# -- over the wire: a patched server answers like mongoeco as is -------------------------


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, MongoServer]]:
    """A patched and an unpatched embedded server, started side by side."""
    try:
        python = resolve_server_python()
    except EmbeddedServerError as exc:
        pytest.skip(str(exc))
    pair = {"patched": MongoServer(python=python), "plain": MongoServer(python=python, patch=False)}
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(MongoServer.start, pair.values()))
        yield pair
    finally:
        for server in pair.values():
            server.stop()


AUTHOR_IDS = [ObjectId(f"6b0529cfe68fd68cce27bc{n:02x}") for n in range(6)]
BOOK_IDS = [ObjectId(f"6b0529cfe68fd68cce27bd{n:02x}") for n in range(4)]
OTHER_IDS = [ObjectId(f"6b0529cfe68fd68cce27be{n:02x}") for n in range(6)]


def _seed(db: Any) -> None:
    a = AUTHOR_IDS
    db.author.insert_many([{"_id": key, "name": f"author {n}"} for n, key in enumerate(a)])
    db.book.insert_many(
        [
            {"_id": BOOK_IDS[0], "title": "dup", "authors": [a[3], a[0], a[3]], "editor": a[1]},
            {"_id": BOOK_IDS[1], "title": "empty", "authors": [], "editor": None},
            {"_id": BOOK_IDS[2], "title": "one", "authors": [a[5]], "editor": None},
            {"_id": BOOK_IDS[3], "title": "all", "authors": a[::-1], "editor": a[2]},
        ]
    )
    db.anthology.insert_many(
        [
            {"_id": OTHER_IDS[0], "title": "holes", "contributors": [a[0], None, a[4]]},
            {"_id": OTHER_IDS[1], "title": "none", "contributors": []},
        ]
    )
    db.edition.insert_one({"_id": OTHER_IDS[2], "year": 2026, "books": [BOOK_IDS[3], BOOK_IDS[0]]})
    db.volume.insert_one(
        {
            "_id": OTHER_IDS[3],
            "chapters": [{"title": "1", "by": [a[1], a[0]]}, {"title": "2", "by": [a[2]]}],
            "lead": {"title": "0", "by": [a[4]]},
        }
    )
    db.books_beanie.insert_many(
        [
            {"_id": OTHER_IDS[4], "authors": [DBRef("author", a[2]), DBRef("author", a[1])]},
            {"_id": OTHER_IDS[5], "authors": []},
        ]
    )


def _loaded(uri: str) -> dict[str, object]:
    """What a user sees through anyodm, and what the server answers to the pipelines."""
    client: Client = pymongo.MongoClient(uri)
    db = client.anyodm_lookup_patch
    try:
        client.drop_database(db.name)
        _seed(db)
        engine = SyncEngine(client, db.name)
        out: dict[str, object] = {}
        for model in (Book, Anthology, Edition, Volume):
            out[model.__name__] = [found.model_dump() for found in engine.find(model).to_list()]
            pipeline = find_pipeline(model, {}, [("_id", 1)], None, None)
            out[f"{model.__name__} raw"] = _encoded(db[model.__name__.lower()].aggregate(pipeline))
        beanie = {"from": "author", "localField": "authors.$id", "foreignField": "_id"}
        beanie_pipeline = [{"$lookup": {**beanie, "as": "authors"}}]
        out["beanie raw"] = _encoded(db.books_beanie.aggregate(beanie_pipeline).to_list())
        client.drop_database(db.name)
    finally:
        client.close()
    return out


@pytest.mark.embedded_only("compares the embedded server with and without its patches")
def test_the_server_reports_the_patch(servers: dict[str, MongoServer]) -> None:
    assert servers["patched"].info["keyed_lookup"] is True, servers["patched"].info
    assert servers["plain"].info["keyed_lookup"] is False


@pytest.mark.embedded_only("compares the embedded server with and without its patches")
def test_finds_with_references_load_as_on_plain_mongoeco(
    servers: dict[str, MongoServer],
) -> None:
    patched, plain = (_loaded(servers[name].uri) for name in ("patched", "plain"))
    assert patched == plain
    books = patched["Book"]
    assert isinstance(books, list)
    names = [[author["name"] for author in book["authors"]] for book in books]
    assert names == [
        ["author 3", "author 0", "author 3"],
        [],
        ["author 5"],
        [f"author {n}" for n in range(5, -1, -1)],
    ]
    assert [book["editor"] and book["editor"]["name"] for book in books] == [
        "author 1",
        None,
        None,
        "author 2",
    ]
    assert len(patched["beanie raw"]) == 2  # type: ignore[arg-type]
