"""Redemption: staff ask, the customer confirms with a button, the ledger moves only then.

The request row is not a ledger effect; the balance is checked again under the lock at
confirmation, so two staff phones redeeming one balance at once cannot overdraw it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Select, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import LoyaltySettings, Settings
from bot.db.models import Customer, LedgerKind, Redemption, RedemptionState
from bot.money import points_value
from bot.services.context import Business
from bot.services.counter.booking import book_purchase
from bot.services.counter.books import ACCOUNT_COLUMNS, Account, Books, account_of
from bot.services.errors import ServiceError
from bot.services.idempotency import CLAIMED, Outcome, Replay, personal, run_once, run_once_core
from bot.services.money.ledger import max_redeemable
from bot.services.money.pending import PENDING_AT, pending_column, spendable, split
from bot.services.money.rewards import REWARD_REASON, reward_named
from bot.services.money.tiers import (
    standing_columns,
    standing_of,
    window_start,
)
from bot.services.outbox.deferred_text import Deferred
from bot.services.outbox.notify import customer_notice
from bot.services.outbox.rows import enqueue, outbox_row
from bot.services.people.audit import audit_act, audit_row
from bot.services.people.customers import customer_for
from bot.services.people.roles import Actor
from bot.services.requests import RedeemRequest
from bot.services.rules.earn import EarnTerms
from bot.services.rules.versions import earn_terms_by_outlet

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
    reward: str | None = None  # a reward of the catalogue, in the staff member's words


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
    """Ask the customer to confirm paying ``request.points`` (or, for a reward of the
    catalogue, its price: an unknown reward is refused before anything is written)."""
    if request.reward_code is not None:
        reward = reward_named(biz.settings, request.reward_code)
        request = replace(request, points=reward.points, reward_code=reward.code)
    work = partial(_ask_customer, biz=biz, actor=actor, key=key, request=request,
                   now=biz.clock.now())  # fmt: skip
    return await run_once(
        biz.db, biz.clock, key, RedemptionRequested, work, event="redemption requested"
    )


def _refuse_request(
    customer: Customer, request: RedeemRequest, loyalty: LoyaltySettings, spendable: tuple[int, int]
) -> None:
    """Refuse a redemption the customer cannot confirm: not in the bot, more points than
    the spendable balance (pending points wait out the return window), or over the share
    of the purchase that points may pay."""
    if customer.telegram_id is None:
        raise ServiceError("customer_not_in_bot", card_code=customer.card_code)
    available, pending = spendable
    if request.points > available:
        raise ServiceError(
            "insufficient_points", balance=available, points=request.points, pending=pending
        )
    if request.purchase_amount is not None:
        limit = max_redeemable(request.purchase_amount, loyalty)
        if request.points > limit:
            raise ServiceError(
                "redeem_over_share", limit=limit, share=loyalty.max_redeem_share * 100
            )


async def _ask_customer(
    session: AsyncSession,
    *,
    biz: Business,
    actor: Actor,
    key: str,
    request: RedeemRequest,
    now: datetime,
) -> RedemptionRequested:
    """``request_redemption``'s transaction: the pending request and the customer's
    confirm/decline prompt, audited."""
    loyalty = biz.settings.loyalty
    customer = await customer_for(session, biz, actor, request.customer)
    _refuse_request(customer, request, loyalty, await spendable(session, customer, now))
    redemption = Redemption(
        customer_id=customer.id, author_tg_id=actor.tg_id, author_locale=actor.locale,
        outlet_code=actor.outlet_code, points=request.points,
        purchase_amount=request.purchase_amount, state=RedemptionState.PENDING,
        created_at=now, reward_code=request.reward_code,
        expires_at=now + timedelta(minutes=loyalty.redemption_confirm_minutes),
    )  # fmt: skip
    session.add(redemption)
    await session.flush()
    enqueue(session, _prompt(biz, customer, redemption))
    audit_act(
        session, actor, "redeem_request", key, now, customer.id,
        redemption_id=redemption.id, points=request.points,
        **({"reward": request.reward_code} if request.reward_code else {}),
    )  # fmt: skip
    return RedemptionRequested(
        redemption_id=redemption.id, customer_id=customer.id, card_code=customer.card_code,
        customer_name=customer.name, points=request.points,
        minutes=loyalty.redemption_confirm_minutes,
        reward=_reward_name(biz, redemption, actor.locale).get("reward"),
    )  # fmt: skip


def _reward_name(biz: Business, redemption: Any, locale: str) -> dict[str, str]:
    """``{"reward": its name}`` for a redemption paying for a reward of the catalogue (a
    row or a ``Redemption``: ``reward_code`` or ``r_reward_code``); else ``{}``."""
    code = getattr(redemption, "reward_code", None) or getattr(redemption, "r_reward_code", None)
    if not code:
        return {}
    try:
        return {"reward": reward_named(biz.settings, code).name(locale)}
    except ServiceError:  # taken off the catalogue since it was asked for: its code
        return {"reward": code}


def _prompt(biz: Business, customer: Customer, redemption: Redemption) -> dict[str, Any] | None:
    """The customer's confirm/decline prompt (what a reward is, when it is one)."""
    loyalty, texts, lang = biz.settings.loyalty, biz.texts, customer.language
    return customer_notice(
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
        points=redemption.points,
        value=loyalty.point_value * redemption.points,
        amount=redemption.purchase_amount,
        minutes=loyalty.redemption_confirm_minutes,
        **_reward_name(biz, redemption, lang),
    )


