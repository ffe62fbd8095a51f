"""The `lookback` command line: global options, error handling, init and demo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr

from domain.errors import BadArgumentError, LookbackError
from lookback.bootstrap import bootstrap
from lookback.cli_base import EXIT_INTERNAL, command, state  # noqa: F401  (re-exported)
from lookback.output import Output
from lookback.settings import Lang, get_settings, parse_instant, parse_server

app = typer.Typer(
    name="lookback",
    help="Lookback: food-safety inspection campaigns and their look-back follow-ups "
    "(督查与回头看).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

@app.callback()
def main_options(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option("--db", help="Database URL or SQLite file "
                                           "(LOOKBACK_DATABASE_URL).")] = None,
    now: Annotated[str | None, typer.Option("--now", help="Pretend it is this ISO date-time "
                                            "(LOOKBACK_NOW).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    lang: Annotated[str | None, typer.Option("--lang", help="Message language: zh or en "
                                             "(LOOKBACK_LANG).")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Folder for PDFs, evidence "
                                                  "and reports (LOOKBACK_DATA_DIR).")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Who is acting, for the event log "
                                              "(LOOKBACK_ACTOR; default cli:<login>).")] = None,
    server: Annotated[str | None, typer.Option("--server", help="Work through this Lookback "
                                               "API (e.g. http://127.0.0.1:8000) instead of the "
                                               "database (LOOKBACK_SERVER).")] = None,
    token: Annotated[str | None, typer.Option("--token", help="The API token for --server "
                                              "(LOOKBACK_TOKEN; prefer it or --token-file: "
                                              "a --token shows in `ps`).")] = None,
    token_file: Annotated[Path | None, typer.Option("--token-file", help="Read the API token "
                                                    "for --server from this file.")] = None,
) -> None:
    """Global options apply to every command."""
    out = Output("en" if lang == "en" else "zh", json_mode=json_out)
    try:
        if lang is not None and lang not in ("en", "zh"):
            raise BadArgumentError(f"--lang: {lang!r} is not one of en, zh",
                                   f"--lang：“{lang}”不是en或zh")
        settings = get_settings()
        update: dict[str, Any] = {}
        if db is not None:
            update["database_url"] = db
        if now is not None:
            update["now"] = parse_instant(now, source="--now")
        if data_dir is not None:
            update["data_dir"] = data_dir
        if lang is not None:
            update["lang"] = lang
        if actor is not None:
            update["actor"] = actor
        if server is not None:
            update["server"] = parse_server(server)
        if token is not None:
            update["token"] = SecretStr(token)
        if token_file is not None:
            update["token"] = SecretStr(read_token_file(token_file))
        settings = settings.model_copy(update=update)
    except LookbackError as e:
        fallback = os.environ.get("LOOKBACK_LANG", "zh")
        out.lang = lang if lang in ("en", "zh") else fallback if fallback in ("en", "zh") else "zh"  # type: ignore[assignment]
        out.error(e.en, e.zh, code=e.code)
        raise typer.Exit(e.exit_code) from None
    chosen: Lang = settings.lang
    out.lang = chosen
    ctx.obj = {"app": bootstrap(settings, lang=chosen, json=json_out), "out": out}


def read_token_file(path: Path) -> str:
    """The token in ``path`` (its first line), or a clear error naming the file."""
    try:
        text = path.read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise BadArgumentError(f"--token-file {path}: cannot be read ({e.__class__.__name__})",
                               f"--token-file {path}：无法读取", code="bad_token_file") from None
    if not text or not text[0].strip():
        raise BadArgumentError(f"--token-file {path}: the file is empty",
                               f"--token-file {path}：文件为空", code="bad_token_file")
    return text[0].strip()


@app.command()
@command
def init(ctx: typer.Context) -> None:
    """Create or upgrade the database and load the region codes (safe to run twice)."""
    from storage import migrate
    from storage.regions import load_regions, snapshot_source

    lb, out = state(ctx)
    before, after = migrate.upgrade(lb.engine)
    n = load_regions(lb.uow_factory())
    lb.data_dir.mkdir(parents=True, exist_ok=True)
    if out.json_mode:
        out.emit({"ok": True, "database": lb.database_label, "revision_before": before,
                  "revision": after, "regions": n, "regions_source": snapshot_source(),
                  "data_dir": str(lb.data_dir)})
        return
    if before == after:
        out.say(f"Database {lb.database_label} is up to date (revision {after}).",
                f"数据库{lb.database_label}已是最新（版本{after}）。")
    else:
        out.say(f"Database {lb.database_label} upgraded from {before or 'empty'} to {after}.",
                f"数据库{lb.database_label}已从{before or '空库'}升级到{after}。")
    out.say(f"{n} regions loaded (GB/T 2260 snapshot). Data folder: {lb.data_dir}",
            f"已载入{n}个行政区划（GB/T 2260快照）。数据目录：{lb.data_dir}")


def _register_subcommands() -> None:
    from lookback.cli_api import serve, users_app
    from lookback.cli_backup import backup, restore
    from lookback.cli_calendar import calendar_app
    from lookback.cli_campaign import campaign_app, draw_app
    from lookback.cli_demo import demo
    from lookback.cli_fieldwork import (
        audit_app,
        checklist_app,
        fieldwork_app,
        interview_app,
        issue_app,
        visit_app,
    )
    from lookback.cli_followup import followup_app, scheduler_app
    from lookback.cli_notices import notices_app
    from lookback.cli_registry import registry_app
    from lookback.cli_supervision import supervision_app

    app.add_typer(registry_app, name="registry", help="Business, cadre and inspector registers "
                  "(主体、包保干部、督查人员名录).")
    app.add_typer(campaign_app, name="campaign", help="Campaigns (督查): create from a plan, "
                  "launch, show, list.")
    app.add_typer(draw_app, name="draw", help="The double-random draw (双随机一公开): show, export, "
                  "verify, extend, size.")
    app.add_typer(visit_app, name="visit", help="Visits (实地督查): list, complete.")
    app.add_typer(interview_app, name="interview", help="Interviews (谈话): record.")
    app.add_typer(issue_app, name="issue", help="Issues (问题): add, rectify, extend, show, list.")
    app.add_typer(fieldwork_app, name="fieldwork", help="Bulk import of teams' interview answers.")
    app.add_typer(checklist_app, name="checklist", help="Interview checklists per role (检查清单).")
    app.add_typer(calendar_app, name="calendar", help="Working days under China's official "
                  "calendar (工作日).")
    app.add_typer(notices_app, name="notices", help="Numbered PDF notices (文书): issue, list, "
                  "show, void, verify.")
    app.add_typer(audit_app, name="audit", help="The hash-chained event log (审计日志).")
    app.add_typer(followup_app, name="followup", help="Look-back checks (回头看/复查): sweep, "
                  "list, record, case, show.")
    app.add_typer(scheduler_app, name="scheduler", help="The follow-up scheduler: run, status.")
    app.add_typer(users_app, name="users", help="API users and their tokens: add, revoke, list.")
    app.command("serve")(command(serve))
    app.add_typer(supervision_app, name="supervision", help="Routine supervision by assigned officials (包保督导): open, record, list, rates.")
    app.command(name="demo")(command(demo))
    app.command(name="backup")(command(backup))
    app.command(name="restore")(command(restore))


_register_subcommands()


_GLOBAL_FLAGS = ("--json",)
_GLOBAL_VALUED = ("--db", "--now", "--lang", "--data-dir", "--actor", "--server", "--token",
                  "--token-file")


def hoist_globals(args: list[str]) -> list[str]:
    """Let global options stand anywhere (``lookback draw show 1 --json``): move them before
    the command, where Typer expects them. Everything after ``--`` is left alone."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            rest += args[i:]
            break
        if a in _GLOBAL_FLAGS:
            front.append(a)
        elif a in _GLOBAL_VALUED and i + 1 < len(args):
            front += [a, args[i + 1]]
            i += 1
        elif any(a.startswith(f"{opt}=") for opt in _GLOBAL_VALUED):
            front.append(a)
        else:
            rest.append(a)
        i += 1
    return front + rest


def main() -> None:
    import sys

    sys.argv[1:] = hoist_globals(sys.argv[1:])
    app()


if __name__ == "__main__":
    main()
