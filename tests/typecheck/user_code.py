"""A user's module, type-checked in CI by mypy --strict and pyright (``./dev types``).

It is never run: it exercises the documented API the way an application would, says
with ``assert_type`` what a user relies on, and marks the lines that must be errors with
an ignore comment for each checker (mypy's ``# type: ignore[code]``, pyright's
``# pyright: ignore[rule]``): both checkers report an ignore that is not needed, so such
a line that stops being an error fails the check. The forms used here are the typed ones
(see docs/typing.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import anyio
from pydantic import BaseModel
from pymongo import ReadPreference, WriteConcern
from pymongo.client_session import ClientSession
from pymongo.read_concern import ReadConcern
from typing_extensions import assert_type

from anyodm import (
    BackReference,
    BulkResult,
    BulkWriteError,
    ChangeEvent,
    ChangeStream,
    Delete,
    DeleteDeniedError,
    EmbeddedModel,
    Engine,
    Event,
    Field,
    HookContext,
    Index,
    Insert,
    Model,
    NotLoaded,
    ObjectId,
    Reference,
    Save,
    Session,
    SyncChangeStream,
    SyncEngine,
    SyncHookContext,
    SyncSession,
    SyncTransaction,
    TimeSeries,
    Transaction,
    TransactionPhase,
    Update,
    UpdateResult,
    Validate,
    View,
    after_event,
    before_event,
    bulk,
    is_loaded,
    maybe_loaded,
    pipeline,
    query,
    update,
)
from anyodm.aio.cursor import AsyncCursor
from anyodm.core.cursor import SyncCursor
from anyodm.errors import (
    CollectionMismatchError,
    DocumentNotFoundError,
    InvalidValueError,
    PendingMigrationsError,
    RevisionConflictError,
    WrittenDocumentParsingError,
)
from anyodm.model.fields import OnDelete
from anyodm.options import FindOptions, WriteOptions
from anyodm.query import QueryExpression, QueryLike, SortExpression
from anyodm.update import UpdateOperation

# -- models -----------------------------------------------------------------------------


class Address(EmbeddedModel):
    city: str
    zip_code: str = Field(default="", key_name="zip")


class Publisher(Model):
    name: str = Field(unique=True)


class Author(Model):
    name: str
    books: list[Book] = BackReference("authors")


class Book(Model):
    model_config = {
        "collection": "books",
        "indexes": lambda: [
            Index(Book.title, query.desc(Book.pages), unique=True),
            Index(Book.pages),
        ],
    }
    title: str = Field(index=True)
    pages: int = Field(default=0, ge=0)
    price: Decimal = Decimal("0")
    published: datetime | None = None
    tags: list[str] = Field(default_factory=list)
    status: Literal["draft", "printed"] = "draft"
    address: Address | None = None
    shelves: list[Address] = Field(default_factory=list)
    publisher: Publisher = Reference()
    authors: list[Author] = Reference(default_factory=list)
    editor: Author | None = Reference(default=None)


class Isbn(Model):
    """A model whose primary field has another name."""

    isbn: str = Field(primary_field=True)
    title: str


class Account(Model):
    model_config = {"optimistic_concurrency": True}
    owner: str = Field(unique=True)
    balance: int = 0


class Vehicle(Model):
    model_config = {"polymorphic": True, "collection": "vehicles"}
    name: str


class Car(Vehicle):
    doors: int = 4


class Member(Model):
    name: str
    friends: list[Member] = Reference(default_factory=list, lazy=True)


class Loan(Model):
    """Delete rules: ``on_delete`` is a Literal, a misspelled rule is an error."""

    book: Book = Reference(on_delete="cascade")
    member: Member | None = Reference(default=None, on_delete="deny")
    lender: Member | None = Reference(default=None, on_delete="leave", lazy=True)
    borrowers: list[Member] = Reference(
        default_factory=list,
        on_delete="deletes",  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    )


rule: OnDelete = "cascade"
Reference(on_delete=rule)


def refused(error: DeleteDeniedError) -> str:
    assert_type(error.count, int)
    assert_type(error.field, str)
    return error.referencing_model.__name__ + error.model.__name__


class Order(Model):
    """A model of a sharded collection, with a text index."""

    model_config = {
        "shard_key": ("tenant", "id"),
        "indexes": lambda: [Index(Order.note, kind="text", weights={Order.note: 2})],
    }
    tenant: str
    note: str = ""


class OrderHit(BaseModel):
    note: str
    score: query.TextScore


class CityOnly(BaseModel):
    city: str


class BookSummary(BaseModel):
    title: str
    address: CityOnly | None = None


class PagesByPublisher(BaseModel):
    publisher: ObjectId
    total: int


# -- collection kinds ------------------------------------------------------------------


class Reading(Model):
    at: datetime
    station: str
    celsius: float

    model_config = {
        "timeseries": TimeSeries(time_field="at", meta_field="station", granularity="hours")
    }


class LongBook(Model):
    title: str

    model_config = {"view": View(source=Book, pipeline=[{"$match": Book.pages > 300}])}


TimeSeries(time_field="at", granularity="days")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
View(source=BookSummary)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


async def collection_kinds(engine: Engine) -> None:
    try:
        await engine.configure_database([Reading, LongBook])
    except CollectionMismatchError as exc:
        assert_type(exc.differences, list[str])
    assert_type(await engine.find(LongBook), list[LongBook])
    assert_type(await engine.save(Reading(at=datetime.now(), station="s", celsius=1.0)), Reading)


# -- constructors and instances ---------------------------------------------------------

publisher = Publisher(name="Ace")
book = Book(title="Dune", publisher=publisher)
isbn = Isbn(isbn="978-0", title="Dune")
assert_type(book.id, ObjectId)
assert_type(book.pages, int)
assert_type(book.address, Address | None)
assert_type(book.publisher, Publisher)
assert_type(book.authors, list[Author])
assert_type(isbn.isbn, str)
assert_type(Author(name="ann").books, list[Book])
book.pages = 400
book.model_update({"pages": 410})
copied = book.model_copy(update={"title": "Dune Messiah"})
assert_type(copied, Book)
assert_type(book.model_dump_doc(), dict[str, Any])
assert_type(Book.model_validate_doc({"_id": ObjectId(), "title": "t"}), Book)

Book(publisher=publisher)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
Book(title=3, publisher=publisher)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
book.pages = "many"  # type: ignore[assignment]  # pyright: ignore[reportAttributeAccessIssue]

# -- queries and sorts: the typed forms ---------------------------------------------------

queries: list[QueryLike] = [
    Book.pages > 100,
    Book.title == "Dune",
    Book.price >= Decimal("9.90"),
    Book.status == "printed",
    (Book.pages < 50) | (Book.pages > 500),
    (Book.pages > 100) & (Book.title != "x"),
    query.or_(Book.pages < 3, {"raw": 1}),
    query.and_(Book.pages > 1, Book.title == "x"),
    query.nor_(Book.pages > 1),
    query.in_(Book.tags, ["sf"]),
    query.not_in(Book.title, ["x"]),
    query.all_(Book.tags, ["a", "b"]),
    query.size(Book.tags, 2),
    query.contains(Book.authors, Author(name="ann")),
    query.match(Book.title, r"^A"),
    query.exists(Book.published),
    query.eq(Book.pages, 1),
    query.gt(Book.pages, 1),
    query.elem_match(Book.shelves, Address.city == "Paris", Address.zip_code == "75001"),
    Book.address.city == "Paris",  # type: ignore[union-attr]  # pyright: ignore[reportOptionalMemberAccess]
    query.embedded(Book.address).city == "Paris",
    query.in_(query.embedded(Book.shelves).zip_code, ["75001"]),
    {"pages": {"$mod": [2, 0]}},
]
assert_type(query.and_(Book.pages > 1), QueryExpression)
assert_type(query.desc(Book.pages), SortExpression)
assert_type(query.embedded(Book.address), Address)
assert_type(query.embedded(Book.shelves), Address)
sorts: list[Any] = [
    Book.pages,
    query.desc(Book.pages),
    query.asc(Book.title),
    (Book.title, query.desc(Book.pages)),
]
Index(Book.author_count)  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]
query.embedded(Book.pages)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType, reportCallIssue]

# -- updates ----------------------------------------------------------------------------

operations: list[UpdateOperation] = [
    update.set(Book.title, "x"),
    update.set(query.embedded(Book.address).city, "Oslo"),
    update.unset(Book.published),
    update.inc(Book.pages, 1),
    update.mul(Book.price, 2),
    update.min(Book.pages, 3),
    update.max(Book.pages, 3),
    update.push(Book.tags, "a"),
    update.push(Book.tags, each=["a", "b"], position=0, slice=10),
    update.add_to_set(Book.tags, "a"),
    update.pull(Book.tags, "a"),
    update.pull(Book.shelves, Address.city == "Oslo"),
    update.current_date(Book.published),
    update.set(Book.publisher, publisher),
]
assert_type(operations[0].as_dict(), dict[str, dict[str, Any]])


# -- the async engine ---------------------------------------------------------------------


async def text_search(engine: Engine) -> None:
    search = query.text("late delivery", language="english", case_sensitive=False)
    assert_type(search, QueryExpression)
    assert_type(query.text_score(), SortExpression)
    found = await engine.find(Order, search, Order.tenant == "acme", sort=query.text_score())
    assert_type(found, list[Order])
    hits = await engine.find(Order, search, projection=OrderHit)
    assert_type(hits[0].score, float)
    query.text(3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    Index(Order.note, kind="fulltext")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


async def reads(engine: Engine) -> None:
    cursor = engine.find(Book, Book.pages > 100, sort=query.desc(Book.pages), limit=10)
    assert_type(cursor, AsyncCursor[Book])
    assert_type(await cursor, list[Book])
    async for each in engine.find(Book):
        assert_type(each, Book)
    async with engine.find(Book) as open_cursor:
        async for each in open_cursor:
            assert_type(each, Book)
    assert_type(await engine.find_one(Book, Book.title == "Dune"), Book | None)
    assert_type(await engine.find_one(Isbn, Isbn.isbn == "978-0"), Isbn | None)
    assert_type(await engine.count(Book, query.size(Book.tags, 0)), int)
    assert_type(await engine.find(Book, projection=BookSummary), list[BookSummary])
    assert_type(await engine.find_one(Book, projection=BookSummary), BookSummary | None)
    assert_type(await engine.distinct(Book, Book.tags), list[Any])
    assert_type(await engine.find(Vehicle), list[Vehicle])
    assert_type(await engine.find(Car), list[Car])
    member = await engine.find_one(Member)
    if member is not None:
        assert_type(await engine.fetch(member, "friends"), Any)
        assert_type(await engine.fetch(member, Member.friends), list[Member])
        assert_type(maybe_loaded(member.friends), list[Member | NotLoaded[Member]])


async def loading_control(engine: Engine) -> None:
    keyed = await engine.find_one(Book, references="keys")
    assert_type(keyed, Book | None)
    assert_type(engine.find(Book, references="keys"), AsyncCursor[Book])
    assert_type(await engine.find(Book, references="load", with_children=True), list[Book])
    if keyed is not None:
        publisher_or_key = maybe_loaded(keyed.publisher)
        assert_type(publisher_or_key, Publisher | NotLoaded[Publisher])
        if isinstance(publisher_or_key, NotLoaded):
            assert_type(publisher_or_key.model, type[Publisher])
            assert_type(publisher_or_key.key, Any)
        else:
            assert_type(publisher_or_key.name, str)
        assert_type(maybe_loaded(keyed.editor), Author | NotLoaded[Author] | None)
        assert_type(maybe_loaded(keyed.authors), list[Author | NotLoaded[Author]])
        assert_type(is_loaded(keyed.authors), bool)
        assert_type(await engine.fetch(keyed, Book.publisher), Publisher)
        assert_type(await engine.fetch(keyed, Book.editor), Author | None)
        author = await engine.find_one(Author, references="keys")
        if author is not None:
            assert_type(await engine.fetch(author, Author.books), list[Book])
        maybe_loaded(keyed.title)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
    engine.find(Book, references="key")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    assert_type(await engine.count(Car, with_children=False), int)
    assert_type(await engine.find(Car, with_children=False), list[Car])
    assert_type(await engine.find_one(Vehicle, with_children=False), Vehicle | None)
    async with engine.transaction() as tx:
        assert_type(await tx.find_one(Book, references="keys"), Book | None)
        assert_type(tx.find(Car, with_children=False), AsyncCursor[Car])
        assert_type(await tx.count(Car, with_children=False), int)
        if keyed is not None:
            assert_type(await tx.fetch(keyed, Book.publisher), Publisher)


async def writes(engine: Engine) -> None:
    await engine.configure_database([Book, Publisher, Author, Account])
    await engine.configure_database([Book], migrations="migrations", on_pending="run")
    await engine.configure_database([Book], migrations="migrations", on_pending="later")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    try:
        await engine.configure_database([Book], migrations="migrations")
    except PendingMigrationsError as error:
        assert_type(error.names, list[str])
        assert_type(error.pending[0].state, str)
    assert_type(await engine.save(book), Book)
    assert_type(await engine.save_all([book, copied]), list[Book])
    await engine.delete(book)
    assert_type(await engine.remove(Book, Book.pages < 10, just_one=True), int)
    result = await engine.update_one(
        Book, Book.id == book.id, update=update.inc(Book.pages, 1), upsert=True
    )
    assert_type(result, UpdateResult)
    assert_type(result.matched, int)
    assert_type(result.upserted_id, Any)
    await engine.update_many(Book, update=operations[:2])
    await engine.update_many(Book, update={"$set": {"pages": 1}})
    updated = await engine.find_one_and_update(
        Book, Book.title == "x", update=update.set(Book.pages, 2), sort=Book.pages
    )
    assert_type(updated, Book | None)
    try:
        assert_type(await engine.find_one_and_delete(Book, Book.title == "t"), Book | None)
    except WrittenDocumentParsingError as error:
        assert_type(error.document, Mapping[str, Any])
    except (DocumentNotFoundError, RevisionConflictError, InvalidValueError):
        pass


async def aggregation(engine: Engine) -> None:
    stages: list[dict[str, Any]] = [
        {"$match": Book.pages > 100},
        {"$group": {"_id": Book.publisher, "total": {"$sum": pipeline.field_path(Book.pages)}}},
        {"$project": {"_id": 0, "publisher": "$_id", "total": 1}},
    ]
    assert_type(await engine.aggregate(Book, stages), list[dict[str, Any]])
    totals = await engine.aggregate(Book, stages, into=PagesByPublisher)
    assert_type(totals, list[PagesByPublisher])
    thick = engine.aggregate(Book, [*pipeline.lookup_references(Book)], into=Book)
    assert_type(thick, AsyncCursor[Book])


async def changes(engine: Engine, send: anyio.abc.ObjectSendStream[Book]) -> None:
    async with engine.watch(Book, Book.status == "printed") as stream:
        assert_type(stream, ChangeStream[Book])
        async for change in stream:
            assert_type(change, ChangeEvent[Book])
            assert_type(change.operation, str)
            assert_type(change.document, Book | None)
            assert_type(change.resume_token, Mapping[str, Any])
            if change.document is not None:
                await send.send(change.document)
        assert_type(stream.resume_token, Mapping[str, Any] | None)
    both = engine.watch([Book, Author])
    async with both:
        async for event in both:
            if isinstance(event.document, Book):
                assert_type(event.document, Book)


async def transfer(tx: Transaction, source: str, target: str, amount: int) -> int:
    src = await tx.find_one(Account, Account.owner == source)
    dst = await tx.find_one(Account, Account.owner == target)
    if src is None or dst is None:
        return 0
    src.balance -= amount
    dst.balance += amount
    await tx.save_all([src, dst])
    return amount


async def sessions(engine: Engine) -> None:
    async with engine.session() as session:
        assert_type(session, Session)
        found = await session.find_one(Account, Account.owner == "ann")
        assert_type(found, Account | None)
        assert_type(session.find(Account), AsyncCursor[Account])
        async with session.transaction() as tx:
            assert_type(tx, Transaction)
            await tx.save(Account(owner="bob"))
        await session.find_one(Account, session=session)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    raw = engine.session()
    await raw.start()
    await raw.end()
    async with engine.transaction() as tx:
        await tx.update_one(Account, update=update.inc(Account.balance, 1))
        tx.start_soon(transfer, tx, "ann", "bob", 3)
        assert_type(tx.phase, TransactionPhase)
    assert_type(await engine.with_transaction(transfer, "ann", "bob", 30), int)
    assert_type(await session.with_transaction(transfer, "ann", "bob", 30), int)
    await engine.with_transaction(transfer, "ann", 3, "bob")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    await engine.with_transaction(transfer, "ann", "bob")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


# -- event hooks -------------------------------------------------------------------------


class AuditEntry(Model):
    text: str


class Stamped(Model):
    model_config = {"validate_on_save": True}

    name: str
    updated: datetime | None = None

    @before_event(Save)
    def touch(self) -> None:
        self.updated = datetime.now()

    @after_event(Insert, Update)
    async def audit(self, context: HookContext) -> None:
        assert_type(context.engine, Engine)
        assert_type(context.session, Session | Transaction | ClientSession | None)
        assert_type(context.events, frozenset[Event])
        await context.engine.save(AuditEntry(text=self.name), session=context.session)

    @before_event([Delete], Validate)
    def check(self, context: SyncHookContext) -> None:
        assert_type(context.engine, SyncEngine)
        assert_type(context.session, SyncSession | SyncTransaction | ClientSession | None)
        context.engine.count(Stamped, session=context.session)

    @before_event("save")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    def wrong(self) -> None: ...


async def hooks(engine: Engine, stamped: Stamped) -> None:
    assert_type(stamped.touch(), None)
    await stamped.audit(HookContext(engine, None, frozenset({Insert})))
    assert_type(await engine.save(stamped, skip_hooks=True), Stamped)
    assert_type(await engine.save_all([stamped], skip_hooks=True), list[Stamped])
    await engine.delete(stamped, skip_hooks=True)
    async with engine.transaction() as tx:
        assert_type(await tx.save(stamped, skip_hooks=False), Stamped)
        await tx.delete(stamped, skip_hooks=True)
    await engine.save(stamped, None, True)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def sync_hooks(engine: SyncEngine, stamped: Stamped) -> None:
    assert_type(engine.save(stamped, skip_hooks=True), Stamped)
    with engine.session() as session:
        assert_type(session.save_all([stamped], skip_hooks=True), list[Stamped])
        session.delete(stamped, skip_hooks=True)


async def driver_options(engine: Engine, sync: SyncEngine, book: Book) -> None:
    cursor = engine.find(Book, comment="report", hint=Book.title, batch_size=50, let={"n": 1})
    assert_type(cursor, AsyncCursor[Book])
    assert_type(await engine.count(Book, hint="title_1", read_concern=ReadConcern("local")), int)
    await engine.save(book, comment="x", write_concern=WriteConcern(w="majority"))
    await engine.update_many(Book, update={}, hint=Book.title, collation={"locale": "fr"})
    await engine.find_one(Book, read_preference=ReadPreference.SECONDARY_PREFERRED)
    options: FindOptions = {"comment": "typed", "allow_disk_use": True}
    assert_type(sync.find(Book, **options), SyncCursor[Book])
    writes: WriteOptions = {"let": {"x": 1}}
    sync.remove(Book, **writes)
    async with engine.transaction(write_concern=WriteConcern(w="majority")) as tx:
        await tx.find_one(Book, comment="in a transaction")
    derived = engine.with_options(read_concern=ReadConcern("majority"))
    assert_type(derived, Engine)
    assert_type(sync.with_options(read_preference=ReadPreference.NEAREST), SyncEngine)
    # an option an operation does not take, or of the wrong type, is a type error
    await engine.count(Book, batch_size=5)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    await engine.save(book, hint="title_1")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    engine.find(Book, batch_size="5")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    sync.find(Book, read_concern="majority")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    engine.with_options(write_concern={"w": 1})  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


# -- the sync engine ---------------------------------------------------------------------


def sync_transfer(tx: SyncTransaction, source: str, amount: int) -> None:
    account = tx.find_one(Account, Account.owner == source)
    if account is not None:
        account.balance -= amount
        tx.save(account)


def sync_engine(uri: str) -> None:
    with SyncEngine(uri, database="library") as engine:
        engine.configure_database([Book], migrations="migrations", on_pending="warn")
        cursor = engine.find(Book, sort=query.desc(Book.pages))
        assert_type(cursor, SyncCursor[Book])
        for each in cursor:
            assert_type(each, Book)
        assert_type(engine.find(Book).to_list(), list[Book])
        assert_type(engine.find_one(Book), Book | None)
        assert_type(engine.save(book), Book)
        assert_type(engine.count(Book), int)
        assert_type(engine.find(Book, references="keys"), SyncCursor[Book])
        assert_type(engine.count(Vehicle, with_children=False), int)
        keyed = engine.find_one(Book, references="keys")
        if keyed is not None:
            assert_type(engine.fetch(keyed, Book.authors), list[Author])
        assert_type(engine.aggregate(Book, [], into=PagesByPublisher), SyncCursor[PagesByPublisher])
        with engine.session() as session:
            assert_type(session, SyncSession)
            assert_type(session.find_one(Book), Book | None)
            assert_type(session.find_one(Car, with_children=False), Car | None)
            assert_type(session.find(Book, references="keys"), SyncCursor[Book])
            session.count(Book, session=session)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
        with engine.transaction() as tx:
            assert_type(tx, SyncTransaction)
            tx.save(book)
        engine.with_transaction(sync_transfer, "ann", 3)
        engine.with_transaction(sync_transfer, 3, "ann")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
        with engine.watch(Book) as stream:
            assert_type(stream, SyncChangeStream[Book])
            for change in stream:
                assert_type(change.document, Book | None)


# -- what type checkers cannot catch (docs/typing.md) -----------------------------------
# Both are refused at run time, before anything is sent, not by a checker: to a checker
# ``Book.pages`` is an ``int``, so nothing ties the value to the field's type.
update.set(Book.pages, "not an int")
Book.pages.desc()  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue]


# -- bulk writes -------------------------------------------------------------------------


async def bulk_writes(engine: Engine, book: Book, publisher: Publisher) -> None:
    save = bulk.Save(book)
    assert_type(save.instance, Book)
    items: list[bulk.BulkItem] = [
        bulk.Insert(publisher),
        save,
        bulk.Delete(book),
        bulk.UpdateOne(Book, Book.pages < 10, update=update.set(Book.pages, 10), upsert=True),
        bulk.UpdateOne(book, update=update.inc(Book.pages, 1)),
        bulk.UpdateMany(Book, update={"$set": {"pages": 1}}),
        bulk.DeleteOne(Book, Book.title == "x"),
        bulk.DeleteMany(Book),
    ]
    try:
        result = await engine.bulk_write(items, ordered=False, skip_hooks=True)
    except BulkWriteError as error:
        result = error.result
        assert_type(error.failed, list[bulk.ItemResult])
    assert_type(result, BulkResult)
    assert_type(result.inserted, int)
    assert_type(result.items[0].status, bulk.ItemStatus)
    assert_type(result.items[0].instance, Model | None)
    assert_type(result.items[0].code, int | None)
    async with engine.transaction() as tx:
        assert_type(await tx.bulk_write(bulk.Save(b) for b in [book]), BulkResult)
    await engine.bulk_write([book])  # type: ignore[list-item]  # pyright: ignore[reportArgumentType]


def sync_bulk_writes(engine: SyncEngine, book: Book) -> None:
    assert_type(engine.bulk_write([bulk.Save(book)]), BulkResult)
    with engine.session() as session:
        assert_type(session.bulk_write([bulk.Delete(book)], ordered=True), BulkResult)
