"""Making events: ``make_event`` (plain payloads copied instead of round-tripped through JSON, the
C encoder built once, the instant's text reused within a run) gives byte for byte the event the
straightforward construction gives — the same stored payload text, payload, previous hash and
hash — on payloads of every shape, and the hash is what ``verify_chain`` recomputes."""

from __future__ import annotations

import enum
import hashlib
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.events import GENESIS, Event, body, canonical_payload, make_event, verify_chain

_canonical = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                              default=str).encode
_plain = json.JSONEncoder(ensure_ascii=False, default=str).encode


def reference_event(seq: int, prev_hash: str, at: datetime, actor: str, kind: str, entity: str,
                    payload: Any) -> Event:
    """The construction as first written: every payload round-tripped through JSON, every part
    encoded on its own."""
    clean = json.loads(_plain(payload))
    text = _canonical(clean)
    event_body = (f'{{"actor":{_canonical(actor)},"at":{_canonical(at.isoformat())},'
                  f'"entity":{_canonical(entity)},"kind":{_canonical(kind)},"payload":{text},'
                  f'"seq":{int(seq)}}}')
    digest = hashlib.sha256((prev_hash + event_body).encode()).hexdigest()
    return Event(seq, at, actor, kind, entity, clean, prev_hash, digest, text)


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-2**70,
                                                                        max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["", "现场检查发现问题", "é\n\t\"\\", "\u2028", "\x00", "-0"])
           | st.dates() | st.datetimes(timezones=st.just(UTC) | st.none())
           | st.decimals(allow_nan=False, places=2) | st.sampled_from([Colour.RED, Level.HIGH]))
keys = (st.text(max_size=6) | st.integers(-20, 20) | st.booleans() | st.none()
        | st.floats(allow_nan=False, allow_infinity=False, width=16))
values = st.recursive(scalars, lambda inner: (
    st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    | st.dictionaries(keys, inner, max_size=4)), max_leaves=12)
payloads = st.dictionaries(st.text(max_size=8), values, max_size=6) | st.dictionaries(
    keys, values, max_size=5)
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))]))


def same(a: Event, b: Event) -> None:
    assert (a.seq, a.at, a.actor, a.kind, a.entity, a.prev_hash, a.hash) == \
        (b.seq, b.at, b.actor, b.kind, b.entity, b.prev_hash, b.hash)
    assert a.payload_json == b.payload_json
    # repr: the same keys in the same order, the same types (a str is not a StrEnum, 1 not True)
    assert repr(a.payload) == repr(b.payload)


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as e:  # both must refuse the same payloads the same way
        return type(e)


@settings(max_examples=600, deadline=None)
@given(seq=st.integers(1, 10**12), at=instants, actor=st.text(max_size=10),
       kind=st.text(max_size=10), entity=st.text(max_size=10), payload=payloads)
def test_make_event_is_byte_identical_to_the_reference(seq: int, at: datetime, actor: str,
                                                       kind: str, entity: str,
                                                       payload: dict[Any, Any]) -> None:
    prev = hashlib.sha256(str(seq).encode()).hexdigest()
    ours = outcome(make_event, seq, prev, at, actor, kind, entity, payload)
    ref = outcome(reference_event, seq, prev, at, actor, kind, entity, payload)
    if isinstance(ref, Event):
        assert isinstance(ours, Event)
        same(ours, ref)
        assert json.loads(ours.payload_json) == json.loads(ref.payload_json)
    else:
        assert ours is ref


@settings(max_examples=200, deadline=None)
@given(items=st.lists(st.tuples(st.text(max_size=6), st.dictionaries(st.text(max_size=6),
                                                                     values, max_size=4)),
                      min_size=1, max_size=8))
def test_a_chain_of_new_events_verifies(items: list[tuple[str, dict[str, Any]]]) -> None:
    at = datetime(2026, 4, 20, 1, 30, tzinfo=UTC)
    prev, events = GENESIS, []
    for n, (kind, payload) in enumerate(items, start=1):
        try:
            e = make_event(n, prev, at, "test:actor", kind, f"issue:{n}", payload)
        except (TypeError, ValueError):  # not JSON at all: refused, as before
            return
        events.append(e)
        prev = e.hash
    # As they read back from storage: the payload parsed from the stored text.
    stored = [Event(e.seq, e.at, e.actor, e.kind, e.entity, json.loads(e.payload_json),
                    e.prev_hash, e.hash) for e in events]
    assert verify_chain(stored).ok
    assert all(e.hash == hashlib.sha256((e.prev_hash + body(e.seq, e.at, e.actor, e.kind,
                                                             e.entity, e.payload)).encode())
               .hexdigest() for e in events)


def test_equal_instants_with_different_offsets_keep_their_own_text() -> None:
    utc = datetime(2026, 3, 16, 1, 30, tzinfo=UTC)
    china = datetime(2026, 3, 16, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    assert utc == china
    for first, second in ((utc, china), (china, utc), (utc, utc)):
        a = make_event(1, GENESIS, first, "a", "k", "e", {})
        b = make_event(1, GENESIS, second, "a", "k", "e", {})
        same(a, reference_event(1, GENESIS, first, "a", "k", "e", {}))
        same(b, reference_event(1, GENESIS, second, "a", "k", "e", {}))


@pytest.mark.parametrize("payload", [
    {"issue": 7, "team": None, "revision": 1, "due_on": "2026-03-30", "status": "overdue"},
    {"due_on": date(2026, 3, 30), "ids": (1, 2), 3: "three", "amount": Decimal("1.50")},
    {"b": {"z": [1, {"y": 2.5}], "a": True}, "a": [None, -0.0, float("inf"), float("nan")]},
    {1: "int key", "1": "str key"},
    {"colour": Colour.RED, "level": Level.HIGH, Colour.RED: "enum key"},
    {"deep": [[[[[[[[[[{"x": 1}]]]]]]]]]]},
])
def test_examples(payload: dict[Any, Any]) -> None:
    at = datetime(2026, 4, 20, 1, 30, tzinfo=UTC)
    same(make_event(3, GENESIS, at, "bench", "followup.opened", "followup:1", payload),
         reference_event(3, GENESIS, at, "bench", "followup.opened", "followup:1", payload))


def test_the_payload_is_a_copy() -> None:
    inner = {"x": [1, 2]}
    payload = {"inner": inner}
    clean, text = canonical_payload(payload)
    assert clean == payload and text == '{"inner":{"x":[1,2]}}'
    inner["x"].append(3)
    assert clean == {"inner": {"x": [1, 2]}}


def test_a_circular_payload_is_refused_as_before() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    at = datetime(2026, 4, 20, 1, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="Circular"):
        reference_event(1, GENESIS, at, "a", "k", "e", loop)
    with pytest.raises(ValueError, match="Circular"):
        make_event(1, GENESIS, at, "a", "k", "e", loop)
