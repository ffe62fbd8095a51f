"""The rules docs/draw.md spells out so that an independent verifier need not guess them.

Each test pins what both verifiers decide on a published pair of files: ``lookback draw verify
--record --frame`` (``verify_record`` on the files read as the command reads them) and
``docs/verify_draw.py`` (its ``main``). A gap found between them and the specification is pinned
as ``xfail(strict=True)`` until it is fixed (then the marker, and the "today" sentence in
docs/draw.md, go); tests/unit/test_verifier_agreement.py checks the two against each other.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from domain.campaigns import verify_record
from domain.sampling import (
    FrameBusiness,
    draw_teams,
    frame_lines,
    frame_sha256,
    split_frame_text,
    unit_key,
)
from lookback.draw_files import frame_csv, record_json
from tests.draws import (
    BUSINESSES,
    INSPECTORS,
    SEED,
    make_params,
    make_record,
    verify_script,
)

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "docs" / "draw.md").read_text(encoding="utf-8")
HEADER = "kind,id,region,category,risk_level"


SCRIPT = verify_script()

FRAME_LINES = frame_lines(BUSINESSES, INSPECTORS)
FRAME_TEXT = frame_csv(FRAME_LINES)


def publish(folder: Path, record_text: str | bytes, frame_text: str | bytes) -> tuple[Path, Path]:
    rec, frame = folder / "record.json", folder / "frame.csv"
    for path, text in ((rec, record_text), (frame, frame_text)):
        path.write_bytes(text.encode() if isinstance(text, str) else text)
    return rec, frame


def lookback_verdict(rec: Path, frame: Path) -> tuple[bool, str]:
    """What ``lookback draw verify --record REC --frame FRAME`` decides (it reads both files with
    ``Path.read_text(encoding="utf-8-sig")`` and splits the frame with ``split_frame_text``)."""
    record = json.loads(rec.read_text(encoding="utf-8-sig"))
    result = verify_record(record, split_frame_text(frame.read_text(encoding="utf-8-sig")))
    return result.ok, result.difference or ""


def script_verdict(rec: Path, frame: Path) -> tuple[bool, str]:
    """What ``python docs/verify_draw.py REC FRAME`` decides (exit status 0, and its output)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = SCRIPT.main(["verify_draw.py", str(rec), str(frame)])
    return status == 0, out.getvalue()


def both(folder: Path, record: dict[str, Any] | str | bytes,
         frame_text: str | bytes = FRAME_TEXT) -> tuple[bool, bool]:
    text = record_json(record) if isinstance(record, dict) else record
    rec, frame = publish(folder, text, frame_text)
    return lookback_verdict(rec, frame)[0], script_verdict(rec, frame)[0]


# --- the frame file ----------------------------------------------------------------------------

def test_lookback_writes_the_header_then_sorted_lines_each_ending_in_a_newline() -> None:
    lines = FRAME_TEXT.split("\n")
    assert lines[0] == HEADER
    assert lines[-1] == ""  # the last line ends with "\n" too
    assert lines[1:-1] == sorted(lines[1:-1]) == FRAME_LINES


BODY = FRAME_LINES
FRAME_VARIANTS_THAT_VERIFY: dict[str, str | bytes] = {
    "no header": "".join(f"{ln}\n" for ln in BODY),
    "header in the middle": "".join(f"{ln}\n" for ln in [*BODY[:3], HEADER, *BODY[3:]]),
    "header twice": f"{HEADER}\n{HEADER}\n" + "".join(f"{ln}\n" for ln in BODY),
    "rows shuffled": f"{HEADER}\n" + "".join(f"{ln}\n" for ln in reversed(BODY)),
    "no final newline": FRAME_TEXT.rstrip("\n"),
    "CRLF": FRAME_TEXT.replace("\n", "\r\n"),
    "CR": FRAME_TEXT.replace("\n", "\r"),
    "byte order mark": "\ufeff" + FRAME_TEXT,
    "blank lines": FRAME_TEXT.replace("\n", "\n\n"),
}


@pytest.mark.parametrize("variant", sorted(FRAME_VARIANTS_THAT_VERIFY))
def test_header_order_and_line_ends_of_the_frame_do_not_matter(variant: str,
                                                               tmp_path: Path) -> None:
    assert both(tmp_path, make_record(), FRAME_VARIANTS_THAT_VERIFY[variant]) == (True, True)


FRAME_VARIANTS_THAT_FAIL: dict[str, str | bytes] = {
    "header in upper case": f"{HEADER.upper()}\n" + "".join(f"{ln}\n" for ln in BODY),
    "header with a trailing space": f"{HEADER} \n" + "".join(f"{ln}\n" for ln in BODY),
    "row with a trailing space": FRAME_TEXT.replace(BODY[0] + "\n", BODY[0] + " \n"),
    "line of spaces": FRAME_TEXT + "   \n",
    "quoted field": FRAME_TEXT.replace(",catering,", ',"catering",', 1),
    "row repeated": FRAME_TEXT + BODY[0] + "\n",
    "not UTF-8": FRAME_TEXT.encode() + "business,X\xe9,330102,sales,A\n".encode("latin-1"),
}


