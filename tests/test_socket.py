"""The socket against a real server: upgrade refusals, ping, errors, closes, formats."""

from __future__ import annotations

import uuid

import pytest
import pytest_twisted
from twisted.internet import reactor

from tests.wsclient import authenticate, connect, http, wait_for

FORMATS = ["json", "protobuf"]


async def new_session(port: int, name: str | None = None) -> dict:
    name = name or f"user{uuid.uuid4().hex[:10]}"
    return await authenticate(port, f"custom-{uuid.uuid4()}", username=name)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_ping_answers_pong_with_the_same_cid(server, fmt) -> None:
    session = await new_session(server.port)
    client = await connect(server.port, session["token"], fmt=fmt)
    answer = await client.request({"cid": "42", "ping": {}})
    assert answer == {"cid": "42", "pong": {}}
    assert client.binary_flags == [fmt == "protobuf"]
    client.sendClose(1000, "done")
    assert await client.closed() == (1000, None), "the code is echoed, the reason is not"


@pytest_twisted.ensureDeferred
async def test_a_close_without_a_code_is_answered_without_one(server) -> None:
    session = await new_session(server.port)
    client = await connect(server.port, session["token"])
    client.sendClose()
    code, _ = await client.closed()
    assert code is None  # an empty close frame (browsers report 1005), as Nakama replies


def unhandled_message(server) -> str:
    """An Envelope message type the server does not handle (yet)."""
    from nakama_rt.wire.proto import realtime_pb2

    names = [f.name for f in realtime_pb2.Envelope.DESCRIPTOR.oneofs_by_name["message"].fields]
    return next(n for n in names if not server.server.pipeline.handles(n) and n != "error")


UPGRADE_HEADERS = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


def upgrade(port: int, query: str, headers: dict | None = None):
    return http(port, "GET", f"/ws?{query}", headers={**UPGRADE_HEADERS, **(headers or {})})


async def still_serving(port: int) -> None:
    """Another client can still authenticate, connect and ping."""
    session = await new_session(port)
    client = await connect(port, session["token"])
    assert await client.request({"cid": "alive", "ping": {}}) == {"cid": "alive", "pong": {}}
    client.sendClose()
    await client.closed()


@pytest_twisted.ensureDeferred
async def test_upgrade_refusals_happen_before_the_upgrade(server) -> None:
    from nakama_rt.auth import tokens
    from nakama_rt.config import SessionConfig

    session = await new_session(server.port)
    token = session["token"]
    claims = tokens.parse_session_token(token, "defaultencryptionkey", server.app.reactor.seconds())
    forged = tokens.issue_session(
        SessionConfig(encryption_key="not-the-key"),
        claims.user_id,
        claims.username,
        None,
        reactor.seconds(),
    ).token
    expired = tokens.issue_session(
        SessionConfig(), claims.user_id, claims.username, None, reactor.seconds() - 3600
    ).token
    cases = [
        (f"token={token}&format=xml", None, 400, "Invalid format parameter\n"),
        ("format=json", None, 401, "Missing or invalid token\n"),
        ("token=", None, 401, "Missing or invalid token\n"),
        ("token=not.a.jwt", None, 401, "Missing or invalid token\n"),
        (f"token={forged}", None, 401, "Missing or invalid token\n"),
        (f"token={expired}", None, 401, "Missing or invalid token\n"),
        (f"token={token}", {"Authorization": f"Basic {token}"}, 401, "Missing or invalid token\n"),
        ("", {"Authorization": "Bearer nope"}, 401, "Missing or invalid token\n"),
    ]
    for query, headers, status, body in cases:
        answer = await upgrade(server.port, query, headers)
        assert (answer.status, answer.body.decode()) == (status, body), query
    await still_serving(server.port)


@pytest_twisted.ensureDeferred
async def test_bearer_header_and_lang_are_accepted(server) -> None:
    session = await new_session(server.port)
    client = await connect(server.port, None, bearer=session["token"], lang="fr")
    assert await client.request({"cid": "1", "ping": {}}) == {"cid": "1", "pong": {}}
    (live,) = list(server.server.sessions)
    assert live.lang == "fr"


