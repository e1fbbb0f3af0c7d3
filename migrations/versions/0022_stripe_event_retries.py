"""stripe event retries: when a received event is due again (a worker's lease, a retry's back-off)

Revision ID: 0022_stripe_event_retries
Revises: 0021_locales
Create Date: 2026-12-10 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from membership.db import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0022_stripe_event_retries'
down_revision = '0021_locales'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', UTCDateTime(), nullable=True))
    op.create_index('ix_stripe_events_due', 'stripe_events', ['next_attempt_at'], unique=False,
                    postgresql_where=sa.text("status = 'received'"), sqlite_where=sa.text("status = 'received'"))
    op.create_index('ix_stripe_events_failed', 'stripe_events', ['received_at'], unique=False,
                    postgresql_where=sa.text("status = 'failed'"), sqlite_where=sa.text("status = 'failed'"))


def downgrade():
    op.drop_index('ix_stripe_events_failed', table_name='stripe_events')
    op.drop_index('ix_stripe_events_due', table_name='stripe_events')
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_column('next_attempt_at')
