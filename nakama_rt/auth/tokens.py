"""Session and refresh tokens: HS256 JWTs with Nakama's claims.

Clients decode the payload themselves (nakama-js reads ``uid``, ``usn``, ``vrs``,
``exp``), so the claim names and their omission rules are Nakama's: ``tid``,
``uid``, ``usn``, ``vrs`` (left out when there are no vars), ``exp``, ``iat``.
Parsing accepts what Nakama accepts: a valid HS256 signature, an unexpired
``exp`` and a ``uid`` that is a UUID; the other claims may be absent.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
import orjson
from jwt.algorithms import HMACAlgorithm

from nakama_rt.config import SessionConfig

_ALGORITHM = "HS256"

# The forms of UUID text Nakama's parser (gofrs/uuid FromString) accepts.
_UUID_FORMS = re.compile(
    r"(?:urn:uuid:)?(?P<a>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"|\{(?P<b>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}"
    r"|(?P<c>[0-9a-fA-F]{32})"
)


class _ServerKeyHMAC(HMACAlgorithm):
    """HS256 with the server's own keys, examined once each.

    PyJWT re-examines an HMAC key on every call (is it PEM, an SSH key, a JWK's
    JSON?), which costs more than checking the signature; a socket upgrade pays it
    on every connect. The keys come from the config, so each is examined once.
    Nakama's default keys are shorter than PyJWT's recommended HMAC key length; the
    operator chose the keys, so that warning would only be noise on every request.
    """

    _MAX_KEYS = 16  # a server has a handful (session, refresh, matchmaker tokens)

    def __init__(self) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self._prepared: dict[str | bytes, bytes] = {}

    def prepare_key(self, key: str | bytes) -> bytes:
        prepared = self._prepared.get(key)
        if prepared is None:
            if len(self._prepared) >= self._MAX_KEYS:
                self._prepared.clear()
            prepared = self._prepared[key] = super().prepare_key(key)
        return prepared

    def check_key_length(self, key: bytes) -> None:
        return None


_BASE64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class _ServerJWS(jwt.PyJWS):
    """PyJWS, reading a token's segments with the same rules at C speed.

    PyJWT checks each segment's alphabet one character at a time in Python: 18 of
    the 20 us a token check takes, paid by every socket connect and API call. Here
    ``bytes.translate`` finds any character outside the alphabet; everything else
    (padding, length, canonical encoding) is checked as PyJWT checks it, and
    tests/test_tokens.py holds the two to the same verdicts.
    """

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        stripped = segment.rstrip(b"=")
        padding = len(segment) - len(stripped)
        if (
            padding > 2
            or (padding and len(segment) % 4)
            or len(stripped) % 4 == 1
            or stripped.translate(None, _BASE64URL)
        ):
            raise jwt.DecodeError(f"Invalid {name} padding")
        decoded = base64.urlsafe_b64decode(stripped + b"=" * (-len(stripped) % 4))
        if base64.urlsafe_b64encode(decoded).rstrip(b"=") != stripped:
            raise jwt.DecodeError(f"Invalid {name} padding")
        return decoded


# Tokens are signed and verified by PyJWT; the claims are checked below, against
# the injected clock, the way Nakama checks them.
_JWS = _ServerJWS(algorithms=[])
_JWS.register_algorithm(_ALGORITHM, _ServerKeyHMAC())


class InvalidToken(Exception):
    """The token is malformed, badly signed, not HS256, expired or lacks a valid uid."""


@dataclass(frozen=True)
class SessionClaims:
    """What a valid session or refresh token says."""

    user_id: str
    username: str
    vars: Mapping[str, str] | None
    token_id: str
    expires_at: int
    issued_at: int


@dataclass(frozen=True)
class IssuedSession:
    """A session token and its refresh token, sharing one token id and issue time."""

    token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    token_id: str
    issued_at: int
    expires_at: int
    refresh_expires_at: int


def sign(claims: Mapping[str, Any], key: str) -> str:
    """An HS256 JWT of ``claims`` (in their order) signed with ``key``: the header
    ``{"alg":"HS256","typ":"JWT"}`` and compact claims, as PyJWT writes them."""
    payload = json.dumps(claims, separators=(",", ":")).encode()
    return _JWS.encode(payload, key, algorithm=_ALGORITHM)


def generate_token(
    key: str,
    token_id: str,
    issued_at: int,
    user_id: str,
    username: str,
    vars: Mapping[str, str] | None,
    expires_at: int,
) -> str:
    """Sign one token; empty claims are left out, as Go's ``omitempty`` does."""
    claims: dict[str, Any] = {}
    if token_id:
        claims["tid"] = token_id
    if user_id:
        claims["uid"] = user_id
    if username:
        claims["usn"] = username
    if vars:
        claims["vrs"] = dict(vars)
    if expires_at:
        claims["exp"] = int(expires_at)
    if issued_at:
        claims["iat"] = int(issued_at)
    return sign(claims, key)


