"""Prefect flows and tasks: thin orchestration over the domain's services (ids and plain values in,
one service call per task, retries here)."""
