"""What a rendering process runs: contents in, PDF bytes out (no database, no Prefect).

Processes are started with the ``spawn`` method: WeasyPrint (and its C libraries) is imported in
the worker itself, never inherited through a fork of a process that already loaded it.
"""

from __future__ import annotations

from typing import Any


def render_chunk(items: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, bytes]]:
    from report_templates.render import render

    return [(notice_id, render(content)) for notice_id, content in items]
