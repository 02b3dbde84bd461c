"""The codec must produce and accept exactly what Nakama (Go protojson) does."""

from __future__ import annotations

import orjson
import pytest

from nakama_rt.realtime.match.relayed import RelayedData
from nakama_rt.realtime.ping import PongReply
from nakama_rt.wire import codec
from nakama_rt.wire.codec import (
    REASON_MALFORMED_PAYLOAD,
    REASON_WRONG_FRAME_TYPE,
    Format,
    MalformedPayload,
    OutgoingEnvelope,
    WrongFrameType,
    decode,
    encode,
)
from nakama_rt.wire.proto import api_pb2, realtime_pb2
from nakama_rt.wire.proto.realtime_pb2 import Envelope, UserPresence

JSON, PROTOBUF = Format.JSON, Format.PROTOBUF
USER = "4c2ae592-b2a7-445e-98ec-697694478b1c"
SESSION = "a7de9a49-3d4a-4ac6-9a9e-3c3b4b1a1c5e"


def presence(status: str | None = None, **extra) -> UserPresence:
    p = UserPresence(user_id=USER, session_id=SESSION, username="alice", **extra)
    if status is not None:
        p.status.value = status
    return p


def from_json(text: str | bytes) -> Envelope:
    return decode(JSON, text.encode() if isinstance(text, str) else text, False)


# ---------------------------------------------------------------- formats


def test_format_from_query():
    assert Format.from_query("") is JSON
    assert Format.from_query("json") is JSON
    assert Format.from_query("protobuf") is PROTOBUF
    with pytest.raises(ValueError):
        Format.from_query("JSON")
    with pytest.raises(ValueError):
        Format.from_query("xml")


def test_error_reasons_are_nakamas_close_reasons():
    assert REASON_WRONG_FRAME_TYPE == "received unexpected WebSocket message type"
    assert REASON_MALFORMED_PAYLOAD == "received malformed payload"
    assert WrongFrameType.reason == REASON_WRONG_FRAME_TYPE
    assert MalformedPayload.reason == REASON_MALFORMED_PAYLOAD
    assert issubclass(WrongFrameType, codec.CodecError)
    assert issubclass(MalformedPayload, codec.CodecError)


# ---------------------------------------------------------- schema shape


def test_envelope_oneof_is_complete():
    oneof = Envelope.DESCRIPTOR.oneofs_by_name["message"]
    assert [f.number for f in oneof.fields] == list(range(2, 52))
    assert Envelope.DESCRIPTOR.full_name == "nakama.realtime.Envelope"
    assert Envelope.DESCRIPTOR.fields_by_name["rpc"].message_type is api_pb2.Rpc.DESCRIPTOR
    assert api_pb2.ChannelMessage.DESCRIPTOR.full_name == "nakama.api.ChannelMessage"


def _all_messages(file_desc):
    stack = list(file_desc.message_types_by_name.values())
    while stack:
        desc = stack.pop()
        stack.extend(desc.nested_types)
        yield desc


@pytest.mark.parametrize("module", [realtime_pb2, api_pb2])
def test_fields_are_declared_in_number_order(module):
    # Go writes JSON fields in declaration order; the encoder writes them in
    # number order. Both agree only while declarations stay sorted by number.
    for desc in _all_messages(module.DESCRIPTOR):
        numbers = [f.number for f in desc.fields]
        assert numbers == sorted(numbers), desc.full_name


# ------------------------------------------------------- exact JSON bytes


def test_pong_is_present_even_when_empty():
    env = Envelope(cid="5", pong=realtime_pb2.Pong())
    assert encode(JSON, env) == b'{"cid":"5","pong":{}}'


def test_status_presence_event_with_empty_status_wrapper():
    event = realtime_pb2.StatusPresenceEvent(joins=[presence(status="")], leaves=[presence()])
    expected = (
        b'{"status_presence_event":{"joins":[{"user_id":"' + USER.encode() + b'",'
        b'"session_id":"' + SESSION.encode() + b'","username":"alice","status":""}],'
        b'"leaves":[{"user_id":"' + USER.encode() + b'",'
        b'"session_id":"' + SESSION.encode() + b'","username":"alice"}]}}'
    )
    assert encode(JSON, Envelope(status_presence_event=event)) == expected


