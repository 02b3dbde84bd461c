"""Configuration: Nakama's keys and defaults, file + options precedence, the log level."""

from __future__ import annotations

import re

import pytest
from twisted.logger import globalLogPublisher
from twisted.python import usage

from nakama_rt.config import Config, ConfigError, config_from_mapping, load_config_file
from nakama_rt.logs import Logger, set_level
from nakama_rt.tap import Options


def parse(*args: str) -> Config:
    options = Options()
    options.parseOptions(list(args))
    return options["nakama_config"]


def test_defaults_are_nakamas() -> None:
    config = parse()
    assert config.listen == ("tcp:7350",)
    assert config.socket.server_key == "defaultkey"
    assert config.socket.max_message_size_bytes == 4096
    assert (config.socket.ping_period_ms, config.socket.pong_wait_ms) == (15000, 25000)
    assert config.socket.outgoing_queue_size == 64
    assert config.session.token_expiry_sec == 60
    assert config.session.refresh_token_expiry_sec == 3600
    assert config.runtime.http_key == "defaulthttpkey"
    assert config.database_address() == "sqlite:./data/nakama-rt.sqlite3"


def test_options_override_the_file_which_overrides_defaults(tmp_path) -> None:
    path = tmp_path / "n.yml"
    path.write_text(
        "socket:\n  port: 7450\n  server_key: fromfile\n  ping_period_ms: 1000\n"
        'session:\n  single_socket: true\nruntime:\n  env: ["a=1", "b=x=y"]\n'
        "logger:\n  level: debug\n"
    )
    config = parse("--config", str(path), "--server-key", "fromcli", "--runtime-env", "c=3")
    assert config.listen == ("tcp:7450",)
    assert config.socket.server_key == "fromcli"
    assert config.socket.ping_period_ms == 1000
    assert config.session.single_socket is True
    assert dict(config.runtime.env) == {"c": "3"}
    assert config.logger.level == "debug"
    assert load_config_file(str(path)).runtime.env == {"a": "1", "b": "x=y"}


def test_listeners_repeat_and_tls_turns_tcp_into_ssl(tmp_path) -> None:
    cert, key = tmp_path / "c:ert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("y")
    options = Options()
    with pytest.raises(usage.UsageError):  # unreadable PEM content fails the listener check
        options.parseOptions(
            [
                "--listen",
                "tcp:7350",
                "--listen",
                "unix:/tmp/x.sock",
                "--tls-cert",
                str(cert),
                "--tls-key",
                str(key),
            ]
        )
    from nakama_rt.tap import listeners

    config = config_from_mapping(
        {"socket": {"ssl_certificate": str(cert), "ssl_private_key": str(key)}}
    )
    produced = listeners(config, ["tcp:7350:interface=127.0.0.1", "unix:/tmp/x.sock"])
    assert produced[0].startswith("ssl:7350:interface=127.0.0.1:privateKey=")
    assert "c\\:ert.pem" in produced[0], "colons in paths are escaped"
    assert produced[1] == "unix:/tmp/x.sock"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"socket": {"nope": 1}}, "unknown configuration key socket.nope"),
        ({"sockets": {}}, "unknown configuration key sockets"),
        ({"socket": {"port": "x"}}, "socket.port must be an integer"),
        ({"session": {"single_socket": "maybe"}}, "session.single_socket must be true or false"),
        ({"socket": []}, "configuration section socket must be a mapping"),
        ({"runtime": {"env": ["novalue"]}}, "runtime.env entry 'novalue' must look like KEY=VALUE"),
        ({"cluster": {"publish_gap_ms": "soon"}}, "cluster.publish_gap_ms must be a number"),
        ({"cluster": {"publish_gap_ms": True}}, "cluster.publish_gap_ms must be a number"),
        ({"cluster": {"publish_gap_ms": float("nan")}}, "cluster.publish_gap_ms must be a number"),
    ],
)
def test_bad_files_name_the_key(data, message) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_mapping(data)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"cluster": {"node_ttl_sec": 0}}, "cluster.node_ttl_sec must be greater than 0"),
        ({"cluster": {"redis": "127.0.0.1:6379"}}, "cluster.redis must be a redis:// (or"),
        (
            {"cluster": {"redis": "http://:pw@h/0"}},
            "cluster.redis must be a redis:// (or rediss://) URL, not 'http://:***@h/0'",
        ),
        ({"cluster": {"publish_gap_ms": -1}}, "cluster.publish_gap_ms must be from 0 to 100"),
        ({"cluster": {"publish_gap_ms": 101}}, "cluster.publish_gap_ms must be from 0 to 100"),
        ({"name": "a.b"}, "name must be letters, digits, '-' or '_'"),
        ({"name": ""}, "name must be letters, digits, '-' or '_'"),
        (
            {"session": {"single_party": True}},
            "session.single_party cannot be enabled without session.single_socket",
        ),
    ],
)
def test_bad_cluster_settings_are_refused(data, message) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_mapping(data).validate()


def test_the_log_level_filters_the_servers_events() -> None:
    seen: list[dict] = []
    globalLogPublisher.addObserver(seen.append)
    log = Logger("nakama_rt.test")
    try:
        set_level("warn")
        log.info("quiet")
        log.warn("loud")
        set_level("debug")
        log.debug("detail")
    finally:
        set_level("info")
        globalLogPublisher.removeObserver(seen.append)
    assert [e["log_format"] for e in seen] == ["loud", "detail"]
