"""offices (食品安全办) with territories; campaigns and users belong to one

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 19:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0011'
down_revision: Union[str, None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('office',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('short_name', sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('territory', sqlmodel.sql.sqltypes.AutoString(length=9), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['office.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    with op.batch_alter_table('office', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_office_territory'), ['territory'], unique=False)
        batch_op.create_index(batch_op.f('ix_office_parent_id'), ['parent_id'], unique=False)
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('office_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_campaign_office_id'), ['office_id'], unique=False)
        batch_op.create_foreign_key('fk_campaign_office_id', 'office', ['office_id'], ['id'])
    with op.batch_alter_table('api_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('office_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_api_user_office_id', 'office', ['office_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('api_user', schema=None) as batch_op:
        batch_op.drop_constraint('fk_api_user_office_id', type_='foreignkey')
        batch_op.drop_column('office_id')
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_constraint('fk_campaign_office_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_campaign_office_id'))
        batch_op.drop_column('office_id')
    with op.batch_alter_table('office', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_office_parent_id'))
        batch_op.drop_index(batch_op.f('ix_office_territory'))
    op.drop_table('office')
