"""A revoked token gets the same answer as one that never existed.

Found: a 401 said "revoked" for a revoked token and "not valid" otherwise, which told an attacker
that a token once existed. The event log keeps the difference (tested through the API in
tests/e2e/test_api_access.py, ``test_missing_garbage_and_revoked_tokens_get_401``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain import access
from domain.errors import AuthenticationError


class _Users:
    def __init__(self, revoked: bool) -> None:
        self.user = access.StoredUser(
            access.Principal(1, "a", access.Role.VIEWER), access.token_sha256("lbk_real"),
            datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC) if revoked else None)

    def by_token(self, sha: str) -> access.StoredUser | None:
        return self.user if sha == self.user.token_sha256 else None


class _Uow:
    def __init__(self, revoked: bool) -> None:
        self.users = _Users(revoked)

    def __enter__(self) -> _Uow:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _message(token: str, *, revoked: bool) -> tuple[str, str]:
    with pytest.raises(AuthenticationError) as e:
        access.authenticate(token, uow_factory=lambda: _Uow(revoked))  # type: ignore[arg-type,return-value]
    return e.value.en, e.value.zh


def test_revoked_and_unknown_tokens_are_refused_alike() -> None:
    assert _message("lbk_real", revoked=True) == _message("lbk_never", revoked=False)
    assert "revoked" not in _message("lbk_real", revoked=True)[0]
