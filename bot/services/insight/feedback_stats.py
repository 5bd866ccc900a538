"""/stats' feedback section: complaints, NPS, and why customers left (seed 004).

- complaints (``bot.services.people.complaints``): open now; opened and resolved in the
  period; the median time from a complaint to its first answer, of those answered;
- NPS (``scoring.nps``): the "would you recommend us?" answers given in the period,
  overall and per staff member who served the surveyed purchase (``/stats staff``);
- churn reasons (``bot.services.jobs.churn``): answers under the win-back messages given
  in the period, per reason, and the customers no longer written to (now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config.jobs import CHURN_REASONS
from bot.db.models import ChurnAnswer, Survey
from bot.services.context import Business
from bot.services.insight import kpis
from bot.services.people.complaints import ComplaintFigures, complaint_figures
from scoring.nps import Nps, nps_of


@dataclass(frozen=True)
class FeedbackFigures:
    complaints: ComplaintFigures
    nps: Nps
    churn: list[tuple[str, int]]  # (reason, answers in the period), every reason in order
    stopped: int  # customers whose answer ended the win-back messages (now)


def _nps_in(start: datetime, end: datetime) -> list[object]:
    return [
        Survey.nps_score.is_not(None),
        Survey.nps_answered_at >= start,
        Survey.nps_answered_at < end,
    ]


async def _churn(session: AsyncSession, biz: Business, start: datetime, end: datetime) -> tuple[
    list[tuple[str, int]], int
]:  # fmt: skip
    rows = await session.execute(
        select(ChurnAnswer.reason, func.count())
        .where(ChurnAnswer.answered_at >= start, ChurnAnswer.answered_at < end)
        .group_by(ChurnAnswer.reason)
    )
    counts = {str(r): int(n) for r, n in rows.all()}
    stopped = await session.scalar(
        select(func.count(func.distinct(ChurnAnswer.customer_id))).where(
            ChurnAnswer.reason.in_(biz.settings.winback.stop_reasons)
        )
    )
    return [(r, counts.get(r, 0)) for r in CHURN_REASONS], int(stopped or 0)


async def feedback_figures(biz: Business, days: int) -> FeedbackFigures:
    start, end = kpis.period_bounds(biz, days)
    async with biz.db.read() as session:
        nps_rows = await session.execute(
            select(Survey.nps_score, func.count())
            .where(*_nps_in(start, end))
            .group_by(Survey.nps_score)
        )
        churn, stopped = await _churn(session, biz, start, end)
        return FeedbackFigures(
            complaints=await complaint_figures(session, start, end),
            nps=nps_of((int(s), int(n)) for s, n in nps_rows.all()),
            churn=churn,
            stopped=stopped,
        )


async def nps_by_staff(biz: Business, start: datetime, end: datetime) -> dict[int, Nps]:
    """NPS per member who served the surveyed purchases (answers in [start, end))."""
    async with biz.db.read() as session:
        rows = (
            await session.execute(
                select(Survey.staff_tg_id, Survey.nps_score, func.count())
                .where(*_nps_in(start, end))
                .group_by(Survey.staff_tg_id, Survey.nps_score)
            )
        ).all()
    pairs: dict[int, list[tuple[int, int]]] = {}
    for tg_id, score, n in rows:
        pairs.setdefault(int(tg_id), []).append((int(score), int(n)))
    return {tg_id: nps_of(p) for tg_id, p in pairs.items()}
