"""staff reports: ix_checkouts_completed_at_source without INCLUDE, so no source_url can exceed PostgreSQL's B-tree row size

Revision ID: 0009_source_index_row_size
Revises: 0008_supporter_session_epoch
Create Date: 2026-11-27 11:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_source_index_row_size'
down_revision = '0008_supporter_session_epoch'
branch_labels = None
depends_on = None

SOURCE = "status = 'completed' AND source_url <> ''"


def upgrade():
    # A source_url of 2,048 multibyte characters (up to 8 kB) in the INCLUDE made the row too large for a
    # B-tree (2,704 bytes at most): completing that checkout failed. The ranking now reads the table's rows.
    with op.batch_alter_table('checkouts', schema=None) as batch_op:
        batch_op.drop_index('ix_checkouts_completed_at_source')
        batch_op.create_index('ix_checkouts_completed_at_source', ['completed_at'], unique=False,
                              postgresql_where=sa.text(SOURCE), sqlite_where=sa.text(SOURCE))


def downgrade():
    with op.batch_alter_table('checkouts', schema=None) as batch_op:
        batch_op.drop_index('ix_checkouts_completed_at_source')
        batch_op.create_index('ix_checkouts_completed_at_source', ['completed_at'], unique=False,
                              postgresql_where=sa.text(SOURCE), sqlite_where=sa.text(SOURCE),
                              postgresql_include=['source_url', 'currency', 'amount_minor', 'fee_cover_minor'])
