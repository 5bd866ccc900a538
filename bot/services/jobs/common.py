"""What every scheduled marketing job does with one customer, in one transaction.

A job (birthday, holidays, reminders, trade-in, win-back) selects candidates
(``bot.services.jobs.selection``) and, for each, says what they would get (a ``Send``). This
module delivers it the same way for all of them:

0. the treatment table (``campaigns.treatment``): a job the customer's strategy does not
   allow writes nothing (outcome "treatment"); the gift is scaled to their cell;
1. ``contact.reach``: opted out, unreachable, no chat, or the week's cap used up -> nothing
   is written (not even the enrolment: they were not part of this send);
2. ``campaigns.enrol`` for (job campaign, customer, occurrence) -> None when a previous run
   already handled this occurrence: the job's exactly-once key across restarts;
3. a held-out member gets nothing (the comparison group; recorded by the enrolment);
4. otherwise the gift (bonus points through the ledger, key tied to the member; or an offer
   through ``offers.grant``, dedupe key tied to the member) and the message
   (in the customer's language, ``contact.marketing_rows``: quiet hours), both
   recorded on the member, in the same transaction.

``render_preview`` renders the same ``Send`` without writing (``loyalty-bot preview``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import OfferSpec, Settings
from bot.db.models import Campaign, Customer, LedgerKind, Offer, OfferKind
from bot.services.campaigns import treatment
from bot.services.campaigns.enrolment import enrol, job_campaign, source_of
from bot.services.campaigns.treatment import Treatment, reach_key
from bot.services.context import Business
from bot.services.money import offers
from bot.services.money.ledger import lock_customer, post
from bot.services.money.tiers import tier_of
from bot.services.outbox.contact import ContactVerdict, marketing_rows, reach
from bot.services.outbox.rows import enqueue

log = logging.getLogger(__name__)

PREVIEW_CODE = "-------"  # shown where a real offer code will be


@dataclass(frozen=True)
class Send:
    """What one customer gets from a job: a template, and optionally a gift."""

    template: str
    kind: str
    context: dict[str, Any] = field(default_factory=dict)
    offer: OfferSpec | None = None
    offer_tag: str | None = None  # a percent/fixed offer only for this service
    points: int = 0  # bonus points credited with the message
    allowed: bool = True  # False: the treatment table keeps this job from the customer
    treatment: Treatment | None = None  # the customer's cell, once ``treated``
    buttons: Buttons | None = None  # the message's inline keyboard, made per member


Buttons = Callable[[int, str], dict[str, Any]]  # (campaign member id, locale) -> keyboard
Build = Callable[[AsyncSession, Customer], Awaitable[Send | None]]


def job_send(
    settings: Settings,
    customer: Customer,
    kind: str,
    extra: Mapping[str, Any] | None = None,
    *,
    template: str | None = None,
    offer: OfferSpec | None = None,
    offer_tag: str | None = None,
    points: int = 0,
) -> Send:
    """What ``customer`` gets from a job of ``kind``: the template ``jobs.<kind>`` unless
    named, with the profile every job's text may use (``profile_context``) and ``extra``."""
    return Send(
        template=template or f"jobs.{kind}",
        kind=kind,
        context=profile_context(settings, customer) | dict(extra or {}),
        offer=offer,
        offer_tag=offer_tag,
        points=points,
    )


def local_today(settings: Settings, now: datetime) -> date:
    return now.astimezone(settings.business.zone).date()


def local_midnight(settings: Settings, day: date) -> datetime:
    """The start of ``day`` in the business's zone, as UTC (a DST change never moves it:
    midnight exists on every transition day in the zones the tz database knows)."""
    return datetime.combine(day, time()).replace(tzinfo=settings.business.zone).astimezone(UTC)


def window_start(window_days: int, today: date) -> date:
    """The start of the fixed ``window_days`` window holding ``today`` (counted from
    1970-01-01), the win-back's occurrence: one offer per window."""
    epoch = date(1970, 1, 1)
    return epoch + timedelta(days=(today - epoch).days // window_days * window_days)


def offer_window(settings: Settings, spec: OfferSpec, now: datetime) -> tuple[datetime, datetime]:
    """From now to ``spec.days`` later (to the end of that local day), or to the end of the
    local month when ``days`` is None (seed 004: "до конца месяца")."""
    today = local_today(settings, now)
    if spec.days is None:
        last = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    else:
        last = today + timedelta(days=spec.days + 1)
    return now, local_midnight(settings, last)


def offer_view(
    settings: Settings, spec: OfferSpec, tag: str | None, until: datetime, code: str
) -> dict[str, Any]:
    """What a template says about an offer (``until``: its last moment, shown as a day)."""
    return {
        "code": code,
        "kind": spec.kind,
        "value": spec.value if spec.kind != "points" else int(spec.value),
        "tag": tag,
        "until": until - timedelta(microseconds=1),
        "month_end": spec.days is None,
    }


def profile_context(settings: Settings, customer: Customer) -> dict[str, Any]:
    """name, make, model, year, tier, balance: what every job's text may use."""
    profile = customer.profile or {}
    return {
        "name": customer.name or "",
        "make": profile.get("make"),
        "model": profile.get("model"),
        "year": profile.get("year"),
        "tier": tier_of(settings, customer.tier).name(customer.language),
        "balance": customer.balance,
    }


@dataclass
class JobReport:
    """What a run did: candidates and the outcome per customer (sent, held_out, already,
    nothing, and each contact verdict that refused)."""

    job: str
    candidates: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, int]:
        return {"candidates": self.candidates, **self.outcomes}


