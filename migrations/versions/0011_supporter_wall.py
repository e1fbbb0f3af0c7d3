"""checkouts.wall_status and wall_reviewed_at: the public supporter wall and its moderation

Revision ID: 0011_supporter_wall
Revises: 0010_audit_log_no_truncate
Create Date: 2026-11-27 13:50:00.000000

"""
from alembic import op
import sqlalchemy as sa
from membership.db import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0011_supporter_wall'
down_revision = '0010_audit_log_no_truncate'
branch_labels = None
depends_on = None


def upgrade():
    # Existing checkouts start as `pending`: their names appear on the wall (unless anonymous), and their
    # messages wait for an editor when SUPPORTER_WALL_REVIEW is on, as new ones do.
    with op.batch_alter_table('checkouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wall_status', sa.Enum('pending', 'approved', 'hidden', name='wall_status',
                                                             native_enum=False, create_constraint=True, length=24),
                                      server_default='pending', nullable=False))
        batch_op.add_column(sa.Column('wall_reviewed_at', UTCDateTime(), nullable=True))
        batch_op.create_index('ix_checkouts_status_completed_at', ['status', 'completed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('checkouts', schema=None) as batch_op:
        batch_op.drop_index('ix_checkouts_status_completed_at')
        batch_op.drop_column('wall_reviewed_at')
        batch_op.drop_column('wall_status')
