"""The notice commands end to end through the CLI (Typer's runner, a SQLite file, the real Prefect
flow and real WeasyPrint rendering): issue, list, show, void and verify numbered PDF notices.

The database is built once per module, fast, at the domain level: registers imported through the
CLI, a campaign launched with ``domain.campaigns.launch`` and failed interviews recorded with
``domain.fieldwork_import.record_batch`` so that some of the drawn businesses have open issues.
The rectification orders are then issued once through the CLI (which starts Prefect's temporary
server, once per process). Tests that change the records work on their own copy of the database.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pypdf
import pytest
from typer.testing import CliRunner

from lookback.cli import app
from tests.plans import small_plan

ROOT = Path(__file__).resolve().parents[2]
# Monday 16 March 2026, 09:30 in Beijing: the official calendar covers 2026, so every due date is
# final (not provisional).
NOW = "2026-03-16T09:30:00+08:00"
YEAR = 2026
OFFICE = "某市食品安全委员会办公室"
OFFICE_SHORT = "某市食安办"
TITLE = "文书签发测试督查"
LOWER_OFFICES = "各省、自治区、直辖市食品安全委员会办公室"
WITH_ISSUES = 5  # of the 8 drawn businesses, these many get failed interviews
ISSUES = 7  # 1, 2, 1, 2 and 1 failed items at those 5
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")

PLAN = small_plan(title=TITLE, office=OFFICE, office_short=OFFICE_SHORT, starts_on="2026-03-02",
                  ends_on="2026-06-30", total=8)


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert "internal error" not in result.output and "内部错误" not in result.output
    # --json keeps stdout machine-readable; notes and progress go to stderr.
    return result.stdout if "--json" in args else result.output


def number_re(abbr: str, year: int = YEAR) -> re.Pattern[str]:
    return re.compile(rf"^{OFFICE_SHORT}{abbr}〔{year}〕([1-9]\d*)号$")


def zh_date(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.year}年{d.month}月{d.day}日"


def en_date(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def pdf_text(data: bytes) -> str:
    """The text of every page, without line breaks (a date may wrap across two lines)."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "".join((p.extract_text() or "").replace("\n", "") for p in reader.pages)


def copy_db(src: Path, dst: Path) -> Path:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)  # a plain file copy would miss what is still in the WAL
    return dst


@dataclass
class Site:
    """A database and data folder, with the CLI's global options in front of every command."""

    db: Path
    data: Path

    def cli(self, *args: str, code: int = 0, lang: str = "en", now: str = NOW) -> str:
        return run("--db", str(self.db), "--data-dir", str(self.data), "--lang", lang,
                   "--now", now, *args, code=code)

    def json(self, *args: str, code: int = 0, now: str = NOW) -> Any:
        return json.loads(self.cli("--json", *args, code=code, now=now))

    def issue(self, kind: str, *extra: str, lang: str = "en", now: str = NOW) -> Any:
        return json.loads(self.cli("--json", "notices", "issue", "--campaign", "1", "--kind",
                                   kind, *extra, lang=lang, now=now))


@dataclass
class Issued:
    site: Site
    pristine: Path  # the database before any notice was issued
    out_dir: Path
    result: dict[str, Any]  # the JSON of `notices issue --kind rectification_order`
    open_before: list[dict[str, Any]]  # the open issues before issuing

    def by_uscc(self) -> dict[str, list[dict[str, Any]]]:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for i in self.open_before:
            groups[i["uscc"]].append(i)
        return groups

    def orders(self) -> list[dict[str, Any]]:
        return self.site.json("notices", "list", "--campaign", "1", "--kind",
                              "rectification_order")["items"]