def test_match_data_int64_as_string_and_bytes_as_base64():
    data = realtime_pb2.MatchData(
        match_id="m1.nakama", op_code=7, data=b"hello", reliable=True, presence=presence()
    )
    expected = (
        b'{"match_data":{"match_id":"m1.nakama","presence":{"user_id":"' + USER.encode() + b'",'
        b'"session_id":"' + SESSION.encode() + b'","username":"alice"},'
        b'"op_code":"7","data":"aGVsbG8=","reliable":true}}'
    )
    assert encode(JSON, Envelope(match_data=data)) == expected


def test_error_code_and_sorted_context_map():
    error = realtime_pb2.Error(code=realtime_pb2.Error.BAD_INPUT, message="Invalid input")
    error.context["zeta"] = "1"
    error.context["alpha"] = "2"
    assert encode(JSON, Envelope(cid="3", error=error)) == (
        b'{"cid":"3","error":{"code":3,"message":"Invalid input",'
        b'"context":{"alpha":"2","zeta":"1"}}}'
    )


def test_channel_message_with_wrappers_and_timestamps():
    msg = api_pb2.ChannelMessage(
        channel_id="2...lobby",
        message_id="mid",
        sender_id=USER,
        username="alice",
        content='{"text":"hi"}',
        room_name="lobby",
    )
    msg.code.value = 0  # a set wrapper holding the default is still written
    msg.create_time.seconds = 1_700_000_000
    msg.update_time.seconds = 1_700_000_000
    msg.update_time.nanos = 120_000_000
    msg.persistent.value = True
    assert encode(JSON, Envelope(channel_message=msg)) == (
        b'{"channel_message":{"channel_id":"2...lobby","message_id":"mid","code":0,'
        b'"sender_id":"' + USER.encode() + b'","username":"alice",'
        b'"content":"{\\"text\\":\\"hi\\"}","create_time":"2023-11-14T22:13:20Z",'
        b'"update_time":"2023-11-14T22:13:20.120Z","persistent":true,"room_name":"lobby"}}'
    )


@pytest.mark.parametrize(
    ("seconds", "nanos", "text"),
    [
        (0, 0, "1970-01-01T00:00:00Z"),
        (1, 500_000_000, "1970-01-01T00:00:01.500Z"),
        (1, 1_000, "1970-01-01T00:00:01.000001Z"),
        (1, 1, "1970-01-01T00:00:01.000000001Z"),
        (-1, 0, "1969-12-31T23:59:59Z"),
        (-62_135_596_800, 0, "0001-01-01T00:00:00Z"),
        (253_402_300_799, 999_999_999, "9999-12-31T23:59:59.999999999Z"),
    ],
)
def test_timestamp_text_and_parse(seconds, nanos, text):
    ack = realtime_pb2.ChannelMessageAck()
    ack.create_time.seconds, ack.create_time.nanos = seconds, nanos
    raw = encode(JSON, Envelope(channel_message_ack=ack))
    assert raw == b'{"channel_message_ack":{"create_time":"' + text.encode() + b'"}}'
    assert from_json(raw).channel_message_ack.create_time == ack.create_time


def test_timestamp_out_of_range_is_refused_like_go():
    ack = realtime_pb2.ChannelMessageAck()
    ack.create_time.seconds = 253_402_300_800
    with pytest.raises(ValueError):
        encode(JSON, Envelope(channel_message_ack=ack))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (10.0, "10"),
        (2.5, "2.5"),
        (-0.0, "-0"),
        (0.1, "0.1"),
        (1e15, "1000000000000000"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.5e-6, "0.0000015"),
        (1e-7, "1e-7"),
        (1.25e-10, "1.25e-10"),
        (5e-324, "5e-324"),
        (float("nan"), '"NaN"'),
        (float("inf"), '"Infinity"'),
        (float("-inf"), '"-Infinity"'),
    ],
)
def test_doubles_print_like_go(value, text):
    ticket = realtime_pb2.MatchmakerAdd()
    ticket.numeric_properties["x"] = value
    raw = encode(JSON, Envelope(matchmaker_add=ticket))
    assert raw == b'{"matchmaker_add":{"numeric_properties":{"x":' + text.encode() + b"}}}"


