""" "Would you recommend us?" 0-10 after a survey's score (seed 004; NPS: ``scoring.nps``).

Seed 004 (004_235a4ca77e3bcda9.txt) names among the key metrics "количество рекомендаций
от существующих клиентов". The question follows a survey's 1-5 score in the same chat, at
most once per ``survey.nps_every_months`` months per customer (``due``); it is written on
the survey (``nps_asked_at``) in the score's own transaction, so the answer is tied to the
purchase and the staff member who served it (NPS per staff member in ``/stats staff``).
One answer per question; a forged survey id, someone else's survey, a survey not asked
this question, a score outside 0-10 or a second answer write nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Customer, Survey
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, run_once
from scoring.calendar import add_months
from scoring.scales import NPS_SCORES

NPS_PREFIX = "np"  # callback data: np:<survey id>:<score>


async def due(session: AsyncSession, biz: Business, customer_id: int, now: datetime) -> bool:
    """Whether the customer may be asked now: never asked, or last asked at least
    ``nps_every_months`` months ago (0: the question is off)."""
    months = biz.settings.survey.nps_every_months
    if months <= 0:
        return False
    last = await session.scalar(
        select(func.max(Survey.nps_asked_at)).where(Survey.customer_id == customer_id)
    )
    if last is None:
        return True
    return last <= add_months(now.astimezone(biz.settings.business.zone), -months)


async def ask_on(session: AsyncSession, biz: Business, survey: Survey, now: datetime) -> bool:
    """After ``survey``'s score: mark the question asked when it is due (the caller shows it)."""
    if not await due(session, biz, survey.customer_id, now):
        return False
    await session.execute(
        update(Survey)
        .where(Survey.id == survey.id)
        .values(nps_asked_at=now)
        .execution_options(synchronize_session=False)
    )
    return True


class Recommended(BaseModel):
    survey_id: int
    score: int


async def answer(
    biz: Business, tg_id: int, key: str, survey_id: int, score: int
) -> Outcome[Recommended]:
    """One 0-10 answer to a question this customer was asked, within ``answer_days``."""
    if score not in NPS_SCORES:
        raise ServiceError("survey_unknown")
    now = biz.clock.now()

    async def work(session: AsyncSession) -> Recommended:
        asked = await session.scalar(
            select(Survey.nps_asked_at)
            .join(Customer, Customer.id == Survey.customer_id)
            .where(Survey.id == survey_id, Customer.telegram_id == tg_id)
        )
        if asked is None:
            raise ServiceError("survey_unknown")
        if now >= asked + timedelta(days=biz.settings.survey.answer_days):
            raise ServiceError("survey_closed")
        claimed = await session.execute(
            update(Survey)
            .where(Survey.id == survey_id, Survey.nps_score.is_(None))
            .values(nps_score=score, nps_answered_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise ServiceError("nps_answered")
        return Recommended(survey_id=survey_id, score=score)

    return await run_once(biz.db, biz.clock, key, Recommended, work, event="nps")
