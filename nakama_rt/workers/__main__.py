"""``python -m nakama_rt.workers NAME``: a worker process (its supervisor starts it)."""

import sys

from nakama_rt.workers.worker import main

raise SystemExit(main(sys.argv[1:]))
