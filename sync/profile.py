"""The sync profile: every option of ``sds-behaviour.md`` §1, loaded from a TOML file.

This module holds the typed profile. ``load_profile(path)`` reads and validates a TOML file and raises
:class:`ProfileError` listing *every* mistake with its key and what is allowed.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from sync.errors import UsageError
from sync.roster.columns import CO_TEACHER_COLUMNS, SCHOOLS, SECTIONS

log = logging.getLogger(__name__)

UserMode = Literal["existing", "create"]
Source = Literal["csv", "clever_api"]
SectionDeletion = Literal["keep", "expire", "delete"]
UserDeletion = Literal["keep", "disable", "delete"]
LicenseAssignment = Literal["user", "group"]

#: Identity-matching source columns per role (``sds-behaviour.md`` §2).
STUDENT_MATCH_SOURCES = ("Student_id", "Student_number", "State_id", "Student_email", "Username")
TEACHER_MATCH_SOURCES = ("Teacher_id", "Teacher_number", "State_teacher_id", "Teacher_email", "Username")
#: Directory attributes a source value can be matched against.
MATCH_TARGETS = ("userPrincipalName", "mail", "mailNickname", "employeeId", "onPremisesSamAccountName")


@dataclass(frozen=True, slots=True)
class IdentityMatching:
    """Match ``source`` column of the roster against directory attribute ``target``.
    ``domain`` is appended as ``@domain`` to a source value without ``@``."""

    source: str
    target: str
    domain: str | None = None


@dataclass(frozen=True, slots=True)
class RoleSettings:
    """Per-role (student / teacher) settings."""

    matching: IdentityMatching
    #: Domain of new users' UPN (``Username@user_domain``); needed in ``create`` mode.
    user_domain: str | None = None
    #: Licence SKU ids (GUIDs) assigned to every synced user of the role.
    licenses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeletionPolicy:
    sections: SectionDeletion = "expire"
    users: UserDeletion = "keep"
    #: Share (0..1) of managed users, classes or memberships a run may remove/disable before it is held.
    guard_threshold: float = 0.10


@dataclass(frozen=True, slots=True)
class CleverApiSettings:
    """Where and how to pull the roster from the Clever Data API (``source = "clever_api"``)."""

    base_url: str = "https://api.clever.com"
    api_version: Literal["v3.0", "v3.1"] = "v3.0"
    #: Name of the app setting / environment variable holding the district bearer token (never the token).
    token_setting: str = "CLEVER_TOKEN"
    school_filter_mode: Literal["allow", "deny"] | None = None
    #: Clever school ids or SIS ids.
    school_filter: tuple[str, ...] = ()
    use_events: bool = True


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    source: Source = "csv"
    user_mode: UserMode = "existing"
    #: SDS Classic's domain of class addresses (``Section_<id>@<section_domain>``): validated, never
    #: written. Graph's group ``mail`` is read-only; Exchange derives it from the ``mailNickname`` and the
    #: tenant's e-mail address policy (see ``examples/profile.toml``).
    section_domain: str = ""
    #: Optional schools.csv columns written to the directory.
    school_properties: frozenset[str] = frozenset()
    #: Optional sections.csv columns written to the directory.
    section_properties: frozenset[str] = frozenset()
    lock_section_display_name: bool = False
    #: Two-letter country code; required when any licence is assigned.
    usage_location: str | None = None
    students: RoleSettings = field(
        default_factory=lambda: RoleSettings(IdentityMatching("Username", "userPrincipalName"))
    )
    teachers: RoleSettings = field(
        default_factory=lambda: RoleSettings(IdentityMatching("Username", "userPrincipalName"))
    )
    #: Before this date students are not added to classes (teachers are).
    student_enrollment_start_date: date | None = None
    #: Intune for Education groups: All Teachers, All Students, Teachers – <school>, Students – <school>.
    intune_groups: bool = False
    #: ``"user"``: each student / teacher gets the role's licences (one write per user). ``"group"``: the
    #: licences go once to the *All Students* / *All Teachers* groups, which every user of the role joins
    #: (group-based licensing; needs Entra ID P1 or A3/E3 and up, which A1-only tenants lack).
    license_assignment: LicenseAssignment = "user"
    replace_special_characters: bool = False
    deletion: DeletionPolicy = field(default_factory=DeletionPolicy)
    #: After this date the profile no longer syncs.
    stop_date: date | None = None
    #: Validate and sync staff.csv (staff are synced as teachers without classes).
    sync_staff: bool = False
    clever: CleverApiSettings | None = None

    @property
    def assigns_licenses(self) -> bool:
        return bool(self.students.licenses or self.teachers.licenses)

    @property
    def licenses_by_group(self) -> bool:
        """Students' and teachers' licences are assigned to the All Students / All Teachers groups."""
        return self.license_assignment == "group"


class ProfileError(ValueError):
    """A profile file is invalid. ``problems`` holds one ``(key, message)`` per mistake."""

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = "; ".join(f"{key}: {message}" for key, message in problems)
        super().__init__(f"profile {path} is invalid: {lines}")


# --------------------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------------------
#
# Decisions (sds-behaviour.md §1, §2):
# - Every mistake is collected as ``(dotted key, message)``; one ProfileError lists them all.
# - Matching on ``userPrincipalName`` / ``mail`` needs an address. An email source column
#   (``Student_email`` / ``Teacher_email``) has one; ``Username`` often holds the full UPN already, so it is
#   accepted without a domain (a value without ``@`` then simply matches nothing and is reported as
#   ``unmatched_entry``). An id or number column can never hold an address: without ``match_domain`` that
#   is a profile error.
# - Property columns are matched like CSV headers (case-insensitive, space = underscore) and stored in
#   their canonical spelling. ``Teacher_N_id`` columns are links, not properties: co-teachers always sync.
# - ``stop_date`` in the past is accepted (the engine refuses to sync then); ``[clever]`` without
#   ``source = "clever_api"`` is a mistake (it would be silently ignored).

#: Optional schools.csv columns a profile may write (``clever-csv.md`` §2): all but the keys.
SCHOOL_PROPERTY_COLUMNS = tuple(name for name in SCHOOLS.names if name not in ("School_id", "School_name"))
#: Optional sections.csv columns a profile may write (``clever-csv.md`` §2): all but the keys and the
#: teacher links (co-teachers always sync).
SECTION_PROPERTY_COLUMNS = tuple(
    name
    for name in SECTIONS.names
    if name not in ("School_id", "Section_id", "Teacher_id", *CO_TEACHER_COLUMNS)
)
#: Source columns that hold an email address (so matching on UPN / mail needs no domain).
_EMAIL_SOURCES = frozenset({"Student_email", "Teacher_email"})
_ADDRESS_SOURCES = _EMAIL_SOURCES | {"Username"}
_ADDRESS_TARGETS = frozenset({"userPrincipalName", "mail"})

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CO_TEACHER = re.compile(r"(?i)teacher[ _]\d+[ _]id")

_TOP_KEYS = (
    "name",
    "source",
    "user_mode",
    "section_domain",
    "school_properties",
    "section_properties",
    "lock_section_display_name",
    "usage_location",
    "student_enrollment_start_date",
    "intune_groups",
    "license_assignment",
    "replace_special_characters",
    "sync_staff",
    "stop_date",
    "students",
    "teachers",
    "deletion",
    "clever",
)
_ROLE_KEYS = ("match_source", "match_target", "match_domain", "user_domain", "licenses")
_DELETION_KEYS = ("sections", "users", "guard_threshold")
_CLEVER_KEYS = (
    "base_url",
    "api_version",
    "token_setting",
    "school_filter_mode",
    "school_filter",
    "use_events",
)


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Read and validate the TOML profile at ``path``.

    Raises :class:`sync.errors.UsageError` when the file is missing or unreadable, and
    :class:`ProfileError` listing every mistake (TOML syntax, unknown keys, bad values) otherwise.
    """
    file = Path(path)
    if not file.exists():
        raise UsageError(f"profile {file} does not exist: give the path of a profile TOML file")
    if not file.is_file():
        raise UsageError(f"profile {file} is not a file: give the path of a profile TOML file")
    try:
        raw = file.read_bytes()
    except OSError as err:
        raise UsageError(f"profile {file} cannot be read: {err.strerror}") from err
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ProfileError(
            str(file), [("toml", f"not UTF-8: bad byte at line {line} (byte offset {err.start})")]
        ) from err
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ProfileError(str(file), [("toml", f"invalid TOML: {err}")]) from err
    return parse_profile(data, source_name=str(file))


