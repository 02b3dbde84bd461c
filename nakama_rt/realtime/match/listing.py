"""Match listing (``GET /v2/match``, ``nk.match_list``) with Nakama's filters.

As Nakama's match registry (``ListMatches`` in server/match_registry.go) lists them:

- with a query: the authoritative matches it matches (over their JSON label, fields
  under ``label.``; the engine is :mod:`nakama_rt.query`), best score first, then
  newest first; nothing else (an empty query matches every authoritative match);
- else with a label: the authoritative matches with exactly that label, newest
  first; nothing else;
- else: every authoritative match, newest first, unless ``authoritative`` is false;
  then, when ``authoritative`` is not given (or is false), the relayed matches.

So a label or a query never lists a relayed match, even with ``authoritative``
unset: a relayed match has no label to match. Sizes filter each match, and the
listing stops at ``limit`` matches in all (authoritative ones first).

The HTTP API refuses bad filters first (:meth:`MatchFilter.check`, Nakama's
api_match.go); the registry itself does not, so ``nk.match_list`` with a limit of 0,
or a label or query with ``authoritative=False``, lists nothing, as in Nakama.

In a cluster the listing is of every node's matches (the registry's directory holds
the others'), on whichever node it is asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from nakama_rt.core.refs import ListedMatch, ListError, MatchFilter
from nakama_rt.core.tracker import ITracker, StreamMode
from nakama_rt.query import Query, compile_query, index_document
from nakama_rt.realtime.match.authoritative import MatchRegistry
from nakama_rt.wire.proto import api_pb2

__all__ = ["ListError", "MatchFilter", "list_matches"]


def _label_document(label: str) -> Mapping[str, Any]:
    try:
        parsed = orjson.loads(label) if label else {}
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _document(match: ListedMatch):
    return index_document(
        _label_document(match.label),
        "label",
        keywords={
            "label_string": match.label,
            "node": match.node,
            "handler_name": match.handler_name,
        },
        numbers={"tick_rate": match.tick_rate, "create_time": match.create_time},
    )


def list_matches(registry: MatchRegistry, tracker: ITracker, f: MatchFilter) -> list[api_pb2.Match]:
    """Matches as Nakama's registry lists them (the filter is not checked: see
    :meth:`MatchFilter.check`). A bad query raises :class:`~nakama_rt.query.QueryError`."""
    if f.limit <= 0:
        return []
    if (f.query is not None or f.label is not None) and f.authoritative is False:
        # Only authoritative matches have labels, and those are not allowed.
        return []

    def size_ok(size: int) -> bool:
        return (f.min_size is None or size >= f.min_size) and (
            f.max_size is None or size <= f.max_size
        )

    results: list[api_pb2.Match] = []
    if f.authoritative is not False:
        candidates = registry.listed()
        if f.query:
            query: Query = compile_query(f.query)
            scored = []
            for match in candidates:
                score = query.evaluate(_document(match))
                if score is not None:
                    scored.append((score, match.create_time, match))
            scored.sort(key=lambda item: (-item[0], -item[1]))
            candidates = [match for _, _, match in scored]
        else:
            # An empty query matches every match (Nakama's match-all query), label or not.
            if f.label is not None and f.query is None:
                candidates = [m for m in candidates if m.label == f.label]
            candidates.sort(key=lambda m: -m.create_time)
        for match in candidates:
            wire = registry.wire(match)
            if size_ok(wire.size):
                results.append(wire)
                if len(results) >= f.limit:
                    return results
    if f.authoritative is not True and f.label is None and f.query is None:
        # Relayed matches have no label: a label or query filter leaves them all out.
        for stream, size in tracker.streams_by_mode(StreamMode.MATCH_RELAYED):
            if size_ok(size):
                results.append(
                    api_pb2.Match(match_id=f"{stream.subject}.", authoritative=False, size=size)
                )
                if len(results) >= f.limit:
                    break
    return results
