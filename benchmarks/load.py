"""Load a Nakama-compatible server and report what it sustains, per server CPU-second.

    python benchmarks/load.py chat --spawn-server
    python benchmarks/load.py match --port 7350 --server-pid "$(pgrep -f nakama-rt)"
    python benchmarks/load.py --help

Scenarios: ``connect``, ``ping``, ``chat``, ``match`` (relayed) and ``authoritative``
(through ``examples/runtime/relay.py``; another server needs an equivalent module with
the ``relay_create`` RPC, see ``--rpc-id``). The load comes from ``--workers``
processes, each an asyncio loop of ``websockets`` clients (``pip install
'nakama-rt[bench]'``); their CPU time is reported so a reader can tell whether the
load generator, rather than the server, was the limit. Chat runs with
``persistence: false`` so the database is not what is measured. The last line printed
is one JSON object with every figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The helpers live beside this script; worker processes import them the same way.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
