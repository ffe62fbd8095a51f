"""Render official notices (公文) to PDF/A-3b: the one module that turns notice content into bytes.

``render(content)`` picks ``templates/{kind}.{lang}.html``, fills it with Jinja2 (autoescaped) and
writes a PDF/A-3b with WeasyPrint. The fonts are the Noto CJK families of the Debian package
``fonts-noto-cjk`` (subsets embedded); ``render`` refuses to run without them rather than print
boxes. The canonical JSON of the content is attached to the PDF as ``notice.json`` (AFRelationship
``Source``), so ``extract_content(pdf)`` gets it back, and its SHA-256 is printed on every page as
the verification code (``verification_code(content_sha256(content))``). A notice whose content
has a ``verify_url`` (its public check page) carries it as a QR code on every page
(:func:`qr_data_uri`), captioned 扫码核验 / Scan to verify.

Rendering is deterministic: the same content gives the same bytes (dates in the PDF come from
``issued_on``, never from the clock).

Layout after GB/T 9704-2012 (党政机关公文格式): A4, margins 37/26/35/28 mm (top/right/bottom/left),
red issuing-office name with a red rule, document number centred above the rule, title, addressee
flush left, 16 pt body (仿宋 stand-in: Noto Serif CJK SC) on a 28.95 pt line, signing office and date
(Chinese numerals in Chinese) right of a seal area, page numbers "— 1 —" (odd pages right, even pages
left), and a footer with the verification code.

Content schema
==============

Plain dicts with JSON values (what ``domain.campaigns.canonical_json`` can write); the caller builds
them. Dates are ISO strings ``YYYY-MM-DD``; rates are floats in [0, 1] or ``None`` (printed "—").

Common keys (every kind)::

    kind        "rectification_order" | "warning_talk" | "followup_opinion" | "circular"
                | "draw_publication"
    lang        "zh" | "en"
    number      str, the document number, e.g. "某市食安督〔2026〕17号"
    title       str, optional: overrides the default title of the kind
    office      str, issuing office, e.g. "某市食品安全委员会办公室"
    office_short str, optional: how the body names the office, e.g. "市食安办" (default: office)
    issued_on   ISO date of the notice (成文日期)
    campaign    {"id": int | str, "title": str}
    addressee   {"name": str, "uscc": str?, "address": str?}  (主送; for a circular e.g.
                {"name": "各省、自治区、直辖市食品安全委员会办公室"}; optional for draw_publication)
    addressee_address  str, optional: the address when it is not in addressee.address
    contact     str, optional: contact person and telephone (联系人及电话)
    verify_url  str, optional: the notice's public check page, printed as a QR code
    cc          [str], optional: copied offices (抄送)

An issue (in ``issues`` and ``issue``)::

    {"id": int | str, "item_id": str, "category": str (domain.checklists.CATEGORIES),
     "severity": "minor" | "general" | "serious", "description": str, "legal_basis": str,
     "found_on": ISO date, "due_on": ISO date, "due_provisional": bool}

Per kind::

    rectification_order  issues [issue, ...] (at least one), source "supervision"? (the findings
                                  of routine supervision, 包保督导, rather than a campaign's)
    warning_talk         issues [issue + {"escalation": step?, "escalation_level": int?,
                                  "checks": [check, ...]?}, ...] (the issues that climbed to the
                                  约谈 step: the reasons for the talk),
                         talk {"date": ISO date, "time": "09:30", "place": str,
                               "attendees": [str]}  (attendee may be a role code such as
                               "owner" / "director", printed as 主要负责人 / 食品安全总监)
    followup_opinion     issue {issue} (due_on: the deadline the check was about),
                         followup {"date": ISO date,
                               "outcome": "verified" | "not_rectified" | "partial",
                               "hard_measures": bool, "fixed": bool, "lasting_mechanism": bool,
                               "note": str, "new_due_on": ISO date?, "new_due_provisional": bool?,
                               "escalation_step": {"from": step, "to": step, "level": int}?},
                         referral {"referred_on", "case_status", "case_number"}?  (at 移送)
    circular             summary {"visits_planned", "visits_done", "interviews", "issues_registered",
                                  "issues_verified": int, "rectification_rate",
                                  "on_time_rate": float | None},
                         issues_by_category {category: int},
                         provinces [{"code", "name", "visits", "visits_done", "issues", "verified",
                                     "rectification_rate"}],
                         overdue [{"name", "uscc", "category", "due_on"}]  (category: an issue
                                  category or a business category; both are labelled),
                         followups {"recorded", "verified", "partial", "not_rectified", "open": int,
                                    "escalations": {step: int}, "cases": {case status: int}}?,
                         escalated [{"issue", "name", "uscc", "category", "severity",
                                     "description", "level": int, "step", "due_on",
                                     "checks": [check, ...]}]?  (通报: level 3 and up),
                         referrals [{"issue", "name", "uscc", "category", "description",
                                     "referred_on", "case_status", "case_number", "case_on"}]?

A look-back check (``check``)::

    {"date": ISO date, "outcome": str, "note": str, "hard_measures": bool, "fixed": bool,
     "lasting_mechanism": bool, "escalation": step | None, ...}

A step is one of ``none``, ``reminder``, ``warning_talk``, ``circular``, ``referral``; a case
status one of ``referred``, ``filed``, ``declined``.
    draw_publication     draw {"algorithm", "seed": str, "frame_sha256": str, "frame_businesses": int,
                               "total": int, "stages": [{"unit": "province" | "city" | "business",
                               "frame_size": int?, "strata": [{"stratum": str, "frame_size": int,
                               "allocated": int}]}],
                               "commitment": {"seed_derivation", "frame_sha256", "committed_at",
                               "committed_on", "beacon": {"name", "published_on", "value"}}
                               | None (None or absent: the seed was not committed)},
                         drawn [{"name", "uscc", "region", "team": int | str | None}]

Dates printed in the body are ``2026年12月11日`` (zh) and ``11 December 2026`` (en); the signing
date (成文日期) is ``二〇二六年十一月二十九日`` (zh) / ``29 November 2026`` (en).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import subprocess
import threading
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import jinja2
import pypdf
import segno
import weasyprint
from weasyprint.text.fonts import FontConfiguration

from domain.campaigns import canonical_json
from domain.errors import BadArgumentError, LookbackError
from domain.notices import content_sha256
from domain.registers import CATEGORY_ZH as BUSINESS_CATEGORY_ZH
from domain.vocabulary import CATEGORY_ZH as ISSUE_CATEGORY_ZH
from domain.vocabulary import ROLE_ZH, SEVERITY_ZH, STATUS_ZH
from domain.workdays import WEEKDAY_EN, WEEKDAY_ZH
from report_templates import charts

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
KINDS = ("rectification_order", "warning_talk", "followup_opinion", "circular", "draw_publication")
LANGS = ("zh", "en")
ATTACHMENT_NAME = "notice.json"
FONT_PACKAGE = "fonts-noto-cjk"
OUTCOMES = ("verified", "not_rectified", "partial")

DEFAULT_TITLE = {
    ("rectification_order", "zh"): "责令整改通知书",
    ("rectification_order", "en"): "Rectification Order",
    ("warning_talk", "zh"): "约谈通知书",
    ("warning_talk", "en"): "Notice of Warning Talk",
    ("followup_opinion", "zh"): "复查意见书",
    ("followup_opinion", "en"): "Follow-up Inspection Opinion",
    ("circular", "zh"): "关于{campaign}工作情况的通报",
    ("circular", "en"): "Circular on the {campaign}",
    ("draw_publication", "zh"): "{campaign}随机抽查结果公示",
    ("draw_publication", "en"): "Publication of the Random Draw: {campaign}",
}

# English labels next to the Chinese ones the domain defines.
ISSUE_CATEGORY_EN = {
    "staffing": "Staffing and duties",
    "routine": "Daily control, weekly checks, monthly review",
    "risk_control": "Risk control",
    "purchase_inspection": "Incoming goods inspection",
    "hygiene_storage": "Hygiene and storage",
    "training": "Training and assessment",
    "supervision": "Supervision",
    "regulatory_follow_up": "Follow-up of regulatory findings",
    "records": "Records",
}
BUSINESS_CATEGORY_EN = {
    "production": "Food production",
    "sales": "Food sales",
    "catering": "Catering",
    "school_canteen": "School canteen",
    "special_food": "Special foods",
    "storage_transport": "Storage and transport",
    "market": "Central market",
}
SEVERITY_EN = {"minor": "minor", "general": "general", "serious": "serious"}
STATUS_EN = {
    "open": "not yet notified",
    "notified": "notified",
    "rectification_reported": "rectification reported",
    "overdue": "overdue",
    "verified": "verified and closed",
}
ROLE_EN = {
    "director": "food safety director",
    "officer": "food safety officer",
    "owner": "principal person in charge",
    "cadre": "assigned official",
    "regulator": "regulator",
}
OUTCOME_ZH = {"verified": "已整改到位", "not_rectified": "未整改到位", "partial": "部分整改到位"}
OUTCOME_EN = {"verified": "rectified (verified)", "not_rectified": "not rectified",
              "partial": "partly rectified"}
# The escalation ladder (domain.followups.LADDER) and a referral's case outcome.
STEP_ZH = {"none": "无", "reminder": "督促提醒", "warning_talk": "约谈", "circular": "通报",
           "referral": "移送"}
STEP_EN = {"none": "none", "reminder": "reminder", "warning_talk": "warning talk",
           "circular": "circular", "referral": "referral"}
CASE_ZH = {"referred": "已移送，待立案", "filed": "已立案", "declined": "不予立案"}
CASE_EN = {"referred": "referred, awaiting decision", "filed": "case filed",
           "declined": "case declined"}
UNIT_ZH = {"province": "省", "city": "市", "county": "县（区）", "business": "市场主体"}
UNIT_EN = {"province": "province", "city": "city", "county": "county", "business": "business"}

LABELS: dict[str, dict[str, dict[str, str]]] = {
    "zh": {
        "category": dict(ISSUE_CATEGORY_ZH),
        "business_category": {str(k): v for k, v in BUSINESS_CATEGORY_ZH.items()},
        "severity": dict(SEVERITY_ZH),
        "status": {str(k): v for k, v in STATUS_ZH.items()},
        "role": dict(ROLE_ZH),
        "outcome": OUTCOME_ZH,
        "step": STEP_ZH,
        "case": CASE_ZH,
        "unit": UNIT_ZH,
    },
    "en": {
        "category": ISSUE_CATEGORY_EN,
        "business_category": BUSINESS_CATEGORY_EN,
        "severity": SEVERITY_EN,
        "status": STATUS_EN,
        "role": ROLE_EN,
        "outcome": OUTCOME_EN,
        "step": STEP_EN,
        "case": CASE_EN,
        "unit": UNIT_EN,
    },
}

MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")
_CN_DIGITS = "〇一二三四五六七八九"


class FontsMissingError(LookbackError):
    """The Noto CJK fonts are not installed: a notice would print boxes instead of Chinese."""

    code = "fonts_missing"
    exit_code = 2


# ---------------------------------------------------------------------------------------------
# Fonts


_fonts_lock = threading.Lock()
_fonts_found: list[str] | None = None
_NOTO_CJK = re.compile(r"^Noto (Sans|Serif)( Mono)? CJK (SC|TC|HK|JP|KR)$")


def _fc_list() -> list[str]:
    """The font families fontconfig knows for Chinese (empty when fc-list itself is missing)."""
    try:
        out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    families: set[str] = set()
    for line in (out or "").splitlines():
        for name in line.split(","):
            if name.strip():
                families.add(name.strip())
    return sorted(families)


def check_fonts(*, refresh: bool = False) -> list[str]:
    """The Noto CJK families installed, or ``FontsMissingError`` when there is none.

    Asks ``fc-list :lang=zh family`` once per process (a success is cached; ``refresh`` asks
    again). A missing ``fc-list`` counts as missing fonts.
    """
    global _fonts_found
    with _fonts_lock:
        if _fonts_found is not None and not refresh:
            return list(_fonts_found)
        found = [f for f in _fc_list() if _NOTO_CJK.match(f)]
        if not found:
            _fonts_found = None
            raise FontsMissingError(
                "the Noto CJK fonts are not installed, so notices cannot be printed without "
                f"boxes in place of Chinese characters; install the Debian package {FONT_PACKAGE} "
                f"(apt-get install {FONT_PACKAGE}) and try again",
                f"未安装Noto CJK中文字体，无法正确打印文书（汉字会显示为方框）；请安装Debian软件包"
                f"{FONT_PACKAGE}（apt-get install {FONT_PACKAGE}）后重试",
            )
        _fonts_found = found
        return list(found)


# ---------------------------------------------------------------------------------------------
# Hashes


def verification_code(sha: str) -> str:
    """The code printed on a notice: the first 20 hex digits of ``sha``, upper case, 5 × 4."""
    head = sha[:20].upper()
    if len(head) != 20 or not re.fullmatch(r"[0-9A-F]{20}", head):
        raise BadArgumentError(f"not a SHA-256 hex digest: {sha!r}",
                               f"不是SHA-256十六进制摘要：{sha!r}")
    return "-".join(head[i:i + 4] for i in range(0, 20, 4))


def qr_data_uri(url: str) -> str:
    """``url`` as a QR code (error correction M, the standard quiet zone): a PNG of one pixel
    per module scaled 8 times, as a ``data:`` URL the template embeds (no file, no network).
    The same URL always gives the same bytes, so a notice re-rendered is identical."""
    buffer = BytesIO()
    segno.make_qr(url, error="m").save(buffer, kind="png", scale=8, border=4)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# ---------------------------------------------------------------------------------------------
# Template helpers


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _cn_number(n: int) -> str:
    """1..99 in Chinese numerals (dates, headings): 十, 十一, 二十, 三十一."""
    tens, ones = divmod(n, 10)
    if tens == 0:
        return _CN_DIGITS[ones]
    return ("" if tens == 1 else _CN_DIGITS[tens]) + "十" + (_CN_DIGITS[ones] if ones else "")


def cn_date(iso: Any) -> str:
    """``2026-11-29`` → ``二〇二六年十一月二十九日`` (成文日期 in Chinese numerals)."""
    d = _as_date(iso)
    year = "".join(_CN_DIGITS[int(c)] for c in f"{d.year:04d}")
    return f"{year}年{_cn_number(d.month)}月{_cn_number(d.day)}日"


def cn_num(n: int) -> str:
    """An ordinal for headings, 1..999 in Chinese numerals: 一, 十二, 二十, 一百零五."""
    n = int(n)
    if not 0 < n < 1000:
        return str(n)
    hundreds, rest = divmod(n, 100)
    if not hundreds:
        return _cn_number(rest)
    out = _CN_DIGITS[hundreds] + "百"
    if rest == 0:
        return out
    if rest < 10:
        return out + "零" + _CN_DIGITS[rest]
    tens, ones = divmod(rest, 10)
    return out + _CN_DIGITS[tens] + "十" + (_CN_DIGITS[ones] if ones else "")


def zh_date(iso: Any) -> str:
    """``2026-12-11`` → ``2026年12月11日``."""
    d = _as_date(iso)
    return f"{d.year}年{d.month}月{d.day}日"


def en_date(iso: Any) -> str:
    """``2026-11-29`` → ``29 November 2026``."""
    d = _as_date(iso)
    return f"{d.day} {MONTHS_EN[d.month - 1]} {d.year}"


def weekday(iso: Any, lang: str = "zh") -> str:
    d = _as_date(iso)
    return (WEEKDAY_ZH if lang == "zh" else WEEKDAY_EN)[d.weekday()]


def pct(x: Any) -> str:
    """A rate as a percentage with one decimal: 0.125 → ``12.5%``, 0.82 → ``82.0%``; exactly
    ``100%`` and ``0%`` without one; ``None`` (nothing to divide by) → ``—``."""
    if x is None:
        return "—"
    s = f"{float(x) * 100:.1f}"
    return f"{s.removesuffix('.0') if s in ('100.0', '0.0') else s}%"


def ratio(numerator: Any, denominator: Any) -> float | None:
    return None if not denominator else float(numerator) / float(denominator)


def _label(lang: str, group: str, key: Any) -> str:
    """The label of ``key`` in ``group`` (category, business_category, severity, status, role,
    outcome, step, case, unit); unknown keys are printed as they are. ``any_category`` tries issue categories,
    then business categories."""
    table = LABELS[lang]
    k = str(key)
    if group == "any_category":
        return table["category"].get(k) or table["business_category"].get(k, k)
    return table[group].get(k, k)


def default_title(content: dict[str, Any]) -> str:
    """The notice's title: ``content["title"]`` or the kind's default."""
    if content.get("title"):
        return str(content["title"])
    campaign = (content.get("campaign") or {}).get("title", "")
    return DEFAULT_TITLE[(content["kind"], content["lang"])].format(campaign=campaign)


def office_font_size(office: str) -> float:
    """Size in pt of the red issuing-office name: as large as GB/T 9704 allows (about 36 pt here),
    smaller for a long name so that it stays on one line across the 156 mm type area."""
    width_em = charts.text_width(office, 1.0) * 1.08  # letter-spacing 0.08em
    return round(max(16.0, min(36.0, 430.0 / max(width_em, 1.0))), 1)


# ---------------------------------------------------------------------------------------------
# Environment, stylesheet, font configuration: built once per process.


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        cache_size=-1,
    )
    env.filters.update(cn_date=cn_date, zh_date=zh_date, en_date=en_date, pct=pct)
    env.globals.update(cn_date=cn_date, zh_date=zh_date, en_date=en_date, pct=pct, ratio=ratio,
                       weekday=weekday, cn_num=cn_num)
    return env


_render_lock = threading.Lock()


@functools.cache
def _font_config() -> FontConfiguration:
    return FontConfiguration()


@functools.cache
def _stylesheet() -> weasyprint.CSS:
    css = (TEMPLATES_DIR / "notice.css").read_text(encoding="utf-8")
    return weasyprint.CSS(string=css, base_url=str(TEMPLATES_DIR), font_config=_font_config(),
                          url_fetcher=bundled_only())


# ---------------------------------------------------------------------------------------------
# Validation


def _fail(en: str, zh: str) -> BadArgumentError:
    return BadArgumentError(f"notice content: {en}", f"文书内容有误：{zh}")


_REQUIRED = {
    "rectification_order": ("issues",),
    "warning_talk": ("issues", "talk"),
    "followup_opinion": ("issue", "followup"),
    "circular": ("summary", "issues_by_category", "provinces", "overdue"),
    "draw_publication": ("draw", "drawn"),
}


def _validate(content: Any) -> None:
    """Refuse content a template cannot print, naming the first problem (before any rendering)."""
    if not isinstance(content, dict):
        raise _fail("must be a JSON object", "应为JSON对象")
    kind, lang = content.get("kind"), content.get("lang")
    if kind not in KINDS:
        raise _fail(f"kind must be one of {', '.join(KINDS)}, not {kind!r}",
                    f"kind应为{'、'.join(KINDS)}之一，而不是{kind!r}")
    if lang not in LANGS:
        raise _fail(f"lang must be zh or en, not {lang!r}", f"lang应为zh或en，而不是{lang!r}")
    needed = ["number", "office", "issued_on", "campaign", *_REQUIRED[kind]]
    if kind != "draw_publication":
        needed.append("addressee")
    missing = [k for k in needed if content.get(k) in (None, "")]
    if missing:
        raise _fail(f"{kind} needs {', '.join(missing)}", f"{kind}缺少{'、'.join(missing)}")
    if "addressee" in content and not (content["addressee"] or {}).get("name"):
        raise _fail("addressee.name is missing", "缺少主送机关（addressee.name）")
    if kind in ("rectification_order", "warning_talk") and not content["issues"]:
        raise _fail(f"a {kind} lists at least one issue", f"{kind}至少应列出一个问题")
    if kind == "followup_opinion" and content["followup"].get("outcome") not in OUTCOMES:
        raise _fail(f"followup.outcome must be one of {', '.join(OUTCOMES)}",
                    f"followup.outcome应为{'、'.join(OUTCOMES)}之一")
    try:
        json.dumps(content)
        _as_date(content["issued_on"])
    except (TypeError, ValueError) as exc:
        raise _fail(str(exc), str(exc)) from None


# ---------------------------------------------------------------------------------------------
# Rendering


def _circular_charts(content: dict[str, Any], lang: str) -> dict[str, str]:
    by_cat = sorted(content["issues_by_category"].items(), key=lambda kv: (-kv[1], kv[0]))
    cat_items = [(_label(lang, "category", k), float(v)) for k, v in by_cat]
    prov_items = [(str(p.get("name") or p.get("code")), p.get("rectification_rate"))
                  for p in content["provinces"]]
    zh = lang == "zh"
    return {
        "by_category": charts.bar_chart(
            cat_items, value_label=lambda v: "—" if v is None else f"{v:.0f}", integer=True,
            empty_text="无" if zh else "none"),
        "by_province": charts.bar_chart(
            prov_items, value_label=pct, max_value=1.0, ticks=4,
            tick_label=lambda v: f"{v * 100:.0f}%"),
    }


def _provisional_years(content: dict[str, Any]) -> list[str]:
    """The years of the provisional deadlines in a notice (their calendar is not published)."""
    issues = list(content.get("issues") or [])
    if content.get("issue"):
        issues.append(content["issue"])
    years = {str(i["due_on"])[:4] for i in issues if i.get("due_provisional") and i.get("due_on")}
    fu = content.get("followup") or {}
    if fu.get("new_due_provisional") and fu.get("new_due_on"):
        years.add(str(fu["new_due_on"])[:4])
    return sorted(years)


def render_html(content: dict[str, Any]) -> str:
    """The filled-in HTML of a notice (what ``render`` prints), after validating the content."""
    _validate(content)
    template = _environment().get_template(f"{content['kind']}.{content['lang']}.html")
    try:
        return _fill(template, content)
    except jinja2.UndefinedError as exc:
        raise _fail(f"a value is missing ({exc.message})", f"缺少必要的值（{exc.message}）") from None
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise _fail(f"a value cannot be printed ({exc!r})", f"有值无法打印（{exc!r}）") from None


def _fill(template: jinja2.Template, content: dict[str, Any]) -> str:
    lang = content["lang"]
    sha = content_sha256(content)
    extra: dict[str, Any] = {}
    if content["kind"] == "circular":
        extra["charts"] = _circular_charts(content, lang)
    qr = content.get("verify_url")
    extra["qr"] = qr_data_uri(str(qr)) if qr else None
    return template.render(
        c=content,
        lang=lang,
        doc_title=default_title(content),
        office_short=content.get("office_short") or content["office"],
        office_size=office_font_size(content["office"]),
        sha256=sha,
        code=verification_code(sha),
        label=functools.partial(_label, lang),
        d=zh_date if lang == "zh" else en_date,
        sign_date=cn_date if lang == "zh" else en_date,
        prov_years=_provisional_years(content),
        **extra,
    )


def render(content: dict[str, Any]) -> bytes:
    """The PDF/A-3b of a notice, with ``notice.json`` (the canonical content) attached.

    Raises ``FontsMissingError`` without the Noto CJK fonts, ``BadArgumentError`` for content a
    template cannot print.
    """
    check_fonts()
    html = render_html(content)
    issued = datetime.combine(_as_date(content["issued_on"]), datetime.min.time())
    attachment = weasyprint.Attachment(
        string=canonical_json(content),
        name=ATTACHMENT_NAME,
        description=("Notice content (canonical JSON); its SHA-256 gives the verification code "
                     "/ 文书内容（规范JSON），其SHA-256即验证码来源"),
        created=issued,
        modified=issued,
        relationship="Source",
    )
    with _render_lock:  # one font configuration per process, shared: one render at a time
        pdf: bytes = weasyprint.HTML(string=html, base_url=str(TEMPLATES_DIR),
                                     url_fetcher=bundled_only()).write_pdf(
            stylesheets=[_stylesheet()],
            font_config=_font_config(),
            pdf_variant="pdf/a-3b",
            attachments=[attachment],
            finisher=_dedupe_associated_files,
        )
    return pdf


def check_resource_url(url: str) -> None:
    """Refuse every resource a notice could ask for except ``data:`` URLs and the project's own
    bundled template files (a remote address or a file elsewhere on the machine raises), so that
    escaping is not the only barrier between a notice's content and the network."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(url)
    if parsed.scheme == "data":
        return
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path)).resolve()
        if path.is_relative_to(TEMPLATES_DIR.resolve()):
            return
    raise ValueError(f"notices fetch no outside resources (refused: {url[:80]})")


