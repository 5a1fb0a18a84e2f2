"""each practice's messaging settings: quiet hours, invitation and nudge days, send rate

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("practice", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "quiet_hours", sa.String(length=11), nullable=False, server_default="20:00-09:00"
            )
        )
        batch_op.add_column(
            sa.Column("invite_days", sa.Integer(), nullable=False, server_default="7")
        )
        batch_op.add_column(
            sa.Column("nudge_days", sa.Integer(), nullable=False, server_default="2")
        )
        batch_op.add_column(
            sa.Column("send_rate", sa.Integer(), nullable=False, server_default="10")
        )


def downgrade() -> None:
    with op.batch_alter_table("practice", schema=None) as batch_op:
        batch_op.drop_column("send_rate")
        batch_op.drop_column("nudge_days")
        batch_op.drop_column("invite_days")
        batch_op.drop_column("quiet_hours")
