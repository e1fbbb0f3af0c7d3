"""supporters.session_epoch: patron sign-out (and erasure) ends the supporter's sessions on every device

Revision ID: 0008_supporter_session_epoch
Revises: 0007_staff_report_sources
Create Date: 2026-11-27 10:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_supporter_session_epoch'
down_revision = '0007_staff_report_sources'
branch_labels = None
depends_on = None


def upgrade():
    # Sessions started before this carry no epoch and are refused: every patron signs in again once.
    with op.batch_alter_table('supporters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), server_default=sa.text('0'), nullable=False))


def downgrade():
    with op.batch_alter_table('supporters', schema=None) as batch_op:
        batch_op.drop_column('session_epoch')