def _decision_read(settings: Settings, with_standing: bool) -> Select[Any]:
    """The confirmation's one read: the redemption and its customer, both locked, with the
    update's claim and, ``with_standing``, the customer's tier standing (a purchase may be
    booked; PostgreSQL reads it after the lock, see ``Database.serialises_writes``)."""
    key = (settings.tiers.preset, with_standing)
    stmt = _DECISION_READS.get(key)
    if stmt is None:
        stmt = _DECISION_READS[key] = (
            select(
                *ACCOUNT_COLUMNS,
                CLAIMED,
                pending_column(),
                *(standing_columns(settings) if with_standing else ()),
                *(column.label(f"r_{column.key}") for column in _REDEMPTION_COLUMNS),
            )
            .join_from(Redemption, Customer, Redemption.customer_id == Customer.id)
            .where(Redemption.id == bindparam("redemption_id"))
            .with_for_update(of=(Redemption, Customer))
        )
    return stmt


_REDEMPTION_COLUMNS = (
    Redemption.author_tg_id,
    Redemption.author_locale,
    Redemption.outlet_code,
    Redemption.points,
    Redemption.purchase_amount,
    Redemption.state,
    Redemption.expires_at,
    Redemption.reward_code,
)
_DECISION_READS: dict[tuple[str | None, bool], Select[Any]] = {}
_DECIDE = (
    update(Redemption)
    .where(Redemption.id == bindparam("r_id"))
    .values(
        state=bindparam("r_state"),
        decided_at=bindparam("r_decided_at"),
        purchase_id=bindparam("r_purchase_id"),
    )
)


def _to_collect(biz: Business, amount: Decimal | None, points: int) -> dict[str, str]:
    """What the cashier still takes from the customer after the points: the purchase
    amount less the points' value (strings: the context is stored as JSON)."""
    if amount is None:
        return {}
    paid = points_value(points, biz.settings.loyalty.point_value)
    return {"amount": str(amount), "paid": str(paid), "to_collect": str(max(amount - paid, 0))}


async def decide_redemption(
    biz: Business, tg_id: int, key: str, redemption_id: int, accept: bool
) -> Outcome[RedemptionDecision]:
    """The customer's button. Refuses anyone but the redemption's own customer. On
    prebuilt Core statements, like a purchase (``bot.services.counter.books``)."""
    now = biz.clock.now()
    terms = await earn_terms_by_outlet(biz, None, now)  # a redemption's purchase has no tag
    work = partial(_decide, biz=biz, tg_id=tg_id, key=key, redemption_id=redemption_id,
                   accept=accept, now=now, terms=terms)  # fmt: skip
    return await run_once_core(
        biz.db, biz.clock, key, RedemptionDecision, work, event="redemption decided"
    )


