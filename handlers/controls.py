"""Controls on staff: the owners' approve/reject buttons on a purchase held over a staff
member's daily cap and on an ``/adjust`` that needs a second owner."""

from __future__ import annotations

from typing import Annotated

from aiogram import Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message
from pydantic import Field

from bot.services.context import Business
from bot.services.counter import adjustments, approval_decisions
from bot.services.counter.approvals import ADJUST_PREFIX, PURCHASE_PREFIX
from bot.services.people.roles import Actor, Role
from handlers.middlewares import RequireRole
from handlers.replies import clear_buttons, recorded

MAX_DB_ID = 2**31 - 1
Answer = Annotated[str, Field(pattern=r"^[yn]$")]
DbId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]


class PurchaseApproval(CallbackData, prefix=PURCHASE_PREFIX):
    """``apv:y:<id>`` / ``apv:n:<id>``, as ``approvals.ask_owners`` queues them."""

    answer: Answer
    approval_id: DbId


class AdjustApproval(CallbackData, prefix=ADJUST_PREFIX):
    answer: Answer
    approval_id: DbId


async def on_purchase_approval(
    query: CallbackQuery, callback_data: PurchaseApproval, biz: Business, actor: Actor, key: str
) -> None:
    """A refusal (not pending any more, the purchase's own author, unknown) raises: the
    error handler answers it with an alert, and nothing is written."""
    outcome = await approval_decisions.decide_purchase(
        biz, actor, key, callback_data.approval_id, accept=callback_data.answer == "y"
    )
    await _answer(query, biz, actor, "controls.owner_purchase_decided", outcome)


async def on_adjust_approval(
    query: CallbackQuery, callback_data: AdjustApproval, biz: Business, actor: Actor, key: str
) -> None:
    outcome = await adjustments.decide_adjustment(
        biz, actor, key, callback_data.approval_id, accept=callback_data.answer == "y"
    )
    await _answer(query, biz, actor, "controls.owner_adjust_decided", outcome)


async def _answer(
    query: CallbackQuery, biz: Business, actor: Actor, template: str, outcome: object
) -> None:
    await query.answer()
    await clear_buttons(query)
    if isinstance(query.message, Message):
        body = recorded(biz, actor, template, outcome.duplicate, r=outcome.result)  # type: ignore[attr-defined]
        await query.message.answer(body)


def make_router() -> Router:
    """A fresh router: one per dispatcher (tests and multi-bot set-ups build several)."""
    router = Router(name="controls")
    router.callback_query.middleware(RequireRole(Role.OWNER))
    router.callback_query.register(on_purchase_approval, PurchaseApproval.filter())
    router.callback_query.register(on_adjust_approval, AdjustApproval.filter())
    return router