async def campaign_id(biz: Business, job: str) -> int:
    async with biz.db.write() as session:
        campaign = await job_campaign(
            session,
            job,
            now=biz.clock.now(),
            holdout_percent=biz.settings.campaigns.holdout_percent,
        )
        return campaign.id


async def deliver_one(
    biz: Business, campaign_id_: int, customer_id: int, occurrence: str, build: Build
) -> str:
    """One customer, one transaction; returns the outcome (see ``JobReport``)."""
    now = biz.clock.now()
    async with biz.db.write() as session:
        customer = await lock_customer(session, customer_id)
        campaign = await session.get(Campaign, campaign_id_)
        assert campaign is not None
        send = await treated(session, biz, customer, campaign.name, await build(session, customer))
        if send is None:
            return "nothing"
        if not send.allowed:
            return "treatment"
        verdict = await reach(session, biz, customer, now, kind=send.kind)
        if verdict is not ContactVerdict.OK:
            return verdict.value
        member = await enrol(session, campaign, customer.id, occurrence, now=now)
        if member is None:
            return "already"
        if member.held_out:
            return "held_out"
        source = source_of(campaign.id)
        await session.flush()  # the member's id names the gift
        context = {"offer": None, **send.context}
        if send.points:
            post(
                session,
                customer,
                kind=LedgerKind.BONUS,
                points=send.points,
                key=f"job-gift:{member.id}",
                now=now,
                author_tg_id=None,
                reason=f"{campaign.name} {occurrence}",
            )
            context.update(points=send.points, balance=customer.balance)
        if send.offer is not None:
            offer = await _grant(session, biz, send, customer.id, source, member.id, now)
            if offer is not None:
                member.offer_id = offer.id
                context["offer"] = offer_view(
                    biz.settings, send.offer, send.offer_tag, offer.valid_until, offer.code
                )
        text = biz.texts.render(customer.language, send.template, **context)
        rows = marketing_rows(biz, [(customer, text)], kind=send.kind, source=source, now=now)
        if send.buttons is not None:
            rows[0]["reply_markup"] = send.buttons(member.id, customer.language)
        message = enqueue(session, rows[0])  # reach said OK above, in this transaction
        await session.flush()
        member.outbox_id = message.id
        return "sent"


async def treated(
    session: AsyncSession, biz: Business, customer: Customer, job: str, send: Send | None
) -> Send | None:
    """``send`` as the customer's treatment cell allows: the gift scaled, or not allowed."""
    if send is None:
        return None
    cell = await treatment.for_customer(session, biz.settings, customer.id, reach_key(job))
    return replace(
        send,
        points=treatment.scaled_points(send.points, cell),
        offer=treatment.scaled_offer(send.offer, cell),
        allowed=cell.allowed,
        treatment=cell,
    )


async def _grant(
    session: AsyncSession,
    biz: Business,
    send: Send,
    customer_id: int,
    source: str,
    member_id: int,
    now: datetime,
) -> Offer | None:
    assert send.offer is not None
    valid_from, valid_until = offer_window(biz.settings, send.offer, now)
    return await offers.grant(
        session,
        customer_id=customer_id,
        kind=OfferKind(send.offer.kind),
        value=Decimal(send.offer.value),
        valid_from=valid_from,
        valid_until=valid_until,
        source=source,
        dedupe_key=f"job-offer:{member_id}",
        now=now,
        service_tag=send.offer_tag if send.offer.kind != "points" else None,
    )


async def run_for(
    biz: Business,
    job: str,
    targets: list[tuple[int, str]],
    build: Build,
    *,
    campaign: int | None = None,
) -> JobReport:
    """Deliver to (customer id, occurrence) pairs of the campaign ``job`` (its id, when the
    caller has it); one failing customer is logged and does not stop the others."""
    report = JobReport(job=job, candidates=len(targets))
    if not targets:
        return report
    if campaign is None:
        campaign = await campaign_id(biz, job)
    for customer_id, occurrence in targets:
        try:
            outcome = await deliver_one(biz, campaign, customer_id, occurrence, build)
        except Exception:
            log.exception("job %s: customer %s failed", job, customer_id)
            outcome = "error"
        report.outcomes[outcome] += 1
    return report


async def render_preview(biz: Business, customer: Customer, send: Send) -> str:
    """The text ``send`` would queue for ``customer`` now, nothing written."""
    context = {"offer": None, **send.context}
    if send.points:
        context.update(points=send.points, balance=customer.balance + send.points)
    if send.offer is not None:
        _start, until = offer_window(biz.settings, send.offer, biz.clock.now())
        context["offer"] = offer_view(biz.settings, send.offer, send.offer_tag, until, PREVIEW_CODE)
    return biz.texts.render(customer.language, send.template, **context)


async def customer_by_card(session: AsyncSession, card_code: str) -> Customer | None:
    return await session.scalar(select(Customer).where(Customer.card_code == card_code.upper()))
