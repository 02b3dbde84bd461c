"""Application-level ping: ``ping`` answers ``pong`` with the same ``cid``; ``pong`` is ignored."""

from __future__ import annotations

from nakama_rt.pipeline import Pipeline
from nakama_rt.proto import realtime_pb2
from nakama_rt.session import Session


def ping(session: Session, envelope: realtime_pb2.Envelope) -> bool:
    session.send_envelope(realtime_pb2.Envelope(cid=envelope.cid, pong=realtime_pb2.Pong()))
    return True


def pong(session: Session, envelope: realtime_pb2.Envelope) -> bool:
    return True


def register(pipeline: Pipeline) -> None:
    pipeline.register("ping", ping)
    pipeline.register("pong", pong)
