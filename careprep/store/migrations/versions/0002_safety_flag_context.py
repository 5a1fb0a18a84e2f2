"""safety flag context

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 17:53:55.592765
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("safety_flag", schema=None) as batch_op:
        batch_op.add_column(sa.Column("question_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("pattern_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("safety_flag", schema=None) as batch_op:
        batch_op.drop_column("pattern_version")
        batch_op.drop_column("question_id")
