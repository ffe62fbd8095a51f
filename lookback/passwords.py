"""The password hasher the log-in uses: argon2id (argon2-cffi, its recommended parameters)."""

from __future__ import annotations


class Argon2Hasher:
    """``domain.auth.PasswordHasher`` with argon2id."""

    def __init__(self) -> None:
        from argon2 import PasswordHasher

        self._ph = PasswordHasher()

    def hash(self, password: str) -> str:
        return str(self._ph.hash(password))

    def verify(self, password_hash: str, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            return bool(self._ph.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False
