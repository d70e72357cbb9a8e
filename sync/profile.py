"""The sync profile: every option of ``sds-behaviour.md`` §1, loaded from a TOML file.

This module holds the typed profile. ``load_profile(path)`` reads and validates a TOML file and raises
:class:`ProfileError` listing *every* mistake with its key and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

UserMode = Literal["existing", "create"]
Source = Literal["csv", "clever_api"]
SectionDeletion = Literal["keep", "expire", "delete"]
UserDeletion = Literal["keep", "disable", "delete"]

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
    #: Domain of each class's SMTP address (``Section_<id>@<section_domain>``).
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


class ProfileError(ValueError):
    """A profile file is invalid. ``problems`` holds one ``(key, message)`` per mistake."""

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = "; ".join(f"{key}: {message}" for key, message in problems)
        super().__init__(f"profile {path} is invalid: {lines}")