@pytest_twisted.ensureDeferred
async def test_a_logged_out_token_is_refused(server) -> None:
    session = await new_session(server.port)
    answer = await http(
        server.port,
        "POST",
        "/v2/session/logout",
        body={"token": session["token"]},
        bearer=session["token"],
    )
    assert answer.status == 200, answer
    refused = await upgrade(server.port, f"token={session['token']}")
    assert refused.status == 401
    with pytest.raises(ConnectionError):
        await connect(server.port, session["token"])
    await still_serving(server.port)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_missing_and_unknown_messages_answer_an_error_then_close(server, fmt) -> None:
    for message, code, text in [
        ({"cid": "1"}, 2, "Missing message."),
        ({"cid": "2", unhandled_message(server): {}}, 1, "Unrecognized message."),
    ]:
        session = await new_session(server.port)
        client = await connect(server.port, session["token"], fmt=fmt)
        answer = await client.request(message)
        assert answer == {"cid": message["cid"], "error": {"code": code, "message": text}}
        assert await client.closed() == (1000, "error processing message")
    await still_serving(server.port)


@pytest.mark.parametrize(
    "fmt, payload, binary, reason",
    [
        ("json", b'{"cid":"1","ping":{}}', True, "received unexpected WebSocket message type"),
        ("protobuf", b'{"cid":"1"}', False, "received unexpected WebSocket message type"),
        ("json", b'{"cid":"1","ping":', False, "received malformed payload"),
        ("json", b'{"cid":"1","ping":{},"extra":1}', False, "received malformed payload"),
        ("json", b"[1,2]", False, "received malformed payload"),
        ("protobuf", b"\xff\xff\xff", True, "received malformed payload"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_broken_frames_close_with_nakamas_reason(
    server, fmt, payload, binary, reason
) -> None:
    session = await new_session(server.port)
    client = await connect(server.port, session["token"], fmt=fmt)
    client.sendMessage(payload, isBinary=binary)
    assert await client.closed() == (1000, reason)
    await still_serving(server.port)
    assert len(server.server.sessions) == 0
    assert len(server.server.tracker) == 0


@pytest_twisted.ensureDeferred
async def test_an_oversize_message_closes_with_1009(server) -> None:
    session = await new_session(server.port)
    client = await connect(server.port, session["token"])
    client.sendMessage(b'{"cid":"' + b"x" * 5000 + b'","ping":{}}')
    assert await client.closed() == (1009, "message too big: over 4096 bytes")
    await still_serving(server.port)


@pytest.mark.parametrize("watcher_fmt, target_fmt", [("json", "protobuf"), ("protobuf", "json")])
@pytest_twisted.ensureDeferred
async def test_status_events_reach_followers_in_their_own_format(
    server, watcher_fmt, target_fmt
) -> None:
    watcher_session = await new_session(server.port, "watcher" + watcher_fmt)
    target_session = await new_session(server.port, "target" + target_fmt)
    watcher = await connect(server.port, watcher_session["token"], fmt=watcher_fmt)
    target = await connect(server.port, target_session["token"], fmt=target_fmt, status=True)
    target_id = server.server.sessions and next(
        s.user_id for s in server.server.sessions if s.username.startswith("target")
    )
    target_sid = next(s.id for s in server.server.sessions if s.user_id == target_id)
    followed = await watcher.request(
        {"cid": "f", "status_follow": {"usernames": ["target" + target_fmt]}}
    )
    online = {
        "user_id": target_id,
        "session_id": target_sid,
        "username": "target" + target_fmt,
        "status": "",
    }
    own = await target.next()  # a session follows its own user
    assert own == {"status_presence_event": {"joins": [online]}}
    assert followed == {"cid": "f", "status": {"presences": [online]}}

    busy = {**online, "status": "busy"}
    changed = {"status_presence_event": {"joins": [busy], "leaves": [online]}}
    assert await target.request({"cid": "u", "status_update": {"status": "busy"}}) == {"cid": "u"}
    assert await target.next() == changed
    assert await watcher.next() == changed

    target.sendClose(1000)
    assert (await target.closed())[0] == 1000
    event = await watcher.next()
    assert event == {"status_presence_event": {"leaves": [busy]}}
    assert not server.server.status.is_online(target_id)


@pytest_twisted.ensureDeferred
async def test_a_bad_status_request_answers_an_error_and_keeps_the_socket(server) -> None:
    session = await new_session(server.port)
    client = await connect(server.port, session["token"])
    answer = await client.request({"cid": "9", "status_follow": {"user_ids": ["nope"]}})
    assert answer == {"cid": "9", "error": {"code": 3, "message": "Invalid user identifier"}}
    answer = await client.request({"cid": "8", "status_unfollow": {"user_ids": ["nope"]}})
    assert answer["error"] == {"code": 3, "message": "Invalid user identifier"}
    answer = await client.request({"cid": "7", "status_follow": {"usernames": [""]}})
    assert answer["error"] == {"code": 3, "message": "Invalid username"}
    answer = await client.request({"cid": "6", "status_update": {"status": "\u00e9" * 1025}})
    assert answer["error"] == {"code": 3, "message": "Status must be 2048 characters or less"}
    assert await client.request({"cid": "p", "ping": {}}) == {"cid": "p", "pong": {}}
    await still_serving(server.port)


@pytest.mark.parametrize("server_options", [{"session": {"single_socket": True}}])
@pytest_twisted.ensureDeferred
async def test_single_socket_closes_the_older_socket(server) -> None:
    session = await new_session(server.port)
    older = await connect(server.port, session["token"])
    newer = await connect(server.port, session["token"], fmt="protobuf")
    notice = await older.next()
    (note,) = notice["notifications"]["notifications"]
    assert (note["code"], note["subject"], note["content"]) == (-7, "single_socket", "{}")
    assert await older.closed() == (1000, "server-side session disconnect")
    assert await newer.request({"cid": "1", "ping": {}}) == {"cid": "1", "pong": {}}
    assert len(server.server.sessions) == 1


@pytest_twisted.ensureDeferred
async def test_a_client_that_stops_reading_is_disconnected_alone(server) -> None:
    reader_session = await new_session(server.port, "reader")
    writer_session = await new_session(server.port, "writer")
    reader = await connect(server.port, reader_session["token"])
    writer = await connect(server.port, writer_session["token"], status=True, max_size=1 << 24)
    await reader.request({"cid": "f", "status_follow": {"usernames": ["writer"]}})
    reader.transport.pauseProducing()  # the reader stops reading from its socket
    big = "s" * 2000
    window = 20
    for start in range(0, 4000, window):
        for n in range(start, start + window):
            writer.send({"cid": str(n), "status_update": {"status": f"{n}{big}"}})
        for n in range(start, start + window):
            while (await writer.next(10)).get("cid") != str(n):
                pass  # the writer also sees its own status events
        if not any(s.username == "reader" for s in server.server.sessions):
            break
    reader_ids = [s for s in server.server.sessions if s.username == "reader"]
    assert reader_ids == [], "the reader was disconnected for its full queue"
    writer.send({"cid": "p", "ping": {}})
    answer, _ = await wait_for(writer, lambda m: m.get("cid") == "p")
    assert answer == {"cid": "p", "pong": {}}


@pytest_twisted.ensureDeferred
async def test_shutdown_sends_leaves_then_going_away(tmp_path) -> None:
    from tests.conftest import make_config, start_server

    running = await start_server(make_config(tmp_path))
    port = running.port
    a_session = await new_session(port, "alpha")
    b_session = await new_session(port, "bravo")
    a = await connect(port, a_session["token"])
    b = await connect(port, b_session["token"], status=True, fmt="protobuf")
    followed = await a.request({"cid": "f", "status_follow": {"usernames": ["bravo"]}})
    assert len(followed["status"]["presences"]) == 1
    await running.listening.stopListening()
    await running.app.stop()
    messages = []
    while a.received.pending:
        messages.append(a.received.pending.pop(0))
    leaves = [m["status_presence_event"]["leaves"][0]["username"] for m in messages]
    assert "bravo" in leaves
    assert (await a.closed())[0] == 1001
    assert (await b.closed())[0] == 1001


@pytest_twisted.ensureDeferred
async def test_frames_written_straight_to_the_socket_keep_their_order(server) -> None:
    """A turn's frames go out on the socket together while the transport's buffer is
    empty and through Twisted's buffer otherwise; a reader that pauses (so both
    happen) still gets every frame, in order."""
    reader_session = await new_session(server.port, "orderly")
    writer_session = await new_session(server.port, "scribe")
    reader = await connect(server.port, reader_session["token"], max_size=1 << 24)
    writer = await connect(server.port, writer_session["token"])
    await reader.request({"cid": "f", "status_follow": {"usernames": ["scribe"]}})
    (protocol,) = [
        p for p in server.app.socket_factory.open_protocols if p.session.username == "orderly"
    ]
    assert protocol.write_through
    reader.transport.pauseProducing()
    filler = "x" * 2000  # statuses are at most 2048 bytes
    count = 300
    for n in range(count):
        writer.send({"cid": str(n), "status_update": {"status": f"{n}:{filler}"}})
    await wait_for(writer, lambda m: m.get("cid") == str(count - 1))
    reader.transport.resumeProducing()
    seen = []
    while len(seen) < count:
        message = await reader.next(10)
        for join in message.get("status_presence_event", {}).get("joins", []):
            seen.append(int(join["status"].split(":")[0]))
    assert seen == list(range(count))
