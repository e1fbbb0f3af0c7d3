"""audit log: PostgreSQL also refuses TRUNCATE on audit_log (UPDATE and DELETE were refused already)

Revision ID: 0010_audit_log_no_truncate
Revises: 0009_source_index_row_size
Create Date: 2026-11-27 12:15:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010_audit_log_no_truncate'
down_revision = '0009_source_index_row_size'
branch_labels = None
depends_on = None


def upgrade():
    # Row triggers don't fire on TRUNCATE (nor on a TRUNCATE of staff_users … CASCADE, which reaches the log):
    # a statement trigger does. SQLite has no TRUNCATE; its DELETE trigger covers "DELETE FROM audit_log".
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