def test_matchmaker_matched_properties():
    user = realtime_pb2.MatchmakerMatched.MatchmakerUser(presence=presence())
    user.string_properties["region"] = "eu"
    user.string_properties["mode"] = "duel"
    user.numeric_properties["skill"] = 10
    user.numeric_properties["rank"] = 2.5
    matched = realtime_pb2.MatchmakerMatched(ticket="t1", token="tok", users=[user])
    matched.self.CopyFrom(user)
    raw = encode(JSON, Envelope(matchmaker_matched=matched))
    props = (
        b'"string_properties":{"mode":"duel","region":"eu"},'
        b'"numeric_properties":{"rank":2.5,"skill":10}'
    )
    assert raw.startswith(b'{"matchmaker_matched":{"ticket":"t1","token":"tok","users":[{')
    assert raw.count(props) == 2


def test_strings_escape_like_go():
    env = Envelope(rpc=api_pb2.Rpc(id="e", payload='"\\\n\t\x01\x7f<>&/é\u2028😀'))
    assert encode(JSON, env) == (
        b'{"rpc":{"id":"e","payload":"\\"\\\\\\n\\t\\u0001\x7f<>&/' + "é\u2028😀".encode() + b'"}}'
    )


def test_unpopulated_fields_are_omitted():
    env = Envelope(cid="", party=realtime_pb2.Party(party_id="p", open=False, max_size=0))
    assert encode(JSON, env) == b'{"party":{"party_id":"p"}}'
    assert encode(JSON, Envelope()) == b"{}"


# ------------------------------------------------------------ round trips


def _notifications() -> Envelope:
    note = api_pb2.Notification(
        id="n1", subject="Hi", content='{"a":1}', code=-2, sender_id=USER, persistent=True
    )
    note.create_time.seconds = 1_700_000_000
    return Envelope(notifications=realtime_pb2.Notifications(notifications=[note]))


def _channel_message() -> Envelope:
    msg = api_pb2.ChannelMessage(channel_id="c", message_id="m", content="{}", group_id="g")
    msg.code.value = 5
    msg.create_time.seconds, msg.create_time.nanos = 1_600_000_000, 7
    msg.persistent.value = False
    return Envelope(cid="12", channel_message=msg)


def _matchmaker_matched() -> Envelope:
    user = realtime_pb2.MatchmakerMatched.MatchmakerUser(presence=presence(), party_id="p")
    user.numeric_properties["skill"] = 1234.5678
    user.numeric_properties["big"] = 1e300
    user.string_properties["region"] = "eu"
    return Envelope(matchmaker_matched=realtime_pb2.MatchmakerMatched(match_id="m", users=[user]))


def _error() -> Envelope:
    error = realtime_pb2.Error(code=7, message="boom")
    error.context.update({"k": "v", "": "empty key"})
    return Envelope(cid="1", error=error)


ENVELOPES = {
    "ping": lambda: Envelope(cid="1", ping=realtime_pb2.Ping()),
    "pong": lambda: Envelope(cid="1", pong=realtime_pb2.Pong()),
    "status": lambda: Envelope(
        cid="2", status=realtime_pb2.Status(presences=[presence("online"), presence()])
    ),
    "status_presence_event": lambda: Envelope(
        status_presence_event=realtime_pb2.StatusPresenceEvent(
            joins=[presence("")], leaves=[presence("away", persistence=True)]
        )
    ),
    "channel_message": _channel_message,
    "match_data": lambda: Envelope(
        match_data=realtime_pb2.MatchData(
            match_id="m", op_code=-(2**63), data=bytes(range(256)), presence=presence()
        )
    ),
    "match_join_token": lambda: Envelope(
        match_join=realtime_pb2.MatchJoin(token="", metadata={"a": "b"})
    ),
    "notifications": _notifications,
    "error": _error,
    "rpc": lambda: Envelope(cid="9", rpc=api_pb2.Rpc(id="echo", payload='{"x":[1,2]}')),
    "party_data": lambda: Envelope(
        party_data=realtime_pb2.PartyData(
            party_id="p", op_code=2**63 - 1, data=b"\x00\xff", presence=presence()
        )
    ),
    "matchmaker_matched": _matchmaker_matched,
    "stream_data": lambda: Envelope(
        stream_data=realtime_pb2.StreamData(
            stream=realtime_pb2.Stream(mode=2, subject=USER), data="x", reliable=True
        )
    ),
}


@pytest.mark.parametrize("fmt", [JSON, PROTOBUF])
@pytest.mark.parametrize("name", sorted(ENVELOPES))
def test_round_trip(name, fmt):
    env = ENVELOPES[name]()
    payload = encode(fmt, env)
    back = decode(fmt, payload, fmt is PROTOBUF)
    assert back == env
    assert back.WhichOneof("message") == env.WhichOneof("message")
    assert encode(fmt, back) == payload


