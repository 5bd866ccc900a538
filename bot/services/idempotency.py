"""Exactly-once effects against Telegram's at-least-once delivery.

A writing handler's effect runs in one transaction that first claims the update's key in
``processed_updates``. A re-delivered update finds the claim and gets the original result
back with ``duplicate=True``, and since the claim and the outbox rows share the
transaction, no second notification is ever queued. On PostgreSQL a concurrent duplicate
blocks on the primary key until the first commits, then fails and reads the stored result.

The hot paths (a purchase, a redemption's confirmation) run on Core statements through
``run_once_core``, as one synchronous function of the transaction's connection
(``Database.run_write``): their first statement reads the claim along with the rows they
need (``CLAIMED``), and the claim is inserted last, with its result, in the same
transaction. A
duplicate that slips past that read (a concurrent delivery on PostgreSQL) fails on the
primary key, rolls back, and gets the stored result, as with ``run_once``.

The stored result holds ids and numbers, never personal data (SPEC.md, Rules that need one
answer): a result model marks its names and phones with ``personal()``, those fields are
left out of the stored copy, and a re-delivered update answers without them. The records
are pruned after ``privacy.processed_retention_days`` (``bot.services.members.retention``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db.engine import Database
from bot.db.models import ProcessedUpdate
from bot.services.errors import ServiceError

log = logging.getLogger(__name__)

R = TypeVar("R", bound=BaseModel)

_PERSONAL = "personal"

# Keys of updates and callback queries (the handlers' claims): pruned after the retention.
UPDATE_KEY = "u:"
CALLBACK_KEY = "cb:"
MESSAGE_KEY = "m:"  # a message that came without its update (not from the dispatcher)
WEB_KEY = "w:"  # a Mini App request: the user's id and the key the page made for the write
# A conversation's one final act (a broadcast wizard's send): whichever button press or
# transport delivers it, the conversation's own id is the key, so two taps are one act.
CONVERSATION_KEY = "conv:"
TELEGRAM_KEY_PREFIXES = (UPDATE_KEY, CALLBACK_KEY, MESSAGE_KEY, WEB_KEY, CONVERSATION_KEY)


def update_key(update_id: int) -> str:
    return f"{UPDATE_KEY}{update_id}"


def callback_key(callback_id: str) -> str:
    return f"{CALLBACK_KEY}{callback_id}"


def message_key(user_id: int, message_id: int) -> str:
    return f"{MESSAGE_KEY}{user_id}:{message_id}"


def web_key(user_id: int, request_key: str) -> str:
    """A Mini App write's key: per user, so one user's key never replays another's."""
    return f"{WEB_KEY}{user_id}:{request_key}"


def new_conversation_id() -> str:
    """A fresh id for a conversation whose final act must happen once (its claim key)."""
    return secrets.token_hex(12)


def conversation_key(conversation_id: str) -> str:
    return f"{CONVERSATION_KEY}{conversation_id}"


def personal() -> Any:
    """A result field holding personal data (a name, a phone): never stored, None on replay."""
    return Field(default=None, json_schema_extra={_PERSONAL: True})


def personal_fields(model: type[BaseModel]) -> set[str]:
    return {
        name
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get(_PERSONAL)
    }


def stored_form(result: BaseModel) -> dict[str, Any]:
    """What ``processed_updates`` keeps of a result: every field but the personal ones."""
    return result.model_dump(mode="json", exclude=personal_fields(type(result)))


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
    event: str | None = None,
) -> Outcome[R]:
    """Run ``work`` in a write transaction unless ``key`` was processed before.

    ``event`` names a business event (purchase, refund, …): once committed it is logged at
    INFO with the result's stored form (ids and numbers, never names or phones)."""
    try:
        async with db.write() as session:
            existing = await session.get(ProcessedUpdate, key)
            if existing is not None and existing.result is not None:
                return Outcome(result_type.model_validate(existing.result), duplicate=True)
            claim = ProcessedUpdate(key=key, result=None, created_at=clock.now())
            session.add(claim)
            await session.flush()
            result = await work(session)
            claim.result = stored_form(result)
        if event is not None:
            log.info("%s: %s", event, claim.result)
        return Outcome(result, duplicate=False)
    except IntegrityError:
        stored = await _stored(db, key, result_type)
        if stored is None:
            raise
        return Outcome(stored, duplicate=True)


# The stored result of the key bound as ``claim_key``, for a hot path's first SELECT.
CLAIMED = (
    select(ProcessedUpdate.result)
    .where(ProcessedUpdate.key == bindparam("claim_key"))
    .scalar_subquery()
    .label("claimed")
)
_CLAIM = insert(ProcessedUpdate)


@dataclass(frozen=True)
class Replay:
    """What a hot path's ``work`` returns when its first statement found the key claimed
    (whatever that statement changed is rolled back)."""

    stored: dict[str, Any]


class _Replayed(Exception):
    def __init__(self, stored: dict[str, Any]) -> None:
        super().__init__("replayed")
        self.stored = stored


async def run_once_core(
    db: Database,
    clock: Clock,
    key: str,
    result_type: type[R],
    work: Callable[[Connection], R | Replay],
    event: str | None = None,
    guard: Callable[[Connection], None] | None = None,
) -> Outcome[R]:
    """``run_once`` on a Core connection, in one call (``Database.run_write``): ``work``
    reads ``CLAIMED`` (bound ``claim_key``) with its first statement and returns
    ``Replay`` when it is set (the transaction is then rolled back); otherwise the claim is
    inserted after the effect, with its result, in the same transaction. A refusal
    (``ServiceError``) of an update already processed gets the stored result, as the
    claim read before the work would have. ``guard`` runs before the claim and before a
    refusal leaves, in the transaction: what it raises rolls everything back (a kept
    actor whose rows changed: ``roles.still_holds``)."""

    def transaction(conn: Connection) -> tuple[R, dict[str, Any]]:
        try:
            done = work(conn)
        except ServiceError:
            if guard is not None:
                guard(conn)  # a refusal by someone who is no longer who they were
            raise
        if isinstance(done, Replay):
            raise _Replayed(done.stored)  # rolls back
        if guard is not None:
            guard(conn)
        stored = stored_form(done)
        conn.execute(_CLAIM, {"key": key, "result": stored, "created_at": clock.now()})
        return done, stored

    try:
        done, stored = await db.run_write(transaction)
    except _Replayed as replayed:
        return Outcome(result_type.model_validate(replayed.stored), duplicate=True)
    except (IntegrityError, ServiceError):
        replay = await _stored(db, key, result_type)
        if replay is None:
            raise
        return Outcome(replay, duplicate=True)
    if event is not None:
        log.info("%s: %s", event, stored)
    return Outcome(done, duplicate=False)
