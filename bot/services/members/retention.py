"""Retention of the exactly-once records (``processed_updates``), pruned by a daily job.

Update and callback claims are kept ``privacy.processed_retention_days`` (3 by default):
long enough for Telegram's re-deliveries, and below the week without updates after which
Telegram restarts update ids at random, so a new update can never meet an old claim.

Expiry-warning claims (``expiry-warning:<lot>``, bot.services.money.expiry; a lot is an entry
id, or ``<entry id>:<origin id>`` for points a refund gave back with their first date)
guard a lot against a second warning for as long as it can still be warned about, so
they follow their own rule: a claim is dropped once it is ``expiry.months`` old. A lot
is warned about at most ``expiry.warn_days`` before it expires, and no lot lives longer
than ``expiry.months``, so by then it has expired and can never be warned about again.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, delete, or_, select

from bot.db.models import ProcessedUpdate
from bot.services.context import Business
from bot.services.idempotency import TELEGRAM_KEY_PREFIXES
from bot.services.money.expiry import WARNING_KEY
from scoring.calendar import add_months

# Rows deleted per transaction, so writers never wait long behind the job.
CHUNK = 5000


async def _delete(biz: Business, condition: ColumnElement[bool]) -> int:
    """Delete the matching rows, ``CHUNK`` per transaction; returns how many went."""
    chunk = select(ProcessedUpdate.key).where(condition).limit(CHUNK)
    deleted = 0
    while True:
        async with biz.db.write() as session:
            result = await session.execute(
                delete(ProcessedUpdate).where(ProcessedUpdate.key.in_(chunk))
            )
        count = int(result.rowcount)  # type: ignore[attr-defined]
        deleted += count
        if count < CHUNK:
            return deleted


async def prune_processed(biz: Business) -> dict[str, int]:
    """The daily job: drop expired claims; returns how many of each kind went."""
    now = biz.clock.now()
    retention_days = biz.settings.privacy.processed_retention_days
    updates = await _delete(
        biz,
        (ProcessedUpdate.created_at < now - timedelta(days=retention_days))
        & or_(*(ProcessedUpdate.key.startswith(p) for p in TELEGRAM_KEY_PREFIXES)),
    )
    months = biz.settings.expiry.months
    warned_before = add_months(now, -months) if months else now
    warnings = await _delete(
        biz,
        (ProcessedUpdate.created_at < warned_before) & ProcessedUpdate.key.startswith(WARNING_KEY),
    )
    return {"updates": updates, "expiry_warnings": warnings}
