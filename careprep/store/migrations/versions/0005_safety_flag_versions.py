"""safety flags keep which net found them and both nets' versions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("safety_flag", schema=None) as batch_op:
        batch_op.alter_column(
            "pattern_version",
            existing_type=sa.Integer(),
            type_=sa.String(length=40),
            postgresql_using="pattern_version::varchar",
        )
        batch_op.add_column(sa.Column("classifier_version", sa.String(length=40)))
        batch_op.add_column(sa.Column("detected_by", sa.String(length=20)))


def downgrade() -> None:
    with op.batch_alter_table("safety_flag", schema=None) as batch_op:
        batch_op.drop_column("detected_by")
        batch_op.drop_column("classifier_version")
        batch_op.alter_column(
            "pattern_version",
            existing_type=sa.String(length=40),
            type_=sa.Integer(),
            postgresql_using="NULLIF(split_part(pattern_version, '+', 1), '')::integer",
        )
