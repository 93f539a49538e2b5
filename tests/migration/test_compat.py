"""Items 7, 8, 10, 11, 12 and 13: extra values stored as BSON, ``WithBsonSerializer``,
``__pydantic_model__``, ODMantic's deprecated spellings, database names, bytes in JSON."""

from __future__ import annotations

import base64
import warnings
from decimal import Decimal
from typing import Annotated, Any

import pytest
from pymongo import MongoClient

import anyodm
from anyodm import (
    AIOSession,
    AIOTransaction,
    EmbeddedModel,
    Engine,
    Field,
    Model,
    Session,
    SyncEngine,
    SyncTransaction,
    Transaction,
    WithBsonSerializer,
)
from anyodm.model import Binary, ODMConfigDict


class Loose(Model):
    model_config = ODMConfigDict(extra="allow")
    name: str


class LooseInner(EmbeddedModel):
    model_config = ODMConfigDict(extra="allow")
    kind: str


class Holder(Model):
    inner: LooseInner


async def test_extra_values_are_stored_as_bson(engine: Any) -> None:
    item = Loose(name="a", price=Decimal("9.99"), tags={"x"})
    await engine.save(item)  # a Decimal extra made the save fail
    raw = engine.database[Loose.__anyodm__.collection].find_one()
    assert str(raw["price"]) == "9.99"
    assert raw["tags"] == ["x"]
    await engine.save(Holder(inner=LooseInner(kind="k", weight=Decimal("1.5"))))
    raw = engine.database[Holder.__anyodm__.collection].find_one()
    assert str(raw["inner"]["weight"]) == "1.5"
    found = await engine.find_one(Loose)
    assert found.name == "a"
    assert str(found.model_extra["price"]) == "9.99"


class ASCIIText(str):
    """ODMantic's documented example: a str stored as bytes."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        def validate(value: Any) -> str:
            if isinstance(value, bytes):  # read back from MongoDB
                return value.decode("ascii")
            if not isinstance(value, str) or not value.isascii():
                raise ValueError("ascii text required")
            return value

        return core_schema.no_info_plain_validator_function(validate)


def to_bytes(value: str) -> bytes:
    return value.encode("ascii")


ASCIIAsBinary = Annotated[ASCIIText, WithBsonSerializer(to_bytes)]


class Example(Model):
    field: ASCIIAsBinary
    others: list[ASCIIAsBinary] = Field(default_factory=list)


async def test_with_bson_serializer(engine: Any) -> None:
    example = Example(field="hello world", others=["a"])
    assert example.model_dump()["field"] == "hello world"  # python/JSON unchanged
    assert example.model_dump_doc()["field"] == b"hello world"
    await engine.save(example)
    raw = engine.database[Example.__anyodm__.collection].find_one()
    assert raw["field"] == b"hello world"
    assert raw["others"] == [b"a"]
    fetched = await engine.find_one(Example, Example.id == example.id)
    assert fetched.field == "hello world"
    assert fetched.others == ["a"]
    assert anyodm.WithBsonSerializer is WithBsonSerializer


def test_pydantic_model_is_the_model_itself() -> None:
    assert Example.__pydantic_model__ is Example
    assert Loose.__pydantic_model__ is Loose


def test_deprecated_spellings_warn_and_work() -> None:
    item = Loose(name="a")
    with pytest.warns(DeprecationWarning, match=r"Loose\.doc\(\) is deprecated"):
        doc = item.doc()
    assert doc == item.model_dump_doc()
    with pytest.warns(DeprecationWarning, match=r"parse_doc\(\)"):
        assert Loose.parse_doc(doc) == item
    with pytest.warns(DeprecationWarning, match=r"update\(\)"):
        item.update({"name": "b"})
    assert item.name == "b"


def test_odmantic_session_names() -> None:
    assert AIOSession is Session
    assert AIOTransaction is Transaction
    assert anyodm.AIOSession is Session


async def test_aio_transaction_takes_a_session(anyodm_engine: Engine) -> None:
    async with anyodm_engine.session() as session, AIOTransaction(session) as tx:
        assert tx.session is session
        await tx.save(Loose(name="in tx"))
    assert await anyodm_engine.count(Loose) == 1


def test_sync_transaction_takes_a_session(anyodm_sync_engine: SyncEngine) -> None:
    with anyodm_sync_engine.session() as session, SyncTransaction(session) as tx:
        assert tx.session is session
        tx.save(Loose(name="in tx"))
    assert anyodm_sync_engine.count(Loose) == 1


@pytest.mark.parametrize("name", ["", "a.b", "a b", "a/b", "a$b", 'a"b', "x" * 64])
@pytest.mark.parametrize("engine_class", [Engine, SyncEngine])
def test_invalid_database_name(engine_class: Any, name: str) -> None:
    client: MongoClient[Any] = MongoClient(connect=False)
    try:
        with pytest.raises(ValueError, match="invalid database name"):
            engine_class(client=client, database=name)
    finally:
        client.close()


class Blob(Model):
    raw: bytes
    binary: Binary
    maybe: bytes | None = None


async def test_bytes_and_binary_have_the_same_json(engine: Any) -> None:
    data = b"\xff\x00hello"
    blob = Blob(raw=data, binary=data, maybe=data)
    dumped = blob.model_dump(mode="json")
    encoded = base64.b64encode(data).decode()
    assert dumped["raw"] == dumped["binary"] == dumped["maybe"] == encoded
    assert Blob.model_validate_json(blob.model_dump_json()) == blob
    await engine.save(blob)
    found = await engine.find_one(Blob)
    assert found.model_dump(mode="json") == dumped


def test_no_warning_from_the_current_spellings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        item = Loose(name="a")
        Loose.model_validate_doc(item.model_dump_doc())
        item.model_update({"name": "c"})


def test_odmantic_bson_module_names() -> None:
    from anyodm import bson as odm_bson
    from anyodm.model import Int64

    assert odm_bson.Long is odm_bson.Int64 is Int64
    assert odm_bson.WithBsonSerializer is WithBsonSerializer
    assert odm_bson.Binary is Binary
