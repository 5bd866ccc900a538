"""Personal offers: made for one customer by a job or a campaign, used once at the counter.

One home for what an offer is worth and when it may be used. Jobs and campaigns call
``grant`` (exactly once per ``dedupe_key``); the purchase path calls ``use`` (or ``check``,
then ``claim`` once the purchase is booked) inside its own write transaction, which marks
the offer used with a conditional UPDATE, so two cashiers using one code at once get one
success and one refusal ("offer_used"), never two discounts. What a use gives is an
``OfferUse``: money off the purchase (PERCENT, FIXED) or bonus points (POINTS) that the
caller credits through the ledger with ``bonus_key``. ``use``, ``check`` and ``claim`` are
synchronous: the purchase's transaction is one call (``Database.run_write``); from an
``AsyncSession``, ``await session.run_sync(lambda s: offers.use(s, ...))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.codes import ALPHABET, new_card_code
from bot.config.jobs import MAX_OFFER_PERCENT
from bot.db.models import Offer, OfferKind
from bot.money import CENT
from bot.services.errors import ServiceError

OFFER_CODE_LENGTH = 7  # one more than a card code, so the two are never confused
OFFER_TOKEN_PREFIX = "offer:"  # how staff name an offer in a command: offer:K7M2XQ9
MAX_PERCENT = MAX_OFFER_PERCENT
_CODE_CHECK = 500  # codes per IN (...) when checking fresh codes against stored ones


def new_offer_code() -> str:
    return new_card_code(OFFER_CODE_LENGTH)


def looks_like_offer_code(token: str) -> bool:
    upper = token.upper()
    return len(upper) == OFFER_CODE_LENGTH and all(ch in ALPHABET for ch in upper)


def offer_code_in(token: str) -> str | None:
    """``offer:K7M2XQ9`` -> ``K7M2XQ9``; None when ``token`` does not name an offer."""
    if not token.lower().startswith(OFFER_TOKEN_PREFIX):
        return None
    return token[len(OFFER_TOKEN_PREFIX) :].upper()


def bonus_key(offer_id: int) -> str:
    """The ledger's idempotency key of a POINTS offer's credit: once per offer, ever."""
    return f"offer:{offer_id}"


@dataclass(frozen=True)
class OfferUse:
    """What using an offer gives; the caller books ``amount - discount`` and credits
    ``bonus_points`` (key ``bonus_key(offer_id)``)."""

    offer_id: int
    code: str
    kind: OfferKind
    discount: Decimal
    bonus_points: int


def offer_worth(offer: Offer, amount: Decimal) -> tuple[Decimal, int]:
    """(money off, bonus points) of ``offer`` on a purchase of ``amount``.

    A percent is taken off and rounded down to the cent; a fixed discount never exceeds the
    amount (an offer cannot make a purchase free of charge and pay out change).
    """
    kind = OfferKind(offer.kind)
    if kind is OfferKind.POINTS:
        return Decimal(0), int(offer.value)
    if kind is OfferKind.PERCENT:
        off = (amount * min(offer.value, MAX_PERCENT) / 100).quantize(CENT, rounding=ROUND_FLOOR)
        return off, 0
    return min(offer.value, amount), 0


def _check(kind: OfferKind, value: Decimal, valid_from: datetime, valid_until: datetime) -> None:
    if value <= 0 or (kind is OfferKind.PERCENT and value > MAX_PERCENT):
        raise ValueError(f"offer value out of range: {kind} {value}")
    if kind is OfferKind.POINTS and value != value.to_integral_value():
        raise ValueError("a points offer gives whole points")
    if valid_until <= valid_from:
        raise ValueError("an offer's window must not be empty")


async def grant(
    session: AsyncSession,
    *,
    customer_id: int,
    kind: OfferKind,
    value: Decimal,
    valid_from: datetime,
    valid_until: datetime,
    source: str,
    dedupe_key: str | None,
    now: datetime,
    service_tag: str | None = None,
) -> Offer | None:
    """Make an offer; None when ``dedupe_key`` already made one (a job's rerun).

    Runs in a SAVEPOINT so a concurrent grant of the same key does not spoil the caller's
    transaction.
    """
    _check(kind, value, valid_from, valid_until)
    if dedupe_key is not None and await session.scalar(
        select(Offer.id).where(Offer.dedupe_key == dedupe_key)
    ):
        return None
    offer = Offer(
        code=new_offer_code(),
        customer_id=customer_id,
        kind=kind,
        value=value,
        service_tag=service_tag,
        valid_from=valid_from,
        valid_until=valid_until,
        source=source,
        dedupe_key=dedupe_key,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(offer)
    except IntegrityError:
        if dedupe_key is not None and await session.scalar(
            select(Offer.id).where(Offer.dedupe_key == dedupe_key)
        ):
            return None
        raise
    return offer


async def grant_many(
    session: AsyncSession,
    *,
    customer_ids: list[int],
    kind: OfferKind,
    value: Decimal,
    valid_from: datetime,
    valid_until: datetime,
    source: str,
    now: datetime,
) -> dict[int, tuple[int, str]]:
    """The same offer for many customers (a broadcast), inserted in one statement; returns
    each customer's (offer id, code). No dedupe keys: the caller's transaction runs
    exactly once. The codes are drawn unique among themselves and against the codes
    already stored."""
    _check(kind, value, valid_from, valid_until)
    codes: dict[int, str] = {}
    taken: set[str] = set()
    while len(codes) < len(customer_ids):
        wanted = [cid for cid in customer_ids if cid not in codes]
        fresh = {cid: new_offer_code() for cid in wanted}
        clash: set[str] = set()
        for start in range(0, len(wanted), _CODE_CHECK):
            part = [fresh[c] for c in wanted[start : start + _CODE_CHECK]]
            clash |= set(await session.scalars(select(Offer.code).where(Offer.code.in_(part))))
        for cid, code in fresh.items():
            if code not in clash and code not in taken:
                codes[cid] = code
                taken.add(code)
    if not codes:
        return {}
    table = Offer.__table__
    made = await session.execute(
        insert(table).returning(table.c.customer_id, table.c.id),
        [
                {"code": code, "customer_id": cid, "kind": kind, "value": value,
                 "service_tag": None, "valid_from": valid_from, "valid_until": valid_until,
                 "source": source, "dedupe_key": None, "created_at": now}
                for cid, code in codes.items()
            ],
    )  # fmt: skip
    return {cid: (offer_id, codes[cid]) for cid, offer_id in made.all()}


async def live_offers(session: AsyncSession, customer_id: int, now: datetime) -> list[Offer]:
    """The customer's unused offers valid now, soonest to end first."""
    rows = await session.scalars(
        select(Offer)
        .where(
            Offer.customer_id == customer_id,
            Offer.used_at.is_(None),
            Offer.valid_from <= now,
            Offer.valid_until > now,
        )
        .order_by(Offer.valid_until, Offer.id)
    )
    return list(rows)


def use(
    session: Session,
    *,
    code: str,
    customer_id: int,
    amount: Decimal,
    service_tag: str | None,
    now: datetime,
    actor_tg_id: int,
    purchase_id: int | None = None,
) -> OfferUse:
    """Use the offer ``code`` on a purchase of ``amount`` by ``customer_id``: ``check``
    then ``claim``.

    Refusals (ServiceError): offer_unknown, offer_not_yours, offer_used, offer_not_started,
    offer_expired, offer_wrong_service. The UPDATE is conditional on the offer still being
    unused, so of two concurrent uses exactly one wins. ``purchase_id`` may be given
    later, once the purchase row exists (``claim``).
    """
    used = check(
        session,
        code=code,
        customer_id=customer_id,
        amount=amount,
        service_tag=service_tag,
        now=now,
    )
    claim(session, used, now=now, actor_tg_id=actor_tg_id, purchase_id=purchase_id)
    return used


def check(
    session: Session,
    *,
    code: str,
    customer_id: int,
    amount: Decimal,
    service_tag: str | None,
    now: datetime,
) -> OfferUse:
    """What using ``code`` would give, or the refusal (``use``'s), writing nothing. Only
    ``claim`` makes it used: a caller that books the purchase in between (to claim with
    its id in one statement) must claim in the same transaction."""
    offer = session.scalar(select(Offer).where(Offer.code == code.upper()))
    if offer is None:
        raise ServiceError("offer_unknown", offer=code)
    if offer.customer_id != customer_id:
        raise ServiceError("offer_not_yours", offer=offer.code)
    if offer.used_at is not None:
        raise ServiceError("offer_used", offer=offer.code)
    if now < offer.valid_from:
        raise ServiceError("offer_not_started", offer=offer.code, since=offer.valid_from)
    if now >= offer.valid_until:
        raise ServiceError("offer_expired", offer=offer.code, until=offer.valid_until)
    if offer.service_tag is not None and offer.service_tag != service_tag:
        raise ServiceError("offer_wrong_service", offer=offer.code, service=offer.service_tag)
    discount, points = offer_worth(offer, amount)
    return OfferUse(
        offer_id=offer.id,
        code=offer.code,
        kind=OfferKind(offer.kind),
        discount=discount,
        bonus_points=points,
    )


def claim(
    session: Session,
    used: OfferUse,
    *,
    now: datetime,
    actor_tg_id: int,
    purchase_id: int | None = None,
) -> None:
    """Mark the offer ``check`` returned used (conditional on it still being unused: of
    two concurrent uses exactly one wins, the other is refused "offer_used")."""
    claimed = session.execute(
        update(Offer)
        .where(Offer.id == used.offer_id, Offer.used_at.is_(None))
        .values(
            used_at=now,
            used_by_tg_id=actor_tg_id,
            used_purchase_id=purchase_id,
            discount=used.discount if used.discount else None,
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise ServiceError("offer_used", offer=used.code)
