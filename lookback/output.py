"""Output for people and scripts: bilingual messages, Rich tables and progress, or JSON."""

from __future__ import annotations

import json
import sys
import unicodedata
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
from rich.table import Table as RichTable
from rich.text import Text

from lookback.settings import Lang


def clean(text: str) -> str:
    """User text made safe for a terminal: control characters (ESC sequences that retitle the
    window or clear the screen, backspaces, bells, C1 controls) are shown as ``\\xNN`` instead of
    acting; line breaks and tabs stay."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch in "\n\t" or unicodedata.category(ch) != "Cc":
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch):02x}")
    return "".join(out)


class Table(RichTable):
    """A Rich table whose cells and title are plain text: user text (a business name, an
    evidence filename, a description) is never read as Rich markup nor as terminal controls."""

    def __init__(self, *args: Any, title: Any = None, **kwargs: Any) -> None:
        if isinstance(title, str):
            title = Text(clean(title))
        super().__init__(*args, title=title, **kwargs)

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        super().add_row(*[Text(clean(r)) if isinstance(r, str) else r for r in renderables],
                        **kwargs)

    def add_column(self, header: Any = "", *args: Any, **kwargs: Any) -> None:
        if isinstance(header, str):
            header = Text(clean(header))
        super().add_column(header, *args, **kwargs)


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
            self.out.print(clean(self.t(en, zh)), markup=False)

    def note(self, en: str, zh: str) -> None:
        """A side remark on stderr (warnings, where files went)."""
        self.err.print(clean(self.t(en, zh)), markup=False)

    def error(self, en: str, zh: str, *, code: str) -> None:
        if self.json_mode:
            self.emit({"ok": False, "error": {"code": code, "message": self.t(en, zh),
                                              "message_en": en, "message_zh": zh}})
        else:
            # The message may hold user text with [brackets]: escape it, style only the label.
            self.err.print(f"[bold red]{self.t('error', '错误')}:[/] {escape(clean(self.t(en, zh)))}",
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

            def update(completed: float, *, description: str | None = None,
                       of: float | None = None) -> None:
                progress.update(task, completed=completed,
                                **({"description": description} if description else {}),
                                **({"total": of} if of is not None else {}))

            yield update
            progress.update(task, completed=progress.tasks[0].total or total)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def named(out: Output, vocabulary: str, code: str | None) -> str:
    """The name of a stable code in the output's language; ``--json`` keeps the code."""
    from domain.vocabulary import label

    if out.json_mode:
        return code or ""
    return label(vocabulary, code, out.lang)


def counts(out: Output, vocabulary: str, by: dict[str, int]) -> str:
    """``{code: n}`` as a line of names and counts, largest first: 包保干部 126，食品安全总监 95."""
    sep = "，" if out.lang == "zh" else ", "
    return sep.join(f"{named(out, vocabulary, k)} {n}"
                    for k, n in sorted(by.items(), key=lambda kv: (-kv[1], kv[0])))


def due(out: Output, on: object, provisional: bool | None) -> str:
    """A due date, marked when it is provisional (counted without the official calendar)."""
    text = "—" if on is None else str(on)
    if provisional and on is not None:
        text += "（暂定）" if out.lang == "zh" else " (provisional)"
    return text


def more(out: Output, shown: int, total: int, *, hint_en: str = "use --limit to see more",
         hint_zh: str = "可用--limit查看更多") -> None:
    """Say that a list was cut: how many are not shown out of how many in all."""
    if total > shown:
        out.say(f"… {total - shown:,} more not shown ({total:,} in all); {hint_en}.",
                f"……另有{total - shown:,}条未显示（共{total:,}条）；{hint_zh}。")


def page(items: list[Any], total: int, *, offset: int = 0, limit: int | None = None
         ) -> dict[str, Any]:
    """The one JSON shape of every list, in the CLI and the API: the page's items, the true
    total matching the filters, and where the page starts and how long it may be."""
    return {"items": items, "count": total, "offset": offset, "limit": limit,
            "truncated": offset + len(items) < total}
