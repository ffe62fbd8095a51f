"""How a fanned-out notice batch is split: every worker slot gets about the same share, so two
workers finish a batch in about half the time of one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flows.notices import MAX_CHUNK, MIN_CHUNK, fan_out_chunk


def _slot_loads(pending: int, slots: int) -> list[int]:
    """Notices per slot when the chunks are taken in order by whichever slot is free first
    (equal speed: round robin)."""
    size = fan_out_chunk(pending, slots)
    chunks = [min(size, pending - i) for i in range(0, pending, size)]
    loads = [0] * slots
    for n, c in enumerate(chunks):
        loads[n % slots] += c
    return loads


@given(st.integers(1, 200_000), st.integers(1, 32))
def test_chunks_are_bounded_and_cover_the_batch(pending: int, slots: int) -> None:
    size = fan_out_chunk(pending, slots)
    assert MIN_CHUNK <= size <= MAX_CHUNK
    assert sum(_slot_loads(pending, slots)) == pending


@given(st.integers(1, 200_000), st.integers(1, 32))
def test_no_slot_renders_much_more_than_its_share(pending: int, slots: int) -> None:
    size = fan_out_chunk(pending, slots)
    if size == MIN_CHUNK:  # a small batch: fewer chunks than slots is fine
        return
    rounds = -(-pending // (slots * size))
    assert max(_slot_loads(pending, slots)) <= pending / slots + rounds


def test_a_thousand_orders_on_two_slots_split_evenly() -> None:
    assert sorted(_slot_loads(1000, 2)) == [499, 501]  # 6 chunks of 167 (the last 165)
    assert max(_slot_loads(1000, 1)) == 1000
