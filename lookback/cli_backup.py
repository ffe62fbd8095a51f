"""`lookback backup FILE` and `lookback restore FILE`: one archive with the database, the data
folder's files and a manifest; restore checks every byte and the event hash chain."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from lookback.cli_base import state
from lookback.output import Output


@contextmanager
def _progress(out: Output, en: str, zh: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr, shown from the first step (not for a refusal before it)."""
    with ExitStack() as stack:
        update: Any = None

        def tick(done: int, total: int) -> None:
            nonlocal update
            if update is None:
                update = stack.enter_context(out.progress(en, zh, total=max(total, 1)))
            update(done, of=max(total, 1))

        yield tick


def _size(out: Output, n: int) -> str:
    if n < 1024:
        return f"{n:,}{out.t(' bytes', '字节')}"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            break
    return f"{value:,.1f} {unit}"


def backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The archive to write (.tar, or .tar.gz / .tgz "
                                         "for gzip).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Back up the database and the data folder into one archive (safe while others write)."""
    from storage import backup as store

    lb, out = state(ctx)
    lb.require_schema(newest=False)
    lb.close()  # the backup opens its own connections
    with _progress(out, "Backing up", "正在备份") as tick:
        summary = store.backup(lb.database_url, lb.data_dir, file, now=lb.clock.now(),
                               force=force, progress=tick)
    if out.json_mode:
        out.emit({"ok": True, "path": str(summary.path), "database": summary.database,
                  "schema_revision": summary.revision, "events": summary.events,
                  "last_event_hash": summary.last_event_hash, "files": summary.files,
                  "bytes": summary.file_bytes, "notice_pdfs": summary.notice_pdfs,
                  "archive_bytes": summary.archive_bytes})
        return
    out.say(f"Backed up {lb.database_label} (revision {summary.revision}, {summary.events:,} "
            f"events, {summary.notice_pdfs:,} notice PDFs) and {summary.files:,} files "
            f"({_size(out, summary.file_bytes)}) to {summary.path} ({_size(out, summary.archive_bytes)}).",
            f"已将{lb.database_label}（版本{summary.revision}，事件{summary.events:,}条，文书PDF"
            f"{summary.notice_pdfs:,}份）和{summary.files:,}个文件（{_size(out, summary.file_bytes)}）"
            f"备份到{summary.path}（{_size(out, summary.archive_bytes)}）。")
    if summary.last_event_hash:
        out.say(f"Last event hash: {summary.last_event_hash}",
                f"最后一条事件的哈希：{summary.last_event_hash}")


def restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An archive written by `lookback backup`.")],
    force: Annotated[bool, typer.Option("--force", help="Replace a database that already holds "
                                        "data, and files that differ.")] = False,
) -> None:
    """Restore an archive into the configured database and data folder, checking every file's
    SHA-256 and the event hash chain (exit 1 naming the first thing that does not verify)."""
    from storage import backup as store

    lb, out = state(ctx)
    lb.close()  # nothing may hold the database open while it is replaced
    with _progress(out, "Restoring", "正在恢复") as tick:
        s = store.restore(lb.database_url, lb.data_dir, file, force=force, progress=tick)
    if out.json_mode:
        out.emit({"ok": True, "path": str(file), "database": s.database,
                  "schema_revision": s.revision, "events": s.events, "head_hash": s.head_hash,
                  "files": s.files, "bytes": s.file_bytes, "already_present": s.already_present,
                  "notice_pdfs": s.notice_pdfs, "created_at": s.created_at,
                  "needs_upgrade": s.needs_upgrade})
        return
    out.say(f"Restored {file} (made {s.created_at}) into {lb.database_label} and {lb.data_dir}: "
            f"revision {s.revision}, {s.events:,} events, {s.notice_pdfs:,} notice PDFs, "
            f"{s.files:,} files ({_size(out, s.file_bytes)}; {s.already_present:,} were already "
            "there).",
            f"已将{file}（生成于{s.created_at}）恢复到{lb.database_label}和{lb.data_dir}：版本"
            f"{s.revision}，事件{s.events:,}条，文书PDF{s.notice_pdfs:,}份，文件{s.files:,}个"
            f"（{_size(out, s.file_bytes)}；其中{s.already_present:,}个原已存在）。")
    out.say(f"Verified: every file matches its SHA-256; hash chain intact, head {s.head_hash or '—'}.",
            f"核验通过：每个文件均与其SHA-256一致；哈希链完整，链尾{s.head_hash or '—'}。")
    if s.needs_upgrade:
        out.say("The archive's schema is older than this Lookback's: run `lookback init` to "
                "upgrade it.", "备份的数据库结构版本较旧：请运行`lookback init`升级。")
