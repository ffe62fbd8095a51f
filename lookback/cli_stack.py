"""`lookback up`, `down`, `status` and `deploy`: the local stack of Prefect server, worker, API
and scheduler (``lookback.stack``)."""

from __future__ import annotations

from typing import Annotated

import typer

from lookback.cli_base import state as _state
from lookback.output import Table


def up(
    ctx: typer.Context,
    prefect_port: Annotated[int, typer.Option("--prefect-port", help="Port of the Prefect "
                                              "server and its UI.")] = 4200,
    api_port: Annotated[int, typer.Option("--api-port", help="Port of the HTTP API.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes of the pool "
                                         "lookback.")] = 1,
    worker_limit: Annotated[int | None, typer.Option(
        "--worker-limit", help="Chunk runs of a notice batch each worker runs at once. Each "
        "worker then starts with --limit N+1 (one more slot for a batch's parent run, which "
        "waits while its chunks run) and a batch fans out over workers x N chunk runs. "
        "Default: --limit one per core, at least 2, and a batch fans out over all the slots "
        "but the one its parent run takes.")] = None,
) -> None:
    """Start the whole local stack — Prefect server with its UI, a worker of the process work
    pool `lookback`, the API and the scheduler — and supervise it until Ctrl-C or `lookback
    down`."""
    from domain.errors import BadArgumentError
    from lookback import stack

    lb, out = _state(ctx)
    if workers < 1:
        raise BadArgumentError("--workers must be at least 1", "--workers至少为1")
    if worker_limit is not None and worker_limit < 1:
        raise BadArgumentError("--worker-limit must be at least 1", "--worker-limit至少为1")
    lb.require_schema()
    lb.settings.data_dir = lb.settings.data_dir.expanduser().resolve()
    lb.data_dir.mkdir(parents=True, exist_ok=True)
    args = ["--db", lb.database_url, "--data-dir", str(lb.data_dir)]
    if lb.settings.now is not None:
        args += ["--now", lb.settings.now.isoformat()]
    sup = stack.Supervisor(database_url=lb.database_url, data_dir=lb.data_dir,
                           prefect_port=prefect_port, api_port=api_port, cli_args=args,
                           say=out.note, workers=workers, worker_limit=worker_limit)
    state = sup.start()
    if out.json_mode:
        out.emit({"ok": True, **state.as_dict()})
    else:
        out.say(f"Lookback stack up: Prefect UI {state.ui_url}, API http://127.0.0.1:{api_port}, "
                f"worker pool {stack.POOL}, scheduler; logs in {lb.data_dir / 'logs'}. Ctrl-C "
                "or `lookback down` stops it.",
                f"Lookback服务栈已启动：Prefect界面{state.ui_url}，接口http://127.0.0.1:{api_port}，"
                f"工作池{stack.POOL}，调度器；日志在{lb.data_dir / 'logs'}。按Ctrl-C或运行"
                "`lookback down`停止。")
    sup.supervise()
    out.note("Lookback stack stopped.", "Lookback服务栈已停止。")


def down(ctx: typer.Context) -> None:
    """Stop the stack started by `lookback up` for this data folder."""
    from lookback import stack

    lb, out = _state(ctx)
    stopped = stack.down(lb.data_dir.expanduser().resolve())
    if out.json_mode:
        out.emit({"ok": True, "stopped": stopped is not None})
    elif stopped is None:
        out.say("No Lookback stack runs for this data folder.", "此数据目录没有运行中的服务栈。")
    else:
        out.say(f"Stopped the stack (supervisor {stopped.supervisor}).",
                f"已停止服务栈（监护进程{stopped.supervisor}）。")


def status(ctx: typer.Context) -> None:
    """Each part of the stack, its URL and whether it is healthy."""
    from lookback import stack

    lb, out = _state(ctx)
    state = stack.read_state(lb.data_dir.expanduser().resolve())
    parts = [] if state is None else [
        {"name": p.name, "pid": p.pid, "url": p.url, "running": stack.alive(p.pid),
         "healthy": stack.alive(p.pid) and stack.healthy(p.health), "restarts": p.restarts}
        for p in state.parts]
    ok = state is not None and all(p["healthy"] for p in parts)
    if out.json_mode:
        out.emit({"ok": True, "up": state is not None, "healthy": ok,
                  "prefect_api_url": state.prefect_api_url if state else None,
                  "parts": parts})
    elif state is None:
        out.say("No Lookback stack runs for this data folder (`lookback up` starts one).",
                "此数据目录没有运行中的服务栈（`lookback up`可启动）。")
    else:
        t = out.t
        table = Table(title=t(f"Lookback stack (supervisor {state.supervisor})",
                              f"Lookback服务栈（监护进程{state.supervisor}）"))
        for col in (t("part", "部分"), "pid", "URL", t("healthy", "健康"),
                    t("restarts", "重启")):
            table.add_column(col)
        for p in parts:
            table.add_row(str(p["name"]), str(p["pid"]), str(p["url"]),
                          t("yes", "是") if p["healthy"] else t("NO", "否"), str(p["restarts"]))
        out.out.print(table)
    if state is not None and not ok:
        raise typer.Exit(1)


def deploy(ctx: typer.Context) -> None:
    """Register the work pool `lookback`, the deployments launch-campaign, issue-notices,
    render-notices and lookback-review, and the automation that marks a run CRASHED when its
    heartbeats stop, on the Prefect server of PREFECT_API_URL (one `lookback up` did not start)."""
    import os

    from domain.errors import BadArgumentError
    from lookback import prefect_runtime, stack

    _, out = _state(ctx)
    url = prefect_runtime.server_url() or os.environ.get("PREFECT_API_URL")
    if not url:
        raise BadArgumentError("set PREFECT_API_URL to the Prefect server to deploy to",
                               "请将PREFECT_API_URL设为要部署到的Prefect服务")
    names = stack.register_deployments(url)
    if out.json_mode:
        out.emit({"ok": True, "prefect_api_url": url, "work_pool": stack.POOL,
                  "deployments": names, "automation": stack.CRASH_AUTOMATION})
    else:
        out.say(f"Work pool {stack.POOL} and deployments {', '.join(names)} registered on {url}, "
                "with the automation that marks a run CRASHED when its heartbeats stop. Start a "
                "worker with: python -m lookback.worker --pool lookback (with "
                "LOOKBACK_DATABASE_URL in its environment).",
                f"已在{url}注册工作池{stack.POOL}及部署{'、'.join(names)}，以及心跳中断即将运行"
                "标记为崩溃的自动化规则。启动工作进程：python -m lookback.worker --pool lookback"
                "（其环境中须有LOOKBACK_DATABASE_URL）。")
