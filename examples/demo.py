"""Minimal demo: connect, round-trip one document with PyMongo, print it.

Uses $MONGODB_URI when set, otherwise starts the embedded test server.
(A later issue replaces this with a demo of anyodm's models.)
"""

from __future__ import annotations

import sys

import pymongo

from anyodm.testing import EmbeddedServerError, mongodb_server


def main() -> int:
    try:
        with mongodb_server() as uri:
            client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(uri)
            try:
                things = client.anyodm_demo.things
                things.drop()
                inserted = things.insert_one({"name": "first thing", "tags": ["demo"], "n": 1})
                found = things.find_one({"_id": inserted.inserted_id})
                print(f"server: {uri}")
                print(f"round-tripped: {found}")
                things.drop()
            finally:
                client.close()
    except EmbeddedServerError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