def record_failed_interviews(url: str, data: Path) -> None:
    """A launched campaign of 8 visits; owner interviews failing 1 or 2 items at 5 of them."""
    from domain.campaigns import create_campaign, launch
    from domain.checklists import default_checklists
    from domain.clock import FixedClock
    from domain.fieldwork_import import record_batch
    from flows.wiring import engine_for, uow_for
    from storage.calendar import ChineseCalendarSource
    from storage.reports import ListProblemSink

    uow = uow_for(url)
    clock = FixedClock(datetime.fromisoformat(NOW))
    cid = create_campaign(PLAN, source="plan.toml", uow_factory=uow, clock=clock,
                          new_seed=lambda: "1")
    assert cid == 1
    launch(cid, uow_factory=uow, clock=clock)
    with uow() as u:
        visits = u.fieldwork.list_visits(cid, team=None, status=None)
    assert len(visits) == 8
    checklists = default_checklists()
    items = [i.id for i in checklists.for_role("owner")]
    rows: list[tuple[int, dict[str, object]]] = []
    for n, v in enumerate(sorted(visits, key=lambda v: v.id)[:WITH_ISSUES]):
        failing = {items[n], items[n + 4]} if n % 2 else {items[n]}
        for item_id in items:
            fail = item_id in failing
            rows.append((len(rows) + 2, {"visit_id": v.id, "role": "owner", "name": f"店主{n}",
                                         "item_id": item_id, "result": "fail" if fail else "pass",
                                         "note": "现场检查发现问题" if fail else "",
                                         "team": v.team_no}))
    sink = ListProblemSink()
    summary = record_batch(rows, uow_factory=uow, clock=clock, checklists=checklists,
                           calendar=ChineseCalendarSource(data), sink=sink, actor="test:team")
    assert summary.rejected == 0 and summary.issues == ISSUES, summary
    engine_for(url).dispose()


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Issued:
    folder = tmp_path_factory.mktemp("notices")
    site = Site(folder / "lookback.db", folder / "data")
    site.cli("init")
    site.cli("registry", "generate", "--businesses", "1500", "--seed", "11", "--out",
             str(folder / "reg"))
    for kind in ("businesses", "inspectors"):
        site.cli("registry", "import", str(folder / "reg" / f"{kind}.csv"), "--kind", kind)
    record_failed_interviews(f"sqlite:///{site.db}", site.data)
    pristine = copy_db(site.db, folder / "pristine.db")
    open_before = site.json("issue", "list", "--campaign", "1", "--status", "open")["items"]
    assert len(open_before) == ISSUES
    out_dir = folder / "out"
    # Messages in English (--lang en), the documents in Chinese (--notice-lang zh).
    result = site.issue("rectification_order", "--notice-lang", "zh", "--out", str(out_dir))
    return Issued(site, pristine, out_dir, result, open_before)


def test_one_order_per_business_with_open_issues_numbered_without_gaps(issued: Issued) -> None:
    groups = issued.by_uscc()
    k = len(groups)
    assert k == WITH_ISSUES
    r = issued.result
    assert r["ok"] is True and r["kind"] == "rectification_order" and r["lang"] == "zh"
    assert r["issued_now"] == k and r["total"] == k
    pattern = number_re("责改")
    seqs = sorted(int(pattern.match(n).group(1)) for n in r["numbers"])  # type: ignore[union-attr]
    assert seqs == list(range(1, k + 1))
    # One PDF per notice in --out, named by its number.
    assert sorted(Path(f).name for f in r["files"]) == sorted(f"{n}.pdf" for n in r["numbers"])
    assert all(Path(f).is_file() and Path(f).parent == issued.out_dir for f in r["files"])
    orders = issued.orders()
    assert len(orders) == k
    assert {o["status"] for o in orders} == {"issued"}
    assert {o["uscc"] for o in orders} == set(groups)
    assert {o["addressee"] for o in orders} == {g[0]["business"] for g in groups.values()}


def _fonts(reader: pypdf.PdfReader) -> list[tuple[str, bool]]:
    """(base font, embedded?) of every font used on every page."""
    found = []
    for page in reader.pages:
        fonts = page["/Resources"].get_object().get("/Font", {})
        for ref in fonts.get_object().values():
            font = ref.get_object()
            for desc in [d.get_object() for d in font.get("/DescendantFonts", [])] or [font]:
                fd = desc.get("/FontDescriptor")
                embedded = fd is not None and any(
                    k in fd.get_object() for k in ("/FontFile", "/FontFile2", "/FontFile3"))
                found.append((str(font.get("/BaseFont")), embedded))
    return found


