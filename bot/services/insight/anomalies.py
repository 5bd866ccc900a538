"""Anomaly alerts to the owners about a staff member's work (``controls`` in config).

Checked after the act has committed, in a background task the handler starts once it has
answered (never in the act's own transaction, so the cashier never waits for them):

- ``burst``: several purchases (``burst_purchases``) to one customer within
  ``burst_minutes``;
- ``near_cap``: a staff member's amount of the day just under their role's daily cap
  (within ``near_cap_share`` of it), the amount beyond which a purchase waits for an owner;
- ``favourite``: one customer served by one staff member far more often
  (``favourite_factor`` times, and at least ``favourite_min_purchases``) than the shop's
  norm, the mean purchases per staff member and customer over ``favourite_days``;
- ``after_hours``: a redemption confirmed outside ``opening_hours``;
- ``refund_after_redeem``: a refund within ``refund_after_redeem_minutes`` of a
  redemption by the same customer.

Each alert is a ``staff_alerts`` row (``/stats staff`` counts them) whose ``dedupe_key``
makes it once per occurrence, and a message to every owner with the staff member, the
customer's card code and the figures, queued in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Customer, Purchase, Redemption, RedemptionState, StaffAlert
from bot.services.context import Business
from bot.services.counter.approvals import cap_of, day_start, stored
from bot.services.outbox.rows import enqueue, outbox_row
from bot.services.people.chat_settings import language_in
from bot.services.people.owners import owners_in
from bot.services.people.roles import Actor
from bot.services.people.staff import name_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    kind: str
    staff_tg_id: int
    customer_id: int
    dedupe_key: str
    figures: dict[str, Any] = field(default_factory=dict)


async def after_purchase(biz: Business, actor: Actor, customer_id: int) -> list[Alert]:
    """The checks a credited purchase may trip; returns the alerts raised now."""
    now = biz.clock.now()
    async with biz.db.read() as session:
        found = [
            await _burst(session, biz, actor.tg_id, customer_id, now),
            await _near_cap(session, biz, actor, customer_id, now),
            await _favourite(session, biz, actor.tg_id, customer_id, now),
        ]
    return await raise_alerts(biz, [a for a in found if a is not None])


async def _burst(
    session: AsyncSession, biz: Business, staff_tg_id: int, customer_id: int, now: datetime
) -> Alert | None:
    controls = biz.settings.controls
    since = now - timedelta(minutes=controls.burst_minutes)
    count, first, total = (
        await session.execute(
            select(func.count(), func.min(Purchase.id), func.sum(Purchase.amount)).where(
                Purchase.customer_id == customer_id, Purchase.created_at >= since
            )
        )
    ).one()
    if count < controls.burst_purchases:
        return None
    figures = {"count": count, "minutes": controls.burst_minutes, "total": total}
    return Alert("burst", staff_tg_id, customer_id, f"burst:{customer_id}:{first}", figures)


async def _near_cap(
    session: AsyncSession, biz: Business, actor: Actor, customer_id: int, now: datetime
) -> Alert | None:
    cap = cap_of(biz.settings, actor)
    if cap is None or cap.amount is None:
        return None
    start = day_start(biz, now)
    total = await session.scalar(
        select(func.coalesce(func.sum(Purchase.amount), 0)).where(
            Purchase.author_tg_id == actor.tg_id, Purchase.created_at >= start
        )
    )
    total = Decimal(total or 0)
    if not cap.amount * (1 - biz.settings.controls.near_cap_share) <= total <= cap.amount:
        return None
    key = f"near_cap:{actor.tg_id}:{start.date().isoformat()}"
    return Alert("near_cap", actor.tg_id, customer_id, key, {"total": total, "cap": cap.amount})


async def _favourite(
    session: AsyncSession, biz: Business, staff_tg_id: int, customer_id: int, now: datetime
) -> Alert | None:
    controls = biz.settings.controls
    recent = Purchase.created_at >= now - timedelta(days=controls.favourite_days)
    theirs = await session.scalar(
        select(func.count()).where(
            recent, Purchase.author_tg_id == staff_tg_id, Purchase.customer_id == customer_id
        )
    )
    if not theirs or theirs < controls.favourite_min_purchases:
        return None
    pairs = select(distinct(Purchase.author_tg_id), Purchase.customer_id).where(recent).subquery()
    n_pairs = await session.scalar(select(func.count()).select_from(pairs))
    n_all = await session.scalar(select(func.count()).where(recent))
    norm = Decimal(n_all or 0) / Decimal(n_pairs or 1)
    if theirs < controls.favourite_factor * norm:
        return None
    week = now.astimezone(biz.settings.business.zone).strftime("%G-W%V")
    norm = norm.quantize(Decimal("0.1"))
    figures = {"count": theirs, "days": controls.favourite_days, "norm": norm}
    key = f"favourite:{staff_tg_id}:{customer_id}:{week}"
    return Alert("favourite", staff_tg_id, customer_id, key, figures)


def _outside(local: time, spec: str) -> bool:
    start, end = (time.fromisoformat(part) for part in spec.split("-"))
    inside = start <= local < end if start < end else (local >= start or local < end)
    return not inside


async def after_redemption(biz: Business, redemption_id: int) -> list[Alert]:
    """A confirmed redemption outside the opening hours (none configured: no check)."""
    hours = biz.settings.controls.opening_hours
    async with biz.db.read() as session:
        redemption = await session.get(Redemption, redemption_id)
    if not hours or redemption is None or redemption.state != RedemptionState.CONFIRMED:
        return []
    at = redemption.decided_at or redemption.created_at
    local = at.astimezone(biz.settings.business.zone)
    if not _outside(local.time().replace(tzinfo=None), hours):
        return []
    figures = {"points": redemption.points, "at": local.strftime("%H:%M"), "hours": hours}
    alert = Alert("after_hours", redemption.author_tg_id, redemption.customer_id,
                  f"after_hours:{redemption_id}", figures)  # fmt: skip
    return await raise_alerts(biz, [alert])


async def after_refund(
    biz: Business, staff_tg_id: int, customer_id: int, purchase_id: int, amount: Decimal
) -> list[Alert]:
    """A refund soon after a redemption by the same customer."""
    now = biz.clock.now()
    minutes = biz.settings.controls.refund_after_redeem_minutes
    async with biz.db.read() as session:
        redemption = await session.scalar(
            select(Redemption)
            .where(
                Redemption.customer_id == customer_id,
                Redemption.state == RedemptionState.CONFIRMED,
                Redemption.decided_at >= now - timedelta(minutes=minutes),
            )
            .order_by(Redemption.id.desc())
            .limit(1)
        )
    if redemption is None:
        return []
    assert redemption.decided_at is not None
    figures = {"points": redemption.points, "purchase_id": purchase_id, "amount": amount,
               "minutes": int((now - redemption.decided_at).total_seconds() // 60)}  # fmt: skip
    key = f"refund_after_redeem:{redemption.id}:{purchase_id}"
    return await raise_alerts(biz, [Alert("refund_after_redeem", staff_tg_id, customer_id, key,
                                          figures)])  # fmt: skip


_INSERT = {
    "sqlite": sqlite.insert(StaffAlert).on_conflict_do_nothing(index_elements=["dedupe_key"]),
    "postgresql": postgresql.insert(StaffAlert).on_conflict_do_nothing(
        index_elements=["dedupe_key"]
    ),
}


async def raise_alerts(biz: Business, alerts: list[Alert]) -> list[Alert]:
    """Record each alert not raised before and tell every owner; returns those raised."""
    if not alerts:
        return []
    raised: list[Alert] = []
    now = biz.clock.now()
    async with biz.db.write() as session:
        stmt = _INSERT[session.bind.dialect.name].returning(StaffAlert.id)
        for alert in alerts:
            row = {"kind": alert.kind, "staff_tg_id": alert.staff_tg_id,
                   "customer_id": alert.customer_id, "dedupe_key": alert.dedupe_key,
                   "details": stored(alert.figures), "created_at": now}  # fmt: skip
            if (await session.execute(stmt, row)).scalar() is None:
                continue  # raised before
            await _tell_owners(session, biz, alert, now)
            raised.append(alert)
    for alert in raised:
        log.info("staff alert %s: staff %s, customer %s", alert.kind, alert.staff_tg_id,
                 alert.customer_id)  # fmt: skip
    return raised


async def _tell_owners(session: AsyncSession, biz: Business, alert: Alert, now: datetime) -> None:
    card_code = await session.scalar(
        select(Customer.card_code).where(Customer.id == alert.customer_id)
    )
    staff_name = await name_of(session, alert.staff_tg_id)
    for owner_id in sorted(await owners_in(session, biz)):
        locale = biz.texts.locale_for(await language_in(session, owner_id))
        text = biz.texts.render(locale, "controls.alert", a=alert, card_code=card_code,
                                staff_name=staff_name, f=alert.figures)  # fmt: skip
        enqueue(session, outbox_row(now=now, chat_id=owner_id, text=text,
                                    kinds=biz.settings.outbox.kinds))  # fmt: skip
