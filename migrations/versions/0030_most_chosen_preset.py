"""most chosen preset: staff mark one preset per currency and frequency as "most chosen"

Revision ID: 0030_most_chosen_preset
Revises: 0029_statements
Create Date: 2026-12-21 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0030_most_chosen_preset'
down_revision = '0029_statements'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('amount_presets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('most_chosen', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('amount_presets', schema=None) as batch_op:
        batch_op.drop_column('most_chosen')
