"""What the social queries share: the user and group columns they read, edge-list
pages, and the cursors of every list of the API."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import orjson

from .interface import User
from .social import Group, InvalidCursor
from .sql import Dialect, Tx


def user_columns(d: Dialect) -> str:
    """The columns :func:`user_from` reads, aliased ``u``, times as UNIX seconds."""
    return (
        "u.id, u.username, u.display_name, u.avatar_url, u.lang_tag, u.location, u.timezone, "
        f"u.metadata, u.edge_count, {d.seconds('u.create_time')}, {d.seconds('u.update_time')}"
    )


USER_WIDTH = 11


def user_from(row: Sequence[Any]) -> User:
    """A :class:`User` (no devices, email or secrets) from :func:`user_columns`."""
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
        create_time=float(create_time),
        update_time=float(update_time),
    )


def group_columns(d: Dialect) -> str:
    """The columns :func:`group_from` reads, aliased ``g``, times as UNIX seconds."""
    return (
        "g.id, g.creator_id, g.name, g.description, g.avatar_url, g.lang_tag, g.metadata, "
        f"g.state, g.edge_count, g.max_count, {d.seconds('g.create_time')}, "
        f"{d.seconds('g.update_time')}"
    )


GROUP_WIDTH = 12


def group_from(row: Sequence[Any]) -> Group:
    """A :class:`Group` from :func:`group_columns`."""
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
        create_time=float(create_time),
        update_time=float(update_time),
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


class EdgePage:
    """Pages of one edge list, and the cursor to the next page.

    ``select`` chooses from an edge table aliased ``e`` (its ``state`` and ``position``
    last) and ends in its WHERE clause; the state filter, cursor and order are added
    here, in the four forms a call may need, once. A cursor names the first row of
    the next page, so it is inclusive.
    """

    def __init__(self, d: Dialect, select: str) -> None:
        self._sql = {
            (by_state, after): d.sql(
                select
                + (" AND e.state = ?" if by_state else " AND e.state >= 0 AND e.state <= 3")
                + (" AND (e.state, e.position) >= (?, ?)" if after else "")
                + " ORDER BY e.state, e.position LIMIT ?"
            )
            for by_state in (False, True)
            for after in (False, True)
        }

    def __call__(
        self,
        tx: Tx,
        params: tuple[Any, ...],
        state: int | None,
        after: tuple[int, int] | None,
        limit: int,
    ) -> tuple[list[tuple[Any, ...]], str]:
        sql = self._sql[state is not None, after is not None]
        if state is not None:
            params += (state,)
        if after is not None:
            params += tuple(after)
        rows = tx.rows(sql, (*params, limit + 1))
        if len(rows) <= limit:
            return rows, ""
        following = rows[limit]
        return rows[:limit], encode_cursor(following[-2], following[-1])