@pytest.mark.parametrize("member", Envelope.DESCRIPTOR.oneofs_by_name["message"].fields)
def test_every_envelope_member_round_trips_empty(member):
    raw = b'{"' + member.name.encode() + b'":{}}'
    env = from_json(raw)
    assert env.WhichOneof("message") == member.name
    assert encode(JSON, env) == raw
    assert decode(PROTOBUF, encode(PROTOBUF, env), True) == env


# --------------------------------------------- what nakama-js actually sends


def test_nakama_js_status_follow():
    env = from_json('{"status_follow":{"user_ids":["' + USER + '"]},"cid":"1"}')
    assert env.cid == "1"
    assert list(env.status_follow.user_ids) == [USER]


def test_nakama_js_match_data_send():
    env = from_json(
        '{"match_data_send":{"match_id":"m.node","op_code":"1","data":"aGk=",'
        '"presences":[],"reliable":true}}'
    )
    send = env.match_data_send
    assert (send.match_id, send.op_code, send.data, send.reliable) == ("m.node", 1, b"hi", True)
    assert len(send.presences) == 0


def test_nakama_js_party_data_send_and_join_chat():
    env = from_json('{"party_data_send":{"party_id":"p","op_code":"3","data":"AAE="}}')
    assert (env.party_data_send.op_code, env.party_data_send.data) == (3, b"\x00\x01")
    env = from_json(
        '{"channel_join":{"target":"lobby","type":1,"persistence":true,"hidden":false},"cid":"4"}'
    )
    join = env.channel_join
    assert (join.target, join.type, join.persistence.value) == ("lobby", 1, True)
    assert join.HasField("hidden") and join.hidden.value is False


def test_nakama_js_join_match_matchmaker_rpc_ping():
    join = from_json('{"match_join":{"metadata":{},"match_id":"m"},"cid":"5"}').match_join
    assert join.WhichOneof("id") == "match_id" and join.match_id == "m"
    add = from_json(
        '{"matchmaker_add":{"min_count":2,"max_count":4,"query":"*",'
        '"string_properties":{"region":"eu"},"numeric_properties":{"skill":1500}}}'
    ).matchmaker_add
    assert (add.min_count, add.max_count, add.query) == (2, 4, "*")
    assert dict(add.string_properties) == {"region": "eu"}
    assert dict(add.numeric_properties) == {"skill": 1500.0}
    rpc = from_json('{"rpc":{"id":"echo","payload":"{}"},"cid":"6"}').rpc
    assert (rpc.id, rpc.payload) == ("echo", "{}")
    assert from_json('{"ping":{},"cid":"7"}').HasField("ping")


def test_status_update_presence_of_wrapper():
    # Absent status means "appear offline"; an empty string is a real status.
    assert not from_json('{"status_update":{}}').status_update.HasField("status")
    env = from_json('{"status_update":{"status":""}}')
    assert env.HasField("status_update") and env.status_update.HasField("status")


# ------------------------------------------------ protojson input leniency


def test_lower_camel_names_and_nulls_are_accepted():
    env = from_json('{"statusFollow":{"userIds":["a"],"usernames":null},"cid":null}')
    assert list(env.status_follow.user_ids) == ["a"]
    assert env.cid == ""


@pytest.mark.parametrize("op_code", ["7", "7.0", "70e-1", '"7"', '"7.0"', '"0.7e1"'])
def test_int64_as_number_or_string(op_code):
    env = from_json('{"match_data_send":{"op_code":' + op_code + "}}")
    assert env.match_data_send.op_code == 7


def test_int32_as_string_and_wrappers_as_bare_values():
    add = from_json('{"matchmaker_add":{"min_count":"2","count_multiple":"3"}}').matchmaker_add
    assert add.min_count == 2 and add.count_multiple.value == 3


def test_doubles_from_strings():
    props = from_json(
        '{"matchmaker_add":{"numeric_properties":{"a":"1.5","b":"NaN","c":"-Infinity","d":-0}}}'
    ).matchmaker_add.numeric_properties
    assert props["a"] == 1.5 and props["b"] != props["b"] and props["c"] == float("-inf")


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("aGk=", b"hi"),  # standard, padded
        ("aGk", b"hi"),  # unpadded
        ("YW\\n55", b"any"),  # Go skips newlines (and, as len % 4 != 0, wants no "=")
        ("-_8=", b"\xfb\xff"),  # URL-safe alphabet
        ("-_8", b"\xfb\xff"),
        ("", b""),
    ],
)
def test_bytes_accept_go_base64_variants(text, data):
    env = from_json('{"party_data_send":{"data":"' + text + '"}}')
    assert env.party_data_send.data == data


