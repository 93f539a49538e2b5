# anyodm developer recipes. Run through ./dev from a fresh clone (it brings uv and just).
set shell := ["bash", "-euo", "pipefail", "-c"]
set positional-arguments := true

export UV_PYTHON_DOWNLOADS := "never"

py := `scripts/find-python 3.13`

# list the recipes
default:
    @just --list

# create or refresh the development environment (.venv, Python 3.13)
sync:
    uv sync --quiet --python {{py}} --frozen

# run the demo against MONGODB_URI or a server it starts itself
demo: sync
    uv run --no-sync python examples/demo.py

# the whole test suite (asyncio and trio) under Python 3.13, then under 3.11
test *args: sync
    {{just_executable()}} test-on 3.13 "$@"
    {{just_executable()}} test-on 3.11 "$@"

# the test suite under one Python (.venv for 3.13, .venv-X.Y otherwise; server on 3.13)
test-on version *args: sync
    scripts/run-tests "$@"

# the suite under 3.13 with the lowest versions pyproject.toml allows (.venv-lowest)
test-lowest *args: sync
    scripts/run-tests-lowest "$@"

# ruff check, ruff format --check, mypy --strict on anyodm/, the GitHub workflows against their schema
lint: sync
    uv run --no-sync ruff check .
    uv run --no-sync ruff format --check .
    uv run --no-sync mypy anyodm
    uv run --no-sync check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
    bash -n .github/scripts/start-mongodb

# mypy --strict and pyright on users' code (tests/typecheck, examples/, the docs' programs);
# pyright standard and --verifytypes (at least 95%) on anyodm
types: sync
    scripts/check-types

# build the sdist and wheel from a clean clone of HEAD, install the wheel at the lowest and newest versions allowed, run a program and the plugin on the embedded server in each
wheel-check:
    scripts/wheel-check

# format the code
fmt: sync
    uv run --no-sync ruff format .
    uv run --no-sync ruff check --fix .

# build the documentation site with mkdocs --strict into site/ (own env: .venv-docs)
docs *args:
    UV_PROJECT_ENVIRONMENT=.venv-docs uv sync --quiet --python {{py}} --frozen --only-group docs
    NO_MKDOCS_2_WARNING=1 UV_PROJECT_ENVIRONMENT=.venv-docs uv run --no-sync mkdocs build --strict "$@"

# run the embedded MongoDB-wire server in the foreground and print its URI
server *args: sync
    uv run --no-sync python -m anyodm.testing "$@"

# benchmarks vs PyMongo, ODMantic, Beanie in their own env (.venv-bench); `just bench --quick` for a smoke run
bench *args:
    UV_PROJECT_ENVIRONMENT=.venv-bench uv sync --quiet --python {{py}} --frozen --group bench
    UV_PROJECT_ENVIRONMENT=.venv-bench uv run --no-sync python -m benchmarks.run "$@"
