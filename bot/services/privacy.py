"""/mydata and /forget (SPEC.md, Privacy; Russia's 152-FZ and GDPR).

Export: everything stored about the customer, as one JSON document.

Erasure: personal data is removed everywhere it is stored; the ledger's points and the
purchases' amounts stay, tied to an anonymous row, for the books:
- the customer row: Telegram id, phone, name, birthday, profile, consent, referral link
  and language are cleared, the card code is replaced (an old QR finds nobody);
- staff notes about the customer are deleted;
- outbox rows addressed to them lose their text (pending ones are cancelled); messages to
  staff name customers by card code only, and that code is replaced;
- free-text reasons on their ledger entries (an owner's /adjust reason) are cleared;
- stored results of processed updates (the exactly-once records) lose the name and phone
  (every value equal to them; scanned in Python, /forget is rare);
- the audit log holds ids only and is kept.
A salted hash of the Telegram id is kept in ``forgotten_identities`` for one purpose:
someone who joins again gets no second welcome bonus and counts as nobody's referral
(``signup.was_forgotten``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Customer,
    ForgottenIdentity,
    LedgerEntry,
    LedgerKind,
    Note,
    OutboxMessage,
    OutboxState,
    ProcessedUpdate,
    Purchase,
    Redemption,
    Visit,
)
from bot.services.audit import add_audit
from bot.services.context import Business
from bot.services.customers import unique_card_code
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, run_once
from bot.services.signup import id_hash

EXPORT_VERSION = 1


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str, list, dict)):
        return value
    return str(value)


def _row(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        column.key: _plain(getattr(obj, column.key))
        for column in obj.__table__.columns
        if column.key not in skip
    }


async def _member(session: AsyncSession, tg_id: int) -> Customer:
    customer = await session.scalar(select(Customer).where(Customer.telegram_id == tg_id))
    if customer is None:
        raise ServiceError("not_registered")
    return customer


async def export(biz: Business, tg_id: int) -> dict[str, Any]:
    """Everything stored about the customer, in the database's own terms."""
    async with biz.db.read() as session:
        customer = await _member(session, tg_id)
        cid = customer.id

        async def rows(model: Any, column: Any) -> list[dict[str, Any]]:
            found = await session.scalars(select(model).where(column == cid).order_by(model.id))
            return [_row(r) for r in found]

        return {
            "export_version": EXPORT_VERSION,
            "business": biz.settings.business.name,
            "exported_at": biz.clock.now().isoformat(),
            "customer": _row(customer),
            "purchases": await rows(Purchase, Purchase.customer_id),
            "visits": await rows(Visit, Visit.customer_id),
            "ledger": await rows(LedgerEntry, LedgerEntry.customer_id),
            "redemptions": await rows(Redemption, Redemption.customer_id),
            "notes": await rows(Note, Note.customer_id),
            "messages": [
                {k: v for k, v in r.items() if k in ("id", "text", "state", "created_at")}
                for r in await rows(OutboxMessage, OutboxMessage.customer_id)
            ],
        }


class Forgotten(BaseModel):
    customer_id: int
    language: str


def _scrub(value: Any, secrets: list[str]) -> tuple[Any, bool]:
    """``value`` with every string equal to a secret replaced by None."""
    if isinstance(value, str):
        return (None, True) if value in secrets else (value, False)
    if isinstance(value, dict):
        changed = False
        result = {}
        for k, v in value.items():
            result[k], hit = _scrub(v, secrets)
            changed |= hit
        return result, changed
    if isinstance(value, list):
        items = [_scrub(v, secrets) for v in value]
        return [v for v, _ in items], any(hit for _, hit in items)
    return value, False


async def forget(biz: Business, key: str, tg_id: int) -> Outcome[Forgotten]:
    now = biz.clock.now()

    async def work(session: AsyncSession) -> Forgotten:
        customer = await _member(session, tg_id)
        cid, language = customer.id, customer.language
        secrets = [s for s in (customer.name, customer.phone) if s]
        identity = id_hash(biz.settings, tg_id)
        if await session.get(ForgottenIdentity, identity) is None:
            session.add(ForgottenIdentity(id_hash=identity, created_at=now))
        await session.execute(delete(Note).where(Note.customer_id == cid))
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.customer_id == cid, OutboxMessage.state == OutboxState.PENDING)
            .values(state=OutboxState.CANCELLED)
        )
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.customer_id == cid).values(text=None)
        )
        await session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.customer_id == cid, LedgerEntry.kind == LedgerKind.ADJUSTMENT)
            .values(reason=None)
        )
        await _scrub_processed(session, secrets)
        customer.telegram_id = None
        customer.phone = None
        customer.name = None
        customer.name_key = None
        customer.birthday = None
        customer.profile = None
        customer.consent_at = None
        customer.consent_version = None
        customer.signup_step = None
        customer.referred_by = None
        customer.marketing_opt_in = False
        customer.language = biz.settings.business.default_language
        customer.card_code = await unique_card_code(session)
        customer.erased_at = now
        add_audit(
            session,
            now=now,
            actor_tg_id=None,
            actor_role="customer",
            action="forget",
            customer_id=cid,
            update_key=key,
        )
        return Forgotten(customer_id=cid, language=language)

    return await run_once(biz.db, biz.clock, key, Forgotten, work)


async def _scrub_processed(session: AsyncSession, secrets: list[str]) -> None:
    """Stored results of processed updates may repeat a name or phone: blank those values."""
    if not secrets:
        return
    rows = await session.scalars(select(ProcessedUpdate).where(ProcessedUpdate.result.is_not(None)))
    for row in rows:
        cleaned, changed = _scrub(row.result, secrets)
        if changed:
            row.result = cleaned
