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
    from domain.access import Action
    from lookback.bootstrap import App
    from lookback.output import Output

F = TypeVar("F", bound=Callable[..., Any])

EXIT_INTERNAL = 70


def state(ctx: typer.Context) -> tuple[App, Output]:
    obj = ctx.find_root().obj
    assert isinstance(obj, dict)
    return obj["app"], obj["out"]


#: A command that applies the territory and role rules itself when run ``--as`` a user.
SCOPED = "scoped"


def as_user(rule: Action | str) -> Callable[[F], F]:
    """Mark what a command needs of the user it runs as (``--as``): an action that the user's
    role must allow (``domain.access.authorize``), or :data:`SCOPED` when the command applies
    the rules to each thing it reads or writes. A command without the mark runs only as the
    local administrator."""

    def mark(fn: F) -> F:
        fn.__lookback_as__ = rule  # type: ignore[attr-defined]
        return fn

    return mark


def guard(lb: App, action: Action, target: str, **scope: Any) -> None:
    """Allow the acting user (``--as``) ``action`` on ``target``, or record the refusal in the
    event log and raise (exit code 4). The local administrator is always allowed."""
    from domain import access
    from domain.errors import PermissionDeniedError

    p = lb.principal
    if p is access.LOCAL_ADMIN:
        return
    from lookback.scope import with_assigned

    with_assigned(lb, p, scope)  # whether the business is a cadre's own
    try:
        access.authorize(p, action, **scope)
    except PermissionDeniedError as e:
        access.record_refusal(p, action=f"cli ({action.value})", target=target, reason=e.en,
                              uow_factory=lb.uow_factory(), clock=lb.clock)
        raise


def guard_visit(lb: App, action: Action, visit_id: int) -> None:
    """:func:`guard` for a visit (its campaign, team, business and region); an unknown visit
    is left to the command's own error."""
    if lb.principal.role == "admin" and not lb.principal.territory:
        return
    with lb.read_uow_factory()() as uow:
        v = uow.fieldwork.get_visit(visit_id)
    if v is not None:
        guard(lb, action, f"visit:{visit_id}", campaign_id=v.campaign_id, team=v.team_no,
              uscc=v.uscc, region=v.region_code)


def guard_issue(lb: App, action: Action, issue_id: int) -> None:
    """:func:`guard` for an issue (its campaign, its visit's team, business and region); an
    unknown issue is left to the command's own error."""
    if lb.principal.role == "admin" and not lb.principal.territory:
        return
    with lb.read_uow_factory()() as uow:
        i = uow.issues.get(issue_id)
        v = uow.fieldwork.get_visit(i.visit_id) if i is not None and i.visit_id else None
    if i is not None:
        guard(lb, action, f"issue:{issue_id}", campaign_id=i.campaign_id,
              team=v.team_no if v else None, uscc=i.uscc, region=i.region_code)


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
            if lb.settings.user:
                _may_run_as(lb, ctx, fn)
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


def _may_run_as(lb: App, ctx: typer.Context, fn: Callable[..., Any]) -> None:
    from domain.access import Action
    from domain.errors import BadArgumentError

    rule = getattr(fn, "__lookback_as__", None)
    name = ctx.command_path.removeprefix(ctx.find_root().info_name or "").strip()
    if rule is None:
        raise BadArgumentError(
            f"--as: `lookback {name}` runs only as the local administrator; run it without --as",
            f"--as：`lookback {name}`只能以本机管理员身份运行；请去掉--as", code="not_as_user")
    lb.principal  # noqa: B018  (an unknown or revoked user is refused here, for every command)
    if isinstance(rule, Action):
        guard(lb, rule, f"lookback {name}")


def _crash_log(lb: App, exc: BaseException) -> Path | str:
    try:
        folder = lb.data_dir / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{datetime.now(UTC):%Y%m%dT%H%M%S}.log"
        path.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        return path
    except OSError:
        return "stderr"





