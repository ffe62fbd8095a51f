"""Lookback's worker: its flow runs are forked from a warm fork server, Lookback's flows only."""

from __future__ import annotations

import multiprocessing

from lookback import stack, worker


def test_prefect_asking_for_spawn_gets_the_warm_fork_server() -> None:
    shim = worker._WarmMultiprocessing()
    assert shim.get_context("spawn").get_start_method() == "forkserver"
    assert shim.get_context("fork").get_start_method() == "fork"
    assert shim.Process is multiprocessing.Process  # everything else is the module's own


def test_the_fork_server_imports_every_deployed_flow_once() -> None:
    modules = {entry.rsplit(".", 1)[0] for entry in stack.DEPLOYMENTS.values()}
    assert modules <= set(worker.PRELOAD)
    assert "prefect.flow_engine" in worker.PRELOAD


def test_only_lookbacks_own_flows_take_the_warm_path() -> None:
    w = worker.LookbackWorker.__new__(worker.LookbackWorker)
    w._warm = True
    from flows.launch import launch_campaign

    assert w._lookback_flow("flows.launch.launch_campaign") is launch_campaign
    assert w._lookback_flow("somebody.else.flow") is None
    assert w._lookback_flow(None) is None
    w._warm = False  # a Prefect without run_flow_in_subprocess: the ordinary path
    assert w._lookback_flow("flows.launch.launch_campaign") is None
