"""What the draw tests share: the outsider's verifier (``docs/verify_draw.py``) loaded as a
module, and a small frame with the draw parameters and record made from it."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from domain.sampling import DrawParams, FrameBusiness, FrameInspector, draw, extend

ROOT = Path(__file__).resolve().parents[1]
VERIFY_DRAW = ROOT / "docs" / "verify_draw.py"
SEED = "20230814"

BUSINESSES = [
    FrameBusiness("91330102MA2XXXXX1Q", "330102", "catering", "C"),
    FrameBusiness("91330103MA2XXXXX2Q", "330103", "sales", "A"),
    FrameBusiness("91330104MA2XXXXX3Q", "330104", "sales", "B"),
    FrameBusiness("91330105MA2XXXXX4Q", "330105", "sales", "C"),
    FrameBusiness("91350102MA2XXXXX5Q", "350102", "catering", "D"),
    FrameBusiness("91350103MA2XXXXX6Q", "350103", "production", "B"),
]
INSPECTORS = [FrameInspector(f"I000{i}", home)
              for i, home in enumerate(["110100", "440300", "510100", "610100"], start=1)]


@cache
def verify_script() -> ModuleType:
    """``docs/verify_draw.py`` as a module (loaded once: it is standard-library code with no
    state between calls)."""
    spec = importlib.util.spec_from_file_location("verify_draw", VERIFY_DRAW)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_params(**kw: Any) -> DrawParams:
    """One business stage by risk level, 4 of the 6 businesses, two teams of two; ``kw``
    replaces any of it."""
    base: dict[str, Any] = dict(
        seed=SEED, stages=[{"unit": "business"}], provinces=[], total=4, fraction=None,
        per_stratum=None, strata=["risk_level"], allocation="proportional", min_per_stratum=0,
        risk_weights={"A": 1, "B": 2, "C": 3, "D": 4}, teams=2, members=2, avoidance="city")
    base.update(kw)
    return DrawParams(**base)


def make_record(p: DrawParams | None = None, extensions: tuple[int, ...] = (),
                businesses: list[FrameBusiness] = BUSINESSES,
                inspectors: list[FrameInspector] = INSPECTORS) -> dict[str, Any]:
    """The published record of a draw (and its extensions to each size in ``extensions``)."""
    d = draw(p or make_params(), businesses, inspectors)
    for to in extensions:
        d = extend(d, businesses, inspectors, to)
    return {"campaign": {"id": 1, "office": "某市食品安全委员会办公室", "title": "2023年督查",
                         "kind": "inspection"}, **d.as_record()}
