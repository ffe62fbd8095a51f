"""What counts as text a person wrote: visible characters, and names compared as people read them.

A field made only of spaces, zero-width characters (U+200B …) or other invisible format
characters holds nothing: a notice would print "发现的事实：。". Names and other keys are compared
after NFKC normalisation with invisible characters removed, so ``张三\\u200b`` and a full-width
``ＡＢＣ`` are the same person or code as ``张三`` and ``ABC``.
"""

from __future__ import annotations

import unicodedata

_INVISIBLE = ("Cc", "Cf", "Zs", "Zl", "Zp")


def has_visible(text: str | None) -> bool:
    """Whether ``text`` holds at least one character that shows."""
    return any(unicodedata.category(ch) not in _INVISIBLE for ch in text or "")


def key(text: str | None) -> str:
    """``text`` as a key for uniqueness checks: NFKC, format characters removed, runs of
    whitespace made one space, trimmed."""
    norm = unicodedata.normalize("NFKC", text or "")
    kept = "".join(ch for ch in norm if unicodedata.category(ch) not in ("Cf", "Cc")
                   or ch in "\t\n")
    return " ".join(kept.split())


def control_characters(text: str | None) -> list[str]:
    """The control characters in ``text`` that have no meaning in a written field (line breaks
    and tabs have one), shown as ``\\xNN``."""
    return [f"\\x{ord(ch):02x}" for ch in text or ""
            if unicodedata.category(ch) == "Cc" and ch not in "\n\t"]


def refuse_controls(text: str | None, field: str) -> None:
    """Refuse control characters (ESC sequences, backspaces, NUL …) in a written field."""
    bad = control_characters(text)
    if bad:
        from domain.errors import BadArgumentError

        shown = " ".join(dict.fromkeys(bad))
        raise BadArgumentError(f"{field}: holds control characters ({shown}); write plain text",
                               f"{field}：含有控制字符（{shown}）；请填写纯文本",
                               code="control_characters")
