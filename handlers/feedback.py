"""Customer feedback: the post-visit survey's 1-5 buttons and the optional comment.

The question itself is queued by ``bot.services.counter.surveys`` when a purchase is booked; a
score or a comment is one service call each, answered with one template.
"""

from __future__ import annotations

from typing import Annotated

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from pydantic import Field

from bot.services.context import Business
from bot.services.counter import surveys
from bot.services.errors import ServiceError
from bot.services.people.roles import Actor
from handlers.keyboards import DbId
from handlers.replies import clear_buttons, text
from scoring.scales import SURVEY_HIGHEST, SURVEY_LOWEST


class SurveyScore(CallbackData, prefix=surveys.SURVEY_PREFIX):
    """The buttons surveys.survey_keyboard queues: ``sv:<survey id>:<score>``."""

    survey_id: DbId
    score: Annotated[int, Field(ge=SURVEY_LOWEST, le=SURVEY_HIGHEST)]


class SurveyComment(StatesGroup):
    waiting = State()


async def on_score(
    query: CallbackQuery,
    callback_data: SurveyScore,
    biz: Business,
    actor: Actor,
    key: str,
    state: FSMContext,
) -> None:
    outcome = await surveys.answer(
        biz, actor.tg_id, key, callback_data.survey_id, callback_data.score
    )
    await query.answer()
    if outcome.duplicate or query.message is None:
        return
    await clear_buttons(query)
    if outcome.result.ask_comment:
        await state.set_state(SurveyComment.waiting)
        await state.update_data(survey_id=outcome.result.survey_id)
    await query.message.answer(text(biz, actor, "customer.survey_thanks", r=outcome.result))  # type: ignore[union-attr]


async def on_comment(
    message: Message, biz: Business, actor: Actor, key: str, state: FSMContext
) -> None:
    """The comment after a score; a refusal (too long) leaves the step open to retry, one
    that can never succeed (the survey closed meanwhile) ends it, so the next text is
    answered as any other."""
    data = await state.get_data()
    try:
        await surveys.comment(biz, actor.tg_id, key, int(data["survey_id"]), message.text)
    except ServiceError as err:
        if err.code in ENDS_THE_STEP:
            await state.clear()
        raise
    await state.clear()
    await message.answer(text(biz, actor, "customer.survey_comment_thanks"))


# Refusals after which the comment step cannot succeed.
ENDS_THE_STEP = frozenset({"survey_closed", "survey_unknown", "survey_commented"})


def make_router() -> Router:
    """A fresh router: one per dispatcher (tests and multi-bot set-ups build several)."""
    router = Router(name="feedback")
    router.callback_query.register(on_score, SurveyScore.filter())
    not_command = ~F.text.startswith("/")
    router.message.register(on_comment, StateFilter(SurveyComment.waiting), F.text, not_command)
    return router