@functools.cache
def bundled_only() -> Any:
    """WeasyPrint's URL fetcher for notices: :func:`check_resource_url`, then the default."""
    from weasyprint.urls import URLFetcher

    class BundledOnly(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            check_resource_url(url)
            return super().fetch(url, headers)

    return BundledOnly(allowed_protocols={"file", "data"})


def _dedupe_associated_files(document: Any, pdf: Any) -> None:
    """WeasyPrint 70 lists each attachment twice in the catalog's /AF (associated files) array:
    keep each reference once."""
    af = pdf.catalog.get("AF")
    if af:
        unique = list(dict.fromkeys(af))  # references (bytes such as b"24 0 R"), in order
        af.clear()
        af.extend(unique)


def extract_content(pdf: bytes) -> dict[str, Any] | None:
    """The notice content attached to a PDF made by ``render``; ``None`` when it has no readable
    ``notice.json`` (not a PDF, another PDF, a damaged attachment)."""
    # pypdf logs its complaints about damaged files; the caller reports the verdict itself.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = pypdf.PdfReader(BytesIO(pdf))
        data = reader.attachments.get(ATTACHMENT_NAME)
        if not data:
            return None
        content = json.loads(data[0].decode("utf-8"))
    except Exception:  # pypdf raises many kinds of errors on damaged files
        return None
    return content if isinstance(content, dict) else None
