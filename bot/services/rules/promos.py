"""The owner's time-limited promotions from the bot (``/promo``): a preview of the cost,
then a new version of the rules — the version in force plus the promotion — that starts
at once (it only adds); stopping one is a version without it, also at once.

The preview is the rules simulation (``simulate``) with the promotion open all year on
the last 12 months of purchases (its tag, weekdays and hours kept), scaled to the
promotion's length: what it would have cost over as many days of last year's trade.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, run_once
from bot.services.rules.model import Rule, RuleSet, check_rules
from bot.services.rules.publish import PROMO_PREFIX, publish_in
from bot.services.rules.simulate import YEAR_DAYS, simulate
from bot.services.rules.versions import forget, in_force, local_moment, versions

MAX_PROMO_DAYS = 366


@dataclass(frozen=True)
class PromoRequest:
    tag: str | None  # None: every purchase
    factor: Decimal
    starts: datetime  # local, naive
    ends: datetime  # local, naive, exclusive


class PromoPreview(BaseModel):
    name: str
    tag: str | None
    factor: Decimal
    starts: datetime  # aware, in the business's zone
    ends: datetime  # exclusive
    days: Decimal
    extra_points: int  # over the promotion's length, from last year's trade
    extra_cost: Decimal  # money: the extra points at the observed redemption rate
    cost_share_today: Decimal  # of revenue, 0..1, over the year
    cost_share_then: Decimal


class PromoView(BaseModel):
    name: str
    tag: str | None
    factor: Decimal
    starts: datetime | None  # aware
    ends: datetime | None  # aware, exclusive


def _aware(biz: Business, local: datetime) -> datetime:
    return local.replace(tzinfo=biz.settings.business.zone)


class PromoDone(BaseModel):
    name: str
    version_id: int


async def _current(biz: Business) -> RuleSet:
    version = in_force(await versions(biz), biz.clock.now())
    today = local_moment(biz, biz.clock.now()).date()
    if version is None:
        return RuleSet(starts=today)
    return RuleSet(starts=today, percents=version.rules.percents, rule=version.rules.rule)


def _promotion(request: PromoRequest, name: str, *, open_year: bool = False) -> Rule:
    window = {} if open_year else {"starts": request.starts, "ends": request.ends}
    return Rule(name=name, kind="promotion", factor=request.factor,
                tags=(request.tag,) if request.tag else (), **window)  # fmt: skip


def _with(biz: Business, current: RuleSet, rule: Rule) -> RuleSet:
    rules = RuleSet(starts=current.starts, percents=current.percents, rule=(*current.rule, rule))
    check_rules(rules, biz.settings)
    return rules


def _check(biz: Business, request: PromoRequest) -> None:
    now = local_moment(biz, biz.clock.now())
    if request.ends <= request.starts or request.ends <= now:
        raise ServiceError("promo_bad_window")
    if request.ends - request.starts > timedelta(days=MAX_PROMO_DAYS):
        raise ServiceError("promo_too_long", days=MAX_PROMO_DAYS)


async def preview_promo(biz: Business, request: PromoRequest) -> PromoPreview:
    """The promotion checked against the rules in force (refused as a rules file would
    be: factor, tag, overlap) and its cost estimated; writes nothing."""
    _check(biz, request)
    current = await _current(biz)
    name = _name(current)
    _with(biz, current, _promotion(request, name))  # the refusals
    open_year = _promotion(request, name, open_year=True)  # not a rule to check: a measure
    year = await simulate(biz, current.model_copy(update={"rule": (*current.rule, open_year)}))
    days = Decimal((request.ends - request.starts).total_seconds()) / Decimal(86400)
    scale = days / Decimal(YEAR_DAYS)
    extra = int((year.proposed.issued - year.today.issued) * scale)
    cost = (year.proposed.liability - year.today.liability) * scale
    return PromoPreview(
        name=name, tag=request.tag, factor=request.factor, starts=_aware(biz, request.starts),
        ends=_aware(biz, request.ends), days=days.quantize(Decimal("0.1")), extra_points=extra,
        extra_cost=cost.quantize(Decimal("0.01")), cost_share_today=year.today.cost_share,
        cost_share_then=year.proposed.cost_share,
    )  # fmt: skip


def _name(current: RuleSet) -> str:
    taken = {r.name for r in current.rule}
    return next(f"{PROMO_PREFIX}{n}" for n in range(1, len(taken) + 2)
                if f"{PROMO_PREFIX}{n}" not in taken)  # fmt: skip


async def start_promo(
    biz: Business, author_tg_id: int, key: str, request: PromoRequest
) -> Outcome[PromoDone]:
    """The owner's confirm: a new version, the rules in force plus the promotion, from now."""
    _check(biz, request)
    current = await _current(biz)
    name = _name(current)
    rules = _with(biz, current, _promotion(request, name))
    return await _publish(biz, author_tg_id, key, rules, name)


async def stop_promo(biz: Business, author_tg_id: int, key: str, name: str) -> Outcome[PromoDone]:
    """A running (or announced) promotion from ``/promo`` ends now: a version without it."""
    current = await _current(biz)
    kept = tuple(r for r in current.rule if r.name != name)
    if not name.startswith(PROMO_PREFIX) or len(kept) == len(current.rule):
        raise ServiceError("promo_not_running", name=name[:40])
    rules = RuleSet(starts=current.starts, percents=current.percents, rule=kept)
    return await _publish(biz, author_tg_id, key, rules, name)


async def running_promos(biz: Business) -> list[PromoView]:
    """The promotions started with /promo that have not ended (running or announced)."""
    current = await _current(biz)
    now = local_moment(biz, biz.clock.now())
    return [
        PromoView(
            name=r.name, tag=r.tags[0] if r.tags else None, factor=r.factor or Decimal(1),
            starts=_aware(biz, r.starts) if r.starts else None,
            ends=_aware(biz, r.ends) if r.ends else None,
        )
        for r in current.rule
        if r.name.startswith(PROMO_PREFIX) and (r.ends is None or r.ends > now)
    ]


async def _publish(
    biz: Business, author_tg_id: int, key: str, rules: RuleSet, name: str
) -> Outcome[PromoDone]:
    starts_at = biz.clock.now()

    async def work(session: AsyncSession) -> PromoDone:
        body = to_toml(rules)
        done = await publish_in(session, biz, rules, body, starts_at, "promo", author_tg_id)
        return PromoDone(name=name, version_id=done.version_id)

    outcome = await run_once(biz.db, biz.clock, key, PromoDone, work, event="promo")
    forget(biz)
    return outcome


def to_toml(rules: RuleSet) -> str:
    """A rule set as a rules file (what the version stores, as a published file would)."""
    lines = [f"starts = {rules.starts.isoformat()}"]
    if rules.percents:
        lines += ["[percents]", *(f"{code} = {pct}" for code, pct in rules.percents.items())]
    for rule in rules.rule:
        lines.append("[[rule]]")
        for key, value in rule.model_dump(exclude_none=True, exclude_defaults=True).items():
            lines.append(f"{key} = {_toml_value(key, value)}")
    return "\n".join(lines) + "\n"


def _toml_value(key: str, value: object) -> str:
    if key == "hours":
        first, last = value  # type: ignore[misc]
        return json.dumps(f"{first:%H:%M}-{last:%H:%M}")
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, Decimal | int):
        return str(value)
    if isinstance(value, tuple | list):
        return json.dumps(list(value), ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)
