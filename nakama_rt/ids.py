"""Identifiers as Nakama reads them."""

from __future__ import annotations

import uuid


def canonical_uuid(value: object) -> str | None:
    """The canonical lowercase form of a UUID string, or None if it is not one."""
    try:
        return str(uuid.UUID(value))  # type: ignore[arg-type]
    except (ValueError, TypeError, AttributeError):
        return None
