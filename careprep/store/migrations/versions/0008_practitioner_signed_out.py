"""a practitioner's sign-out ends every session they had before it

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("practitioner", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signed_out_at", sa.DateTime()))


def downgrade() -> None:
    with op.batch_alter_table("practitioner", schema=None) as batch_op:
        batch_op.drop_column("signed_out_at")
