"""CSAT from the post-visit surveys: for a period, per staff member, per customer.

The arithmetic is ``scoring.csat_of`` (share of 4-5 answers, the definition and the seeds'
words are in ``scoring.kpi``); here the database counts answers per score, at most five
rows a group, so no survey row reaches Python.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

import scoring
from bot.db.models import Staff, Survey
from bot.services.context import Business

if TYPE_CHECKING:  # numpy loads on first use, not with the bot's start
    import numpy as np
    from numpy.typing import NDArray

ANSWERED = Survey.score.is_not(None)


def _scores(counts: list[tuple[int, int]]) -> NDArray[np.int64]:
    """(score, how many) pairs as one score per answer."""
    import numpy as np

    if not counts:
        return np.zeros(0, dtype=np.int64)
    return np.repeat([s for s, _ in counts], [n for _, n in counts]).astype(np.int64)


def _from_counts(counts: list[tuple[int, int]]) -> scoring.Csat:
    return scoring.csat_of(_scores(counts))


def _period(start: datetime | None, end: datetime | None) -> list[Any]:
    where: list[Any] = [ANSWERED]
    if start is not None:
        where.append(Survey.answered_at >= start)
    if end is not None:
        where.append(Survey.answered_at < end)
    return where


async def answered_scores(
    session: AsyncSession | AsyncConnection,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    customer_id: int | None = None,
    staff_tg_id: int | None = None,
) -> NDArray[np.int64]:
    """One score per answer given in [start, end) (either open), optionally of one
    customer or of the purchases one staff member served."""
    where = _period(start, end)
    if customer_id is not None:
        where.append(Survey.customer_id == customer_id)
    if staff_tg_id is not None:
        where.append(Survey.staff_tg_id == staff_tg_id)
    rows = await session.execute(
        select(Survey.score, func.count()).where(*where).group_by(Survey.score)
    )
    return _scores([(int(s), int(n)) for s, n in rows.all()])


async def period_csat(
    session: AsyncSession,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    customer_id: int | None = None,
    staff_tg_id: int | None = None,
) -> scoring.Csat:
    """CSAT of ``answered_scores``."""
    return scoring.csat_of(
        await answered_scores(session, start, end, customer_id=customer_id, staff_tg_id=staff_tg_id)
    )


async def csat(
    biz: Business,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    customer_id: int | None = None,
    staff_tg_id: int | None = None,
) -> scoring.Csat:
    async with biz.db.read() as session:
        return await period_csat(
            session, start, end, customer_id=customer_id, staff_tg_id=staff_tg_id
        )


class StaffCsat(BaseModel):
    """One staff member's (or an owner's) surveys in the period."""

    staff_tg_id: int
    name: str | None  # None: not (or no longer) on the staff list, e.g. an owner
    responses: int
    satisfied: int
    pct: float | None
    mean: float | None


async def csat_by_staff(biz: Business, start: datetime, end: datetime) -> list[StaffCsat]:
    """Per member who served surveyed purchases, most answers first."""
    async with biz.db.read() as session:
        rows = (
            await session.execute(
                select(Survey.staff_tg_id, Survey.score, func.count())
                .where(*_period(start, end))
                .group_by(Survey.staff_tg_id, Survey.score)
            )
        ).all()
        ids = {int(r[0]) for r in rows}
        names = dict(
            (
                await session.execute(
                    select(Staff.telegram_id, Staff.name).where(Staff.telegram_id.in_(ids))
                )
            ).all()
        )
    counts: dict[int, list[tuple[int, int]]] = {}
    for tg_id, score, n in rows:
        counts.setdefault(int(tg_id), []).append((int(score), int(n)))
    result = []
    for tg_id, pairs in counts.items():
        c = _from_counts(pairs)
        result.append(
            StaffCsat(
                staff_tg_id=tg_id,
                name=names.get(tg_id),
                responses=c.responses,
                satisfied=c.satisfied,
                pct=c.pct,
                mean=c.mean,
            )
        )
    return sorted(result, key=lambda s: (-s.responses, s.staff_tg_id))


class CustomerSatisfaction(BaseModel):
    """The /client card's Satisfaction section."""

    asked: int
    responses: int
    pct: float | None
    mean: float | None
    last_score: int | None
    last_at: datetime | None
    last_comment: str | None


async def for_customer(
    session: AsyncSession, customer_id: int, now: datetime
) -> CustomerSatisfaction:
    """``asked`` counts questions due by ``now`` (or answered): one still waiting for its
    delay after the purchase has not been sent."""
    c = await period_csat(session, customer_id=customer_id)
    asked = await session.scalar(
        select(func.count(Survey.id)).where(
            Survey.customer_id == customer_id, (Survey.ask_at <= now) | ANSWERED
        )
    )
    last = (
        await session.execute(
            select(Survey.score, Survey.answered_at, Survey.comment)
            .where(Survey.customer_id == customer_id, ANSWERED)
            .order_by(Survey.answered_at.desc(), Survey.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return CustomerSatisfaction(
        asked=int(asked or 0),
        responses=c.responses,
        pct=c.pct,
        mean=c.mean,
        last_score=last[0] if last else None,
        last_at=last[1] if last else None,
        last_comment=last[2] if last else None,
    )
