"""staff reports: indexes for the dashboard's month-by-month sums (gifts, conversions, membership dates)

Revision ID: 0006_staff_reports
Revises: 0005_ballots
Create Date: 2026-11-27 08:35:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_staff_reports'
down_revision = '0005_ballots'
branch_labels = None
depends_on = None


def upgrade():
    # Partial indexes (SQLite and PostgreSQL both have them); INCLUDE makes them covering on PostgreSQL.
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_gifts_paid_at', ['paid_at'], unique=False,
                              postgresql_where=sa.text("kind = 'gift'"), sqlite_where=sa.text("kind = 'gift'"),
                              postgresql_include=['currency', 'amount_minor', 'fee_minor', 'net_minor',
                                                  'refunded_minor', 'status'])

    with op.batch_alter_table('checkouts', schema=None) as batch_op:
        batch_op.create_index('ix_checkouts_completed_at', ['completed_at'], unique=False,
                              postgresql_where=sa.text("status = 'completed'"),
                              sqlite_where=sa.text("status = 'completed'"),
                              postgresql_include=['currency', 'amount_minor', 'fee_cover_minor', 'source_url',
                                                  'utm_campaign'])

    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.create_index('ix_memberships_started_at', ['started_at'], unique=False,
                              postgresql_include=['status', 'ended_at'])
        batch_op.create_index('ix_memberships_ended_at', ['ended_at'], unique=False, postgresql_include=['status'])
        batch_op.create_index('ix_memberships_canceled_at', ['canceled_at'], unique=False,
                              postgresql_include=['cancel_reason'])


def downgrade():
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_index('ix_memberships_canceled_at')
        batch_op.drop_index('ix_memberships_ended_at')
        batch_op.drop_index('ix_memberships_started_at')

    with op.batch_alter_table('checkouts', schema=None) as batch_op:
        batch_op.drop_index('ix_checkouts_completed_at')

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_gifts_paid_at')
