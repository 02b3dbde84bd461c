"""The console's command-line options, one by one: ``--console-listen``,
``--console-username``, ``--console-password``, ``--console-signing-key`` and
``--console-token-expiry-sec``.

Each ends in its config key and wins over the config file's; a bad value is refused
with a line naming the key; the startup warning about Nakama's default password and
signing key shows only while the console is on and goes once the option changes the
value; and a server built from the options' config logs in the custom operator only.
"""

from __future__ import annotations

import jwt
import pytest
import pytest_twisted
from twisted.logger import globalLogPublisher
from twisted.python import usage

from nakama_rt.config import Config, ConsoleConfig, insecure_defaults
from tests.conftest import RunningServer, start_server, stop_server
from tests.test_config import parse
from tests.test_console import Console, login_failures_metric

ON = "tcp:0:interface=127.0.0.1"
#: A signing key long enough for HS256 (PyJWT warns about shorter ones).
KEY = "a-signing-key-long-enough-for-hs256-use"

#: (option, value given, ConsoleConfig field, the value it takes)
OPTIONS = [
    ("--console-listen", "tcp:7361:interface=127.0.0.1", "listen", "tcp:7361:interface=127.0.0.1"),
    ("--console-username", "ops", "username", "ops"),
    ("--console-password", "s3cret-pass", "password", "s3cret-pass"),
    ("--console-signing-key", KEY, "signing_key", KEY),
    ("--console-token-expiry-sec", "3600", "token_expiry_sec", 3600),
]

FIELDS = [key for _, _, key, _ in OPTIONS]

#: What the config file says for each of those fields (other values than the options').
FILE = (
    "console:\n"
    "  listen: tcp:7371:interface=127.0.0.1\n"
    "  username: fileop\n"
    "  password: file-pass\n"
    "  signing_key: file-key\n"
    "  token_expiry_sec: 600\n"
)


@pytest.mark.parametrize("option, given, key, taken", OPTIONS)
def test_each_option_sets_its_key_and_only_it(option, given, key, taken) -> None:
    console = parse(option, given).console
    assert getattr(console, key) == taken
    for other in FIELDS:
        if other != key:
            assert getattr(console, other) == getattr(ConsoleConfig(), other), other


@pytest.mark.parametrize("option, given, key, taken", OPTIONS)
def test_each_option_wins_over_the_config_file(tmp_path, option, given, key, taken) -> None:
    path = tmp_path / "nakama.yml"
    path.write_text(FILE)
    from_file = parse("--config", str(path)).console
    assert getattr(from_file, key) != taken
    assert getattr(from_file, key) != getattr(ConsoleConfig(), key)  # the file's value
    console = parse("--config", str(path), option, given).console
    assert getattr(console, key) == taken
    for other in FIELDS:
        if other != key:
            assert getattr(console, other) == getattr(from_file, other), other


def test_the_listen_option_wins_over_nakamas_console_port(tmp_path) -> None:
    path = tmp_path / "nakama.yml"
    path.write_text("console:\n  port: 7351\n")
    assert parse("--config", str(path)).console_listen() == "tcp:7351"
    config = parse("--config", str(path), "--console-listen", "tcp:7361:interface=127.0.0.1")
    assert config.console_listen() == "tcp:7361:interface=127.0.0.1"
    assert parse().console_listen() == ""  # off unless one is given


@pytest.mark.parametrize(
    "args, message",
    [
        (["--console-token-expiry-sec", "0"], "console.token_expiry_sec must be greater than 0"),
        (["--console-token-expiry-sec", "-60"], "console.token_expiry_sec must be greater than 0"),
        (
            ["--console-token-expiry-sec", "soon"],
            "console.token_expiry_sec must be an integer, not 'soon'",
        ),
        (
            ["--console-token-expiry-sec", "1.5"],
            "console.token_expiry_sec must be an integer, not '1.5'",
        ),
        (["--console-username", ""], "console.username must be set"),
        (["--console-password", ""], "console.password must be set"),
        (["--console-signing-key", ""], "console.signing_key must be set"),
        (["--console-listen", "bogus:1"], "invalid listener 'bogus:1'"),
        (
            ["--console-listen", "tcp:70000"],
            "invalid listener 'tcp:70000': port 70000 is not between 0 and 65535",
        ),
        (["--console-listen", "tcp:soon"], "invalid listener 'tcp:soon': port 'soon'"),
    ],
)
def test_bad_values_are_refused_naming_the_key(args, message) -> None:
    with pytest.raises(usage.UsageError) as refused:
        parse(*args)
    assert str(refused.value).startswith(message)


