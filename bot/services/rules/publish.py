"""Publishing a version of the earn rules: refusals first, then one row, and a notice to
each customer the change takes something from, queued with it (``rules.notice_days``
ahead of its start: such a version may not start sooner).

What "takes something away": a rule of the version it follows is gone or changed, or a
tier's percent goes down. A version that only adds (a new promotion) starts at once.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Customer, Purchase, RuleVersion
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.outbox.notify import customer_notice
from bot.services.outbox.rows import enqueue
from bot.services.rules.earn import EarnTerms
from bot.services.rules.model import Rule, RuleSet, parse_rules
from bot.services.rules.versions import forget, local_midnight_utc, local_moment

CHANGE_NOTICE = "customer.rules_change"
PROMO_PREFIX = "promo-"  # the name of a promotion started with /promo
AFFECTED_DAYS = 365  # a customer who bought under a rule in the last year is told


@dataclass(frozen=True)
class Published:
    version_id: int
    starts_at: datetime
    takes_away: bool
    told: int  # customers a notice was queued for


def _same(rule: Rule) -> str:
    return rule.model_dump_json()


def lost_rules(before: RuleSet | None, after: RuleSet) -> list[Rule]:
    """The rules of ``before`` that ``after`` drops or changes; a promotion started from
    the bot (``PROMO_PREFIX``) is the owner's to stop at once, and is not counted."""
    if before is None:
        return []
    kept = {_same(r) for r in after.rule}
    return [
        r for r in before.rule if _same(r) not in kept and not r.name.startswith(PROMO_PREFIX)
    ]


def lowered_tiers(biz: Business, before: RuleSet | None, after: RuleSet) -> list[str]:
    settings = biz.settings
    old = EarnTerms(percents=dict(before.percents) if before else {})
    new = EarnTerms(percents=dict(after.percents))
    return [
        t.code
        for t in settings.tiers.ladder
        if new.percent(settings, t.code) < old.percent(settings, t.code)
    ]


async def publish_text(
    biz: Business, text: str, *, author_tg_id: int | None = None
) -> Published:
    """``loyalty-bot rules publish FILE``: the file checked, then stored as a version that
    starts on its ``starts`` day (local midnight)."""
    rules = parse_rules(text, biz.settings)
    today = local_moment(biz, biz.clock.now()).date()
    if rules.starts < today:
        raise ServiceError("rules_start_past", starts=local_midnight_utc(biz, rules.starts))
    return await publish(
        biz, rules, text, local_midnight_utc(biz, rules.starts), "file", author_tg_id
    )


async def publish(
    biz: Business,
    rules: RuleSet,
    body: str,
    starts_at: datetime,
    source: str,
    author_tg_id: int | None,
) -> Published:
    """Store checked ``rules`` as a version from ``starts_at``: refused when a version
    starts at or after it, or when it takes something away sooner than the notice."""
    async with biz.db.write() as session:
        done = await publish_in(session, biz, rules, body, starts_at, source, author_tg_id)
    forget(biz)
    return done


async def publish_in(
    session: AsyncSession,
    biz: Business,
    rules: RuleSet,
    body: str,
    starts_at: datetime,
    source: str,
    author_tg_id: int | None,
) -> Published:
    """``publish`` in the caller's write transaction (the caller forgets the cached copy
    once it commits)."""
    now = biz.clock.now()
    rows = (await session.scalars(select(RuleVersion).order_by(RuleVersion.starts_at))).all()
    later = [r for r in rows if r.starts_at >= starts_at]
    if later:
        raise ServiceError("rules_version_later", starts=later[-1].starts_at)
    before = _rules_of(rows[-1]) if rows else None
    lost, lowered = lost_rules(before, rules), lowered_tiers(biz, before, rules)
    away = bool(lost or lowered)
    _check_notice(biz, now, starts_at, away)
    row = RuleVersion(
        starts_at=starts_at, body=body, source=source, author_tg_id=author_tg_id,
        created_at=now,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    told = await _tell(session, biz, lost, lowered, starts_at) if away else 0
    return Published(row.id, starts_at, away, told)


def _rules_of(row: RuleVersion) -> RuleSet:
    return RuleSet.model_validate(tomllib.loads(row.body))


def _check_notice(biz: Business, now: datetime, starts_at: datetime, away: bool) -> None:
    days = biz.settings.rules.notice_days
    today = local_moment(biz, now).date()
    earliest = local_midnight_utc(biz, today + timedelta(days=days))
    if away and starts_at < earliest:
        raise ServiceError("rules_notice_short", days=days, earliest=earliest)


def _covered(rule: Rule) -> Any:
    where = [Purchase.service_tag.in_(rule.tags)] if rule.tags else []
    if rule.outlets:
        where.append(Purchase.outlet_code.in_(rule.outlets))
    return (
        select(Purchase.customer_id).where(*where)
        if where
        else select(Purchase.customer_id)
    )


async def _tell(
    session: AsyncSession, biz: Business, lost: list[Rule], lowered: list[str], starts: datetime
) -> int:
    """Queue the change's notice for every customer in the bot it takes something from:
    who bought under a lost rule in the last year, or holds a tier whose percent drops."""
    since = biz.clock.now() - timedelta(days=AFFECTED_DAYS)
    who = [
        Customer.id.in_(_covered(r).where(Purchase.created_at >= since)) for r in lost
    ]
    if lowered:
        who.append(Customer.tier.in_(lowered))
        if biz.settings.tiers.ladder[0].code in lowered:  # no tier yet: the first
            who.append(Customer.tier.is_(None))
    customers = (
        await session.scalars(
            select(Customer).where(
                or_(*who), Customer.telegram_id.is_not(None), Customer.erased_at.is_(None)
            )
        )
    ).all()
    for customer in customers:
        enqueue(session, customer_notice(biz, customer, CHANGE_NOTICE, starts=starts))
    return len(customers)
