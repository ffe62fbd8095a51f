"""`lookback backup` and `lookback restore` end to end through the CLI, on real parts: an SQLite
file (or PostgreSQL with pg_dump / pg_restore when LOOKBACK_TEST_DATABASE_URL is set), a data
folder with evidence and a calendar year file, notice PDFs stored through the notice repository,
and a writer thread attaching evidence through the domain service while the backup runs.

On PostgreSQL there is one test database: the restore target is that same database, wiped
before the restore (or restored over with --force)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from domain.campaigns import create_campaign, launch
from domain.clock import FixedClock
from domain.fieldwork import attach_evidence
from lookback.cli import app
from storage.db import make_engine
from storage.evidence import FileEvidenceStore
from storage.migrate import HEAD
from storage.uow import SqlUnitOfWork
from tests.integration._support import PG_URL, reset_postgres
from tests.integration.test_calendar import YEAR_2027
from tests.plans import small_plan

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-03-16T09:30:00+08:00"
CLOCK = FixedClock(datetime.fromisoformat(NOW))
PLAN = small_plan(title="备份测试督查", starts_on="2026-03-02", ends_on="2026-06-30", total=8)
SAMPLE_PDF = (ROOT / "docs" / "rectification-order-sample.pdf").read_bytes()


def run(*args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert "internal error" not in result.output and "内部错误" not in result.output
    return result


@dataclass
class Site:
    url: str
    data: Path

    def cli(self, *args: str, code: int = 0, lang: str = "en") -> str:
        return run("--db", self.url, "--data-dir", str(self.data), "--lang", lang, "--now", NOW,
                   *args, code=code).output

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(run("--db", self.url, "--data-dir", str(self.data), "--now", NOW, "--lang", "en",
                              "--json", *args, code=code).stdout)

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        engine = make_engine(self.url)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(query))
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def registers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("registers")
    run("registry", "generate", "--businesses", "1500", "--seed", "11", "--out", str(folder))
    return folder


def build(url: str, folder: Path, registers: Path) -> tuple[Site, int]:
    """Registers, a launched campaign, an issue with two evidence photos, a calendar year file
    and two issued notice PDFs; returns the site and the issue's id."""
    site = Site(url, folder / "data")
    site.cli("init")
    for kind in ("businesses", "inspectors"):
        site.cli("registry", "import", str(registers / f"{kind}.csv"), "--kind", kind)
    engine = make_engine(url)
    try:
        def uow() -> SqlUnitOfWork:
            return SqlUnitOfWork(engine)

        cid = create_campaign(PLAN, source="plan.toml", uow_factory=uow, clock=CLOCK,
                              new_seed=lambda: "1")
        launch(cid, uow_factory=uow, clock=CLOCK)
        with uow() as u:
            for n, pdf in enumerate((SAMPLE_PDF, SAMPLE_PDF + b"\n%second\n"), start=1):
                sha = hashlib.sha256(pdf).hexdigest()
                nid = u.notices.add(
                    campaign_id=cid, kind="rectification_order", lang="zh", office="某市食安办",
                    year=2026, seq=n, number=f"某市食安办责改〔2026〕{n}号", target=f"t{n}",
                    addressee=f"主体{n}", uscc=None, content={"n": n}, content_sha256=sha,
                    at=CLOCK.now())
                assert u.notices.mark_issued(nid, pdf, sha, CLOCK.now())
            u.commit()
    finally:
        engine.dispose()
    visit = site.json("visit", "list", "--campaign", "1")["items"][0]
    photos = []
    for n in (1, 2):
        p = folder / f"photo{n}.jpg"
        p.write_bytes(bytes([n]) * 5000 + b"\xff\xd8 evidence")
        photos += ["--evidence", str(p)]
    issue = site.json("issue", "add", "--provision", "1", "--visit", str(visit["id"]),
                      "--category", "hygiene_storage", "--severity", "general",
                      "--description", "冷库温度超标", "--team", str(visit["team"]), *photos)
    year = folder / "2027.toml"
    year.write_text(YEAR_2027, encoding="utf-8")
    site.cli("calendar", "add-year", str(year))
    return site, int(issue["id"])


