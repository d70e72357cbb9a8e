"""Small builders of Clever API records (the shapes of the v3.0/v3.1 OpenAPI files)."""

from __future__ import annotations

from typing import Any


def school(clever_id: str, sis_id: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"id": clever_id, "sis_id": sis_id, "name": f"School {clever_id}", **fields}


def student(
    clever_id: str, sis_id: str | None, school_id: str, *, schools: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    email = fields.pop("email", f"{clever_id}@students.example.edu")
    role = {"sis_id": sis_id, "school": school_id, "schools": schools or [school_id], **fields}
    return {
        "id": clever_id,
        "email": email,
        "name": {"first": "Ada", "last": "Lovelace"},
        "roles": {"student": role},
    }


def teacher(clever_id: str, sis_id: str | None, schools: list[str], **fields: Any) -> dict[str, Any]:
    role = {"sis_id": sis_id, "school": schools[0], "schools": schools, **fields}
    return {
        "id": clever_id,
        "email": f"{clever_id}@example.edu",
        "name": {"first": "Alan", "last": "Turing"},
        "roles": {"teacher": role},
    }


def staff(clever_id: str, staff_id: str | None, schools: list[str], **fields: Any) -> dict[str, Any]:
    """Clever's Staff role has no ``sis_id`` and no primary ``school``: its SIS id is ``staff_id``."""
    role = {"staff_id": staff_id, "schools": schools, **fields}
    return {
        "id": clever_id,
        "email": f"{clever_id}@example.edu",
        "name": {"first": "Grace", "last": "Hopper"},
        "roles": {"staff": role},
    }


def section(
    clever_id: str,
    sis_id: str | None,
    school_id: str,
    teachers: list[str],
    students: list[str],
    **fields: Any,
) -> dict[str, Any]:
    return {
        "id": clever_id,
        "sis_id": sis_id,
        "school": school_id,
        "name": f"Section {clever_id}",
        "teacher": teachers[0] if teachers else None,
        "teachers": teachers,
        "students": students,
        **fields,
    }


def event(event_id: str, kind: str, record: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "created": "2026-11-20T02:00:00.000Z", "data": {"object": record}}
