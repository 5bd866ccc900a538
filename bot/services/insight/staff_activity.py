"""``/stats staff``'s activity table: per staff member (and owner) who acted in the period,
purchases and their amount, refunds, confirmed redemptions, anomaly alerts and CSAT."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select

from bot.db.models import AuditEntry, Purchase, Redemption, RedemptionState, Staff, StaffAlert
from bot.services.context import Business
from bot.services.insight.satisfaction import csat_by_staff


class StaffActivity(BaseModel):
    staff_tg_id: int
    name: str | None  # None: not (or no longer) on the staff list, e.g. an owner
    purchases: int = 0
    amount: Decimal = Decimal("0")
    refunds: int = 0
    redemptions: int = 0
    alerts: int = 0
    csat_pct: float | None = None
    csat_responses: int = 0


def _counted(who: Any, when: Any, start: datetime, end: datetime, *where: Any) -> Any:
    return (
        select(who, func.count())
        .where(when >= start, when < end, *where)
        .group_by(who)
    )


async def staff_activity(biz: Business, start: datetime, end: datetime) -> list[StaffActivity]:
    """Everyone who booked, refunded, had a redemption confirmed, an alert or a survey
    answer in [start, end); the busiest first."""
    rows: dict[int, StaffActivity] = {}

    def of(tg_id: int) -> StaffActivity:
        return rows.setdefault(int(tg_id), StaffActivity(staff_tg_id=int(tg_id), name=None))

    async with biz.db.read() as session:
        bought = select(Purchase.author_tg_id, func.count(), func.sum(Purchase.amount)).where(
            Purchase.created_at >= start, Purchase.created_at < end
        ).group_by(Purchase.author_tg_id)
        for tg_id, n, amount in (await session.execute(bought)).all():
            of(tg_id).purchases, of(tg_id).amount = int(n), Decimal(amount or 0)
        counted = (
            ("refunds", _counted(AuditEntry.actor_tg_id, AuditEntry.created_at, start, end,
                                 AuditEntry.action == "refund", AuditEntry.outcome == "ok")),
            ("redemptions", _counted(Redemption.author_tg_id, Redemption.decided_at, start, end,
                                     Redemption.state == RedemptionState.CONFIRMED)),
            ("alerts", _counted(StaffAlert.staff_tg_id, StaffAlert.created_at, start, end)),
        )  # fmt: skip
        for name, stmt in counted:
            for tg_id, n in (await session.execute(stmt)).all():
                if tg_id is not None:
                    setattr(of(tg_id), name, int(n))
        names = dict((await session.execute(
            select(Staff.telegram_id, Staff.name).where(Staff.telegram_id.in_(list(rows)))
        )).all())  # fmt: skip
    for csat in await csat_by_staff(biz, start, end):
        row = of(csat.staff_tg_id)
        row.csat_pct, row.csat_responses = csat.pct, csat.responses
        row.name = row.name or csat.name
    for tg_id, row in rows.items():
        row.name = names.get(tg_id, row.name)
    return sorted(rows.values(), key=lambda r: (-r.purchases, -r.amount, r.staff_tg_id))