def test_an_empty_option_overrides_a_good_file_value_and_is_refused(tmp_path) -> None:
    path = tmp_path / "nakama.yml"
    path.write_text(FILE)
    with pytest.raises(usage.UsageError, match="console.username must be set"):
        parse("--config", str(path), "--console-username", "")


def console_warnings(config: Config) -> list[str]:
    return [key for key, _ in insecure_defaults(config) if key.startswith("console.")]


@pytest.mark.parametrize(
    "args, warned",
    [
        ([], []),  # no console, nothing to warn about
        (["--console-password", "x", "--console-signing-key", "y"], []),
        (["--console-listen", ON], ["console.password", "console.signing_key"]),
        (["--console-listen", ON, "--console-password", "s3cret"], ["console.signing_key"]),
        (["--console-listen", ON, "--console-signing-key", "k3y"], ["console.password"]),
        (["--console-listen", ON, "--console-password", "s", "--console-signing-key", "k"], []),
        # The username is no secret: another one leaves both warnings.
        (
            ["--console-listen", ON, "--console-username", "ops"],
            ["console.password", "console.signing_key"],
        ),
    ],
)
def test_the_default_secrets_are_warned_about_only_while_the_console_is_on(args, warned) -> None:
    assert console_warnings(parse(*args)) == warned


def test_the_console_port_in_the_file_turns_the_warnings_on(tmp_path) -> None:
    path = tmp_path / "nakama.yml"
    path.write_text("console:\n  port: 7351\n")
    assert console_warnings(parse("--config", str(path))) == [
        "console.password",
        "console.signing_key",
    ]
    changed = parse("--config", str(path), "--console-password", "p", "--console-signing-key", "k")
    assert console_warnings(changed) == []


async def start_logged(config: Config) -> tuple[RunningServer, list[dict]]:
    """A server started from ``config``, and the insecure-default warnings it logged."""
    seen: list[dict] = []
    globalLogPublisher.addObserver(seen.append)
    try:
        running = await start_server(config)
    finally:
        globalLogPublisher.removeObserver(seen.append)
    warnings = [
        event for event in seen if event.get("log_format", "").startswith("insecure default value")
    ]
    return running, warnings


@pytest_twisted.ensureDeferred
async def test_a_server_on_defaults_warns_at_start_naming_the_options(tmp_path) -> None:
    running, warnings = await start_logged(
        parse("--data-dir", str(tmp_path), "--console-listen", ON)
    )
    try:
        found = {event["param"]: event["option"] for event in warnings}
        assert found["console.password"] == "--console-password"
        assert found["console.signing_key"] == "--console-signing-key"
    finally:
        await stop_server(running)
    running, warnings = await start_logged(parse("--data-dir", str(tmp_path)))
    try:
        assert [e["param"] for e in warnings if e["param"].startswith("console.")] == []
    finally:
        await stop_server(running)


@pytest_twisted.ensureDeferred
async def test_a_console_configured_by_options_logs_in_its_operator_only(tmp_path) -> None:
    config = parse(
        "--data-dir",
        str(tmp_path),
        "--console-listen",
        ON,
        "--console-username",
        "ops",
        "--console-password",
        "s3cret-pass",
        "--console-signing-key",
        KEY,
        "--console-token-expiry-sec",
        "3600",
    )
    running, warnings = await start_logged(config)
    console = Console.of(running)
    try:
        assert [e["param"] for e in warnings if e["param"].startswith("console.")] == []
        refused = await console.login()  # admin / password, Nakama's defaults
        assert refused.status == 401 and console.cookie == ""
        assert (await console.login("s3cret-pass")).status == 401  # the password, as admin
        assert await login_failures_metric(running) == 2
        answer = await console.login("s3cret-pass", username="ops")
        assert answer.status == 303 and console.cookie
        assert "Max-Age=3600" in answer.headers.getRawHeaders(b"set-cookie")[0].decode()
        claims = jwt.decode(console.cookie, KEY, algorithms=["HS256"])
        assert claims["sub"] == "ops"
        page = await console.get("/")
        assert page.status == 200 and b"Log out ops" in page.body
        assert await login_failures_metric(running) == 2
    finally:
        await console.listening.stopListening()
        await stop_server(running)
