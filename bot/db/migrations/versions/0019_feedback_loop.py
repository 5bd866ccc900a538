"""The feedback loop: a low score's complaint thread (surveys.conversation_id), the
"would you recommend us" 0-10 question (surveys.nps_*), and why customers leave
(churn_answers, one per win-back message)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conversation_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("nps_asked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("nps_score", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("nps_answered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            "fk_surveys_conversation", "conversations", ["conversation_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip
        batch_op.create_check_constraint(
            "ck_surveys_nps_range", "nps_score >= 0 AND nps_score <= 10"
        )
        batch_op.create_index("ix_surveys_nps", ["customer_id", "nps_asked_at"])
    op.create_table(
        "churn_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["campaign_members.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("member_id", name="uq_churn_answers_member"),
    )
    op.create_index("ix_churn_answers_customer", "churn_answers", ["customer_id", "reason"])
    op.create_index("ix_churn_answers_at", "churn_answers", ["answered_at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_churn_answers_at", table_name="churn_answers")
    op.drop_index("ix_churn_answers_customer", table_name="churn_answers")
    op.drop_table("churn_answers")
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_index("ix_surveys_nps")
        batch_op.drop_constraint("ck_surveys_nps_range", type_="check")
        batch_op.drop_constraint("fk_surveys_conversation", type_="foreignkey")
        batch_op.drop_column("nps_answered_at")
        batch_op.drop_column("nps_score")
        batch_op.drop_column("nps_asked_at")
        batch_op.drop_column("conversation_id")
