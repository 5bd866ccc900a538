"""Post-visit surveys: one per purchase, scores for CSAT, comments erased by /forget

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purchase_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("staff_tg_id", sa.BigInteger(), nullable=False),
        sa.Column("outlet_code", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ask_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("commented_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("score >= 1 AND score <= 5", name="ck_surveys_score_range"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["purchase_id"], ["purchases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("purchase_id"),
    )
    op.create_index("ix_surveys_answered", "surveys", ["answered_at"])
    op.create_index("ix_surveys_customer", "surveys", ["customer_id", "answered_at"])
    op.create_index("ix_surveys_staff", "surveys", ["staff_tg_id", "answered_at"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_surveys_staff", table_name="surveys")
    op.drop_index("ix_surveys_customer", table_name="surveys")
    op.drop_index("ix_surveys_answered", table_name="surveys")
    op.drop_table("surveys")