@pytest.mark.parametrize("variant", sorted(FRAME_VARIANTS_THAT_FAIL))
def test_frame_lines_are_taken_literally(variant: str, tmp_path: Path) -> None:
    rec, frame = publish(tmp_path, record_json(make_record()), FRAME_VARIANTS_THAT_FAIL[variant])
    assert not script_verdict(rec, frame)[0]
    if variant == "not UTF-8":  # the command stops with a bad-file error before verifying
        with pytest.raises(UnicodeDecodeError):
            frame.read_text(encoding="utf-8-sig")
    else:
        assert not lookback_verdict(rec, frame)[0]


def _duplicated_frame() -> tuple[dict[str, Any], str]:
    """A record drawn, by the engine, from a frame that repeats an inspector line."""
    inspectors = [*INSPECTORS, INSPECTORS[0]]
    lines = frame_lines(BUSINESSES, inspectors)
    record = make_record(businesses=BUSINESSES, inspectors=inspectors)
    assert record["frame"]["sha256"] == frame_sha256(lines)
    return record, frame_csv(lines)


def test_the_script_rejects_a_frame_repeating_an_id(tmp_path: Path) -> None:
    record, text = _duplicated_frame()
    rec, frame = publish(tmp_path, record_json(record), text)
    ok, out = script_verdict(rec, frame)
    assert not ok and "inspector I0001 appears more than once" in out


def test_lookback_rejects_a_frame_repeating_an_id(tmp_path: Path) -> None:
    record, text = _duplicated_frame()
    rec, frame = publish(tmp_path, record_json(record), text)
    ok, difference = lookback_verdict(rec, frame)
    assert not ok and "the frame is malformed" in difference
    assert "inspector I0001 appears more than once" in difference


# --- the record file ---------------------------------------------------------------------------

def test_lookback_writes_sorted_keys_two_space_indent_unescaped_text_and_a_final_newline() -> None:
    record = make_record()
    text = record_json(record)
    assert text == json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    assert "2023年督查" in text and "\\u" not in text
    assert text.startswith('{\n  "algorithm": "lookback-draw/1",\n  "assignments": [\n')


def _unsorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unsorted(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_unsorted(v) for v in value]
    return value


RECORD_FORMATS: dict[str, Callable[[dict[str, Any]], str | bytes]] = {
    "indent 4": lambda r: json.dumps(r, ensure_ascii=False, indent=4, sort_keys=True) + "\n",
    "keys unsorted": lambda r: json.dumps(_unsorted(r), ensure_ascii=False, indent=2),
    "ASCII escapes": lambda r: json.dumps(r, ensure_ascii=True, indent=2, sort_keys=True) + "\n",
    "compact, no final newline": lambda r: json.dumps(r, ensure_ascii=False,
                                                      separators=(",", ":")),
    "BOM and CRLF": lambda r: ("\ufeff" + record_json(r).replace("\n", "\r\n")).encode(),
}


@pytest.mark.parametrize("fmt", sorted(RECORD_FORMATS))
def test_the_formatting_of_the_record_is_not_checked(fmt: str, tmp_path: Path) -> None:
    record = make_record()
    assert both(tmp_path, RECORD_FORMATS[fmt](record)) == (True, True)


def test_a_record_not_in_utf8_fails(tmp_path: Path) -> None:
    rec, frame = publish(tmp_path, record_json(make_record()).encode("gb18030"), FRAME_TEXT)
    assert not script_verdict(rec, frame)[0]
    with pytest.raises(UnicodeDecodeError):  # the command: "the record file is not UTF-8 text"
        rec.read_text(encoding="utf-8-sig")


def _add(path: str) -> Callable[[dict[str, Any]], None]:
    def add(record: dict[str, Any]) -> None:
        node: Any = record
        for part in path.split("."):
            node = node[int(part)] if part.isdigit() else node[part]
        node["extra"] = 1
    return add


EXTRA_FIELD_AT = ["", "params", "frame", "stages.0", "stages.0.strata.0", "stages.0.chosen.0",
                  "teams.0", "teams.0.inspectors.0", "assignments.0", "extensions.0",
                  "params.stages.0"]


def _with_extra_field(where: str) -> dict[str, Any]:
    record = make_record(extensions=(5,))
    if where:
        _add(where)(record)
    else:
        record["extra"] = 1
    return record


@pytest.mark.parametrize("where", EXTRA_FIELD_AT)
def test_lookback_rejects_an_extra_field_at_every_level(where: str, tmp_path: Path) -> None:
    rec, frame = publish(tmp_path, record_json(_with_extra_field(where)), FRAME_TEXT)
    ok, difference = lookback_verdict(rec, frame)
    assert not ok and "extra" in difference


@pytest.mark.parametrize("where", EXTRA_FIELD_AT)
def test_the_script_rejects_an_extra_field_at_every_level(where: str, tmp_path: Path) -> None:
    rec, frame = publish(tmp_path, record_json(_with_extra_field(where)), FRAME_TEXT)
    ok, out = script_verdict(rec, frame)
    assert not ok and "extra" in out


