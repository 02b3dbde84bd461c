"""The runtime without sockets: loading modules, registering, invoking, nakama_rt.testing."""

from __future__ import annotations

import inspect
import sys
import textwrap
from pathlib import Path

import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock, deferLater

from nakama_rt.runtime import (
    HOOKABLE_MESSAGES,
    NK_FUNCTIONS,
    ExecutionMode,
    Initializer,
    NakamaError,
    NakamaModule,
    Runtime,
    RuntimeContext,
    RuntimeLoadError,
    invoke,
)
from nakama_rt.runtime.invoke import error_code, error_message
from nakama_rt.testing import DEFAULT_USER_ID, FakeNakama, load_runtime, result_of
from nakama_rt.wire.proto import realtime_pb2
from tests.helpers import Wire, make_session

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "runtime"


def write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


GOOD = """
    SEEN = []

    def hello(ctx, logger, nk, payload):
        return f"{ctx.env.get('WHO', '?')}:{payload}"

    def init_module(ctx, logger, nk, initializer):
        SEEN.append(ctx)
        initializer.register_rpc("Hello", hello)
"""


# Loading


def test_loads_modules_with_init_module_and_passes_env(tmp_path) -> None:
    write(tmp_path, "game.py", GOOD)
    write(tmp_path, "helpers.py", "VALUE = 1\n")  # no init_module: imported, ignored
    write(tmp_path, "test_game.py", "raise AssertionError('tests are not loaded')\n")
    write(tmp_path, "_private.py", "raise AssertionError('private modules are not loaded')\n")
    write(tmp_path, "notes.txt", "not python")
    runtime = Runtime(env={"WHO": "me"}, node="node1")
    assert runtime.load(str(tmp_path)) == ["game"]
    (ctx,) = sys.modules["game"].SEEN
    assert ctx.execution_mode == ExecutionMode.RUN_ONCE == "run_once"
    assert dict(ctx.env) == {"WHO": "me"} and ctx.node == "node1"
    assert ctx.user_id is None and ctx.match_id is None
    assert runtime.has_rpc("HELLO") and runtime.has_rpc("hello")
    ctx = runtime.context(ExecutionMode.RPC)
    assert result_of(runtime.call_rpc("hello", ctx, "x")) == "me:x"


def test_modules_import_each_other_and_packages_load(tmp_path) -> None:
    write(tmp_path, "shared_rules.py", "LIMIT = 3\n")
    write(
        tmp_path,
        "arena/__init__.py",
        """
        from shared_rules import LIMIT

        def init_module(ctx, logger, nk, initializer):
            initializer.register_rpc("limit", lambda ctx, logger, nk, payload: str(LIMIT))
        """,
    )
    game = load_runtime(tmp_path)
    assert game.rpc("limit") == "3"


def test_a_second_directory_with_the_same_module_names_gets_its_own(tmp_path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    for directory, word in ((first, "one"), (second, "two")):
        write(
            directory,
            "samename.py",
            f"""
            def init_module(ctx, logger, nk, initializer):
                initializer.register_rpc("word", lambda *args: {word!r})
            """,
        )
    assert load_runtime(first).rpc("word") == "one"
    assert load_runtime(second).rpc("word") == "two"
    assert load_runtime(first).rpc("word") == "one"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("def init_module(ctx, logger, nk, initializer)\n    pass\n", "SyntaxError"),
        ("raise RuntimeError('boom at import')\n", "boom at import"),
        (
            "def init_module(ctx, logger, nk, initializer):\n    raise ValueError('bad init')\n",
            "bad init",
        ),
        (
            "def init_module(ctx, logger, nk, initializer):\n"
            "    initializer.register_before_rt('no_such_message', print)\n",
            "'no_such_message' is not a client message",
        ),
        (
            "async def init_module(ctx, logger, nk, initializer):\n    pass\n",
            "init_module must be a plain function",
        ),
    ],
)
def test_a_broken_module_fails_the_load_with_its_name_and_traceback(
    tmp_path, source, expected
) -> None:
    write(tmp_path, "fine.py", GOOD)
    write(tmp_path, "broken.py", source)
    with pytest.raises(RuntimeLoadError) as raised:
        Runtime().load(str(tmp_path))
    message = str(raised.value)
    assert "runtime module 'broken'" in message
    assert expected in message
    assert "Traceback" in message and "broken.py" in message


