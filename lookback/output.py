"""Output for people and scripts: bilingual messages, Rich tables and progress, or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from lookback.settings import Lang


class Output:
    """Speaks in one language; prints JSON instead of tables when asked to."""

    def __init__(self, lang: Lang, *, json_mode: bool) -> None:
        self.lang = lang
        self.json_mode = json_mode
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    def t(self, en: str, zh: str) -> str:
        return zh if self.lang == "zh" else en

    def say(self, en: str, zh: str) -> None:
        """A line for a person (suppressed in JSON mode so stdout stays machine-readable)."""
        if not self.json_mode:
            self.out.print(self.t(en, zh), markup=False)

    def note(self, en: str, zh: str) -> None:
        """A side remark on stderr (warnings, where files went)."""
        self.err.print(self.t(en, zh), markup=False)

    def error(self, en: str, zh: str, *, code: str) -> None:
        if self.json_mode:
            self.emit({"ok": False, "error": {"code": code, "message": self.t(en, zh),
                                              "message_en": en, "message_zh": zh}})
        else:
            # The message may hold user text with [brackets]: escape it, style only the label.
            self.err.print(f"[bold red]{self.t('error', '错误')}:[/] {escape(self.t(en, zh))}",
                           markup=True)

    def emit(self, data: Any) -> None:
        """One JSON document on stdout."""
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
        sys.stdout.flush()

    @contextmanager
    def progress(self, en: str, zh: str, *, total: float = 1.0) -> Iterator[Any]:
        """A progress bar on stderr; yields ``update(completed)``."""
        progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), console=self.err,
            disable=self.json_mode, transient=False,
        )
        with progress:
            task = progress.add_task(self.t(en, zh), total=total)

            def update(completed: float, *, description: str | None = None) -> None:
                progress.update(task, completed=completed,
                                **({"description": description} if description else {}))

            yield update
            progress.update(task, completed=total)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"
