"""The event log: every state change is one event, chained by SHA-256 so that a changed, deleted or
reordered event is detected.

``hash = SHA-256(prev_hash + canonical JSON of {seq, at, actor, kind, entity, payload})`` in hex,
with ``prev_hash`` of the first event being 64 zeros. Canonical JSON: keys sorted, no spaces, UTF-8
characters kept, the time as ISO 8601 in UTC.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

GENESIS = "0" * 64


@dataclass(frozen=True)
class Event:
    seq: int
    at: datetime
    actor: str
    kind: str
    entity: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str
    # The payload's canonical JSON when the event was just made (what storage writes).
    payload_json: str = field(default="", compare=False, repr=False)


def body(seq: int, at: datetime, actor: str, kind: str, entity: str,
         payload: dict[str, Any]) -> str:
    """The canonical JSON an event's hash covers."""
    return json.dumps({"seq": seq, "at": at.isoformat(), "actor": actor, "kind": kind,
                       "entity": entity, "payload": payload},
                      ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def chain_hash(prev_hash: str, event_body: str) -> str:
    return hashlib.sha256((prev_hash + event_body).encode()).hexdigest()


_canonical = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                              default=str).encode
_plain = json.JSONEncoder(ensure_ascii=False, default=str).encode


def canonical_payload(payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The payload as it will read back from storage, and its canonical JSON."""
    # Round-trip through JSON so what is stored is exactly what was hashed (dates become
    # strings, tuples lists, and non-string keys strings before the keys are sorted).
    clean: dict[str, Any] = json.loads(_plain(payload))
    return clean, _canonical(clean)


def make_event(seq: int, prev_hash: str, at: datetime, actor: str, kind: str, entity: str,
               payload: dict[str, Any]) -> Event:
    """A new event that follows ``prev_hash``."""
    clean, text = canonical_payload(payload)
    # Exactly ``body(...)``, with the payload's canonical JSON spliced in instead of encoded again
    # (the keys in sorted order: actor, at, entity, kind, payload, seq).
    event_body = (f'{{"actor":{_canonical(actor)},"at":{_canonical(at.isoformat())},'
                  f'"entity":{_canonical(entity)},"kind":{_canonical(kind)},"payload":{text},'
                  f'"seq":{int(seq)}}}')
    return Event(seq, at, actor, kind, entity, clean, prev_hash, chain_hash(prev_hash, event_body),
                 text)


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    events: int
    first_broken: int | None
    reason: str | None
    head_hash: str = GENESIS  # the hash of the last event: record it elsewhere to notice truncation


def verify_chain(events: Iterable[Event]) -> ChainCheck:
    """Walk the events in sequence order; the first one whose link or hash is wrong."""
    prev = GENESIS
    expected_seq = 1
    n = 0
    for e in events:
        n += 1
        if e.seq != expected_seq:
            return ChainCheck(False, n, e.seq, f"sequence jumps from {expected_seq - 1} to {e.seq} "
                              "(an event was deleted or reordered)")
        if e.prev_hash != prev:
            return ChainCheck(False, n, e.seq, "its previous-hash does not match the event before "
                              "it (an event before it was changed, deleted or reordered)")
        if chain_hash(prev, body(e.seq, e.at, e.actor, e.kind, e.entity, e.payload)) != e.hash:
            return ChainCheck(False, n, e.seq, "its content does not match its hash (the event "
                              "was changed)")
        prev = e.hash
        expected_seq += 1
    return ChainCheck(True, n, None, None, prev)


class EventLog(Protocol):
    """Where events go: appended in order to the hash chain, in the caller's transaction."""

    def append(self, *, at: datetime, actor: str, kind: str, entity: str,
               payload: dict[str, Any]) -> Event: ...
    def append_many(self, items: Sequence[tuple[datetime, str, str, str, dict[str, Any]]]
                    ) -> list[Event]: ...
    def all(self) -> Iterable[Event]: ...
    def for_entity(self, entity: str) -> list[Event]: ...
