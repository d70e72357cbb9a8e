"""The sync engine: matching (``matching``), desired state (``desired``, ``memberships``), planning
(``planner`` → :class:`~sync.engine.plan.Plan`), the mass-change guard (``guard``), and applying a plan
with a resumable journal (``apply``, ``journal``). Pure except ``apply`` (which talks to a ``Directory``)
and ``SqliteJournal``."""
