"""Realtime features, one module each, like Nakama's ``pipeline_*.go``."""
