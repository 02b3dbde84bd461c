"""The private names of Autobahn and Twisted that nakama-rt relies on
(:mod:`nakama_rt.library_internals`) are still there, and still work as it expects.

Each failure names the library and its installed version, the name, what changed and
where nakama-rt uses it. Four kinds of check:

- every entry of ``CHECKED``: it exists with its kind (a method with its parameter
  names; an attribute or a string the library's own code still uses where we rely on
  it);
- every entry of ``COPIED``: the library code nakama-rt does itself instead does
  nothing the copy does not know of;
- small real exchanges through the overrides and the functions of the module
  (Autobahn failing a socket; twisted.web refusing a large head; Twisted's write
  buffer; twistd's status pipe). The server's own tests drive the same paths end to
  end: test_frame_reading.py and test_socket.py
  (``_dataReceived``, ``_onOpen``, ``_connectionMade``), test_hostile_socket.py
  (``_fail_connection`` for 1009 and too many frames, ``_protocol_violation`` for a
  one-byte close), test_hostile_http.py (``_respondToBadRequestAndDisconnect`` and
  ``_receivedHeaderSize``: 431 and 400), test_write_through.py (``send_now``);
- nakama_rt uses no private name of a library without an entry, and no class of ours
  overrides or shadows a library's private name without one.
"""

from __future__ import annotations

import ast
import dis
import importlib
import inspect
import os
import re
import socket
import sys
import types
from importlib.metadata import version
from pathlib import Path

import pytest
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.wamp.types import TransportDetails
from autobahn.websocket.protocol import WebSocketProtocol
from twisted.internet import tcp
from twisted.internet.protocol import Protocol
from twisted.internet.testing import StringTransport
from twisted.web.http import HTTPChannel

import nakama_rt
from nakama_rt import library_internals as internals
from nakama_rt.library_internals import CHECKED, COPIED, Copied, Internal, can_send_now, send_now

DISTRIBUTIONS = {"autobahn": "autobahn", "twisted": "Twisted"}


def installed(library: str) -> str:
    return f"{library} {version(DISTRIBUTIONS[library])}"


def resolve(path: str) -> object | None:
    """``module:qualname`` -> the object, or None when it is gone."""
    module_name, _, qualname = path.partition(":")
    try:
        found: object = importlib.import_module(module_name)
    except ImportError:
        return None
    for part in qualname.split(".") if qualname else ():
        # (a module may be a proxy, as twisted.web.http is: not static there)
        get = getattr if isinstance(found, types.ModuleType) else inspect.getattr_static
        found = get(found, part, None)
        if isinstance(found, (staticmethod, classmethod)):
            found = found.__func__
        if found is None:
            return None
    return found


def code_objects(function: object) -> list[types.CodeType]:
    """The code of ``function`` and of everything defined inside it."""
    code = getattr(inspect.unwrap(function), "__code__", None)  # type: ignore[arg-type]
    found, todo = [], [code] if code is not None else []
    while todo:
        code = todo.pop()
        found.append(code)
        todo.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return found


def names_used(function: object) -> set[str]:
    return {name for code in code_objects(function) for name in code.co_names}


def strings_in(function: object) -> set[str]:
    return {c for code in code_objects(function) for c in code.co_consts if isinstance(c, str)}


def attributes_set(function: object) -> set[str]:
    return {
        instruction.argval
        for code in code_objects(function)
        for instruction in dis.get_instructions(code)
        if instruction.opname == "STORE_ATTR"
    }


def problem(entry: Internal, what: str) -> str:
    return (
        f"{installed(entry.library)}: {entry.owner}.{entry.name} ({entry.kind}) {what}. "
        f"nakama-rt uses it in {entry.used_in}: {entry.why}. Known since {entry.since}; "
        "see nakama_rt/library_internals.py, adapt the use, then widen setup.cfg's bound."
    )


@pytest.mark.parametrize("entry", CHECKED, ids=lambda entry: f"{entry.library}:{entry.name}")
def test_each_private_name_is_still_there(entry: Internal) -> None:
    owner = resolve(entry.owner)
    assert owner is not None, problem(entry, f"is gone: {entry.owner} cannot be imported")
    if entry.kind == internals.METHOD:
        method = getattr(owner, entry.name, None)
        assert method is not None, problem(entry, "is gone")
        assert inspect.isfunction(method), problem(entry, f"is no longer a method: {method!r}")
        params = tuple(inspect.signature(method).parameters)
        assert params == entry.params, problem(
            entry, f"takes {params} now, where nakama-rt expects {entry.params}"
        )
    elif entry.kind == internals.ATTRIBUTE:
        value = getattr(owner, entry.name, None)
        assert not inspect.isfunction(value), problem(entry, "is a method now")
    else:
        assert entry.kind == internals.CONSTANT, entry.kind
    assert entry.kind == internals.METHOD or entry.found_in, (
        f"{entry.name}: an attribute or a string is checked in the library functions "
        "that use it: its entry needs a 'found in' line"
    )
    for path in entry.found_in:
        function = resolve(path)
        assert function is not None, problem(entry, f"cannot be checked: {path} is gone")
        where = strings_in if entry.kind == internals.CONSTANT else names_used
        assert entry.name in where(function), problem(
            entry, f"is no longer used by {path}, where nakama-rt relies on it"
        )


