"""Redemption: staff ask, the customer confirms with a button, the ledger moves only then.

The request row is not a ledger effect; the balance is checked again under the lock at
confirmation, so two staff phones redeeming one balance at once cannot overdraw it.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import LedgerKind, Redemption, RedemptionState
from bot.services.audit import add_audit, audit_act
from bot.services.booking import book_purchase
from bot.services.context import Business
from bot.services.customers import customer_for
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, personal, run_once
from bot.services.ledger import lock_customer, max_redeemable, post
from bot.services.notify import notify_customer
from bot.services.outbox import enqueue
from bot.services.requests import RedeemRequest
from bot.services.roles import Actor

CONFIRM_PREFIX = "rd"


def confirm_keyboard(texts_yes: str, texts_no: str, redemption_id: int) -> dict[str, object]:
    return {
        "inline_keyboard": [
            [
                {"text": texts_yes, "callback_data": f"{CONFIRM_PREFIX}:y:{redemption_id}"},
                {"text": texts_no, "callback_data": f"{CONFIRM_PREFIX}:n:{redemption_id}"},
            ]
        ]
    }


class RedemptionRequested(BaseModel):
    redemption_id: int
    customer_id: int
    card_code: str
    customer_name: str | None = personal()
    points: int
    minutes: int


class RedemptionDecision(BaseModel):
    redemption_id: int
    state: RedemptionState
    points: int
    balance: int
    purchase_id: int | None = None
    earned: int = 0


async def request_redemption(
    biz: Business, actor: Actor, key: str, request: RedeemRequest
) -> Outcome[RedemptionRequested]:
    now = biz.clock.now()
    loyalty = biz.settings.loyalty

    async def work(session: AsyncSession) -> RedemptionRequested:
        customer = await customer_for(session, biz, actor, request.customer)
        if customer.telegram_id is None:
            raise ServiceError("customer_not_in_bot", card_code=customer.card_code)
        if request.points > customer.balance:
            raise ServiceError(
                "insufficient_points", balance=customer.balance, points=request.points
            )
        if request.purchase_amount is not None:
            limit = max_redeemable(request.purchase_amount, loyalty)
            if request.points > limit:
                raise ServiceError(
                    "redeem_over_share", limit=limit, share=loyalty.max_redeem_share * 100
                )
        redemption = Redemption(
            customer_id=customer.id,
            author_tg_id=actor.tg_id,
            author_locale=actor.locale,
            outlet_code=actor.outlet_code,
            points=request.points,
            purchase_amount=request.purchase_amount,
            state=RedemptionState.PENDING,
            created_at=now,
            expires_at=now + timedelta(minutes=loyalty.redemption_confirm_minutes),
        )
        session.add(redemption)
        await session.flush()
        texts, lang = biz.texts, customer.language
        notify_customer(
            session,
            biz,
            customer,
            "customer.redeem_confirm",
            kind="redemption_prompt",
            deadline=redemption.expires_at,  # useless once the request has expired
            reply_markup=confirm_keyboard(
                texts.render(lang, "customer.button_confirm"),
                texts.render(lang, "customer.button_decline"),
                redemption.id,
            ),
            points=request.points,
            value=loyalty.point_value * request.points,
            amount=request.purchase_amount,
            minutes=loyalty.redemption_confirm_minutes,
        )
        audit_act(
            session, actor, "redeem_request", key, now, customer.id,
            redemption_id=redemption.id, points=request.points,
        )  # fmt: skip
        return RedemptionRequested(
            redemption_id=redemption.id,
            customer_id=customer.id,
            card_code=customer.card_code,
            customer_name=customer.name,
            points=request.points,
            minutes=loyalty.redemption_confirm_minutes,
        )

    return await run_once(
        biz.db, biz.clock, key, RedemptionRequested, work, event="redemption requested"
    )


async def decide_redemption(
    biz: Business, tg_id: int, key: str, redemption_id: int, accept: bool
) -> Outcome[RedemptionDecision]:
    """The customer's button. Refuses anyone but the redemption's own customer."""
    now = biz.clock.now()

    async def work(session: AsyncSession) -> RedemptionDecision:
        redemption = await session.scalar(
            select(Redemption).where(Redemption.id == redemption_id).with_for_update()
        )
        if redemption is None:
            raise ServiceError("redemption_not_found")
        customer = await lock_customer(session, redemption.customer_id)
        if customer.telegram_id != tg_id:
            raise ServiceError("not_your_redemption")
        if redemption.state != RedemptionState.PENDING:
            raise ServiceError("redemption_closed", state=redemption.state)
        decision = RedemptionDecision(
            redemption_id=redemption.id,
            state=redemption.state,
            points=redemption.points,
            balance=customer.balance,
        )
        if not accept:
            decision.state = RedemptionState.DECLINED
        elif now >= redemption.expires_at:
            decision.state = RedemptionState.EXPIRED
        elif customer.balance < redemption.points:
            decision.state = RedemptionState.FAILED
        else:
            decision.state = RedemptionState.CONFIRMED
            purchase_id = None
            if redemption.purchase_amount is not None:
                booked = await book_purchase(
                    session,
                    biz,
                    customer,
                    key=key,
                    now=now,
                    author_tg_id=redemption.author_tg_id,
                    outlet_code=redemption.outlet_code,
                    amount=redemption.purchase_amount,
                    points_redeemed=redemption.points,
                    notice=None,  # "customer.redeemed" below says both
                )
                purchase_id, decision.earned = booked.purchase.id, booked.points
            post(
                session,
                customer,
                kind=LedgerKind.REDEEM,
                points=-redemption.points,
                key=f"{key}:redeem",
                now=now,
                author_tg_id=redemption.author_tg_id,
                purchase_id=purchase_id,
                redemption_id=redemption.id,
            )
            redemption.purchase_id = decision.purchase_id = purchase_id
        redemption.state = decision.state
        redemption.decided_at = now
        decision.balance = customer.balance
        if decision.state == RedemptionState.CONFIRMED:
            notify_customer(
                session,
                biz,
                customer,
                "customer.redeemed",
                points=redemption.points,
                earned=decision.earned,
                balance=customer.balance,
            )
        enqueue(
            session,
            now=now,
            chat_id=redemption.author_tg_id,
            text=biz.texts.render(
                redemption.author_locale,
                "staff.redemption_decided",
                state=decision.state,
                points=redemption.points,
                card_code=customer.card_code,
                balance=customer.balance,
            ),
            kinds=biz.settings.outbox.kinds,
        )
        add_audit(
            session,
            now=now,
            actor_tg_id=tg_id,
            actor_role="customer",
            action="redeem_decision",
            customer_id=customer.id,
            update_key=key,
            details={"redemption_id": redemption.id, "state": decision.state},
        )
        return decision

    return await run_once(
        biz.db, biz.clock, key, RedemptionDecision, work, event="redemption decided"
    )
