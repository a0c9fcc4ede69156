"""pick-several ballots keep a draft until it is confirmed

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 16:52:39

In a "pick up to N of M" vote a press now changes the ballot's draft (`ballot_draft`) and ✔ 确认
makes the draft its picks. The draft starts from the confirmed picks, so every pick-several
ballot already cast gets a draft equal to its picks.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ballot_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ballot_id", sa.Integer(), nullable=False),
        sa.Column("vote_id", sa.Integer(), nullable=False),
        sa.Column("option_id", sa.Integer(), nullable=False),
        sa.Column("picked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["ballot_id"], ["ballot.id"]),
        sa.ForeignKeyConstraint(["option_id"], ["vote_option.id"]),
        sa.ForeignKeyConstraint(["vote_id"], ["vote.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ballot_id", "option_id"),
    )
    with op.batch_alter_table("ballot_draft", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ballot_draft_vote_id"), ["vote_id"], unique=False)
    op.execute(
        "INSERT INTO ballot_draft (ballot_id, vote_id, option_id, picked_at) "
        "SELECT ballot_pick.ballot_id, ballot_pick.vote_id, ballot_pick.option_id, "
        "ballot_pick.picked_at FROM ballot_pick JOIN vote ON vote.id = ballot_pick.vote_id "
        "WHERE vote.max_picks > 1 ORDER BY ballot_pick.id"
    )


def downgrade() -> None:
    with op.batch_alter_table("ballot_draft", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ballot_draft_vote_id"))
    op.drop_table("ballot_draft")
