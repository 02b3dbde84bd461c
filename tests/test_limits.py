"""The per-client limits (issue 17): the buckets on a Clock, then each limit on a real
server with real sockets in both formats: the ``Error`` envelope first, then the close
with 1008 and a reason, counted in the metrics; and nothing of it by default."""

from __future__ import annotations

import uuid

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from nakama_rt.config import Config, ConfigError, SocketConfig, config_from_mapping
from nakama_rt.core.limits import (
    STRIKES_PER_MINUTE,
    KeyedRate,
    MessageRate,
    parties_message,
    rate_message,
    sockets_message,
    tickets_message,
)
from nakama_rt.counters import RealtimeCounts
from nakama_rt.socket.lifecycle import SocketCore, SocketMachine
from nakama_rt.web.metrics import RealtimeCollector
from nakama_rt.wire.close_reasons import (
    MESSAGE_RATE_EXCEEDED,
    PARTY_LIMIT_EXCEEDED,
    TICKET_LIMIT_EXCEEDED,
    TOO_MANY_USER_SOCKETS,
)
from nakama_rt.wire.codec import Format
from tests.helpers import make_session
from tests.wsclient import authenticate, connect

FORMATS = ["json", "protobuf"]

# The buckets, on a Clock


def test_a_message_rate_admits_its_burst_then_its_rate() -> None:
    rate = MessageRate(10, 5, now=0.0)
    assert [rate.admit(0.0) for _ in range(6)] == [True] * 5 + [False]
    assert not rate.admit(0.05)  # half a token
    assert rate.admit(0.1)  # one token a tenth of a second
    assert not rate.admit(0.1)
    assert [rate.admit(100.0) for _ in range(6)] == [True] * 5 + [False]  # no more than a burst


def test_a_client_a_little_over_its_rate_is_refused_some_messages_never_closed() -> None:
    """15 a second against 10: a third refused, refusals refill as fast as they go."""
    rate = MessageRate(10, 10, now=0.0)
    admitted = refused = 0
    for n in range(1, 15 * 60):
        now = n / 15
        if rate.admit(now):
            admitted += 1
        else:
            refused += 1
            assert rate.refusal_allowed(now), f"closed after {n} messages"
    assert 590 <= admitted <= 610 and refused > 250


def test_a_client_at_three_times_its_rate_is_closed() -> None:
    """30 a second against 10, bursts of 10: the burst is gone after half a second
    (20 a second more than the rate), the refusals' burst a second later (10 more
    refusals a second than they refill)."""
    rate = MessageRate(10, 10, now=0.0)
    for n in range(1, 300):
        now = n / 30
        if not rate.admit(now) and not rate.refusal_allowed(now):
            break
    else:
        pytest.fail("never closed")
    assert 1.4 <= now <= 1.6


def test_a_socket_allowance_comes_from_the_config() -> None:
    assert MessageRate.for_socket(SocketConfig(), 0.0) is None
    rate = MessageRate.for_socket(SocketConfig(max_messages_per_sec=50), 0.0)
    assert rate is not None and (rate.rate, rate.burst) == (50, 50)  # a second's worth
    rate = MessageRate.for_socket(SocketConfig(max_messages_per_sec=50, message_burst=7), 0.0)
    assert rate is not None and (rate.rate, rate.burst) == (50, 7)


def test_keyed_rates_refill_and_forget_full_buckets() -> None:
    clock = Clock()
    rate = KeyedRate(clock, 1.0, 2)
    assert [rate.take("a") for _ in range(3)] == [True, True, False]
    assert rate.take("b")  # its own bucket
    clock.advance(1)
    assert rate.take("a") and not rate.take("a")
    assert KeyedRate.per_minute(clock, 0) is None
    minute = KeyedRate.per_minute(clock, 3)
    assert minute is not None and (minute.rate, minute.burst) == (3 / 60, 3)
    # A table of many keys is swept once it doubles: full buckets go, partial ones stay.
    many = KeyedRate(clock, 1.0, 1)
    for n in range(KeyedRate.SWEEP_FLOOR - 1):
        many.take(f"k{n}")
    clock.advance(5)  # all full again
    many.take("last")  # the table reaches the floor: swept, only "last" is below full
    assert len(many) == 1


# The lifecycle: a frame over the rate, on a Clock


