"""Raw rows for the scheduled-job tests: customers as the sign-up leaves them, services,
readings and scores written straight to the database."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from bot.db.engine import Database
from bot.db.models import (
    CampaignMember,
    Customer,
    CustomerScore,
    LedgerEntry,
    MileageReport,
    Offer,
    OutboxMessage,
    Purchase,
    Visit,
    unix_seconds,
)

CHAT_BASE = 900_000


async def member(
    db: Database,
    n: int,
    now: datetime,
    *,
    language: str = "en",
    name: str = "Ivan",
    birthday: date | None = None,
    profile: dict[str, Any] | None = None,
    **fields: Any,
) -> Customer:
    """A signed-up customer who opted in to marketing (chat id ``CHAT_BASE + n``)."""
    values: dict[str, Any] = {
        "telegram_id": CHAT_BASE + n,
        "card_code": f"J{n:05d}",
        "name": name,
        "name_key": name.casefold(),
        "language": language,
        "balance": 0,
        "created_at": now,
        "consent_at": now,
        "marketing_opt_in": True,
        "birthday": birthday,
        "profile": profile,
    }
    values.update(fields)
    async with db.write() as session:
        customer = Customer(**values)
        session.add(customer)
    return customer


async def service(
    db: Database, customer_id: int, tag: str, at: datetime, *, visit: bool = False
) -> None:
    async with db.write() as session:
        if visit:
            session.add(
                Visit(
                    customer_id=customer_id,
                    author_tg_id=1,
                    outlet_code="main",
                    service_tag=tag,
                    created_at=at,
                )
            )
        else:
            session.add(
                Purchase(
                    customer_id=customer_id,
                    author_tg_id=1,
                    outlet_code="main",
                    amount=Decimal("3000"),
                    refunded_amount=Decimal("0"),
                    service_tag=tag,
                    points_earned=0,
                    points_redeemed=0,
                    created_at=at,
                )
            )


async def reading(db: Database, customer_id: int, km: int, at: datetime, monthly_km: int) -> None:
    async with db.write() as session:
        session.add(
            MileageReport(
                customer_id=customer_id,
                km=km,
                reported_at=at,
                reported_ts=unix_seconds(at),
                monthly_km=monthly_km,
            )
        )


async def score(db: Database, customer_id: int, now: datetime, **fields: Any) -> None:
    values: dict[str, Any] = {
        "customer_id": customer_id,
        "computed_at": now,
        "purchases": 1,
        "total_spend": Decimal("1000"),
        "average_check": Decimal("1000"),
        "days_since_first": 0,
        "days_since_last": 0,
        "recency": 3,
        "frequency": 3,
        "monetary": 3,
        "rfm_code": "333",
        "segment": "x",
        "lifecycle": "repeat",
        "lapsed": False,
        "value": "medium",
        "strategy": "manage",
        "service": "standard",
        "clv": None,
        "p_alive": None,
        "expected_purchases": None,
        "clv_method": "none",
    }
    values.update(fields)
    async with db.write() as session:
        session.add(CustomerScore(**values))


async def outbox(db: Database, customer_id: int | None = None) -> list[OutboxMessage]:
    async with db.read() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if customer_id is not None:
            query = query.where(OutboxMessage.customer_id == customer_id)
        return list(await session.scalars(query))


async def members(db: Database) -> list[CampaignMember]:
    async with db.read() as session:
        return list(await session.scalars(select(CampaignMember).order_by(CampaignMember.id)))


async def offers_of(db: Database, customer_id: int) -> list[Offer]:
    async with db.read() as session:
        return list(await session.scalars(select(Offer).where(Offer.customer_id == customer_id)))


async def ledger_of(db: Database, customer_id: int) -> list[LedgerEntry]:
    async with db.read() as session:
        return list(
            await session.scalars(select(LedgerEntry).where(LedgerEntry.customer_id == customer_id))
        )