def test_each_pdf_names_business_number_and_due_dates_in_chinese(issued: Issued) -> None:
    groups = issued.by_uscc()
    for order in issued.orders():
        data = (issued.out_dir / f"{order['number']}.pdf").read_bytes()
        assert hashlib.sha256(data).hexdigest() == order["pdf_sha256"]
        text = pdf_text(data)
        assert "责令整改通知书" in text
        assert order["addressee"] in text and order["number"] in text
        assert OFFICE in text
        for i in groups[order["uscc"]]:
            assert not i["due_provisional"]
            assert f"整改期限：{zh_date(i['due_on'])}" in text, (order["number"], i["due_on"])

        reader = pypdf.PdfReader(io.BytesIO(data))
        fonts = _fonts(reader)
        assert fonts and all(embedded for _, embedded in fonts), fonts
        assert any("CJK" in name for name, _ in fonts), fonts
        # PDF/A-3b declared: the XMP identification schema and an output intent.
        xmp = reader.xmp_metadata
        assert xmp is not None
        raw = xmp.stream.get_data()
        assert re.search(rb'pdfaid:part(="|>)3', raw) and re.search(
            rb'pdfaid:conformance(="|>)B', raw), raw[:500]
        root = reader.trailer["/Root"]
        assert root["/OutputIntents"][0].get_object()["/S"] == "/GTS_PDFA1"
        # The content attached as notice.json is the stored content.
        attached = reader.attachments["notice.json"]
        assert len(attached) == 1
        shown = issued.site.json("notices", "show", order["number"])
        assert shown["status"] == "issued" and shown["pdf_sha256"] == order["pdf_sha256"]
        assert json.loads(attached[0].decode("utf-8")) == shown["content"]
        assert shown["content"]["number"] == order["number"]
        assert shown["content"]["issued_on"] == NOW[:10]


def test_issuing_an_order_notified_its_issues(issued: Issued) -> None:
    site = issued.site
    assert site.json("issue", "list", "--campaign", "1", "--status", "open")["count"] == 0
    notified = site.json("issue", "list", "--campaign", "1", "--status", "notified")["items"]
    assert sorted(i["id"] for i in notified) == sorted(i["id"] for i in issued.open_before)
    number_of = {o["uscc"]: o["number"] for o in issued.orders()}
    for i in issued.open_before:
        shown = site.json("issue", "show", str(i["id"]))
        assert shown["status"] == "notified"
        notify = [e for e in shown["history"] if e["kind"] == "issue.notify"]
        assert len(notify) == 1 and notify[0]["payload"]["notice"] == number_of[i["uscc"]]
    human = site.cli("issue", "show", str(issued.open_before[0]["id"]))
    assert "notified" in human


def test_rerun_issues_nothing_and_takes_no_new_number(issued: Issued) -> None:
    before = issued.orders()
    again = issued.site.issue("rectification_order", "--notice-lang", "zh")
    assert again["issued_now"] == 0 and again["total"] == len(before)
    assert sorted(again["numbers"]) == sorted(issued.result["numbers"])
    after = issued.orders()
    assert [(o["number"], o["pdf_sha256"]) for o in after] == [
        (o["number"], o["pdf_sha256"]) for o in before]


def test_draw_publication_and_circular(issued: Issued, tmp_path: Path) -> None:
    site = issued.site
    for kind, abbr, words in (("draw_publication", "公示", ("随机抽查结果公示", TITLE)),
                              ("circular", "通报", ("通报", LOWER_OFFICES))):
        out = site.issue(kind, "--notice-lang", "zh", "--out", str(tmp_path / kind))
        assert out["issued_now"] == 1 and out["total"] == 1, out
        (number,) = out["numbers"]
        assert number_re(abbr).match(number), number
        (path,) = out["files"]
        data = Path(path).read_bytes()
        text = pdf_text(data)
        for w in (*words, number, OFFICE):
            assert w in text, (kind, w)
        assert any(name for name, _ in _fonts(pypdf.PdfReader(io.BytesIO(data))))
        assert "OK" in site.cli("notices", "verify", path)
        again = site.issue(kind, "--notice-lang", "zh")
        assert again["issued_now"] == 0 and again["numbers"] == [number]
    # The draw publication names the drawn businesses.
    pub = site.json("notices", "list", "--campaign", "1", "--kind", "draw_publication")["items"]
    content = site.json("notices", "show", pub[0]["number"])["content"]
    assert len(content["drawn"]) == 8 and content["addressee"]["name"] == "社会公众"


def test_notice_lang_en_gives_english_text(issued: Issued, tmp_path: Path) -> None:
    site = Site(copy_db(issued.pristine, tmp_path / "en.db"), tmp_path / "data")
    # Messages in Chinese (--lang zh), the documents in English (--notice-lang en).
    out = site.issue("rectification_order", "--notice-lang", "en", "--out", str(tmp_path / "en"),
                     lang="zh")
    assert out["lang"] == "en" and out["issued_now"] == WITH_ISSUES
    groups = issued.by_uscc()
    for number in out["numbers"]:
        shown = site.json("notices", "show", number)
        assert shown["lang"] == "en" and shown["content"]["lang"] == "en"
        text = pdf_text((tmp_path / "en" / f"{number}.pdf").read_bytes())
        assert "Rectification Order" in text and number in text
        assert shown["addressee"] in text
        for i in groups[shown["uscc"]]:
            assert en_date(i["due_on"]) in text, (number, i["due_on"])
        assert "责令整改通知书" not in text


