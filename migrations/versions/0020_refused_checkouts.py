"""refused checkouts: how many new checkouts the limits against card testing refused, per day and reason

Revision ID: 0020_refused_checkouts
Revises: 0013_export_jobs
Create Date: 2026-12-03 09:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020_refused_checkouts'
down_revision = '0019_checkout_consent_read_at'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('refused_checkouts',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('reason', sa.Enum('ip', 'address', name='refused_checkout_reason', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.CheckConstraint('attempts > 0', name=op.f('ck_refused_checkouts_attempts_positive')),
    sa.PrimaryKeyConstraint('day', 'reason', name=op.f('pk_refused_checkouts'))
    )


def downgrade():
    op.drop_table('refused_checkouts')
