"""The rules of log-in: what a password must be, and how long failures lock an account."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain import auth


def test_short_common_simple_or_name_bearing_passwords_are_refused() -> None:
    def refused(pw: str, name: str = "zhangsan") -> list[str]:
        return [en for en, _ in auth.password_problems(pw, name)]

    assert any("at least 10" in p for p in refused("Ab3$xyz"))
    assert any("too common" in p for p in refused("1234567890"))
    assert any("too common" in p for p in refused("qwertyuiop"))
    assert any("too common" in p for p in refused("aaaaaaaaaaaa"))
    assert any("too common" in p for p in refused("abababababab"))
    assert any("user name" in p for p in refused("ZhangSan2026!x"))
    assert refused("川菜馆后厨-每周排查-2026") == []
    assert refused("correct horse battery") == []


@given(st.text(min_size=10, max_size=60).filter(lambda s: len(set(s)) > 2))
def test_a_long_varied_password_is_refused_only_for_commonness_or_the_name(pw: str) -> None:
    problems = [en for en, _ in auth.password_problems(pw)]
    assert all("common" in p for p in problems)


@given(st.integers(0, 200))
def test_lockout_starts_after_five_failures_doubles_and_is_capped(failed: int) -> None:
    seconds = auth.lock_seconds(failed)
    if failed < auth.LOCK_AFTER:
        assert seconds == 0
    else:
        assert auth.LOCK_SECONDS <= seconds <= auth.MAX_LOCK_SECONDS
        following = auth.lock_seconds(failed + 1)
        assert following == min(auth.MAX_LOCK_SECONDS, 2 * seconds)


def test_one_time_passwords_are_long_and_differ() -> None:
    seen = {auth.one_time_password() for _ in range(50)}
    assert len(seen) == 50 and all(len(p) == 16 and not auth.password_problems(p) for p in seen)
