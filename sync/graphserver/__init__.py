"""A Microsoft Graph-compatible server on 127.0.0.1 backed by the embedded local tenant's store.

The subset it serves, its throttling model and its fault injection are in ``docs/graph-subset.md``.
``python -m sync.graphserver --port 0 --tenant PATH`` prints its base URL on the first line of stdout.
"""

from sync.graphserver.faults import FaultPlan
from sync.graphserver.server import GraphServer

__all__ = ["FaultPlan", "GraphServer"]
