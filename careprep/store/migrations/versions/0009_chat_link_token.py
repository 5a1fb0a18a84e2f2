"""the invitation link carries its own token, never the conversation's sender id

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 02:00:00
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("preparation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_token", sa.String(length=64)))
    preparation = sa.table("preparation", sa.column("id", sa.Integer), sa.column("link_token"))
    connection = op.get_bind()
    for (row_id,) in connection.execute(sa.select(preparation.c.id)).fetchall():
        connection.execute(
            preparation.update()
            .where(preparation.c.id == row_id)
            .values(link_token=secrets.token_urlsafe(16))
        )
    with op.batch_alter_table("preparation", schema=None) as batch_op:
        batch_op.alter_column("link_token", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(op.f("uq_preparation_link_token"), ["link_token"])


def downgrade() -> None:
    with op.batch_alter_table("preparation", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_preparation_link_token"), type_="unique")
        batch_op.drop_column("link_token")
