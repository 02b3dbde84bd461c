"""The dispatch table: every client message the socket answers, and the handler that
answers it, in one place (Nakama's ``pipeline.go`` switch, in the same order).

The server passes every feature; a test or :class:`~nakama_rt.testing.MatchHarness`
passes the ones it builds and gets only their messages, so no second table exists.
"""

from __future__ import annotations

from nakama_rt.core.forwarding import Home, Joined
from nakama_rt.core.pipeline import Handler
from nakama_rt.realtime import ping
from nakama_rt.realtime.chat.channel import ChannelHandlers
from nakama_rt.realtime.match.relayed import MatchHandlers, data_home
from nakama_rt.realtime.matchmaker.handlers import MatchmakerHandlers
from nakama_rt.realtime.party import handlers as party_handlers
from nakama_rt.realtime.party.handlers import PartyHandlers
from nakama_rt.realtime.rpc import RpcHandler
from nakama_rt.realtime.status import StatusHandlers


def dispatch_table(
    *,
    channels: ChannelHandlers | None = None,
    matches: MatchHandlers | None = None,
    matchmaker: MatchmakerHandlers | None = None,
    rpc: RpcHandler | None = None,
    status: StatusHandlers | None = None,
    parties: PartyHandlers | None = None,
) -> dict[str, Handler]:
    """Envelope message name -> handler, for the features given (ping always)."""
    every: dict[str, Handler | None] = {
        "channel_join": channels.join if channels else None,
        "channel_leave": channels.leave if channels else None,
        "channel_message_send": channels.send if channels else None,
        "channel_message_update": channels.update if channels else None,
        "channel_message_remove": channels.remove if channels else None,
        "match_create": matches.create if matches else None,
        "match_data_send": matches.send_data if matches else None,
        "match_join": matches.join if matches else None,
        "match_leave": matches.leave if matches else None,
        "matchmaker_add": matchmaker.add if matchmaker else None,
        "matchmaker_remove": matchmaker.remove if matchmaker else None,
        "ping": ping.ping,
        "pong": ping.pong,
        "rpc": rpc.rpc if rpc else None,
        "status_follow": status.follow if status else None,
        "status_unfollow": status.unfollow if status else None,
        "status_update": status.update if status else None,
        "party_create": parties.create if parties else None,
        "party_join": parties.join if parties else None,
        "party_leave": parties.leave if parties else None,
        "party_promote": parties.promote if parties else None,
        "party_accept": parties.accept if parties else None,
        "party_remove": parties.remove if parties else None,
        "party_close": parties.close if parties else None,
        "party_join_request_list": parties.join_request_list if parties else None,
        "party_matchmaker_add": parties.matchmaker_add if parties else None,
        "party_matchmaker_remove": parties.matchmaker_remove if parties else None,
        "party_data_send": parties.data_send if parties else None,
        "party_update": parties.update if parties else None,
    }
    return {message: handler for message, handler in every.items() if handler is not None}


#: Messages forwarded without waiting for an answer (the busiest, answered by nothing).
ONE_WAY = frozenset({"match_data_send"})


def join_streams(matches: MatchHandlers | None) -> dict[str, Joined]:
    """Message -> the match or party stream a join names, for a resumed session's
    re-join forwarded to that match's or party's node (``nakama_rt.core.forwarding``)."""
    joins: dict[str, Joined] = {"party_join": party_handlers.party_stream}
    if matches is not None:
        joins["match_join"] = matches.join_stream
    return joins


def home_nodes(table: dict[str, Handler], matches: MatchHandlers | None) -> dict[str, Home]:
    """Message -> the node its match or party lives on, for the messages of ``table``
    that must be handled there (``nakama_rt.core.forwarding``)."""
    homes: dict[str, Home] = {
        message: party_handlers.party_home
        for message in table
        if message.startswith("party_") and message not in party_handlers.HERE
    }
    homes["match_data_send"] = data_home
    if matches is not None:
        homes["match_join"] = matches.join_home
    return homes
