"""An owner's button on a purchase held over its staff member's daily cap (``approvals``).

On prebuilt Core statements, like the purchase itself: one read locks the request and its
customer (with the callback's claim and, SQLite, the tier standing); an approval books the
purchase through ``booking.book_purchase`` under the request's own key (``apv:<id>``), so
it is credited exactly once whatever is pressed or delivered again: a re-delivered
callback gets its stored answer, a second press (or a second owner) finds the request
decided, and the decision and the booking commit together or not at all. A rejection
books nothing. The cashier hears the outcome; the customer gets the usual points notice,
or word that the purchase was not credited.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Select, bindparam, select, update

from bot.config import Settings
from bot.db.models import Approval, ApprovalState, Customer
from bot.services.context import Business
from bot.services.counter.approvals import PURCHASE_PREFIX
from bot.services.counter.booking import book_purchase
from bot.services.counter.books import ACCOUNT_COLUMNS, Books, account_of
from bot.services.errors import ServiceError
from bot.services.idempotency import CLAIMED, Outcome, Replay, run_once_core
from bot.services.money.tiers import standing_columns, standing_of, window_start
from bot.services.outbox.deferred_text import Deferred
from bot.services.outbox.notify import customer_notice
from bot.services.outbox.rows import outbox_row
from bot.services.people.roles import Actor, Role


class PurchaseDecision(BaseModel):
    approval_id: int
    state: ApprovalState
    card_code: str
    amount: Decimal
    purchase_id: int | None = None
    points: int = 0
    balance: int


_COLUMNS = (
    Approval.kind, Approval.state, Approval.author_tg_id, Approval.author_locale,
    Approval.outlet_code, Approval.amount, Approval.service_tag, Approval.receipt_no,
)  # fmt: skip
_READS: dict[tuple[str | None, bool], Select[Any]] = {}
_DECIDE = (
    update(Approval)
    .where(Approval.id == bindparam("a_id"))
    .values(state=bindparam("a_state"), decided_at=bindparam("a_decided_at"),
            decided_by=bindparam("a_decided_by"), purchase_id=bindparam("a_purchase_id"))
)  # fmt: skip


def _read(settings: Settings, with_standing: bool) -> Select[Any]:
    key = (settings.tiers.preset, with_standing)
    stmt = _READS.get(key)
    if stmt is None:
        stmt = _READS[key] = (
            select(
                *ACCOUNT_COLUMNS,
                CLAIMED,
                *(standing_columns(settings) if with_standing else ()),
                *(column.label(f"a_{column.key}") for column in _COLUMNS),
            )
            .join_from(Approval, Customer, Approval.customer_id == Customer.id)
            .where(Approval.id == bindparam("approval_id"))
            .with_for_update(of=(Approval, Customer))
        )
    return stmt


async def decide_purchase(
    biz: Business, actor: Actor, key: str, approval_id: int, accept: bool
) -> Outcome[PurchaseDecision]:
    work = partial(_decide, biz=biz, actor=actor, key=key, approval_id=approval_id,
                   accept=accept, now=biz.clock.now())  # fmt: skip
    return await run_once_core(
        biz.db, biz.clock, key, PurchaseDecision, work, event="held purchase decided"
    )


def _refuse(actor: Actor, row: Any) -> None:
    if not actor.may(Role.OWNER):
        raise ServiceError("approval_owners_only")
    if row is None or row.a_kind != "purchase":
        raise ServiceError("approval_not_found")
    if row.a_state != ApprovalState.PENDING:
        raise ServiceError("approval_closed", state=row.a_state)
    if row.a_author_tg_id == actor.tg_id:
        raise ServiceError("approval_second_owner")


def _decide(
    conn: Connection, *, biz: Business, actor: Actor, key: str, approval_id: int,
    accept: bool, now: datetime,
) -> PurchaseDecision | Replay:  # fmt: skip
    folded = biz.db.serialises_writes
    row = conn.execute(
        _read(biz.settings, with_standing=folded),
        {"approval_id": approval_id, "claim_key": key, "since": window_start(biz.settings, now)},
    ).first()
    if row is not None and row.claimed is not None:
        return Replay(row.claimed)
    _refuse(actor, row)
    customer = account_of(row)
    books = Books(conn, biz, now)
    books.hold(customer)
    decision = PurchaseDecision(
        approval_id=approval_id, card_code=customer.card_code, amount=row.a_amount,
        state=ApprovalState.APPROVED if accept else ApprovalState.REJECTED, balance=0,
    )  # fmt: skip
    if accept:
        booked = book_purchase(
            books, customer, standing_of(row) if folded else None,
            key=f"{PURCHASE_PREFIX}:{approval_id}", author_tg_id=row.a_author_tg_id,
            outlet_code=row.a_outlet_code, amount=row.a_amount,
            service_tag=row.a_service_tag, receipt_no=row.a_receipt_no,
        )  # fmt: skip
        decision.purchase_id, decision.points = booked.purchase_id, booked.points
    else:
        books.queue(customer_notice(biz, customer, "controls.customer_rejected",
                                    amount=row.a_amount))  # fmt: skip
    decision.balance = customer.balance
    books.queue(outbox_row(
        now=now, chat_id=row.a_author_tg_id, kinds=biz.settings.outbox.kinds,
        text=Deferred(row.a_author_locale, "controls.purchase_decided",
                      decision.model_dump()),
    ))  # fmt: skip
    books.act(actor, f"purchase_{decision.state}", key, customer.id,
              approval_id=approval_id, purchase_id=decision.purchase_id)  # fmt: skip
    decided = {"a_id": approval_id, "a_state": decision.state, "a_decided_at": now,
               "a_decided_by": actor.tg_id, "a_purchase_id": decision.purchase_id}  # fmt: skip
    conn.execute(_DECIDE, decided)
    books.flush()
    return decision
