"""Lookback's entry points: CLI, settings and the composition root."""

__version__ = "0.1.0"
