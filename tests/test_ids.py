"""Session ids: version 1 UUIDs, distinct even when made in the same instant; match and
party ids read as Nakama reads them."""

from __future__ import annotations

import uuid

from nakama_rt.wire.ids import new_session_id


def test_session_ids_are_time_based_and_never_repeat() -> None:
    made = [new_session_id() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    parsed = [uuid.UUID(text) for text in made]
    assert {u.version for u in parsed} == {1}
    assert [u.time for u in parsed] == sorted(u.time for u in parsed)
    assert made[0] == str(parsed[0])  # canonical lowercase text


def test_a_match_id_is_its_canonical_uuid_and_node_however_it_is_spelled() -> None:
    """Canonical ids (all the server hands out) are taken as they are; the other
    spellings Nakama accepts are parsed to the same; anything else is refused."""
    from nakama_rt.wire.ids import parse_match_id

    value = uuid.uuid4()
    canonical = str(value)
    for spelled in (
        canonical,
        canonical.upper(),
        "{" + canonical + "}",
        value.hex,
        "urn:uuid:" + canonical,
    ):
        assert parse_match_id(spelled + ".") == (canonical, "")
        assert parse_match_id(spelled + ".node-1") == (canonical, "node-1")
    for bad in (
        canonical,
        "",
        ".",
        "x.",
        canonical + "x.",
        canonical + "\n.",
        " " + canonical + ".",
    ):
        assert parse_match_id(bad) is None, bad
