"""An example authoritative game: a small arena where the server relays and counts moves.

Serve it (with echo.py beside it)::

    twistd -n nakama-rt --runtime-path examples/runtime

A client calls the ``create_arena`` RPC, gets a match id and joins it with
``match_join`` and the metadata ``{"team": "red"}`` or ``{"team": "blue"}`` (anything
else is refused). Every tick the server sends each move it received to all players
(op code 1, sender = the mover), and once a second a score line (op code 2). The
match label ``{"mode": "arena", "open": true|false}`` lets clients find it with
``GET /v2/match?query=+label.mode:arena``. The ``arena_news`` RPC shows streams:
it puts the caller's socket into a news stream and sends a message on it.
"""

from __future__ import annotations

import json

TICK_RATE = 5
MAX_PLAYERS = 4
OP_MOVE, OP_SCORE = 1, 2
NEWS_STREAM_MODE = 100


class Arena:
    """Nakama's match handler lifecycle; ``state`` is a plain dict."""

    def match_init(self, ctx, logger, nk, params):
        state = {"players": {}, "moves": 0, "name": params.get("name", "arena")}
        return state, TICK_RATE, self._label(state)

    def match_join_attempt(self, ctx, logger, nk, dispatcher, tick, state, presence, metadata):
        if metadata.get("team") not in ("red", "blue"):
            return state, False, "pick a team: red or blue"
        if len(state["players"]) >= MAX_PLAYERS:
            return state, False, "the arena is full"
        return state, True, ""

    def match_join(self, ctx, logger, nk, dispatcher, tick, state, presences):
        for presence in presences:
            state["players"][presence.session_id] = presence.username
        dispatcher.match_label_update(self._label(state))
        return state

    def match_leave(self, ctx, logger, nk, dispatcher, tick, state, presences):
        for presence in presences:
            state["players"].pop(presence.session_id, None)
        dispatcher.match_label_update(self._label(state))
        return state

    def match_loop(self, ctx, logger, nk, dispatcher, tick, state, messages):
        for message in messages:
            if message.op_code == OP_MOVE:
                state["moves"] += 1
                dispatcher.broadcast_message(OP_MOVE, message.data, sender=message)
        # Ticks count from 0 (as in Nakama): every TICK_RATE-th loop is a second's end.
        if (tick + 1) % TICK_RATE == 0:
            score = json.dumps({"moves": state["moves"], "players": len(state["players"])})
            dispatcher.broadcast_message_deferred(OP_SCORE, score)
        return state

    def match_terminate(self, ctx, logger, nk, dispatcher, tick, state, grace_seconds):
        dispatcher.broadcast_message(OP_SCORE, json.dumps({"final": state["moves"]}))
        return state

    def match_signal(self, ctx, logger, nk, dispatcher, tick, state, data):
        return state, json.dumps({"moves": state["moves"]})

    @staticmethod
    def _label(state) -> str:
        return json.dumps({"mode": "arena", "open": len(state["players"]) < MAX_PLAYERS})


def rpc_create_arena(ctx, logger, nk, payload: str) -> str:
    """Start an arena and answer its match id."""
    params = json.loads(payload) if payload else {}
    return json.dumps({"match_id": nk.match_create("arena", params)})


def rpc_arena_news(ctx, logger, nk, payload: str) -> str:
    """Join the caller's socket to the news stream and say hello on it."""
    nk.stream_user_join(NEWS_STREAM_MODE, "", "", "news", ctx.user_id, ctx.session_id)
    nk.stream_send(NEWS_STREAM_MODE, "", "", "news", json.dumps({"hello": ctx.username}))
    return json.dumps({"listeners": nk.stream_count(NEWS_STREAM_MODE, "", "", "news")})


def init_module(ctx, logger, nk, initializer) -> None:
    initializer.register_match("arena", Arena)
    initializer.register_rpc("create_arena", rpc_create_arena)
    initializer.register_rpc("arena_news", rpc_arena_news)
