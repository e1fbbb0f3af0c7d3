"""export language: the language of a queued export's column headers

Revision ID: 0028_export_language
Revises: 0027_content_translations
Create Date: 2026-12-04 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0028_export_language'
down_revision = '0027_content_translations'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('export_jobs') as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), server_default='en', nullable=False))


def downgrade():
    with op.batch_alter_table('export_jobs') as batch_op:
        batch_op.drop_column('language')
