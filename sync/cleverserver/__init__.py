"""A local Clever-compatible Data API server (tests and local development); see :mod:`.server`.

``python -m sync.cleverserver --district DIR --port 0`` serves the Clever CSV files in ``DIR``.
"""

from sync.cleverserver.server import DEFAULT_TOKEN, CleverServer, Fault

__all__ = ["DEFAULT_TOKEN", "CleverServer", "Fault"]
