"""What the social graph's SQL needs from a backend, and the helpers both share.

The rules (friends in :mod:`.social_friends`, groups in :mod:`.social_groups`)
are written once against :class:`Tx`: one transaction on one connection, with
``?`` placeholders. Each backend supplies a Tx that converts what differs:
placeholders, time values (REAL seconds in SQLite, TIMESTAMPTZ in PostgreSQL),
the case-insensitive LIKE, row locks, and a unique-name violation turned into
:class:`~.social.GroupNameTaken`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from .interface import User
from .social import Group, InvalidCursor


class Tx(Protocol):
    """One open transaction. Ids come back as whatever the driver gives: use ``str()``."""

    #: The case-insensitive LIKE operator.
    ilike: str
    #: Ends a SELECT that locks its rows until the transaction ends: `` FOR UPDATE``, or
    #: nothing where a transaction has the database to itself already (SQLite).
    for_update: str

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a statement and return its rows (none for a statement without results)."""

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement and return how many rows it changed."""

    def time(self, seconds: float) -> Any:
        """A time parameter for UNIX ``seconds``."""

    def seconds(self, value: Any) -> float:
        """UNIX seconds of a time column's value."""


def one(tx: Tx, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    rows = tx.rows(sql, params)
    return rows[0] if rows else None


def scalar(tx: Tx, sql: str, params: Sequence[Any] = ()) -> Any:
    row = one(tx, sql, params)
    return row[0] if row else None


USER_COLUMNS = (
    "u.id, u.username, u.display_name, u.avatar_url, u.lang_tag, u.location, u.timezone, "
    "u.metadata, u.edge_count, u.create_time, u.update_time"
)
USER_WIDTH = 11


def user_from(tx: Tx, row: Sequence[Any]) -> User:
    """A :class:`User` (no devices, email or secrets) from :data:`USER_COLUMNS`."""
    (
        user_id,
        username,
        display_name,
        avatar_url,
        lang_tag,
        location,
        timezone,
        metadata,
        edge_count,
        create_time,
        update_time,
    ) = row[:USER_WIDTH]
    return User(
        id=str(user_id),
        username=username,
        display_name=display_name,
        avatar_url=avatar_url,
        lang_tag=lang_tag,
        location=location,
        timezone=timezone,
        metadata=metadata,
        edge_count=edge_count,
        create_time=tx.seconds(create_time),
        update_time=tx.seconds(update_time),
    )


GROUP_COLUMNS = (
    "g.id, g.creator_id, g.name, g.description, g.avatar_url, g.lang_tag, g.metadata, "
    "g.state, g.edge_count, g.max_count, g.create_time, g.update_time"
)
GROUP_WIDTH = 12


def group_from(tx: Tx, row: Sequence[Any]) -> Group:
    """A :class:`Group` from :data:`GROUP_COLUMNS`."""
    (
        group_id,
        creator_id,
        name,
        description,
        avatar_url,
        lang_tag,
        metadata,
        state,
        edge_count,
        max_count,
        create_time,
        update_time,
    ) = row[:GROUP_WIDTH]
    return Group(
        id=str(group_id),
        creator_id=str(creator_id),
        name=name,
        description=description or "",
        avatar_url=avatar_url or "",
        lang_tag=lang_tag or "",
        metadata=metadata,
        open=state == 0,
        edge_count=edge_count,
        max_count=max_count,
        create_time=tx.seconds(create_time),
        update_time=tx.seconds(update_time),
    )


# Cursors: opaque to clients, base64url of a small JSON array. ------------------------------

#: The largest integer a cursor may hold: BIGINT's (SQLite's INTEGER cannot bind more).
CURSOR_INT_MAX = 2**63 - 1


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode("ascii")


def _cursor_scalar(value: Any) -> bool:
    """Whether a cursor value is one the server could have written and any database can
    take: an integer in 0..2^63-1, a string without NUL (PostgreSQL refuses NUL in
    text), a boolean or null; never a float or a nested container."""
    if isinstance(value, str):
        return "\x00" not in value
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return 0 <= value <= CURSOR_INT_MAX
    return False


def load_cursor(cursor: str, unpadded: bool = False) -> list[Any] | dict[str, Any]:
    """The flat JSON array or object inside any cursor of the API (base64url; its padding
    may be left out when ``unpadded``), or :class:`InvalidCursor`.

    Every cursor a client sends back is decoded here, so that nothing a client made up
    (an integer past BIGINT, a NUL, a float, a nested value) reaches a query: it is the
    client's mistake, answered 400 by the endpoint, never a database error.
    """
    try:
        raw = cursor.encode("ascii")
        if unpadded:
            raw += b"=" * (-len(raw) % 4)
        value = orjson.loads(base64.urlsafe_b64decode(raw))
    except (binascii.Error, ValueError, UnicodeEncodeError):  # JSONDecodeError is a ValueError
        raise InvalidCursor(cursor) from None
    if isinstance(value, list):
        items: Any = value
    elif isinstance(value, dict):
        items = value.values()
    else:
        raise InvalidCursor(cursor)
    if not all(_cursor_scalar(item) for item in items):
        raise InvalidCursor(cursor)
    return value


def decode_cursor(cursor: str, *kinds: type) -> list[Any]:
    """The values of a cursor made by :func:`encode_cursor` with values of ``kinds``."""
    values = load_cursor(cursor)
    if not isinstance(values, list) or len(values) != len(kinds):
        raise InvalidCursor(cursor)
    for value, kind in zip(values, kinds, strict=True):
        # bool is an int to Python; a cursor never holds one.
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidCursor(cursor)
    return values


def edge_cursor(cursor: str, state: int | None, last_state: int) -> tuple[int, int] | None:
    """``(state, position)`` of an edge-list cursor whose states go from 0 to
    ``last_state``; one made for another state is invalid."""
    if not cursor:
        return None
    cursor_state, position = decode_cursor(cursor, int, int)
    if cursor_state > last_state or (state is not None and state != cursor_state):
        raise InvalidCursor(cursor)
    return cursor_state, position


def edge_page(
    tx: Tx, sql: str, params: tuple[Any, ...], state: int | None, after: Any, limit: int
) -> tuple[list[tuple[Any, ...]], str]:
    """Rows of an edge list and the next cursor.

    ``sql`` selects from an edge table aliased ``e`` (its ``state`` and ``position``
    last) and ends in its WHERE clause; the state filter, cursor and order are added
    here. A cursor names the first row of the next page, so it is inclusive.
    """
    if state is not None:
        sql += " AND e.state = ?"
        params += (state,)
    else:
        sql += " AND e.state >= 0 AND e.state <= 3"
    if after is not None:
        sql += " AND (e.state, e.position) >= (?, ?)"
        params += tuple(after)
    sql += " ORDER BY e.state, e.position LIMIT ?"
    rows = tx.rows(sql, (*params, limit + 1))
    if len(rows) <= limit:
        return rows, ""
    following = rows[limit]
    return rows[:limit], encode_cursor(following[-2], following[-1])
