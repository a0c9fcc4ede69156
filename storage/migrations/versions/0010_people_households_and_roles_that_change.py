"""people, households and roles that change

Roles end with who and why; memberships end with a reason (left, moved away, deceased);
tenants; households merged into another; the village's tenant rule. Columns only (plain
ALTER TABLE ADD COLUMN on SQLite: no table is rebuilt).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 14:15:42.241468
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("merged_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )

    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("left_reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(sa.Column("left_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("tenant", sa.Boolean(), server_default="0", nullable=False))

    with op.batch_alter_table("roleassignment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_by", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("revoke_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )

    with op.batch_alter_table("village", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tenants_vote", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("tenants_earn", sa.Boolean(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("village", schema=None) as batch_op:
        batch_op.drop_column("tenants_earn")
        batch_op.drop_column("tenants_vote")

    with op.batch_alter_table("roleassignment", schema=None) as batch_op:
        batch_op.drop_column("revoke_reason")
        batch_op.drop_column("revoked_by")

    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_column("tenant")
        batch_op.drop_column("left_by")
        batch_op.drop_column("left_reason")

    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.drop_column("merged_at")
        batch_op.drop_column("merged_into_id")
