"""Lookback's domain: entities, rules and use cases in pure Python (standard library only)."""
