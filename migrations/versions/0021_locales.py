"""locales: each supporter's, checkout's and staff member's language (emails and pages are written in it)

Revision ID: 0021_locales
Revises: 0020_refused_checkouts
Create Date: 2026-12-03 11:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021_locales'
down_revision = '0020_refused_checkouts'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('checkouts') as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), nullable=True))
    with op.batch_alter_table('supporters') as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), nullable=True))
    with op.batch_alter_table('staff_users') as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('staff_users') as batch_op:
        batch_op.drop_column('locale')
    with op.batch_alter_table('supporters') as batch_op:
        batch_op.drop_column('locale')
    with op.batch_alter_table('checkouts') as batch_op:
        batch_op.drop_column('locale')
