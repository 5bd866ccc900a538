"""purchases.created_ts (integer Unix seconds) and the scoring job's covering index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# created_at as whole Unix seconds, the same value the model's column default computes.
# SQLite's strftime('%s') rounds a fraction of a second up at .5: cut it off first.
BACKFILL = {
    "sqlite": "CAST(strftime('%s', substr(created_at, 1, 19)) AS INTEGER)",
    "postgresql": "CAST(floor(extract(epoch FROM created_at)) AS BIGINT)",
}


def upgrade() -> None:
    """Upgrade schema."""
    dialect = op.get_bind().dialect.name
    op.add_column("purchases", sa.Column("created_ts", sa.BigInteger(), nullable=True))
    op.execute(f"UPDATE purchases SET created_ts = {BACKFILL[dialect]}")
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.alter_column("created_ts", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_index(
            "ix_purchases_scoring",
            ["customer_id", "created_ts", "amount", "refunded_amount"],
            unique=False,
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("purchases", schema=None) as batch_op:
        batch_op.drop_index("ix_purchases_scoring")
        batch_op.drop_column("created_ts")
