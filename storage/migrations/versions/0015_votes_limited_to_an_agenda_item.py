"""votes limited to an agenda item's participants

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 16:26:28

A vote on an agenda item may be limited to the item's participants (利益相关方): `vote.stakeholders`
(false for every existing vote) and the roll `vote_voter`, written when such a vote is put.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vote_voter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vote_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("AUTHOR", "FOLLOWER", "COUNCIL", name="stakeholderkind"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["vote_id"], ["vote.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("vote_id", "person_id"),
    )
    with op.batch_alter_table("vote_voter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vote_voter_vote_id"), ["vote_id"], unique=False)
    # a plain ADD COLUMN: SQLite adds it in place (a batch would copy vote, which others refer to)
    op.add_column(
        "vote", sa.Column("stakeholders", sa.Boolean(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("vote", schema=None) as batch_op:
        batch_op.drop_column("stakeholders")
    with op.batch_alter_table("vote_voter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vote_voter_vote_id"))
    op.drop_table("vote_voter")
    sa.Enum(name="stakeholderkind").drop(op.get_bind(), checkfirst=True)
