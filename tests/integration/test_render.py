"""Notices rendered to PDF/A-3b with WeasyPrint: every kind in both languages.

What a rendered notice must show, checked on the PDF itself (pypdf text extraction; whitespace is
ignored because extraction breaks lines and pads justified text with spaces, and English words
hyphenated at a line end are joined):

- the document number, the business name (the addressee; for a circular the first overdue
  business, for a draw publication the first business drawn) and the verification code;
- each issue's due date as printed in the body: ``2026年12月11日`` in Chinese, ``11 December 2026``
  in English (the signing date alone is in Chinese numerals, ``二〇二六年十一月二十九日``);
- embedded fonts only (FontFile2/FontFile3 in every font descriptor), a Noto CJK one among them;
- PDF/A-3b declared in the XMP metadata, and the canonical content attached as notice.json
  (``extract_content`` gives back exactly the content).

Needs the Debian package fonts-noto-cjk; without it the rendering tests are skipped (and
``check_fonts`` says what to install, as tested below with a fake fc-list).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from typing import Any

import pypdf
import pytest

from domain.campaigns import canonical_json
from domain.errors import BadArgumentError
from report_templates import charts, render
from report_templates.render import (
    FontsMissingError,
    check_fonts,
    cn_date,
    content_sha256,
    en_date,
    extract_content,
    pct,
    verification_code,
    zh_date,
)
from report_templates.samples import BUILDERS, sample

KINDS = list(BUILDERS)
LANGS = ["zh", "en"]
CASES = [(k, lang) for k in KINDS for lang in LANGS]


def _fonts_ok() -> bool:
    try:
        check_fonts()
    except FontsMissingError:
        return False
    return True


needs_fonts = pytest.mark.skipif(not _fonts_ok(), reason="fonts-noto-cjk is not installed")


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], tuple[dict[str, Any], bytes, float]]:
    """Every sample rendered once: (content, pdf, seconds)."""
    render.render(sample("rectification_order", "zh"))  # warm-up: fonts, templates, stylesheet
    out = {}
    for kind, lang in CASES:
        content = sample(kind, lang)
        t0 = time.perf_counter()
        pdf = render.render(content)
        out[(kind, lang)] = (content, pdf, time.perf_counter() - t0)
    return out


def _text(pdf: bytes) -> str:
    """The text of all pages, without whitespace and with words hyphenated at line ends joined."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return re.sub(r"\s+", "", re.sub(r"(?<=[a-z])-\s*\n\s*(?=[a-z])", "", text))


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def _business_name(content: dict[str, Any]) -> str:
    kind = content["kind"]
    if kind == "circular":
        return content["overdue"][0]["name"]
    if kind == "draw_publication":
        return content["drawn"][0]["name"]
    return content["addressee"]["name"]


def _due_dates(content: dict[str, Any]) -> list[str]:
    issues = list(content.get("issues") or [])
    if content.get("issue"):
        issues.append(content["issue"])
    dates = [i["due_on"] for i in issues]
    if (content.get("followup") or {}).get("new_due_on"):
        dates.append(content["followup"]["new_due_on"])
    if content["kind"] == "circular":
        dates += [o["due_on"] for o in content["overdue"]]
    return dates


# ---------------------------------------------------------------------------------------------
# Every kind × language


@needs_fonts
@pytest.mark.parametrize(("kind", "lang"), CASES)
def test_notice_pdf_shows_what_it_must(rendered, kind: str, lang: str) -> None:
    content, pdf, _ = rendered[(kind, lang)]
    assert pdf.startswith(b"%PDF-")
    text = _text(pdf)
    assert _squash(content["number"]) in text
    assert _squash(_business_name(content)) in text
    code = verification_code(content_sha256(content))
    assert code in text
    assert "lookbacknoticesverify" in text
    fmt = zh_date if lang == "zh" else en_date
    for iso in _due_dates(content):
        assert _squash(fmt(iso)) in text, f"due date {iso} not printed as {fmt(iso)}"
    if lang == "zh":
        assert cn_date(content["issued_on"]) in text  # 成文日期 in Chinese numerals
    else:
        assert _squash(en_date(content["issued_on"])) in text


