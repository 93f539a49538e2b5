"""Collection kinds: time-series collections and views, declared in ``model_config``.

``model_config = {"timeseries": TimeSeries(time_field="at", meta_field="sensor")}`` makes
the model's collection a time-series collection; ``model_config = {"view": View(source=
Book, pipeline=[...])}`` makes the model a read-only view of another model's collection.
The declarations are checked when the class is created (errors name the model and the
field); ``configure_database`` creates the collection or view (``anyodm.core.kinds``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from anyodm.model.query import FieldProxy

if TYPE_CHECKING:
    from anyodm.model.model import Model

__all__ = ["CollectionKind", "TimeSeries", "TimeSeriesKind", "View", "ViewKind", "resolve_kind"]

Granularity = Literal["seconds", "minutes", "hours"]
_GRANULARITIES = ("seconds", "minutes", "hours")


@dataclass(frozen=True)
class TimeSeries:
    """A time-series collection for ``model_config["timeseries"]``.

    ``time_field`` (required) and ``meta_field`` name fields of the model (python names,
    or field proxies); the time field must be a ``datetime``.  Buckets are sized by
    ``granularity`` or, exclusively, by ``bucket_max_span_seconds`` with
    ``bucket_rounding_seconds`` (equal values, MongoDB 6.3+).  ``expire_after``
    (a ``timedelta`` or seconds) removes measurements older than that.
    """

    time_field: Any
    meta_field: Any = None
    granularity: Granularity | None = None
    bucket_max_span_seconds: int | None = None
    bucket_rounding_seconds: int | None = None
    expire_after: datetime.timedelta | int | None = None


@dataclass(frozen=True)
class View:
    """A read-only view for ``model_config["view"]``: the documents of ``source``'s
    collection passed through ``pipeline`` (stages may name ``source``'s fields with
    field proxies, as in ``aggregate``)."""

    source: type[Model]
    pipeline: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class TimeSeriesKind:
    """A checked time-series declaration, with stored key names."""

    time_key: str
    meta_key: str | None
    granularity: str | None
    bucket_seconds: int | None
    expire_after_seconds: int | None

    def create_options(self) -> dict[str, Any]:
        """The keyword arguments of ``Database.create_collection``."""
        timeseries: dict[str, Any] = {"timeField": self.time_key}
        if self.meta_key is not None:
            timeseries["metaField"] = self.meta_key
        if self.granularity is not None:
            timeseries["granularity"] = self.granularity
        if self.bucket_seconds is not None:
            timeseries["bucketMaxSpanSeconds"] = self.bucket_seconds
            timeseries["bucketRoundingSeconds"] = self.bucket_seconds
        options: dict[str, Any] = {"timeseries": timeseries}
        if self.expire_after_seconds is not None:
            options["expireAfterSeconds"] = self.expire_after_seconds
        return options

    def differences(self, options: Mapping[str, Any]) -> list[str]:
        """How the options of an existing collection (as ``listCollections`` reports
        them, with the server's defaults filled in) differ from this declaration."""
        found = options.get("timeseries")
        if not isinstance(found, Mapping):
            return ["it is not a time-series collection"]
        wanted = self.create_options()["timeseries"]
        out = []
        for option in ("timeField", "metaField"):
            if found.get(option) != wanted.get(option):
                out.append(f"{option} is {found.get(option)!r}, not {wanted.get(option)!r}")
        if self.bucket_seconds is not None:
            for option in ("bucketMaxSpanSeconds", "bucketRoundingSeconds"):
                if found.get(option) != self.bucket_seconds:
                    out.append(f"{option} is {found.get(option)!r}, not {self.bucket_seconds}")
        else:  # the server's default granularity is "seconds"
            granularity = found.get("granularity", "seconds")
            if granularity != (self.granularity or "seconds"):
                out.append(f"granularity is {granularity!r}, not {self.granularity or 'seconds'!r}")
        expire = options.get("expireAfterSeconds")
        if expire != self.expire_after_seconds:
            out.append(f"expireAfterSeconds is {expire!r}, not {self.expire_after_seconds!r}")
        return out


@dataclass(frozen=True)
class ViewKind:
    """A checked view declaration: the source collection and the pipeline as sent."""

    source: type[Model]
    pipeline: tuple[dict[str, Any], ...]

    @property
    def view_on(self) -> str:
        return self.source.__anyodm__.collection

    def create_options(self) -> dict[str, Any]:
        """The keyword arguments of ``Database.create_collection``."""
        return {"viewOn": self.view_on, "pipeline": list(self.pipeline)}

    def differences(self, options: Mapping[str, Any]) -> list[str]:
        """How an existing view's definition differs from this declaration."""
        if "viewOn" not in options:
            return ["it is a collection, not a view"]
        out = []
        if options.get("viewOn") != self.view_on:
            out.append(f"it is a view on {options.get('viewOn')!r}, not on {self.view_on!r}")
        if list(options.get("pipeline") or []) != list(self.pipeline):
            out.append(
                f"its pipeline is {list(options.get('pipeline') or [])!r:.200}, not "
                f"{list(self.pipeline)!r:.200}"
            )
        return out


CollectionKind = TimeSeriesKind | ViewKind


def _fail(model: str, message: str) -> TypeError:
    return TypeError(f"{model}: {message}")


def _field_name(model: str, what: str, value: Any, fields: Mapping[str, Any]) -> str:
    """The python name of the field ``value`` names (a str or a field proxy)."""
    if isinstance(value, FieldProxy):
        name = value._name
        if "." in value._path:
            raise _fail(model, f"TimeSeries({what}=...) must be a top-level field, not {name!r}")
    elif isinstance(value, str):
        name = value
    else:
        raise _fail(model, f"TimeSeries({what}=...) must name a field, not {value!r:.80}")
    if name not in fields:
        raise _fail(model, f"TimeSeries({what}={name!r}): the model has no field {name!r}")
    return name


def _positive_seconds(model: str, what: str, value: Any) -> int:
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
        if seconds != int(seconds):
            raise _fail(model, f"TimeSeries({what}=...) must be whole seconds, not {value}")
        value = int(seconds)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _fail(
            model, f"TimeSeries({what}=...) must be a positive number of seconds, not {value!r}"
        )
    return value


def _time_series(
    model: str,
    declared: Any,
    fields: Mapping[str, Any],
    key_names: Mapping[str, str],
    primary: str,
) -> TimeSeriesKind:
    if not isinstance(declared, TimeSeries):
        raise _fail(
            model, f'model_config["timeseries"] must be an anyodm.TimeSeries, not {declared!r:.80}'
        )
    time_name = _field_name(model, "time_field", declared.time_field, fields)
    if fields[time_name].annotation is not datetime.datetime:
        raise _fail(
            f"{model}.{time_name}",
            "the time field of a time-series collection must be a datetime (every "
            "measurement needs one)",
        )
    if time_name == primary:
        raise _fail(f"{model}.{time_name}", "the time field cannot be the primary field")
    meta_key = None
    if declared.meta_field is not None:
        meta_name = _field_name(model, "meta_field", declared.meta_field, fields)
        if meta_name in (primary, time_name):
            raise _fail(
                f"{model}.{meta_name}",
                "the meta field cannot be the primary field nor the time field",
            )
        meta_key = key_names[meta_name]
    granularity = declared.granularity
    if granularity is not None and granularity not in _GRANULARITIES:
        raise _fail(
            model,
            f"TimeSeries(granularity=...) must be one of {', '.join(map(repr, _GRANULARITIES))}, "
            f"not {granularity!r}",
        )
    span, rounding = declared.bucket_max_span_seconds, declared.bucket_rounding_seconds
    bucket_seconds = None
    if span is not None or rounding is not None:
        if granularity is not None:
            raise _fail(
                model,
                "TimeSeries takes granularity or bucket_max_span_seconds/"
                "bucket_rounding_seconds, not both",
            )
        if span is None or rounding is None or span != rounding:
            raise _fail(
                model,
                "TimeSeries needs bucket_max_span_seconds and bucket_rounding_seconds "
                f"together, with equal values (got {span!r} and {rounding!r})",
            )
        bucket_seconds = _positive_seconds(model, "bucket_max_span_seconds", span)
    expire = None
    if declared.expire_after is not None:
        expire = _positive_seconds(model, "expire_after", declared.expire_after)
    return TimeSeriesKind(key_names[time_name], meta_key, granularity, bucket_seconds, expire)


def _view(model: str, declared: Any, collection: str) -> ViewKind:
    from anyodm.model.model import Model
    from anyodm.model.pipeline import build_pipeline

    if not isinstance(declared, View):
        raise _fail(model, f'model_config["view"] must be an anyodm.View, not {declared!r:.80}')
    source = declared.source
    if not (isinstance(source, type) and issubclass(source, Model) and source is not Model):
        raise _fail(model, f"View(source=...) must be a Model class, not {source!r:.80}")
    if source.__anyodm__.collection == collection:
        raise _fail(model, f"a view cannot be stored under its source's name {collection!r}")
    try:
        stages = build_pipeline(source, declared.pipeline)
    except TypeError as exc:
        raise _fail(model, f"View(pipeline=...): {exc}") from None
    own = source.__anyodm__.family_filter()
    if own is not None:  # a view of a polymorphic subclass sees its documents only
        stages.insert(0, {"$match": own})
    return ViewKind(source, tuple(stages))


#: what a view model cannot declare (it has no documents of its own to write or index)
_NOT_FOR_VIEWS = ("indexes", "optimistic_concurrency", "polymorphic", "timeseries")


def resolve_kind(
    model: str,
    config: Mapping[str, Any],
    fields: Mapping[str, Any],
    key_names: Mapping[str, str],
    primary: str,
    collection: str,
    indexed: str | None,
) -> CollectionKind | None:
    """The collection kind ``config`` (the class's own ``model_config``) declares, checked;
    ``indexed``: a field declared with ``Field(index=/unique=)``, if any."""
    if "view" in config:
        for key in _NOT_FOR_VIEWS:
            if config.get(key):
                raise _fail(
                    model, f'a view (model_config["view"]) cannot have model_config[{key!r}]'
                )
        if indexed is not None:
            raise _fail(
                f"{model}.{indexed}",
                "a view cannot have indexes (index them on the source model)",
            )
        return _view(model, config["view"], collection)
    if "timeseries" in config:
        if config.get("optimistic_concurrency"):
            raise _fail(
                model,
                "a time-series collection cannot use optimistic_concurrency (its "
                "measurements are not updated by save)",
            )
        return _time_series(model, config["timeseries"], fields, key_names, primary)
    return None
