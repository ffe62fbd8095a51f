"""The HTTP API (`lookback serve`): FastAPI over the same domain services as the CLI."""
