"""The API user repository: users, roles, scopes and token hashes (never the tokens)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from domain.access import Principal, Role, StoredUser
from domain.auth import Credentials
from domain.offices import OfficeLevel, Territory
from storage.repositories import SqlRepository
from storage.tables import ApiUserRow, LoginSessionRow, OfficeRow


def _user(row: Any) -> StoredUser:
    territory = (Territory.of(OfficeLevel(row.office_level), row.office_territory).prefix
                 if row.office_level else "")
    return StoredUser(Principal(row.id, row.name, Role(row.role), row.team, row.campaign_id,
                                row.uscc, row.office_id, territory, row.cadre_id),
                      row.token_sha256, row.created_at, row.revoked_at)


def _select() -> Any:
    return (select(ApiUserRow.__table__, OfficeRow.level.label("office_level"),  # type: ignore[attr-defined]
                   OfficeRow.territory.label("office_territory"))
            .outerjoin(OfficeRow, OfficeRow.id == ApiUserRow.office_id))  # type: ignore[arg-type]


class SqlUserRepository(SqlRepository):
    def add(self, *, name: str, role: str, team: int | None, campaign_id: int | None,
            uscc: str | None, token_sha256: str, at: datetime,
            office_id: int | None = None, cadre_id: str | None = None) -> int:
        return int(self._conn.execute(insert(ApiUserRow).values(
            name=name, role=role, team=team, campaign_id=campaign_id, uscc=uscc,
            office_id=office_id, cadre_id=cadre_id, token_sha256=token_sha256, created_at=at)
            .returning(ApiUserRow.id)).scalar_one())

    def _one(self, *where: Any) -> StoredUser | None:
        row = self._conn.execute(_select().where(*where)).first()
        return _user(row) if row is not None else None

    def by_name(self, name: str) -> StoredUser | None:
        return self._one(ApiUserRow.name == name)

    def by_token(self, token_sha256: str) -> StoredUser | None:
        return self._one(ApiUserRow.token_sha256 == token_sha256)

    def revoke(self, name: str, at: datetime) -> bool:
        r = self._conn.execute(update(ApiUserRow).where(ApiUserRow.name == name,
                                                        ApiUserRow.revoked_at.is_(None))  # type: ignore[union-attr]
                               .values(revoked_at=at))
        return bool(r.rowcount)

    def all(self) -> list[StoredUser]:
        return [_user(r) for r in self._conn.execute(_select().order_by(ApiUserRow.id))]


class SqlCredentialRepository(SqlRepository):
    """Passwords (their argon2id hashes) and the lockout state of users."""

    def credentials(self, name: str) -> Credentials | None:
        row = self._conn.execute(_select().where(ApiUserRow.name == name)).first()
        if row is None:
            return None
        return Credentials(_user(row), row.password_hash, bool(row.must_change_password),
                           int(row.failed_logins or 0), row.locked_until)

    def set_password(self, user_id: int, password_hash: str, *, must_change: bool) -> None:
        self._conn.execute(update(ApiUserRow).where(ApiUserRow.id == user_id)  # type: ignore[arg-type]
                           .values(password_hash=password_hash,
                                   must_change_password=must_change))

    def set_failures(self, user_id: int, failed: int, locked_until: datetime | None) -> None:
        self._conn.execute(update(ApiUserRow).where(ApiUserRow.id == user_id)  # type: ignore[arg-type]
                           .values(failed_logins=failed, locked_until=locked_until))


class SqlSessionRepository(SqlRepository):
    """Log-in sessions and short-lived tokens, by the SHA-256 of their secret."""

    def add(self, *, sha256: str, user_id: int, kind: str, created_at: datetime,
            expires_at: datetime) -> None:
        self._conn.execute(insert(LoginSessionRow).values(
            sha256=sha256, user_id=user_id, kind=kind, created_at=created_at,
            expires_at=expires_at))

    def user_of(self, sha256: str, now: datetime) -> StoredUser | None:
        row = self._conn.execute(_select().join(
            LoginSessionRow, LoginSessionRow.user_id == ApiUserRow.id).where(  # type: ignore[arg-type]
            LoginSessionRow.sha256 == sha256, LoginSessionRow.revoked_at.is_(None),  # type: ignore[union-attr]
            LoginSessionRow.expires_at > now)).first()
        return _user(row) if row is not None else None

    def revoke(self, sha256: str, at: datetime) -> bool:
        r = self._conn.execute(update(LoginSessionRow).where(
            LoginSessionRow.sha256 == sha256, LoginSessionRow.revoked_at.is_(None))  # type: ignore[union-attr]
            .values(revoked_at=at))
        return bool(r.rowcount)

    def revoke_all(self, user_id: int, at: datetime) -> int:
        r = self._conn.execute(update(LoginSessionRow).where(
            LoginSessionRow.user_id == user_id, LoginSessionRow.revoked_at.is_(None))  # type: ignore[union-attr]
            .values(revoked_at=at))
        return int(r.rowcount)
