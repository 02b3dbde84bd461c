"""What a supervisor tells the worker it starts, and on which file descriptors.

The brief travels as one JSON line on the worker's standard input, which the supervisor
then keeps open: when it reads end of file, the worker knows its supervisor is gone.
The configuration goes whole, as the supervisor built it from its options and file,
so a worker serves exactly what ``twistd nakama-rt`` would (and no key shows in ``ps``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import orjson

from nakama_rt.config import Config, config_as_json, config_from_json
from nakama_rt.listeners import with_port_offset

#: The worker's log: one :func:`nakama_rt.logs.format_json` line per event.
LOG_FD = 3
#: One line when the worker is serving (``ready``) or cannot start (``failed REASON``).
STATUS_FD = 4
#: The listening sockets of ``config.listen``, in its order, from this descriptor on.
FIRST_LISTENER_FD = 5

READY = b"ready"
FAILED = b"failed "


@dataclass(frozen=True)
class WorkerBrief:
    #: 1 to N: the worker's place, which names its node and its metrics port.
    index: int
    #: The worker's own configuration (see :func:`worker_config`).
    config: Config
    #: Processes that held this worker's node name and are dead: their name may be
    #: taken over at once instead of after its TTL.
    dead_pids: tuple[int, ...] = ()

    def encode(self) -> bytes:
        """One line of JSON, newline included."""
        return (
            orjson.dumps(
                {
                    "index": self.index,
                    "dead_pids": list(self.dead_pids),
                    "config": orjson.Fragment(config_as_json(self.config)),
                }
            )
            + b"\n"
        )

    @classmethod
    def decode(cls, line: bytes) -> WorkerBrief:
        values = orjson.loads(line)
        return cls(
            index=int(values["index"]),
            config=config_from_json(orjson.dumps(values["config"])),
            dead_pids=tuple(int(pid) for pid in values["dead_pids"]),
        )


def worker_name(config: Config, index: int) -> str:
    """Worker ``index``'s node name: the configured name, ``-index``."""
    return f"{config.name}-{index}"


def worker_config(config: Config, index: int) -> Config:
    """The supervisor's configuration as worker ``index`` serves it: node ``NAME-index``,
    one process, and metrics and the console (if any) on the configured port + index - 1,
    since such a listener is one process's and cannot be shared."""
    metrics, console = config.metrics, config.console
    if config.metrics_listen():
        moved = with_port_offset(config.metrics_listen(), index - 1)
        metrics = dataclasses.replace(metrics, listen=moved)
    if config.console_listen():
        moved = with_port_offset(config.console_listen(), index - 1)
        console = dataclasses.replace(console, listen=moved)
    return dataclasses.replace(
        config, name=worker_name(config, index), workers=1, metrics=metrics, console=console
    )
