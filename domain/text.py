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
