"""Pending points (ledger_entries.available_at) and rewards paid with points
(redemptions.reward_code)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("available_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reward_code", sa.String(length=32), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("redemptions", schema=None) as batch_op:
        batch_op.drop_column("reward_code")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_column("available_at")
