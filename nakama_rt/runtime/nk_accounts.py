"""``nk.account_*``, ``nk.link_*`` and ``nk.unlink_*``: what they take, checked with the
messages of Nakama's runtime (runtime_go_nakama.go), what they need of the storage, and
how its refusals reach runtime code.

Bad arguments raise ``ValueError`` at once, as every ``nk`` function's do. What only the
database can tell (an id another account holds, the last way to log in) fails the
Deferred with a :class:`~.invoke.NakamaError` carrying Nakama's message and gRPC code,
so an RPC that lets it through answers what Nakama's would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import orjson
from google.protobuf import timestamp_pb2
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from nakama_rt.core.accounts import username_problem
from nakama_rt.storage import (
    CustomIdTaken,
    DeviceIdTaken,
    EmailTaken,
    User,
    UsernameTaken,
    UserNotFound,
    ValueRefused,
)
from nakama_rt.wire.ids import canonical_uuid
from nakama_rt.wire.proto import api_pb2

from .invoke import NakamaError

ALREADY_EXISTS, PERMISSION_DENIED, INTERNAL = 6, 7, 13

LAST_LINK = "Cannot unlink last account identifier. Check profile exists and is not last link."


@runtime_checkable
class AccountStore(Protocol):
    """What ``nk``'s account functions need of the storage (the server's ``IStorage``)."""

    def get_user(self, user_id: str) -> Deferred[User | None]: ...

    def update_account(self, user_id: str, changes: Mapping[str, str]) -> Deferred[None]: ...

    def link_custom(self, user_id: str, custom_id: str) -> Deferred[None]: ...

    def link_device(self, user_id: str, device_id: str) -> Deferred[None]: ...

    def link_email(
        self, user_id: str, email: str, password_hash: bytes | None
    ) -> Deferred[None]: ...

    def unlink_custom(self, user_id: str, custom_id: str = "") -> Deferred[bool]: ...

    def unlink_device(self, user_id: str, device_id: str) -> Deferred[bool]: ...

    def unlink_email(self, user_id: str, email: str = "") -> Deferred[bool]: ...


def user_id(value: Any, message: str = "user ID must be a valid identifier") -> str:
    """The canonical id, or ``ValueError(message)``."""
    canonical = canonical_uuid(value) if isinstance(value, str) else None
    if canonical is None:
        raise ValueError(message)
    return canonical


def text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expects {name} to be a string")
    return value


def checked(problem: str | None) -> None:
    """Raise what a rule of :mod:`nakama_rt.core.accounts` found, as a ``ValueError``."""
    if problem is not None:
        raise ValueError(problem)


def profile_changes(
    username: str,
    metadata: Mapping[str, Any] | None,
    fields: Mapping[str, str],
) -> dict[str, str]:
    """``nk.account_update_id``'s changes: an empty text leaves its field as it is, and
    ``metadata`` (a mapping) replaces the account's. A username too long is refused
    here with the API's message (Nakama's runtime leaves it to its database)."""
    changes = {name: text(value, name) for name, value in fields.items() if value != ""}
    if text(username, "username"):
        checked(username_problem(username))
        changes["username"] = username
    if metadata is not None:
        if not isinstance(metadata, Mapping):
            raise ValueError("expects metadata to be a mapping")
        try:
            changes["metadata"] = orjson.dumps(metadata).decode()
        except TypeError as error:
            raise ValueError(f"error encoding metadata: {error}") from None
    if not changes:
        raise ValueError("No fields to update.")
    return changes


def refusals(
    answers: Mapping[type[Exception], NakamaError],
) -> Callable[[Failure], Any]:
    """An errback turning the storage refusals of ``answers`` into their NakamaError."""

    def translate(failure: Failure) -> Any:
        for kind, answer in answers.items():
            if failure.check(kind):
                raise NakamaError(answer.message, answer.code) from failure.value
        return failure

    return translate


def done_or_last_link(unlinked: bool) -> None:
    if not unlinked:
        raise NakamaError(LAST_LINK, PERMISSION_DENIED)


LINK_REFUSALS: dict[str, Mapping[type[Exception], NakamaError]] = {
    "custom": {CustomIdTaken: NakamaError("Custom ID is already in use.", ALREADY_EXISTS)},
    "device": {
        DeviceIdTaken: NakamaError("Device ID already in use.", ALREADY_EXISTS),
        UserNotFound: NakamaError("Error linking Device ID.", INTERNAL),
    },
    "email": {EmailTaken: NakamaError("Email is already in use.", ALREADY_EXISTS)},
}
UNLINK_REFUSALS: dict[str, Mapping[type[Exception], NakamaError]] = {
    "custom": {ValueRefused: NakamaError("Error while trying to unlink custom ID.", INTERNAL)},
    "device": {ValueRefused: NakamaError("Could not unlink device ID.", INTERNAL)},
    "email": {ValueRefused: NakamaError("Error while trying to unlink email.", INTERNAL)},
}
UPDATE_REFUSALS: Mapping[type[Exception], NakamaError] = {
    UsernameTaken: NakamaError("Username is already in use.", ALREADY_EXISTS),
    ValueRefused: NakamaError("Error while trying to update account.", INTERNAL),
}


def _time(seconds: float | None) -> timestamp_pb2.Timestamp | None:
    return timestamp_pb2.Timestamp(seconds=int(seconds)) if seconds else None


def wire_user(user: User, online: bool) -> api_pb2.User:
    """Nakama's ``User`` message."""
    return api_pb2.User(
        id=user.id,
        username=user.username,
        display_name=user.display_name or "",
        avatar_url=user.avatar_url or "",
        lang_tag=user.lang_tag or "",
        location=user.location or "",
        timezone=user.timezone or "",
        metadata=user.metadata or "{}",
        online=online,
        edge_count=user.edge_count,
        create_time=timestamp_pb2.Timestamp(seconds=int(user.create_time)),
        update_time=timestamp_pb2.Timestamp(seconds=int(user.update_time)),
    )


def wire_account(user: User | None, online: bool) -> api_pb2.Account:
    """Nakama's ``Account`` message (with its disable time, as the runtime sees it);
    an unknown user fails as Nakama's does (a plain error there: an Internal)."""
    if user is None:
        raise NakamaError("account not found", INTERNAL)
    return api_pb2.Account(
        user=wire_user(user, online),
        wallet=user.wallet,
        email=user.email or "",
        devices=[api_pb2.AccountDevice(id=device_id) for device_id in user.device_ids],
        custom_id=user.custom_id or "",
        verify_time=_time(user.verify_time),
        disable_time=_time(user.disable_time),
    )
