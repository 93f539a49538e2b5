"""The plugin reads ANYODM_TEST_URI and never MONGODB_URI (often an application's own,
production, connection string); trio-parametrized tests skip when trio is missing."""

from __future__ import annotations

from types import TracebackType
from typing import Any, ClassVar

import pytest

from anyodm.testing import _server, mongodb_server
from anyodm.testing import plugin as anyodm_plugin

PRODUCTION = "mongodb://app:secret@production.invalid:27017/shop"
STUB_URI = "mongodb://embedded-stand-in:1/"


class StandInServer:
    """Takes MongoServer's place: what the plugin would have started."""

    started: ClassVar[list[str]] = []

    def __init__(self, **options: Any) -> None:
        self.uri = STUB_URI

    def __enter__(self) -> StandInServer:
        StandInServer.started.append(self.uri)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


@pytest.fixture
def application_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """An application's MONGODB_URI is set; anyodm's own variable is not."""
    monkeypatch.setenv("MONGODB_URI", PRODUCTION)
    monkeypatch.delenv("ANYODM_TEST_URI", raising=False)
    monkeypatch.setattr(_server, "MongoServer", StandInServer)
    StandInServer.started = []


@pytest.mark.usefixtures("application_env")
def test_the_plugin_never_uses_mongodb_uri(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        def test_uri(mongodb_uri):
            assert mongodb_uri == {STUB_URI!r}

        @pytest.mark.needs_real_mongodb("a real server")
        def test_real():
            pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-ra")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "anyodm: tests use an embedded server (ANYODM_TEST_URI is unset; "
            "anyodm's plugin never reads MONGODB_URI)",
        ]
    )
    assert "production.invalid" not in result.stdout.str()
    assert StandInServer.started == [STUB_URI]


@pytest.mark.usefixtures("application_env")
def test_mongodb_server_never_reads_mongodb_uri_by_default() -> None:
    with mongodb_server() as uri:
        assert uri == STUB_URI


def test_mongodb_server_reads_the_variable_it_is_given(
    monkeypatch: pytest.MonkeyPatch, mongodb_uri: str
) -> None:
    monkeypatch.setenv("MY_APP_TEST_URI", mongodb_uri)
    monkeypatch.setattr(_server, "MongoServer", StandInServer)
    with mongodb_server(env="MY_APP_TEST_URI") as uri:
        assert uri == mongodb_uri


def test_the_header_names_the_test_server_without_its_password(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mongodb_uri: str
) -> None:
    monkeypatch.setenv("ANYODM_TEST_URI", mongodb_uri)
    assert anyodm_plugin.pytest_report_header() == (
        f"anyodm: tests use the server at ANYODM_TEST_URI={mongodb_uri}"
    )
    monkeypatch.setenv("ANYODM_TEST_URI", "mongodb://u:pw@h:1/")
    assert "pw" not in anyodm_plugin.pytest_report_header()


TWO_BACKENDS = """
    import pytest

    @pytest.fixture(params=[{trio}, "asyncio"])
    def anyio_backend(request):
        return request.param

    @pytest.mark.anyio
    async def test_sleep(anyio_backend):
        import anyio
        await anyio.sleep(0)
"""


@pytest.mark.parametrize("trio", ['"trio"', '("trio", {})'], ids=["name", "name-and-options"])
def test_trio_runs_skip_when_trio_is_not_installed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, trio: str
) -> None:
    monkeypatch.setattr(anyodm_plugin, "_trio_available", lambda: False)
    pytester.makepyfile(TWO_BACKENDS.format(trio=trio))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-ra")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*runs on trio, which is not installed*"])
    assert "(pip install 'anyodm[trio]' to run it)" in result.stdout.str()


def test_trio_runs_run_when_trio_is_installed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TWO_BACKENDS.format(trio='"trio"'))
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
