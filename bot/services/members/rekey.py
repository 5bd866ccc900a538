"""Re-keying the hashes kept after /forget under a new ``privacy.id_hash_salt``.

An install that ran with the salt earlier versions shipped (``bot.config.salt``) keyed
the opening balances of imported customers (``import:<hash of the phone>``) and the
Telegram ids of those who used /forget with a public key. What can be re-keyed is what
the database still knows in clear: live customers' phones and Telegram ids. An erased
customer's key cannot be re-keyed (nobody knows their phone any more): it still reveals
that phone to whoever tries every number under the public salt. ``drop`` replaces those
keys by meaningless ones and deletes the forgotten ids that match nobody, trading away
what they protect (an old file re-imported brings that customer back; someone who comes
back gets a second welcome bonus).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Customer, ForgottenIdentity, LedgerEntry, LedgerKind
from bot.services.context import Business
from bot.services.members.customer_import import KEY_PREFIX, opening_key_under
from bot.services.members.identity import keyed_hash

DROPPED = KEY_PREFIX + "dropped:"  # + the entry's id: unique, and reveals nothing


class Rekeyed(BaseModel):
    opening_keys: int  # live customers' opening balances re-keyed
    identities: int  # forgotten Telegram ids of people who came back, re-keyed
    left: int  # erased customers' opening keys still under the old salt
    dropped: int  # keys dropped (``drop``)


async def _opening_keys(session: AsyncSession, old: str, new: str) -> int:
    rows = await session.execute(
        select(LedgerEntry.id, LedgerEntry.idempotency_key, Customer.phone)
        .join(Customer, Customer.id == LedgerEntry.customer_id)
        .where(LedgerEntry.kind == LedgerKind.IMPORT, Customer.erased_at.is_(None))
    )
    moved = 0
    for entry_id, key, phone in rows.all():
        if phone and key == opening_key_under(old, phone):
            await session.execute(
                update(LedgerEntry)
                .where(LedgerEntry.id == entry_id)
                .values(idempotency_key=opening_key_under(new, phone))
            )
            moved += 1
    return moved


async def _live_ids(session: AsyncSession) -> list[int]:
    found = await session.scalars(
        select(Customer.telegram_id).where(Customer.telegram_id.is_not(None))
    )
    return [int(tg_id) for tg_id in found.all()]


async def _identities(session: AsyncSession, old: str, new: str) -> int:
    stored = set(await session.scalars(select(ForgottenIdentity.id_hash)))
    moved = 0
    for tg_id in await _live_ids(session):
        if keyed_hash(old, str(tg_id)) in stored:
            await session.execute(
                update(ForgottenIdentity)
                .where(ForgottenIdentity.id_hash == keyed_hash(old, str(tg_id)))
                .values(id_hash=keyed_hash(new, str(tg_id)))
            )
            moved += 1
    return moved


def _erased_openings() -> tuple[Any, ...]:
    erased = select(Customer.id).where(Customer.erased_at.is_not(None))
    return (
        LedgerEntry.kind == LedgerKind.IMPORT,
        LedgerEntry.customer_id.in_(erased),
        LedgerEntry.idempotency_key.not_like(DROPPED + "%"),
    )


async def _drop(session: AsyncSession, new: str) -> int:
    """Every erased customer's opening key, and every forgotten id no customer matches."""
    entries = list(await session.scalars(select(LedgerEntry.id).where(*_erased_openings())))
    for entry_id in entries:
        await session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.id == entry_id)
            .values(idempotency_key=f"{DROPPED}{entry_id}")
        )
    keep = {keyed_hash(new, str(tg_id)) for tg_id in await _live_ids(session)}
    stored = set(await session.scalars(select(ForgottenIdentity.id_hash)))
    for id_hash in stored - keep:
        await session.execute(delete(ForgottenIdentity).where(ForgottenIdentity.id_hash == id_hash))
    return len(entries) + len(stored - keep)


SAMPLE = 1000  # live customers' opening keys looked at by the start-up check


async def public_salt_in_use(biz: Business, public: frozenset[str]) -> str | None:
    """The public salt the database's live opening keys were made with, if any (an
    install that never set a salt and ran on the shipped default): a sample suffices."""
    async with biz.db.read() as session:
        rows = await session.execute(
            select(LedgerEntry.idempotency_key, Customer.phone)
            .join(Customer, Customer.id == LedgerEntry.customer_id)
            .where(LedgerEntry.kind == LedgerKind.IMPORT, Customer.phone.is_not(None))
            .limit(SAMPLE)
        )
        for key, phone in rows.all():
            for salt in public:
                if key == opening_key_under(salt, phone):
                    return salt
    return None


async def rekey(biz: Business, old: str, new: str, *, drop: bool = False) -> Rekeyed:
    """Re-key from salt ``old`` to ``new`` in one transaction (``new`` is the salt the
    configuration will hold)."""
    async with biz.db.write() as session:
        opening = await _opening_keys(session, old, new)
        identities = await _identities(session, old, new)
        dropped = await _drop(session, new) if drop else 0
        left = int(
            await session.scalar(select(func.count(LedgerEntry.id)).where(*_erased_openings()))
            or 0
        )
    return Rekeyed(opening_keys=opening, identities=identities, left=left, dropped=dropped)
