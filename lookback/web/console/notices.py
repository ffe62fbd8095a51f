"""The office console's notices pages (see ``lookback.web.console``)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
