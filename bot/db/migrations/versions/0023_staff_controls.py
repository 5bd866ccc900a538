"""Controls on staff: purchases and adjustments waiting for an owner (approvals), anomaly
alerts (staff_alerts) and how far their scan has read (anomaly_marks), and the index a
daily cap reads (ix_purchases_author_day)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_index(
        "ix_purchases_author_day", "purchases", ["author_tg_id", "created_ts", "amount"]
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("author_tg_id", sa.BigInteger(), nullable=False),
        sa.Column("author_locale", sa.String(length=8), nullable=False),
        sa.Column("outlet_code", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("service_tag", sa.String(length=32), nullable=True),
        sa.Column("receipt_no", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("figures", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        sa.Column("purchase_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["outlet_code"], ["outlets.code"]),
        sa.ForeignKeyConstraint(["purchase_id"], ["purchases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_approvals_state", "approvals", ["state", "created_at"])
    op.create_index("ix_approvals_customer", "approvals", ["customer_id"])
    op.create_table(
        "staff_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("staff_tg_id", sa.BigInteger(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index("ix_staff_alerts_staff", "staff_alerts", ["staff_tg_id", "created_at"])
    op.create_index("ix_staff_alerts_customer", "staff_alerts", ["customer_id"])
    op.create_table(
        "anomaly_marks",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("anomaly_marks")
    op.drop_index("ix_staff_alerts_customer", table_name="staff_alerts")
    op.drop_index("ix_staff_alerts_staff", table_name="staff_alerts")
    op.drop_table("staff_alerts")
    op.drop_index("ix_approvals_customer", table_name="approvals")
    op.drop_index("ix_approvals_state", table_name="approvals")
    op.drop_table("approvals")
    op.drop_index("ix_purchases_author_day", table_name="purchases")
