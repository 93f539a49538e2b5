"""Declaring hooks: what the decorators accept, and the errors at class creation."""

from __future__ import annotations

from typing import Any

import pytest

from anyodm import (
    Delete,
    EmbeddedModel,
    Event,
    Insert,
    Model,
    Save,
    Update,
    Validate,
    after_event,
    before_event,
)
from anyodm.model import ODMConfigDict
from anyodm.model.hooks import NO_HOOKS


def test_the_event_names_are_the_enum_members() -> None:
    assert [Insert, Update, Save, Delete, Validate] == [
        Event.INSERT,
        Event.UPDATE,
        Event.SAVE,
        Event.DELETE,
        Event.VALIDATE,
    ]


def test_stacked_decorators_and_lists_of_events_make_one_hook() -> None:
    class Stacked(Model):
        name: str

        @before_event([Insert, Update], Delete)
        @after_event(Save)
        def both(self) -> None: ...

    (hook,) = Stacked.__anyodm_hooks__.hooks
    assert hook.qualname == "Stacked.both"
    assert hook.before == {Insert, Update, Delete}
    assert hook.after == {Save}
    assert not hook.takes_context
    assert not hook.is_async


def test_a_decorated_method_is_still_a_method() -> None:
    class Plain(Model):
        name: str

        @before_event(Save)
        def shout(self) -> str:
            return self.name.upper()

        @before_event(Save)
        async def whisper(self, context: Any) -> str:
            return self.name.lower()

    assert Plain(name="Ab").shout() == "AB"
    whisper = Plain.__anyodm_hooks__.hooks[1]
    assert whisper.is_async
    assert whisper.takes_context


def test_a_model_without_hooks_has_none() -> None:
    class Bare(Model):
        name: str

    assert Bare.__anyodm_hooks__ is NO_HOOKS
    assert not Bare.__anyodm_hooks__.active


def test_validate_on_save_is_inherited() -> None:
    class Parent(Model):
        model_config = ODMConfigDict(validate_on_save=True)
        name: str

    class Kid(Parent):
        pass

    assert Kid.__anyodm_hooks__.validate_on_save
    assert Kid.__anyodm_hooks__.active


@pytest.mark.parametrize("args", [(), ("save",), (Event,), (None,)])
def test_the_decorators_need_events(args: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError, match="before_event"):
        before_event(*args)


def test_the_decorator_without_parentheses_says_how_to_write_it() -> None:
    with pytest.raises(TypeError, match=r"write @after_event\(Save\)"):

        class Wrong(Model):
            name: str

            @after_event  # type: ignore[arg-type]
            def late(self) -> None: ...


def test_a_hook_takes_self_or_self_and_context() -> None:
    with pytest.raises(TypeError, match=r"Wrong\.three: a hook method takes \(self\) or"):

        class Wrong(Model):
            name: str

            @before_event(Save)
            def three(self, context: Any, extra: Any) -> None: ...

    with pytest.raises(TypeError, match=r"takes \(self\) or \(self, context\)"):

        class Keyword(Model):
            name: str

            @before_event(Save)
            def keyword(self, *, needed: Any) -> None: ...


@pytest.mark.parametrize("wrapper", [staticmethod, classmethod, property])
def test_a_hook_is_an_instance_method(wrapper: Any) -> None:
    def function(self: Any) -> None: ...

    with pytest.raises(TypeError, match="a hook is an instance method"):
        before_event(Save)(wrapper(function))


def test_a_generator_is_not_a_hook() -> None:
    def gen(self: Any) -> Any:
        yield

    with pytest.raises(TypeError, match="cannot be a generator"):
        before_event(Save)(gen)


def test_hooks_on_an_embedded_model_are_refused() -> None:
    with pytest.raises(TypeError, match=r"Part\.check: event hooks are for Model classes"):

        class Part(EmbeddedModel):
            name: str

            @before_event(Save)
            def check(self) -> None: ...


def test_a_mixin_hook_is_inherited() -> None:
    class Audited:
        @after_event(Save)
        def audited(self) -> None: ...

    class Order(Audited, Model):
        name: str

        @after_event(Save)
        def own(self) -> None: ...

    assert [hook.qualname for hook in Order.__anyodm_hooks__.hooks] == [
        "Audited.audited",
        "Order.own",
    ]
