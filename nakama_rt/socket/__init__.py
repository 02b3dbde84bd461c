"""One WebSocket per client: upgrade, framing, the socket's life and its session."""
