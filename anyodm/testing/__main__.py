"""``python -m anyodm.testing``: run the embedded server in the foreground, print its URI."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from anyodm.testing._errors import EmbeddedServerError
from anyodm.testing._server import MongoServer


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m anyodm.testing",
        description="Run mongoeco's MongoDB-wire server (in memory) until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    parser.add_argument("--no-patch", action="store_true", help="run mongoeco unpatched")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    server = MongoServer(port=args.port, patch=not args.no_patch)
    try:
        with server:
            print(server.uri, flush=True)
            print(f"(pid {server.pid}; Ctrl-C stops it)", file=sys.stderr, flush=True)
            threading.Event().wait()
    except EmbeddedServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
