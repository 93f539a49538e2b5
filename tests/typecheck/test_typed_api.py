"""Run-time behaviour that the typed API relies on: what type checkers are told must be
what the code does."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest

import anyodm
from anyodm import EmbeddedModel, Engine, Field, Model, Reference, SyncEngine, query, update
from anyodm.aio.engine_methods import EngineMethods
from anyodm.core.engine_methods import SyncEngineMethods

ROOT = Path(anyodm.__file__).parent

BOUND = (
    "find",
    "find_one",
    "count",
    "save",
    "save_all",
    "delete",
    "remove",
    "update_one",
    "update_many",
    "find_one_and_update",
    "find_one_and_delete",
    "distinct",
    "aggregate",
    "fetch",
    "bulk_write",
)


class Address(EmbeddedModel):
    city: str
    zip_code: str = ""


class Person(Model):
    name: str
    age: int = 0
    address: Address | None = None
    homes: list[Address] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class Pet(Model):
    owner: Person = Reference()


# -- the session classes' declared signatures are the engine's without session= ----------


def _functions(path: Path, class_name: str, *, typing_block: bool) -> dict[str, ast.AST]:
    tree = ast.parse(path.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    body: list[ast.stmt] = cls.body
    if typing_block:
        block = next(
            n for n in body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
        )
        body = block.body
    return {n.name: n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _signature(node: Any, *, drop_session: bool) -> str:
    """A function's signature as source: its kind (async or not), parameters and
    return annotation, without its body and docstring (and ``session``, if asked)."""
    args = node.args
    keep = [
        (a, d)
        for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
        if not (drop_session and a.arg == "session")
    ]
    clone = ast.arguments(
        posonlyargs=args.posonlyargs,
        args=args.args,
        vararg=args.vararg,
        kwonlyargs=[a for a, _ in keep],
        kw_defaults=[d for _, d in keep],
        kwarg=args.kwarg,
        defaults=args.defaults,
    )
    kind = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = ast.unparse(node.returns) if node.returns is not None else ""
    return f"{kind} {node.name}({ast.unparse(clone)}) -> {returns}"


@pytest.mark.parametrize(
    ("session_module", "crud", "engine_module", "engine_class"),
    [
        ("aio/session.py", "_AsyncCrud", "aio/engine_methods.py", "EngineMethods"),
        ("core/session.py", "_SyncCrud", "core/engine_methods.py", "SyncEngineMethods"),
    ],
)
def test_the_declared_session_methods_are_the_engines_without_session(
    session_module: str, crud: str, engine_module: str, engine_class: str
) -> None:
    declared = _functions(ROOT / session_module, crud, typing_block=True)
    engine = _functions(ROOT / engine_module, engine_class, typing_block=False)
    assert sorted(declared) == sorted(BOUND)
    for name in BOUND:
        assert _signature(declared[name], drop_session=False) == _signature(
            engine[name], drop_session=True
        )


@pytest.mark.parametrize("engine_class", [EngineMethods, SyncEngineMethods])
def test_every_session_parameter_is_keyword_only(engine_class: type[Any]) -> None:
    for name in BOUND:
        parameter = inspect.signature(getattr(engine_class, name)).parameters["session"]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY


# -- a session's methods refuse session= ---------------------------------------------------


def test_a_sync_session_method_refuses_session(anyodm_sync_engine: SyncEngine) -> None:
    with anyodm_sync_engine.session() as session, anyodm_sync_engine.session() as other:
        with pytest.raises(TypeError, match=r"SyncSession\.count\(\) takes no session="):
            session.count(Person, session=other)  # type: ignore[call-arg]
        with (
            anyodm_sync_engine.transaction() as tx,
            pytest.raises(TypeError, match=r"SyncTransaction\.save\(\) takes no session="),
        ):
            tx.save(Person(name="x"), session=None)  # type: ignore[call-arg]
        assert session.count(Person) == 0


async def test_a_session_method_refuses_session(anyodm_engine: Engine) -> None:
    async with anyodm_engine.session() as session:
        with pytest.raises(TypeError, match=r"Session\.find_one\(\) takes no session="):
            await session.find_one(Person, session=session)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match=r"Session\.find\(\) takes no session="):
            session.find(Person, session=None)  # type: ignore[call-arg]
    async with anyodm_engine.transaction() as tx:
        with pytest.raises(TypeError, match=r"Transaction\.remove\(\) takes no session="):
            await tx.remove(Person, session=None)  # type: ignore[call-arg]
        assert await tx.count(Person) == 0


# -- with_transaction passes its arguments in order ---------------------------------------


def test_with_transaction_passes_the_arguments_in_order(anyodm_sync_engine: SyncEngine) -> None:
    def callback(tx: anyodm.SyncTransaction, name: str, age: int) -> int:
        tx.save(Person(name=name, age=age))
        return age

    assert anyodm_sync_engine.with_transaction(callback, "ann", 3) == 3
    found = anyodm_sync_engine.find_one(Person)
    assert found is not None
    assert (found.name, found.age) == ("ann", 3)


# -- a model's class attributes ------------------------------------------------------------


def test_a_misspelt_field_names_the_model_and_the_closest_field() -> None:
    with pytest.raises(AttributeError, match=r"Person has no attribute or field 'nmae'") as info:
        Person.nmae  # type: ignore[attr-defined]  # noqa: B018
    assert "did you mean 'name'?" in str(info.value)
    assert info.value.name == "nmae"
    assert info.value.obj is Person


def test_an_unknown_name_lists_the_fields() -> None:
    with pytest.raises(AttributeError, match=r"its fields: id, name, age, address"):
        Person.zzzzzz  # type: ignore[attr-defined]  # noqa: B018


def test_private_names_stay_bare_attribute_errors() -> None:
    assert not hasattr(Person, "_nothing_here")
    with pytest.raises(AttributeError) as info:
        Person.__nothing__  # type: ignore[attr-defined]  # noqa: B018
    assert str(info.value) == "__nothing__"


def test_a_misspelt_sub_field_names_the_closest() -> None:
    with pytest.raises(AttributeError, match=r"Person.address has no sub-field 'ctiy'; did you"):
        query.embedded(Person.address).ctiy  # noqa: B018


def test_the_automatic_primary_key_is_optional_in_the_constructor() -> None:
    person = Person(name="ann")
    assert isinstance(person.id, anyodm.ObjectId)


# -- query helpers that type-check -----------------------------------------------------------


def test_embedded_builds_the_path_through_an_optional_or_list_field() -> None:
    assert (query.embedded(Person.address).city == "Paris") == {"address.city": {"$eq": "Paris"}}
    assert (query.embedded(Person.homes).zip_code == "1") == {"homes.zip_code": {"$eq": "1"}}
    assert query.embedded(Person.address) is Person.address


def test_embedded_refuses_a_field_without_embedded_models() -> None:
    with pytest.raises(TypeError, match=r"Person.tags is list\[str\]"):
        query.embedded(Person.tags)
    with pytest.raises(TypeError, match="expected a model field"):
        query.embedded("address")


def test_a_combinator_refuses_a_real_bool() -> None:
    with pytest.raises(TypeError, match="expects queries"):
        query.or_(Person.age > 1, True)
    with pytest.raises(TypeError, match=r"elem_match\(\) expects queries"):
        query.elem_match(Person.homes, False)


def test_function_forms_build_what_the_methods_build() -> None:
    assert query.in_(Person.tags, ["a"]) == Person.tags.in_(["a"])
    assert query.desc(Person.age) == Person.age.desc()
    assert query.match(Person.name, "^a") == Person.name.match("^a")
    assert query.all_(Person.tags, ["a"]) == Person.tags.all(["a"])
    assert query.size(Person.tags, 2) == Person.tags.size(2)
    assert query.contains(Person.tags, "a") == Person.tags.contains("a")
    assert query.elem_match(Person.homes, Address.city == "x") == Person.homes.elem_match(
        Address.city == "x"
    )
    assert query.or_(Person.age < 3, {"raw": 1}) == (Person.age < 3) | {"raw": 1}


def test_update_functions_take_the_field_first() -> None:
    assert update.set(Person.age, 3).as_dict() == {"$set": {"age": 3}}
    with pytest.raises(anyodm.InvalidValueError):
        update.set(Person.age, "not an int")
