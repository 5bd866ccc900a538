"""Exactly-once effects against Telegram's at-least-once delivery.

A writing handler's effect runs in one transaction that first claims the update's key in
``processed_updates``. A re-delivered update finds the claim and gets the original result
back with ``duplicate=True``, and since the claim and the outbox rows share the
transaction, no second notification is ever queued. On PostgreSQL a concurrent duplicate
blocks on the primary key until the first commits, then fails and reads the stored result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import ProcessedUpdate

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Outcome(Generic[R]):
    result: R
    duplicate: bool


async def _stored(db: Database, key: str, result_type: type[R]) -> R | None:
    async with db.read() as session:
        row = await session.scalar(select(ProcessedUpdate).where(ProcessedUpdate.key == key))
    if row is None or row.result is None:
        return None
    return result_type.model_validate(row.result)


async def run_once(
    db: Database,
    clock: Clock,
    key: str,
    result_type: type[R],
    work: Callable[[AsyncSession], Awaitable[R]],
) -> Outcome[R]:
    """Run ``work`` in a write transaction unless ``key`` was processed before."""
    try:
        async with db.write() as session:
            existing = await session.get(ProcessedUpdate, key)
            if existing is not None and existing.result is not None:
                return Outcome(result_type.model_validate(existing.result), duplicate=True)
            claim = ProcessedUpdate(key=key, result=None, created_at=clock.now())
            session.add(claim)
            await session.flush()
            result = await work(session)
            claim.result = result.model_dump(mode="json")
            return Outcome(result, duplicate=False)
    except IntegrityError:
        stored = await _stored(db, key, result_type)
        if stored is None:
            raise
        return Outcome(stored, duplicate=True)
