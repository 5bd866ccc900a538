"""Scheduled jobs: reported mileages, and the indexes of the daily selection pass

Revision ID: 0015
Revises: 0012
Create Date: 2026-11-26

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0015"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# created_at as whole Unix seconds, the model's column default (as in 0004 for purchases)
BACKFILL = {
    "sqlite": "CAST(strftime('%s', substr(created_at, 1, 19)) AS INTEGER)",
    "postgresql": "CAST(floor(extract(epoch FROM created_at)) AS BIGINT)",
}


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "mileage_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("km", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_ts", sa.BigInteger(), nullable=False),
        sa.Column("monthly_km", sa.Integer(), nullable=False),
        sa.Column("author_tg_id", sa.BigInteger(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("km >= 0", name="ck_mileage_km_nonneg"),
        sa.CheckConstraint("monthly_km >= 0", name="ck_mileage_monthly_nonneg"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mileage_customer", "mileage_reports", ["customer_id", "reported_at"])
    # visits.created_ts: created_at as whole Unix seconds, as purchases have since 0004
    dialect = op.get_bind().dialect.name
    op.add_column("visits", sa.Column("created_ts", sa.BigInteger(), nullable=True))
    op.execute(f"UPDATE visits SET created_ts = {BACKFILL[dialect]}")
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.alter_column("created_ts", existing_type=sa.BigInteger(), nullable=False)
    # the daily selection pass (bench/selection.py): birthdays of one day, services of one
    # tag in a time range and whether a later one followed
    op.create_index("ix_customers_birthday", "customers", ["birthday"])
    op.create_index(
        "ix_purchases_tag_created", "purchases", ["service_tag", "created_ts", "customer_id"]
    )
    op.create_index(
        "ix_purchases_customer_tag", "purchases", ["customer_id", "service_tag", "created_ts"]
    )
    op.create_index("ix_visits_tag_created", "visits", ["service_tag", "created_ts", "customer_id"])
    op.create_index(
        "ix_visits_customer_tag", "visits", ["customer_id", "service_tag", "created_ts"]
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_visits_customer_tag", table_name="visits")
    op.drop_index("ix_visits_tag_created", table_name="visits")
    op.drop_index("ix_purchases_customer_tag", table_name="purchases")
    op.drop_index("ix_purchases_tag_created", table_name="purchases")
    op.drop_index("ix_customers_birthday", table_name="customers")
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_column("created_ts")
    op.drop_index("ix_mileage_customer", table_name="mileage_reports")
    op.drop_table("mileage_reports")
