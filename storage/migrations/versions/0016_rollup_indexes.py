"""Covering indexes for the roll-up and the office dashboard

The national roll-up over 1,000,000 businesses looked up 100,000 issues' and supervision
visits' businesses in random order, each an index descent and a table row, and sorted the whole
business table by region: these indexes let each scan read one index in order, without the
table (bench/console_dashboard.py measures it).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 00:30:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = '0016'
down_revision: Union[str, None] = '0015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEXES = [
    ('ix_business_rollup', 'business',
     ['region_code', 'status', 'covered', 'director', 'officer']),
    ('ix_business_uscc_region', 'business', ['uscc', 'region_code']),
    ('ix_issue_rollup', 'issue', ['uscc', 'campaign_id', 'status', 'on_time', 'due_on',
                                  'escalation']),
    ('ix_issue_due_status', 'issue', ['due_on', 'status']),
    ('ix_issue_found_on', 'issue', ['found_on']),
    ('ix_issue_reported_on', 'issue', ['reported_on']),
    ('ix_supervision_visit_period_cover', 'supervision_visit', ['period_end', 'uscc', 'status']),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
