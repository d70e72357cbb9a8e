"""The Clever Data API as a roster source (``sds-behaviour.md`` §6).

- :mod:`sync.clever.client` — HTTP: bearer token, paging, rate limit, retries.
- :mod:`sync.clever.records` — the pulled district: Clever records by id, per collection.
- :mod:`sync.clever.pull` — a full pull, collection by collection, in dependency order.
- :mod:`sync.clever.events` — applying Events API deltas to a pulled district.
- :mod:`sync.clever.school_filter` — the profile's allow- or deny-list of schools.
- :mod:`sync.clever.mapping` — a pulled district → Clever-CSV :class:`~sync.roster.model.RawFile` tables,
  so validation and everything after it are shared with the CSV path.
- :mod:`sync.clever.state` — the delta state of a profile (last event id + cached pull) on disk.
- :mod:`sync.clever.source` — :class:`~sync.clever.source.CleverApiSource`, the ``RosterSource``.
"""