def test_verify_ok_altered_void_and_unknown(issued: Issued, tmp_path: Path) -> None:
    site = Site(copy_db(issued.site.db, tmp_path / "v.db"), issued.site.data)
    first, second = issued.orders()[:2]
    pdf = issued.out_dir / f"{first['number']}.pdf"

    ok = site.cli("notices", "verify", str(pdf))
    assert "OK" in ok and first["number"] in ok and first["addressee"] in ok
    assert "核验通过" in site.cli("notices", "verify", str(pdf), lang="zh")
    as_json = site.json("notices", "verify", str(pdf))
    assert as_json["ok"] is True and as_json["status"] == "valid"
    assert as_json["number"] == first["number"] and as_json["addressee"] == first["addressee"]

    # One byte changed (in the binary comment after the header: still a readable PDF with the
    # same notice.json inside, so it claims to be the notice).
    data = bytearray(pdf.read_bytes())
    assert data[:10] == b"%PDF-1.7\n%"
    data[11] ^= 0x01
    altered = tmp_path / "altered.pdf"
    altered.write_bytes(bytes(data))
    bad = site.cli("notices", "verify", str(altered), code=1)
    assert "ALTERED" in bad and first["number"] in bad
    assert site.json("notices", "verify", str(altered), code=1)["status"] == "altered"

    reason = "送达地址错误"
    assert "voided" in site.cli("notices", "void", first["number"], "--reason", reason)
    void = site.cli("notices", "verify", str(pdf), code=1)
    assert "VOID" in void and reason in void and first["number"] in void
    assert site.json("notices", "show", first["number"])["status"] == "void"
    again = site.cli("notices", "void", first["number"], "--reason", "again", code=4)
    assert "already void" in again
    site.cli("notices", "void", second["number"], "--reason", "  ", code=2)
    site.cli("notices", "void", "某市食安办责改〔2026〕999号", "--reason", reason, code=3)
    # The other notices are untouched, and the voided number is still taken.
    assert "OK" in site.cli("notices", "verify", str(issued.out_dir / f"{second['number']}.pdf"))
    listed = site.json("notices", "list", "--campaign", "1", "--kind", "rectification_order")
    assert [o["number"] for o in listed["items"]] == [o["number"] for o in issued.orders()]

    # Unknown: a real-looking notice that was never issued here, and a file that is no PDF.
    from report_templates.render import render
    from report_templates.samples import sample

    stranger = tmp_path / "sample.pdf"
    stranger.write_bytes(render(sample("rectification_order")))
    out = site.cli("notices", "verify", str(stranger), code=1)
    assert "unknown" in out
    assert site.json("notices", "verify", str(stranger), code=1)["status"] == "unknown"
    site.cli("notices", "verify", str(tmp_path / "missing.pdf"), code=2)


def test_bad_kind_language_and_campaign_are_refused_clearly(issued: Issued,
                                                            tmp_path: Path) -> None:
    site = issued.site
    out = site.cli("notices", "issue", "--campaign", "1", "--kind", "bogus", code=2)
    assert "--kind" in out and "rectification_order" in out
    # Follow-up opinions are issuable now: with no look-back check recorded there is none to issue.
    none_yet = site.issue("followup_opinion", "--notice-lang", "zh")
    assert none_yet["ok"] and none_yet["issued_now"] == 0 and none_yet["total"] == 0
    out = site.cli("notices", "issue", "--campaign", "1", "--kind", "circular", "--notice-lang",
                   "fr", code=2)
    assert "--notice-lang" in out
    out = site.cli("notices", "issue", "--campaign", "99", "--kind", "rectification_order",
                   code=3)
    assert "campaign 99 does not exist" in out
    assert site.json("notices", "issue", "--campaign", "99", "--kind", "circular",
                     code=3)["ok"] is False
    site.cli("notices", "show", "某市食安办责改〔2026〕999号", code=3)
    # A campaign that is not launched: refused from inside the flow, still without a traceback.
    draft = Site(copy_db(site.db, tmp_path / "draft.db"), site.data)
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN, encoding="utf-8")
    assert draft.json("campaign", "create", str(plan))["campaign_id"] == 2
    out = draft.cli("notices", "issue", "--campaign", "2", "--kind", "circular", code=4)
    assert "not been launched" in out
    # Nothing was numbered by any refused command.
    assert len(site.json("notices", "list", "--kind", "rectification_order")["items"]) == \
        WITH_ISSUES


