"""staff reports: the top-sources ranking reads only conversions with an article, or with a campaign

Revision ID: 0007_staff_report_sources
Revises: 0006_staff_reports
Create Date: 2026-11-27 09:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_staff_report_sources'
down_revision = '0006_staff_reports'
branch_labels = None
depends_on = None

SOURCE = "status = 'completed' AND source_url <> ''"
CAMPAIGN = "status = 'completed' AND utm_campaign <> ''"
SUMMED = ['currency', 'amount_minor', 'fee_cover_minor']


def upgrade():
    with op.batch_alter_table('checkouts', schema=None) as batch_op:
        # Only counted now: the INCLUDE columns move to the two narrower indexes below.
        batch_op.drop_index('ix_checkouts_completed_at')
        batch_op.create_index('ix_checkouts_completed_at', ['completed_at'], unique=False,
                              postgresql_where=sa.text("status = 'completed'"),
                              sqlite_where=sa.text("status = 'completed'"))
        batch_op.create_index('ix_checkouts_completed_at_source', ['completed_at'], unique=False,
                              postgresql_where=sa.text(SOURCE), sqlite_where=sa.text(SOURCE),
                              postgresql_include=['source_url', *SUMMED])
        batch_op.create_index('ix_checkouts_completed_at_campaign', ['completed_at'], unique=False,
                              postgresql_where=sa.text(CAMPAIGN), sqlite_where=sa.text(CAMPAIGN),
                              postgresql_include=['utm_campaign', *SUMMED])


def downgrade():
    with op.batch_alter_table('checkouts', schema=None) as batch_op:
        batch_op.drop_index('ix_checkouts_completed_at_campaign')
        batch_op.drop_index('ix_checkouts_completed_at_source')
        batch_op.drop_index('ix_checkouts_completed_at')
        batch_op.create_index('ix_checkouts_completed_at', ['completed_at'], unique=False,
                              postgresql_where=sa.text("status = 'completed'"),
                              sqlite_where=sa.text("status = 'completed'"),
                              postgresql_include=['currency', 'amount_minor', 'fee_cover_minor', 'source_url',
                                                  'utm_campaign'])
