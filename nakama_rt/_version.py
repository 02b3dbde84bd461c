"""The one place nakama-rt's version is written (setup.cfg reads it from here)."""

__version__ = "0.1.0"
