"""The supervision repository (包保督导)."""

from __future__ import annotations

from sqlmodel import Session


class SqlSupervisionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
