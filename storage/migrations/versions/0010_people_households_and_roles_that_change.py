"""people households and roles that change

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-01 13:59:24.020546
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("merged_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.create_foreign_key(
            "fk_household_merged_into_id", "household", ["merged_into_id"], ["id"]
        )

    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("left_reason", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(sa.Column("left_by", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("tenant", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_foreign_key("fk_membership_left_by", "person", ["left_by"], ["id"])

    with op.batch_alter_table("roleassignment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_by", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("revoke_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch_op.create_foreign_key(
            "fk_roleassignment_revoked_by", "person", ["revoked_by"], ["id"]
        )

    with op.batch_alter_table("village", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tenants_vote", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("tenants_earn", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("village", schema=None) as batch_op:
        batch_op.drop_column("tenants_earn")
        batch_op.drop_column("tenants_vote")

    with op.batch_alter_table("roleassignment", schema=None) as batch_op:
        batch_op.drop_constraint("fk_roleassignment_revoked_by", type_="foreignkey")
        batch_op.drop_column("revoke_reason")
        batch_op.drop_column("revoked_by")

    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_constraint("fk_membership_left_by", type_="foreignkey")
        batch_op.drop_column("tenant")
        batch_op.drop_column("left_by")
        batch_op.drop_column("left_reason")

    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.drop_constraint("fk_household_merged_into_id", type_="foreignkey")
        batch_op.drop_column("merged_at")
        batch_op.drop_column("merged_into_id")