@pytest.mark.parametrize("copied", COPIED, ids=lambda copied: copied.function)
def test_library_code_done_by_nakama_rt_does_nothing_new(copied: Copied) -> None:
    function = resolve(copied.function)
    library = copied.function.partition(".")[0]
    assert function is not None, (
        f"{installed(library)}: {copied.function} is gone; {copied.copied_by} does what it "
        "did: check what replaced it"
    )
    used = attributes_set(function) if copied.sets_only else names_used(function)
    new = sorted(used - copied.known)
    assert not new, (
        f"{installed(library)}: {copied.function} now also uses {new}; "
        f"{copied.copied_by} does its work without it: read the change, copy what the "
        "socket needs, then add the names to COPIED in nakama_rt/library_internals.py"
    )


# Autobahn: a socket started and opened by library_internals, failed by Autobahn


class Transport(StringTransport):
    """A StringTransport that, as a real one, lets a protocol unregister no producer."""

    def unregisterProducer(self) -> None:  # noqa: N802
        self.producer = None


class Probe(WebSocketServerProtocol):
    """A plain Autobahn socket recording what reaches our overrides' names."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []

    def connectionMade(self) -> None:  # noqa: N802
        internals.websocket_connection_made(self)

    def onOpen(self) -> None:  # noqa: N802
        self.calls.append(("open",))

    def _protocol_violation(self, reason: str) -> bool:
        self.calls.append(("violation", reason))
        return super()._protocol_violation(reason)

    def _fail_connection(self, code: int = 1001, reason: str = "going away") -> None:
        self.calls.append(("fail", code))
        super()._fail_connection(code, reason)


def open_probe(max_frame: int = 0) -> Probe:
    factory = WebSocketServerFactory()
    factory.protocol = Probe
    factory.setProtocolOptions(
        openHandshakeTimeout=0,
        closeHandshakeTimeout=0,
        maxFramePayloadSize=max_frame,
        failByDrop=False,
    )
    probe = factory.buildProtocol(None)
    probe.makeConnection(Transport())
    internals.enter_open_state(probe)
    internals.fire_open(probe)
    return probe


def masked(opcode: int, payload: bytes) -> bytes:
    """A client frame whose mask is zero (so the payload reads as is)."""
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


def test_a_socket_started_and_opened_without_autobahns_handshake_is_open() -> None:
    probe = open_probe()
    assert probe.calls == [("open",)]
    assert probe.factory.countConnections == 1
    assert probe.transport_details.channel_framing == TransportDetails.CHANNEL_FRAMING_WEBSOCKET
    opened: list[object] = []
    probe.is_open.addCallback(opened.append)
    assert opened == [None]
    # The state protocol.dataReceived reads before it takes whole frames itself.
    assert (probe.state, probe.data, probe.current_frame, probe.inside_message) == (
        WebSocketProtocol.STATE_OPEN,
        b"",
        None,
        False,
    )
    probe.dataReceived(masked(0x1, b"hi")[:3])
    assert probe.data, "Autobahn no longer keeps a partial frame in .data"


def test_autobahn_reports_a_one_byte_close_frame_in_the_words_nakama_rt_compares() -> None:
    probe = open_probe()
    probe.dataReceived(masked(0x8, b"\x03"))
    assert ("violation", internals.ONE_BYTE_CLOSE) in probe.calls, (
        f"{installed('autobahn')} words a one-byte close frame differently: {probe.calls}; "
        "protocol.NakamaServerProtocol._protocol_violation compares ONE_BYTE_CLOSE"
    )


def test_autobahn_fails_a_bad_frame_through_protocol_violation_and_fail_connection() -> None:
    probe = open_probe()
    probe.dataReceived(b"\x81\x02hi")  # not masked
    assert [call[0] for call in probe.calls[1:]] == ["violation", "fail"], (
        f"{installed('autobahn')}: an unmasked frame no longer goes through "
        f"_protocol_violation then _fail_connection: {probe.calls}"
    )
    assert probe.calls[-1] == ("fail", WebSocketProtocol.CLOSE_STATUS_CODE_PROTOCOL_ERROR)


def test_autobahn_fails_an_oversize_frame_through_fail_connection_with_1009() -> None:
    probe = open_probe(max_frame=4)
    probe.dataReceived(masked(0x1, b"too long"))
    assert probe.calls[1:] == [("fail", WebSocketProtocol.CLOSE_STATUS_CODE_MESSAGE_TOO_BIG)], (
        f"{installed('autobahn')}: an oversize frame no longer fails the socket through "
        f"_fail_connection(1009): {probe.calls}"
    )


# twisted.web: a head too large


class RefusingChannel(HTTPChannel):
    def __init__(self) -> None:
        super().__init__()
        self.head_sizes: list[int] = []

    def _respondToBadRequestAndDisconnect(self) -> None:  # noqa: N802
        self.head_sizes.append(internals.received_head_size(self))
        super()._respondToBadRequestAndDisconnect()


def test_twisted_web_refuses_a_large_head_through_the_override() -> None:
    channel = RefusingChannel()
    channel.makeConnection(Transport())
    channel.dataReceived(b"GET / HTTP/1.1\r\n")
    line = b"x-filler: " + b"a" * 1000 + b"\r\n"
    for _ in range(channel.totalHeadersSize // len(line) + 2):
        if channel.head_sizes:
            break
        channel.dataReceived(line)
    assert channel.head_sizes, (
        f"{installed('twisted')}: HTTPChannel no longer refuses a large head through "
        "_respondToBadRequestAndDisconnect (web.limits answers 431 there)"
    )
    assert channel.head_sizes[0] > channel.totalHeadersSize, (
        f"{installed('twisted')}: HTTPChannel._receivedHeaderSize no longer counts the "
        f"head's bytes ({channel.head_sizes[0]}); web.limits tells 431 from 400 by it"
    )


# Twisted: a real TCP connection's write buffer, as library_internals.send_now reads it


class FDSet:
    """Just enough of a reactor for a tcp.Connection that is written to."""

    def addWriter(self, reader) -> None: ...  # noqa: N802
    def removeWriter(self, reader) -> None: ...  # noqa: N802
    def addReader(self, reader) -> None: ...  # noqa: N802
    def removeReader(self, reader) -> None: ...  # noqa: N802


def test_send_now_reads_the_state_of_twisteds_write_buffer() -> None:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    try:
        connection = tcp.Connection(ours, Protocol(), FDSet())
        connection.connected = True
        assert can_send_now(connection), (
            f"{installed('twisted')}: tcp.Connection lacks part of {internals.TCP_WRITE_STATE}"
        )
        connection.write(b"queued")  # in Twisted's buffer: nothing may overtake it
        assert send_now(connection, b"frame") == b"frame", (
            f"{installed('twisted')}: a write is no longer counted in _tempDataLen"
        )
        connection.doWrite()
        assert send_now(connection, b"frame") == b""
        assert theirs.recv(100) == b"queuedframe"
        connection.loseWriteConnection()
        connection.doWrite()
        assert send_now(connection, b"late") == b"late", (
            f"{installed('twisted')}: a closed write side no longer sets _writeDisconnected"
        )
    finally:
        ours.close()
        theirs.close()


# twistd: the functions tap.py is to call


@pytest.mark.skipif(sys.platform == "win32", reason="twistd daemonises on POSIX only")
@pytest.mark.parametrize(
    ("failure", "status", "printed"),
    [(None, 0, ""), ("database: locked", 1, "database: locked")],
)
def test_twistds_parent_reads_the_status_pipe_answer(capfd, failure, status, printed) -> None:
    from twisted.scripts._twistd_unix import UnixApplicationRunner

    read_end, write_end = os.pipe()
    options = {"statusPipe": write_end}
    pipe = internals.take_twistd_status_pipe(options)
    assert pipe == write_end and "statusPipe" not in options
    internals.answer_twistd_status_pipe(pipe, failure)
    try:
        assert UnixApplicationRunner._waitForStart(None, read_end) == status, (
            f"{installed('twisted')}: twistd's parent reads the status pipe differently"
        )
    finally:
        os.close(read_end)
    assert printed in capfd.readouterr().err


def test_an_oversize_failure_fits_twistds_read() -> None:
    read_end, write_end = os.pipe()
    internals.answer_twistd_status_pipe(write_end, "x" * 500)
    try:
        assert len(os.read(read_end, 1000)) == internals.TWISTD_STATUS_BYTES
    finally:
        os.close(read_end)


# Nothing private is used without an entry

#: Private names of the standard library, documented as such (not the libraries').
STDLIB = {"_getframe", "_exit", "_replace", "_asdict", "_fields", "_make"}
LIBRARIES = ("twisted", "autobahn", "txaio")
PACKAGE = Path(nakama_rt.__file__).parent
CHECKED_NAMES = {entry.name for entry in CHECKED}


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def sources() -> list[tuple[Path, ast.Module]]:
    return [
        (path, ast.parse(path.read_text(), str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "proto" not in path.relative_to(PACKAGE).parts
    ]


def assigned(statements: list[ast.stmt]) -> set[str]:
    """The names ``statements`` assign (a module's or a class's body), with the
    strings of a ``__slots__``."""
    names: set[str] = set()
    for statement in statements:
        targets = getattr(statement, "targets", [getattr(statement, "target", None)])
        for target in targets:
            if isinstance(target, ast.Name):
                names.add(target.id)
                if target.id == "__slots__":
                    names.update(
                        c.value
                        for c in ast.walk(statement)
                        if isinstance(c, ast.Constant) and isinstance(c.value, str)
                    )
    return names


def defined_names(trees: list[ast.Module]) -> set[str]:
    """Names nakama_rt gives things itself: functions, classes, module and class
    attributes, ``__slots__``, and attributes stored on ``self`` or ``cls``."""
    names: set[str] = set()
    for tree in trees:
        names |= assigned(tree.body)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
                if isinstance(node, ast.ClassDef):
                    names |= assigned(node.body)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")
            ):
                names.add(node.attr)
    return names


def private_uses(path: Path, tree: ast.Module) -> list[tuple[str, str]]:
    """(name, where) for every private name ``tree`` reaches on an object, names in
    ``hasattr``/``getattr``/``setattr``, and private imports from the libraries."""
    uses = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Attribute) and private(node.attr):
            uses.append((node.attr, where))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("hasattr", "getattr", "setattr", "delattr")
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and private(str(node.args[1].value))
        ):
            uses.append((node.args[1].value, where))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(LIBRARIES):
            parts = [*node.module.split("."), *(alias.name for alias in node.names)]
            uses.extend((part, where) for part in parts if private(part))
    return uses


def test_every_private_library_name_nakama_rt_uses_has_an_entry() -> None:
    trees = sources()
    ours = defined_names([tree for _, tree in trees])
    unlisted = [
        f"{name} at {where}"
        for path, tree in trees
        for name, where in private_uses(path, tree)
        if name not in ours and name not in STDLIB and name not in CHECKED_NAMES
    ]
    assert not unlisted, (
        "private names not defined in nakama_rt and not in library_internals.CHECKED "
        f"(reach them through nakama_rt/library_internals.py, or list them there): {unlisted}"
    )


def private_names(cls: type) -> set[str]:
    """The private names ``cls`` has or sets on its instances (by its source)."""
    names = {name for name in vars(cls) if private(name)}
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return names
    return names | {name for name in re.findall(r"self\.(_\w+)\s*=", source) if private(name)}


def imports_a_library(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(LIBRARIES):
            return True
        if isinstance(node, ast.Import) and any(a.name.startswith(LIBRARIES) for a in node.names):
            return True
    return False


def our_library_classes() -> list[type]:
    """nakama_rt's classes built on a library's, from the modules that may define one."""
    classes = []
    for path, tree in sources():
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        if relative.name == "__main__" or not imports_a_library(tree):
            continue
        name = ".".join(relative.parts).removesuffix(".__init__")
        for cls in vars(importlib.import_module(name)).values():
            if (
                inspect.isclass(cls)
                and cls.__module__ == name
                and any(base.__module__.startswith(LIBRARIES) for base in cls.__mro__)
            ):
                classes.append(cls)
    return classes


def private_names_of(classes: list[type]) -> set[str]:
    return set().union(*map(private_names, classes))


def test_no_class_of_ours_shadows_a_library_private_name_unlisted() -> None:
    clashes = []
    for cls in our_library_classes():
        theirs = [base for base in cls.__mro__ if base.__module__.startswith(LIBRARIES)]
        ours = [c for c in cls.__mro__ if c.__module__.startswith("nakama_rt")]
        shared = private_names_of(ours) & private_names_of(theirs)
        clashes += [f"{cls.__module__}.{cls.__qualname__}.{name}" for name in sorted(shared)]
    clashes = [clash for clash in clashes if clash.rpartition(".")[2] not in CHECKED_NAMES]
    assert not clashes, (
        f"{installed('twisted')}, {installed('autobahn')}: these private names of ours are "
        f"also the library's (an override to list in library_internals.CHECKED, or a clash "
        f"to rename): {clashes}"
    )
