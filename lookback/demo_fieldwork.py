"""The demo's fieldwork, simulated deterministically from its seed: interviews with the people
responsible at every drawn business, the issues the failed answers raise, evidence photos,
completed visits, reported rectifications and a few extensions. The look-backs come later
(``lookback.demo_lookback``), when the simulated clock reaches their due dates."""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path
from typing import Any

from domain import fieldwork as fw
from domain.fieldwork_import import record_batch
from domain.issues import IssueStatus
from lookback.bootstrap import App

FAIL_RATE = 0.015  # share of failed answers: about 100 issues over 126 businesses
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"


def _png(path: Path, rng: random.Random, label: int) -> Path:
    """A small, valid PNG (a 32×24 field photo stand-in), deterministic from the seed."""
    w, h = 32, 24
    base = [rng.randrange(256) for _ in range(3)]
    raw = b"".join(b"\x00" + bytes((base[0] + x * label) % 256 if c == 0 else base[c]
                                   for x in range(w) for c in range(3)) for _ in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    path.write_bytes(png)
    return path


def simulate(lb: App, campaign_id: int, *, seed: int, folder: Path) -> dict[str, Any]:
    """Record the simulated fieldwork of a launched campaign; returns what was done."""
    rng = random.Random(seed * 7919 + campaign_id)
    checklists = lb.checklists
    with lb.read_uow_factory()() as uow:
        visits = uow.fieldwork.list_visits(campaign_id, team=None, status=None)
        staff = {}
        for v in visits:
            b = uow.registers.get_business(v.uscc)
            staff[v.uscc] = (b.director if b else "", b.officer if b else "")
    rows: list[tuple[int, dict[str, object]]] = []
    line = 1
    for v in visits:
        director, officer = staff[v.uscc]
        people = [("owner", rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)),
                  ("regulator", rng.choice(SURNAMES) + rng.choice(GIVEN)),
                  ("cadre", rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN))]
        if director:
            people.append(("director", director))
        if officer:
            people.append(("officer", officer))
        for role, name in people:
            for item in checklists.for_role(role):
                roll = rng.random()
                result = "fail" if roll < FAIL_RATE else "na" if roll > 0.985 else "pass"
                note = "现场检查发现问题" if result == "fail" else ""
                line += 1
                rows.append((line, {"visit_id": v.id, "role": role, "name": name,
                                    "item_id": item.id, "result": result, "note": note,
                                    "team": v.team_no}))

    class _Sink:
        def add(self, problem: Any) -> None:
            raise RuntimeError(f"demo fieldwork row refused: {problem.en}")

        def close(self) -> None:
            pass

    summary = record_batch(rows, uow_factory=lb.uow_factory(), clock=lb.clock,
                           checklists=checklists, calendar=lb.calendar, sink=_Sink(),
                           actor="demo:team")
    common = {"actor": "demo:team", "uow_factory": lb.uow_factory(), "clock": lb.clock}
    done = 0
    for v in visits:
        if rng.random() < 0.92:
            fw.complete_visit(v.id, team=v.team_no, **common)
            done += 1
    photos = folder / "evidence-photos"
    photos.mkdir(parents=True, exist_ok=True)
    issue_ids = sorted(summary.issue_ids)
    with_evidence = 0
    reported = extended = 0
    for n, issue_id in enumerate(issue_ids):
        evidence = []
        if n % 4 == 0:
            evidence = [lb.evidence.put(str(_png(photos / f"issue-{issue_id}.png", rng, n + 1)))]
            with_evidence += 1
        roll = rng.random()
        if roll < 0.45:
            fw.rectify(issue_id, measures="已落实整改：完善制度、补齐记录、完成培训考核", evidence=evidence,
                       actor="demo:business", uow_factory=lb.uow_factory(), clock=lb.clock)
            reported += 1
        elif roll < 0.50:
            fw.extend(issue_id, workdays=10, reason="需更换冷藏设备，采购周期较长", approver="某市食安办",
                      actor="demo:office", uow_factory=lb.uow_factory(), clock=lb.clock,
                      calendar=lb.calendar)
            extended += 1
    return {"interviews": summary.interviews, "answers": summary.stored,
            "issues": summary.issues, "visits_done": done, "with_evidence": with_evidence,
            "reported": reported, "extended": extended,
            "open": sum(1 for _ in issue_ids) - reported,
            "status_values": [s.value for s in IssueStatus]}
