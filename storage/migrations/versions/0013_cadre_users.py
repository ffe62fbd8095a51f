"""cadre users: the assigned official an api_user is

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 21:20:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0013'
down_revision: Union[str, None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('api_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cadre_id', sqlmodel.sql.sqltypes.AutoString(length=64),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_user', schema=None) as batch_op:
        batch_op.drop_column('cadre_id')
