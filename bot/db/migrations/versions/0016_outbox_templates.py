"""Outbox rows rendered at delivery (the template, its locale and its context); refusals
because the chat blocked the bot marked as such

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-26

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("locale", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("context", sa.JSON(), nullable=True))
    # delivery_queue.BLOCKED_ERROR: 403s stored before carry only Telegram's wording
    op.execute(
        "UPDATE outbox SET last_error = 'blocked: ' || substr(last_error, 1, 191) "
        "WHERE state = 'failed' AND last_error LIKE '%Forbidden%'"
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.execute(
        "UPDATE outbox SET last_error = substr(last_error, 10) "
        "WHERE state = 'failed' AND last_error LIKE 'blocked: %'"
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("context")
        batch_op.drop_column("locale")
        batch_op.drop_column("template")