class Wire:
    def __init__(self) -> None:
        self.closes: list[tuple[int, str]] = []
        self.frames: list[bytes] = []
        self.paused = 0

    def send_ping(self) -> None:
        pass

    def send_close(self, code: int, reason: str) -> None:
        self.closes.append((code, reason))

    def pause_reading(self) -> None:
        self.paused += 1

    def resume_reading(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def write_frame(self, envelope, fmt) -> None:
        self.frames.append(envelope.payload(fmt))


class Hooks:
    def __init__(self) -> None:
        self.counts = RealtimeCounts()
        self.processed: list[str] = []

    def session_opened(self, session) -> None:
        pass

    def process(self, session, envelope) -> bool:
        self.processed.append(envelope.cid)
        return True

    def session_closed(self, session, reason: str = "") -> None:
        pass


def test_frames_over_the_rate_are_answered_with_errors_then_the_socket_closes() -> None:
    clock, wire, hooks = Clock(), Wire(), Hooks()
    config = SocketConfig(max_messages_per_sec=2, message_burst=3)
    session = make_session("flood", wire, clock=clock)
    core = SocketCore(clock=clock, config=config, session=session, wire=wire, hooks=hooks)
    machine = SocketMachine(core)
    machine.opened()
    for n in range(10):
        machine.frame_received(b'{"cid":"%d","ping":{}}' % n, False)
    assert hooks.processed == ["0", "1", "2"]
    error = rate_message(2, 3)
    assert wire.frames == [
        b'{"cid":"%d","error":{"code":3,"message":"%s"}}' % (n, error.encode())
        for n in range(3, 7)  # three refusals allowed, the fourth closes
    ]
    assert wire.closes == [(1008, MESSAGE_RATE_EXCEEDED)]
    assert wire.paused == 1  # nothing more is read
    assert hooks.counts.limit_refusals == {"message_rate": 4}
    assert hooks.counts.errors == {3: 4}


def test_a_socket_within_its_rate_is_never_refused() -> None:
    clock, wire, hooks = Clock(), Wire(), Hooks()
    config = SocketConfig(max_messages_per_sec=10, message_burst=1)
    session = make_session("steady", wire, clock=clock)
    core = SocketCore(clock=clock, config=config, session=session, wire=wire, hooks=hooks)
    machine = SocketMachine(core)
    machine.opened()
    for n in range(100):
        machine.frame_received(b'{"cid":"%d","ping":{}}' % n, False)
        clock.advance(0.1)
    assert len(hooks.processed) == 100 and wire.closes == [] and wire.frames == []


# The config keys


def test_limits_are_off_by_default() -> None:
    sock, mm = Config().socket, Config().matchmaker
    assert (
        sock.max_messages_per_sec,
        sock.message_burst,
        sock.max_sockets_per_user,
        sock.max_party_creations_per_minute,
        sock.max_upgrades_per_sec_per_address,
        sock.max_concurrent_upgrades_per_address,
        mm.max_tickets_per_user,
    ) == (0, 0, 0, 0, 0, 0, 0)
    assert sock.exempt_private_addresses is True


def test_limit_keys_are_read_and_checked() -> None:
    config = config_from_mapping(
        {
            "socket": {"max_messages_per_sec": 50, "exempt_private_addresses": "false"},
            "matchmaker": {"max_tickets_per_user": 4},
        }
    ).validate()
    assert config.socket.max_messages_per_sec == 50
    assert config.socket.exempt_private_addresses is False
    assert config.matchmaker.max_tickets_per_user == 4
    for key in (
        "max_messages_per_sec",
        "message_burst",
        "max_sockets_per_user",
        "max_party_creations_per_minute",
        "max_upgrades_per_sec_per_address",
        "max_concurrent_upgrades_per_address",
    ):
        with pytest.raises(ConfigError, match=f"socket.{key} must be 0"):
            config_from_mapping({"socket": {key: -1}}).validate()
    with pytest.raises(ConfigError, match="matchmaker.max_tickets_per_user must be 0"):
        config_from_mapping({"matchmaker": {"max_tickets_per_user": -1}}).validate()


# On a real server


async def user(port: int) -> dict:
    return await authenticate(port, f"custom-{uuid.uuid4()}", username=f"u{uuid.uuid4().hex[:10]}")


async def until_cid(client, cid: str) -> dict:
    """The next message answering ``cid`` (events in between are skipped)."""
    while True:
        message = await client.next()
        if message.get("cid") == cid:
            return message


def bad_input(message: str, cid: str | None = None) -> dict:
    error = {"error": {"code": 3, "message": message}}
    return error if cid is None else {"cid": cid, **error}


def limit_metrics(server) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """(refusals by limit, closes by (code, reason)) as a scrape reads them."""
    collector = RealtimeCollector(server.server, http=server.app.http_counts)
    families = {family.name: family for family in collector.collect()}
    refusals = {
        s.labels["limit"]: s.value
        for s in families["nakama_rt_limit_refusals"].samples
        if s.name.endswith("_total")
    }
    closes = {
        (s.labels["code"], s.labels["reason"]): s.value
        for s in families["nakama_rt_socket_closes"].samples
        if s.name.endswith("_total")
    }
    return refusals, closes


RATE = {"socket": {"max_messages_per_sec": 1, "message_burst": 5, "close_ack_wait_ms": 200}}


@pytest.mark.parametrize("server_options", [RATE])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_a_flooding_socket_is_refused_then_closed(server, fmt) -> None:
    """Five pings pass (the burst), five more are refused (the refusals' own burst),
    the next refusal closes with 1008; a control socket is served throughout."""
    control = await connect(server.port, (await user(server.port))["token"], fmt=fmt)
    flood = await connect(server.port, (await user(server.port))["token"], fmt=fmt)
    for n in range(30):
        flood.send({"cid": str(n), "ping": {}})
    error = rate_message(1, 5)
    received = [await flood.next() for _ in range(11)]
    assert received[:5] == [{"cid": str(n), "pong": {}} for n in range(5)]
    assert received[5:] == [bad_input(error, str(n)) for n in range(5, 11)]
    assert await flood.closed() == (1008, MESSAGE_RATE_EXCEEDED)
    assert flood.received.pending == []  # nothing after the close
    assert await control.request({"cid": "c", "ping": {}}) == {"cid": "c", "pong": {}}
    refusals, closes = limit_metrics(server)
    assert refusals == {"message_rate": 6}
    assert closes[("1008", "message_rate")] == 1
    control.sendClose()
    await control.closed()


@pytest_twisted.ensureDeferred
async def test_no_limit_by_default(server) -> None:
    """The same flood on a server with the defaults: every message answered."""
    client = await connect(server.port, (await user(server.port))["token"])
    for n in range(200):
        client.send({"cid": str(n), "ping": {}})
    assert [await client.next() for _ in range(200)] == [
        {"cid": str(n), "pong": {}} for n in range(200)
    ]
    assert limit_metrics(server)[0] == {}
    client.sendClose()
    await client.closed()


SOCKETS = {"socket": {"max_sockets_per_user": 2}}


@pytest.mark.parametrize("server_options", [SOCKETS])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_a_socket_over_the_users_limit_gets_an_error_then_a_close(server, fmt) -> None:
    token = (await user(server.port))["token"]
    first = await connect(server.port, token, fmt=fmt)
    second = await connect(server.port, token, fmt=fmt)
    third = await connect(server.port, token, fmt=fmt)
    assert await third.next() == bad_input(sockets_message(2))
    assert await third.closed() == (1008, TOO_MANY_USER_SOCKETS)
    for client in (first, second):
        assert await client.request({"cid": "p", "ping": {}}) == {"cid": "p", "pong": {}}
    first.sendClose()
    await first.closed()
    fourth = await connect(server.port, token, fmt=fmt)  # a place is free again
    assert await fourth.request({"cid": "p", "ping": {}}) == {"cid": "p", "pong": {}}
    # Another user has places of its own.
    other = await connect(server.port, (await user(server.port))["token"], fmt=fmt)
    assert await other.request({"cid": "p", "ping": {}}) == {"cid": "p", "pong": {}}
    refusals, closes = limit_metrics(server)
    assert refusals == {"user_sockets": 1}
    assert closes[("1008", "user_sockets")] == 1
    assert len(server.server.sessions) == 3
    for client in (second, fourth, other):
        client.sendClose()
        await client.closed()


TICKETS = {"matchmaker": {"max_tickets_per_user": 2}}


def ticket_request(cid: str) -> dict:
    return {"cid": cid, "matchmaker_add": {"min_count": 2, "max_count": 2, "query": "*"}}


@pytest.mark.parametrize("server_options", [TICKETS])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_tickets_over_the_users_limit_are_refused_then_the_socket_closes(server, fmt) -> None:
    """Two tickets for the user, over its two sockets; a third is refused (Nakama's
    own max_tickets, 3 a session, is not reached); the refusal past the strikes closes."""
    token = (await user(server.port))["token"]
    one = await connect(server.port, token, fmt=fmt)
    two = await connect(server.port, token, fmt=fmt)
    assert "matchmaker_ticket" in await one.request(ticket_request("a"))
    assert "matchmaker_ticket" in await two.request(ticket_request("b"))
    error = tickets_message(2)
    for n in range(STRIKES_PER_MINUTE + 1):
        assert await one.request(ticket_request(f"r{n}")) == bad_input(error, f"r{n}")
    assert await one.closed() == (1008, TICKET_LIMIT_EXCEEDED)
    # Its ticket went with it: the user has a place again.
    assert "matchmaker_ticket" in await two.request(ticket_request("c"))
    refusals, closes = limit_metrics(server)
    assert refusals == {"matchmaker_tickets": STRIKES_PER_MINUTE + 1}
    assert closes[("1008", "matchmaker_tickets")] == 1
    two.sendClose()
    await two.closed()


PARTIES = {"socket": {"max_party_creations_per_minute": 2}}


@pytest.mark.parametrize("server_options", [PARTIES])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest_twisted.ensureDeferred
async def test_party_creations_over_the_limit_are_refused_then_the_socket_closes(
    server, fmt
) -> None:
    token = (await user(server.port))["token"]
    client = await connect(server.port, token, fmt=fmt)
    for cid in ("a", "b"):
        client.send({"cid": cid, "party_create": {"open": True, "max_size": 4}})
        assert "party" in await until_cid(client, cid)
    error = parties_message(2)
    for n in range(STRIKES_PER_MINUTE + 1):
        cid = f"r{n}"
        client.send({"cid": cid, "party_create": {"open": True, "max_size": 4}})
        assert await until_cid(client, cid) == bad_input(error, cid)
    assert await client.closed() == (1008, PARTY_LIMIT_EXCEEDED)
    # The allowance is the user's: a new socket of the same user is refused too.
    again = await connect(server.port, token, fmt=fmt)
    again.send({"cid": "x", "party_create": {"open": True, "max_size": 4}})
    assert await until_cid(again, "x") == bad_input(error, "x")
    refusals, closes = limit_metrics(server)
    assert refusals == {"party_creations": STRIKES_PER_MINUTE + 2}
    assert closes[("1008", "party_creations")] == 1
    again.sendClose()
    await again.closed()


def test_the_limits_errors_and_closes_say_which_limit() -> None:
    assert sockets_message(3) == "Too many sockets for this user: at most 3 at once"
    assert tickets_message(3) == "Too many matchmaker tickets for this user: at most 3 at once"
    assert parties_message(3) == "Too many parties created: at most 3 a minute"
    assert rate_message(50, 100) == (
        "Message rate limit exceeded: at most 50 messages a second, in bursts of 100; "
        "this message was not processed"
    )
    session = make_session("x", Wire(), fmt=Format.PROTOBUF)
    assert session.format is Format.PROTOBUF  # (the close frames carry no format)


#: Each limit's option, its section and key.
LIMIT_OPTIONS = [
    ("--max-messages-per-sec", "socket", "max_messages_per_sec"),
    ("--message-burst", "socket", "message_burst"),
    ("--max-sockets-per-user", "socket", "max_sockets_per_user"),
    ("--max-tickets-per-user", "matchmaker", "max_tickets_per_user"),
    ("--max-party-creations-per-minute", "socket", "max_party_creations_per_minute"),
    ("--max-upgrades-per-sec-per-address", "socket", "max_upgrades_per_sec_per_address"),
    ("--max-concurrent-upgrades-per-address", "socket", "max_concurrent_upgrades_per_address"),
]


@pytest.mark.parametrize("option, section, key", LIMIT_OPTIONS)
def test_each_limit_has_an_option_that_wins_over_the_file(tmp_path, option, section, key):
    from twisted.python.usage import UsageError

    from tests.test_config import parse

    assert getattr(getattr(parse(), section), key) == 0  # off by default
    assert getattr(getattr(parse(option, "7"), section), key) == 7
    config_file = tmp_path / "nakama.yml"
    config_file.write_text(f"{section}:\n  {key}: 3\n")
    assert getattr(getattr(parse("--config", str(config_file)), section), key) == 3
    both = parse("--config", str(config_file), option, "9")
    assert getattr(getattr(both, section), key) == 9
    for bad in ("-1", "many"):
        with pytest.raises(UsageError, match=f"{section}.{key}"):
            parse(option, bad)