def test_timestamps_with_offsets_are_normalised():
    env = from_json('{"channel_message":{"create_time":"2023-11-14T23:13:20.5+01:00"}}')
    ts = env.channel_message.create_time
    assert (ts.seconds, ts.nanos) == (1_700_000_000, 500_000_000)


# ---------------------------------------------------------------- refusals


def test_wrong_frame_type():
    with pytest.raises(WrongFrameType) as info:
        decode(JSON, b'{"ping":{}}', True)
    assert info.value.reason == REASON_WRONG_FRAME_TYPE
    with pytest.raises(WrongFrameType):
        decode(PROTOBUF, encode(PROTOBUF, Envelope(ping=realtime_pb2.Ping())), False)


MALFORMED_JSON = {
    "empty": b"",
    "truncated": b'{"cid":',
    "array": b"[]",
    "null": b"null",
    "string": b'"ping"',
    "trailing garbage": b'{"ping":{}} x',
    "NaN literal": b'{"matchmaker_add":{"numeric_properties":{"a":NaN}}}',
    "unknown field": b'{"ping":{},"foo":1}',
    "unknown nested field": b'{"ping":{"node":"x"}}',
    "same field twice by two names": b'{"status_follow":{"user_ids":[],"userIds":[]}}',
    "two oneof members": b'{"ping":{},"pong":{}}',
    "two inner oneof members": b'{"match_join":{"match_id":"a","token":"b"}}',
    "cid not a string": b'{"cid":1}',
    "message not an object": b'{"ping":[]}',
    "list not an array": b'{"status_follow":{"user_ids":"a"}}',
    "null in a list": b'{"status_follow":{"user_ids":[null]}}',
    "bool as string": b'{"match_data_send":{"reliable":"true"}}',
    "int not numeric": b'{"match_data_send":{"op_code":"abc"}}',
    "int with fraction": b'{"match_data_send":{"op_code":1.5}}',
    "int with spaces": b'{"match_data_send":{"op_code":" 1"}}',
    "int with underscore": b'{"match_data_send":{"op_code":"1_0"}}',
    "int64 overflow": b'{"match_data_send":{"op_code":"9223372036854775808"}}',
    "int32 overflow": b'{"matchmaker_add":{"min_count":2147483648}}',
    "wrapper as object": b'{"channel_join":{"hidden":{"value":true}}}',
    "double as inf text": b'{"matchmaker_add":{"numeric_properties":{"a":"inf"}}}',
    "double overflow text": b'{"matchmaker_add":{"numeric_properties":{"a":"1e400"}}}',
    "null map value": b'{"error":{"context":{"a":null}}}',
    "base64 bad chars": b'{"match_data_send":{"data":"@@@@"}}',
    "base64 excess padding": b'{"match_data_send":{"data":"AAAA===="}}',
    "base64 mixed alphabets": b'{"match_data_send":{"data":"+/-_"}}',
    "base64 one char": b'{"match_data_send":{"data":"A"}}',
    "bytes as number": b'{"match_data_send":{"data":1}}',
    "timestamp lowercase": b'{"channel_message":{"create_time":"2023-11-14t22:13:20z"}}',
    "timestamp bad day": b'{"channel_message":{"create_time":"2023-02-30T00:00:00Z"}}',
    "timestamp no zone": b'{"channel_message":{"create_time":"2023-11-14T22:13:20"}}',
    "timestamp 10 digits": b'{"channel_message":{"create_time":"2023-11-14T22:13:20.0000000001Z"}}',
    "timestamp as number": b'{"channel_message":{"create_time":1700000000}}',
    "invalid utf-8": b'{"cid":"\xff\xfe"}',
    "lone surrogate": b'{"cid":"\\ud800"}',
    "raw control character": b'{"cid":"a\x01"}',
}


