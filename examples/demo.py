"""`./dev demo`: the trio transfers example, against $MONGODB_URI or an embedded server.

Starts anyodm's embedded MongoDB-wire server when MONGODB_URI is unset, then runs
``trio_transfers.py``: workers in a trio nursery move money between accounts in
transactions; one crashes mid-transfer, so trio cancels its siblings, one of them
inside its own transaction, and a deadline cancels another; the audit at the end proves
that nothing of those transactions was committed and that no money appeared or vanished.
"""

from __future__ import annotations

import os
import sys
import time

import trio
import trio_transfers

from anyodm.testing import EmbeddedServerError, mongodb_server


def main() -> int:
    started = time.monotonic()
    where = "MONGODB_URI" if os.environ.get("MONGODB_URI", "").strip() else "embedded server"
    print(f"anyodm demo: starting ({where}) ...", flush=True)
    try:
        with mongodb_server(env="MONGODB_URI") as uri:  # this program's own choice
            print(f"anyodm demo: MongoDB at {uri} (ready in {time.monotonic() - started:.1f}s)\n")
            ok = trio.run(trio_transfers.run, uri, "anyodm_demo")
    except EmbeddedServerError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    print(f"\nanyodm demo: {'all proved' if ok else 'SOMETHING DID NOT HOLD'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
