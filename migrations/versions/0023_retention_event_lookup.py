"""retention and the stored events' lookup: whom each event names, indexed for erasure; deletion dates

stripe_events gains customer_id and email_hash (indexed) and payload_deleted_at; outbound_emails gains
body_deleted_at.

Revision ID: 0023_retention_event_lookup
Revises: 0022_stripe_event_retries
Create Date: 2026-12-03 11:30:00.000000

The backfill reads the stored payloads once, in batches, and fills the lookup columns as `store_event` does
today (giving.stored_events.event_subjects, copied here so the migration doesn't change with the app).
"""
import hashlib
import json

from alembic import op
import sqlalchemy as sa

from membership.db import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0023_retention_event_lookup'
down_revision = '0022_stripe_event_retries'
branch_labels = None
depends_on = None

BATCH = 1000
EMAIL_KEYS = ("email", "customer_email", "receipt_email")


def _emails(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key in EMAIL_KEYS and isinstance(item, str) and "@" in item:
                yield item
            else:
                yield from _emails(item)
    elif isinstance(value, list):
        for item in value:
            yield from _emails(item)


def _subjects(payload):
    if isinstance(payload, str):
        payload = json.loads(payload)
    if not isinstance(payload, dict):
        return None, None
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    customer = None
    if isinstance(obj, dict):
        customer = obj.get("id") if obj.get("object") == "customer" else obj.get("customer")
        if isinstance(customer, dict):
            customer = customer.get("id")
    address = next(_emails(payload), None)
    return (customer[:255] if isinstance(customer, str) and customer else None,
            hashlib.sha256(address.strip().lower().encode()).hexdigest() if address else None)


def _backfill():
    events = sa.table("stripe_events", sa.column("id", sa.String), sa.column("payload", sa.JSON),
                      sa.column("customer_id", sa.String), sa.column("email_hash", sa.String))
    connection = op.get_bind()
    after = ""
    while True:
        rows = connection.execute(sa.select(events.c.id, events.c.payload).where(events.c.id > after)
                                  .order_by(events.c.id).limit(BATCH)).all()
        for event_id, payload in rows:
            customer_id, email_hash = _subjects(payload)
            if customer_id or email_hash:
                connection.execute(sa.update(events).where(events.c.id == event_id)
                                   .values(customer_id=customer_id, email_hash=email_hash))
        if len(rows) < BATCH:
            return
        after = rows[-1][0]


def upgrade():
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payload_deleted_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('customer_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('email_hash', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_stripe_events_customer_id', ['customer_id'], unique=False)
        batch_op.create_index('ix_stripe_events_email_hash', ['email_hash'], unique=False)
        batch_op.create_index('ix_stripe_events_payload_deleted_at_received_at',
                              ['payload_deleted_at', 'received_at'], unique=False)
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_deleted_at', UTCDateTime(), nullable=True))
        batch_op.create_index('ix_outbound_emails_body_deleted_at_sent_at', ['body_deleted_at', 'sent_at'],
                              unique=False)
    _backfill()


def downgrade():
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_emails_body_deleted_at_sent_at')
        batch_op.drop_column('body_deleted_at')
    with op.batch_alter_table('stripe_events', schema=None) as batch_op:
        batch_op.drop_index('ix_stripe_events_payload_deleted_at_received_at')
        batch_op.drop_index('ix_stripe_events_email_hash')
        batch_op.drop_index('ix_stripe_events_customer_id')
        batch_op.drop_column('email_hash')
        batch_op.drop_column('customer_id')
        batch_op.drop_column('payload_deleted_at')