@needs_fonts
@pytest.mark.parametrize(("kind", "lang"), CASES)
def test_fonts_are_embedded_and_include_cjk(rendered, kind: str, lang: str) -> None:
    _, pdf, _ = rendered[(kind, lang)]
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    names = set()
    for page in reader.pages:
        fonts = page["/Resources"].get_object()["/Font"].get_object()
        for ref in fonts.values():
            font = ref.get_object()
            names.add(str(font["/BaseFont"]))
            descendant = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font \
                else font
            descriptor = descendant["/FontDescriptor"].get_object()
            assert "/FontFile2" in descriptor or "/FontFile3" in descriptor, font["/BaseFont"]
    assert names
    assert any("CJK" in n for n in names), names


@needs_fonts
@pytest.mark.parametrize(("kind", "lang"), CASES)
def test_pdfa3b_with_the_content_attached(rendered, kind: str, lang: str) -> None:
    content, pdf, _ = rendered[(kind, lang)]
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    xmp = root["/Metadata"].get_object().get_data().decode("utf-8")
    assert re.search(r'pdfaid:part(="3"|>3<)', xmp), xmp
    assert re.search(r'pdfaid:conformance(="B"|>B<)', xmp), xmp
    assert "/OutputIntents" in root
    # The attachment is an associated file of the document (PDF/A-3), its source.
    filespecs = [f.get_object() for f in root["/AF"]]
    assert [str(f["/UF"]) for f in filespecs] == ["notice.json"]
    assert filespecs[0]["/AFRelationship"] == "/Source"
    # Exactly the content, in canonical JSON.
    assert reader.attachments["notice.json"][0] == canonical_json(content).encode("utf-8")
    assert extract_content(pdf) == content
    # Title metadata: number and title.
    title = reader.metadata.title
    assert content["number"] in title
    assert render.default_title(content) in title


# ---------------------------------------------------------------------------------------------
# Details


@needs_fonts
def test_rendering_is_deterministic() -> None:
    content = sample("followup_opinion", "zh")
    assert render.render(content) == render.render(json.loads(json.dumps(content)))


@needs_fonts
def test_render_time_per_page(rendered, capsys) -> None:
    pages = seconds = 0.0
    for _, pdf, took in rendered.values():
        pages += len(pypdf.PdfReader(io.BytesIO(pdf)).pages)
        seconds += took
    per_page = seconds / pages
    with capsys.disabled():
        print(f"\nrender: {len(rendered)} notices, {pages:.0f} pages, {seconds:.2f} s, "
              f"{per_page * 1000:.0f} ms per page")
    assert per_page < 3.0  # about 0.1 s on a laptop; this only catches a pathological slowdown


@needs_fonts
def test_provisional_deadline_is_marked_and_explained(rendered) -> None:
    zh = _text(rendered[("rectification_order", "zh")][1])
    assert "2027年1月8日前（暂定）" in zh
    assert "2027年国家法定节假日安排尚未公布" in zh
    en = _text(rendered[("rectification_order", "en")][1])
    assert "by8January2027(provisional)" in en
    assert "officialholidaycalendarfor2027hasnotbeenpublished" in en


@needs_fonts
def test_rectification_order_states_appeal_rights_and_receipt(rendered) -> None:
    zh = _text(rendered[("rectification_order", "zh")][1])
    assert "如不服本通知，可在收到之日起六十日内依法申请行政复议，或者在六个月内依法提起行政诉讼" in zh
    assert "整改报告及佐证材料" in zh
    assert "送达回执" in zh and "受送达人签收" in zh
    en = _text(rendered[("rectification_order", "en")][1])
    assert "administrativereviewwithin60days" in en
    assert "administrativelawsuitwithin6months" in en