def _decide(
    conn: Connection,
    *,
    biz: Business,
    tg_id: int,
    key: str,
    redemption_id: int,
    accept: bool,
    now: datetime,
    terms: dict[str, EarnTerms],
) -> RedemptionDecision | Replay:
    """``decide_redemption``'s transaction: read and lock the redemption and its customer,
    settle the decision, tell both sides, audit, mark the redemption decided."""
    row = conn.execute(
        _decision_read(biz.settings, with_standing=biz.db.serialises_writes),
        {"redemption_id": redemption_id, "claim_key": key,
         "since": window_start(biz.settings, now), PENDING_AT: now},
    ).first()  # fmt: skip
    if row is not None and row.claimed is not None:
        return Replay(row.claimed)
    if row is None:
        raise ServiceError("redemption_not_found")
    customer = account_of(row)
    if customer.telegram_id != tg_id:
        raise ServiceError("not_your_redemption")
    if row.r_state != RedemptionState.PENDING:
        raise ServiceError("redemption_closed", state=row.r_state)
    books = Books(conn, biz, now)
    books.hold(customer)
    decision = RedemptionDecision(
        redemption_id=redemption_id,
        state=_decided_state(row, customer, accept=accept, now=now),
        points=row.r_points,
        balance=customer.balance,
    )
    if decision.state == RedemptionState.CONFIRMED:
        _redeem(books, customer, row, decision, key=key, terms=terms.get(row.r_outlet_code))
    decision.balance = customer.balance
    _tell_both_sides(books, customer, row, decision)
    books.audit.append(
        audit_row(
            now=now, actor_tg_id=tg_id, actor_role="customer", action="redeem_decision",
            customer_id=customer.id, update_key=key,
            details={"redemption_id": redemption_id, "state": decision.state},
        )
    )  # fmt: skip
    conn.execute(
        _DECIDE,
        {"r_id": redemption_id, "r_state": decision.state, "r_decided_at": now,
         "r_purchase_id": decision.purchase_id},
    )  # fmt: skip
    books.flush()
    return decision


def _decided_state(row: Any, customer: Account, *, accept: bool, now: datetime) -> RedemptionState:
    """Declined by the customer, expired, failed for want of spendable points, or confirmed."""
    if not accept:
        return RedemptionState.DECLINED
    if now >= row.r_expires_at:
        return RedemptionState.EXPIRED
    if split(customer.balance, row.pending_points)[0] < row.r_points:
        return RedemptionState.FAILED
    return RedemptionState.CONFIRMED


def _redeem(
    books: Books, customer: Account, row: Any, decision: RedemptionDecision, *, key: str,
    terms: EarnTerms | None,
) -> None:  # fmt: skip
    """A confirmed redemption: book the purchase it was asked against (its money part
    earns), then the REDEEM entry; ``decision`` gets the purchase and what it earned."""
    points = row.r_points
    if row.r_purchase_amount is not None:
        booked = book_purchase(
            books,
            customer,
            standing_of(row) if books.biz.db.serialises_writes else None,
            key=key,
            author_tg_id=row.r_author_tg_id,
            outlet_code=row.r_outlet_code,
            amount=row.r_purchase_amount,
            points_redeemed=points,
            notice=None,  # "customer.redeemed" below says both
            terms=terms,
        )
        decision.purchase_id, decision.earned = booked.purchase_id, booked.points + booked.rewards
    books.post(
        customer,
        kind=LedgerKind.REDEEM,
        points=-points,
        key=f"{key}:redeem",
        author_tg_id=row.r_author_tg_id,
        purchase_id=decision.purchase_id,
        redemption_id=decision.redemption_id,
        reason=f"{REWARD_REASON}{row.r_reward_code}" if row.r_reward_code else None,
    )


def _tell_both_sides(
    books: Books, customer: Account, row: Any, decision: RedemptionDecision
) -> None:
    """The customer's notice of a confirmed redemption; the staff member's of any decision."""
    if decision.state == RedemptionState.CONFIRMED:
        books.queue(
            customer_notice(
                books.biz,
                customer,
                "customer.redeemed",
                points=decision.points,
                earned=decision.earned,
                balance=customer.balance,
                **_reward_name(books.biz, row, customer.language),
            )
        )
    books.queue(
        outbox_row(
            now=books.now,
            chat_id=row.r_author_tg_id,
            text=Deferred(
                row.r_author_locale,
                "staff.redemption_decided",
                {
                    "state": decision.state,
                    "points": decision.points,
                    "card_code": customer.card_code,
                    "balance": customer.balance,
                    **_to_collect(books.biz, row.r_purchase_amount, decision.points),
                    **_reward_name(books.biz, row, row.r_author_locale),
                },
            ),
            kinds=books.biz.settings.outbox.kinds,
        )
    )
