"""The unified social credit code (统一社会信用代码, USCC) of GB 32100-2015.

Eighteen characters from a 31-character alphabet (digits and capital letters without I, O, S, V,
Z): registration authority (1), organisation type (1), administrative division code (6), organisation
code (9) and a check character (1). The check character makes the weighted sum of all eighteen
values divisible by 31, with weights 3^(i-1) mod 31 for positions i = 1..17.
"""

from __future__ import annotations

from operator import mul

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
LENGTH = 18
_WEIGHTS18 = (*WEIGHTS, 1)
_value = VALUE.__getitem__


def check_char(first17: str) -> str:
    """The check character for the first 17 characters of a code."""
    if len(first17) != 17:
        raise ValueError("a USCC body has 17 characters")
    total = 0
    for ch, weight in zip(first17, WEIGHTS, strict=True):
        total += VALUE[ch] * weight
    return ALPHABET[(31 - total % 31) % 31]


def problem(code: str) -> tuple[str, str] | None:
    """Why ``code`` is not a valid USCC, as (English, Chinese); ``None`` when it is valid."""
    if len(code) != LENGTH:
        return (
            f"a unified social credit code has 18 characters, this one has {len(code)}",
            f"统一社会信用代码应为18位，此处为{len(code)}位",
        )
    for pos, ch in enumerate(code, start=1):
        if ch not in VALUE:
            return (
                f"character {pos} ({ch!r}) is not allowed (digits and capital letters "
                "except I, O, S, V, Z)",
                f"第{pos}位字符“{ch}”不合规（只允许数字和除I、O、S、V、Z外的大写字母）",
            )
    total = 0
    for ch, weight in zip(code, WEIGHTS, strict=False):
        total += VALUE[ch] * weight
    expected = ALPHABET[(31 - total % 31) % 31]
    if code[17] != expected:
        return (
            f"check character is {code[17]!r} but should be {expected!r}",
            f"校验码为“{code[17]}”，应为“{expected}”",
        )
    return None


def is_valid(code: str) -> bool:
    """Whether ``code`` is a well-formed USCC with a correct check character.

    The check character c makes (weighted sum of the first 17 + c) divisible by 31; this form
    runs in C (map/sum) because an import validates a million codes.
    """
    if len(code) != LENGTH:
        return False
    try:
        total: int = sum(map(mul, map(_value, code), _WEIGHTS18))
    except KeyError:
        return False
    return total % 31 == 0


_FULL_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}


def normalise(raw: str) -> str:
    """A code as typed by a person: trimmed, upper case, full-width characters folded (as typed
    with a Chinese input method)."""
    code = raw.strip(" \t\r\n\u3000\xa0")
    if not code.isascii():
        code = code.translate(_FULL_WIDTH)
    return code.upper()
