"""The unified social credit code: check character, validation and normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import uscc

KNOWN_CODES = [
    "914403001922038216",
    "91330100799655058B",
    "91440300708461136T",
    "91110108551385082Q",
    "91110000710925462X",
    "9144030071526726XG",
    "91310000717866186P",
    "911100001000044477",
    "91110000710935003U",
]

bodies = st.text(alphabet=uscc.ALPHABET, min_size=17, max_size=17)
valid_codes = bodies.map(lambda body: body + uscc.check_char(body))


def full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) for ch in text)


@given(valid_codes)
def test_every_generated_code_is_valid(code: str) -> None:
    assert len(code) == 18
    assert uscc.is_valid(code)
    assert uscc.problem(code) is None


@given(valid_codes, st.integers(min_value=0, max_value=17), st.data())
def test_any_single_changed_character_is_caught(code: str, pos: int, data: st.DataObject) -> None:
    other = data.draw(st.sampled_from([c for c in uscc.ALPHABET if c != code[pos]]))
    changed = code[:pos] + other + code[pos + 1 :]

    assert not uscc.is_valid(changed)
    reason = uscc.problem(changed)
    assert reason is not None
    en, zh = reason
    assert "check character" in en
    assert "校验码" in zh


@pytest.mark.parametrize("code", KNOWN_CODES)
def test_known_public_codes_pass(code: str) -> None:
    assert uscc.is_valid(code)
    assert uscc.problem(code) is None
    assert uscc.check_char(code[:17]) == code[17]


def test_weights_are_those_of_gb_32100() -> None:
    assert uscc.WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@pytest.mark.parametrize(
    "code", ["", "9144030070846113", "91440300708461136", "91440300708461136TT"]
)
def test_wrong_length_is_refused_with_the_length(code: str) -> None:
    assert not uscc.is_valid(code)
    reason = uscc.problem(code)
    assert reason is not None
    assert "18 characters" in reason[0]
    assert f"this one has {len(code)}" in reason[0]
    assert f"{len(code)}位" in reason[1]


@pytest.mark.parametrize("letter", list("IOSVZ"))
@pytest.mark.parametrize("pos", [1, 9, 18])
def test_forbidden_letters_are_refused_naming_the_position(letter: str, pos: int) -> None:
    code = "91440300708461136T"
    bad = code[: pos - 1] + letter + code[pos:]

    assert not uscc.is_valid(bad)
    reason = uscc.problem(bad)
    assert reason is not None
    assert f"character {pos} ('{letter}') is not allowed" in reason[0]
    assert f"第{pos}位" in reason[1]


def test_lower_case_letters_are_refused_until_normalised() -> None:
    typed = "91330100799655058b"
    assert not uscc.is_valid(typed)
    assert uscc.problem(typed) is not None
    assert uscc.normalise(typed) == "91330100799655058B"
    assert uscc.is_valid(uscc.normalise(typed))


@pytest.mark.parametrize("code", ["91440300708461136T", "9144030071526726XG"])
def test_full_width_characters_are_folded(code: str) -> None:
    typed = "\u3000" + full_width(code.lower()) + "\u3000"
    assert not uscc.is_valid(typed)
    assert uscc.normalise(typed) == code


@pytest.mark.parametrize("padding", [" ", "\t", "\r\n", "\u3000", "\xa0", " \u3000\xa0\t"])
def test_normalise_trims_spaces(padding: str) -> None:
    assert uscc.normalise(padding + "91440300708461136t" + padding) == "91440300708461136T"


def test_normalise_keeps_inner_spaces_so_the_code_stays_invalid() -> None:
    code = uscc.normalise("914403 00708461136T")
    assert not uscc.is_valid(code)


@pytest.mark.parametrize("body", ["", "9144030070846113", "914403007084611360"])
def test_check_char_needs_seventeen_characters(body: str) -> None:
    with pytest.raises(ValueError):
        uscc.check_char(body)


near_codes = st.text(alphabet=uscc.ALPHABET + "iosvzab \u3000１Ａ", min_size=16, max_size=19)


@given(st.one_of(st.text(), near_codes, valid_codes))
def test_is_valid_and_problem_agree(text: str) -> None:
    reason = uscc.problem(text)
    assert uscc.is_valid(text) == (reason is None)
    if reason is not None:
        assert all(reason)  # both languages say something


@given(valid_codes)
def test_normalise_leaves_a_valid_code_unchanged(code: str) -> None:
    assert uscc.normalise(code) == code
