"""Settings from the environment (``LOOKBACK_*``), overridable by global CLI options."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.errors import BadArgumentError
from domain.notices import DEFAULT_PUBLIC_URL

Lang = Literal["en", "zh"]


class Settings(BaseSettings):
    """Where the database and files live, what time it is, which language to speak."""

    model_config = SettingsConfigDict(env_prefix="LOOKBACK_", extra="ignore")

    database_url: str = "sqlite:///./lookback.db"
    data_dir: Path = Path("./lookback-data")
    now: datetime | None = None
    lang: Lang = "zh"
    actor: str = ""  # who is acting, for the event log; default cli:<login name>
    # The user the CLI acts as (--as): their role and territory apply; None: the local
    # administrator, who may do everything.
    user: str | None = None
    # A Lookback API to work through instead of the database (the remote CLI), and its token.
    server: str | None = None
    token: SecretStr | None = None
    # Evidence the API accepts, in megabytes: per issue, and per business over all its issues.
    evidence_quota_issue_mb: int = 100
    evidence_quota_business_mb: int = 1000
    # Where the public check page of a notice (/verify/{code}) is reached from the internet:
    # the QR code on each new notice points there (LOOKBACK_PUBLIC_URL; workers need it too).
    public_url: str = DEFAULT_PUBLIC_URL

    @field_validator("public_url", mode="before")
    @classmethod
    def _check_public_url(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return DEFAULT_PUBLIC_URL
            if not value.strip().lower().startswith(("http://", "https://")):
                raise ValueError(f"{value!r} is not an http:// or https:// URL")
            return value.strip().rstrip("/")
        return value

    @field_validator("server", mode="before")
    @classmethod
    def _check_server(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return None
            if not value.strip().lower().startswith(("http://", "https://")):
                raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @field_validator("now", mode="before")
    @classmethod
    def _parse_now(cls, value: object) -> object:
        if isinstance(value, str) and value.strip():
            return parse_instant(value, source="LOOKBACK_NOW")
        if isinstance(value, str):
            return None
        return value


def parse_instant(text: str, *, source: str = "--now") -> datetime:
    """An ISO date or date-time; a value without an offset is taken as UTC."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            d = date.fromisoformat(raw)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise BadArgumentError(
            f"{source}: {text!r} is not an ISO date or date-time (e.g. 2026-12-01 or "
            "2026-12-01T09:00:00+08:00)",
            f"{source}：“{text}”不是ISO日期或日期时间（例如2026-12-01或2026-12-01T09:00:00+08:00）",
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_server(text: str, *, source: str = "--server") -> str | None:
    """A server URL (``http://host:port``); an empty one means: work on the local database."""
    raw = text.strip().rstrip("/")
    if not raw:
        return None
    if not raw.lower().startswith(("http://", "https://")) or len(raw.split("://", 1)[1]) == 0:
        raise BadArgumentError(f"{source}: {text!r} is not an http:// or https:// URL (e.g. "
                               "http://127.0.0.1:8000)",
                               f"{source}：“{text}”不是http://或https://地址（例如http://127.0.0.1:8000）",
                               code="bad_server")
    return raw


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the environment, read once."""
    try:
        return Settings()
    except ValidationError as e:
        first = e.errors()[0]
        var = "LOOKBACK_" + str(first["loc"][0]).upper() if first["loc"] else "LOOKBACK_*"
        raise BadArgumentError(f"{var}: {first['msg']}", f"环境变量{var}无效：{first['msg']}") from None
