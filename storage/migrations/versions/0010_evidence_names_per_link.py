"""evidence names and uploaders belong to the link between issue and evidence

The bytes of an evidence file are stored once, by SHA-256. Until now the file's name was kept on
the stored bytes, so whoever sent the same bytes later saw the first uploader's name. From now on
``issue_evidence`` holds the ``filename``, ``uploaded_by`` and ``added_at`` of each link, and
``evidence`` keeps only the bytes' size and when they were first stored.

Existing links are filled from the event log, which recorded every attachment:
- ``issue.evidence_added`` events name the file, the uploader and the time of that link;
- events whose payload lists ``evidence`` (a finding, a rectification report, a look-back) give
  the uploader and the time;
- otherwise the link keeps the blob's first time and an empty uploader.
A link whose own name is not in the log keeps the blob's old name only if it is the blob's first
link (that name was its own); any later link gets the neutral name ``evidence-<sha256[:12]>``, so
no migrated link shows another upload's name.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 17:00:00
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0010'
down_revision: Union[str, None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _instant(v: Any) -> datetime:
    d = v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _issue_of(entity: str, payload: dict[str, Any]) -> int | None:
    if entity.startswith("issue:") and entity[6:].isdigit():
        return int(entity[6:])
    issue = payload.get("issue")
    return issue if isinstance(issue, int) else None


def upgrade() -> None:
    with op.batch_alter_table('issue_evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=300),
                                      nullable=True))
        batch_op.add_column(sa.Column('uploaded_by',
                                      sqlmodel.sql.sqltypes.AutoString(length=200),
                                      nullable=True))
        batch_op.add_column(sa.Column('added_at', sqlmodel.sql.sqltypes.UTCDateTime(),
                                      nullable=True))

    conn = op.get_bind()
    blobs = {str(sha): (str(name), _instant(at)) for sha, name, at in conn.execute(
        sa.text("SELECT sha256, filename, added_at FROM evidence"))}
    links = [(int(i), str(sha)) for i, sha in conn.execute(
        sa.text("SELECT issue_id, sha256 FROM issue_evidence"))]
    known: dict[tuple[int, str], dict[str, Any]] = {}  # the earliest event of each link
    if links:
        events = conn.execute(sa.text(
            "SELECT at, actor, kind, entity, payload FROM event "
            "WHERE kind = 'issue.evidence_added' OR payload LIKE '%\"evidence\"%' ORDER BY seq"))
        for at, actor, kind, entity, raw in events:
            try:
                payload = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(payload, dict):
                continue
            issue = _issue_of(str(entity), payload)
            if issue is None:
                continue
            if kind == "issue.evidence_added":
                shas = [payload.get("sha256")]
            else:
                listed = payload.get("evidence")
                shas = listed if isinstance(listed, list) else []
            for sha in shas:
                if not isinstance(sha, str):
                    continue
                seen = known.setdefault((issue, sha), {"by": str(actor), "at": _instant(at)})
                name = payload.get("filename") if kind == "issue.evidence_added" else None
                if isinstance(name, str) and "name" not in seen:
                    seen["name"] = name

    first: dict[str, tuple[datetime, int]] = {}  # the earliest link of each blob
    for issue, sha in links:
        at = known.get((issue, sha), {}).get("at") or blobs.get(sha, ("", _EPOCH))[1]
        if sha not in first or (at, issue) < first[sha]:
            first[sha] = (at, issue)
    rows = []
    for issue, sha in links:
        old_name, blob_at = blobs.get(sha, (f"evidence-{sha[:12]}", _EPOCH))
        seen = known.get((issue, sha), {})
        name = seen.get("name") or (old_name if first[sha][1] == issue
                                    else f"evidence-{sha[:12]}")
        rows.append({"i": issue, "s": sha, "n": str(name)[-300:],
                     "b": str(seen.get("by", ""))[:200], "a": seen.get("at", blob_at)})
    if rows:
        conn.execute(sa.text(
            "UPDATE issue_evidence SET filename = :n, uploaded_by = :b, added_at = :a "
            "WHERE issue_id = :i AND sha256 = :s").bindparams(
                sa.bindparam("a", type_=sqlmodel.sql.sqltypes.UTCDateTime())), rows)

    with op.batch_alter_table('issue_evidence', schema=None) as batch_op:
        batch_op.alter_column('filename', nullable=False,
                              existing_type=sqlmodel.sql.sqltypes.AutoString(length=300))
        batch_op.alter_column('uploaded_by', nullable=False,
                              existing_type=sqlmodel.sql.sqltypes.AutoString(length=200))
        batch_op.alter_column('added_at', nullable=False,
                              existing_type=sqlmodel.sql.sqltypes.UTCDateTime())
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_column('filename')


def downgrade() -> None:
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('filename', sqlmodel.sql.sqltypes.AutoString(length=300),
                                      nullable=True))
    op.execute("UPDATE evidence SET filename = (SELECT MIN(ie.filename) FROM issue_evidence ie "
               "WHERE ie.sha256 = evidence.sha256)")
    op.execute("UPDATE evidence SET filename = '' WHERE filename IS NULL")
    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.alter_column('filename', nullable=False,
                              existing_type=sqlmodel.sql.sqltypes.AutoString(length=300))
    with op.batch_alter_table('issue_evidence', schema=None) as batch_op:
        batch_op.drop_column('added_at')
        batch_op.drop_column('uploaded_by')
        batch_op.drop_column('filename')
