"""index outbox by provider sid

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 18:07:19.393547
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_outbox_provider_sid"), ["provider_sid"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("message_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_outbox_provider_sid"))
