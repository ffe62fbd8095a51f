"""Sample notice content for every kind and language: for tests, demos and layout work.

``python -m report_templates.samples OUT_DIR`` writes one PDF per kind and language.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

OFFICE_ZH = "某市食品安全委员会办公室"
OFFICE_EN = "Moushi City Food Safety Office"
CAMPAIGN = {"id": 3, "title": "2026年食品安全“两个责任”落实情况督查"}
CAMPAIGN_EN = {"id": 3, "title": "2026 inspection of the “two responsibilities” for food safety"}
BUSINESS = {"name": "某市好味道餐饮管理有限公司", "uscc": "91330100MA2H3K4L50",
            "address": "某市西湖区文三路108号"}

ISSUES_ZH: list[dict[str, Any]] = [
    {"id": 101, "item_id": "STAFF-04", "category": "staffing", "severity": "general",
     "description": "企业未配备食品安全总监，食品安全员未经考核即上岗，岗位职责未以书面形式明确",
     "legal_basis": "《企业落实食品安全主体责任监督管理规定》第五条、第六条",
     "found_on": "2026-11-20", "due_on": "2026-12-11", "due_provisional": False},
    {"id": 102, "item_id": "ROUT-01", "category": "routine", "severity": "serious",
     "description": "未落实日管控制度，2026年10月至11月无《每日食品安全检查记录》，后厨冷藏柜温度未监测",
     "legal_basis": "《企业落实食品安全主体责任监督管理规定》第十条",
     "found_on": "2026-11-20", "due_on": "2026-12-04", "due_provisional": False},
    {"id": 103, "item_id": "PURCH-01", "category": "purchase_inspection", "severity": "minor",
     "description": "部分进货食品原料（冷冻禽肉3批次）未查验供货者许可证和产品合格证明，进货查验记录不全",
     "legal_basis": "《中华人民共和国食品安全法》第五十条第一款、第五十三条第一款",
     "found_on": "2026-11-21", "due_on": "2027-01-08", "due_provisional": True},
]
ISSUES_EN: list[dict[str, Any]] = [
    {**ISSUES_ZH[0],
     "description": "No food safety director appointed; the food safety officer started work without "
                    "passing the assessment; duties not set out in writing",
     "legal_basis": "SAMR Order No. 60, Art. 5 and Art. 6"},
    {**ISSUES_ZH[1],
     "description": "Daily control not practised: no daily food safety check records for October and "
                    "November 2026; fridge temperatures in the kitchen not monitored",
     "legal_basis": "SAMR Order No. 60, Art. 10 (daily control)"},
    {**ISSUES_ZH[2],
     "description": "Three batches of frozen poultry received without checking the supplier's licence "
                    "and certificates of conformity; purchase records incomplete",
     "legal_basis": "Food Safety Law of the PRC, Art. 50, para. 1 and Art. 53, para. 1"},
]


def _common(kind: str, lang: str, number: int) -> dict[str, Any]:
    zh = lang == "zh"
    return {
        "kind": kind,
        "lang": lang,
        "number": f"某市食安督〔2026〕{number}号",
        "office": OFFICE_ZH if zh else OFFICE_EN,
        "office_short": "市食安办" if zh else "the City Food Safety Office",
        "issued_on": "2026-11-29",
        "campaign": CAMPAIGN if zh else CAMPAIGN_EN,
        "addressee": dict(BUSINESS),
        "contact": "王某某，0571-8888 1234" if zh else "Wang Moumou, +86 571 8888 1234",
    }


def rectification_order(lang: str = "zh") -> dict[str, Any]:
    c = _common("rectification_order", lang, 17)
    c["issues"] = copy.deepcopy(ISSUES_ZH if lang == "zh" else ISSUES_EN)
    c["cc"] = ["某市市场监督管理局", "某市西湖区食品安全委员会办公室"] if lang == "zh" else [
        "Moushi Market Regulation Bureau"]
    return c


def _check(date: str, outcome: str, note_zh: str, note_en: str, step: str,
           lang: str) -> dict[str, Any]:
    """A recorded look-back check as ``domain.notices.check_item`` writes it."""
    return {"followup": 0, "revision": 1, "review_on": date, "date": date, "outcome": outcome,
            "hard_measures": outcome != "not_rectified", "fixed": False,
            "lasting_mechanism": False, "note": note_zh if lang == "zh" else note_en,
            "escalation": step}


def warning_talk(lang: str = "zh") -> dict[str, Any]:
    c = _common("warning_talk", lang, 21)
    c["issued_on"] = "2026-12-14"
    c["issues"] = copy.deepcopy((ISSUES_ZH if lang == "zh" else ISSUES_EN)[:2])
    # Both issues failed two look-backs and stand at the warning-talk step (约谈).
    c["issues"][0].update(due_on="2027-01-05", escalation="warning_talk", escalation_level=2,
                          checks=[
        _check("2026-12-02", "partial", "已任命食品安全总监，但食品安全员仍未经考核上岗",
               "A director was appointed, but the officer still works unassessed", "reminder",
               lang),
        _check("2026-12-11", "not_rectified", "食品安全员考核仍未安排，岗位职责未书面明确",
               "No assessment arranged for the officer; duties still not in writing",
               "warning_talk", lang)])
    c["issues"][1].update(due_on="2026-12-28", escalation="warning_talk", escalation_level=2,
                          checks=[
        _check("2026-12-01", "not_rectified", "仍无每日检查记录", "Still no daily check records",
               "reminder", lang),
        _check("2026-12-10", "partial", "已补建记录，但冷藏柜温度仍未监测",
               "Records restarted, fridge temperatures still not monitored", "warning_talk",
               lang)])
    c["talk"] = {"date": "2026-12-18", "time": "09:30",
                 "place": "某市市场监督管理局三楼第二会议室（某市江干区解放东路18号）",
                 "attendees": ["owner", "director"]}
    return c


def followup_opinion(lang: str = "zh", outcome: str = "partial") -> dict[str, Any]:
    c = _common("followup_opinion", lang, 33)
    c["issued_on"] = "2026-12-12"
    c["issue"] = copy.deepcopy((ISSUES_ZH if lang == "zh" else ISSUES_EN)[1])
    c["followup"] = {
        "date": "2026-12-08", "outcome": outcome,
        "hard_measures": True, "fixed": outcome == "verified",
        "lasting_mechanism": outcome == "verified",
        "note": ("已补建《每日食品安全检查记录》并配备温度计，但12月1日至7日仍有3天无记录，冷藏柜温度超出规定范围未处置"
                 if lang == "zh" else
                 "Daily check records restarted and a thermometer installed, but 3 of the days from "
                 "1 to 7 December have no record, and a fridge above the required temperature was "
                 "not dealt with"),
    }
    c["issue"]["due_on"] = "2026-12-04"  # the deadline the look-back checked
    if outcome != "verified":
        c["followup"].update(new_due_on="2027-01-15", new_due_provisional=True,
                             escalation="warning_talk", escalation_level=2,
                             escalation_step={"from": "reminder", "to": "warning_talk",
                                              "level": 2})
    else:
        c["followup"].update(escalation="none", escalation_level=0)
    return c


def circular(lang: str = "zh") -> dict[str, Any]:
    c = _common("circular", lang, 40)
    c.pop("contact")
    c["contact"] = "督查一处，0571-8888 1200" if lang == "zh" else "Inspection Division 1, +86 571 8888 1200"
    c["office"] = "国务院食品安全委员会办公室" if lang == "zh" else "Food Safety Office of the State Council"
    c["office_short"] = "国务院食安办" if lang == "zh" else "the Office"
    c["number"] = "食安办督〔2026〕40号"
    c["issued_on"] = "2026-12-20"
    c["addressee"] = {"name": "各省、自治区、直辖市食品安全委员会办公室" if lang == "zh" else
                      "Food safety offices of all provinces, autonomous regions and municipalities"}
    c["summary"] = {"visits_planned": 600, "visits_done": 588, "interviews": 2231,
                    "issues_registered": 412, "issues_verified": 351,
                    "rectification_rate": 351 / 412, "on_time_rate": 318 / 380}
    c["issues_by_category"] = {"staffing": 58, "routine": 121, "risk_control": 44,
                               "purchase_inspection": 77, "hygiene_storage": 63, "training": 21,
                               "supervision": 11, "records": 17}
    rows = [("110000", "北京市", 60, 60, 31, 30), ("310000", "上海市", 60, 60, 29, 29),
            ("330000", "浙江省", 80, 79, 52, 47), ("320000", "江苏省", 80, 78, 61, 50),
            ("440000", "广东省", 90, 88, 70, 55), ("510000", "四川省", 70, 66, 55, 44),
            ("420000", "湖北省", 60, 59, 40, 36), ("370000", "山东省", 100, 98, 74, 60)]
    c["provinces"] = [{"code": code, "name": name, "visits": v, "visits_done": vd, "issues": i,
                       "verified": ver, "rectification_rate": ver / i if i else None}
                      for code, name, v, vd, i, ver in rows]
    c["overdue"] = [
        {"name": "某市好味道餐饮管理有限公司", "uscc": "91330100MA2H3K4L50", "category": "catering",
         "due_on": "2026-12-04"},
        {"name": "某县鑫源食品批发部", "uscc": "92330106MA2J7P8Q1G", "category": "sales",
         "due_on": "2026-12-08"},
        {"name": "某区实验小学食堂", "uscc": "91440300MA5F6G7H8B", "category": "school_canteen",
         "due_on": "2026-12-11"},
    ]
    zh = lang == "zh"
    c["followups"] = {"recorded": 96, "verified": 61, "partial": 21, "not_rectified": 14,
                      "open": 7, "escalations": {"reminder": 35, "warning_talk": 12, "circular": 4,
                                                 "referral": 2},
                      "cases": {"referred": 1, "filed": 1, "declined": 0}}
    c["escalated"] = [
        {"issue": 102, "name": "某市好味道餐饮管理有限公司", "uscc": "91330100MA2H3K4L50",
         "category": "routine", "severity": "serious",
         "description": (ISSUES_ZH if zh else ISSUES_EN)[1]["description"], "level": 4,
         "step": "referral", "due_on": "2027-01-15", "checks": [
             _check("2026-12-01", "not_rectified", "仍无每日检查记录",
                    "Still no daily check records", "reminder", lang),
             _check("2026-12-08", "partial", "冷藏柜温度仍未监测",
                    "Fridge temperatures still not monitored", "warning_talk", lang),
             _check("2026-12-15", "not_rectified", "约谈后仍未整改",
                    "Not rectified after the warning talk", "circular", lang),
             _check("2026-12-18", "not_rectified", "拒不整改", "Refuses to rectify", "referral",
                    lang)]},
        {"issue": 215, "name": "某县鑫源食品批发部", "uscc": "92330106MA2J7P8Q1G",
         "category": "purchase_inspection", "severity": "general",
         "description": ("进货查验记录缺失，无法追溯冷冻肉品来源" if zh else
                         "No purchase inspection records: frozen meat cannot be traced"),
         "level": 3, "step": "circular", "due_on": "2027-01-12", "checks": [
             _check("2026-12-03", "not_rectified", "未建立进货台账", "No purchase register",
                    "reminder", lang),
             _check("2026-12-09", "not_rectified", "仍未建立进货台账",
                    "Still no purchase register", "warning_talk", lang),
             _check("2026-12-16", "partial", "台账已建立但记录不全",
                    "Register started but incomplete", "circular", lang)]},
    ]
    c["referrals"] = [
        {"issue": 102, "name": "某市好味道餐饮管理有限公司", "uscc": "91330100MA2H3K4L50",
         "category": "routine", "description": (ISSUES_ZH if zh else ISSUES_EN)[1]["description"],
         "referred_on": "2026-12-18", "case_status": "filed",
         "case_number": "某市监立〔2026〕88号", "case_on": "2026-12-19"},
        {"issue": 187, "name": "某区实验小学食堂", "uscc": "91440300MA5F6G7H8B",
         "category": "hygiene_storage", "description": "", "referred_on": "2026-12-19",
         "case_status": "referred", "case_number": None, "case_on": None},
    ]
    return c


def draw_publication(lang: str = "zh") -> dict[str, Any]:
    c = _common("draw_publication", lang, 5)
    c.pop("addressee")
    c["issued_on"] = "2026-11-02"
    c["draw"] = {
        "algorithm": "lookback-draw/1",
        "seed": "20261102093015",
        "frame_sha256": "3f6c1b8e0a9d4f2c7e5b1a0d9c8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e",
        "frame_businesses": 2000,
        "total": 8,
        "stages": [
            {"unit": "city", "frame_size": 11, "strata": [
                {"stratum": "province=330000", "frame_size": 11, "allocated": 2}]},
            {"unit": "business", "frame_size": 412, "strata": [
                {"stratum": "city=330100|risk_level=C", "frame_size": 96, "allocated": 3},
                {"stratum": "city=330100|risk_level=D", "frame_size": 21, "allocated": 1},
                {"stratum": "city=330200|risk_level=C", "frame_size": 240, "allocated": 3},
                {"stratum": "city=330200|risk_level=D", "frame_size": 55, "allocated": 1},
            ]},
        ],
    }
    c["drawn"] = [
        {"name": "某市好味道餐饮管理有限公司", "uscc": "91330100MA2H3K4L50", "region": "杭州市西湖区", "team": 1},
        {"name": "某县鑫源食品批发部", "uscc": "92330106MA2J7P8Q1G", "region": "杭州市西湖区", "team": 2},
        {"name": "某市北辰食品有限公司", "uscc": "91110105MA01XY2K33", "region": "杭州市萧山区", "team": 1},
        {"name": "某区实验小学食堂", "uscc": "91440300MA5F6G7H8B", "region": "杭州市上城区", "team": 2},
        {"name": "某港冷链物流有限公司", "uscc": "91510107MA6C8D9E08", "region": "宁波市北仑区", "team": 3},
        {"name": "某市海鲜大酒店有限公司", "uscc": "91320102MA1N2P3Q40", "region": "宁波市鄞州区", "team": 3},
        {"name": "某市农贸综合市场管理有限公司", "uscc": "91420106MA4K5L6M74", "region": "宁波市海曙区", "team": 4},
        {"name": "某镇老街糕点店", "uscc": "92370102MA3C4D5E6J", "region": "宁波市奉化区", "team": 4},
    ]
    return c


BUILDERS = {
    "rectification_order": rectification_order,
    "warning_talk": warning_talk,
    "followup_opinion": followup_opinion,
    "circular": circular,
    "draw_publication": draw_publication,
}


def sample(kind: str, lang: str = "zh") -> dict[str, Any]:
    """Sample content of ``kind`` in ``lang``."""
    return BUILDERS[kind](lang)


def main(argv: list[str] | None = None) -> int:
    from report_templates.render import render

    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else ".")
    out.mkdir(parents=True, exist_ok=True)
    for kind in BUILDERS:
        for lang in ("zh", "en"):
            path = out / f"{kind}.{lang}.pdf"
            path.write_bytes(render(sample(kind, lang)))
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
