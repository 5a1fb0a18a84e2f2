"""preparations name the questionnaire they were asked; an inbound SMS is claimed with a lease

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("preparation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "questionnaire_id", sa.String(length=80), nullable=False, server_default="prepare"
            )
        )
        batch_op.add_column(
            sa.Column(
                "questionnaire_version", sa.String(length=20), nullable=False, server_default="1"
            )
        )
    with op.batch_alter_table("inbound_sms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_until", sa.DateTime()))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("inbound_sms", schema=None) as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("lease_until")
    with op.batch_alter_table("preparation", schema=None) as batch_op:
        batch_op.drop_column("questionnaire_version")
        batch_op.drop_column("questionnaire_id")
