"""A rules file, parsed and checked: what each earn rule says, and the refusals.

The file is TOML, in the config's style (docs/rules.md)::

    starts = 2027-04-01            # the version's first day (local)
    [percents]                     # optional: a tier's earn percent, by tier code
    gold = 7
    [[rule]]
    name = "tyres-april"
    kind = "multiplier"            # multiplier | promotion | punch | bonus
    factor = 2
    tags = ["шины"]                # none: every purchase
    starts = 2027-04-01            # validity window, local; a date ``ends`` is inclusive
    ends = 2027-04-30

A refusal is a ``ServiceError`` whose code names a block in ``errors.html``; a file that
is refused is never stored.
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import combinations
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.config import Settings
from bot.services.errors import ServiceError

Kind = Literal["multiplier", "promotion", "punch", "bonus"]
# Kinds of which at most one may apply to a purchase: two that could meet are refused,
# since the combination order says how kinds combine, not how two of a kind would.
EXCLUSIVE: frozenset[str] = frozenset({"multiplier", "promotion", "punch"})
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_EVERY = 100
MAX_BONUS = 100_000


def _local(value: date | datetime | None, *, end: bool) -> datetime | None:
    """A TOML date or local date-time as a local naive moment; a date ``ends`` means the
    whole day (the next midnight, exclusive)."""
    if value is None or isinstance(value, datetime):
        return value.replace(tzinfo=None) if value is not None else None
    return datetime.combine(value + timedelta(days=1) if end else value, time())


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=40)
    kind: Kind
    tags: tuple[str, ...] = ()  # none: any purchase, tagged or not
    outlets: tuple[str, ...] = ()  # none: every outlet
    starts: datetime | None = None  # local, inclusive
    ends: datetime | None = None  # local, exclusive
    factor: Decimal | None = None  # multiplier, promotion
    weekdays: tuple[str, ...] = ()  # promotion: none means every day
    hours: tuple[time, time] | None = None  # promotion: local [from, to)
    every: int | None = None  # punch card: every Nth purchase with the tag
    reward: Literal["free", "points"] | None = None  # punch card
    points: int | None = None  # bonus; punch card with reward "points"

    @field_validator("tags", "weekdays", mode="after")
    @classmethod
    def _folded(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.casefold() for v in value)

    @field_validator("starts", mode="before")
    @classmethod
    def _start(cls, value: Any) -> Any:
        return _local(value, end=False) if isinstance(value, date) else value

    @field_validator("ends", mode="before")
    @classmethod
    def _end(cls, value: Any) -> Any:
        return _local(value, end=True) if isinstance(value, date) else value

    @field_validator("hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        if isinstance(value, str) and value.count("-") == 1:
            first, last = value.split("-")
            return (time.fromisoformat(first.strip()), time.fromisoformat(last.strip()))
        return value

    def applies(self, tag: str | None, outlet: str, moment: datetime) -> bool:
        """Whether the rule covers a purchase with ``tag`` at ``outlet`` at the local
        ``moment`` (naive)."""
        if self.tags and (tag is None or tag.casefold() not in self.tags):
            return False
        if self.outlets and outlet not in self.outlets:
            return False
        if (self.starts and moment < self.starts) or (self.ends and moment >= self.ends):
            return False
        if self.weekdays and WEEKDAYS[moment.weekday()] not in self.weekdays:
            return False
        return self.hours is None or self.hours[0] <= moment.time() < self.hours[1]


class RuleSet(BaseModel):
    """One version's rules: the tiers' percents it changes and its earn rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    starts: date
    percents: dict[str, Decimal] = {}
    rule: tuple[Rule, ...] = ()

    def summary(self) -> list[dict[str, Any]]:
        return [r.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
                for r in self.rule]  # fmt: skip


def parse_rules(text: str, settings: Settings) -> RuleSet:
    """The rules file ``text`` checked against the config (tags, outlets, tiers) and
    itself (each rule's numbers, overlaps); refused with a ``ServiceError`` otherwise."""
    try:
        data = tomllib.loads(text)
        rules = RuleSet.model_validate(data)
    except tomllib.TOMLDecodeError as err:
        raise ServiceError("rules_unreadable", reason=str(err)) from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ServiceError("rules_unreadable", reason=f"{where}: {first['msg']}") from None
    check_rules(rules, settings)
    return rules


