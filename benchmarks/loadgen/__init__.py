"""The load generator behind ``benchmarks/load.py``: worker processes with asyncio
WebSocket clients (:mod:`.worker`), a parent that runs the phases and samples CPU and
memory (:mod:`.runner`), and the report (:mod:`.report`)."""
