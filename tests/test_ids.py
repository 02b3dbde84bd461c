"""Session ids: version 1 UUIDs, distinct even when made in the same instant."""

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
