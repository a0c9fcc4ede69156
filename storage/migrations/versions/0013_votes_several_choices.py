"""votes with several choices, a narrower electorate and paper ballots

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 13:59:10

A ballot's choice moves to its own table (`ballot_pick`), so a "pick up to N" vote can hold
several: every existing ballot becomes one pick, then `ballot.option_id` goes. Votes gain how
many may be picked (1 for every existing vote), how they decide, which grids may vote (all),
and the paper ballots an admin enters once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Each ballot's choice waits in a scratch table while ballot loses option_id: SQLite drops
    # a column by copying the table, which it cannot do while another table refers to it.
    op.create_table(
        "_ballot_choice",
        sa.Column("ballot_id", sa.Integer(), nullable=False),
        sa.Column("vote_id", sa.Integer(), nullable=False),
        sa.Column("option_id", sa.Integer(), nullable=False),
        sa.Column("picked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )
    op.execute(
        "INSERT INTO _ballot_choice (ballot_id, vote_id, option_id, picked_at) "
        "SELECT id, vote_id, option_id, COALESCE(changed_at, cast_at) FROM ballot"
    )
    with op.batch_alter_table("ballot", schema=None) as batch_op:
        batch_op.drop_column("option_id")  # its foreign key goes with it
    op.create_table(
        "ballot_pick",
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
    with op.batch_alter_table("ballot_pick", schema=None) as batch_op:
        batch_op.create_index("ix_ballot_pick_vote_option", ["vote_id", "option_id"], unique=False)
    op.execute(
        "INSERT INTO ballot_pick (ballot_id, vote_id, option_id, picked_at) "
        "SELECT ballot_id, vote_id, option_id, picked_at FROM _ballot_choice ORDER BY ballot_id"
    )
    op.drop_table("_ballot_choice")

    decide_rule = sa.Enum("TOP", "MAJORITY", name="deciderule")
    decide_rule.create(op.get_bind(), checkfirst=True)  # PostgreSQL's type; nothing on SQLite
    # plain ADD COLUMNs: SQLite adds them in place (a batch would copy vote, which others
    # refer to)
    op.add_column("vote", sa.Column("max_picks", sa.Integer(), nullable=False, server_default="1"))
    op.add_column(
        "vote", sa.Column("decide_rule", decide_rule, nullable=False, server_default="TOP")
    )
    op.add_column(
        "vote", sa.Column("grid_ids", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
    )
    op.add_column("vote", sa.Column("paper_voters", sa.Integer(), nullable=True))
    op.add_column(
        "vote", sa.Column("paper_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
    )
    op.add_column("vote", sa.Column("paper_by", sa.Integer(), nullable=True))
    op.add_column("vote_option", sa.Column("paper_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vote_option", schema=None) as batch_op:
        batch_op.drop_column("paper_count")
    with op.batch_alter_table("vote", schema=None) as batch_op:
        for column in ("paper_by", "paper_at", "paper_voters", "grid_ids", "decide_rule"):
            batch_op.drop_column(column)
        batch_op.drop_column("max_picks")
    sa.Enum(name="deciderule").drop(op.get_bind(), checkfirst=True)
    with op.batch_alter_table("ballot", schema=None) as batch_op:
        batch_op.add_column(sa.Column("option_id", sa.Integer(), nullable=True))
    # a ballot keeps its first pick (a pick-several ballot loses the others)
    op.execute(
        "UPDATE ballot SET option_id = (SELECT MIN(option_id) FROM ballot_pick "
        "WHERE ballot_pick.ballot_id = ballot.id)"
    )
    with op.batch_alter_table("ballot_pick", schema=None) as batch_op:
        batch_op.drop_index("ix_ballot_pick_vote_option")
    op.drop_table("ballot_pick")
    op.execute("DELETE FROM ballot WHERE option_id IS NULL")
    with op.batch_alter_table("ballot", schema=None) as batch_op:
        batch_op.alter_column("option_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key("ballot_option_id_fkey", "vote_option", ["option_id"], ["id"])