@needs_fonts
def test_followup_opinion_answers_the_three_questions(rendered) -> None:
    zh = _text(rendered[("followup_opinion", "zh")][1])
    for q in ("硬措施是否落实是", "问题是否真正解决否", "长效机制是否建立否", "部分整改到位"):
        assert q in zh


@needs_fonts
def test_circular_has_charts_table_and_overdue(rendered) -> None:
    content, pdf, _ = rendered[("circular", "zh")]
    text = _text(pdf)
    assert "日管控、周排查、月调度" in text  # bar label in the chart
    for p in content["provinces"]:
        assert p["name"] in text
    assert pct(content["summary"]["rectification_rate"]) in text
    html = render.render_html(content)
    assert html.count("<svg") == 2


@needs_fonts
def test_draw_publication_tells_how_to_verify(rendered) -> None:
    content, pdf, _ = rendered[("draw_publication", "zh")]
    text = _text(pdf)
    assert content["draw"]["frame_sha256"] in text
    assert content["draw"]["seed"] in text
    assert "lookbackdrawverify" in text
    assert "pythondocs/verify_draw.pyrecord.jsonframe.csv" in text
    for b in content["drawn"]:
        assert b["uscc"] in text


def test_text_is_escaped() -> None:
    content = sample("rectification_order", "zh")
    content["addressee"]["name"] = "某店<script>&amp;</script>"
    content["issues"][0]["description"] = "<b>未配备</b>"
    html = render.render_html(content)
    assert "<script>" not in html and "<b>未配备" not in html
    assert "某店&lt;script&gt;&amp;amp;&lt;/script&gt;" in html


def test_address_may_come_as_addressee_address() -> None:
    content = sample("rectification_order", "zh")
    del content["addressee"]["address"]
    assert "文三路108号" not in render.render_html(content)
    content["addressee_address"] = "某市西湖区文三路108号"
    html = render.render_html(content)
    assert html.count("某市西湖区文三路108号") == 2  # under the addressee and in the receipt


def test_content_is_checked_before_rendering() -> None:
    for bad in ({**sample("circular"), "kind": "memo"},
                {**sample("circular"), "lang": "fr"},
                {k: v for k, v in sample("warning_talk").items() if k != "talk"},
                {**sample("rectification_order"), "issues": []},
                {**sample("followup_opinion"), "issued_on": "29/11/2026"},
                {**sample("rectification_order"), "issues": [{"id": 1}]},
                {**sample("warning_talk"), "talk": {**sample("warning_talk")["talk"],
                                                   "date": "2026-02-30"}}):
        with pytest.raises(BadArgumentError):
            render.render_html(bad)


def test_every_domain_code_has_an_english_label() -> None:
    from domain.issues import IssueStatus
    from domain.registers import Category
    from domain.vocabulary import CATEGORIES, ROLES, SEVERITIES

    en = render.LABELS["en"]
    assert set(CATEGORIES) <= set(en["category"])
    assert {str(c) for c in Category} <= set(en["business_category"])
    assert set(SEVERITIES) <= set(en["severity"])
    assert {str(s) for s in IssueStatus} <= set(en["status"])
    assert set(ROLES) <= set(en["role"])
    for group, table in render.LABELS["zh"].items():
        assert set(table) == set(en[group]), group


def test_hash_and_verification_code() -> None:
    content = sample("warning_talk", "zh")
    sha = content_sha256(content)
    assert len(sha) == 64
    assert content_sha256(json.loads(canonical_json(content))) == sha  # key order does not matter
    code = verification_code(sha)
    assert re.fullmatch(r"[0-9A-F]{4}(-[0-9A-F]{4}){4}", code)
    assert code.replace("-", "") == sha[:20].upper()
    with pytest.raises(BadArgumentError):
        verification_code("xyz")