def parse_profile(data: Mapping[str, Any], *, source_name: str) -> Profile:
    """Validate an already-parsed profile mapping (as ``tomllib`` returns it). ``source_name`` names the
    file or setting it came from in the error message."""
    reader = _Reader()
    profile = reader.profile(data)
    if reader.problems or profile is None:
        raise ProfileError(source_name, reader.problems)
    if profile.section_domain:
        # Accepted so that a profile carried over from SDS loads, but it changes nothing: say so.
        log.warning(
            "%s: section_domain = %r is not applied: the sync cannot choose a class's e-mail domain "
            "(Graph's group mail is read-only). Exchange gives classes the domain of the tenant's e-mail "
            "address policy for Microsoft 365 groups; see examples/profile.toml",
            source_name,
            profile.section_domain,
        )
    return profile


def _suggest(key: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if not close:
        close = [a for a in allowed if a.lower() == key.lower()]
    return f' (did you mean "{close[0]}"?)' if close else ""


def _choices(values: Sequence[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def _normalise_column(name: str) -> str:
    return name.strip().replace(" ", "_").lower()


class _Reader:
    """Reads one profile mapping, collecting every problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append((key, message))

    # -- generic typed getters: return None (and record a problem) on a bad value --------------------
    def unknown_keys(self, table: Mapping[str, Any], allowed: Sequence[str], prefix: str) -> None:
        for key in table:
            if key not in allowed:
                self.problem(
                    f"{prefix}{key}", f"unknown key{_suggest(key, allowed)}; allowed: {', '.join(allowed)}"
                )

    def string(self, table: Mapping[str, Any], key: str, path: str) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem(path, f"must be a string, not {_type_name(value)}")
            return None
        return value.strip()

    def choice(self, table: Mapping[str, Any], key: str, path: str, allowed: Sequence[str]) -> str | None:
        value = self.string(table, key, path)
        if value is None:
            return None
        if value not in allowed:
            hint = _suggest(value, allowed)
            self.problem(path, f'"{value}" is not allowed{hint}; use one of {_choices(allowed)}')
            return None
        return value

    def boolean(self, table: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        value = table.get(key, default)
        if not isinstance(value, bool):
            self.problem(path, f"must be true or false, not {_type_name(value)}")
            return default
        return value

    def strings(self, table: Mapping[str, Any], key: str, path: str) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(path, 'must be a list of strings, e.g. ["a", "b"]')
            return []
        return [v.strip() for v in value]

    def date_value(self, table: Mapping[str, Any], key: str, path: str) -> date | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, datetime):
            self.problem(path, "must be a date without a time, e.g. 2026-08-17")
            return None
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                if _ISO_DATE.match(value.strip()):
                    return date.fromisoformat(value.strip())
            except ValueError:
                pass
            self.problem(path, f'"{value}" is not a date; write YYYY-MM-DD, e.g. 2026-08-17')
            return None
        self.problem(path, f"must be a date (YYYY-MM-DD), not {_type_name(value)}")
        return None

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.problem(key, f"must be a table ([{key}]), not {_type_name(value)}")
            return None
        return value

    def domain(self, table: Mapping[str, Any], key: str, path: str) -> str | None:
        value = self.string(table, key, path)
        if value is None:
            return None
        if not _DOMAIN.match(value):
            self.problem(path, f'"{value}" is not a domain name; write e.g. "contoso.edu" (no "@", no URL)')
            return None
        return value.lower()

    # -- sections --------------------------------------------------------------------------------------
    def profile(self, data: Mapping[str, Any]) -> Profile | None:
        self.unknown_keys(data, _TOP_KEYS, "")
        name = self.string(data, "name", "name")
        if name is None and "name" not in data:
            self.problem("name", 'is required: give the profile a name, e.g. name = "Contoso USD"')
        elif name == "":
            self.problem("name", "must not be empty")
        source = self.choice(data, "source", "source", ("csv", "clever_api")) or "csv"
        user_mode = self.choice(data, "user_mode", "user_mode", ("existing", "create")) or "existing"
        section_domain = self.domain(data, "section_domain", "section_domain") or ""
        school_properties = self.columns(data, "school_properties", SCHOOL_PROPERTY_COLUMNS, "schools")
        section_properties = self.columns(data, "section_properties", SECTION_PROPERTY_COLUMNS, "sections")
        usage_location = self.country(data)
        students = self.role(data, "students", STUDENT_MATCH_SOURCES, user_mode)
        teachers = self.role(data, "teachers", TEACHER_MATCH_SOURCES, user_mode)
        licensed = students.licenses or teachers.licenses
        if licensed and usage_location is None and "usage_location" not in data:
            self.problem(
                "usage_location",
                'is required when licences are assigned: a two-letter country code, e.g. "US"',
            )
        flags = {
            key: self.boolean(data, key, key, False)
            for key in (
                "lock_section_display_name",
                "intune_groups",
                "replace_special_characters",
                "sync_staff",
            )
        }
        license_assignment = (
            self.choice(data, "license_assignment", "license_assignment", ("user", "group")) or "user"
        )
        enrollment_start = self.date_value(
            data, "student_enrollment_start_date", "student_enrollment_start_date"
        )
        stop_date = self.date_value(data, "stop_date", "stop_date")
        deletion = self.deletion(data)
        clever = self.clever(data, source)
        if not isinstance(name, str) or not name:
            return None
        return Profile(
            name=name,
            source=cast(Source, source),
            user_mode=cast(UserMode, user_mode),
            section_domain=section_domain,
            school_properties=school_properties,
            section_properties=section_properties,
            lock_section_display_name=flags["lock_section_display_name"],
            usage_location=usage_location,
            students=students,
            teachers=teachers,
            student_enrollment_start_date=enrollment_start,
            intune_groups=flags["intune_groups"],
            license_assignment=cast(LicenseAssignment, license_assignment),
            replace_special_characters=flags["replace_special_characters"],
            deletion=deletion,
            stop_date=stop_date,
            sync_staff=flags["sync_staff"],
            clever=clever,
        )

    def columns(self, data: Mapping[str, Any], key: str, allowed: Sequence[str], file: str) -> frozenset[str]:
        canonical = {_normalise_column(c): c for c in allowed}
        chosen: set[str] = set()
        for value in self.strings(data, key, key):
            column = canonical.get(_normalise_column(value))
            if column is None:
                hint = (
                    " (co-teachers always sync)" if _CO_TEACHER.fullmatch(value) else _suggest(value, allowed)
                )
                self.problem(
                    key,
                    f'"{value}" is not an optional {file}.csv column{hint}; allowed: {", ".join(allowed)}',
                )
            else:
                chosen.add(column)
        return frozenset(chosen)

    def country(self, data: Mapping[str, Any]) -> str | None:
        value = self.string(data, "usage_location", "usage_location")
        if value is None:
            return None
        if not _COUNTRY.match(value):
            self.problem(
                "usage_location", f'"{value}" is not a two-letter country code (ISO 3166), e.g. "US"'
            )
            return None
        return value.upper()

    def role(self, data: Mapping[str, Any], key: str, sources: Sequence[str], user_mode: str) -> RoleSettings:
        table = self.table(data, key) or {}
        self.unknown_keys(table, _ROLE_KEYS, f"{key}.")
        source = self.choice(table, "match_source", f"{key}.match_source", sources)
        target = self.choice(table, "match_target", f"{key}.match_target", MATCH_TARGETS)
        match_domain = self.domain(table, "match_domain", f"{key}.match_domain")
        user_domain = self.domain(table, "user_domain", f"{key}.user_domain")
        source = source or ("Username" if "match_source" not in table else None)
        target = target or ("userPrincipalName" if "match_target" not in table else None)
        if (
            source is not None
            and target in _ADDRESS_TARGETS
            and source not in _ADDRESS_SOURCES
            and match_domain is None
            and "match_domain" not in table
        ):
            self.problem(
                f"{key}.match_domain",
                f"is required to match {source} against {target}: an id is not an address; set "
                f'match_domain (e.g. "contoso.edu") or match on an email column',
            )
        if user_mode == "create" and user_domain is None and "user_domain" not in table:
            self.problem(
                f"{key}.user_domain",
                'is required with user_mode = "create": new users get Username@user_domain',
            )
        licenses: list[str] = []
        for sku in self.strings(table, "licenses", f"{key}.licenses"):
            if _GUID.match(sku):
                licenses.append(sku.lower())
            else:
                self.problem(
                    f"{key}.licenses",
                    f'"{sku}" is not a SKU id: licences are GUIDs such as '
                    '"314c4481-f395-4525-be8b-2ec4bb1e9d91" (see Get-MgSubscribedSku)',
                )
        return RoleSettings(
            matching=IdentityMatching(source or "Username", target or "userPrincipalName", match_domain),
            user_domain=user_domain,
            licenses=tuple(dict.fromkeys(licenses)),
        )

    def deletion(self, data: Mapping[str, Any]) -> DeletionPolicy:
        table = self.table(data, "deletion") or {}
        self.unknown_keys(table, _DELETION_KEYS, "deletion.")
        sections = self.choice(table, "sections", "deletion.sections", ("keep", "expire", "delete"))
        users = self.choice(table, "users", "deletion.users", ("keep", "disable", "delete"))
        threshold = table.get("guard_threshold", 0.10)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            self.problem("deletion.guard_threshold", f"must be a number, not {_type_name(threshold)}")
            threshold = 0.10
        elif not 0 < threshold <= 1:
            self.problem(
                "deletion.guard_threshold",
                f"{threshold} is out of range: a share greater than 0 and at most 1 (0.10 = 10 %)",
            )
            threshold = 0.10
        return DeletionPolicy(
            sections=cast(SectionDeletion, sections or "expire"),
            users=cast(UserDeletion, users or "keep"),
            guard_threshold=float(threshold),
        )

    def clever(self, data: Mapping[str, Any], source: str) -> CleverApiSettings | None:
        table = self.table(data, "clever")
        if table is None:
            if source == "clever_api" and "clever" not in data:
                self.problem("clever", 'a [clever] table is required with source = "clever_api"')
            return None
        if source != "clever_api":
            self.problem(
                "clever", 'is used only with source = "clever_api"; remove [clever] or change source'
            )
        self.unknown_keys(table, _CLEVER_KEYS, "clever.")
        base_url = self.string(table, "base_url", "clever.base_url") or "https://api.clever.com"
        parsed = urlsplit(base_url)
        local = parsed.scheme == "http" and (parsed.hostname or "") in _LOCAL_HOSTS
        if not ((parsed.scheme == "https" and parsed.hostname) or local):
            self.problem(
                "clever.base_url",
                f'"{base_url}" is not an https URL, e.g. "https://api.clever.com" (http only for localhost)',
            )
        api_version = self.choice(table, "api_version", "clever.api_version", ("v3.0", "v3.1")) or "v3.0"
        token_setting = self.string(table, "token_setting", "clever.token_setting") or "CLEVER_TOKEN"
        if not _SETTING_NAME.match(token_setting):
            self.problem(
                "clever.token_setting",
                "must be the NAME of the app setting holding the token (letters, digits, _), never the token",
            )
        mode = self.choice(table, "school_filter_mode", "clever.school_filter_mode", ("allow", "deny"))
        school_filter = [s for s in self.strings(table, "school_filter", "clever.school_filter") if s]
        if mode is not None and not school_filter:
            self.problem(
                "clever.school_filter", f'is empty but school_filter_mode is "{mode}": list school ids'
            )
        if school_filter and mode is None and "school_filter_mode" not in table:
            self.problem("clever.school_filter_mode", 'is required with a school_filter: "allow" or "deny"')
        return CleverApiSettings(
            base_url=base_url.rstrip("/"),
            api_version=cast(Literal["v3.0", "v3.1"], api_version),
            token_setting=token_setting,
            school_filter_mode=cast(Literal["allow", "deny"] | None, mode),
            school_filter=tuple(dict.fromkeys(school_filter)),
            use_events=self.boolean(table, "use_events", "clever.use_events", True),
        )


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, datetime):
        return "a date-time"
    if isinstance(value, date):
        return "a date"
    return names.get(type(value), type(value).__name__)
