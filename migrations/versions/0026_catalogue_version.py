"""catalogue version: one row whose token changes with every change to tiers, presets or currency bounds (the
reader pages' cache of the catalogue checks it instead of reading the catalogue)

Revision ID: 0026_catalogue_version
Revises: 0025_campaigns
Create Date: 2026-12-04 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from membership.db import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0026_catalogue_version'
down_revision = '0025_campaigns'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('catalogue_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('changed_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_catalogue_version_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalogue_version'))
    )


def downgrade():
    op.drop_table('catalogue_version')
