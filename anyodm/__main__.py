"""``python -m anyodm``: the command line (``python -m anyodm migrate --help``)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anyodm")
    subparsers = parser.add_subparsers(dest="tool", required=True)
    from anyodm.migrations import cli as migrate_cli

    migrate_cli.add_parser(subparsers)
    args = parser.parse_args(argv)
    if args.tool == "migrate":
        return migrate_cli.run(args)
    parser.error(f"unknown command {args.tool!r}")  # pragma: no cover
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
