"""reminders: reviews as appointments that follow another, outbox messages per appointment and kind

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 04:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=20), nullable=False, server_default="care_planning")
        )
        batch_op.add_column(sa.Column("follows_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("review_months", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cancelled_reason", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            "fk_appointment_follows_id_appointment", "appointment", ["follows_id"], ["id"]
        )
        batch_op.create_unique_constraint("uq_appointment_follows_id", ["follows_id"])
    with op.batch_alter_table("message_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("appointment_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cancelled_reason", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            "fk_message_outbox_appointment_id_appointment",
            "appointment",
            ["appointment_id"],
            ["id"],
        )
    # Existing messages belong to their preparation's appointment; where a kind was queued
    # twice for one appointment (before this rule), only the first is tied to it.
    op.execute(
        """
        UPDATE message_outbox SET appointment_id = (
            SELECT preparation.appointment_id FROM preparation
            WHERE preparation.id = message_outbox.preparation_id
        )
        WHERE preparation_id IS NOT NULL AND id IN (
            SELECT MIN(id) FROM message_outbox
            WHERE preparation_id IS NOT NULL GROUP BY preparation_id, kind
        )
        """
    )
    with op.batch_alter_table("message_outbox", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_message_outbox_appointment_id", ["appointment_id", "kind"]
        )
        batch_op.create_index("ix_message_outbox_appointment_id", ["appointment_id"])


def downgrade() -> None:
    with op.batch_alter_table("message_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_message_outbox_appointment_id")
        batch_op.drop_constraint("uq_message_outbox_appointment_id", type_="unique")
        batch_op.drop_constraint("fk_message_outbox_appointment_id_appointment", type_="foreignkey")
        batch_op.drop_column("cancelled_reason")
        batch_op.drop_column("appointment_id")
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.drop_constraint("uq_appointment_follows_id", type_="unique")
        batch_op.drop_constraint("fk_appointment_follows_id_appointment", type_="foreignkey")
        batch_op.drop_column("cancelled_reason")
        batch_op.drop_column("review_months")
        batch_op.drop_column("follows_id")
        batch_op.drop_column("kind")
