"""The `lookback` command line: global options, error handling, init, and the command groups.

A command loads only what it uses: the root names every group with its help text, and only the
group that is run is imported (``lookback --help`` imports none; ``lookback issue show`` only the
fieldwork commands and the storage they read). ``app`` — the whole command line, every group
loaded — is built on first use, for tests and for ``python -m lookback.cli``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from lookback.settings import Lang

#: Every command group: name → (module, attribute, help). The help is here, not in the module,
#: so that the root's help needs no module loaded.
GROUPS: dict[str, tuple[str, str, str]] = {
    "registry": ("lookback.cli_registry", "registry_app",
                 "Business, cadre and inspector registers (主体、包保干部、督查人员名录)."),
    "campaign": ("lookback.cli_campaign", "campaign_app",
                 "Campaigns (督查): create from a plan, launch, show, list."),
    "draw": ("lookback.cli_campaign", "draw_app",
             "The double-random draw (双随机一公开): show, export, verify, extend, size."),
    "visit": ("lookback.cli_fieldwork", "visit_app", "Visits (实地督查): list, complete."),
    "interview": ("lookback.cli_fieldwork", "interview_app", "Interviews (谈话): record."),
    "issue": ("lookback.cli_fieldwork", "issue_app",
              "Issues (问题): add, provisions, rectify, extend, show, list."),
    "fieldwork": ("lookback.cli_fieldwork", "fieldwork_app",
                  "Bulk import of teams' interview answers."),
    "checklist": ("lookback.cli_fieldwork", "checklist_app",
                  "Interview checklists per role (检查清单)."),
    "calendar": ("lookback.cli_calendar", "calendar_app",
                 "Working days under China's official calendar (工作日)."),
    "notices": ("lookback.cli_notices", "notices_app",
                "Numbered PDF notices (文书): issue, list, show, void, verify."),
    "audit": ("lookback.cli_fieldwork", "audit_app", "The hash-chained event log (审计日志)."),
    "followup": ("lookback.cli_followup", "followup_app",
                 "Look-back checks (回头看/复查): sweep, list, record, case, show."),
    "scheduler": ("lookback.cli_followup", "scheduler_app",
                  "The follow-up scheduler: run, status."),
    "users": ("lookback.cli_api", "users_app", "API users and their tokens: add, revoke, list."),
    "office": ("lookback.cli_office", "office_app",
               "Food-safety offices (食品安全办) by level and territory: add, import, list, show."),
    "supervision": ("lookback.cli_supervision", "supervision_app",
                    "Routine supervision by assigned officials (包保督导): open, record, list, "
                    "rates."),
}
#: Single commands: name → (module, function, help).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("lookback.cli_api", "serve",
              "Run the HTTP API (FastAPI under uvicorn); OpenAPI docs at /docs."),
    "up": ("lookback.cli_stack", "up",
           "Start and supervise the local stack: Prefect server and UI, a worker, the API and "
           "the scheduler."),
    "down": ("lookback.cli_stack", "down", "Stop the stack that `lookback up` started."),
    "status": ("lookback.cli_stack", "status",
               "Each part of the running stack, its URL and whether it is healthy."),
    "deploy": ("lookback.cli_stack", "deploy",
               "Register the work pool and the flows' deployments on a Prefect server."),
    "rollup": ("lookback.cli_rollup", "rollup",
               "An office's figures per region below it: coverage, staffing, supervision, "
               "issues, rectification and on-time rates (汇总)."),
    "backup": ("lookback.cli_backup", "backup",
               "Write one archive of the database, the evidence and the data files, with a "
               "manifest of SHA-256s."),
    "restore": ("lookback.cli_backup", "restore",
                "Restore an archive from `lookback backup`, checking every file and the event "
                "chain."),
    "demo": ("lookback.cli_demo", "demo",
             "Build a complete demo in a new folder: registers, a campaign launched through "
             "Prefect, fieldwork, notices, look-backs and a summary (SQLite, no server)."),
}


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
    as_user: Annotated[str | None, typer.Option(
        "--as", help="Act as this user (LOOKBACK_USER): their role, office and territory apply "
        "to what is listed and done, and the event log names them. Without it, the command "
        "line acts as the local administrator, who may do everything.")] = None,
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
    from domain.errors import BadArgumentError, LookbackError
    from lookback.bootstrap import bootstrap
    from lookback.output import Output
    from lookback.settings import get_settings, parse_instant, parse_server

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
        if as_user is not None:
            update["user"] = as_user.strip() or None
        if server is not None:
            update["server"] = parse_server(server)
        if token is not None:
            from pydantic import SecretStr

            update["token"] = SecretStr(token)
        if token_file is not None:
            from pydantic import SecretStr

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
    from domain.errors import BadArgumentError

    try:
        text = path.read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise BadArgumentError(f"--token-file {path}: cannot be read ({e.__class__.__name__})",
                               f"--token-file {path}：无法读取", code="bad_token_file") from None
    if not text or not text[0].strip():
        raise BadArgumentError(f"--token-file {path}: the file is empty",
                               f"--token-file {path}：文件为空", code="bad_token_file")
    return text[0].strip()


def init(ctx: typer.Context,
         prefect_only: Annotated[bool, typer.Option(
             "--prefect-only", help="Only prepare Prefect's local database (what the "
             "bootstrap runs); touch no Lookback database.")] = False) -> None:
    """Create or upgrade the database, load the region codes and prepare Prefect's local
    database for flows (safe to run twice)."""
    from lookback import prefect_runtime
    from lookback.cli_base import state
    from storage import migrate
    from storage.regions import load_regions, snapshot_source

    lb, out = state(ctx)
    prefect = prefect_runtime.prepare(out)
    server = prefect_runtime.server_url() if prefect == "server" else None
    prefect_en = {"server": f"Prefect: the server at {server}",
                  "ready": "Prefect's local database was ready",
                  "prepared": "Prefect's local database prepared"}[prefect]
    prefect_zh = {"server": f"Prefect：使用服务{server}",
                  "ready": "Prefect本地数据库已就绪", "prepared": "Prefect本地数据库已准备"}[prefect]
    if prefect_only:
        if out.json_mode:
            out.emit({"ok": True, "prefect": prefect})
        else:
            out.say(prefect_en + ".", prefect_zh + "。")
        return
    before, after = migrate.upgrade(lb.engine)
    n = load_regions(lb.uow_factory())
    lb.data_dir.mkdir(parents=True, exist_ok=True)
    if out.json_mode:
        out.emit({"ok": True, "database": lb.database_label, "revision_before": before,
                  "revision": after, "regions": n, "regions_source": snapshot_source(),
                  "data_dir": str(lb.data_dir), "prefect": prefect})
        return
    if before == after:
        out.say(f"Database {lb.database_label} is up to date (revision {after}).",
                f"数据库{lb.database_label}已是最新（版本{after}）。")
    else:
        out.say(f"Database {lb.database_label} upgraded from {before or 'empty'} to {after}.",
                f"数据库{lb.database_label}已从{before or '空库'}升级到{after}。")
    out.say(f"{n} regions loaded (GB/T 2260 snapshot). Data folder: {lb.data_dir}. "
            f"{prefect_en}.",
            f"已载入{n}个行政区划（GB/T 2260快照）。数据目录：{lb.data_dir}。{prefect_zh}。")


def build(only: str | None = None) -> typer.Typer:
    """The command line with every group loaded, or (``only``) just that one; the others are
    named with their help but not loaded (a placeholder that is never run)."""
    import importlib

    from lookback.cli_base import command

    root = typer.Typer(
        name="lookback",
        help="Lookback: food-safety inspection campaigns and their look-back follow-ups "
        "(督查与回头看).",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    root.callback()(main_options)
    root.command(help=init.__doc__)(command(init))
    for name, (module, attr, help_text) in GROUPS.items():
        if only is None or only == name:
            group = getattr(importlib.import_module(module), attr)
        else:
            group = typer.Typer()
        root.add_typer(group, name=name, help=help_text)
    for name, (module, attr, help_text) in COMMANDS.items():
        if only is None or only == name:
            root.command(name, help=help_text)(command(getattr(importlib.import_module(module),
                                                               attr)))
        else:
            root.command(name, help=help_text)(_placeholder)
    return root


def _placeholder() -> None:  # pragma: no cover - stands for a command that is not loaded
    raise AssertionError("a command that was not loaded ran")


_whole: typer.Typer | None = None


def __getattr__(name: str) -> Any:
    """``app``: the whole command line, built on first use."""
    global _whole
    if name == "app":
        if _whole is None:
            _whole = build()
        return _whole
    raise AttributeError(name)


def command_name(args: list[str]) -> str | None:
    """The group or command that ``args`` (globals hoisted first) run, if any."""
    i = 0
    while i < len(args):
        a = args[i]
        if a in _GLOBAL_VALUED:
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        return a if a in GROUPS or a in COMMANDS or a == "init" else None
    return None


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
    name = command_name(sys.argv[1:])
    build(name if name is not None else "").__call__()


if __name__ == "__main__":
    main()