def check_rules(rules: RuleSet, settings: Settings) -> None:
    tiers = {t.code for t in settings.tiers.ladder}
    for code, percent in rules.percents.items():
        if code not in tiers:
            raise ServiceError("rules_unknown_tier", tier=code, known=", ".join(sorted(tiers)))
        if not Decimal(0) <= percent <= Decimal(100):
            raise ServiceError("rules_bad_percent", tier=code, percent=percent)
    names = [r.name for r in rules.rule]
    if len(set(names)) != len(names):
        raise ServiceError("rules_duplicate_name", name=_first_repeated(names))
    for rule in rules.rule:
        check_rule(rule, settings)
    for a, b in combinations(rules.rule, 2):
        if a.kind == b.kind and a.kind in EXCLUSIVE and may_meet(a, b):
            raise ServiceError("rules_overlap", first=a.name, second=b.name, kind=a.kind)


def _first_repeated(names: list[str]) -> str:
    return next(n for i, n in enumerate(names) if n in names[:i])


def check_rule(rule: Rule, settings: Settings) -> None:
    """One rule's own refusals: unknown tag or outlet, a factor of 1 or less or above
    ``rules.max_multiplier``, a punch card of 1, a bonus of nothing, an empty window."""
    outlets = {o.code for o in settings.business.outlets}
    for tag in rule.tags:
        if not settings.is_service_tag(tag):
            known = ", ".join(settings.loyalty.service_tags) or "-"
            raise ServiceError("rules_unknown_tag", rule=rule.name, tag=tag, known=known)
    for outlet in rule.outlets:
        if outlet not in outlets:
            known = ", ".join(sorted(outlets))
            raise ServiceError("rules_unknown_outlet", rule=rule.name, outlet=outlet, known=known)
    if rule.starts and rule.ends and rule.ends <= rule.starts:
        raise ServiceError("rules_bad_window", rule=rule.name)
    for day in rule.weekdays:
        if day not in WEEKDAYS:
            raise ServiceError("rules_bad_weekday", rule=rule.name, day=day)
    if rule.hours and rule.hours[1] <= rule.hours[0]:
        raise ServiceError("rules_bad_window", rule=rule.name)
    _check_numbers(rule, settings.rules.max_multiplier)


def _check_numbers(rule: Rule, most: Decimal) -> None:
    if rule.kind in ("multiplier", "promotion"):
        if rule.factor is None or not Decimal(1) < rule.factor <= most:
            raise ServiceError("rules_bad_factor", rule=rule.name, factor=rule.factor, most=most)
        if rule.kind == "promotion" and rule.ends is None and rule.hours is None:
            raise ServiceError("rules_unlimited_promotion", rule=rule.name)
    if rule.kind == "punch":
        if rule.every is None or not 2 <= rule.every <= MAX_EVERY:
            raise ServiceError("rules_bad_every", rule=rule.name, every=rule.every, most=MAX_EVERY)
        if not rule.tags:
            raise ServiceError("rules_punch_needs_tag", rule=rule.name)
        if (rule.reward == "points") != (rule.points is not None) or rule.reward is None:
            raise ServiceError("rules_bad_reward", rule=rule.name)
    needs_points = rule.kind == "bonus" or rule.reward == "points"
    if needs_points and (rule.points is None or not 1 <= rule.points <= MAX_BONUS):
        raise ServiceError("rules_bad_points", rule=rule.name, most=MAX_BONUS)


def may_meet(a: Rule, b: Rule) -> bool:
    """Whether one purchase could fall under both rules: their tags, outlets, windows,
    weekdays and hours all intersect (an empty filter meets everything)."""
    if a.tags and b.tags and not set(a.tags) & set(b.tags):
        return False
    if a.outlets and b.outlets and not set(a.outlets) & set(b.outlets):
        return False
    if not _windows_meet(a.starts, a.ends, b.starts, b.ends):
        return False
    if a.weekdays and b.weekdays and not set(a.weekdays) & set(b.weekdays):
        return False
    if a.hours and b.hours:
        return a.hours[0] < b.hours[1] and b.hours[0] < a.hours[1]
    return True


def _windows_meet(
    a_from: datetime | None, a_to: datetime | None, b_from: datetime | None, b_to: datetime | None
) -> bool:
    return (a_to is None or b_from is None or b_from < a_to) and (
        b_to is None or a_from is None or a_from < b_to
    )
