"""The plugin seen from inside other test runs (pytester), on the session's server."""

from __future__ import annotations

from typing import Any

import pymongo
import pytest

from anyodm.testing import mongodb_server


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mongodb_uri: str) -> Any:
    """A pytester whose runs use this session's server through ANYODM_TEST_URI."""
    monkeypatch.setenv("ANYODM_TEST_URI", mongodb_uri)
    return pytester


def test_anyodm_test_uri_is_honoured(inner: pytest.Pytester, mongodb_uri: str) -> None:
    inner.makepyfile(
        f"""
        def test_uri(mongodb_uri):
            assert mongodb_uri == {mongodb_uri!r}
        """
    )
    inner.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_mongodb_server_uses_anyodm_test_uri_and_starts_nothing(
    monkeypatch: pytest.MonkeyPatch, mongodb_uri: str
) -> None:
    monkeypatch.setenv("ANYODM_TEST_URI", mongodb_uri)
    monkeypatch.setattr("anyodm.testing._server.MongoServer.start", _must_not_start)
    with mongodb_server() as uri:
        assert uri == mongodb_uri


def _must_not_start(self: object) -> str:
    raise AssertionError("an embedded server was started although ANYODM_TEST_URI is set")


def test_failpoint_is_disarmed_after_a_failing_test(
    inner: pytest.Pytester, mongo_client: pymongo.MongoClient[dict[str, Any]]
) -> None:
    inner.makepyfile(
        """
        def test_arms_then_fails(failpoint, mongo_database):
            failpoint(["find", "insert"], mode="alwaysOn", error_code=2)
            assert False, "fails with the fail point armed"
        """
    )
    inner.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(failed=1)
    collection = mongo_client.anyodm_test_after_failpoint.things
    try:
        collection.insert_one({"ok": True})
        assert collection.find_one({}, {"_id": 0}) == {"ok": True}
    finally:
        mongo_client.drop_database("anyodm_test_after_failpoint")


MARKED = """
    import pytest

    @pytest.mark.needs_real_mongodb("uses killSessions")
    def test_real():
        pass

    @pytest.mark.embedded_only(reason="uses a mongoeco fail point")
    def test_embedded():
        pass
"""


def test_markers_with_a_test_uri(inner: pytest.Pytester) -> None:
    inner.makepyfile(MARKED)
    result = inner.runpytest_inprocess("-p", "no:cacheprovider", "-ra", "--strict-markers")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*embedded server only: uses a mongoeco fail point*"])


def test_markers_without_a_test_uri(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANYODM_TEST_URI", raising=False)
    pytester.makepyfile(MARKED)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-ra", "--strict-markers")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*needs ANYODM_TEST_URI (a real server): uses killSessions*"])
