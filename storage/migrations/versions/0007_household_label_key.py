"""household label key

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 11:43:35

Households are matched by `label_key` (the label normalised, without spaces, case-folded), so
"3组12号" and "3组 12号" are one household. Households that already exist twice under one key
stay apart: the oldest keeps the key (later joins find it), the others get "#<id>" after it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from storage.text import label_key

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY_MAX = 64
UNIQUE = "uq_household_grid_id_label_key"


def upgrade() -> None:
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("label_key", sqlmodel.sql.sqltypes.AutoString(length=KEY_MAX), nullable=True)
        )
    connection = op.get_bind()
    household = sa.table(
        "household",
        sa.column("id"),
        sa.column("grid_id"),
        sa.column("label"),
        sa.column("label_key"),
    )
    rows = connection.execute(
        sa.select(household.c.id, household.c.grid_id, household.c.label).order_by(household.c.id)
    ).all()
    taken: set[tuple[int, str]] = set()
    for row_id, grid_id, label in rows:
        key = label_key(label)[:KEY_MAX]
        if (grid_id, key) in taken:
            suffix = f"#{row_id}"
            key = key[: KEY_MAX - len(suffix)] + suffix
        taken.add((grid_id, key))
        connection.execute(
            household.update().where(household.c.id == row_id).values(label_key=key)
        )
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.alter_column(
            "label_key",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=KEY_MAX),
            nullable=False,
        )
        batch_op.create_unique_constraint(UNIQUE, ["grid_id", "label_key"])


def downgrade() -> None:
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.drop_constraint(UNIQUE, type_="unique")
        batch_op.drop_column("label_key")
