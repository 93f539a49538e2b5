"""``python -m anyodm migrate``: run, revert and list migrations from a shell.

    python -m anyodm migrate up [--to NAME] [--dry-run] [--parallel]
    python -m anyodm migrate down N [--dry-run]
    python -m anyodm migrate status

Common options: ``--uri`` (default: ``$MONGODB_URI``), ``--database`` (default: the
one in the URI, else ``test``), ``--path`` (a directory of migration modules or a dotted
package; default ``migrations``), ``--records``, ``--lock-timeout``, ``--lock-lease``,
``--no-progress``, ``--backend``.  Exit status: 0 done, 1 a migration failed or is
locked, 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from anyodm.migrations.errors import MigrationError
from anyodm.migrations.records import DEFAULT_RECORDS

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    # The common options may come before or after the command; their defaults are
    # filled in by run() (argparse would let a subcommand's default hide a value given
    # before it).
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--uri", help="MongoDB connection string ($MONGODB_URI)")
    common.add_argument("--database", help="database (default: the URI's, or test)")
    common.add_argument(
        "--path", help="directory of migration modules, or a dotted package (default: migrations)"
    )
    common.add_argument("--records", help=f"collection of the records ({DEFAULT_RECORDS})")
    common.add_argument("--lock-timeout", type=float, metavar="SECONDS", help="default 90")
    common.add_argument("--lock-lease", type=float, metavar="SECONDS", help="default 60")
    common.add_argument("--no-progress", action="store_true", help="no progress display")
    common.add_argument("--backend", choices=["asyncio", "trio"], help="default asyncio")
    parser = subparsers.add_parser(
        "migrate", help="run, revert or list data migrations", parents=[common]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", parents=[common], help="apply the pending migrations")
    up.add_argument("--to", default=None, metavar="NAME", help="stop after this migration")
    up.add_argument("--dry-run", action="store_true", help="read and convert, write nothing")
    up.add_argument("--parallel", action="store_true", help="one worker per collection, at once")
    down = commands.add_parser("down", parents=[common], help="revert the last N migrations")
    down.add_argument("steps", type=int, metavar="N")
    down.add_argument("--dry-run", action="store_true", help="read and convert, write nothing")
    commands.add_parser("status", parents=[common], help="list migrations and their state")


def _database_of(uri: str, given: str | None) -> str:
    if given:
        return given
    from pymongo.uri_parser import parse_uri

    name = parse_uri(uri).get("database")
    return name or "test"


_DEFAULTS: dict[str, Any] = {
    "uri": None,
    "database": None,
    "path": "migrations",
    "records": DEFAULT_RECORDS,
    "lock_timeout": 90.0,
    "lock_lease": 60.0,
    "no_progress": False,
    "backend": "asyncio",
    "to": None,
    "dry_run": False,
    "parallel": False,
}


def run(args: argparse.Namespace) -> int:
    for key, value in _DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    uri = args.uri or os.environ.get("MONGODB_URI")
    if not uri:
        print("anyodm migrate: give --uri or set MONGODB_URI", file=sys.stderr)
        return 2
    import anyio
    import pymongo

    from anyodm.aio.engine import Engine
    from anyodm.migrations.progress import best_progress

    client: pymongo.MongoClient[Any] = pymongo.MongoClient(uri)
    engine = Engine(client, _database_of(uri, args.database))
    progress = None if args.no_progress else best_progress()

    async def main() -> int:
        if args.command == "status":
            states = await engine.migration_status(args.path, records=args.records)
            if not states:
                print("no migrations")
            for state in states:
                print(state.describe())
            return 0
        report = await engine.migrate(
            args.path,
            to=args.to,
            down=args.steps if args.command == "down" else None,
            dry_run=args.dry_run,
            parallel=args.parallel,
            lock_timeout=args.lock_timeout,
            lock_lease=args.lock_lease,
            records=args.records,
            progress=progress,
        )
        print(report, flush=True)
        failed = any(run.failures for run in report.runs)
        return 1 if failed else 0

    try:
        return anyio.run(main, backend=args.backend)
    except (MigrationError, ValueError) as exc:
        print(f"anyodm migrate: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
