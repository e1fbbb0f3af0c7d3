"""content translations: tiers, ballots and ballot options keep their texts in the other languages

Revision ID: 0027_content_translations
Revises: 0026_catalogue_version
Create Date: 2026-12-03 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0027_content_translations'
down_revision = '0026_catalogue_version'
branch_labels = None
depends_on = None

TABLES = ('tiers', 'ballots', 'ballot_options')


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column('translations', sa.JSON(), server_default=sa.text("'{}'"),
                                          nullable=False))


def downgrade():
    for table in reversed(TABLES):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column('translations')
