"""campaigns: a goal (an amount in one currency, or new patrons), dates, text; counted from attributed checkouts

Revision ID: 0025_campaigns
Revises: 0024_webhooks_out
Create Date: 2026-12-03 12:20:00.000000

"""
from alembic import op
import sqlalchemy as sa

from membership.db import UTCDateTime  # noqa: F401  (rendered by env.py for aware UTC columns)


# revision identifiers, used by Alembic.
revision = '0025_campaigns'
down_revision = '0024_webhooks_out'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=60), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('goal_kind', sa.Enum('amount', 'patrons', name='campaign_goal_kind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('goal_minor', sa.Integer(), nullable=True),
    sa.Column('goal_currency', sa.String(length=3), nullable=True),
    sa.Column('goal_patrons', sa.Integer(), nullable=True),
    sa.Column('starts_at', UTCDateTime(), nullable=False),
    sa.Column('ends_at', UTCDateTime(), nullable=False),
    sa.Column('matching_text', sa.Text(), nullable=False),
    sa.Column('on_support_page', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_campaigns_ends_after_start')),
    sa.CheckConstraint("(goal_kind = 'amount' AND goal_minor > 0 AND goal_currency IS NOT NULL) OR (goal_kind = 'patrons' AND goal_patrons > 0)", name=op.f('ck_campaigns_goal_set')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('slug', name=op.f('uq_campaigns_slug'))
    )


def downgrade():
    op.drop_table('campaigns')
