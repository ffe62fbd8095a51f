"""Submitting a run of a deployment and waiting for it over Prefect's REST API, with httpx alone.

A command that hands its flow to the workers does not import Prefect (about 1.1 s here, and as
much again at exit for its background services): it looks the deployment up, creates the flow
run, polls the run's state (often at first, then once a second) and reads the result the flow attached to its
run as a ``lookback-result`` artifact (``flows.wiring.publish_result``). The server's address is
``PREFECT_API_URL``; ``PREFECT_API_KEY`` (bearer) or ``PREFECT_API_AUTH_STRING`` (basic) are
sent when set, as Prefect's own client does.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

RESULT_ARTIFACT = "lookback-result"  # the artifact type flows.wiring.publish_result writes
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RETRY_STATUS = {429, 502, 503}
RETRIES = 6


class PrefectHTTPError(Exception):
    """The server refused a request or could not be reached."""


@dataclass(frozen=True)
class FlowRun:
    id: str
    name: str
    state_type: str
    state_name: str
    message: str

    @classmethod
    def of(cls, raw: dict[str, Any]) -> FlowRun:
        state = raw.get("state") or {}
        return cls(str(raw["id"]), str(raw.get("name") or ""), str(state.get("type") or
                                                                   "SCHEDULED"),
                   str(state.get("name") or "Scheduled"), str(state.get("message") or ""))

    @property
    def final(self) -> bool:
        return self.state_type in FINAL


def _headers() -> dict[str, str]:
    if key := os.environ.get("PREFECT_API_KEY"):
        return {"Authorization": f"Bearer {key}"}
    if auth := os.environ.get("PREFECT_API_AUTH_STRING"):
        return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
    return {}


class PrefectAPI:
    """The few calls a command needs, on one connection."""

    def __init__(self, api_url: str, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.http = httpx.Client(base_url=api_url.rstrip("/") + "/", headers=_headers(),
                                 timeout=timeout, transport=transport)

    def __enter__(self) -> PrefectAPI:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        """One request; a busy server (429, 502, 503: its database locked, say) or a dropped
        connection is tried again, up to 6 times in about 15 s, as Prefect's own client does.
        Every request here is safe to repeat (a new run carries an idempotency key)."""
        delay = 0.5
        for attempt in range(RETRIES + 1):
            try:
                r = self.http.request(method, path, json=body)
            except httpx.TransportError as e:
                if attempt == RETRIES:
                    raise PrefectHTTPError(f"{method} {path}: {e}") from e
            else:
                if r.status_code not in RETRY_STATUS or attempt == RETRIES:
                    break
                retry_after = r.headers.get("Retry-After", "")
                if retry_after.replace(".", "", 1).isdigit():
                    delay = min(10.0, float(retry_after))
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        if r.status_code >= 400:
            raise PrefectHTTPError(f"{method} {path}: HTTP {r.status_code} {r.text[:300]}")
        return r.json()

    def submit(self, deployment: str, parameters: dict[str, Any], *,
               tags: list[str] | None = None, idempotency_key: str | None = None) -> FlowRun:
        """A new run of ``deployment`` ("flow-name/deployment-name"), SCHEDULED now."""
        flow_name, name = deployment.split("/", 1)
        dep = self._call("GET", f"deployments/name/{flow_name}/{name}")
        body: dict[str, Any] = {"parameters": parameters, "state": {"type": "SCHEDULED"},
                                "tags": tags or [],
                                # a retried request finds the run the first one created
                                "idempotency_key": idempotency_key or str(uuid.uuid4())}
        return FlowRun.of(self._call("POST", f"deployments/{dep['id']}/create_flow_run", body))

    def read(self, run_id: str) -> FlowRun:
        return FlowRun.of(self._call("GET", f"flow_runs/{run_id}"))

    def wait(self, run_id: str, *, poll: float = 0.05, fast_for: float = 10.0,
             max_poll: float = 1.0, timeout: float | None = None) -> FlowRun:
        """The run once it reached a final state (or as it is at ``timeout`` seconds). It asks
        every ``poll`` seconds for the first ``fast_for`` seconds, then half again as long each
        time up to ``max_poll``: a short run is seen to end at once, a long one costs the server
        one request a second."""
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        while True:
            run = self.read(run_id)
            now = time.monotonic()
            if run.final or (deadline is not None and now >= deadline):
                return run
            time.sleep(poll)
            if now - start >= fast_for:
                poll = min(max_poll, poll * 1.5)

    def result(self, run_id: str) -> dict[str, Any] | None:
        """The result the run attached as its ``lookback-result`` artifact, if any."""
        found = self._call("POST", "artifacts/filter", {
            "artifacts": {"flow_run_id": {"any_": [run_id]}, "type": {"any_": [RESULT_ARTIFACT]}},
            "sort": "CREATED_DESC", "limit": 1})
        if not found:
            return None
        data = found[0].get("data")
        value = json.loads(data) if isinstance(data, str) else data
        return value if isinstance(value, dict) else None
