"""Lookback's worker: a Prefect process worker whose flow runs start warm.

Prefect's process worker starts every flow run as a new ``python -m prefect.engine``, which
imports Prefect, SQLAlchemy and Lookback's flows again and reads the flow back from its
deployment: about 2 s before the first line of a flow runs. For the four flows of the
``lookback`` work pool this worker instead forks each run from a *fork server* that imported
them once, when the worker started (``multiprocessing``'s forkserver start method; the server
is a single-threaded process, so forking it is safe). Everything else is the process worker's:
the work pool, its job template, the run's states, heartbeats, logs, cancellation and the
worker's ``--limit``. A run of a deployment whose entrypoint is not one of Lookback's flows
takes the process worker's ordinary path.

    python -m lookback.worker --pool lookback --limit 2 --name NAME

``lookback up`` and ``scripts/cluster.py`` start it; ``prefect worker start --type process``
still works on the same pool, only slower to start each run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import multiprocessing
import multiprocessing.context
import os
import warnings
from typing import Any

from prefect.client.schemas.objects import FlowRun
from prefect.flows import Flow
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker, ProcessWorkerResult

from lookback.stack import DEPLOYMENTS

#: Imported once by the fork server: the flows, Prefect's engine, the storage layer and the
#: PDF renderer (WeasyPrint), which every run would otherwise import anew.
PRELOAD = [
    "prefect.flow_engine",
    *sorted({entry.rsplit(".", 1)[0] for entry in DEPLOYMENTS.values()}),
    "storage.uow",
    "report_templates.render",
]


def _forkserver() -> multiprocessing.context.BaseContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


class _WarmMultiprocessing:
    """Stands in for the ``multiprocessing`` module inside ``prefect.flow_engine``: its
    ``run_flow_in_subprocess`` asks for the "spawn" context and gets the fork server's."""

    def get_context(self, method: str | None = None) -> multiprocessing.context.BaseContext:
        return _forkserver() if method == "spawn" else multiprocessing.get_context(method)

    def __getattr__(self, name: str) -> Any:
        return getattr(multiprocessing, name)


def _install() -> bool:
    """Route ``run_flow_in_subprocess`` through the fork server; False if this Prefect has no
    such function (then every run takes the process worker's ordinary path)."""
    import prefect.flow_engine as engine

    if not hasattr(engine, "run_flow_in_subprocess") or not hasattr(engine, "multiprocessing"):
        return False
    engine.multiprocessing = _WarmMultiprocessing()  # type: ignore[assignment]
    return True


# It takes the process worker's place (the same pool type) in this process: not news.
warnings.filterwarnings("ignore", message="Type 'LookbackWorker'", category=UserWarning)


class LookbackWorker(ProcessWorker):
    """The process worker, with Lookback's flows forked warm (see the module's docstring).

    One executor context (Prefect's API client, process manager, cancellation observer and
    control channel for the runs) serves every warm run of the worker, as Prefect's own runner
    shares one, instead of a new one per run."""

    _warm: bool = False
    _executors: Any = None

    def _lookback_flow(self, entrypoint: str | None) -> Flow[..., Any] | None:
        if not self._warm or entrypoint not in DEPLOYMENTS.values():
            return None
        module, name = entrypoint.rsplit(".", 1)
        flow: Flow[..., Any] = getattr(importlib.import_module(module), name)
        return flow

    async def setup(self) -> None:
        await super().setup()
        #: Each deployment's flow when it is one of Lookback's (None: the ordinary path).
        self._by_deployment: dict[Any, Flow[..., Any] | None] = {}
        if self._warm:
            from prefect.runner._flow_run_executor import FlowRunExecutorContext

            self._stack = contextlib.AsyncExitStack()
            self._executors = await self._stack.enter_async_context(FlowRunExecutorContext())

    async def teardown(self, *exc_info: Any) -> None:
        try:
            if self._executors is not None:
                await self._stack.aclose()
                self._executors = None
        finally:
            await super().teardown(*exc_info)

    async def run(self, flow_run: FlowRun, configuration: ProcessJobConfiguration,
                  task_status: Any = None) -> ProcessWorkerResult:
        flow = None
        if self._executors is not None and flow_run.deployment_id is not None:
            known = self._by_deployment
            if flow_run.deployment_id not in known:
                deployment = await self.client.read_deployment(flow_run.deployment_id)
                known[flow_run.deployment_id] = self._lookback_flow(deployment.entrypoint)
            flow = known[flow_run.deployment_id]
        if flow is None:
            return await super().run(flow_run, configuration, task_status)
        # As the run is now: the worker has labelled it and proposed PENDING since it was
        # polled, and the run's process starts from this copy (it does not read it again).
        flow_run = await self.client.read_flow_run(flow_run.id)
        return await self._run_warm(flow, flow_run, task_status)

    async def _resolve_flow(self, flow_run: FlowRun) -> Flow[..., Any]:
        """The flow of a warm run, for its hooks (on crash or cancellation)."""
        flow = self._by_deployment.get(flow_run.deployment_id)
        if flow is None:
            raise RuntimeError(f"flow run {flow_run.id} is not one of Lookback's")
        return flow

    async def _run_warm(self, flow: Flow[..., Any], flow_run: FlowRun,
                        task_status: Any) -> ProcessWorkerResult:
        import anyio
        from prefect.runner._starter_direct import DirectSubprocessStarter
        from prefect.settings import get_current_settings

        if task_status is None:
            task_status = anyio.TASK_STATUS_IGNORED
        ctx = self._executors
        starter = DirectSubprocessStarter(flow=flow,
                                          heartbeat_seconds=get_current_settings().flows
                                          .heartbeat_frequency,
                                          control_channel=ctx.control_channel)
        executor = ctx.create_executor(flow_run, starter, resolve_flow=self._resolve_flow,
                                       propose_submitting=False)
        execution: Any = None

        async def execute(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
            nonlocal execution
            execution = await executor.submit(task_status=task_status)

        async with anyio.create_task_group() as group:
            handle = await group.start(execute)
            if handle.pid is None:
                raise RuntimeError("Flow run process has no PID")
            task_status.started(handle.pid)
        if execution is None or execution.status_code is None:
            raise RuntimeError("Failed to start flow run process.")
        return ProcessWorkerResult(status_code=execution.status_code,
                                   identifier=str(execution.handle.pid))


async def _main(pool: str, limit: int | None, name: str | None) -> None:
    from prefect.settings import PREFECT_WORKER_HEARTBEAT_SECONDS

    warm = _install()
    if warm:
        _forkserver()  # the preload list, before the first run starts the server
    worker = LookbackWorker(name=name, work_pool_name=pool, limit=limit,
                            heartbeat_interval_seconds=int(PREFECT_WORKER_HEARTBEAT_SECONDS.value()))
    worker._warm = warm  # before start(): setup() opens the shared executor context
    try:
        await worker.start(printer=print)
    except asyncio.CancelledError:
        print(f"Worker {worker.name!r} stopped")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m lookback.worker", description=__doc__)
    ap.add_argument("--pool", default="lookback")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--name", default=None)
    args = ap.parse_args(argv)
    from prefect.utilities.processutils import setup_signal_handlers_worker

    # As `prefect worker start`: SIGTERM or Ctrl-C stop the worker, a second one kills it.
    setup_signal_handlers_worker(os.getpid(), "the Lookback worker", print)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.pool, args.limit, args.name))


if __name__ == "__main__":
    main()
