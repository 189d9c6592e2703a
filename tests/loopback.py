"""The HTTP servers tests run on loopback in a thread of the test process (a provider, a relying app's
endpoint, a service provider, a breached-password range API)."""

from __future__ import annotations

import threading
from socketserver import BaseServer

# socketserver looks for shutdown() once per poll interval, 0.5 s by default: every test stopping a server
# waited that long (two minutes over the federation tests alone).
POLL_INTERVAL = 0.01


def serve_in_thread(server: BaseServer, *, start: bool = True) -> threading.Thread:
    """A daemon thread serving `server` until `server.shutdown()`; started unless `start` is False."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL}, daemon=True)
    if start:
        thread.start()
    return thread
