"""Every engine method and option, on Engine (trio and asyncio) and SyncEngine."""

from __future__ import annotations

from typing import Any

import pytest
from bson import ObjectId

from anyodm import DocumentNotFoundError, DuplicateKeyError, query
from tests.engine.models import Account, Address, Author, Book, Country, Publisher, Sku


async def test_save_then_find_one_round_trips(engine: Any) -> None:
    author = Author(name="Ursula", age=88, address=Address(street="Main", city="Portland"))
    saved = await engine.save(author)
    assert saved is author
    found = await engine.find_one(Author, Author.name == "Ursula")
    assert found == author
    assert isinstance(found.id, ObjectId)


async def test_find_one_returns_none_when_nothing_matches(engine: Any) -> None:
    assert await engine.find_one(Author, Author.name == "nobody") is None


async def test_save_sends_only_modified_fields(engine: Any) -> None:
    account = await engine.save(Account(owner="ann", balance=10))
    # Someone else changes the owner behind our back; our save must not overwrite it.
    engine.database[Account.__anyodm__.collection].update_one(
        {"_id": account.id}, {"$set": {"owner": "bob"}}
    )
    account.balance = 20
    await engine.save(account)
    raw = engine.database[Account.__anyodm__.collection].find_one({"_id": account.id})
    assert raw == {"_id": account.id, "owner": "bob", "balance": 20}


async def test_custom_primary_field_is_stored_as_id(engine: Any) -> None:
    await engine.save(Sku(code="A-1", stock=3))
    raw = engine.database[Sku.__anyodm__.collection].find_one({"_id": "A-1"})
    assert raw == {"_id": "A-1", "stock": 3}
    assert await engine.find_one(Sku, Sku.code == "A-1") == Sku(code="A-1", stock=3)


async def test_find_awaited_gives_a_list_with_sort_skip_limit(engine: Any) -> None:
    await engine.save_all([Author(name=f"a{i}", age=i) for i in range(6)])
    everyone = await engine.find(Author)
    assert isinstance(everyone, list)
    assert len(everyone) == 6
    page = await engine.find(Author, sort=Author.age.desc(), skip=1, limit=2)
    assert [a.age for a in page] == [4, 3]
    ascending = await engine.find(Author, Author.age >= 3, sort=query.asc(Author.age))
    assert [a.age for a in ascending] == [3, 4, 5]


async def test_sort_by_a_tuple_of_keys(engine: Any) -> None:
    await engine.save_all(
        [Author(name="b", age=1), Author(name="a", age=1), Author(name="c", age=0)]
    )
    found = await engine.find(Author, sort=(Author.age.desc(), Author.name))
    assert [a.name for a in found] == ["a", "b", "c"]


async def test_raw_dict_queries_mix_with_expressions(engine: Any) -> None:
    await engine.save_all([Author(name=f"a{i}", age=i) for i in range(5)])
    found = await engine.find(Author, {"age": {"$gte": 2}}, Author.age < 4, sort=Author.age)
    assert [a.age for a in found] == [2, 3]


async def test_user_input_dict_is_never_an_operator(engine: Any) -> None:
    await engine.save(Author(name="x", age=1))
    hostile: Any = {"$ne": "nobody"}
    assert await engine.find_one(Author, Author.name == hostile) is None


async def test_count(engine: Any) -> None:
    await engine.save_all([Author(name=f"a{i}", age=i) for i in range(5)])
    assert await engine.count(Author) == 5
    assert await engine.count(Author, Author.age > 2) == 2


async def test_save_all_upserts_and_updates(engine: Any) -> None:
    people = await engine.save_all([Author(name=f"p{i}", age=i) for i in range(3)])
    people[0].age = 40
    await engine.save_all(people)
    assert await engine.count(Author) == 3
    assert (await engine.find_one(Author, Author.name == "p0")).age == 40


async def test_delete_and_delete_missing(engine: Any) -> None:
    author = await engine.save(Author(name="gone", age=1))
    await engine.delete(author)
    assert await engine.count(Author) == 0
    with pytest.raises(DocumentNotFoundError):
        await engine.delete(author)


async def test_remove_many_and_just_one(engine: Any) -> None:
    await engine.save_all([Author(name=f"r{i}", age=i % 2) for i in range(6)])
    assert await engine.remove(Author, Author.age == 0, just_one=True) == 1
    assert await engine.remove(Author, Author.age == 0) == 2
    assert await engine.count(Author) == 3


