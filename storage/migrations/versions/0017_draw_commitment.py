"""draw_commitment: the frame hash committed before a public beacon seeds the draw

``lookback draw commit`` freezes a campaign's frame and records its SHA-256 and the time; the
plan names a public beacon (``seed = { beacon = …, published_on = … }``) whose value, entered
with ``lookback draw beacon`` once published, makes the seed. One row per campaign.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-09 10:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0017'
down_revision: Union[str, None] = '0016'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'draw_commitment',
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('frame_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('committed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('beacon_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('published_on', sa.Date(), nullable=False),
        sa.Column('beacon_value', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column('value_entered_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ),
        sa.PrimaryKeyConstraint('campaign_id'),
    )


def downgrade() -> None:
    op.drop_table('draw_commitment')
