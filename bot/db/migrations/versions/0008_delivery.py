"""Delivery: outbox message kinds, priorities, deadlines and claim leases; customers who
blocked the bot (unreachable)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=32), server_default="notice", nullable=False)
        )
        batch_op.add_column(
            sa.Column("priority", sa.SmallInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("deadline", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("source", sa.String(length=40), nullable=True))
        # the claim query: pending rows by priority, then age
        batch_op.drop_index("ix_outbox_state_id")
        batch_op.create_index("ix_outbox_claim", ["state", "priority", "id"], unique=False)
        # the frequency cap: one customer's messages of the last days
        batch_op.drop_index("ix_outbox_customer")
        batch_op.create_index(
            "ix_outbox_customer_created", ["customer_id", "created_at"], unique=False
        )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unreachable_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema (expired and skipped messages become failed ones)."""
    op.execute("UPDATE outbox SET state = 'failed' WHERE state IN ('expired', 'skipped')")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("unreachable_at")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_customer_created")
        batch_op.create_index("ix_outbox_customer", ["customer_id"], unique=False)
        batch_op.drop_index("ix_outbox_claim")
        batch_op.create_index("ix_outbox_state_id", ["state", "id"], unique=False)
        batch_op.drop_column("source")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("deadline")
        batch_op.drop_column("priority")
        batch_op.drop_column("kind")
