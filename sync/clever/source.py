"""``CleverApiSource``: the roster pulled from the Clever Data API, as a :class:`RosterSource`.

``read_raw`` returns the same raw tables as the CSV reader (see :mod:`sync.clever.mapping`), so the shared
validator, matcher and planner take it from there. With ``use_events`` (the default):

1. the first run (or one without a usable delta state) asks for the newest event id, *then* pulls
   everything, and saves both with the pulled records (:mod:`sync.clever.state`);
2. later runs read only the events after the saved id and apply them to the saved records;
3. a state older than the 30-day events window (29 days, to be safe), pulled from another base URL, API
   version or set of roles, or an event id Clever no longer knows, means a full pull again.

Events are applied idempotently, so a run that fails after saving simply sees the same district next time.
Without ``use_events`` every run is a full pull and nothing is saved.

Settings: the district token is read from the app setting named by ``clever.token_setting`` (a Key Vault
reference there is resolved by the Functions host); ``SYNC_CLEVER_STATE_DIR``, when set, is the folder under
which each profile's state directory is made (default ``.sync/clever/<profile>``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from sync.clever.client import MAX_PAGE_SIZE, CleverClient, EventsUnavailable, EventsWindowMissed
from sync.clever.events import apply_events
from sync.clever.mapping import map_district
from sync.clever.pull import full_pull
from sync.clever.records import PulledDistrict, Record
from sync.clever.school_filter import SchoolFilter
from sync.clever.state import DeltaState, StateStore, default_state_dir
from sync.errors import SettingsError
from sync.findings import Finding
from sync.profile import CleverApiSettings, Profile
from sync.roster.model import RawFile
from sync.roster.source import Progress

log = logging.getLogger(__name__)

#: Events are kept 30 days; a state older than this is not trusted to be inside the window.
EVENTS_WINDOW_S = 29 * 24 * 3600
STATE_DIR_SETTING = "SYNC_CLEVER_STATE_DIR"
_KEY_VAULT_PREFIX = "@microsoft.keyvault("


@dataclass(frozen=True)
class PullReport:
    """What the last ``read_raw`` did (no personal data: counts only)."""

    #: ``full`` or ``delta``.
    mode: str
    #: Why a full pull was made (``no state``, ``window missed`` …); empty for a delta.
    reason: str
    requests: int
    records: Mapping[str, int]
    events: Mapping[str, int]
    waited_s: float


class CleverApiSource:
    """Pulls one district from the Clever API. See the module docstring."""

    def __init__(
        self,
        settings: CleverApiSettings,
        token: str,
        *,
        state_dir: str | Path,
        include_staff: bool = False,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = MAX_PAGE_SIZE,
        profile_name: str = "",
    ) -> None:
        self.settings = settings
        #: Named in errors about the profile (the school filter).
        self.profile_name = profile_name
        self._token = token
        self.store = StateStore(state_dir)
        self.include_staff = include_staff
        self.roles: tuple[str, ...] = (
            ("student", "teacher", "staff") if include_staff else ("student", "teacher")
        )
        self._transport = transport
        self._clock = clock
        self._sleep = sleep
        self._page_size = page_size
        self.last_pull: PullReport | None = None

    @classmethod
    def from_profile(
        cls,
        profile: Profile,
        environ: Mapping[str, str],
        *,
        state_dir: str | Path | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        page_size: int = MAX_PAGE_SIZE,
    ) -> CleverApiSource:
        """The source of a ``source = "clever_api"`` profile; raises :class:`SettingsError` when the token
        setting is missing, blank or an unresolved Key Vault reference."""
        settings = profile.clever or CleverApiSettings()
        token = read_token(settings, environ, profile.name)
        if state_dir is None:
            base = environ.get(STATE_DIR_SETTING, "").strip()
            default = default_state_dir(profile.name)
            state_dir = Path(base) / default.name if base else default
        return cls(
            settings,
            token,
            state_dir=state_dir,
            include_staff=profile.sync_staff,
            transport=transport,
            clock=clock,
            sleep=sleep,
            page_size=page_size,
            profile_name=profile.name,
        )

    def __repr__(self) -> str:  # never show the token
        return (
            f"CleverApiSource(base_url={self.settings.base_url!r}, state_dir={str(self.store.directory)!r})"
        )

    def read_raw(self, *, progress: Progress | None = None) -> tuple[dict[str, RawFile], list[Finding]]:
        with CleverClient(
            self.settings.base_url,
            self._token,
            api_version=self.settings.api_version,
            page_size=self._page_size,
            transport=self._transport,
            clock=self._clock,
            sleep=self._sleep,
        ) as client:
            district = self._pull(client, progress)
        school_filter = SchoolFilter.from_settings(self.settings)
        findings = school_filter.check(district.schools.values(), profile_name=self.profile_name)
        if findings:
            log.warning("clever.school_filter names %d id(s) that match no school", len(findings))
        files, mapped = map_district(district, school_filter, include_staff=self.include_staff)
        return files, findings + mapped

    # -- pulls ------------------------------------------------------------------------------------------
    def _pull(self, client: CleverClient, progress: Progress | None) -> PulledDistrict:
        reason = "use_events is off"
        if self.settings.use_events:
            state = self.store.load()
            reason = self._unusable(state)
            if state is not None and not reason:
                try:
                    events = list(client.list_events(state.last_event_id))
                except EventsWindowMissed:
                    reason = "the last event is no longer in the events window"
                else:
                    outcome = apply_events(state.district, events, roles=self.roles)
                    last = outcome.last_event_id or state.last_event_id
                    self._save(outcome.district, last)
                    self._report(client, "delta", "", outcome.district, outcome.counts)
                    log.info("clever: delta of %d event(s) in %d request(s)", len(events), client.requests)
                    return outcome.district
        log.info("clever: full pull (%s)", reason)
        deltas = self.settings.use_events
        latest: str | None = None
        if deltas:
            try:
                latest = client.latest_event_id()  # before the pull: no change can fall between the two
            except EventsUnavailable:
                deltas = False
                log.warning(
                    "clever: the events endpoint is not available to this app (enable events in the Clever "
                    "dashboard, or set clever.use_events = false); every run is a full pull"
                )
        school_filter = SchoolFilter.from_settings(self.settings)

        def check_schools(schools: Mapping[str, Record]) -> None:
            """A filter that keeps no school fails after the schools' pages, not after the whole pull."""
            school_filter.check(schools.values(), profile_name=self.profile_name)

        district = full_pull(
            client.list_records, roles=self.roles, progress=progress, check_schools=check_schools
        )
        if deltas:
            self._save(district, latest)
        self._report(client, "full", reason, district, {})
        return district

    def _unusable(self, state: DeltaState | None) -> str:
        """Why ``state`` cannot be continued with events; empty when it can."""
        if state is None:
            return "no delta state"
        if (state.base_url, state.api_version) != (self.settings.base_url, self.settings.api_version):
            return "the base URL or API version changed"
        if set(self.roles) - set(state.roles):
            return "the roles to pull changed"
        if self._clock() - state.saved_at > EVENTS_WINDOW_S:
            return "the delta state is older than the events window"
        return ""

    def _save(self, district: PulledDistrict, last_event_id: str | None) -> None:
        """Save the delta state; a state that cannot be written costs only a full pull next time."""
        state = DeltaState(
            base_url=self.settings.base_url,
            api_version=self.settings.api_version,
            last_event_id=last_event_id,
            saved_at=self._clock(),
            district=district,
            roles=self.roles,
        )
        try:
            self.store.save(state)
        except OSError as err:
            log.warning(
                "clever: cannot save the delta state in %s (%s); the next run pulls everything again "
                "(set %s to a writable folder)",
                self.store.directory,
                err.strerror or err,
                STATE_DIR_SETTING,
            )

    def _report(
        self,
        client: CleverClient,
        mode: str,
        reason: str,
        district: PulledDistrict,
        events: Mapping[str, int],
    ) -> None:
        self.last_pull = PullReport(
            mode, reason, client.requests, district.counts(), dict(events), client.waited_s
        )


def read_token(settings: CleverApiSettings, environ: Mapping[str, str], profile_name: str) -> str:
    name = settings.token_setting
    token = (environ.get(name) or "").strip()
    if not token:
        raise SettingsError(
            [
                (
                    name,
                    f"is not set: put the Clever district token of profile {profile_name!r} in app setting "
                    f"{name} (or a Key Vault reference to it), or change clever.token_setting",
                )
            ]
        )
    if token.lower().startswith(_KEY_VAULT_PREFIX):
        raise SettingsError(
            [
                (
                    name,
                    "is a Key Vault reference the host did not resolve: give the app's identity the "
                    "'Key Vault Secrets User' role on the vault and check the secret URI",
                )
            ]
        )
    return token
