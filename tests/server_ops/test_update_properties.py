"""Property tests: an update sends exactly what ``save`` stores for the same values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from anyodm import SyncEngine, update
from tests.model.test_properties import Sample, samples

_FIELDS = [name for name in Sample.model_fields if name != "id"]


@settings(max_examples=150, deadline=None)
@given(sample=samples)
def test_set_encodes_each_field_as_save_dumps_it(sample: Sample) -> None:
    doc = sample.model_dump_doc()
    for name in _FIELDS:
        operation = update.set(getattr(Sample, name), getattr(sample, name))
        key = Sample.__anyodm__.key_names[name]
        assert operation.as_dict() == {"$set": {key: doc[key]}}, name


@settings(max_examples=100, deadline=None)
@given(sample=samples)
def test_embedded_paths_and_array_elements_encode_as_save_dumps_them(sample: Sample) -> None:
    doc = sample.model_dump_doc()
    if sample.inner is not None:
        sent = update.set(Sample.inner.point, sample.inner.point).value
        assert sent == doc["inner"]["point"]
    for index, inner in enumerate(sample.inners):
        sent = update.push(Sample.inners, inner).value
        assert sent == {"$each": [doc["inners"][index]]}


@pytest.fixture(scope="module")
def sync_engine(mongo_client: Any) -> Any:
    name = "anyodm_test_props_updates"
    engine = SyncEngine(client=mongo_client, database=name)
    yield engine
    mongo_client.drop_database(name)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(original=samples, changed=samples)
def test_stored_document_after_update_equals_what_save_stores(
    sync_engine: SyncEngine, original: Sample, changed: Sample
) -> None:
    collection = sync_engine.get_collection(Sample)
    sync_engine.save(original)
    values = {name: getattr(changed, name) for name in _FIELDS}
    sync_engine.update_one(
        Sample,
        Sample.id == original.id,
        update=[update.set(getattr(Sample, name), value) for name, value in values.items()],
    )
    updated = collection.find_one({"_id": original.id})
    twin = sync_engine.save(Sample(**values))
    saved = collection.find_one({"_id": twin.id})
    updated.pop("_id"), saved.pop("_id")
    assert updated == saved
    loaded = sync_engine.find_one(Sample, Sample.id == original.id)
    loaded_twin = sync_engine.find_one(Sample, Sample.id == twin.id)
    assert loaded.model_copy(update={"id": twin.id}) == loaded_twin