def issue_session(
    config: SessionConfig,
    user_id: str,
    username: str,
    vars: Mapping[str, str] | None,
    now: float,
    *,
    token_id: str | None = None,
    issued_at: int | None = None,
) -> IssuedSession:
    """A new session/refresh token pair expiring per ``config``.

    A refresh passes the ``token_id`` and ``issued_at`` of the refresh token, which
    Nakama carries over to the new pair; otherwise a new id is drawn.
    """
    seconds = int(now)
    tid = token_id if token_id is not None else str(uuid.uuid4())
    iat = issued_at if issued_at is not None else seconds
    exp = seconds + config.token_expiry_sec
    refresh_exp = seconds + config.refresh_token_expiry_sec
    return IssuedSession(
        token=generate_token(config.encryption_key, tid, iat, user_id, username, vars, exp),
        refresh_token=generate_token(
            config.refresh_encryption_key, tid, iat, user_id, username, vars, refresh_exp
        ),
        token_id=tid,
        issued_at=iat,
        expires_at=exp,
        refresh_expires_at=refresh_exp,
    )


def _canonical_user_id(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    match = _UUID_FORMS.fullmatch(value)
    if match is None:
        return None
    return str(uuid.UUID(match.group("a") or match.group("b") or match.group("c")))


def _optional_str(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidToken(f"claim {name} must be a string")
    return value


def _optional_int(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidToken(f"claim {name} must be an integer")
    return value


def _verified_claims(token: str, key: str) -> dict[str, Any]:
    """The claims of an HS256 token whose signature ``key`` verifies."""
    try:
        payload = _JWS.decode_complete(token, key, algorithms=[_ALGORITHM])["payload"]
        claims = orjson.loads(payload)
    except jwt.PyJWTError as error:
        raise InvalidToken(str(error)) from error
    except orjson.JSONDecodeError:
        raise InvalidToken("claims are not JSON") from None
    if not isinstance(claims, dict):
        raise InvalidToken("claims must be an object")
    return claims


def decode_claims(token: str, key: str, now: float) -> dict[str, Any]:
    """The verified claims of any HS256 token signed with ``key`` (e.g. a matchmaker
    token); raise :class:`InvalidToken`. An ``exp`` claim, when present, must be ahead."""
    claims = _verified_claims(token, key)
    if "exp" in claims and not now < _optional_int(claims, "exp"):
        raise InvalidToken("token is expired")
    return claims


def parse_token(token: str, key: str, now: float) -> SessionClaims:
    """Verify ``token`` with ``key`` at time ``now``; raise :class:`InvalidToken` if unusable."""
    if not isinstance(token, str) or not token:
        raise InvalidToken("token is empty")
    claims = _verified_claims(token, key)
    # A missing exp reads as 0, so it is expired: Nakama requires an expiry.
    expires_at = _optional_int(claims, "exp")
    if not now < expires_at:
        raise InvalidToken("token is expired")
    issued_at = _optional_int(claims, "iat")
    token_id = _optional_str(claims, "tid")
    username = _optional_str(claims, "usn")
    user_id = _canonical_user_id(claims.get("uid"))
    if user_id is None:
        raise InvalidToken("claim uid must be a UUID")
    raw_vars = claims.get("vrs")
    if raw_vars is not None and (
        not isinstance(raw_vars, dict) or not all(isinstance(v, str) for v in raw_vars.values())
    ):
        raise InvalidToken("claim vrs must map strings to strings")
    return SessionClaims(
        user_id=user_id,
        username=username,
        vars=dict(raw_vars) if raw_vars is not None else None,
        token_id=token_id,
        expires_at=expires_at,
        issued_at=issued_at,
    )


def parse_session_token(token: str, key: str, now: float) -> SessionClaims:
    """Parse a session token; ``key`` is ``session.encryption_key``."""
    return parse_token(token, key, now)


def parse_refresh_token(token: str, key: str, now: float) -> SessionClaims:
    """Parse a refresh token; ``key`` is ``session.refresh_encryption_key``."""
    return parse_token(token, key, now)
