"""The factory's protocol options live on a protocol class of its own: every socket
reads the same values Autobahn would have copied onto it."""

from __future__ import annotations

from autobahn.twisted.websocket import WebSocketServerProtocol
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock

from nakama_rt.app import NakamaRT
from nakama_rt.config import Config


def test_protocols_see_the_factorys_options(tmp_path) -> None:
    app = NakamaRT(Config(data_dir=str(tmp_path)), Clock())
    factory = app.socket_factory
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1234))
    for name in WebSocketServerProtocol.CONFIG_ATTRS:
        assert getattr(protocol, name) == getattr(factory, name), name
        assert name not in vars(protocol), name
    # Callables stay plain: Autobahn calls perMessageCompressionAccept(offers).
    assert protocol.perMessageCompressionAccept([]) is None
    assert protocol.maxMessagePayloadSize == app.config.socket.max_message_size_bytes


def test_later_option_changes_reach_new_protocols(tmp_path) -> None:
    app = NakamaRT(Config(data_dir=str(tmp_path)), Clock())
    factory = app.socket_factory
    factory.setProtocolOptions(maxMessagePayloadSize=12345)
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1234))
    assert protocol.maxMessagePayloadSize == 12345
