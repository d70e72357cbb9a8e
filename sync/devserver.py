"""``BackgroundServer``: an HTTP server of the local dev servers (Clever, Graph) answering on a daemon
thread until ``stop()``. Tests and the command lines start it in-process."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

#: How often ``serve_forever`` looks for a shutdown request, in seconds.
POLL_INTERVAL_S = 0.05


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
