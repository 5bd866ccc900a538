"""The anomaly scan: every ``controls.scan_every_minutes`` the worker checks what was
committed since the last scan (``anomalies``), entirely off the counter's path: a
purchase costs no statement and no wait for it.

It reads purchases (every road: a staff ``/purchase``, an approved one, a redemption
against an amount) past its mark on ``purchases``, and refunds and redemption decisions
from the audit log past its mark on ``audit``; the alerts and the new marks are written
in one transaction, so a crash rereads the same rows and the alerts' dedupe keys keep
each one single. The first scan starts from the tables' ends (no alerts about history).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AnomalyMark, AuditEntry, Purchase
from bot.services.context import Business
from bot.services.insight.anomalies import (
    Act,
    Alert,
    purchase_alerts,
    raise_alerts,
    redemption_alert,
    refund_alert,
)
from bot.services.people.owners import owners_in

log = logging.getLogger(__name__)

BATCH = 500  # rows of each table per scan; the rest waits for the next one
AUDITED = ("refund", "redeem_decision")


async def _marks(session: AsyncSession) -> dict[str, int]:
    marks = dict((await session.execute(select(AnomalyMark.name, AnomalyMark.last_id))).all())
    for name, column in (("purchases", Purchase.id), ("audit", AuditEntry.id)):
        if name not in marks:
            marks[name] = int(await session.scalar(select(func.max(column))) or 0)
    return marks


async def _from_purchases(
    session: AsyncSession, biz: Business, after: int, owners: set[int]
) -> tuple[list[Alert], int]:
    rows = (
        await session.execute(
            select(Purchase.id, Purchase.author_tg_id, Purchase.customer_id, Purchase.created_at)
            .where(Purchase.id > after)
            .order_by(Purchase.id)
            .limit(BATCH)
        )
    ).all()
    alerts: list[Alert] = []
    for _id, author, customer_id, at in rows:
        role = "owner" if author in owners else "staff"
        alerts += await purchase_alerts(session, biz, Act(author, customer_id, at, role))
    return alerts, (rows[-1][0] if rows else after)


async def _from_audit(session: AsyncSession, biz: Business, after: int) -> tuple[list[Alert], int]:
    rows = (
        await session.execute(
            select(AuditEntry)
            .where(AuditEntry.id > after)
            .order_by(AuditEntry.id)
            .limit(BATCH)
        )
    ).scalars().all()  # fmt: skip
    alerts: list[Alert | None] = []
    for row in rows:
        details: dict[str, Any] = row.details or {}
        if row.action not in AUDITED or row.outcome != "ok":
            continue
        if row.action == "redeem_decision" and details.get("state") == "confirmed":
            alerts.append(await redemption_alert(session, biz, int(details["redemption_id"])))
        elif row.action == "refund" and row.customer_id is not None and row.actor_tg_id:
            alerts.append(await refund_alert(
                session, biz, row.actor_tg_id, row.customer_id, row.created_at,
                int(details["purchase_id"]), Decimal(details["amount"]),
            ))  # fmt: skip
    return [a for a in alerts if a is not None], (rows[-1].id if rows else after)


async def scan(biz: Business) -> int:
    """One scan (the worker's job; tests call it too): the number of alerts raised. The
    checks read outside any write transaction; the alerts and marks are one short write."""
    now = biz.clock.now()
    async with biz.db.read() as session:
        marks = await _marks(session)
        owners = await owners_in(session, biz)
        bought, marks["purchases"] = await _from_purchases(session, biz, marks["purchases"], owners)
        audited, marks["audit"] = await _from_audit(session, biz, marks["audit"])
    async with biz.db.write() as session:
        raised = await raise_alerts(session, biz, bought + audited, now)
        for name, last_id in marks.items():
            mark = await session.get(AnomalyMark, name)
            if mark is None:
                session.add(AnomalyMark(name=name, last_id=last_id, updated_at=now))
            else:
                mark.last_id, mark.updated_at = max(mark.last_id, last_id), now
    for alert in raised:
        log.info("staff alert %s: staff %s, customer %s", alert.kind, alert.staff_tg_id,
                 alert.customer_id)  # fmt: skip
    return len(raised)