async def test_references_two_levels_are_saved_and_loaded(engine: Any) -> None:
    country = Country(name="France")
    publisher = Publisher(name="Gallimard", founded=1911, country=country)
    book = Book(title="L'Etranger", pages=159, publisher=publisher)
    await engine.save(book)  # references first
    assert await engine.count(Country) == 1
    assert await engine.count(Publisher) == 1
    raw = engine.database[Book.__anyodm__.collection].find_one({"_id": book.id})
    assert raw["publisher"] == publisher.id
    loaded = await engine.find_one(Book, Book.title == "L'Etranger")
    assert loaded.publisher.name == "Gallimard"
    assert loaded.publisher.country.name == "France"
    many = await engine.find(Book, sort=Book.pages, limit=5)
    assert many[0].publisher.country == country


async def test_unique_index_violation_raises_duplicate_key_error(engine: Any) -> None:
    await engine.configure_database([Author])
    await engine.save(Author(name="same", age=1))
    with pytest.raises(DuplicateKeyError) as info:
        await engine.save(Author(name="same", age=2))
    assert "same" in str(info.value)
    assert await engine.count(Author) == 1


async def test_configure_database_creates_the_declared_indexes(engine: Any) -> None:
    await engine.configure_database([Author, Book])
    info = engine.database[Author.__anyodm__.collection].index_information()
    keys = {tuple(spec["key"]) for spec in info.values()}
    assert (("name", 1),) in keys
    assert (("age", 1),) in keys
    assert any(spec.get("unique") for spec in info.values())


async def test_streaming_yields_every_document(engine: Any) -> None:
    await engine.save_all([Author(name=f"s{i:03}", age=i) for i in range(250)])
    names = [a.name async for a in engine.find(Author, sort=Author.name)]
    assert names == [f"s{i:03}" for i in range(250)]


async def test_streaming_with_early_exit(engine: Any) -> None:
    await engine.save_all([Author(name=f"s{i:03}", age=i) for i in range(250)])
    seen = []
    async for author in engine.find(Author, sort=Author.name):
        seen.append(author.name)
        if len(seen) == 3:
            break
    assert seen == ["s000", "s001", "s002"]
    assert await engine.count(Author) == 250  # the engine is still usable


async def test_get_collection_and_database(engine: Any) -> None:
    collection = (
        engine.get_collection(Author)
        if not hasattr(engine, "sync")
        else (engine.sync.get_collection(Author))
    )
    assert collection.name == "author"
    assert collection.database.name == engine.database.name


async def test_a_fresh_instance_with_a_chosen_key_overwrites_like_an_upsert(engine: Any) -> None:
    await engine.save(Sku(code="B-2", stock=1))
    await engine.save(Sku(code="B-2", stock=7))  # a new instance, same primary key
    assert await engine.count(Sku) == 1
    assert (await engine.find_one(Sku, Sku.code == "B-2")).stock == 7
    account = await engine.save(Account(owner="ann", balance=1))
    await engine.save(Account(id=account.id, owner="bob"))
    found = await engine.find_one(Account, Account.id == account.id)
    assert (found.owner, found.balance) == ("bob", 0)


async def test_save_all_of_new_instances_then_of_changed_ones(engine: Any) -> None:
    fresh = [Account(owner=f"o{i}", balance=i) for i in range(5)]
    await engine.save_all(fresh)
    for account in fresh:
        account.balance += 100
    await engine.save_all(fresh)
    balances = sorted(a.balance for a in await engine.find(Account))
    assert balances == [100, 101, 102, 103, 104]


async def test_configure_database_replaces_changed_indexes_only_when_asked(engine: Any) -> None:
    from pymongo.errors import OperationFailure

    from anyodm import Field, Model

    class Plain(Model):
        model_config = {"collection": "evolving"}  # noqa: RUF012
        code: str = Field(index=True)

    class Unique(Model):
        model_config = {"collection": "evolving"}  # noqa: RUF012
        code: str = Field(unique=True)

    await engine.configure_database([Plain])
    with pytest.raises(OperationFailure):
        await engine.configure_database([Unique])
    await engine.configure_database([Unique], update_existing_indexes=True)
    info = engine.database["evolving"].index_information()
    assert any(spec.get("unique") for spec in info.values())
