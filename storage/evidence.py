"""The evidence store: files addressed by SHA-256 under DATA_DIR/evidence, never overwritten."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from domain.errors import BadFileError
from domain.fieldwork import EvidenceRef

MAX_EVIDENCE_BYTES = 50 * 1024 * 1024


class FileEvidenceStore:
    """``put(path)`` copies a file to ``evidence/ab/cd/<sha256>``; an existing blob is kept as is."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "evidence"

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, path: str) -> EvidenceRef:
        src = Path(path)
        if not src.is_file():
            raise BadFileError(f"evidence file {src} does not exist", f"证据文件{src}不存在",
                               code="no_file")
        size = src.stat().st_size
        if size > MAX_EVIDENCE_BYTES:
            raise BadFileError(f"evidence file {src.name} is {size} bytes; the limit is "
                               f"{MAX_EVIDENCE_BYTES}", f"证据文件{src.name}大小{size}字节，超过上限"
                               f"{MAX_EVIDENCE_BYTES}", code="too_large")
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, src.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            target = self.path_of(sha)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(tmp, target)  # fails if it exists: a stored blob is never overwritten
            except FileExistsError:
                pass
            except OSError:
                if not target.exists():
                    shutil.copyfile(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return EvidenceRef(sha, size, src.name)