@pytest.fixture
def source(db_url: str, tmp_path: Path, registers: Path) -> tuple[Site, int]:
    return build(db_url, tmp_path / "source", registers)


def target_of(source: Site, tmp_path: Path, *, wipe: bool = True) -> Site:
    """Where to restore: a new SQLite file, or the one PostgreSQL test database wiped."""
    if PG_URL:
        if wipe:
            reset_postgres(PG_URL)
        return Site(PG_URL, tmp_path / "restored-data")
    return Site(f"sqlite:///{tmp_path / 'restored.db'}", tmp_path / "restored-data")


def manifest_of(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive, "r:*") as tar:
        f = tar.extractfile("manifest.json")
        assert f is not None
        return json.loads(f.read())  # type: ignore[no-any-return]


def rewrite(archive: Path, out: Path, change: Callable[[str, bytes], bytes]) -> None:
    """A copy of ``archive`` with each member's bytes passed through ``change``."""
    with tarfile.open(archive, "r:*") as src, tarfile.open(out, "w") as dst:
        for m in src.getmembers():
            f = src.extractfile(m)
            assert f is not None
            data = change(m.name, f.read())
            m.size = len(data)
            dst.addfile(m, io.BytesIO(data))


class Writer(threading.Thread):
    """Attaches new evidence files to an issue (a file and an event each) until stopped."""

    def __init__(self, site: Site, issue_id: int, folder: Path) -> None:
        super().__init__(daemon=True)
        self.site, self.issue_id, self.folder = site, issue_id, folder
        self.done = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        engine = make_engine(self.site.url)
        store = FileEvidenceStore(self.site.data)
        try:
            while not self.stop.is_set():
                p = self.folder / f"w{self.done}.txt"
                p.write_bytes(f"written during the backup {self.done}\n".encode() * 40)
                ref = store.put(str(p))
                attach_evidence(self.issue_id, ref, purpose="rectification", actor="test:writer",
                                uow_factory=lambda: SqlUnitOfWork(engine), clock=CLOCK)
                self.done += 1
        except BaseException as e:  # reported by the test
            self.error = e
        finally:
            engine.dispose()


