"""Privacy: indexes that keep /forget proportional to one customer's rows, pruning of the
exactly-once records, erasable outbox chat ids, and stored results without personal data

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {  # table: [(index, columns)]
    "notes": [("ix_notes_customer", ["customer_id"])],
    "outbox": [("ix_outbox_customer", ["customer_id"])],
    "redemptions": [("ix_redemptions_customer", ["customer_id"])],
    "audit_log": [("ix_audit_actor", ["actor_tg_id"])],
    "processed_updates": [("ix_processed_updates_created", ["created_at"])],
}

# Fields the result models now mark personal (bot.services.idempotency.personal): results
# stored before this revision still hold them.
PERSONAL_RESULT_FIELDS = ("customer_name", "name", "phone")


def _strip_personal_results() -> None:
    table = sa.table("processed_updates", sa.column("key", sa.String), sa.column("result", sa.JSON))
    bind = op.get_bind()
    rows = bind.execute(sa.select(table.c.key, table.c.result).where(table.c.result.is_not(None)))
    for key, result in rows.all():
        if isinstance(result, dict) and any(f in result for f in PERSONAL_RESULT_FIELDS):
            kept = {k: v for k, v in result.items() if k not in PERSONAL_RESULT_FIELDS}
            bind.execute(sa.update(table).where(table.c.key == key).values(result=kept))


def upgrade() -> None:
    """Upgrade schema."""
    for table, indexes in INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, columns in indexes:
                batch_op.create_index(name, columns, unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("chat_id", existing_type=sa.BigInteger(), nullable=True)
    _strip_personal_results()


def downgrade() -> None:
    """Downgrade schema (erased outbox rows get chat id 0 back: they are never sent)."""
    op.execute("UPDATE outbox SET chat_id = 0 WHERE chat_id IS NULL")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("chat_id", existing_type=sa.BigInteger(), nullable=False)
    for table, indexes in INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, _ in indexes:
                batch_op.drop_index(name)
