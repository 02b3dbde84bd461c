"""Session/refresh JWTs: Nakama's claims on the way out, Nakama's checks on the way in."""

from __future__ import annotations

import base64
import json
import uuid
import warnings

import jwt
import pytest

from nakama_rt.auth.tokens import (
    InvalidToken,
    generate_token,
    issue_session,
    parse_refresh_token,
    parse_session_token,
    parse_token,
)
from nakama_rt.config import SessionConfig

CONFIG = SessionConfig(
    encryption_key="session-key", refresh_encryption_key="refresh-key", token_expiry_sec=60
)
USER = "5f4b2a8e-1d3c-4e5f-8a9b-0c1d2e3f4a5b"
NOW = 1_700_000_000.75


def payload(token: str) -> dict:
    """Decode the claims without verification, as nakama-js does."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def header(token: str) -> dict:
    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_issue_session_claims():
    issued = issue_session(CONFIG, USER, "alice", None, NOW)
    claims = payload(issued.token)
    assert claims == {
        "tid": issued.token_id,
        "uid": USER,
        "usn": "alice",
        "exp": 1_700_000_060,
        "iat": 1_700_000_000,
    }
    assert uuid.UUID(issued.token_id)
    assert header(issued.token) == {"alg": "HS256", "typ": "JWT"}
    refresh = payload(issued.refresh_token)
    assert refresh == {**claims, "exp": 1_700_000_000 + 3600}
    assert (issued.expires_at, issued.refresh_expires_at, issued.issued_at) == (
        1_700_000_060,
        1_700_003_600,
        1_700_000_000,
    )


def test_vars_only_when_given():
    assert "vrs" not in payload(issue_session(CONFIG, USER, "a", {}, NOW).token)
    issued = issue_session(CONFIG, USER, "a", {"k": "v"}, NOW)
    assert payload(issued.token)["vrs"] == {"k": "v"}
    assert payload(issued.refresh_token)["vrs"] == {"k": "v"}


def test_each_session_gets_a_new_token_id_unless_carried_over():
    first = issue_session(CONFIG, USER, "a", None, NOW)
    second = issue_session(CONFIG, USER, "a", None, NOW)
    assert first.token_id != second.token_id
    carried = issue_session(CONFIG, USER, "a", None, NOW + 30, token_id="tid", issued_at=5)
    assert payload(carried.token)["tid"] == "tid" and payload(carried.token)["iat"] == 5
    assert payload(carried.token)["exp"] == int(NOW + 30) + 60


def test_parse_round_trip():
    issued = issue_session(CONFIG, USER, "alice", {"k": "v"}, NOW)
    claims = parse_session_token(issued.token, CONFIG.encryption_key, NOW)
    assert claims.user_id == USER
    assert claims.username == "alice"
    assert claims.vars == {"k": "v"}
    assert claims.token_id == issued.token_id
    assert claims.expires_at == issued.expires_at
    assert claims.issued_at == issued.issued_at
    refresh = parse_refresh_token(issued.refresh_token, CONFIG.refresh_encryption_key, NOW)
    assert refresh.expires_at == issued.refresh_expires_at
    assert parse_session_token(issued.token, CONFIG.encryption_key, NOW).vars == {"k": "v"}


def test_vars_none_when_absent():
    issued = issue_session(CONFIG, USER, "alice", None, NOW)
    assert parse_token(issued.token, CONFIG.encryption_key, NOW).vars is None


def test_wrong_key_is_invalid():
    issued = issue_session(CONFIG, USER, "alice", None, NOW)
    with pytest.raises(InvalidToken):
        parse_session_token(issued.token, "other-key", NOW)
    # A refresh token is not a session token.
    with pytest.raises(InvalidToken):
        parse_session_token(issued.refresh_token, CONFIG.encryption_key, NOW)


def test_expiry_is_checked_against_the_given_time():
    issued = issue_session(CONFIG, USER, "alice", None, NOW)
    assert parse_token(issued.token, CONFIG.encryption_key, issued.expires_at - 0.001)
    with pytest.raises(InvalidToken):
        parse_token(issued.token, CONFIG.encryption_key, issued.expires_at)
    # iat is not checked (Nakama does not either): a token "from the future" is fine.
    assert parse_token(issued.token, CONFIG.encryption_key, 0)


def _sign(claims: dict, key: str = "k", algorithm: str = "HS256") -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwt.encode(claims, key, algorithm=algorithm)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b.c",
        _sign({"uid": USER, "exp": 2_000_000_000}, algorithm="HS512"),
        _sign({"uid": USER, "exp": 2_000_000_000}, key="other"),
        jwt.encode({"uid": USER, "exp": 2_000_000_000}, None, algorithm="none"),
        _sign({"uid": USER}),  # No expiry.
        _sign({"uid": USER, "exp": 1_000}),  # Expired.
        _sign({"uid": USER, "exp": 2_000_000_000.5}),  # Not an integer.
        _sign({"uid": USER, "exp": "2000000000"}),
        _sign({"exp": 2_000_000_000}),  # No uid.
        _sign({"uid": "not-a-uuid", "exp": 2_000_000_000}),
        _sign({"uid": 12, "exp": 2_000_000_000}),
        _sign({"uid": USER, "exp": 2_000_000_000, "vrs": {"k": 1}}),
        _sign({"uid": USER, "exp": 2_000_000_000, "vrs": ["k"]}),
        _sign({"uid": USER, "exp": 2_000_000_000, "tid": 5}),
        _sign({"uid": USER, "exp": 2_000_000_000, "usn": ["a"]}),
    ],
    ids=lambda t: t[:12] if t else "empty",
)
def test_invalid_tokens(token):
    with pytest.raises(InvalidToken):
        parse_token(token, "k", NOW)


def test_minimal_token_is_accepted_like_nakama():
    claims = parse_token(_sign({"uid": USER.upper(), "exp": 2_000_000_000}), "k", NOW)
    assert claims.user_id == USER  # Canonical form.
    assert (claims.token_id, claims.username, claims.vars, claims.issued_at) == ("", "", None, 0)
    compact = USER.replace("-", "")
    assert parse_token(_sign({"uid": compact, "exp": 2_000_000_000}), "k", NOW).user_id == USER


def test_empty_claims_left_out():
    token = generate_token("k", "", 0, USER, "", None, 2_000_000_000)
    assert payload(token) == {"uid": USER, "exp": 2_000_000_000}


def test_short_keys_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        issued = issue_session(SessionConfig(), USER, "a", None, NOW)
        parse_token(issued.token, SessionConfig().encryption_key, NOW)


def _segments() -> list[bytes]:
    """Segments PyJWT must accept or refuse: every length and padding near a
    16-byte value, characters from both base64 alphabets and outside them, and
    non-canonical trailing bits."""
    import random

    rng = random.Random(7)
    alphabet = b"AQgw_-+/=.!~ \x00\xff" + bytes(range(48, 58))
    made = [b"", b"=", b"==", b"===", b"A", b"AA", b"AAA", b"AAAA", b"AB==", b"AAE", b"AAF"]
    for length in range(0, 26):
        for _ in range(40):
            made.append(bytes(rng.choice(alphabet) for _ in range(length)))
    valid = base64.urlsafe_b64encode(b"\x00\x01\xfe\xff" * 4)
    made += [valid, valid.rstrip(b"="), valid.rstrip(b"=") + b"=", valid + b"="]
    return made


def test_segments_are_read_with_pyjwts_verdicts():
    from jwt.api_jws import PyJWS

    from nakama_rt.auth.tokens import _ServerJWS

    decided = 0
    for segment in _segments():
        try:
            expected = PyJWS._decode_base64url_segment(segment, "payload")
        except jwt.DecodeError:
            expected = None
        try:
            ours = _ServerJWS._decode_base64url_segment(segment, "payload")
        except jwt.DecodeError:
            ours = None
        assert ours == expected, segment
        decided += expected is not None
    assert 50 < decided < len(_segments()) - 50  # both verdicts well represented
