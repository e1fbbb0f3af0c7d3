"""preset impact: a one-line impact text per preset amount, and campaigns' texts in the other languages

Revision ID: 0031_preset_impact
Revises: 0030_most_chosen_preset
Create Date: 2026-12-22 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0031_preset_impact'
down_revision = '0030_most_chosen_preset'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('amount_presets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('impact', sa.String(length=120), server_default='', nullable=False))
        batch_op.add_column(sa.Column('translations', sa.JSON(), server_default=sa.text("'{}'"), nullable=False))
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('translations', sa.JSON(), server_default=sa.text("'{}'"), nullable=False))


def downgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('translations')
    with op.batch_alter_table('amount_presets', schema=None) as batch_op:
        batch_op.drop_column('translations')
        batch_op.drop_column('impact')
