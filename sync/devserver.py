"""``BackgroundServer``: an HTTP server of the local dev servers (Clever, Graph) answering on a daemon
thread until ``stop()``. Tests and the command lines start it in-process. ``LocalHTTPServer``: the
threading server both use, quiet about clients that hung up."""

from __future__ import annotations

import logging
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)

#: How often ``serve_forever`` looks for a shutdown request, in seconds.
POLL_INTERVAL_S = 0.05


class LocalHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server on daemon threads. A client that gave up on its request (a time-out, a
    closed connection) is not the server's error: it is logged at DEBUG, not printed as a traceback."""

    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            logger.debug("local server: the client closed the connection (%s)", type(error).__name__)
            return
        super().handle_error(request, client_address)


class BackgroundServer:
    """Serves ``httpd`` on a daemon thread named ``name`` from construction until :meth:`stop`."""

    def __init__(self, httpd: ThreadingHTTPServer, *, name: str) -> None:
        self.httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": POLL_INTERVAL_S}, name=name, daemon=True
        )
        self._thread.start()

    def wait(self) -> None:
        """Blocks while the server runs; joins in short slices so that Ctrl+C gets through."""
        while self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def stop(self) -> None:
        """Stops serving, closes the socket and waits (at most 5 s) for the thread to end."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)
