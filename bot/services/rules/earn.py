"""What one purchase earns under the rules in force: the combination order.

1. **tier** — the tier's percent of the part paid in money (today's rule; a version's
   ``[percents]`` may change a tier's percent);
2. **multiplier** — times the matching multiplier's factor (at most one matches);
3. **promotion** — times the matching promotion's factor (at most one), on top of 2;
   1-3 are rounded down once, as one EARN entry;
4. **bonus** — each matching fixed bonus, one BONUS entry each, never multiplied;
5. **punch card** — on the Nth purchase with the card's tag, its reward ("free": the
   part paid in money back in points; or a fixed number of points), one BONUS entry,
   never multiplied.

Every part is on the purchase (``points_earned``), so a refund takes back its share of
each, pro rata, as it always has. Pure: the count of a punch card's earlier purchases is
read by the caller (``punch_count``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from bot.config import Settings
from bot.db.models import Purchase
from bot.services.money.ledger import earned_points
from bot.services.money.tiers import earn_percent, ladder, tier_of
from bot.services.rules.model import Rule, RuleSet


@dataclass(frozen=True)
class Reward:
    """A rule's own points on a purchase (steps 4 and 5): one BONUS entry."""

    rule: str
    kind: str
    points: int


@dataclass(frozen=True)
class Punch:
    """A punch card's state after a purchase: ``at`` of ``every`` (``at == every``: this
    purchase was the rewarded one)."""

    rule: str
    at: int
    every: int


@dataclass(frozen=True)
class EarnTerms:
    """The rules of one version that cover one purchase (its tag, outlet and moment)."""

    version: int = 0  # 0: no version published, the config's tier percents alone
    percents: Mapping[str, Decimal] = field(default_factory=dict)
    multiplier: Rule | None = None
    promotion: Rule | None = None
    bonuses: tuple[Rule, ...] = ()
    punch: Rule | None = None

    @property
    def factor(self) -> Decimal:
        found = [r.factor for r in (self.multiplier, self.promotion) if r and r.factor]
        product = Decimal(1)
        for value in found:
            product *= value
        return product

    @property
    def plain(self) -> bool:
        """Nothing beyond the tier's percent: the purchase takes the lean path unchanged."""
        return not (self.multiplier or self.promotion or self.bonuses or self.punch)

    def percent(self, settings: Settings, tier: str | None) -> Decimal:
        """Step 1's percent: the version's for the tier held, else the config's."""
        return self.percents.get(tier_of(settings, tier).code, earn_percent(settings, tier))

    def rate_points(
        self, settings: Settings, tier: str | None, amount: Decimal, points_redeemed: int = 0
    ) -> int:
        """Steps 1-3: the EARN entry of a purchase of ``amount`` (less the points paid)."""
        loyalty = settings.loyalty
        paid = max(amount - loyalty.point_value * points_redeemed, Decimal("0"))
        return earned_points(paid, loyalty, self.percent(settings, tier), self.factor)

    @property
    def fixed_bonus(self) -> int:
        """Step 4: the bonuses, whatever the tier or amount."""
        return sum(r.points or 0 for r in self.bonuses)

    def credited(self, settings: Settings, tier: str | None, amount: Decimal) -> int:
        """What the purchase's first statement credits: steps 1-4 (a punch card's reward,
        known only after counting, is written back with the purchase)."""
        return self.rate_points(settings, tier, amount) + self.fixed_bonus

    def params(self, settings: Settings, amount: Decimal) -> dict[str, int]:
        """``credited`` for every tier of the ladder: the values the purchase's first
        statement picks from by the customer's tier (``booking.earn_by_tier``)."""
        return {
            f"earn_{i}": self.credited(settings, tier.code, amount)
            for i, tier in enumerate(ladder(settings))
        }

    def rewards(self, settings: Settings, paid: Decimal, punched: int | None) -> list[Reward]:
        """Steps 4-5; ``punched``: the punch card's earlier purchases (``punch_count``)."""
        found = [Reward(r.name, "bonus", r.points or 0) for r in self.bonuses]
        card = self.punch
        if card is not None and punched is not None and (punched + 1) % (card.every or 1) == 0:
            points = card.points or 0
            if card.reward == "free":
                raw = paid / settings.loyalty.point_value
                points = int(raw.to_integral_value(rounding=ROUND_FLOOR))
            found.append(Reward(card.name, "punch", points))
        return [r for r in found if r.points > 0]

    def punch_state(self, punched: int | None) -> Punch | None:
        card = self.punch
        if card is None or punched is None or not card.every:
            return None
        at = (punched + 1) % card.every or card.every
        return Punch(card.name, at, card.every)


def terms_for(
    version: int, rules: RuleSet | None, tag: str | None, outlet: str, local: datetime
) -> EarnTerms:
    """The rules of ``rules`` (version ``version``) that cover a purchase with ``tag`` at
    ``outlet`` at the local naive moment ``local``."""
    if rules is None:
        return EarnTerms()
    covering = [r for r in rules.rule if r.applies(tag, outlet, local)]

    def one(kind: str) -> Rule | None:
        return next((r for r in covering if r.kind == kind), None)

    return EarnTerms(
        version=version,
        percents=dict(rules.percents),
        multiplier=one("multiplier"),
        promotion=one("promotion"),
        bonuses=tuple(r for r in covering if r.kind == "bonus"),
        punch=one("punch"),
    )


def punch_count(
    conn: Connection, card: Rule, customer_id: int, starts_utc: datetime | None
) -> int:
    """The customer's earlier purchases that count on the punch card ``card``: with one of
    its tags, at one of its outlets, since it started (``starts_utc``)."""
    where: list[Any] = [
        Purchase.customer_id == customer_id,
        Purchase.service_tag.in_(card.tags),  # stored folded, as the rule's
    ]
    if card.outlets:
        where.append(Purchase.outlet_code.in_(card.outlets))
    if starts_utc is not None:
        where.append(Purchase.created_at >= starts_utc)
    return int(conn.scalar(select(func.count()).select_from(Purchase).where(*where)) or 0)


def rewards_of(
    conn: Connection,
    settings: Settings,
    terms: EarnTerms,
    customer_id: int,
    amount: Decimal,
    points_redeemed: int = 0,
) -> tuple[list[Reward], Punch | None]:
    """Steps 4-5 for a purchase being booked: the bonuses, and the punch card's reward and
    state (one count of its earlier purchases, only when a card covers the purchase)."""
    if terms.plain:
        return [], None
    punched = None
    card = terms.punch
    if card is not None:
        starts = card.starts.replace(tzinfo=settings.business.zone) if card.starts else None
        punched = punch_count(conn, card, customer_id, starts.astimezone(UTC) if starts else None)
    paid = max(amount - settings.loyalty.point_value * points_redeemed, Decimal("0"))
    return terms.rewards(settings, paid, punched), terms.punch_state(punched)
