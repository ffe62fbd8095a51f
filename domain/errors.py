"""Domain errors: what went wrong, in the user's terms, in Chinese and English.

Hierarchy::

    LookbackError                 every error the domain raises on purpose
    ├── InputError                the user gave something we cannot use (exit code 2, HTTP 4xx)
    │   ├── BadFileError          a whole file is unusable: empty, wrong kind, unreadable, missing column
    │   └── BadArgumentError      a command-line or API argument is wrong
    ├── NotFoundError             a record the user named does not exist
    ├── ConflictError             the request contradicts what is stored (illegal transition, duplicate)
    ├── AuthenticationError       no valid credentials (a missing, unknown or revoked token)
    └── PermissionDeniedError     valid credentials, but this user may not do this

Each error carries a stable ``code`` for scripts, and its message in both languages; entry points
pick the language with ``message(lang)``.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "zh"]


class LookbackError(Exception):
    """Base class of every error Lookback raises on purpose."""

    code: str = "error"
    exit_code: int = 1

    def __init__(self, en: str, zh: str, *, code: str | None = None) -> None:
        super().__init__(en)
        self.en = en
        self.zh = zh
        if code is not None:
            self.code = code

    def message(self, lang: Lang = "en") -> str:
        """The message in ``lang``."""
        return self.zh if lang == "zh" else self.en

    def __str__(self) -> str:
        return self.en


class InputError(LookbackError):
    """The user gave something we cannot use."""

    code = "bad_input"
    exit_code = 2


class BadFileError(InputError):
    """A whole input file is unusable."""

    code = "bad_file"


class BadArgumentError(InputError):
    """A command-line or API argument is wrong."""

    code = "bad_argument"


class NotFoundError(LookbackError):
    """A record the user named does not exist."""

    code = "not_found"
    exit_code = 3


class ConflictError(LookbackError):
    """The request contradicts what is stored."""

    code = "conflict"
    exit_code = 4


class AuthenticationError(LookbackError):
    """No valid credentials: a missing, unknown or revoked token."""

    code = "unauthenticated"
    exit_code = 5


class PermissionDeniedError(LookbackError):
    """Valid credentials, but this user may not do this (another team's visit, another
    business's issue, a role without the right)."""

    code = "forbidden"
    exit_code = 6
