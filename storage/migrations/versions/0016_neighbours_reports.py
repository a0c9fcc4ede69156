"""the grid's weekly report post and reports followed instead of filed

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 16:26:52

A grid's weekly 报事进展 post to its bound group is off until a cadre turns it on
(`grid_report_post`, one row a grid); a resident who follows a neighbour's open report instead
of filing the same problem again leaves a row in `report_followed_instead` (the duplicates
avoided of /gridstats).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "grid_report_post",
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("changed_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["changed_by"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["grid.id"],
        ),
        sa.ForeignKeyConstraint(
            ["village_id"],
            ["village.id"],
        ),
        sa.PrimaryKeyConstraint("grid_id"),
    )
    with op.batch_alter_table("grid_report_post", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_grid_report_post_village_id"), ["village_id"], unique=False
        )

    op.create_table(
        "report_followed_instead",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["grid.id"],
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["task.id"],
        ),
        sa.ForeignKeyConstraint(
            ["village_id"],
            ["village.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "person_id"),
    )
    with op.batch_alter_table("report_followed_instead", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_report_followed_instead_village_id"), ["village_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("report_followed_instead", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_followed_instead_village_id"))

    op.drop_table("report_followed_instead")
    with op.batch_alter_table("grid_report_post", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_report_post_village_id"))

    op.drop_table("grid_report_post")
