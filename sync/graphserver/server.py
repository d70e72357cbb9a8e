"""``GraphServer``: the local Graph-compatible server, started in-process (tests, benchmarks) or by
``python -m sync.graphserver``. It serves the subset of ``/v1.0`` in ``docs/graph-subset.md`` from the
embedded local tenant's store."""

from __future__ import annotations

import threading
from os import PathLike
from types import TracebackType
from typing import Any

from sync.devserver import BackgroundServer
from sync.graphserver.faults import FaultInjector, FaultPlan
from sync.graphserver.http_server import API_PREFIX, GraphHTTPServer
from sync.graphserver.pipeline import FreshObjects, Pipeline
from sync.graphserver.resources import Resources
from sync.graphserver.router import Router
from sync.graphserver.stats import Stats
from sync.graphserver.throttle import Throttler


class GraphServer:
    """``with GraphServer(path, quota_scale=50) as server: server.base_url …``; ``start()`` returns the base
    URL (``http://127.0.0.1:PORT/v1.0``), ``stop()`` stops serving and closes the store."""

    def __init__(
        self,
        tenant_path: str | PathLike[str],
        *,
        quota_scale: float = 1.0,
        faults: FaultPlan | None = None,
        seed: int = 0,
        injector: FaultInjector | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.tenant_path = tenant_path
        self.quota_scale = quota_scale
        self.faults = injector.plan if injector is not None else faults or FaultPlan()
        self.seed = seed
        #: Draws the faults instead of ``FaultInjector(faults, seed)``, its plan replacing ``faults`` (tests
        #: script faults for particular calls this way).
        self._injector = injector
        self._address = (host, port)
        self._stats = Stats()
        self._serving: BackgroundServer | None = None
        self._resources: Resources | None = None
        self._pipeline: Pipeline | None = None
        self.base_url = ""

    def start(self) -> str:
        if self._serving is not None:
            return self.base_url
        lock = threading.RLock()
        self._resources = Resources.open(self.tenant_path, base_url=lambda: self.base_url)
        pipeline = Pipeline(
            Router(self._resources.routes()),
            throttler=Throttler(self.quota_scale),
            faults=self._injector or FaultInjector(self.faults, self.seed),
            stats=self._stats,
            store_lock=lock,
            fresh=FreshObjects(self.faults.replication_ms / 1000.0),
        )
        try:
            httpd = GraphHTTPServer(self._address, pipeline)
        except OSError:
            self._resources.close()
            self._resources = None
            raise
        host, port = httpd.server_address[:2]
        self.base_url = f"http://{host!s}:{port}{API_PREFIX}"
        self._pipeline = pipeline
        self._serving = BackgroundServer(httpd, name="graphserver")
        return self.base_url

    def wait_idle(self, timeout_s: float) -> bool:
        """Blocks until no request is at work (those whose client gave up included); ``False`` if some
        still were after ``timeout_s``."""
        return self._pipeline is None or self._pipeline.in_flight.wait_idle(timeout_s)

    def stop(self) -> None:
        """Stops serving; requests still at work (held by a time-out fault) get their hold time plus a
        second to end before the store closes."""
        if self._serving is not None:
            self.wait_idle(self.faults.timeout_s + 1.0)
            self._serving.stop()
            self._serving = None
        if self._resources is not None:
            self._resources.close()
            self._resources = None

    def serve_forever(self) -> None:
        """Blocks until interrupted (the command line)."""
        self.start()
        assert self._serving is not None
        try:
            self._serving.wait()
        finally:
            self.stop()

    def stats(self) -> dict[str, Any]:
        """Counters: requests, batches, batch_items, reads, writes, resource_units, faulted_writes_applied,
        fresh_calls (naming an object a replication fault could hide), throttled{scope: n}, throttled_total,
        faults{kind: n}."""
        return self._stats.snapshot()

    def __enter__(self) -> GraphServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