def test_bad_paths_and_names_fail(tmp_path) -> None:
    with pytest.raises(RuntimeLoadError, match="is not a directory"):
        Runtime().load(str(tmp_path / "missing"))
    write(tmp_path, "my-module.py", "")
    with pytest.raises(RuntimeLoadError, match="not a valid module name"):
        Runtime().load(str(tmp_path))


def test_a_module_named_like_an_imported_one_is_refused(tmp_path) -> None:
    write(tmp_path, "textwrap.py", "def init_module(*args):\n    pass\n")
    with pytest.raises(RuntimeLoadError, match="already imported module 'textwrap'"):
        Runtime().load(str(tmp_path))


# Registering


def test_initializer_checks_what_is_registered() -> None:
    init = Initializer()

    def fn(*args):
        return None

    init.register_rpc("Echo", fn)
    assert list(init.rpcs) == ["echo"]
    with pytest.raises(ValueError, match="already registered"):
        init.register_rpc("ECHO", fn)
    for bad in ("", "  ", None, 3):
        with pytest.raises(ValueError, match="non-empty string"):
            init.register_rpc(bad, fn)
    with pytest.raises(TypeError, match="must be callable"):
        init.register_rpc("other", "not a function")
    # Envelope names, Nakama's CamelCase names and squashed lowercase all name a message.
    init.register_before_rt("channel_join", fn)
    init.register_after_rt("ChannelMessageSend", fn)
    init.register_before_rt("statusupdate", fn)
    assert sorted(init.before_rt) == ["channel_join", "status_update"]
    assert list(init.after_rt) == ["channel_message_send"]
    with pytest.raises(ValueError, match="already registered"):
        init.register_before_rt("ChannelJoin", fn)
    for bad in ("rpc", "channel_message", "error", "nope", ""):
        with pytest.raises(ValueError):
            init.register_before_rt(bad, fn)
    init.register_match("duel", object)
    with pytest.raises(ValueError, match="already registered"):
        init.register_match("duel", object)
    init.register_matchmaker_matched(fn)
    with pytest.raises(ValueError, match="already registered"):
        init.register_matchmaker_matched(fn)
    init.register_event_session_start(fn)
    init.register_event_session_start(fn)
    init.register_event_session_end(fn)
    assert len(init.session_start) == 2 and len(init.session_end) == 1
    assert HOOKABLE_MESSAGES <= set(realtime_pb2.Envelope.DESCRIPTOR.fields_by_name)


def test_context_is_frozen_and_read_only() -> None:
    env = {"a": "1"}
    ctx = RuntimeContext(env=env, user_id="u")
    env["a"] = "changed"
    assert ctx.env["a"] == "1"
    with pytest.raises(TypeError):
        ctx.env["b"] = "2"  # type: ignore[index]
    with pytest.raises(AttributeError):
        ctx.user_id = "other"  # type: ignore[misc]


# Invoking


def test_invoke_gives_a_deferred_for_every_kind_of_function() -> None:
    clock = Clock()

    def plain(x):
        return x + 1

    def deferred(x):
        return deferLater(clock, 1, lambda: x + 2)

    async def coroutine(x):
        await deferLater(clock, 1, lambda: None)
        return x + 3

    def raises(x):
        raise NakamaError("not allowed", 7)

    async def raises_later(x):
        await deferLater(clock, 1, lambda: None)
        raise KeyError("missing")

    assert result_of(invoke(plain, 1)) == 2
    later = [invoke(deferred, 1), invoke(coroutine, 1)]
    assert all(isinstance(d, Deferred) and not d.called for d in later)
    clock.advance(1)
    assert [result_of(d) for d in later] == [3, 4]

    failed = []
    invoke(raises, 1).addErrback(failed.append)
    (failure,) = failed
    assert (error_message(failure), error_code(failure)) == ("not allowed", 7)
    assert failure.getTracebackObject() is not None

    pending = invoke(raises_later, 1)
    pending.addErrback(failed.append)
    clock.advance(1)
    assert error_message(failed[1]) == "'missing'" and error_code(failed[1]) == 13
    invalid = []
    invoke(lambda: (_ for _ in ()).throw(NakamaError("x", 99))).addErrback(invalid.append)
    assert error_code(invalid[0]) == 13


