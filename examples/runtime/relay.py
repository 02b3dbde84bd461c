"""An authoritative relay: each tick, every input received goes to the other players.

It is the smallest authoritative game there is, which makes it the benchmark for the
authoritative path (``python benchmarks/load.py authoritative``): the same traffic as a
relayed match, but every message passes through a handler's tick. Serve it with::

    twistd -n nakama-rt --runtime-path examples/runtime

A client calls the ``relay_create`` RPC with an optional payload
``{"tick_rate": 10}`` (1-60), gets ``{"match_id": ...}`` and joins with
``match_join``; every ``match_data_send`` reaches the other players at the next tick
with its op code, data and the sender's presence, as a relayed match would send it.
"""

from __future__ import annotations

import json

DEFAULT_TICK_RATE = 10


class Relay:
    """``state`` keeps, for each member's session, the presences of the others, so
    the per-message work in ``match_loop`` is one lookup."""

    def match_init(self, ctx, logger, nk, params):
        tick_rate = int(params.get("tick_rate", DEFAULT_TICK_RATE))
        state = {"presences": {}, "others": {}}
        return state, tick_rate, json.dumps({"mode": "relay"})

    def match_join_attempt(self, ctx, logger, nk, dispatcher, tick, state, presence, metadata):
        return state, True, ""

    def match_join(self, ctx, logger, nk, dispatcher, tick, state, presences):
        for presence in presences:
            state["presences"][presence.session_id] = presence
        _index_others(state)
        return state

    def match_leave(self, ctx, logger, nk, dispatcher, tick, state, presences):
        for presence in presences:
            state["presences"].pop(presence.session_id, None)
        _index_others(state)
        return state

    def match_loop(self, ctx, logger, nk, dispatcher, tick, state, messages):
        others = state["others"]
        for message in messages:
            targets = others.get(message.session_id)
            if targets:  # None: not a member (anyone knowing the id may send).
                dispatcher.broadcast_message(message.op_code, message.data, targets, sender=message)
        return state

    def match_terminate(self, ctx, logger, nk, dispatcher, tick, state, grace_seconds):
        return state

    def match_signal(self, ctx, logger, nk, dispatcher, tick, state, data):
        return state, json.dumps({"players": len(state["presences"])})


def _index_others(state) -> None:
    presences = state["presences"]
    state["others"] = {
        session_id: [p for other, p in presences.items() if other != session_id]
        for session_id in presences
    }


def rpc_relay_create(ctx, logger, nk, payload: str) -> str:
    """Start a relay match and answer its id."""
    params = json.loads(payload) if payload else {}
    return json.dumps({"match_id": nk.match_create("relay", params)})


def init_module(ctx, logger, nk, initializer) -> None:
    initializer.register_match("relay", Relay)
    initializer.register_rpc("relay_create", rpc_relay_create)
