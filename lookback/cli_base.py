"""What every CLI module shares: the wired App and Output of a command, and the error mapping."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from lookback.bootstrap import App
    from lookback.output import Output

F = TypeVar("F", bound=Callable[..., Any])

EXIT_INTERNAL = 70


def state(ctx: typer.Context) -> tuple[App, Output]:
    obj = ctx.find_root().obj
    assert isinstance(obj, dict)
    return obj["app"], obj["out"]


def command(fn: F) -> F:
    """Map domain and database errors to a clear message and an exit code; never a traceback
    for a user mistake. An unexpected error is logged to a file under the data folder."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import OperationalError, SQLAlchemyError

        from domain.errors import LookbackError

        ctx = kwargs.get("ctx") or next(a for a in args if isinstance(a, typer.Context))
        lb, out = state(ctx)
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except LookbackError as e:
            out.error(e.en, e.zh, code=e.code)
            raise typer.Exit(e.exit_code) from None
        except OperationalError as e:
            msg = str(e.orig) if e.orig is not None else str(e)
            out.error(f"database error: {msg} ({lb.database_label})",
                      f"数据库错误：{msg}（{lb.database_label}）", code="database")
            raise typer.Exit(2) from None
        except OSError as e:
            target = e.filename or ""
            out.error(f"cannot use {target}: {e.strerror or e}", f"无法使用{target}：{e.strerror or e}",
                      code="os_error")
            raise typer.Exit(2) from None
        except (SQLAlchemyError, Exception) as e:  # a bug: keep the details, not on screen
            log = _crash_log(lb, e)
            out.error(f"internal error: {type(e).__name__}: {e} (details in {log})",
                      f"内部错误：{type(e).__name__}：{e}（详情见{log}）", code="internal")
            raise typer.Exit(EXIT_INTERNAL) from None
        finally:
            lb.close()

    return wrapper  # type: ignore[return-value]


def _crash_log(lb: App, exc: BaseException) -> Path | str:
    try:
        folder = lb.data_dir / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{datetime.now(UTC):%Y%m%dT%H%M%S}.log"
        path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        return path
    except OSError:
        return "stderr"