def test_the_event_log_verifies(issued: Issued) -> None:
    site = issued.site
    assert "OK" in site.cli("audit", "verify")
    result = site.json("audit", "verify")
    assert result["ok"] is True and result["events"] > 0
    first = issued.orders()[0]
    events = site.json("audit", "log", "--entity", f"notice:{first['id']}")["items"]
    assert [e["kind"] for e in events] == ["notice.recorded", "notice.issued"]
    assert events[0]["payload"]["number"] == first["number"]
    assert events[1]["payload"]["pdf_sha256"] == first["pdf_sha256"]


def test_notice_dates_and_numbers_follow_china_time(issued: Issued, tmp_path: Path) -> None:
    """Bug: the notice's date and its number's year are taken from the UTC date of the clock.

    At 07:45 on 1 January 2027 in Beijing (23:45 on 31 December in UTC) a circular is dated
    2026-12-31 (二〇二六年十二月三十一日) and numbered 〔2026〕: every notice issued between
    00:00 and 08:00 Beijing time (a nightly run, say) carries the previous day's date, and in the
    first hours of a year the previous year's number sequence. Proposed fix: compute civil dates
    in China time in ``domain.notices.record_notices`` (``local = now.astimezone(ZoneInfo(
    "Asia/Shanghai"))``, then ``local.date()`` for ``issued_on`` and the targets, ``local.year``
    for the number); the same applies to ``today`` in ``domain.fieldwork_import.record_batch``
    and ``domain.fieldwork`` (found_on, due dates, visited_on).
    """
    site = Site(copy_db(issued.pristine, tmp_path / "tz.db"), tmp_path / "data")
    out = site.issue("circular", "--notice-lang", "zh", now="2027-01-01T07:45:00+08:00")
    (number,) = out["numbers"]
    content = site.json("notices", "show", number)["content"]
    assert (content["issued_on"], number) == ("2027-01-01", f"{OFFICE_SHORT}通报〔2027〕1号")


def test_a_void_reason_is_printed_as_given(issued: Issued, tmp_path: Path) -> None:
    """Bug: messages are printed as Rich markup, so text from the records is taken for markup.

    A void reason "wrong addressee [see receipt 7]" comes back from `notices verify` as "wrong
    addressee " (the bracketed part is read as a style tag and dropped), and a reason such as
    "[/draft]" makes every later `notices verify` of that PDF fail with an internal error (Rich's
    MarkupError). The same holds for business names, file paths and reasons anywhere
    ``Output.say``, ``note`` and ``error`` print them. Proposed fix: in ``lookback/output.py``
    print messages with ``markup=False`` (``say``, ``note``) and escape the message in ``error``
    (``rich.markup.escape(self.t(en, zh))``), keeping markup only for the fixed "error:" prefix.
    """
    site = Site(copy_db(issued.site.db, tmp_path / "m.db"), issued.site.data)
    order = issued.orders()[-1]
    reason = "wrong addressee [see receipt 7]"
    site.cli("notices", "void", order["number"], "--reason", reason)
    out = site.cli("notices", "verify", str(issued.out_dir / f"{order['number']}.pdf"), code=1)
    assert "VOID" in out and reason in out


def test_verify_of_a_file_that_is_no_pdf_says_unknown_and_nothing_else(issued: Issued,
                                                                        tmp_path: Path) -> None:
    """Bug: `notices verify` of a damaged or foreign file lets pypdf's warnings through.

    The real command (a child process) prints its verdict, then pypdf's log lines on stderr
    ("invalid pdf header: b'not a'", "EOF marker not found"); under the test runner, where
    Prefect's logging configuration holds the console, the same warnings come out as a
    "--- Logging error --- Traceback". Proposed fix: ``report_templates.render.extract_content``
    reads with pypdf's logger quiet (e.g. ``logging.getLogger("pypdf").setLevel(logging.ERROR)``
    around the ``PdfReader`` call, or once at import): a file that is not a notice is an expected
    input, and the verdict is all the user needs.
    """
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"not a pdf at all")
    r = subprocess.run([sys.executable, "-m", "lookback.cli", "--db", str(issued.site.db),
                        "--data-dir", str(issued.site.data), "--lang", "en", "notices", "verify",
                        str(junk)], capture_output=True, text=True, cwd=ROOT, check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "unknown" in r.stdout
    assert r.stderr == ""
