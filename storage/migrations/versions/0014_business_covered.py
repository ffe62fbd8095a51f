"""business.covered: whether an assigned official is responsible for the business

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 22:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: Union[str, None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('business', schema=None) as batch_op:
        batch_op.add_column(sa.Column('covered', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.execute("UPDATE business SET covered = EXISTS (SELECT 1 FROM cadre_assignment a "
               "WHERE a.uscc = business.uscc)")


def downgrade() -> None:
    with op.batch_alter_table('business', schema=None) as batch_op:
        batch_op.drop_column('covered')
