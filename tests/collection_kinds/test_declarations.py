"""Time-series and view declarations are checked when the class is created: each error
names the model (and the field)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from anyodm import EmbeddedModel, Field, Index, Model, TimeSeries, View

from .models import Book, Reading


def declare(config: dict[str, Any], **fields: Any) -> type[Model]:
    namespace: dict[str, Any] = {
        "__annotations__": {"at": datetime, "station": str, "value": float, **fields},
        "model_config": config,
    }
    return type("Measure", (Model,), namespace)


def test_time_field_and_meta_field_are_stored_keys() -> None:
    kind = Reading.__anyodm__.kind
    assert kind is not None
    assert kind.create_options() == {
        "timeseries": {"timeField": "at", "metaField": "s", "granularity": "minutes"},
        "expireAfterSeconds": 30 * 24 * 3600,
    }


def test_bucket_options() -> None:
    model = declare(
        {
            "timeseries": TimeSeries(
                time_field="at", bucket_max_span_seconds=600, bucket_rounding_seconds=600
            )
        }
    )
    assert model.__anyodm__.kind.create_options() == {  # type: ignore[union-attr]
        "timeseries": {
            "timeField": "at",
            "bucketMaxSpanSeconds": 600,
            "bucketRoundingSeconds": 600,
        }
    }


@pytest.mark.parametrize(
    ("timeseries", "message"),
    [
        (
            TimeSeries(time_field="when"),
            r"Measure: TimeSeries\(time_field='when'\): the model has no field 'when'",
        ),
        (
            TimeSeries(time_field="station"),
            r"Measure\.station: the time field .* must be a datetime",
        ),
        (
            TimeSeries(time_field="at", meta_field="nope"),
            r"Measure: TimeSeries\(meta_field='nope'\)",
        ),
        (TimeSeries(time_field="at", meta_field="at"), r"Measure\.at: the meta field cannot be"),
        (TimeSeries(time_field="at", meta_field="id"), r"Measure\.id: the meta field cannot be"),
        (
            TimeSeries(time_field="at", granularity="days"),
            r"Measure: TimeSeries\(granularity=\.\.\.\)",
        ),  # type: ignore[arg-type]
        (
            TimeSeries(
                time_field="at",
                granularity="hours",
                bucket_max_span_seconds=60,
                bucket_rounding_seconds=60,
            ),
            r"Measure: TimeSeries takes granularity or bucket",
        ),
        (
            TimeSeries(time_field="at", bucket_max_span_seconds=60),
            r"Measure: TimeSeries needs bucket_max_span",
        ),
        (
            TimeSeries(time_field="at", expire_after=timedelta(seconds=1.5)),
            r"Measure: .*whole seconds",
        ),
        (TimeSeries(time_field="at", expire_after=-3), r"Measure: .*positive number of seconds"),
        ("at", r"Measure: model_config\[\"timeseries\"\] must be an anyodm.TimeSeries"),
    ],
)
def test_bad_time_series_declarations(timeseries: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        declare({"timeseries": timeseries})


def test_an_optional_time_field_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Measure\.when: the time field"):
        declare({"timeseries": TimeSeries(time_field="when")}, when=datetime | None)


def test_time_series_with_optimistic_concurrency_is_refused() -> None:
    with pytest.raises(TypeError, match="Measure: a time-series collection cannot use optimistic"):
        declare({"timeseries": TimeSeries(time_field="at"), "optimistic_concurrency": True})


def test_an_embedded_model_cannot_be_a_collection_kind() -> None:
    with pytest.raises(TypeError, match=r"only for Model"):

        class Part(EmbeddedModel):
            at: datetime
            model_config = {"timeseries": TimeSeries(time_field="at")}  # noqa: RUF012


def test_view_pipeline_uses_the_source_fields() -> None:
    class Short(Model):
        title: str
        model_config = {"view": View(source=Book, pipeline=[{"$match": Book.pages < 100}])}  # noqa: RUF012

    kind = Short.__anyodm__.kind
    assert kind is not None
    assert kind.create_options() == {
        "viewOn": "book",
        "pipeline": [{"$match": {"pages": {"$lt": 100}}}],
    }


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"view": View(source=Book, pipeline=[{"$match": Reading.celsius > 3}])},
            r"Short: View\(pipeline=\.\.\.\): .*a field of Reading",
        ),
        (
            {"view": View(source=Book, pipeline={"$match": {}})},
            r"Short: View\(pipeline=\.\.\.\): .*list of stages",
        ),  # type: ignore[arg-type]
        (
            {"view": View(source=Book, pipeline=[{"match": {}}])},
            r"Short: View\(pipeline=\.\.\.\): .*\$-stage",
        ),
        (
            {"view": View(source=dict, pipeline=[])},
            r"Short: View\(source=\.\.\.\) must be a Model class",
        ),  # type: ignore[arg-type]
        (
            {"view": View(source=Book), "collection": "book"},
            r"Short: a view cannot be stored under its source's name",
        ),
        (
            {"view": View(source=Book), "indexes": [Index("title")]},
            r"Short: a view .* cannot have model_config\['indexes'\]",
        ),
        (
            {"view": View(source=Book), "optimistic_concurrency": True},
            r"cannot have model_config\['optimistic_concurrency'\]",
        ),
        (
            {"view": View(source=Book), "polymorphic": True},
            r"cannot have model_config\['polymorphic'\]",
        ),
        ({"view": Book}, r"Short: model_config\[\"view\"\] must be an anyodm.View"),
    ],
)
def test_bad_view_declarations(config: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        type("Short", (Model,), {"__annotations__": {"title": str}, "model_config": config})


def test_an_indexed_field_in_a_view_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Short\.title: a view cannot have indexes"):

        class Short(Model):
            title: str = Field(index=True)
            model_config = {"view": View(source=Book)}  # noqa: RUF012
