"""What a resumed session held over its drop, for its re-joins to be answered as fresh ones.

A session resumed after a dropped connection (:mod:`nakama_rt.socket.resume`) kept its
presences, so nobody saw it leave. Its client does not know that: it re-joins its
channels, match and party as after any reconnect. Each first re-join of a stream held
over the drop is answered as a fresh join is (the others' presences, without the
session's own), and tracks nothing new, so nobody sees a second join event.
"""

from __future__ import annotations

from collections.abc import Iterable

from nakama_rt.core.tracker import PresenceStream


class HeldPresences:
    """Session id -> the streams it held when it resumed and has not re-joined yet."""

    def __init__(self) -> None:
        self._held: dict[str, set[PresenceStream]] = {}

    def hold(self, session_id: str, streams: Iterable[PresenceStream]) -> None:
        held = set(streams)
        if held:
            self._held[session_id] = held
        else:
            self._held.pop(session_id, None)

    def add(self, session_id: str, stream: PresenceStream) -> None:
        """One more held stream: on the node of a match or party, for the time its
        re-join that another node forwarded is handled."""
        self._held.setdefault(session_id, set()).add(stream)

    def take(self, session_id: str, stream: PresenceStream) -> bool:
        """Whether this join re-joins a stream the session held over its drop (once)."""
        held = self._held.get(session_id)
        if held is None or stream not in held:
            return False
        held.discard(stream)
        if not held:
            del self._held[session_id]
        return True

    def forget(self, session_id: str) -> None:
        """The session ended."""
        self._held.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._held)
