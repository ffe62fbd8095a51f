"""Backup and restore: one tar archive holding a consistent copy of the database, every file of
the data folder that belongs with it (each stored once, under its SHA-256) and ``manifest.json``;
restore checks every byte against the manifest and walks the restored event hash chain.

Archive layout::

    database/lookback.sqlite3   (SQLite: a copy made with the online backup API)
    database/lookback.pgdump    (PostgreSQL: pg_dump --format=custom, taken on one snapshot)
    files/<sha256>              evidence, calendar year files, reject reports
    manifest.json               written last; what the archive holds and how to check it

Notice PDFs are rows of the database (table ``notice_pdf``, keyed by their SHA-256), so they
travel inside the database copy; the manifest lists each one's SHA-256 and size, and restore
re-hashes every restored PDF.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from domain.errors import BadArgumentError, BadFileError, InputError, LookbackError
from domain.events import verify_chain
from storage import migrate
from storage.db import make_engine, normalise_url
from storage.readers import file_sha256
from storage.uow import SqlUnitOfWork

FORMAT = "lookback-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DB_MEMBERS = {"sqlite": "database/lookback.sqlite3", "postgresql": "database/lookback.pgdump"}
#: Folders of the data folder backed up whole, besides the evidence the database refers to.
DATA_FOLDERS = {"calendar": "calendar", "reports": "report"}
_SHA = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20
_MAX_MANIFEST = 256 * 1024 * 1024

#: ``progress(done, total)``: items (database and files) handled so far, out of how many.
Progress = Callable[[int, int], None]


class VerificationError(LookbackError):
    """Something in the archive or the restored data does not match what was recorded."""

    code = "verification_failed"
    exit_code = 1


class TargetNotEmptyError(InputError):
    code = "target_not_empty"


@dataclass
class FileEntry:
    path: str  # relative to the data folder, with forward slashes
    sha256: str
    size: int
    kind: str  # evidence | calendar | report

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "kind": self.kind}


@dataclass
class BackupSummary:
    path: Path
    database: str
    revision: str | None
    events: int
    last_event_hash: str | None
    files: int
    file_bytes: int
    notice_pdfs: int
    archive_bytes: int


@dataclass
class RestoreSummary:
    database: str
    revision: str
    events: int
    head_hash: str | None
    files: int
    file_bytes: int
    already_present: int
    notice_pdfs: int
    created_at: str
    needs_upgrade: bool


@dataclass
class _Described:
    revision: str | None
    events: int
    last_event_hash: str | None
    evidence: list[tuple[str, int]]
    notice_pdfs: list[dict[str, Any]] = field(default_factory=list)


def database_kind(url: str) -> str:
    name = make_url(normalise_url(url)).get_backend_name()
    if name not in DB_MEMBERS:
        raise BadArgumentError(f"backup supports SQLite and PostgreSQL, not {name}",
                               f"备份只支持SQLite和PostgreSQL，不支持{name}", code="unsupported")
    return name


def _sqlite_path(url: str) -> Path:
    db = make_url(normalise_url(url)).database
    if not db or db == ":memory:":
        raise BadArgumentError("an in-memory SQLite database cannot be backed up or restored",
                               "内存中的SQLite数据库无法备份或恢复", code="unsupported")
    return Path(db).expanduser()


# --- the PostgreSQL client tools ---------------------------------------------------------------

def pg_tool(name: str) -> str:
    """``pg_dump`` or ``pg_restore``: on PATH, else the newest under /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found

    def version(p: str) -> int:
        part = Path(p).parts[-3]
        return int(part) if part.isdigit() else 0

    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version, reverse=True)
    for c in candidates:
        if os.access(c, os.X_OK):
            return c
    raise InputError(
        f"{name} was not found (on PATH or under /usr/lib/postgresql/*/bin); install the "
        "PostgreSQL client tools (Debian: apt-get install postgresql-client)",
        f"未找到{name}（PATH及/usr/lib/postgresql/*/bin下均没有）；请安装PostgreSQL客户端工具"
        "（Debian：apt-get install postgresql-client）", code="pg_tool_missing")


