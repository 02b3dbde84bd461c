"""The cluster's directories (``nakama_rt.cluster.directory``) as another node's messages
change them: the parked sessions are found by token in one lookup, and that index
follows every change (put, replace, remove, a node's full list, a node's death)."""

from __future__ import annotations

import orjson
from twisted.internet.task import Clock

from nakama_rt.cluster.bus import ClusterBus
from nakama_rt.cluster.directory import RESUMABLE, parked_directory
from nakama_rt.core.refs import resume_key


def _told(directory, sender: str, *ops: list) -> None:
    assert directory.received(RESUMABLE, sender, orjson.dumps(list(ops)))


def _key(token: str, user: str = "u1", fmt: str = "json") -> tuple[str, str, str]:
    return resume_key(token, user, fmt)


def test_parked_sessions_are_found_by_token_user_and_format() -> None:
    parked = parked_directory(ClusterBus("a", Clock()))
    _told(parked, "b", ["+", "s1", "t1", "u1", "json"], ["+", "s2", "t2", "u2", "protobuf"])
    found = parked.by_key(_key("t1"))
    assert found is not None and (found.subject, found.node) == ("s1", "b")
    assert parked.by_key(_key("t2", "u2", "protobuf")).subject == "s2"
    assert parked.by_key(_key("t1", fmt="protobuf")) is None  # another format: not it
    assert parked.by_key(_key("t1", user="u2")) is None
    assert parked.by_key(_key("missing")) is None


def test_the_index_follows_every_change() -> None:
    parked = parked_directory(ClusterBus("a", Clock()))
    _told(parked, "b", ["+", "s1", "t1", "u1", "json"])
    # The same session told again with another token: only the new one finds it.
    _told(parked, "b", ["+", "s1", "t9", "u1", "json"])
    assert parked.by_key(_key("t1")) is None and parked.by_key(_key("t9")).subject == "s1"
    _told(parked, "b", ["-", "s1"])
    assert parked.by_key(_key("t9")) is None
    # A node's full list replaces what it had.
    _told(parked, "b", ["+", "s2", "t2", "u1", "json"])
    _told(parked, "b", ["="], ["+", "s3", "t3", "u1", "json"])
    assert parked.by_key(_key("t2")) is None and parked.by_key(_key("t3")).subject == "s3"
    # A dead node's are forgotten, another node's stay.
    _told(parked, "c", ["+", "s4", "t4", "u1", "json"])
    parked.forget("b")
    assert parked.by_key(_key("t3")) is None and parked.by_key(_key("t4")).node == "c"
    assert [ref.subject for ref in parked.others()] == ["s4"]


def test_two_sessions_with_one_token_leave_the_other_findable() -> None:
    """One token on two devices, both dropped: the latest told is found, and removing
    either leaves the other findable."""
    parked = parked_directory(ClusterBus("a", Clock()))
    _told(parked, "b", ["+", "s1", "t1", "u1", "json"])
    _told(parked, "c", ["+", "s2", "t1", "u1", "json"])
    assert parked.by_key(_key("t1")).subject == "s2"
    _told(parked, "c", ["-", "s2"])
    assert parked.by_key(_key("t1")).subject == "s1"
    _told(parked, "c", ["+", "s2", "t1", "u1", "json"])
    _told(parked, "b", ["-", "s1"])
    assert parked.by_key(_key("t1")).subject == "s2"
    _told(parked, "c", ["-", "s2"])
    assert parked.by_key(_key("t1")) is None