@pytest.mark.parametrize("payload", MALFORMED_JSON.values(), ids=MALFORMED_JSON.keys())
def test_malformed_json(payload):
    with pytest.raises(MalformedPayload) as info:
        decode(JSON, payload, False)
    assert info.value.reason == REASON_MALFORMED_PAYLOAD


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xff\xff\xff",  # invalid tag/varint
        b"\x0a\x05ab",  # cid length runs past the end
        b"\x0a\x02\xff\xfe",  # cid is not UTF-8
        b"\x82\x02\x03\x0a",  # ping (field 32) with a truncated body
    ],
)
def test_malformed_protobuf(payload):
    with pytest.raises(MalformedPayload):
        decode(PROTOBUF, payload, True)


# ------------------------------------------------------- OutgoingEnvelope


def test_outgoing_envelope_encodes_once_per_format(monkeypatch):
    calls = []
    real_encode = codec.encode

    def counting_encode(fmt, envelope):
        calls.append(fmt)
        return real_encode(fmt, envelope)

    monkeypatch.setattr(codec, "encode", counting_encode)
    out = OutgoingEnvelope(ENVELOPES["status"]())
    json_frames = [out.payload(JSON) for _ in range(100)]
    proto_frames = [out.payload(PROTOBUF) for _ in range(100)]
    assert calls == [JSON, PROTOBUF]
    assert all(frame is json_frames[0] for frame in json_frames)
    assert all(frame is proto_frames[0] for frame in proto_frames)
    assert json_frames[0] == real_encode(JSON, out.envelope)
    assert decode(PROTOBUF, proto_frames[0], True) == out.envelope


def test_outgoing_envelope_is_slotted():
    out = OutgoingEnvelope(Envelope())
    assert not hasattr(out, "__dict__")
    with pytest.raises(AttributeError):
        out.extra = 1


@pytest.mark.parametrize(
    "text, expected",
    [("0", 0), ("7", 7), ("9223372036854775807", 2**63 - 1), ("-3", -3), ("1e2", 100)],
)
def test_quoted_int64_values_read_as_go_reads_them(text, expected):
    payload = orjson.dumps({"match_data_send": {"match_id": "m.", "op_code": text}})
    assert decode(Format.JSON, payload, False).match_data_send.op_code == expected


@pytest.mark.parametrize("text", ["01", "\uff12", "9223372036854775808", " 1", "1 ", "+1", ""])
def test_quoted_int64_values_go_refuses(text):
    payload = orjson.dumps({"match_data_send": {"match_id": "m.", "op_code": text}})
    with pytest.raises(MalformedPayload):
        decode(Format.JSON, payload, False)


@pytest.mark.parametrize(
    "cid", ["", "1", "42", 'quo"te\\back', "\x00\x1f\u2028é😀", "<&>", "x" * 127, "y" * 300]
)
@pytest.mark.parametrize("fmt", list(Format))
def test_pong_replies_are_the_codecs_bytes(cid, fmt):
    reply = PongReply(cid)
    envelope = Envelope(cid=cid, pong=realtime_pb2.Pong())
    assert reply.payload(fmt) == encode(fmt, envelope)
    assert reply.frame(fmt) == OutgoingEnvelope(envelope).frame(fmt)
    assert reply.envelope == envelope and reply.message_type() == "pong"


class _Sender:
    def __init__(self, user_id: str, session_id: str, username: str) -> None:
        self.user_id, self.session_id, self.username = user_id, session_id, username


@pytest.mark.parametrize(
    "match_id, sender, op_code, data, reliable",
    [
        ("3f2b7f0e-8a4c-4a51-9b55-2f1e9a1b2c3d.", ("u", "s", "alice"), 1, b"hi", True),
        ("m.", ("u", "s", ""), 0, b"", False),
        ("m.node", ("", "", 'é\\"<&>\u2028'), -(2**63), bytes(range(256)), False),
        ("", ("u", "s", "bob"), 2**63 - 1, b"\x00", True),
    ],
)
@pytest.mark.parametrize("fmt", list(Format))
def test_relayed_match_data_is_the_codecs_bytes(match_id, sender, op_code, data, reliable, fmt):
    relayed = RelayedData(match_id, _Sender(*sender), op_code, data, reliable)
    user_id, session_id, username = sender
    expected = Envelope(
        match_data=realtime_pb2.MatchData(
            match_id=match_id,
            presence=UserPresence(user_id=user_id, session_id=session_id, username=username),
            op_code=op_code,
            data=data,
            reliable=reliable,
        )
    )
    assert relayed.payload(fmt) == encode(fmt, expected)
    assert relayed.envelope == expected and relayed.message_type() == "match_data"
