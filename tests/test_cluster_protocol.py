"""The version of the messages between nodes (``bus.PROTOCOL``) names one set of
message kinds: a kind added, removed or given another byte changes what an older node
can read, so the number must change with it. When this fails, raise ``PROTOCOL`` and
write the new set here under it."""

from __future__ import annotations

from nakama_rt.cluster import bus, calls, directory, matchmaking, node, router, tracker

#: Each protocol's kinds, by module and name.
KINDS = {
    2: {
        "calls": {"REQUEST": b"Q", "ANSWER": b"A", "FAILED": b"F", "ONE_WAY": b"O"},
        "directory": {"MATCHES": b"M", "PARTIES": b"Y", "RESUMABLE": b"R"},
        "matchmaking": {"TICKETS": b"K"},
        "node": {"HELLO": b"S", "BYE": b"B"},
        "router": {"TO_STREAM": b"D", "TO_SESSIONS": b"E", "CLOSE": b"C"},
        "tracker": {"PRESENCES": b"P", "TRACK": b"T"},
    }
}


def kinds_now() -> dict[str, dict[str, bytes]]:
    """Every one-byte constant of the modules that send on the bus."""
    modules = (calls, directory, matchmaking, node, router, tracker)
    found: dict[str, dict[str, bytes]] = {}
    for module in modules:
        name = module.__name__.rsplit(".", 1)[1]
        found[name] = {
            key: value
            for key, value in vars(module).items()
            if key.isupper() and isinstance(value, bytes) and len(value) == 1
        }
    return found


def test_the_protocol_number_names_the_message_kinds_of_this_version() -> None:
    assert bus.PROTOCOL in KINDS, f"write the kinds of protocol {bus.PROTOCOL} here"
    assert kinds_now() == KINDS[bus.PROTOCOL]


def test_no_two_kinds_share_a_byte() -> None:
    every = [value for kinds in kinds_now().values() for value in kinds.values()]
    assert len(every) == len(set(every))
