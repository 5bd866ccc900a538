"""Anomaly alerts to the owners about a staff member's work (``controls`` in config).

Each check looks at one act as of the moment it happened; ``anomaly_scan`` runs them on
what was committed since its last run (off the counter's path entirely):

- ``burst``: several purchases (``burst_purchases``) to one customer within
  ``burst_minutes``;
- ``near_cap``: a staff member's amount of the day just under their role's daily cap
  (within ``near_cap_share`` of it), the amount beyond which a purchase waits for an owner;
- ``favourite``: one customer served by one staff member far more often
  (``favourite_factor`` times, and at least ``favourite_min_purchases``) than the shop's
  norm, the mean purchases per staff member and customer over ``favourite_days``;
- ``after_hours``: a redemption confirmed outside ``opening_hours``;
- ``refund_after_redeem``: a refund within ``refund_after_redeem_minutes`` after a
  redemption by the same customer.

Each alert is a ``staff_alerts`` row (``/stats staff`` counts them) whose ``dedupe_key``
makes it once per occurrence, and a message to every owner with the staff member, the
customer's card code and the figures, queued in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Customer, Purchase, Redemption, RedemptionState, StaffAlert
from bot.services.context import Business
from bot.services.counter.approvals import day_start, stored
from bot.services.outbox.rows import enqueue, outbox_row
from bot.services.people.chat_settings import language_in
from bot.services.people.owners import owners_in
from bot.services.people.staff import name_of


@dataclass(frozen=True)
class Alert:
    kind: str
    staff_tg_id: int
    customer_id: int
    dedupe_key: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Act:
    """A purchase as the checks read it."""

    staff_tg_id: int
    customer_id: int
    at: datetime
    role: str  # the author's role now: "owner" or "staff" (whose cap applies)


async def purchase_alerts(session: AsyncSession, biz: Business, act: Act) -> list[Alert]:
    found = [
        await _burst(session, biz, act),
        await _near_cap(session, biz, act),
        await _favourite(session, biz, act),
    ]
    return [a for a in found if a is not None]


async def _burst(session: AsyncSession, biz: Business, act: Act) -> Alert | None:
    controls = biz.settings.controls
    window = (
        Purchase.customer_id == act.customer_id,
        Purchase.created_at > act.at - timedelta(minutes=controls.burst_minutes),
        Purchase.created_at <= act.at,
    )
    count, first, total = (
        await session.execute(
            select(func.count(), func.min(Purchase.id), func.sum(Purchase.amount)).where(*window)
        )
    ).one()
    if count < controls.burst_purchases:
        return None
    figures = {"count": count, "minutes": controls.burst_minutes, "total": total}
    key = f"burst:{act.customer_id}:{first}"
    return Alert("burst", act.staff_tg_id, act.customer_id, key, figures)


async def _near_cap(session: AsyncSession, biz: Business, act: Act) -> Alert | None:
    cap = biz.settings.controls.caps.get(act.role)
    if cap is None or cap.amount is None:
        return None
    start = day_start(biz, act.at)
    total = await session.scalar(
        select(func.coalesce(func.sum(Purchase.amount), 0)).where(
            Purchase.author_tg_id == act.staff_tg_id,
            Purchase.created_at >= start,
            Purchase.created_at <= act.at,
        )
    )
    total = Decimal(total or 0)
    if not cap.amount * (1 - biz.settings.controls.near_cap_share) <= total <= cap.amount:
        return None
    key = f"near_cap:{act.staff_tg_id}:{start.date().isoformat()}"
    figures = {"total": total, "cap": cap.amount}
    return Alert("near_cap", act.staff_tg_id, act.customer_id, key, figures)


async def _favourite(session: AsyncSession, biz: Business, act: Act) -> Alert | None:
    controls = biz.settings.controls
    since = act.at - timedelta(days=controls.favourite_days)
    recent = (Purchase.created_at > since, Purchase.created_at <= act.at)
    theirs = await session.scalar(
        select(func.count()).where(
            *recent, Purchase.author_tg_id == act.staff_tg_id,
            Purchase.customer_id == act.customer_id,
        )
    )  # fmt: skip
    if not theirs or theirs < controls.favourite_min_purchases:
        return None
    pairs = select(Purchase.author_tg_id, Purchase.customer_id).where(*recent).distinct()
    n_pairs = await session.scalar(select(func.count()).select_from(pairs.subquery()))
    n_all = await session.scalar(select(func.count()).where(*recent))
    norm = Decimal(n_all or 0) / Decimal(n_pairs or 1)
    if theirs < controls.favourite_factor * norm:
        return None
    week = act.at.astimezone(biz.settings.business.zone).strftime("%G-W%V")
    figures = {"count": theirs, "days": controls.favourite_days,
               "norm": norm.quantize(Decimal("0.1"))}  # fmt: skip
    key = f"favourite:{act.staff_tg_id}:{act.customer_id}:{week}"
    return Alert("favourite", act.staff_tg_id, act.customer_id, key, figures)


def outside_hours(local: time, spec: str) -> bool:
    """Whether a local time is outside "HH:MM-HH:MM" (a window may wrap midnight)."""
    start, end = (time.fromisoformat(part) for part in spec.split("-"))
    inside = start <= local < end if start < end else (local >= start or local < end)
    return not inside


async def redemption_alert(
    session: AsyncSession, biz: Business, redemption_id: int
) -> Alert | None:
    """A confirmed redemption outside the opening hours (none configured: no check)."""
    hours = biz.settings.controls.opening_hours
    redemption = await session.get(Redemption, redemption_id) if hours else None
    if redemption is None or redemption.state != RedemptionState.CONFIRMED:
        return None
    local = (redemption.decided_at or redemption.created_at).astimezone(
        biz.settings.business.zone
    )
    if not outside_hours(local.time().replace(tzinfo=None), hours):
        return None
    figures = {"points": redemption.points, "at": local.strftime("%H:%M"), "hours": hours}
    return Alert("after_hours", redemption.author_tg_id, redemption.customer_id,
                 f"after_hours:{redemption_id}", figures)  # fmt: skip


async def refund_alert(
    session: AsyncSession, biz: Business, staff_tg_id: int, customer_id: int, at: datetime,
    purchase_id: int, amount: Decimal,
) -> Alert | None:  # fmt: skip
    """A refund soon after a redemption by the same customer."""
    minutes = biz.settings.controls.refund_after_redeem_minutes
    redemption = await session.scalar(
        select(Redemption)
        .where(
            Redemption.customer_id == customer_id,
            Redemption.state == RedemptionState.CONFIRMED,
            Redemption.decided_at >= at - timedelta(minutes=minutes),
            Redemption.decided_at <= at,
        )
        .order_by(Redemption.id.desc())
        .limit(1)
    )
    if redemption is None or redemption.decided_at is None:
        return None
    figures = {"points": redemption.points, "purchase_id": purchase_id, "amount": amount,
               "minutes": int((at - redemption.decided_at).total_seconds() // 60)}  # fmt: skip
    key = f"refund_after_redeem:{redemption.id}:{purchase_id}"
    return Alert("refund_after_redeem", staff_tg_id, customer_id, key, figures)


_INSERT = {
    "sqlite": sqlite.insert(StaffAlert).on_conflict_do_nothing(index_elements=["dedupe_key"]),
    "postgresql": postgresql.insert(StaffAlert).on_conflict_do_nothing(
        index_elements=["dedupe_key"]
    ),
}


async def raise_alerts(
    session: AsyncSession, biz: Business, alerts: list[Alert], now: datetime
) -> list[Alert]:
    """In the caller's write transaction: record each alert not raised before and queue
    it to every owner; returns those raised now."""
    raised: list[Alert] = []
    assert session.bind is not None
    stmt = _INSERT[session.bind.dialect.name].returning(StaffAlert.id)
    for alert in alerts:
        row = {"kind": alert.kind, "staff_tg_id": alert.staff_tg_id,
               "customer_id": alert.customer_id, "dedupe_key": alert.dedupe_key,
               "details": stored(alert.figures), "created_at": now}  # fmt: skip
        if (await session.execute(stmt, row)).scalar() is None:
            continue  # raised before
        await _tell_owners(session, biz, alert, now)
        raised.append(alert)
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
