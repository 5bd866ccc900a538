"""A staff member's daily cap: beyond it a purchase waits for an owner's approval.

The cap (``controls.caps``, per role: purchases credited and their amount in a local day)
is checked on the purchase's own first statement: ``with_day_totals`` adds the staff
member's count and amount of today to what the credit statement returns (two scalar
subqueries on ``ix_purchases_author_day``; nothing at all when the role has no cap), so a
purchase under the cap costs no statement more. Over it, ``check_daily_cap`` raises
``OverCap``: the credit rolls back, and ``hold_purchase`` writes the request instead, with
a button for each owner (the purchase's author excepted) and a word to the cashier and
the customer that it is pending. The owner's button is ``approval_decisions``.

Two purchases by one staff member at the very same moment may both pass the cap (each
statement reads the day as it was); a cap is a control on a person's day, not a ledger
invariant, and the anomaly alerts watch what comes close to it.
"""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Update, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import DailyCap, Settings
from bot.db.models import Approval, ApprovalState, Purchase, unix_seconds
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, run_once
from bot.services.money.ledger import lock_customer
from bot.services.outbox.notify import customer_notice
from bot.services.outbox.rows import enqueue, outbox_row
from bot.services.people.audit import audit_act
from bot.services.people.chat_settings import language_in
from bot.services.people.owners import owners_in
from bot.services.people.roles import Actor, still_holds
from bot.services.people.staff import name_of
from bot.services.requests import PurchaseRequest

PURCHASE_PREFIX = "apv"  # an owner's button on a held purchase: apv:y:<id> / apv:n:<id>
ADJUST_PREFIX = "apa"  # on a held /adjust (counter.adjustments)

R = TypeVar("R", bound=BaseModel)

_MINE = (Purchase.author_tg_id == bindparam("cap_author")) & (
    Purchase.created_ts >= bindparam("cap_since")
)
_DAY_COLUMNS = (
    select(func.count()).where(_MINE).scalar_subquery().label("cap_count"),
    select(func.coalesce(func.sum(Purchase.amount), 0))
    .where(_MINE)
    .scalar_subquery()
    .label("cap_amount"),
)
_WITH_TOTALS: dict[int, tuple[Update, Update]] = {}


class OverCap(Exception):
    """A purchase over its author's daily cap (raised inside the purchase's transaction:
    it rolls back, and ``hold_purchase`` writes the request instead)."""

    def __init__(self, customer_id: int, figures: dict[str, Any]) -> None:
        super().__init__("over the daily cap")
        self.customer_id = customer_id
        self.figures = figures


def cap_of(settings: Settings, actor: Actor) -> DailyCap | None:
    return settings.controls.caps.get(actor.role.value)


def day_start(biz: Business, now: datetime) -> datetime:
    """The start of the business's local day that holds ``now``."""
    zone = biz.settings.business.zone
    return datetime.combine(now.astimezone(zone).date(), time(), tzinfo=zone)


def with_day_totals(
    biz: Business, actor: Actor, now: datetime, stmt: Update, params: dict[str, Any]
) -> tuple[Update, dict[str, Any]]:
    """The purchase's credit statement and its parameters, returning besides the author's
    purchases and amount of today when the author's role has a cap (unchanged otherwise)."""
    if cap_of(biz.settings, actor) is None:
        return stmt, params
    found = _WITH_TOTALS.get(id(stmt))
    if found is None or found[0] is not stmt:
        found = _WITH_TOTALS[id(stmt)] = (stmt, stmt.returning(*_DAY_COLUMNS))
    since = unix_seconds(day_start(biz, now))
    return found[1], params | {"cap_author": actor.tg_id, "cap_since": since}


