"""settlement currency and exchange rate of each payment's fee and net; this installation's id (idempotency keys)

Revision ID: 0015_settlement_installation
Revises: 0013_export_jobs
Create Date: 2026-12-03 09:10:00.000000

"""
from alembic import op
import sqlalchemy as sa
from membership.db import UTCDateTime  # noqa: F401  (rendered by env.py for aware UTC columns)


# revision identifiers, used by Alembic.
revision = '0015_settlement_installation'
down_revision = '0013_export_jobs'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('installation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('installation_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_installation_one_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_installation'))
    )

    # Payments recorded so far were taken as settled in their own currency: that is all we knew of them.
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('settlement_currency', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('exchange_rate', sa.String(length=32), nullable=True))
    op.execute("UPDATE payments SET settlement_currency = currency")
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.alter_column('settlement_currency', existing_type=sa.String(length=3), nullable=False)

    # The dashboard now sums fees and net per settlement currency: keep its gifts index covering on PostgreSQL.
    if op.get_bind().dialect.name == 'postgresql':
        _gifts_index(['currency', 'settlement_currency', 'amount_minor', 'fee_minor', 'net_minor',
                      'refunded_minor', 'status'])


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        _gifts_index(['currency', 'amount_minor', 'fee_minor', 'net_minor', 'refunded_minor', 'status'])
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('exchange_rate')
        batch_op.drop_column('settlement_currency')
    op.drop_table('installation')


def _gifts_index(include):
    op.drop_index('ix_payments_gifts_paid_at', table_name='payments')
    op.create_index('ix_payments_gifts_paid_at', 'payments', ['paid_at'], unique=False,
                    postgresql_where=sa.text("kind = 'gift'"), postgresql_include=include)