def test_rpc_results_must_be_strings() -> None:
    init = Initializer()
    init.register_rpc("none", lambda *a: None)
    init.register_rpc("number", lambda *a: 42)
    init.register_rpc("deferred", lambda *a: succeed("ok"))
    runtime = Runtime(initializer=init)
    ctx = runtime.context(ExecutionMode.RPC)
    assert result_of(runtime.call_rpc("none", ctx, "")) == ""
    assert result_of(runtime.call_rpc("deferred", ctx, "")) == "ok"
    with pytest.raises(TypeError, match="only allowed one return value of type string"):
        result_of(runtime.call_rpc("number", ctx, ""))


# nakama_rt.testing


def test_testing_harness_drives_the_example_module() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("example_echo", EXAMPLES / "echo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    nk = FakeNakama()
    alice = nk.add_user("alice", user_id=DEFAULT_USER_ID)
    nk.online.add(alice.id)
    game = load_runtime(module, nk=nk, env={"GREETING": "ahoy"})
    assert sorted(game.initializer.rpcs) == ["echo", "whoami"]
    assert game.rpc("echo", "hi there") == "hi there"
    assert game.rpc("whoami") == '{"user": "alice", "online": true, "greeting": "ahoy"}'
    assert game.rpc("whoami", user_id=None) == '{"user": null, "greeting": "ahoy"}'
    assert [call.args for call in nk.called("users_get_id")] == [([alice.id],)]
    assert ("info", "echo module loaded (node nakama)") in nk.logger.records
    with pytest.raises(LookupError):
        game.rpc("nope")


def test_fake_nakama_checks_arguments_like_the_real_one() -> None:
    nk = FakeNakama()
    bob = nk.add_user("bob")
    result_of(nk.notification_send(bob.id, "gift", {"coins": 5}, 1, persistent=True))
    result_of(
        nk.notifications_send(
            [{"user_id": bob.id, "subject": "a", "content": {}, "code": 2, "sender_id": bob.id}]
        )
    )
    first, second = nk.notifications
    assert (first.subject, first.content, first.code, first.persistent) == (
        "gift",
        {"coins": 5},
        1,
        True,
    )
    assert first.sender_id == "00000000-0000-0000-0000-000000000000"
    assert second.sender_id == bob.id and second.persistent is False
    bad_calls = [
        (("nope", "s", {}, 1), "expects userID to be a valid UUID"),
        ((bob.id, "", {}, 1), "expects subject to be a non-empty string"),
        ((bob.id, "s", {}, 0), "expects code to number above 0"),
        ((bob.id, "s", {}, 1, "bad"), "expects sender to either be an empty string"),
    ]
    for args, message in bad_calls:
        with pytest.raises(ValueError, match=message):
            nk.notification_send(*args)
    assert result_of(nk.notification_send(bob.id, "system", {}, -1500)) is None
    assert [u.username for u in result_of(nk.users_get_username(["bob", "ghost"]))] == ["bob"]
    with pytest.raises(ValueError, match="each user id must be a valid id string"):
        nk.users_get_id(["x"])
    with pytest.raises(RuntimeError, match="needs the server's streams and matches"):
        nk.stream_send(100, "", "", "news", "data")
    assert [c.name for c in nk.calls][-2:] == ["users_get_id", "stream_send"]


def test_fake_nakama_records_every_nk_function() -> None:
    """NK_FUNCTIONS is what NakamaModule has, so FakeNakama cannot miss a function."""
    public = {
        name for name, _ in inspect.getmembers(NakamaModule, callable) if not name.startswith("_")
    }
    assert set(NK_FUNCTIONS) == public - {"bind_realtime"}, "the server's wiring is not nk"
    assert {"stream_count", "stream_user_get", "stream_user_update", "channel_message_send"} <= (
        set(NK_FUNCTIONS)
    )
    for name in NK_FUNCTIONS:
        assert getattr(FakeNakama, name) is not getattr(NakamaModule, name), name
        assert getattr(FakeNakama, name).__doc__ == getattr(NakamaModule, name).__doc__


def test_fake_nakama_records_the_stream_and_channel_functions() -> None:
    from nakama_rt.core.registry import SessionRegistry
    from nakama_rt.core.router import LocalRouter
    from nakama_rt.core.tracker import LocalTracker
    from nakama_rt.realtime.stream import StreamManager

    class Channels:
        def post(self, channel, content, sender_id, username, persist):
            return succeed(("ack", channel, content))

    tracker, sessions = LocalTracker(), SessionRegistry()
    nk = FakeNakama(
        streams=StreamManager(tracker, LocalRouter(sessions, tracker), sessions),
        matches=None,
        list_matches=lambda match_filter: [],
        channels=Channels(),
    )
    alice = nk.add_user("alice")
    session = make_session(
        "alice",
        Wire(),
        session_id="00000000-0000-4000-8000-0000000000bb",
        user_id=alice.id,
        outgoing_queue_size=10,
    )
    sessions.add(session)
    stream = (100, "", "", "news")
    assert nk.stream_user_join(*stream, alice.id, session.id) is True
    nk.stream_user_update(*stream, alice.id, session.id, status="busy")
    assert nk.stream_user_get(*stream, alice.id, session.id).status == "busy"
    assert nk.stream_count(*stream) == 1
    ack = result_of(nk.channel_message_send("2...news", {"hi": 1}))
    assert ack == ("ack", "2...news", '{"hi":1}')
    assert [call.args for call in nk.called("stream_count")] == [stream]
    assert nk.called("stream_user_update")[0].kwargs == {"status": "busy"}
    assert len(nk.called("stream_user_get")) == 1
    assert nk.called("channel_message_send")[0].args == ("2...news", {"hi": 1})


def test_fake_nakama_refuses_to_answer_for_a_name_that_is_not_nk() -> None:
    nk = FakeNakama()
    for name in ("stream_cuont", "add_user", "bind_realtime", "_realtime"):
        with pytest.raises(ValueError, match=f"'{name}' is not an nk function"):
            nk.called(name)
    assert nk.called("stream_count") == []  # a real function never called: none


def test_hooks_through_the_harness(tmp_path) -> None:
    write(
        tmp_path,
        "hooks.py",
        """
        from nakama_rt.runtime import NakamaError

        SEEN = []

        def before_status(ctx, logger, nk, envelope):
            if envelope.status_update.status.value == "forbidden":
                return None
            if envelope.status_update.status.value == "error":
                raise NakamaError("bad status", 3)
            envelope.status_update.status.value = envelope.status_update.status.value.upper()
            return envelope

        def after_status(ctx, logger, nk, out, in_):
            SEEN.append((ctx.execution_mode, ctx.user_id, out, in_.status_update.status.value))

        def init_module(ctx, logger, nk, initializer):
            initializer.register_before_rt("StatusUpdate", before_status)
            initializer.register_after_rt("status_update", after_status)
        """,
    )
    game = load_runtime(tmp_path)
    envelope = realtime_pb2.Envelope(cid="1")
    envelope.status_update.status.value = "away"
    changed = realtime_pb2.Envelope()
    changed.CopyFrom(game.before_rt("status_update", envelope))
    assert changed.status_update.status.value == "AWAY"
    envelope.status_update.status.value = "forbidden"
    assert game.before_rt("status_update", envelope) is None
    envelope.status_update.status.value = "error"
    with pytest.raises(NakamaError, match="bad status"):
        game.before_rt("status_update", envelope)
    game.after_rt("status_update", None, changed, user_id="u1")
    assert sys.modules["hooks"].SEEN == [("after", "u1", None, "AWAY")]


# twistd


def test_twistd_documents_runtime_path_and_fails_on_a_broken_module(tmp_path) -> None:
    from tests.processes import twistd

    result = twistd("--help", cwd=tmp_path)
    assert "--runtime-path" in result.stdout
    write(tmp_path / "modules", "broken.py", GOOD.replace("SEEN = []", "SEEN = undefined_name"))
    result = twistd("--runtime-path", "modules", "--listen", "tcp:0", cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "runtime module 'broken'" in output and "NameError" in output


def test_match_harness_drives_the_arena_example_tick_by_tick() -> None:
    import importlib.util
    import json
    from pathlib import Path

    from nakama_rt.testing import MatchHarness, MatchRejected

    path = Path(__file__).resolve().parent.parent / "examples" / "runtime" / "arena.py"
    spec = importlib.util.spec_from_file_location("arena_example", path)
    arena = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(arena)

    game = MatchHarness(load_runtime(arena), "arena", {"name": "test"})
    with pytest.raises(MatchRejected, match="pick a team"):
        game.join("nobody")
    red = game.join("red", {"team": "red"})
    blue = game.join("blue", {"team": "blue"})
    assert json.loads(game.label) == {"mode": "arena", "open": True}
    game.send(red, 1, b"north")
    game.tick()
    (move,) = blue.data(1)
    assert (move["bytes"], move["presence"]["username"]) == (b"north", "red")
    game.tick(4)  # a second at 5 ticks/s: the score line
    (score,) = blue.data(2)
    assert json.loads(score["bytes"]) == {"moves": 1, "players": 2}
    assert game.signal("") == '{"moves": 1}'
    game.leave(blue)
    assert game.state["players"] == {red.session.id: "red"}
    game.terminate()
    assert game.ended
    assert json.loads(red.data(2)[-1]["bytes"]) == {"final": 1}


def test_match_harness_gives_the_match_an_nk_over_its_world(tmp_path) -> None:
    """The match's nk records into the runtime's FakeNakama and reaches the harness's
    streams and matches; the runtime's own nk is left as it was built."""
    from nakama_rt.testing import MatchHarness

    write(
        tmp_path,
        "counter.py",
        """
        class Counter:
            def match_init(self, ctx, logger, nk, params):
                return {"listed": len(nk.match_list(10))}, 1, "counter"

            def match_loop(self, ctx, logger, nk, dispatcher, tick, state, messages):
                state["listed"] = len(nk.match_list(10))
                return state

            def match_terminate(self, ctx, logger, nk, dispatcher, tick, state, grace):
                return state

        def init_module(ctx, logger, nk, initializer):
            initializer.register_match("counter", Counter)
        """,
    )
    runtime = load_runtime(tmp_path)
    game = MatchHarness(runtime, "counter")
    assert game.state == {"listed": 0}  # match_init runs before the match is listed
    game.tick()
    assert game.state == {"listed": 1}
    assert game.nk is not runtime.nk
    assert len(runtime.nk.called("match_list")) == 2
    with pytest.raises(RuntimeError, match="needs the server's streams and matches"):
        runtime.nk.match_list(10)


def test_ctx_carries_nakamas_version_and_session_expiry_names():
    """``ctx.version`` is this server's version (Nakama's RUNTIME_CTX_VERSION) and
    ``ctx.user_session_exp`` Nakama's name for ``ctx.expiry``."""
    import nakama_rt
    from nakama_rt.runtime.context import ExecutionMode, RuntimeContext

    ctx = RuntimeContext(execution_mode=ExecutionMode.RPC, expiry=1_800_000_000)
    assert ctx.version == nakama_rt.__version__ != ""
    assert ctx.user_session_exp == 1_800_000_000
    assert RuntimeContext().user_session_exp is None