def check_restored(target: Site, manifest: dict[str, Any]) -> None:
    """The restored database and files are exactly what the manifest lists."""
    [(events,)] = target.sql("SELECT count(*) FROM event")
    assert events == manifest["events"]
    [(head,)] = target.sql("SELECT hash FROM event ORDER BY seq DESC LIMIT 1")
    assert head == manifest["last_event_hash"]
    evidence = {f["sha256"] for f in manifest["files"] if f["kind"] == "evidence"}
    assert {r[0] for r in target.sql("SELECT sha256 FROM evidence")} == evidence
    pdfs = target.sql("SELECT sha256, data FROM notice_pdf")
    assert len(pdfs) == len(manifest["notice_pdfs"]) == 2
    assert all(hashlib.sha256(bytes(d)).hexdigest() == s for s, d in pdfs)
    for f in manifest["files"]:
        data = (target.data / f["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["size"]
    audit = target.json("audit", "verify")
    assert audit["ok"] is True and audit["events"] == manifest["events"]


# --- a consistent backup while another writer goes on ------------------------------------------

def test_backup_while_a_writer_goes_on_restores_and_verifies(
        source: tuple[Site, int], tmp_path: Path) -> None:
    site, issue_id = source
    writer = Writer(site, issue_id, tmp_path)
    writer.start()
    try:
        while writer.done < 5 and writer.is_alive():
            writer.join(0.01)
        archive = tmp_path / "office.tar.gz"
        before = writer.done
        summary = site.json("backup", str(archive))
        during = writer.done - before
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None, writer.error
    assert during > 0, "the writer made no commit while the backup ran"
    assert summary["ok"] is True and summary["path"] == str(archive)
    assert not [p for p in archive.parent.iterdir() if p.name.startswith(f".{archive.name}")]
    m = manifest_of(archive)
    assert m["format"] == "lookback-backup" and m["schema_revision"] == HEAD
    assert m["database"]["kind"] == ("postgresql" if PG_URL else "sqlite")
    assert summary["events"] == m["events"] and summary["files"] == len(m["files"])
    assert summary["bytes"] == sum(f["size"] for f in m["files"])
    kinds = {f["kind"] for f in m["files"]}
    assert kinds == {"evidence", "calendar"}
    assert any(f["path"] == "calendar/2027.toml" for f in m["files"])
    # At least the evidence up to the backup's start is in it, and not what came after its end.
    evidence = [f for f in m["files"] if f["kind"] == "evidence"]
    assert 2 + before <= len(evidence) <= 2 + writer.done
    with tarfile.open(archive, "r:gz") as tar:
        names = set(tar.getnames())
    assert {f"files/{f['sha256']}" for f in m["files"]} <= names

    target = target_of(site, tmp_path)
    restored = target.json("restore", str(archive))
    assert restored["ok"] is True and restored["events"] == m["events"]
    assert restored["files"] == len(m["files"]) and restored["notice_pdfs"] == 2
    assert restored["head_hash"] == m["last_event_hash"]
    check_restored(target, m)
    shown = target.json("issue", "show", str(issue_id))
    assert shown["id"] == issue_id


def test_restore_in_chinese_and_english_says_what_it_restored(
        source: tuple[Site, int], tmp_path: Path) -> None:
    site, _ = source
    archive = tmp_path / "b.tar"
    assert "Backed up" in site.cli("backup", str(archive))
    target = target_of(site, tmp_path)
    zh = target.cli("restore", str(archive), lang="zh")
    assert "已将" in zh and "核验通过" in zh and "文书PDF2份" in zh
    refused = target.cli("restore", str(archive), code=2)
    assert "already holds data" in refused and "--force" in refused
    assert "已有数据" in target.cli("restore", str(archive), code=2, lang="zh")
    forced = target.json("restore", str(archive), "--force")
    assert forced["ok"] is True and forced["already_present"] == forced["files"]
    check_restored(target, manifest_of(archive))


# --- refusals ----------------------------------------------------------------------------------

def test_backup_refuses_an_existing_file_without_force(
        source: tuple[Site, int], tmp_path: Path) -> None:
    site, _ = source
    archive = tmp_path / "b.tgz"
    archive.write_bytes(b"keep me")
    out = site.json("backup", str(archive), code=2)
    assert out["error"]["code"] == "exists" and str(archive) in out["error"]["message"]
    assert archive.read_bytes() == b"keep me"
    assert site.json("backup", str(archive), "--force")["ok"] is True
    assert tarfile.is_tarfile(archive) and archive.stat().st_mode & 0o077 == 0


def test_backup_stops_at_a_missing_or_damaged_evidence_file(
        source: tuple[Site, int], tmp_path: Path) -> None:
    site, _ = source
    [(sha,), *_] = site.sql("SELECT sha256 FROM evidence ORDER BY sha256")
    rel = f"evidence/{sha[:2]}/{sha[2:4]}/{sha}"
    blob = site.data / rel
    kept = blob.read_bytes()
    archive = tmp_path / "b.tar"
    blob.chmod(0o644)
    blob.write_bytes(kept[:-1] + b"X")
    out = site.json("backup", str(archive), code=1)
    assert out["error"]["code"] == "verification_failed" and rel in out["error"]["message"]
    blob.unlink()
    out = site.json("backup", str(archive), code=1)
    assert rel in out["error"]["message"] and "missing" in out["error"]["message"]
    assert list(tmp_path.glob("*b.tar*")) == []  # no archive, no temporary file left
    blob.write_bytes(kept)
    assert site.json("backup", str(archive))["ok"] is True


def test_restore_refuses_a_target_that_holds_data(
        source: tuple[Site, int], tmp_path: Path) -> None:
    site, _ = source
    archive = tmp_path / "b.tar"
    site.json("backup", str(archive))
    out = site.json("restore", str(archive), code=2)
    assert out["error"]["code"] == "target_not_empty"
    assert "event" in out["error"]["message"] and "--force" in out["error"]["message"]


def test_garbage_and_foreign_files_are_refused_with_exit_2(
        source: tuple[Site, int], tmp_path: Path) -> None:
    site, _ = source
    archive = tmp_path / "b.tar.gz"
    site.json("backup", str(archive))
    target = target_of(site, tmp_path)
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"this is not an archive\n" * 100)
    out = target.cli("restore", str(garbage), code=2)
    assert f"{garbage} is not a Lookback backup archive" in out
    assert target.json("restore", str(garbage), code=2)["error"]["code"] == "bad_archive"
    assert "不是Lookback备份文件" in target.cli("restore", str(garbage), code=2, lang="zh")
    # A real tar file without a manifest, a truncated archive, a file that is not there.
    foreign = tmp_path / "foreign.tar"
    with tarfile.open(foreign, "w") as tar:
        tar.add(ROOT / "README.md", arcname="README.md")
    assert "is not a Lookback backup archive" in target.cli("restore", str(foreign), code=2)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    assert "is not a Lookback backup archive" in target.cli("restore", str(cut), code=2)
    assert "does not exist" in target.cli("restore", str(tmp_path / "nope.tar"), code=2)
    # Nothing was restored by any of them.
    assert not (target.data / "evidence").exists()
    if not PG_URL:
        assert not Path(target.url.removeprefix("sqlite:///")).exists()


# --- tampering ---------------------------------------------------------------------------------

def test_one_changed_evidence_byte_fails_the_restore_naming_the_file(
        source: tuple[Site, int], tmp_path: Path) -> None:
    site, _ = source
    archive = tmp_path / "b.tar"
    site.json("backup", str(archive))
    m = manifest_of(archive)
    victim = next(f for f in m["files"] if f["kind"] == "evidence")

    def flip(name: str, data: bytes) -> bytes:
        if name == f"files/{victim['sha256']}":
            return data[:100] + bytes([data[100] ^ 1]) + data[101:]
        return data

    tampered = tmp_path / "tampered.tar"
    rewrite(archive, tampered, flip)
    target = target_of(site, tmp_path)
    out = target.json("restore", str(tampered), code=1)
    assert out["error"]["code"] == "verification_failed"
    assert victim["path"] in out["error"]["message"]
    assert "nothing was restored" in out["error"]["message"]
    assert not (target.data / victim["path"]).exists()
    if not PG_URL:
        assert not Path(target.url.removeprefix("sqlite:///")).exists()
    else:
        assert target.sql("SELECT count(*) FROM information_schema.tables "
                          "WHERE table_schema = 'public'") == [(0,)]


def test_a_changed_database_copy_fails_the_restore(
        source: tuple[Site, int], tmp_path: Path) -> None:
    site, _ = source
    archive = tmp_path / "b.tar"
    site.json("backup", str(archive))
    member = manifest_of(archive)["database"]["member"]

    def flip(name: str, data: bytes) -> bytes:
        return data[:-10] + bytes([data[-10] ^ 1]) + data[-9:] if name == member else data

    tampered = tmp_path / "tampered.tar"
    rewrite(archive, tampered, flip)
    out = target_of(site, tmp_path).json("restore", str(tampered), code=1)
    assert member in out["error"]["message"]


def test_a_changed_event_row_fails_the_restore_naming_the_event(
        source: tuple[Site, int], tmp_path: Path) -> None:
    site, _ = source
    site.sql("UPDATE event SET payload = '{\"tampered\": true}' WHERE seq = 3")
    archive = tmp_path / "b.tar"
    site.json("backup", str(archive))  # a backup copies what is there, broken or not
    target = target_of(site, tmp_path)
    out = target.json("restore", str(archive), code=1)
    msg = out["error"]["message"]
    assert out["error"]["code"] == "verification_failed"
    assert "BROKEN at event 3" in msg and "does not match its hash" in msg
    if not PG_URL:  # SQLite: checked before it replaces anything
        assert "nothing was restored" in msg
        assert not Path(target.url.removeprefix("sqlite:///")).exists()
        assert "第3条事件处断裂" in target.cli("restore", str(archive), code=1, lang="zh")


# --- one backend each --------------------------------------------------------------------------

@pytest.mark.sqlite_only
@pytest.mark.skipif(bool(PG_URL), reason="SQLite file replacement")
def test_sqlite_restore_with_force_replaces_a_database_and_its_write_ahead_log(
        source: tuple[Site, int], tmp_path: Path) -> None:
    site, issue_id = source
    archive = tmp_path / "b.tar"
    m = site.json("backup", str(archive))
    # Later writes; the last one left in the -wal file by a process that died before closing.
    engine = make_engine(site.url)
    try:
        store = FileEvidenceStore(site.data)
        for n in range(3):
            p = tmp_path / f"later{n}.txt"
            p.write_bytes(f"later {n}".encode())
            attach_evidence(issue_id, store.put(str(p)), purpose="rectification", actor="t",
                            uow_factory=lambda: SqlUnitOfWork(engine), clock=CLOCK)
    finally:
        engine.dispose()
    db = site.url.removeprefix("sqlite:///")
    subprocess.run([sys.executable, "-c", (
        "import os, sqlite3; c = sqlite3.connect(os.environ['DB']); "
        "c.execute('DELETE FROM notice_pdf'); c.commit(); os._exit(0)")],
        env={**os.environ, "DB": db}, check=True)
    assert Path(f"{db}-wal").stat().st_size > 0
    assert site.sql("SELECT count(*) FROM event")[0][0] == m["events"] + 3
    out = site.json("restore", str(archive), "--force")
    assert out["events"] == m["events"]
    check_restored(site, manifest_of(archive))


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL only (set LOOKBACK_TEST_DATABASE_URL)")
def test_postgres_round_trip_over_a_database_that_moved_on(
        source: tuple[Site, int], tmp_path: Path) -> None:
    site, issue_id = source
    archive = tmp_path / "pg.tar"
    summary = site.json("backup", str(archive))
    with tarfile.open(archive) as tar:
        dump = tar.extractfile("database/lookback.pgdump")
        assert dump is not None and dump.read(5) == b"PGDMP"  # pg_dump --format=custom
    engine = make_engine(site.url)
    try:
        p = tmp_path / "later.txt"
        p.write_bytes(b"after the backup")
        attach_evidence(issue_id, FileEvidenceStore(site.data).put(str(p)),
                        purpose="rectification", actor="t",
                        uow_factory=lambda: SqlUnitOfWork(engine), clock=CLOCK)
    finally:
        engine.dispose()
    assert site.json("restore", str(archive), code=2)["error"]["code"] == "target_not_empty"
    out = site.json("restore", str(archive), "--force")
    assert out["events"] == summary["events"]
    check_restored(site, manifest_of(archive))
    # An SQLite archive is not for a PostgreSQL database.
    lite = Site(f"sqlite:///{tmp_path / 'lite.db'}", tmp_path / "lite-data")
    lite.cli("init")
    lite.json("backup", str(tmp_path / "lite.tar"))
    reset_postgres(site.url)
    wrong = site.json("restore", str(tmp_path / "lite.tar"), code=2)
    assert wrong["error"]["code"] == "wrong_database_kind"
