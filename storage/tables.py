"""SQLModel tables of the registers and the import audit trail."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class RegionRow(SQLModel, table=True):
    """An administrative division (GB/T 2260)."""

    __tablename__ = "region"

    code: str = Field(primary_key=True, max_length=6)
    name: str = Field(max_length=100)
    level: str = Field(max_length=10, index=True)
    parent_code: str | None = Field(default=None, foreign_key="region.code", max_length=6)


class ImportRunRow(SQLModel, table=True):
    """One run of a register import: what was read from which file and what became of it."""

    __tablename__ = "import_run"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    source: str = Field(max_length=500)
    sha256: str = Field(max_length=64)
    started_at: datetime
    finished_at: datetime | None = None
    status: str = Field(default="running", max_length=20)
    strict: bool = False
    read: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    warnings: int = 0


class BusinessRow(SQLModel, table=True):
    """A food business (食品生产经营主体 / 包保主体), keyed by its USCC."""

    __tablename__ = "business"

    uscc: str = Field(primary_key=True, max_length=18)
    name: str = Field(max_length=200)
    region_code: str = Field(max_length=6, index=True)
    province_code: str = Field(max_length=6, index=True)
    category: str = Field(max_length=30, index=True)
    risk_level: str = Field(max_length=1)
    address: str = Field(default="", max_length=300)
    director: str = Field(default="", max_length=50)
    officer: str = Field(default="", max_length=50)
    status: str = Field(default="active", max_length=10)
    import_id: int | None = Field(default=None, foreign_key="import_run.id")
    import_line: int | None = None


class CadreRow(SQLModel, table=True):
    """An assigned official (包保干部)."""

    __tablename__ = "cadre"

    cadre_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=50)
    level: str = Field(max_length=10, index=True)
    region_code: str = Field(max_length=6, index=True)
    position: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=30)
    import_id: int | None = Field(default=None, foreign_key="import_run.id")
    import_line: int | None = None


class CadreAssignmentRow(SQLModel, table=True):
    """Which business an assigned official is responsible for (包保关系)."""

    __tablename__ = "cadre_assignment"

    cadre_id: str = Field(primary_key=True, foreign_key="cadre.cadre_id", ondelete="CASCADE",
                          max_length=64)
    uscc: str = Field(primary_key=True, foreign_key="business.uscc", index=True, max_length=18)


class InspectorRow(SQLModel, table=True):
    """An inspector (督查人员) with a home region for avoidance (回避)."""

    __tablename__ = "inspector"

    inspector_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=50)
    home_region: str = Field(max_length=6, index=True)
    organisation: str = Field(default="", max_length=100)
    phone: str = Field(default="", max_length=30)
    active: bool = True
    import_id: int | None = Field(default=None, foreign_key="import_run.id")
    import_line: int | None = None
