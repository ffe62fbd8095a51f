"""The shared vocabularies: the codes Lookback stores and prints in ``--json``, and their names.

One home for every closed list that more than one module speaks of — severities and their default
rectification days, interview roles, issue categories, issue statuses, look-back outcomes,
escalation steps and case outcomes — with the Chinese and English name of each code. Tables,
summaries, metrics and notices show :func:`label`; scripts get the stable code.

This module imports nothing of the domain, so every other module may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

Lang = Literal["en", "zh"]

# --- severities and their default rectification days ----------------------------------------

SEVERITIES = ("minor", "general", "serious")
SEVERITY_ZH: Mapping[str, str] = MappingProxyType(
    {"minor": "轻微", "general": "一般", "serious": "严重"})
#: Working days to rectify an issue of each severity when the plan does not say otherwise.
DEFAULT_RECT_WORKDAYS: Mapping[str, int] = MappingProxyType(
    {"minor": 5, "general": 10, "serious": 15})

# --- interview roles ----------------------------------------------------------------------------

ROLES = ("director", "officer", "owner", "cadre", "regulator")
ROLE_ZH: Mapping[str, str] = MappingProxyType({
    "director": "食品安全总监",
    "officer": "食品安全员",
    "owner": "主要负责人",
    "cadre": "包保干部",
    "regulator": "监管人员",
})

# --- issue categories (what a checklist item or a finding is about) ---------------------------

CATEGORIES = ("staffing", "routine", "risk_control", "purchase_inspection", "hygiene_storage",
              "training", "supervision", "regulatory_follow_up", "records")
CATEGORY_ZH: Mapping[str, str] = MappingProxyType({
    "staffing": "人员配备与职责",
    "routine": "日管控、周排查、月调度",
    "risk_control": "风险管控",
    "purchase_inspection": "进货查验",
    "hygiene_storage": "卫生与贮存",
    "training": "培训考核",
    "supervision": "督导检查",
    "regulatory_follow_up": "问题跟踪处置",
    "records": "记录台账",
})

# --- issue statuses -------------------------------------------------------------------------

STATUSES = ("open", "notified", "rectification_reported", "overdue", "verified")
STATUS_ZH: Mapping[str, str] = MappingProxyType({
    "open": "待通知",
    "notified": "已通知整改",
    "rectification_reported": "已报告整改",
    "overdue": "逾期未整改",
    "verified": "已核验销号",
})

# --- look-back outcomes, escalation steps, case outcomes ------------------------------------

OUTCOMES = ("verified", "partial", "not_rectified")
OUTCOME_ZH: Mapping[str, str] = MappingProxyType(
    {"verified": "已整改到位", "partial": "部分整改", "not_rectified": "未整改"})

#: The escalation ladder: an issue's ``escalation`` level is an index into it.
LADDER = ("none", "reminder", "warning_talk", "circular", "referral")
LADDER_ZH = ("无", "督促提醒", "约谈", "通报", "移送")

CASE_STATUSES = ("referred", "filed", "declined")
CASE_ZH: Mapping[str, str] = MappingProxyType(
    {"referred": "待立案", "filed": "已立案", "declined": "不予立案"})

# --- follow-up kinds and statuses -----------------------------------------------------------

FOLLOWUP_KIND_ZH: Mapping[str, str] = MappingProxyType({"review": "复查", "reminder": "督促提醒"})
FOLLOWUP_STATUS_ZH: Mapping[str, str] = MappingProxyType({
    "pending": "待触发", "running": "处理中", "open": "待复查", "done": "已完成",
    "cancelled": "已取消"})

# --- evidence --------------------------------------------------------------------------------

EVIDENCE_PURPOSE_ZH: Mapping[str, str] = MappingProxyType(
    {"finding": "检查发现", "rectification": "整改材料", "followup": "复查"})

_ZH: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "severity": SEVERITY_ZH,
    "role": ROLE_ZH,
    "category": CATEGORY_ZH,
    "status": STATUS_ZH,
    "outcome": OUTCOME_ZH,
    "step": MappingProxyType(dict(zip(LADDER, LADDER_ZH, strict=True))),
    "case": CASE_ZH,
    "followup_kind": FOLLOWUP_KIND_ZH,
    "followup_status": FOLLOWUP_STATUS_ZH,
    "purpose": EVIDENCE_PURPOSE_ZH,
})
_EN: Mapping[str, Mapping[str, str]] = MappingProxyType({
    "status": MappingProxyType({"rectification_reported": "rectification reported"}),
    "step": MappingProxyType({"warning_talk": "warning talk"}),
    "outcome": MappingProxyType({"not_rectified": "not rectified"}),
    "category": MappingProxyType({c: c.replace("_", " ") for c in CATEGORIES}),
})

VOCABULARIES = tuple(_ZH)


def label(vocabulary: str, code: str | None, lang: Lang = "zh") -> str:
    """The name of ``code`` in ``lang``; an unknown code is shown as it is (never an error)."""
    if code is None:
        return "—"
    if vocabulary not in _ZH:
        raise KeyError(f"no vocabulary {vocabulary!r} (known: {', '.join(VOCABULARIES)})")
    if lang == "zh":
        return _ZH[vocabulary].get(code, code)
    return _EN.get(vocabulary, {}).get(code, code)


def step_label(level: int, lang: Lang = "zh") -> str:
    """The name of escalation ``level`` (an index into :data:`LADDER`)."""
    return label("step", LADDER[max(0, min(level, len(LADDER) - 1))], lang)


def rect_workdays(plan_days: Mapping[str, object] | None, severity: str) -> int:
    """Working days to rectify an issue of ``severity``: the plan's figure, else the default."""
    if severity not in DEFAULT_RECT_WORKDAYS:
        raise ValueError(f"unknown severity {severity!r}")
    raw = (plan_days or {}).get(severity, DEFAULT_RECT_WORKDAYS[severity])
    return int(str(raw))
