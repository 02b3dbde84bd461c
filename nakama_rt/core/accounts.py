"""Nakama's rules for what identifies an account, shared by the HTTP API and ``nk``.

Each check returns the message Nakama refuses a value with (an InvalidArgument), or
None when the value passes; the caller raises it in its own way. Order and words are
Nakama's (api_authenticate.go, core_link.go, api_account.go); lengths are counted in
bytes, as Go's ``len`` counts a string.
"""

from __future__ import annotations

import re

import bcrypt

# Go's POSIX classes are ASCII: [[:cntrl:]] and [[:space:]].
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
EMAIL_FORMAT = re.compile(r".+@.+\..+")

_USERNAME_CHARACTERS = "Username invalid, no spaces or control characters allowed."
_USERNAME_LENGTH = "Username invalid, must be 1-128 bytes."


def size(text: str) -> int:
    """Length in bytes, as Go's ``len`` counts a string."""
    return len(text.encode("utf-8", "surrogatepass"))


def username_problem(username: str) -> str | None:
    """Authenticating's rule: no control characters, then at most 128 bytes.

    (Despite the message, Nakama's pattern lets plain spaces through.)"""
    if CONTROL.search(username):
        return _USERNAME_CHARACTERS
    if size(username) > 128:
        return _USERNAME_LENGTH
    return None


def new_username_problem(username: str) -> str | None:
    """An account update's rule: 1-128 bytes first, then no control characters."""
    if not 1 <= size(username) <= 128:
        return _USERNAME_LENGTH
    return username_problem(username)


def id_problem(value: str, label: str, low: int, invalid: str = "") -> str | None:
    """A device or custom id's rule: set, no spaces or control characters, ``low``-128
    bytes. ``invalid`` opens the refusals (``"<label> invalid"`` by default; linking a
    custom id words them ``"Invalid custom ID"``)."""
    if not value:
        return f"{label} is required."
    invalid = invalid or f"{label} invalid"
    if CONTROL_OR_SPACE.search(value):
        return f"{invalid}, no spaces or control characters allowed."
    if not low <= size(value) <= 128:
        return f"{invalid}, must be {low}-128 bytes."
    return None


def custom_id_link_problem(custom_id: str) -> str | None:
    return id_problem(custom_id, "Custom ID", 6, invalid="Invalid custom ID")


def device_id_link_problem(device_id: str) -> str | None:
    return id_problem(device_id, "Device ID", 10)


def email_link_problem(email: str, password: str) -> str | None:
    """Linking's rule (in another order than authenticating's)."""
    if not email or not password:
        return "Email address and password is required."
    if CONTROL_OR_SPACE.search(email):
        return "Invalid email address, no spaces or control characters allowed."
    if size(password) < 8:
        return "Password must be at least 8 characters long."
    if not EMAIL_FORMAT.fullmatch(email):
        return "Invalid email address format."
    if not 10 <= size(email) <= 255:
        return "Invalid email address, must be 10-255 bytes."
    return None


#: Nakama hashes passwords with ``max(bcrypt.DefaultCost, 13)`` = 13.
BCRYPT_COST = 13


class PasswordTooLong(ValueError):
    """bcrypt hashes 72 bytes at most; Go's refuses more, and Nakama answers a 500."""


def hash_password(password: str, cost: int) -> bytes:
    """bcrypt hash; run it in a worker thread. Over 72 bytes is refused, as Go's bcrypt
    does."""
    encoded = password.encode("utf-8")
    if len(encoded) > 72:
        raise PasswordTooLong("password longer than bcrypt accepts")
    return bcrypt.hashpw(encoded, bcrypt.gensalt(cost))


def link_hash(password: str, cost: int) -> bytes | None:
    """The hash linking an email stores; none for a password bcrypt refuses (over 72
    bytes): Go's bcrypt fails there, Nakama ignores the failure and links the email
    without a password. Run it in a worker thread."""
    try:
        return hash_password(password, cost)
    except PasswordTooLong:
        return None
