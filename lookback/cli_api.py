"""`lookback serve` (the HTTP API under uvicorn) and `lookback users` (API users and tokens)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from domain import access
from domain.access import Action
from lookback.cli_base import as_user
from lookback.cli_base import command as _command
from lookback.cli_base import state as _state
from lookback.output import Table, page

users_app = typer.Typer(no_args_is_help=True)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes (SQLite: keep "
                                         "1).")] = 1,
    ssl_certfile: Annotated[Path | None, typer.Option(
        "--ssl-certfile", help="Serve HTTPS with this certificate (PEM); sends HSTS.")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(
        "--ssl-keyfile", help="The certificate's private key (PEM).")] = None,
    forwarded_allow_ips: Annotated[str, typer.Option(
        "--forwarded-allow-ips", help="Reverse proxies whose X-Forwarded-For/-Proto are "
        "trusted (comma-separated addresses, or * behind a private network only).")]
    = "127.0.0.1",
) -> None:
    """Run the HTTP API (FastAPI under uvicorn); OpenAPI docs at /docs."""
    import uvicorn

    from domain.errors import BadArgumentError
    from lookback.api.app import create_app

    lb, out = _state(ctx)
    lb.require_schema()
    if not 0 < port < 65536:
        raise BadArgumentError("--port must be between 1 and 65535", "--port应在1至65535之间")
    if workers != 1:
        raise BadArgumentError("--workers: run several `lookback serve` processes behind a "
                               "reverse proxy instead", "--workers：请在反向代理后运行多个"
                               "`lookback serve`进程")
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise BadArgumentError("give --ssl-certfile and --ssl-keyfile together",
                               "--ssl-certfile与--ssl-keyfile须同时给出")
    for opt, f in (("--ssl-certfile", ssl_certfile), ("--ssl-keyfile", ssl_keyfile)):
        if f is not None and not f.is_file():
            raise BadArgumentError(f"{opt} {f}: no such file", f"{opt} {f}：文件不存在")
    # Resolved once, absolutely: evidence and PDFs stay found whatever the working folder.
    lb.settings.data_dir = lb.settings.data_dir.expanduser().resolve()
    scheme = "https" if ssl_certfile else "http"
    out.note(f"Lookback API on {scheme}://{host}:{port} (docs: /docs), database "
             f"{lb.database_label}, data folder {lb.settings.data_dir}",
             f"Lookback接口：{scheme}://{host}:{port}（文档：/docs），数据库{lb.database_label}，"
             f"数据目录{lb.settings.data_dir}")
    app = create_app(lb)
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True,
                forwarded_allow_ips=forwarded_allow_ips,
                ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
                ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None)


@users_app.command("add")
@_command
@as_user(Action.ADMIN)
def users_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name (no spaces).")],
    role: Annotated[str, typer.Option("--role", help="planner, auditor, office, business, "
                                      "cadre, viewer or admin.")],
    team: Annotated[int | None, typer.Option("--team", help="An auditor's team number.")] = None,
    campaign: Annotated[int | None, typer.Option("--campaign", help="An auditor's campaign "
                                                 "(default: their team in any campaign).")] = None,
    business: Annotated[str | None, typer.Option("--business", help="A business user's USCC.")]
    = None,
    office: Annotated[str | None, typer.Option(
        "--office", help="The user's office (name or id): a planner, office or viewer user sees "
        "and acts only within its territory (default: no office, the whole country).")] = None,
    cadre: Annotated[str | None, typer.Option(
        "--cadre", help="A cadre user's id in the cadre register (包保干部): they see the "
        "businesses assigned to them and record their own supervision visits.")] = None,
) -> None:
    """Add an API user and print its token once (only its SHA-256 is stored)."""
    lb, out = _state(ctx)
    lb.require_schema()
    from domain import auth

    p, token = access.add_user(name, role, team=team, campaign_id=campaign, uscc=business,
                               actor=lb.actor, uow_factory=lb.uow_factory(), clock=lb.clock,
                               office=office, cadre_id=cadre)
    password = auth.set_initial_password(p.id, p.name, actor=lb.actor, hasher=lb.hasher,
                                         uow_factory=lb.uow_factory(), clock=lb.clock)
    if out.json_mode:
        out.emit({"ok": True, **p.as_dict(), "token": token, "initial_password": password})
        return
    out.say(f"User {p.name} ({p.role.value}) added. Its API token and its one-time password "
            "(to be changed at the first log-in), shown only this once:",
            f"已添加用户{p.name}（{access.ROLE_ZH[p.role]}）。其接口令牌与一次性密码（首次登录时须修改）"
            "仅显示这一次：")
    out.out.print(f"token:    {token}", markup=False)
    out.out.print(f"password: {password}", markup=False)


@users_app.command("reset-password")
@_command
@as_user(Action.ADMIN)
def users_reset_password(ctx: typer.Context,
                         name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Reset a user's password (administrator): prints a one-time password, to be changed at
    the next log-in; unlocks the account and ends its open sessions."""
    from domain import auth

    lb, out = _state(ctx)
    lb.require_schema()
    password = auth.reset_password(name, actor=lb.actor, hasher=lb.hasher,
                                   uow_factory=lb.uow_factory(), clock=lb.clock)
    if out.json_mode:
        out.emit({"ok": True, "name": name, "one_time_password": password})
        return
    out.say(f"Password of {name} reset; the one-time password, shown only this once (to be "
            "changed at the next log-in):", f"已重置{name}的密码；一次性密码仅显示这一次（下次登录时须修改）：")
    out.out.print(password, markup=False)


@users_app.command("revoke")
@_command
@as_user(Action.ADMIN)
def users_revoke(ctx: typer.Context,
                 name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Revoke a user's token: every request with it gets 401 from now on."""
    lb, out = _state(ctx)
    lb.require_schema()
    access.revoke_user(name, actor=lb.actor, uow_factory=lb.uow_factory(), clock=lb.clock)
    if out.json_mode:
        out.emit({"ok": True, "name": name, "revoked": True})
        return
    out.say(f"User {name} revoked.", f"已撤销用户{name}。")


@users_app.command("list")
@_command
@as_user(Action.ADMIN)
def users_list(ctx: typer.Context) -> None:
    """API users, their roles and scopes (never their tokens)."""
    lb, out = _state(ctx)
    lb.require_schema()
    with lb.read_uow_factory()() as uow:
        users = uow.users.all()
    if out.json_mode:
        out.emit({"ok": True, **page([
            {**u.principal.as_dict(), "created_at": u.created_at.isoformat(),
             "revoked_at": u.revoked_at.isoformat() if u.revoked_at else None} for u in users],
            len(users))})
        return
    t = Table(title=out.t(f"API users ({len(users)})", f"接口用户（{len(users)}）"))
    for h in (out.t("name", "用户"), out.t("role", "角色"), out.t("team", "组"),
              out.t("campaign", "督查"), out.t("business", "主体"), out.t("office", "食安办"),
              out.t("cadre", "包保干部"), out.t("revoked", "已撤销")):
        t.add_column(h)
    for u in users:
        p = u.principal
        t.add_row(p.name, p.role.value, str(p.team or ""), str(p.campaign_id or ""),
                  p.uscc or "", str(p.office_id or ""), p.cadre_id or "",
                  u.revoked_at.strftime("%Y-%m-%d") if u.revoked_at else "")
    out.out.print(t)
