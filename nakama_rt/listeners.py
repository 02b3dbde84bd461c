"""Listener descriptions: checked when the options are read, named when they are bound.

An operator reads the startup log to learn what answers where, so each listener is
named by its purpose and the address it bound (``socket and API on 0.0.0.0:7350``),
and a listener that cannot be bound is one line with the same name and the reason.
"""

from __future__ import annotations

import errno
import re
from typing import TYPE_CHECKING, Any, cast

from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort

from nakama_rt.config import ConfigError

if TYPE_CHECKING:
    from twisted.internet.address import IPv4Address, IPv6Address

#: Endpoint kinds whose first argument is a TCP port number.
_PORT_KINDS = ("tcp", "tcp6", "ssl")
#: Fields are separated by colons that a backslash does not escape.
_FIELD = re.compile(r"(?<!\\):")


def check_description(description: str, reactor: Any) -> None:
    """Raise :class:`ConfigError` for a description Twisted cannot parse or whose
    port is outside 0-65535 (Twisted accepts ``tcp:-5`` and fails only when binding)."""
    fields = _FIELD.split(description)
    if fields[0] in _PORT_KINDS:
        port = _port_field(fields)
        if port is None:
            raise ConfigError(f"invalid listener {description!r}: no port given")
        try:
            number = int(port)
        except ValueError:
            raise ConfigError(f"invalid listener {description!r}: port {port!r}") from None
        if not 0 <= number <= 65535:
            raise ConfigError(
                f"invalid listener {description!r}: port {number} is not between 0 and 65535"
            )
    try:
        serverFromString(reactor, description)
    except Exception as exc:  # Twisted raises several types for bad descriptions.
        raise ConfigError(f"invalid listener {description!r}: {exc}") from None


def _port_field(fields: list[str]) -> str | None:
    """The port of a ``tcp``/``tcp6``/``ssl`` description: its first positional
    argument, or its ``port=`` keyword."""
    positional = next((f for f in fields[1:] if "=" not in f), None)
    return positional if positional is not None else _keyword(fields[1:], "port")


def _address(host: str, port: object) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _keyword(fields: list[str], name: str) -> str | None:
    for field in fields:
        key, _, value = field.partition("=")
        if key == name:
            return value
    return None


def is_tls(description: str) -> bool:
    return description.startswith("ssl:")


def bound_name(purpose: str, port: IListeningPort, description: str) -> str:
    """``socket and API on 0.0.0.0:7350 (TLS)``: what a bound listener serves, where."""
    host = port.getHost()
    address = getattr(host, "name", None)  # UNIX sockets
    if address is None:  # TCP or TLS
        ip = cast("IPv4Address | IPv6Address", host)
        address = _address(ip.host or "0.0.0.0", ip.port)
    elif isinstance(address, bytes):
        address = address.decode("utf-8", "replace")
    return f"{purpose} on {address}" + (" (TLS)" if is_tls(description) else "")


def wanted_name(purpose: str, description: str) -> str:
    """The name of a listener not yet bound, from its description alone."""
    fields = _FIELD.split(description)
    if fields[0] in _PORT_KINDS:
        anywhere = "::" if fields[0] == "tcp6" else "0.0.0.0"
        where = _address(_keyword(fields[1:], "interface") or anywhere, _port_field(fields))
    elif fields[0] == "unix" and len(fields) > 1:
        where = fields[1]
    else:
        where = description
    return f"{purpose} on {where}" + (" (TLS)" if is_tls(description) else "")


def listen_failure_reason(exc: BaseException) -> str:
    """Why a listener could not be bound, in a few words (no errno prefix, no traceback)."""
    if isinstance(exc, CannotListenError):
        cause = exc.socketError
        if isinstance(cause, OSError):
            if cause.errno == errno.EADDRINUSE:
                return "the address is already in use"
            if cause.errno in (errno.EACCES, errno.EPERM):
                return "permission denied (ports below 1024 need privileges)"
            if cause.errno == errno.EADDRNOTAVAIL:
                return "the address is not one of this machine's"
            return (cause.strerror or str(cause)).lower()
        return str(cause)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def check_shared(description: str) -> None:
    """Raise :class:`ConfigError` unless worker processes can share this listener:
    TCP (with or without TLS), whose listening socket they inherit. A UNIX socket's
    file would be unlinked by the first worker that stops."""
    if _FIELD.split(description)[0] not in _PORT_KINDS:
        raise ConfigError(
            f"listener {description!r}: workers share only tcp:, tcp6: or ssl: listeners"
        )


def with_port_offset(description: str, offset: int) -> str:
    """``description`` on its port plus ``offset`` (``tcp:9100`` + 1: ``tcp:9101``); an
    ephemeral port (0) stays 0. For listeners each worker binds for itself (metrics)."""
    fields = _FIELD.split(description)
    if fields[0] not in _PORT_KINDS:
        raise ConfigError(
            f"metrics listener {description!r}: with workers it needs a tcp:, tcp6: or ssl: "
            "port (worker i serves metrics on that port + i - 1)"
        )
    port = int(_port_field(fields) or 0)
    if port == 0:
        return description
    if port + offset > 65535:
        raise ConfigError(f"invalid listener {description!r}: port {port + offset} is too high")
    moved = str(port + offset)
    positional = next((i for i, f in enumerate(fields) if i and "=" not in f), None)
    if positional is not None:
        fields[positional] = moved
    else:
        fields = [f"port={moved}" if f.startswith("port=") else f for f in fields]
    return ":".join(fields)