@pytest.mark.parametrize("campaign", [None, [1, "任意"], "anything"])
def test_campaign_is_free_and_optional(campaign: Any, tmp_path: Path) -> None:
    record = make_record()
    if campaign is None:
        del record["campaign"]
    else:
        record["campaign"] = campaign
    assert both(tmp_path, record) == (True, True)


def test_extensions_is_required_even_when_empty(tmp_path: Path) -> None:
    record = make_record()
    assert record["extensions"] == []
    del record["extensions"]
    assert both(tmp_path, record) == (False, False)


# --- keys, seed, weights, extensions -----------------------------------------------------------

def test_team_keys_hash_the_stratum_all_not_the_team_label(tmp_path: Path) -> None:
    teams = draw_teams(SEED, INSPECTORS, 2, 2)
    assert [(p.unit, p.stratum) for p in teams[1]] == [("I0003", "team-1"), ("I0001", "team-1")]
    assert [(p.unit, p.stratum) for p in teams[2]] == [("I0002", "team-2"), ("I0004", "team-2")]
    for members in teams.values():
        for p in members:
            assert p.key == unit_key(SEED, "inspector", "all", p.unit)
            assert p.key in SPEC  # the worked example in docs/draw.md
    wrong = unit_key(SEED, "inspector", "team-1", "I0001")
    assert wrong in SPEC and wrong != unit_key(SEED, "inspector", "all", "I0001")
    # A record whose team keys hash the team label is not the draw.
    record = make_record()
    for t in record["teams"]:
        for p in t["inspectors"]:
            p["key"] = unit_key(SEED, "inspector", p["stratum"], p["unit"])
    assert both(tmp_path, record) == (False, False)


def test_the_seed_is_the_string_as_written(tmp_path: Path) -> None:
    assert unit_key("0" + SEED, "inspector", "all", "I0001") != unit_key(SEED, "inspector", "all",
                                                                          "I0001")
    record = make_record()
    record["seed"] = record["params"]["seed"] = "0" + SEED
    assert both(tmp_path, record) == (False, False)
    record["seed"] = record["params"]["seed"] = int(SEED)
    assert both(tmp_path, record) == (False, False)


def test_an_extension_records_the_full_allocation_not_the_additions(tmp_path: Path) -> None:
    # The example of docs/draw.md, "The extension record".
    businesses = BUSINESSES[:5]
    p = make_params(total=1, teams=1)
    first = make_record(p, businesses=businesses)
    assert [s["allocated"] for s in first["stages"][-1]["strata"]] == [0, 0, 1, 0]
    record = make_record(p, extensions=(2,), businesses=businesses)
    full = {"risk_level=A": 1, "risk_level=B": 0, "risk_level=C": 1, "risk_level=D": 0}
    assert record["extensions"] == [{"to": 2, "allocation": full}]
    assert json.dumps(record["extensions"]) in SPEC
    assert full == {s["stratum"]: s["allocated"] for s in record["stages"][-1]["strata"]}
    frame = frame_csv(frame_lines(businesses, INSPECTORS))
    assert both(tmp_path, record, frame) == (True, True)
    record["extensions"][0]["allocation"] = {"risk_level=A": 1}  # only what was added
    assert both(tmp_path, record, frame) == (False, False)


def test_risk_weights_are_needed_for_the_levels_of_the_pool_only(tmp_path: Path) -> None:
    # A level "E" in a province outside params.provinces needs no weight.
    odd = FrameBusiness("91350104MA2XXXXX7Q", "350104", "sales", "E")
    businesses = [*BUSINESSES, odd]
    frame = frame_csv(frame_lines(businesses, INSPECTORS))
    record = make_record(make_params(provinces=["330000"], total=3), businesses=businesses)
    assert both(tmp_path, record, frame) == (True, True)
    # With per_stratum the weights are not looked at, even for a level of the pool.
    record = make_record(make_params(total=None, per_stratum=1), businesses=businesses)
    assert both(tmp_path, record, frame) == (True, True)
    # In the pool, a level without a weight makes the draw fail, whatever the allocation method.
    record["params"].update(total=4, per_stratum=None)
    rec, path = publish(tmp_path, record_json(record), frame)
    ok, difference = lookback_verdict(rec, path)
    assert not ok and "risk level 'E', which has no weight" in difference
    ok, out = script_verdict(rec, path)
    assert not ok and "risk level(s) E have no risk weight" in out


def test_a_record_without_a_sample_size_is_malformed_for_both(tmp_path: Path) -> None:
    record = make_record()
    record["params"]["total"] = None
    result = verify_record(record, split_frame_text(FRAME_TEXT))  # no AssertionError (exit 70)
    assert not result.ok and result.difference is not None
    assert result.difference.startswith("the record is malformed: params.total")
    rec, frame = publish(tmp_path, record_json(record), FRAME_TEXT)
    ok, out = script_verdict(rec, frame)
    assert not ok and "exactly one of the three must be set" in out