def _pg_target(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and the environment carrying it."""
    parsed = make_url(normalise_url(url))
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    uri = parsed.set(drivername="postgresql", password=None).render_as_string(
        hide_password=False)
    return uri, env


def _run_tool(args: list[str], env: dict[str, str], what_en: str, what_zh: str) -> None:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = " ".join((proc.stderr or proc.stdout or "").strip().splitlines()[-3:])
        raise InputError(f"{what_en} failed (exit {proc.returncode}): {detail}",
                         f"{what_zh}失败（退出码{proc.returncode}）：{detail}",
                         code="pg_tool_failed")


# --- what a database holds ---------------------------------------------------------------------

def _describe(conn: Connection) -> _Described:
    """Revision, event count and head, evidence rows and notice PDFs, read on ``conn``."""
    revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    events = int(conn.execute(text("SELECT count(*) FROM event")).scalar_one())
    last = conn.execute(text("SELECT hash FROM event ORDER BY seq DESC LIMIT 1")).scalar()
    evidence = [(str(s), int(n)) for s, n in conn.execute(
        text("SELECT sha256, size FROM evidence ORDER BY sha256"))]
    pdfs = []
    for key, data in conn.execution_options(yield_per=200).execute(
            text("SELECT sha256, data FROM notice_pdf ORDER BY sha256")):
        blob = bytes(data)
        actual = hashlib.sha256(blob).hexdigest()
        if actual != key:
            raise VerificationError(
                f"notice PDF {key} in the database does not match its SHA-256 (it hashes to "
                f"{actual}); the backup was not written",
                f"数据库中的文书PDF {key}与其SHA-256不符（实际为{actual}）；未写出备份")
        pdfs.append({"sha256": key, "size": len(blob)})
    return _Described(revision, events, None if last is None else str(last), evidence, pdfs)


_EMPTY_TABLES_OK = {"alembic_version", "region"}  # `lookback init` fills the region codes


def holds_data(url: str) -> str | None:
    """What the database at ``url`` already holds (``"12 rows in business, …"``), or None."""
    if database_kind(url) == "sqlite" and not _sqlite_path(url).exists():
        return None
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = []
            for table in sorted(inspect(conn).get_table_names()):
                if table in _EMPTY_TABLES_OK:
                    continue
                if conn.execute(text(f'SELECT 1 FROM "{table}" LIMIT 1')).first() is not None:
                    found.append(table)
            return ", ".join(found) if found else None
    finally:
        engine.dispose()


# --- backup ------------------------------------------------------------------------------------

class _HashingReader:
    """Reads a file for tarfile while hashing what was read."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data


def _add(tar: tarfile.TarFile, name: str, f: IO[bytes], size: int, mtime: float) -> str:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(mtime)
    info.mode = 0o600
    reader = _HashingReader(f)
    tar.addfile(info, reader)
    return reader.digest.hexdigest()


def _data_files(data_dir: Path, skip: set[Path]) -> list[tuple[Path, str, str]]:
    """(absolute path, relative path, kind) of every file in the whole-folder parts."""
    found = []
    for folder, kind in DATA_FOLDERS.items():
        root = data_dir / folder
        if not root.is_dir():
            continue
        for p in sorted(root.rglob("*")):
            if p.is_file() and not p.is_symlink() and not p.name.startswith(".") \
                    and p.resolve() not in skip:
                found.append((p, p.relative_to(data_dir).as_posix(), kind))
    return found


def _snapshot_sqlite(url: str, copy: Path) -> _Described:
    source = _sqlite_path(url)
    src = sqlite3.connect(str(source), timeout=30)
    try:
        dst = sqlite3.connect(str(copy))
        try:
            # One step (pages=-1): the whole database as of one read transaction; in WAL mode
            # writers go on meanwhile.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
        finally:
            dst.close()
    finally:
        src.close()
    engine = create_engine(f"sqlite:///{copy}", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return _describe(conn)
    finally:
        engine.dispose()


def _snapshot_postgres(url: str, dump: Path) -> _Described:
    tool = pg_tool("pg_dump")
    uri, env = _pg_target(url)
    engine = make_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, \
                conn.begin():
            # pg_dump and the manifest read the same snapshot, exported by this transaction.
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            _run_tool([tool, "--format=custom", f"--snapshot={snapshot}", f"--file={dump}",
                       f"--dbname={uri}"], env, "pg_dump", "pg_dump")
            return _describe(conn)
    finally:
        engine.dispose()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def backup(url: str, data_dir: Path, target: Path, *, now: datetime, force: bool = False,
           progress: Progress | None = None) -> BackupSummary:
    """Write the archive ``target`` (gzip when it ends in .tar.gz or .tgz). It is written to a
    temporary file beside ``target`` and renamed at the end: a crash leaves no half archive."""
    kind = database_kind(url)
    target = target.expanduser()
    if target.is_dir():
        raise BadArgumentError(f"{target} is a folder; name the archive file to write",
                               f"{target}是文件夹；请给出要写入的备份文件名", code="bad_target")
    if target.exists() and not force:
        raise BadArgumentError(f"{target} already exists; use --force to overwrite it",
                               f"{target}已存在；如需覆盖请加--force", code="exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    gz = target.name.endswith((".tar.gz", ".tgz"))
    tick = progress or (lambda done, total: None)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    try:
        db_copy = work / "database"
        described = (_snapshot_sqlite(url, db_copy) if kind == "sqlite"
                     else _snapshot_postgres(url, db_copy))
        skip = {target.resolve()}
        if kind == "sqlite":
            skip.add(_sqlite_path(url).resolve())
        evidence_root = data_dir / "evidence"
        items: list[tuple[Path, str, str, str | None, int | None]] = [
            (evidence_root / sha[:2] / sha[2:4] / sha, f"evidence/{sha[:2]}/{sha[2:4]}/{sha}",
             "evidence", sha, size) for sha, size in described.evidence]
        items += [(p, rel, k, None, None) for p, rel, k in _data_files(data_dir, skip)]
        total = 1 + len(items)
        tick(0, total)
        archive_tmp = work / "archive"
        entries: list[FileEntry] = []
        # Owner-only: the archive holds personal data and the API users' token hashes.
        fd = os.open(archive_tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz" if gz else "w",
                              format=tarfile.PAX_FORMAT) as tar:
                member = DB_MEMBERS[kind]
                stamp = now.timestamp()
                with db_copy.open("rb") as f:
                    db_size = os.fstat(f.fileno()).st_size
                    db_sha = _add(tar, member, f, db_size, stamp)
                tick(1, total)
                added: set[str] = set()
                for i, (path, rel, k, want_sha, want_size) in enumerate(items, start=2):
                    entries.append(_add_file(tar, path, rel, k, want_sha, want_size, added))
                    tick(i, total)
                manifest = {
                    "format": FORMAT, "format_version": FORMAT_VERSION,
                    "created_at": now.isoformat(),
                    "database": {"kind": kind, "member": member, "sha256": db_sha,
                                 "size": db_size},
                    "schema_revision": described.revision,
                    "events": described.events,
                    "last_event_hash": described.last_event_hash,
                    "files": [e.as_dict() for e in entries],
                    "notice_pdfs": described.notice_pdfs,
                }
                blob = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(blob), int(stamp), 0o600
                tar.addfile(info, io.BytesIO(blob))
            raw.flush()
            os.fsync(raw.fileno())
        archive_bytes = archive_tmp.stat().st_size
        os.replace(archive_tmp, target)
        _fsync_dir(target.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BackupSummary(target, kind, described.revision, described.events,
                         described.last_event_hash, len(entries),
                         sum(e.size for e in entries), len(described.notice_pdfs), archive_bytes)


def _add_file(tar: tarfile.TarFile, path: Path, rel: str, kind: str, want_sha: str | None,
              want_size: int | None, added: set[str]) -> FileEntry:
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise VerificationError(
            f"{rel} is missing from the data folder although the database refers to it; the "
            "backup was not written",
            f"数据目录中缺少{rel}（数据库引用了它）；未写出备份") from None
    with f:
        st = os.fstat(f.fileno())
        if want_sha is not None and want_sha in added:
            return FileEntry(rel, want_sha, st.st_size, kind)
        # Stored under its SHA-256, which is only known once read: hash first for files that
        # are not content-addressed (calendar, reports), then store them.
        if want_sha is None:
            digest = hashlib.sha256()
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
            sha = digest.hexdigest()
            f.seek(0)
        else:
            sha = want_sha
        if sha in added:
            return FileEntry(rel, sha, st.st_size, kind)
        actual = _add(tar, f"files/{sha}", f, st.st_size, st.st_mtime)
    if actual != sha or (want_size is not None and st.st_size != want_size):
        raise VerificationError(
            f"{rel} in the data folder does not match its SHA-256 or size (it was changed or "
            "damaged); the backup was not written",
            f"数据目录中的{rel}与其SHA-256或大小不符（已被改动或损坏）；未写出备份")
    added.add(sha)
    return FileEntry(rel, sha, st.st_size, kind)


# --- restore -----------------------------------------------------------------------------------

def _not_archive(archive: Path, why: str) -> BadFileError:
    return BadFileError(f"{archive} is not a Lookback backup archive ({why})",
                        f"{archive}不是Lookback备份文件（{why}）", code="bad_archive")


@dataclass
class _Staged:
    folder: Path
    manifest: dict[str, Any]
    members: dict[str, tuple[Path, str, int]]  # name -> (staged file, sha256, size)


def _stage(archive: Path, folder: Path) -> _Staged:
    """Every member of the archive copied into ``folder``, hashed on the way."""
    members: dict[str, tuple[Path, str, int]] = {}
    manifest_bytes: bytes | None = None
    try:
        with tarfile.open(archive, "r:*") as tar:
            for m in _iter(tar):
                name = m.name
                if name in members or (name == MANIFEST and manifest_bytes is not None):
                    raise _not_archive(archive, f"{name} appears twice")
                if not m.isfile():
                    raise _not_archive(archive, f"unexpected entry {name!r}")
                src = tar.extractfile(m)
                assert src is not None
                if name == MANIFEST:
                    if m.size > _MAX_MANIFEST:
                        raise _not_archive(archive, "manifest.json is too large")
                    manifest_bytes = src.read()
                    continue
                if name in DB_MEMBERS.values():
                    dest = folder / "database"
                elif name.startswith("files/") and _SHA.match(name.removeprefix("files/")):
                    dest = folder / name.removeprefix("files/")
                else:
                    raise _not_archive(archive, f"unexpected entry {name!r}")
                digest = hashlib.sha256()
                size = 0
                with _writing(dest) as out:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                members[name] = (dest, digest.hexdigest(), size)
    except _StagingError as e:  # the staging folder failed (disk full …): not the archive's fault
        raise e.error from None
    except (tarfile.TarError, EOFError, zlib.error, OSError, UnicodeError) as e:
        why = ("not a tar or gzip-compressed tar file" if isinstance(e, tarfile.ReadError)
               else f"{type(e).__name__}: {e}")
        raise _not_archive(archive, why) from None
    if manifest_bytes is None:
        raise _not_archive(archive, "no manifest.json")
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _not_archive(archive, f"manifest.json is not valid JSON: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _not_archive(archive, "manifest.json is not a Lookback backup manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise _not_archive(archive, f"format version {manifest.get('format_version')!r}; this "
                           f"Lookback reads version {FORMAT_VERSION}")
    return _Staged(folder, manifest, members)


class _StagingError(Exception):
    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _StagingFile:
    def __init__(self, f: IO[bytes]) -> None:
        self.f = f

    def write(self, data: bytes) -> None:
        try:
            self.f.write(data)
        except OSError as e:
            raise _StagingError(e) from e


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[_StagingFile]:
    """A staged file open for writing; its own failures are told apart from the archive's."""
    try:
        f = path.open("wb")
    except OSError as e:
        raise _StagingError(e) from e
    try:
        yield _StagingFile(f)
    finally:
        try:
            f.close()
        except OSError as e:
            raise _StagingError(e) from e


def _iter(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while (m := tar.next()) is not None:
        yield m


def _safe_rel(archive: Path, rel: Any) -> PurePosixPath:
    if not isinstance(rel, str):
        raise _not_archive(archive, f"a file path in manifest.json is {rel!r}")
    p = PurePosixPath(rel)
    allowed = {"evidence", *DATA_FOLDERS}
    if p.is_absolute() or ".." in p.parts or len(p.parts) < 2 or p.parts[0] not in allowed \
            or "\\" in rel or "\x00" in rel:
        raise _not_archive(archive, f"manifest.json names a path outside the data folder: {rel!r}")
    return p


def _check_staged(archive: Path, staged: _Staged, kind: str) -> list[tuple[FileEntry, Path]]:
    """Every file the manifest lists is in the archive with its SHA-256 and size."""
    m = staged.manifest
    db = m.get("database")
    if not isinstance(db, dict) or db.get("kind") not in DB_MEMBERS:
        raise _not_archive(archive, "manifest.json names no database")
    if db["kind"] != kind:
        raise BadFileError(
            f"{archive} holds a {db['kind']} database; the configured database is {kind}",
            f"{archive}中是{db['kind']}数据库；配置的数据库是{kind}", code="wrong_database_kind")
    revision = m.get("schema_revision")
    if not isinstance(revision, str):
        raise _not_archive(archive, "manifest.json has no schema revision")
    if revision.isdigit() and migrate.HEAD.isdigit() and int(revision) > int(migrate.HEAD):
        raise BadFileError(
            f"{archive} was made by a newer Lookback (schema revision {revision}; this one knows "
            f"up to {migrate.HEAD}); upgrade Lookback first",
            f"{archive}由更新版本的Lookback生成（结构版本{revision}，本版本最高{migrate.HEAD}）；"
            "请先升级Lookback", code="newer_archive")
    got = staged.members.get(db.get("member", ""))
    if got is None:
        raise VerificationError(f"{archive}: the database ({db.get('member')}) is missing",
                                f"{archive}：缺少数据库（{db.get('member')}）")
    if got[1] != db.get("sha256") or got[2] != db.get("size"):
        raise VerificationError(
            f"{archive}: the database copy {db['member']} does not match the SHA-256 the "
            "manifest records (the archive was changed or damaged); nothing was restored",
            f"{archive}：数据库副本{db['member']}与清单记录的SHA-256不符（备份被改动或损坏）；"
            "未恢复任何内容")
    files = m.get("files")
    if not isinstance(files, list):
        raise _not_archive(archive, "manifest.json has no file list")
    out = []
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("sha256"), str) \
                or not _SHA.match(f["sha256"]) or not isinstance(f.get("size"), int):
            raise _not_archive(archive, f"a file entry in manifest.json is malformed: {f!r}")
        rel = _safe_rel(archive, f.get("path"))
        entry = FileEntry(rel.as_posix(), f["sha256"], f["size"], str(f.get("kind", "")))
        if entry.kind == "evidence" and rel.parts[1:] != (entry.sha256[:2], entry.sha256[2:4],
                                                            entry.sha256):
            raise _not_archive(archive, f"evidence {rel} is not stored under its SHA-256")
        member = staged.members.get(f"files/{entry.sha256}")
        if member is None:
            raise VerificationError(f"{entry.path}: missing from the archive; nothing was restored",
                                    f"{entry.path}：备份中缺少此文件；未恢复任何内容")
        if member[1] != entry.sha256 or member[2] != entry.size:
            raise VerificationError(
                f"{entry.path}: the archive's copy does not match its SHA-256 {entry.sha256} "
                f"(it hashes to {member[1]}; the archive was changed or damaged); nothing was "
                "restored",
                f"{entry.path}：备份中的副本与其SHA-256 {entry.sha256}不符（实际为{member[1]}，"
                "备份被改动或损坏）；未恢复任何内容")
        out.append((entry, member[0]))
    return out


def verify_database(engine: Engine, manifest: dict[str, Any], where_en: str, where_zh: str
                    ) -> tuple[str, int, str | None, int]:
    """The event chain intact and as long as recorded, every notice PDF and evidence row as the
    manifest lists; returns (revision, events, head hash, notice PDFs)."""
    revision = migrate.current_revision(engine)
    if revision != manifest["schema_revision"]:
        raise VerificationError(
            f"{where_en}: schema revision {revision}, the manifest says "
            f"{manifest['schema_revision']}", f"{where_zh}：结构版本为{revision}，清单记录为"
            f"{manifest['schema_revision']}")
    with SqlUnitOfWork(engine, read_only=True) as uow:
        chain = verify_chain(uow.events.all())
        conn = uow.session.connection()
        if not chain.ok:
            raise VerificationError(
                f"{where_en}: the event hash chain is BROKEN at event {chain.first_broken}: "
                f"{chain.reason}",
                f"{where_zh}：事件哈希链在第{chain.first_broken}条事件处断裂：{chain.reason}")
        head = None if chain.events == 0 else chain.head_hash
        if chain.events != manifest.get("events") or head != manifest.get("last_event_hash"):
            raise VerificationError(
                f"{where_en}: {chain.events} events ending in {head}; the manifest records "
                f"{manifest.get('events')} ending in {manifest.get('last_event_hash')}",
                f"{where_zh}：共{chain.events}条事件，链尾{head}；清单记录为"
                f"{manifest.get('events')}条，链尾{manifest.get('last_event_hash')}")
        listed = {(p.get("sha256"), p.get("size")) for p in manifest.get("notice_pdfs") or []
                  if isinstance(p, dict)}
        pdfs = 0
        for key, data in conn.execution_options(yield_per=200).execute(
                text("SELECT sha256, data FROM notice_pdf ORDER BY sha256")):
            blob = bytes(data)
            if hashlib.sha256(blob).hexdigest() != key or (key, len(blob)) not in listed:
                raise VerificationError(
                    f"{where_en}: notice PDF {key} does not match its SHA-256 or the manifest",
                    f"{where_zh}：文书PDF {key}与其SHA-256或清单不符")
            pdfs += 1
        if pdfs != len(listed):
            raise VerificationError(
                f"{where_en}: {pdfs} notice PDFs, the manifest lists {len(listed)}",
                f"{where_zh}：文书PDF共{pdfs}份，清单列出{len(listed)}份")
        evidence = {f["sha256"] for f in manifest["files"] if f.get("kind") == "evidence"}
        for (sha,) in conn.execute(text("SELECT sha256 FROM evidence ORDER BY sha256")):
            if sha not in evidence:
                raise VerificationError(
                    f"{where_en}: evidence {sha} is in the database but not in the archive",
                    f"{where_zh}：证据{sha}在数据库中，但不在备份中")
    return str(revision), chain.events, head, pdfs


def restore(url: str, data_dir: Path, archive: Path, *, force: bool = False,
            progress: Progress | None = None) -> RestoreSummary:
    """Restore ``archive`` into the database at ``url`` and the data folder ``data_dir``.

    Everything in the archive is checked before anything is changed; on SQLite the restored
    database (its event chain, notice PDFs and evidence list) is checked too before it replaces
    the target file. On PostgreSQL ``pg_restore`` runs in one transaction and the chain is
    checked on the restored database."""
    kind = database_kind(url)
    archive = archive.expanduser()
    if not archive.is_file():
        raise BadFileError(f"{archive} does not exist or is not a file",
                           f"{archive}不存在或不是文件", code="no_file")
    held = holds_data(url)
    label = make_url(normalise_url(url)).render_as_string(hide_password=True)
    if held and not force:
        raise TargetNotEmptyError(
            f"the database {label} already holds data ({held}); restore refuses to overwrite it "
            "(use --force to replace it)",
            f"数据库{label}中已有数据（{held}）；恢复不会覆盖它（如需替换请加--force）")
    tick = progress or (lambda done, total: None)
    data_dir = data_dir.expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=data_dir, prefix=".restore-"))
    try:
        staged = _stage(archive, staging)
        files = _check_staged(archive, staged, kind)
        manifest = staged.manifest
        db_staged = staged.members[manifest["database"]["member"]][0]
        present: set[str] = set()
        for entry, _ in files:
            dest = data_dir / entry.path
            if dest.exists():
                if dest.is_file() and file_sha256(dest) == entry.sha256:
                    present.add(entry.path)
                elif not force:
                    raise TargetNotEmptyError(
                        f"{dest} already exists with other content; restore refuses to "
                        "overwrite it (use --force to replace it)",
                        f"{dest}已存在且内容不同；恢复不会覆盖它（如需替换请加--force）")
        total = 1 + len(files)
        tick(0, total)
        if kind == "sqlite":
            target = _sqlite_path(url)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                            suffix=".restore")
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                shutil.move(str(db_staged), tmp)
                check = make_engine(f"sqlite:///{tmp}")
                try:
                    verified = verify_database(check, manifest, f"the database in {archive}",
                                               f"{archive}中的数据库")
                except VerificationError as e:
                    raise VerificationError(f"{e.en}; nothing was restored",
                                            f"{e.zh}；未恢复任何内容") from None
                finally:
                    check.dispose()
                for suffix in ("-wal", "-shm"):
                    Path(f"{tmp}{suffix}").unlink(missing_ok=True)
                _place_files(data_dir, files, present, tick)
                _replace_sqlite(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        else:
            _place_files(data_dir, files, present, tick)
            tool = pg_tool("pg_restore")
            uri, env = _pg_target(url)
            _run_tool([tool, "--clean", "--if-exists", "--no-owner", "--single-transaction",
                       "--exit-on-error", f"--dbname={uri}", str(db_staged)], env,
                      "pg_restore", "pg_restore")
            engine = make_engine(url)
            try:
                verified = verify_database(
                    engine, manifest, f"the restored database {label}",
                    f"恢复后的数据库{label}")
            finally:
                engine.dispose()
        tick(total, total)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    revision, events, head, pdfs = verified
    return RestoreSummary(kind, revision, events, head, len(files),
                          sum(e.size for e, _ in files), len(present), pdfs,
                          str(manifest.get("created_at", "")), revision != migrate.HEAD)


def _place_files(data_dir: Path, files: list[tuple[FileEntry, Path]], present: set[str],
                 tick: Progress) -> None:
    uses: dict[str, int] = {}
    for entry, _ in files:
        uses[entry.sha256] = uses.get(entry.sha256, 0) + 1
    total = 1 + len(files)
    for i, (entry, staged) in enumerate(files, start=1):
        uses[entry.sha256] -= 1
        if entry.path not in present:
            dest = data_dir / entry.path
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.restore")
            if uses[entry.sha256] == 0:
                shutil.move(str(staged), tmp)  # the last path of these bytes takes the file
            else:
                shutil.copyfile(staged, tmp)
            with tmp.open("rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, dest)
        tick(i, total)


def _replace_sqlite(new: Path, target: Path) -> None:
    """Put ``new`` in place of the SQLite file ``target`` atomically: the old file's write-ahead
    log is checkpointed and removed first, so it can never be replayed onto the new file."""
    if target.exists():
        old = sqlite3.connect(str(target), timeout=30)
        try:
            old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            old.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    with new.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(new, target)
    _fsync_dir(target.parent)

