"""dashboard rollups: the dashboard's figures precomputed per ended month, and the count of changes to each month

Revision ID: 0032_dashboard_rollups
Revises: 0031_preset_impact
Create Date: 2026-12-03 15:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

from membership.db import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0032_dashboard_rollups'
down_revision = '0031_preset_impact'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('changed_months',
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('changes', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('month', name=op.f('pk_changed_months'))
    )
    op.create_table('dashboard_rollup_months',
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('changes', sa.Integer(), nullable=False),
    sa.Column('refreshed_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('month', name=op.f('pk_dashboard_rollup_months'))
    )
    op.create_table('dashboard_revenue_rollups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('settlement_currency', sa.String(length=3), nullable=False),
    sa.Column('payments', sa.Integer(), nullable=False),
    sa.Column('gross_minor', sa.BigInteger(), nullable=False),
    sa.Column('fee_minor', sa.BigInteger(), nullable=False),
    sa.Column('taken_back_minor', sa.BigInteger(), nullable=False),
    sa.Column('net_minor', sa.BigInteger(), nullable=False),
    sa.Column('settled_back_minor', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_revenue_rollups')),
    sa.UniqueConstraint('month', 'kind', 'currency', 'settlement_currency', name='uq_dashboard_revenue_rollups_month')
    )
    op.create_table('dashboard_conversion_rollups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('dimension', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=2048), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('conversions', sa.Integer(), nullable=False),
    sa.Column('charged_minor', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dashboard_conversion_rollups'))
    )
    op.create_index('ix_dashboard_conversion_rollups_month_dimension', 'dashboard_conversion_rollups',
                    ['month', 'dimension'], unique=False)


def downgrade():
    op.drop_index('ix_dashboard_conversion_rollups_month_dimension', table_name='dashboard_conversion_rollups')
    op.drop_table('dashboard_conversion_rollups')
    op.drop_table('dashboard_revenue_rollups')
    op.drop_table('dashboard_rollup_months')
    op.drop_table('changed_months')
