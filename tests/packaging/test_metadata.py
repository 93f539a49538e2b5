"""What the package index shows and what the sdist/wheel carry, read from the sources.

``./dev wheel-check`` builds and installs the real artefacts; these tests keep the
sources that feed them honest on every run of the suite.
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import metadata, version
from pathlib import Path
from typing import Any

import pytest

import anyodm

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "https://github.com/anyodm/anyodm"
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        data: dict[str, Any] = tomllib.load(file)
    return data


def test_the_license_file_is_mit_and_shipped(project: dict[str, Any]) -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert project["project"]["license"] == "MIT"
    assert project["project"]["license-files"] == ["LICENSE"]


def test_the_version_is_written_once(project: dict[str, Any]) -> None:
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["hatch"]["version"]["path"] == "anyodm/__init__.py"
    assert version("anyodm") == anyodm.__version__


def test_classifiers_name_every_supported_python_and_pytest(project: dict[str, Any]) -> None:
    classifiers = project["project"]["classifiers"]
    floor = re.fullmatch(r">=3\.(\d+)", project["project"]["requires-python"])
    assert floor is not None
    for minor in range(int(floor.group(1)), 14):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert "Framework :: Pytest" in classifiers
    assert "Typing :: Typed" in classifiers


def test_project_urls(project: dict[str, Any]) -> None:
    urls = project["project"]["urls"]
    assert set(urls) >= {"Homepage", "Documentation", "Repository", "Issues", "Changelog"}
    assert all(url.startswith(REPOSITORY) for url in urls.values())
    installed = metadata("anyodm").get_all("Project-URL") or []
    assert any(url.startswith("Changelog, ") for url in installed)


def test_readme_links_work_on_the_package_index() -> None:
    """The README is the package's page on the index: links must be absolute, and
    those into this repository must name files that exist."""
    for target in LINK.findall((ROOT / "README.md").read_text()):
        assert target.startswith(("https://", "http://", "#")), f"relative link {target}"
        for kind in ("blob", "tree"):
            prefix = f"{REPOSITORY}/{kind}/main/"
            if target.startswith(prefix):
                path = target.removeprefix(prefix).split("#")[0]
                assert (ROOT / path).exists(), f"README links to missing {path}"


def test_the_changelog_has_this_version() -> None:
    base = re.match(r"\d+\.\d+\.\d+", anyodm.__version__)
    assert base is not None
    assert f"## {base.group(0)}" in (ROOT / "CHANGELOG.md").read_text()


def test_the_sdist_carries_the_source_not_the_workbench(project: dict[str, Any]) -> None:
    included = set(project["tool"]["hatch"]["build"]["targets"]["sdist"]["only-include"])
    assert {"anyodm", "tests", "LICENSE", "CHANGELOG.md", "README.md"} <= included
    assert not included & {"benchmarks", "uv.lock", "scripts", ".ci", ".github", "justfile"}


def test_every_requirement_has_a_floor(project: dict[str, Any]) -> None:
    """scripts/check-floors installs and tests exactly these floors."""
    declared = project["project"]["dependencies"] + [
        item for items in project["project"]["optional-dependencies"].values() for item in items
    ]
    for requirement in declared:
        assert re.search(r"(>=|==)\d", requirement), f"{requirement} has no floor"
