"""The operator console: a web page of the live server and cluster, with actions.

Served on a listener of its own (``--console-listen``, ``console.listen`` or Nakama's
``console.port``) so that it can stay private; see :mod:`nakama_rt.console.site`.
"""
