"""Channel ids and content rules, without sockets."""

from __future__ import annotations

import uuid

import pytest

from nakama_rt.core.tracker import PresenceStream, StreamMode
from nakama_rt.realtime.chat.channel import channel_id, is_json_object, parse_channel_id

A, B = sorted(str(uuid.uuid4()) for _ in range(2))


@pytest.mark.parametrize(
    "stream, text",
    [
        (PresenceStream(StreamMode.CHANNEL, label="lobby"), "2...lobby"),
        (PresenceStream(StreamMode.CHANNEL, label="a.b.c"), "2...a.b.c"),
        (PresenceStream(StreamMode.GROUP, A), f"3.{A}.."),
        (PresenceStream(StreamMode.DM, A, B), f"4.{A}.{B}."),
    ],
)
def test_channel_ids_are_nakamas_stream_text_and_round_trip(stream, text) -> None:
    assert channel_id(stream) == text
    assert parse_channel_id(text) == stream


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2",
        "2..",
        "2...",
        "2.x..lobby",
        "2..x.lobby",
        "2..." + "x" * 65,
        "3.not-a-uuid..",
        f"3.{A}.{B}.",
        f"3.{A}..label",
        f"4.{A}.{B}.label",
        "4.nope..",
        "5.a.b.c",
        "1...x",
    ],
)
def test_malformed_channel_ids_are_refused(text) -> None:
    assert parse_channel_id(text) is None


def test_channel_ids_accept_uuid_spellings_go_accepts_and_normalise_them() -> None:
    assert parse_channel_id(f"3.{A.upper()}..") == PresenceStream(StreamMode.GROUP, A)


def test_a_64_byte_room_name_is_the_longest() -> None:
    assert parse_channel_id("2..." + "é" * 32) is not None  # 64 bytes
    assert parse_channel_id("2..." + "é" * 32 + "x") is None


@pytest.mark.parametrize(
    "content, ok",
    [
        ("{}", True),
        (' {"a": [1, 2]} ', True),
        ("[]", False),
        ("1", False),
        ('"s"', False),
        ("null", False),
        ("", False),
        ("{", False),
        ("{} {}", False),
    ],
)
def test_message_content_must_be_a_json_object(content, ok) -> None:
    assert is_json_object(content) is ok
