"""The small campaign plan the fieldwork, lifecycle and notice tests launch: four provinces, two
cities drawn in each, a dozen visits, three teams of two."""

from __future__ import annotations


def small_plan(*, title: str, starts_on: str = "2023-09-01", ends_on: str = "2023-12-31",
               total: int = 12, days: dict[str, int] | None = None,
               office: str = "某市食品安全委员会办公室", office_short: str | None = None,
               seed: int = 7) -> str:
    """A plan TOML; ``days`` sets the rectification working days per severity."""
    short = f'office_short = "{office_short}"\n' if office_short else ""
    rect = ""
    if days is not None:
        rect = ("\n[rectification]\ndays = { "
                + ", ".join(f"{k} = {v}" for k, v in days.items()) + " }\n")
    return f"""
[campaign]
office = "{office}"
{short}title = "{title}"
kind = "inspection"
starts_on = {starts_on}
ends_on = {ends_on}
seed = {seed}

[scope]
provinces = ["370000", "410000", "440000", "320000"]
exclusion_days = 0

[[stages]]
unit = "city"
per_parent = 2

[[stages]]
unit = "business"

[sample]
total = {total}
strata = ["city"]
allocation = "proportional"
min_per_stratum = 1

[teams]
count = 3
members = 2
avoidance = "city"
{rect}"""
