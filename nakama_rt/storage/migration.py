"""One schema version, as every feature's schema module declares its own (a leaf:
it imports nothing of the storage, so the schema modules cannot form a cycle)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    """The DDL of one schema version for each backend, applied in one transaction.

    An applied version is never edited: databases that have it would not see the change.
    """

    version: int
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]

    def statements(self, dialect: str) -> tuple[str, ...]:
        """The DDL for the dialect named ``sqlite`` or ``postgresql``."""
        return self.sqlite if dialect == "sqlite" else self.postgresql