def check_daily_cap(settings: Settings, actor: Actor, row: Any, amount: Decimal) -> None:
    """Raise ``OverCap`` when this purchase would take its author past a cap of the day."""
    cap = cap_of(settings, actor)
    if cap is None:
        return
    count, total = int(row.cap_count), Decimal(row.cap_amount)
    over_count = cap.purchases is not None and count + 1 > cap.purchases
    over_amount = cap.amount is not None and total + amount > cap.amount
    if over_count or over_amount:
        figures = {"count": count, "total": total, "cap_purchases": cap.purchases,
                   "cap_amount": cap.amount}  # fmt: skip
        raise OverCap(row.id, figures)


def stored(figures: dict[str, Any]) -> dict[str, Any]:
    """``figures`` as a JSON column keeps them (money as text)."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in figures.items()}


async def approvers(session: AsyncSession, biz: Business, author_tg_id: int) -> list[int]:
    """The owners who may approve what ``author_tg_id`` did: every owner but them."""
    return sorted(await owners_in(session, biz) - {author_tg_id})


async def ask_owners(
    session: AsyncSession, biz: Business, approval: Approval, prefix: str, **context: Any
) -> None:
    """The request, with approve and reject buttons, to every approver, in their language."""
    for owner_id in await approvers(session, biz, approval.author_tg_id):
        locale = biz.texts.locale_for(await language_in(session, owner_id))
        buttons = [
            {"text": biz.texts.plain(locale, f"controls.button_{word}"),
             "callback_data": f"{prefix}:{answer}:{approval.id}"}
            for word, answer in (("approve", "y"), ("reject", "n"))
        ]  # fmt: skip
        text = biz.texts.render(locale, f"controls.ask_{approval.kind}", a=approval, **context)
        enqueue(session, outbox_row(now=approval.created_at, chat_id=owner_id, text=text,
                                    reply_markup={"inline_keyboard": [buttons]},
                                    kinds=biz.settings.outbox.kinds))  # fmt: skip


async def hold_purchase(
    biz: Business,
    actor: Actor,
    key: str,
    request: PurchaseRequest,
    over: OverCap,
    result_type: type[R],
) -> Outcome[R]:
    """The purchase over the cap, waiting for an owner: the request, the owners' buttons,
    the customer's notice, the audit row; the cashier's answer (``result_type``, a
    ``PurchaseResult`` with ``approval_id``) is claimed under the update's key."""
    now = biz.clock.now()

    async def work(session: AsyncSession) -> R:
        # the actor may be a kept one (roles.still_holds), as on the purchase's own path
        await session.run_sync(lambda sync: still_holds(sync.connection(), actor))
        if request.offer_code is not None:
            raise ServiceError("cap_reached_offer")
        if not await approvers(session, biz, actor.tg_id):
            raise ServiceError("cap_reached_no_approver")
        customer = await lock_customer(session, over.customer_id)
        approval = Approval(
            kind="purchase", state=ApprovalState.PENDING, customer_id=customer.id,
            author_tg_id=actor.tg_id, author_locale=actor.locale,
            outlet_code=actor.outlet_code, amount=request.amount,
            service_tag=request.service_tag, receipt_no=request.receipt_no,
            figures=stored(over.figures), created_at=now,
        )  # fmt: skip
        session.add(approval)
        await session.flush()
        staff_name = await name_of(session, actor.tg_id)
        await ask_owners(session, biz, approval, PURCHASE_PREFIX, card_code=customer.card_code,
                         staff_name=staff_name, figures=over.figures)  # fmt: skip
        enqueue(session, customer_notice(biz, customer, "controls.customer_pending",
                                         amount=request.amount))  # fmt: skip
        audit_act(session, actor, "purchase_held", key, now, customer.id, approval_id=approval.id,
                  amount=str(request.amount), **stored(over.figures))  # fmt: skip
        return result_type(
            purchase_id=0, customer_id=customer.id, card_code=customer.card_code,
            customer_name=customer.name, amount=request.amount, points=0,
            balance=customer.balance, service_tag=request.service_tag,
            receipt_no=request.receipt_no, approval_id=approval.id,
        )  # fmt: skip

    return await run_once(biz.db, biz.clock, key, result_type, work, event="purchase held")
