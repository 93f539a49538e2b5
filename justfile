# anyodm developer recipes. Run through ./dev from a fresh clone (it brings uv and just).
set shell := ["bash", "-euo", "pipefail", "-c"]

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

# run the whole test suite (both backends) under Python 3.13
test *args: sync
    uv run --no-sync pytest {{args}}

# ruff check, ruff format --check, mypy --strict on anyodm/
lint: sync
    uv run --no-sync ruff check .
    uv run --no-sync ruff format --check .
    uv run --no-sync mypy anyodm

# format the code
fmt: sync
    uv run --no-sync ruff format .
    uv run --no-sync ruff check --fix .

# run the embedded MongoDB-wire server in the foreground and print its URI
server: sync
    uv run --no-sync python -m anyodm.testing
