"""``twistd nakama-rt --workers N``: one machine's server as N node processes.

The twistd process becomes a :class:`Supervisor`: it binds every listener itself and
starts N workers (``python -m nakama_rt.workers``), each the same
:class:`~nakama_rt.service.NakamaService` a single server runs, as node ``NAME-i`` of
the cluster on ``cluster.redis``, accepting on the listening sockets it inherited.
"""

from nakama_rt.workers.backoff import RestartBackoff
from nakama_rt.workers.supervisor import Supervisor

__all__ = ["RestartBackoff", "Supervisor"]
