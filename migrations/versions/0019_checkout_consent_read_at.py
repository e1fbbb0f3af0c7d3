"""checkouts.email_consent (give-form consent waits for the payment), memberships.stripe_read_at (no stale overwrite)

The give form's consent is kept with the checkout and recorded when it completes; a membership keeps when
its Stripe state was read, so an older read never overwrites a newer one.

Revision ID: 0019_checkout_consent_read_at
Revises: 0013_export_jobs
Create Date: 2026-12-03 09:10:00.000000

"""
from alembic import op
import sqlalchemy as sa
from membership.db import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0019_checkout_consent_read_at'
down_revision = '0015_settlement_installation'
branch_labels = None
depends_on = None


def upgrade():
    # Earlier checkouts recorded their consent on the supporter when they were created: nothing to carry over.
    with op.batch_alter_table('checkouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_consent', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stripe_read_at', UTCDateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_column('stripe_read_at')
    with op.batch_alter_table('checkouts', schema=None) as batch_op:
        batch_op.drop_column('email_consent')
