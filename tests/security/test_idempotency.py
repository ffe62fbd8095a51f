"""A write retried with the same Idempotency-Key happens once.

Found: five concurrent identical ``POST /visits/56/issues`` created five issues. Through the API:
tests/e2e/test_api_access.py (``test_a_write_retried_with_the_same_idempotency_key_happens_once``);
the client's keys: tests/unit/test_client.py. Here the store of keys itself.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import idempotency as idem
from storage import migrate
from storage.db import make_engine

T = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


def test_claim_replay_mismatch_busy_stale_and_expiry(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate.upgrade(engine)
    assert idem.claim(engine, "tok", "k1", "req-a", T).outcome == "new"
    assert idem.claim(engine, "tok", "k1", "req-a", T).outcome == "busy"  # still running
    assert idem.claim(engine, "tok", "k1", "req-b", T).outcome == "mismatch"
    assert idem.claim(engine, "other-token", "k1", "req-b", T).outcome == "new"  # per token
    idem.complete(engine, "tok", "k1", status=201, body=b'{"id": 7}',
                  content_type="application/json", etag='"1"')
    got = idem.claim(engine, "tok", "k1", "req-a", T + timedelta(hours=1))
    assert (got.outcome, got.status, got.body, got.etag) == ("replay", 201, b'{"id": 7}', '"1"')
    # A failed request's key is forgotten, so it may be retried.
    assert idem.claim(engine, "tok", "k2", "req-c", T).outcome == "new"
    idem.release(engine, "tok", "k2")
    assert idem.claim(engine, "tok", "k2", "req-c", T).outcome == "new"
    # One left "running" by a crash is taken over after a while; all expire after 24 h.
    assert idem.claim(engine, "tok", "k2", "req-c", T + timedelta(minutes=10)).outcome == "new"
    assert idem.claim(engine, "tok", "k1", "req-z", T + timedelta(hours=25)).outcome == "new"