def test_date_and_rate_helpers() -> None:
    assert cn_date("2026-11-29") == "二〇二六年十一月二十九日"
    assert cn_date("2030-10-10") == "二〇三〇年十月十日"
    assert cn_date("2027-01-31") == "二〇二七年一月三十一日"
    assert zh_date("2026-12-04") == "2026年12月4日"
    assert en_date("2026-11-29") == "29 November 2026"
    assert pct(0.125) == "12.5%"
    assert pct(0.82) == "82.0%"
    assert pct(1.0) == "100%"
    assert pct(None) == "—"


def test_extract_content_of_other_files() -> None:
    assert extract_content(b"not a pdf") is None
    blank = io.BytesIO()
    writer = pypdf.PdfWriter()
    writer.add_blank_page(595, 842)
    writer.write(blank)
    assert extract_content(blank.getvalue()) is None
    writer.add_attachment("notice.json", b"{broken")
    damaged = io.BytesIO()
    writer.write(damaged)
    assert extract_content(damaged.getvalue()) is None


def test_charts_escape_text_and_are_valid_svg() -> None:
    svg = charts.bar_chart([("人员<配备>&职责", 3), ("空", None), ("x" * 200, 0)], title="a&b")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "人员<配备>&职责" in texts and "a&b" in texts and "—" in texts
    assert any(t and t.endswith("…") for t in texts)  # long labels are cut
    assert ET.fromstring(charts.bar_chart([])).tag.endswith("svg")
    assert charts.nice_axis(7, integer=True) == (8.0, 4)


# ---------------------------------------------------------------------------------------------
# Fonts missing


@pytest.fixture
def fake_fc_list(monkeypatch):
    """Make fc-list answer ``stdout`` (or raise ``error``); the real answer is restored after."""
    state: dict[str, Any] = {"stdout": "", "error": None}

    def run(args, **kwargs):
        assert args[0] == "fc-list"
        if state["error"]:
            raise state["error"]
        return subprocess.CompletedProcess(args, 0, stdout=state["stdout"], stderr="")

    monkeypatch.setattr(render.subprocess, "run", run)
    yield state
    monkeypatch.undo()
    with contextlib.suppress(FontsMissingError):
        check_fonts(refresh=True)


def test_missing_fonts_are_reported_with_the_package_to_install(fake_fc_list) -> None:
    fake_fc_list["stdout"] = "DejaVu Sans\nWenQuanYi Zen Hei,文泉驿正黑\n"
    with pytest.raises(FontsMissingError) as err:
        check_fonts(refresh=True)
    assert err.value.exit_code == 2
    assert "fonts-noto-cjk" in err.value.message("en")
    assert "apt-get install fonts-noto-cjk" in err.value.message("en")
    assert "fonts-noto-cjk" in err.value.message("zh") and "字体" in err.value.message("zh")
    # render refuses too, before drawing a single box
    with pytest.raises(FontsMissingError):
        render.render(sample("rectification_order", "zh"))


def test_missing_fc_list_counts_as_missing_fonts(fake_fc_list) -> None:
    fake_fc_list["error"] = FileNotFoundError("fc-list")
    with pytest.raises(FontsMissingError):
        check_fonts(refresh=True)


def test_noto_cjk_found_and_cached(fake_fc_list) -> None:
    fake_fc_list["stdout"] = "Noto Sans CJK SC,Noto Sans CJK SC Regular\nNoto Serif CJK SC\n"
    assert "Noto Serif CJK SC" in check_fonts(refresh=True)
    fake_fc_list["stdout"] = ""
    assert "Noto Serif CJK SC" in check_fonts()  # cached: fc-list is not asked again


def test_the_printed_code_and_the_stored_hash_have_one_definition() -> None:
    """The verification code on a PDF and the notice's stored content hash cannot drift apart:
    the renderer uses the domain's one function."""
    import domain.notices
    import report_templates.render

    assert report_templates.render.content_sha256 is domain.notices.content_sha256
