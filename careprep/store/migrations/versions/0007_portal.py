"""the portal: practitioner lockout, a record marked as read, the channel of each answer

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("practitioner", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("locked_until", sa.DateTime()))
        batch_op.add_column(sa.Column("last_login_at", sa.DateTime()))
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record_read_at", sa.DateTime()))
        batch_op.add_column(sa.Column("record_read_by", sa.String(length=320)))
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=10)))
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("practice_id", sa.Integer()))
        batch_op.create_foreign_key(
            "fk_audit_event_practice_id_practice", "practice", ["practice_id"], ["id"]
        )
        batch_op.create_index("ix_audit_event_practice_id", ["practice_id"])


def downgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_practice_id")
        batch_op.drop_constraint("fk_audit_event_practice_id_practice", type_="foreignkey")
        batch_op.drop_column("practice_id")
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_column("channel")
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.drop_column("record_read_by")
        batch_op.drop_column("record_read_at")
    with op.batch_alter_table("practitioner", schema=None) as batch_op:
        batch_op.drop_column("active")
        batch_op.drop_column("last_login_at")
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")
