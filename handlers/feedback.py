"""Customer feedback: the post-visit survey's 1-5 buttons and the optional comment, the
"would you recommend us?" 0-10 buttons that may follow, the reason buttons under a
win-back message, and the owners' Resolved button under a low score's alert.

The question itself is queued by ``bot.services.counter.surveys`` when a purchase is booked; a
score, a comment, a reason or a resolution is one service call each, answered with one
template.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from pydantic import Field

from bot.services.context import Business
from bot.services.counter import recommend, surveys
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome
from bot.services.jobs import churn
from bot.services.people import complaints
from bot.services.people.roles import Actor
from handlers.keyboards import DbId, inline_button, inline_markup
from handlers.replies import clear_buttons, text
from scoring.scales import NPS_HIGHEST, NPS_LOWEST, NPS_SCORES, SURVEY_HIGHEST, SURVEY_LOWEST


class SurveyScore(CallbackData, prefix=surveys.SURVEY_PREFIX):
    """The buttons surveys.survey_keyboard queues: ``sv:<survey id>:<score>``."""

    survey_id: DbId
    score: Annotated[int, Field(ge=SURVEY_LOWEST, le=SURVEY_HIGHEST)]


class NpsScore(CallbackData, prefix=recommend.NPS_PREFIX):
    """The 0-10 buttons after a survey's score: ``np:<survey id>:<score>``."""

    survey_id: DbId
    score: Annotated[int, Field(ge=NPS_LOWEST, le=NPS_HIGHEST)]


class ChurnReason(CallbackData, prefix=churn.CHURN_PREFIX):
    """The reason buttons churn.reason_keyboard queues: ``ch:<member id>:<reason>``."""

    member_id: DbId
    reason: str  # one of bot.config.CHURN_REASONS (the service refuses any other)


class ResolveComplaint(CallbackData, prefix=complaints.RESOLVE_PREFIX):
    """The Resolved button complaints.complaint_keyboard queues: ``cz:<conversation id>``."""

    conversation_id: DbId


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
    if outcome.result.ask_nps:
        await query.message.answer(  # type: ignore[union-attr]
            text(biz, actor, "customer.nps_ask", business=biz.settings.business.name),
            reply_markup=nps_keyboard(outcome.result.survey_id),
        )


def nps_keyboard(survey_id: int) -> InlineKeyboardMarkup:
    """0-10 in two rows (0-5, 6-10): eleven buttons do not fit one row on a phone."""
    scores = [inline_button(str(n), NpsScore(survey_id=survey_id, score=n)) for n in NPS_SCORES]
    return inline_markup(scores[:6], scores[6:])


async def on_nps(
    query: CallbackQuery, callback_data: NpsScore, biz: Business, actor: Actor, key: str
) -> None:
    outcome = await recommend.answer(
        biz, actor.tg_id, key, callback_data.survey_id, callback_data.score
    )
    await _thank_once(query, biz, actor, outcome, "customer.nps_thanks")


async def on_churn_reason(
    query: CallbackQuery, callback_data: ChurnReason, biz: Business, actor: Actor, key: str
) -> None:
    outcome = await churn.record(
        biz, actor.tg_id, key, callback_data.member_id, callback_data.reason
    )
    await _thank_once(query, biz, actor, outcome, "customer.churn_thanks")


async def _thank_once(
    query: CallbackQuery, biz: Business, actor: Actor, outcome: Outcome[Any], template: str
) -> None:
    """An answer button's reply: its buttons cleared and a thank-you, once (a re-delivered
    press gets nothing more)."""
    await query.answer()
    if outcome.duplicate or query.message is None:
        return
    await clear_buttons(query)
    await query.message.answer(text(biz, actor, template, r=outcome.result))  # type: ignore[union-attr]


async def on_resolve(
    query: CallbackQuery, callback_data: ResolveComplaint, biz: Business, actor: Actor, key: str
) -> None:
    outcome = await complaints.resolve(biz, actor, key, callback_data.conversation_id)
    await query.answer()
    if outcome.duplicate or query.message is None:
        return
    await query.message.answer(text(biz, actor, "owner.complaint_resolved", r=outcome.result))  # type: ignore[union-attr]


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
    router.callback_query.register(on_nps, NpsScore.filter())
    router.callback_query.register(on_churn_reason, ChurnReason.filter())
    router.callback_query.register(on_resolve, ResolveComplaint.filter())
    not_command = ~F.text.startswith("/")
    router.message.register(on_comment, StateFilter(SurveyComment.waiting), F.text, not_command)
    return router
