"""Who may use the console: one operator login, a signed session cookie, and checks
against cross-site requests and password guessing.

- The login is ``console.username`` / ``console.password`` (Nakama's defaults, with a
  startup warning while they are), compared in constant time.
- A good login gets a cookie holding a JWT (HS256, ``console.signing_key``) with the
  operator's name, its expiry (``console.token_expiry_sec``) and a random anti-forgery
  token. The cookie is ``HttpOnly`` and ``SameSite=Strict`` (``Secure`` over TLS), and
  it dies with the token.
- Every action is a POST carrying that anti-forgery token in its form. A request with
  an ``Origin`` header must come from the console's own origin.
- A wrong password is answered only after a delay that doubles with each failure from
  that address (0.5 s, 1 s, 2 s ... capped at 8 s; forgotten 10 minutes after the
  last one), and every failure is counted (:attr:`ConsoleAuth.failures`).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

import jwt
from twisted.internet.interfaces import IReactorTime

from nakama_rt.config import ConsoleConfig

COOKIE = b"nakama_rt_console"
#: How long an address's wrong passwords are remembered, in seconds.
FAILURE_MEMORY = 600.0
#: The longest a wrong password's answer waits, in seconds.
MAX_DELAY = 8.0


@dataclass(frozen=True)
class Operator:
    """A logged-in operator, from a valid cookie."""

    name: str
    #: The anti-forgery token the operator's forms carry.
    csrf: str


class ConsoleAuth:
    """Logins, cookies and failed attempts. Reactor thread only."""

    def __init__(self, config: ConsoleConfig, clock: IReactorTime) -> None:
        self._config = config
        self._clock = clock
        #: Wrong passwords, in all.
        self.failures = 0
        #: Address -> (recent failures, when the last was).
        self._recent: dict[str, tuple[int, float]] = {}

    def check_password(self, username: str, password: str) -> bool:
        config = self._config
        name_ok = hmac.compare_digest(username.encode(), config.username.encode())
        password_ok = hmac.compare_digest(password.encode(), config.password.encode())
        return name_ok and password_ok

    def failed(self, address: str) -> float:
        """Count a wrong password from ``address``; return how long to wait before
        answering it."""
        self.failures += 1
        now = self._clock.seconds()
        count, last = self._recent.get(address, (0, now))
        if now - last > FAILURE_MEMORY:
            count = 0
        count += 1
        self._recent[address] = (count, now)
        if len(self._recent) > 10_000:
            self._forget_old(now)
        return min(0.5 * 2 ** (count - 1), MAX_DELAY)

    def succeeded(self, address: str) -> None:
        self._recent.pop(address, None)

    def _forget_old(self, now: float) -> None:
        self._recent = {
            address: seen
            for address, seen in self._recent.items()
            if now - seen[1] <= FAILURE_MEMORY
        }

    def issue(self) -> tuple[bytes, int]:
        """A new session cookie's value, and its lifetime in seconds."""
        lifetime = self._config.token_expiry_sec
        claims = {
            "sub": self._config.username,
            "exp": int(self._clock.seconds()) + lifetime,
            "csrf": secrets.token_urlsafe(24),
        }
        token = jwt.encode(claims, self._config.signing_key, algorithm="HS256")
        return token.encode(), lifetime

    def operator(self, cookie: bytes | None) -> Operator | None:
        """The operator a cookie logs in, or None (missing, forged or expired)."""
        if not cookie:
            return None
        try:
            claims = jwt.decode(
                cookie.decode("ascii", "replace"),
                self._config.signing_key,
                algorithms=["HS256"],
                options={"require": ["exp", "sub", "csrf"], "verify_exp": False},
            )
        except jwt.PyJWTError:
            return None
        # Expiry against the injected clock (PyJWT reads the wall clock).
        exp, name, csrf = claims["exp"], claims["sub"], claims["csrf"]
        if not isinstance(exp, int) or exp <= self._clock.seconds():
            return None
        if not isinstance(name, str) or not isinstance(csrf, str) or name != self._config.username:
            return None
        return Operator(name, csrf)
