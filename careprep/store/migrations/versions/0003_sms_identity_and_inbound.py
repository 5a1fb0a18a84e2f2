"""sms identity and inbound

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 18:02:59.012479
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_sms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_sms")),
        sa.UniqueConstraint("message_sid", name=op.f("uq_inbound_sms_message_sid")),
    )
    with op.batch_alter_table("inbound_sms", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbound_sms_received_at"), ["received_at"], unique=False
        )

    with op.batch_alter_table("preparation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identity_verified_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("identity_failures", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("identity_locked_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("preparation", schema=None) as batch_op:
        batch_op.drop_column("identity_locked_at")
        batch_op.drop_column("identity_failures")
        batch_op.drop_column("identity_verified_at")

    with op.batch_alter_table("inbound_sms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_sms_received_at"))

    op.drop_table("inbound_sms")
