"""Realtime features, one folder or module each, like Nakama's ``pipeline_*.go``; ``server``
builds them and ``dispatch`` maps each envelope to its handler."""
