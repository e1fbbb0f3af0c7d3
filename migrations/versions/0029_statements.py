"""statements: receipt links on payments, and the January statement emails sent (one per supporter and year)

Revision ID: 0029_statements
Revises: 0028_export_language
Create Date: 2026-12-20 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from membership.db import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0029_statements'
down_revision = '0028_export_language'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receipt_url', sa.String(length=2048), server_default='', nullable=False))
        batch_op.add_column(sa.Column('receipt_pdf_url', sa.String(length=2048), server_default='', nullable=False))
    op.create_table(
        'statement_emails',
        sa.Column('supporter_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('sent_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['supporter_id'], ['supporters.id'],
                                name=op.f('fk_statement_emails_supporter_id_supporters'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('supporter_id', 'year', name=op.f('pk_statement_emails')),
    )


def downgrade():
    op.drop_table('statement_emails')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('receipt_pdf_url')
        batch_op.drop_column('receipt_url')
