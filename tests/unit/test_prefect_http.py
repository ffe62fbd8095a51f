"""The REST client a command submits runs with: a busy server is tried again with the same
idempotency key (so a retry never makes a second run), a refusal is an error, results come from
the run's artifact."""

from __future__ import annotations

import json

import httpx
import pytest

from lookback import prefect_http
from lookback.prefect_http import PrefectAPI, PrefectHTTPError


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prefect_http.time, "sleep", lambda _s: None)


def test_a_busy_server_is_tried_again_with_the_same_idempotency_key() -> None:
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/deployments/name/launch-campaign/launch-campaign"):
            return httpx.Response(200, json={"id": "dep-1"})
        body = json.loads(request.content)
        keys.append(body["idempotency_key"])
        assert body["parameters"] == {"campaign_id": 7} and body["state"]["type"] == "SCHEDULED"
        if len(keys) < 3:
            return httpx.Response(503, json={"exception_message": "Service Unavailable"})
        return httpx.Response(201, json={"id": "run-1", "name": "brave-otter",
                                         "state": {"type": "SCHEDULED", "name": "Scheduled"}})

    with PrefectAPI("http://prefect.test/api", transport=httpx.MockTransport(handler)) as api:
        run = api.submit("launch-campaign/launch-campaign", {"campaign_id": 7})
    assert (run.id, run.name, run.state_type) == ("run-1", "brave-otter", "SCHEDULED")
    assert len(keys) == 3 and len(set(keys)) == 1


def test_a_refusal_or_a_server_that_stays_busy_is_an_error() -> None:
    with PrefectAPI("http://prefect.test/api", transport=httpx.MockTransport(
            lambda r: httpx.Response(404, json={"detail": "Deployment not found"}))) as api, \
            pytest.raises(PrefectHTTPError, match="404"):
        api.submit("nope/nope", {})
    calls = []

    def busy(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503)

    with PrefectAPI("http://prefect.test/api", transport=httpx.MockTransport(busy)) as api, \
            pytest.raises(PrefectHTTPError, match="503"):
        api.read("run-1")
    assert len(calls) == prefect_http.RETRIES + 1


def test_wait_polls_until_a_final_state_and_the_result_is_the_runs_artifact() -> None:
    states = iter(["PENDING", "RUNNING", "COMPLETED"])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/artifacts/filter"):
            query = json.loads(request.content)
            assert query["artifacts"]["flow_run_id"] == {"any_": ["run-1"]}
            assert query["artifacts"]["type"] == {"any_": ["lookback-result"]}
            return httpx.Response(200, json=[{"type": "lookback-result",
                                              "data": json.dumps({"issued": 3})}])
        kind = next(states)
        return httpx.Response(200, json={"id": "run-1", "name": "r",
                                         "state": {"type": kind, "name": kind.title()}})

    with PrefectAPI("http://prefect.test/api", transport=httpx.MockTransport(handler)) as api:
        run = api.wait("run-1", poll=0, max_poll=0)
        assert run.state_type == "COMPLETED" and run.final
        assert api.result("run-1") == {"issued": 3}


def test_the_artifact_type_is_the_one_flows_write() -> None:
    from flows.wiring import RESULT_ARTIFACT

    assert prefect_http.RESULT_ARTIFACT == RESULT_ARTIFACT
