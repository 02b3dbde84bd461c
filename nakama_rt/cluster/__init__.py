"""One server over processes and machines: nodes that share a Redis (``--cluster``)."""
