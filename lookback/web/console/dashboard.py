"""The office console's dashboard (see ``lookback.web.console``)."""

from __future__ import annotations

from fastapi import APIRouter

from lookback.web import text

router = APIRouter(include_in_schema=False)

text.add({
    "console": ("食安办工作台", "Office console"),
    "dashboard": ("概况", "Dashboard"),
    "campaigns": ("督查", "Campaigns"),
    "notices": ("文书", "Notices"),
    "imports": ("导入", "Imports"),
    "lookbacks_nav": ("回头看", "Look-backs"),
})
