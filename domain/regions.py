"""Administrative divisions (行政区划, GB/T 2260): six-digit codes in three levels."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class RegionLevel(StrEnum):
    """Level of an administrative division."""

    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"


@dataclass(frozen=True, slots=True)
class Region:
    """One administrative division: code, name, level and the code of its parent."""

    code: str
    name: str
    level: RegionLevel
    parent_code: str | None


def is_region_code(code: str) -> bool:
    """Whether ``code`` has the shape of a GB/T 2260 code (six ASCII digits, province not 00)."""
    return len(code) == 6 and code.isascii() and code.isdigit() and code[:2] != "00"


def province_of(code: str) -> str:
    """The province-level code of a division: the first two digits followed by zeros."""
    return code[:2] + "0000"


def city_of(code: str) -> str:
    """The prefecture-level code of a division: the first four digits followed by zeros."""
    return code[:4] + "00"


class RegionCheck(StrEnum):
    """What the register knows about a region code."""

    KNOWN = "known"
    UNKNOWN_UNDER_KNOWN_PROVINCE = "unknown_under_known_province"
    UNKNOWN = "unknown"


class RegionIndex:
    """The set of known region codes, for validating register rows quickly."""

    def __init__(self, codes: Iterable[str]) -> None:
        self.codes = frozenset(codes)
        self.provinces = frozenset(c for c in self.codes if c.endswith("0000"))

    def check(self, code: str) -> RegionCheck:
        if code in self.codes:
            return RegionCheck.KNOWN
        if province_of(code) in self.provinces:
            return RegionCheck.UNKNOWN_UNDER_KNOWN_PROVINCE
        return RegionCheck.UNKNOWN

    def __len__(self) -> int:
        return len(self.codes)
