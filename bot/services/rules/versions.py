"""Versions of the earn rules: stored as published, read once per process and kept for
``rules.reload_seconds`` (a version published or a promotion started from this process is
seen at once), so a purchase asks the database nothing about them.

A version is in force from its ``starts_at`` until the next one starts. Points already
earned keep their terms: a version changes what later purchases earn, never an entry.
"""

from __future__ import annotations

import logging
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from weakref import ReferenceType, ref

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import RuleVersion
from bot.services.context import Business
from bot.services.rules.earn import EarnTerms, terms_for
from bot.services.rules.model import RuleSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Version:
    id: int
    starts_at: datetime  # UTC
    rules: RuleSet
    source: str
    body: str


@dataclass(frozen=True)
class _Loaded:
    db: ReferenceType[Database]  # whose copy (an id may be reused once a database is gone)
    versions: tuple[Version, ...]
    at: float  # time.monotonic() when read


_CACHE: dict[int, _Loaded] = {}  # by id(Database): a process's copy per database


def local_midnight_utc(biz: Business, day: date) -> datetime:
    zone = biz.settings.business.zone
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def local_moment(biz: Business, moment: datetime) -> datetime:
    """``moment`` on the business's clock, naive: what a rule's window and hours read."""
    return moment.astimezone(biz.settings.business.zone).replace(tzinfo=None)


def forget(biz: Business) -> None:
    """Drop this process's copy: the next read takes what was just written."""
    _CACHE.pop(id(biz.db), None)


async def versions(biz: Business) -> tuple[Version, ...]:
    """Every version, oldest start first: this process's copy, read again once it is
    ``rules.reload_seconds`` old."""
    loaded = _CACHE.get(id(biz.db))
    fresh = loaded is not None and loaded.db() is biz.db
    if fresh and time.monotonic() - loaded.at < biz.settings.rules.reload_seconds:  # type: ignore[union-attr]
        return loaded.versions  # type: ignore[union-attr]
    async with biz.db.read() as session:
        stmt = select(RuleVersion).order_by(RuleVersion.starts_at, RuleVersion.id)
        rows = (await session.scalars(stmt)).all()
    found = tuple(
        Version(r.id, r.starts_at, RuleSet.model_validate(tomllib.loads(r.body)), r.source, r.body)
        for r in rows
    )
    _CACHE[id(biz.db)] = _Loaded(ref(biz.db), found, time.monotonic())
    return found


def in_force(found: tuple[Version, ...], now: datetime) -> Version | None:
    started = [v for v in found if v.starts_at <= now]
    return started[-1] if started else None


def upcoming(found: tuple[Version, ...], now: datetime) -> Version | None:
    return next((v for v in found if v.starts_at > now), None)


async def earn_terms(biz: Business, tag: str | None, outlet: str, now: datetime) -> EarnTerms:
    """The rules in force at ``now`` that cover a purchase with ``tag`` at ``outlet``: the
    one call the purchase path makes (no statement while this process's copy is fresh)."""
    version = in_force(await versions(biz), now)
    if version is None:
        return EarnTerms()
    return terms_for(version.id, version.rules, tag, outlet, local_moment(biz, now))


async def earn_terms_by_outlet(
    biz: Business, tag: str | None, now: datetime
) -> dict[str, EarnTerms]:
    """``earn_terms`` at every outlet: for a purchase whose outlet is read only inside its
    transaction (a confirmed redemption's)."""
    return {o.code: await earn_terms(biz, tag, o.code, now) for o in biz.settings.business.outlets}
