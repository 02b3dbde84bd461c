"""Party listing (``GET /v2/party``, ``nk.party_list``), as Nakama 3.40 lists parties.

As ``PartyList`` in Nakama's server/party_registry.go: a query over the parties' labels
(fields under ``label.``, beside ``node``, ``open`` and ``hidden`` as ``T`` or ``F`` and
``max_size``; an empty query matches every party), filtered by ``open`` when given and
leaving hidden parties out unless asked (the client API never asks), best score first,
then in the order the parties were last indexed (created or updated). A page holds
``limit`` parties and, when more follow, a cursor for the next one, which must be sent
back with the same query, limit and ``open``.

Nakama indexes a new or changed party within ``party.label_update_interval_ms`` (a
second, in batches whose order varies); here a listing sees it at once, in the order
the parties were made or updated. Its cursor is a Go gob; ours is our own encoding, as
opaque to a client. Each label is listed as it was written ("" as ``{}``).

In a cluster the listing is of every node's parties (the registry's directory holds
the others'), on whichever node it is asked.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from nakama_rt.core.refs import ListedParty
from nakama_rt.query import Document, QueryError, compile_query, index_document
from nakama_rt.realtime.party.registry import PartyRegistry
from nakama_rt.storage.social_core import InvalidCursor, encode_cursor, load_cursor

#: The client API's bounds of ``limit`` and its default.
LIMIT_MIN, LIMIT_MAX, DEFAULT_LIMIT = 1, 100, 10


class PartyListError(Exception):
    """A cursor or query the listing cannot use (Nakama answers these with a 500)."""


@dataclass(frozen=True)
class _Cursor:
    query: str
    open: bool | None
    offset: int
    limit: int

    def encode(self) -> str:
        return encode_cursor(self.query, self.open, self.offset, self.limit)

    @classmethod
    def decode(cls, text: str) -> _Cursor:
        """The API's one cursor decoding (base64url JSON of plain values), then this
        cursor's shape."""
        try:
            values = load_cursor(text, unpadded=True)
        except InvalidCursor:
            raise PartyListError("invalid cursor") from None
        if not isinstance(values, list) or len(values) != 4:
            raise PartyListError("invalid cursor")
        query, open, offset, limit = values
        if not (
            isinstance(query, str)
            and (open is None or isinstance(open, bool))
            and type(offset) is int
            and type(limit) is int
        ):
            raise PartyListError("invalid cursor")
        return cls(query, open, offset, limit)


def _label(party: ListedParty) -> object:
    """The label as the map Nakama parsed it into ({} for "" and for null)."""
    parsed = orjson.loads(party.label or "{}")
    return parsed if isinstance(parsed, dict) else {}


def _document(party: ListedParty, label: object) -> Document:
    return index_document(
        label,
        "label",
        keywords={
            "node": party.node,
            "open": "T" if party.open else "F",
            "hidden": "T" if party.hidden else "F",
        },
        numbers={"max_size": party.max_size},
    )


def list_parties(
    registry: PartyRegistry,
    limit: int,
    open: bool | None,
    show_hidden: bool,
    query: str,
    cursor: str,
) -> tuple[list[dict[str, object]], str]:
    """A page of parties (``api.Party`` as JSON) and the cursor of the next ("" when
    none follows); raises :class:`PartyListError` for a bad cursor or query. ``limit``
    is not checked (the HTTP API refuses one out of bounds first, as Nakama's does)."""
    if limit <= 0:
        return [], ""
    query = query or "*"
    offset = 0
    if cursor:
        taken = _Cursor.decode(cursor)
        if taken.query != query:
            raise PartyListError("invalid cursor: param query mismatch")
        if taken.limit != limit:
            raise PartyListError("invalid cursor: param limit mismatch")
        if taken.open is not None and open is not None and taken.open != open:
            raise PartyListError("invalid cursor: param open mismatch")
        offset = taken.offset
    try:
        compiled = compile_query(query)
    except QueryError as error:
        raise PartyListError(f"error parsing query string: {error}") from None
    scored = []
    for party in registry.listed():
        if (party.hidden and not show_hidden) or (open is not None and party.open != open):
            continue
        label = _label(party)
        score = compiled.evaluate(_document(party, label))
        if score is not None:
            scored.append((-score, party.indexed_at, party))
    scored.sort(key=lambda item: (item[0], item[1]))
    page = scored[offset : offset + limit + 1]
    following = ""
    if len(page) > limit:
        page = page[:limit]
        following = _Cursor(query, open, offset + limit, limit).encode()
    parties = [_wire(party) for _, _, party in page]
    return parties, following


def _wire(party: ListedParty) -> dict[str, object]:
    """``api.Party`` as protojson writes it: fields in their order, zero values left out."""
    fields: list[tuple[str, object]] = [
        ("party_id", party.party_id),
        ("open", party.open),
        ("hidden", party.hidden),
        ("max_size", party.max_size),
        ("label", party.label or "{}"),
    ]
    return {name: value for name, value in fields if value}
