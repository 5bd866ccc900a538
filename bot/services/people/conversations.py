"""A customer's conversation with the business: their words reach the owners (and staff,
by ``[conversations] to_staff``) with a Reply button; the answer reaches the customer.

A conversation opens from a member's free text (``source`` "message"); ``open_in`` is the
one entry point, so a low survey score can open one too (``source`` "survey", from the
counter's survey code, which may import this module: people sits below counter). The
words themselves are never stored in these tables nor logged: they travel only in the
messages queued to the recipients (the outbox), as every other message does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Conversation, ConversationMessage, Customer, Staff
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, personal, run_once
from bot.services.outbox.rows import enqueue, outbox_row
from bot.services.people.chat_settings import language_in
from bot.services.people.managers import first_recipients, manages_conversation
from bot.services.people.owners import owners_in
from bot.services.people.roles import Actor, Role

CONVERSATION_PREFIX = "cv"  # callback data of the Reply button: cv:<conversation id>
RATE_WINDOW = timedelta(hours=1)  # [conversations] max_per_hour counts within it


class Forwarded(BaseModel):
    conversation_id: int
    recipients: int


class Answered(BaseModel):
    conversation_id: int
    customer_name: str | None = personal()


async def recipients_in(session: AsyncSession, biz: Business) -> set[int]:
    """Who hears customers: the owners, and every active staff member if configured."""
    ids = await owners_in(session, biz)
    if biz.settings.conversations.to_staff:
        staff = await session.scalars(select(Staff.telegram_id).where(Staff.active.is_(True)))
        ids |= {int(s) for s in staff}
    return ids


def reply_keyboard(label: str, conversation_id: int) -> dict[str, object]:
    return {
        "inline_keyboard": [
            [{"text": label, "callback_data": f"{CONVERSATION_PREFIX}:{conversation_id}"}]
        ]
    }


async def open_in(
    session: AsyncSession, biz: Business, customer: Customer, source: str, now: datetime
) -> Conversation:
    """The customer's unanswered conversation of this ``source``, or a new one; records
    their message (a complaint and a question stay apart: each is answered and counted
    on its own)."""
    conversation = await session.scalar(
        select(Conversation)
        .where(
            Conversation.customer_id == customer.id,
            Conversation.source == source,
            Conversation.first_answer_at.is_(None),
            Conversation.resolved_at.is_(None),
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )
    if conversation is None:
        conversation = Conversation(
            customer_id=customer.id, source=source, opened_at=now, last_message_at=now
        )
        session.add(conversation)
        await session.flush()
    conversation.last_message_at = now
    session.add(
        ConversationMessage(
            conversation_id=conversation.id, at=now, from_customer=True, author_tg_id=None
        )
    )
    return conversation


async def tell_recipients(
    session: AsyncSession, biz: Business, customer: Customer, conversation: Conversation,
    template: str, **context: object,
) -> int:  # fmt: skip
    """Queue ``template`` (rendered per recipient's language) with the Reply button: to
    the customer's personal manager first (``managers.first_recipients``), then the rest."""
    now = biz.clock.now()
    recipients, manager = await first_recipients(
        session, customer.id, await recipients_in(session, biz)
    )
    for chat_id in recipients:
        locale = biz.texts.locale_for(await language_in(session, chat_id))
        label = biz.texts.plain(locale, "owner.button_reply")
        text = biz.texts.render(
            locale, template, name=customer.name, card_code=customer.card_code,
            manager=manager.name if manager else None, **context,
        )  # fmt: skip
        enqueue(
            session,
            outbox_row(
                now=now, chat_id=chat_id, text=text, kinds=biz.settings.outbox.kinds,
                reply_markup=reply_keyboard(label, conversation.id),
            ),
        )  # fmt: skip
    return len(recipients)


async def _recent_from(session: AsyncSession, customer_id: int, since: datetime) -> int:
    count = await session.scalar(
        select(func.count(ConversationMessage.id))
        .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
        .where(
            Conversation.customer_id == customer_id,
            ConversationMessage.from_customer.is_(True),
            ConversationMessage.at > since,
        )
    )
    return int(count or 0)


async def forward_from_customer(
    biz: Business, key: str, tg_id: int, words: str
) -> Outcome[Forwarded]:
    """A member's free text: to the owners (and staff by config), rate-limited per
    customer; refused (nothing written) over ``max_per_hour`` or ``max_length``."""
    settings = biz.settings.conversations
    if len(words) > settings.max_length:
        raise ServiceError("conversation_too_long", maximum=settings.max_length)
    now = biz.clock.now()

    async def work(session: AsyncSession) -> Forwarded:
        customer = await session.scalar(select(Customer).where(Customer.telegram_id == tg_id))
        if customer is None:
            raise ServiceError("not_member")
        if await _recent_from(session, customer.id, now - RATE_WINDOW) >= settings.max_per_hour:
            raise ServiceError("conversation_rate_limited", limit=settings.max_per_hour)
        conversation = await open_in(session, biz, customer, "message", now)
        told = await tell_recipients(
            session, biz, customer, conversation, "owner.customer_question", words=words
        )
        return Forwarded(conversation_id=conversation.id, recipients=told)

    return await run_once(biz.db, biz.clock, key, Forwarded, work)


async def may_answer(biz: Business, actor: Actor, conversation_id: int | None = None) -> bool:
    """Owners always; staff when customers' questions go to them too, or when they are
    the personal manager of the conversation's customer."""
    if actor.role == Role.OWNER or (
        actor.role == Role.STAFF and biz.settings.conversations.to_staff
    ):
        return True
    if actor.role != Role.STAFF or conversation_id is None:
        return False
    async with biz.db.read() as session:
        return await manages_conversation(session, actor.tg_id, conversation_id)


async def answer(
    biz: Business, actor: Actor, key: str, conversation_id: int, words: str
) -> Outcome[Answered]:
    """The answer goes to the customer (in their language, from the business); the
    conversation counts as answered from its first answer."""
    if not await may_answer(biz, actor, conversation_id):
        raise ServiceError("not_available")
    if not words.strip() or len(words) > biz.settings.conversations.max_length:
        raise ServiceError("conversation_too_long", maximum=biz.settings.conversations.max_length)
    now = biz.clock.now()

    async def work(session: AsyncSession) -> Answered:
        conversation = await session.get(Conversation, conversation_id)
        customer = None
        if conversation is not None:
            customer = await session.get(Customer, conversation.customer_id)
        if conversation is None or customer is None or customer.telegram_id is None:
            raise ServiceError("conversation_gone")
        if conversation.first_answer_at is None:
            conversation.first_answer_at, conversation.answered_by = now, actor.tg_id
        conversation.last_message_at = now
        session.add(
            ConversationMessage(
                conversation_id=conversation.id, at=now, from_customer=False,
                author_tg_id=actor.tg_id,
            )
        )  # fmt: skip
        text = biz.texts.render(
            biz.texts.locale_for(customer.language), "customer.business_answer",
            business=biz.settings.business.name, words=words,
        )  # fmt: skip
        enqueue(
            session,
            outbox_row(
                now=now, chat_id=customer.telegram_id, customer_id=customer.id, text=text,
                kinds=biz.settings.outbox.kinds,
            ),
        )  # fmt: skip
        return Answered(conversation_id=conversation.id, customer_name=customer.name)

    return await run_once(biz.db, biz.clock, key, Answered, work)


async def customer_name(biz: Business, conversation_id: int) -> str | None:
    """Whom an answer to this conversation goes to (their name or card code)."""
    async with biz.db.read() as session:
        row = (
            await session.execute(
                select(Customer.name, Customer.card_code)
                .join(Conversation, Conversation.customer_id == Customer.id)
                .where(Conversation.id == conversation_id)
            )
        ).first()
    return None if row is None else row[0] or row[1]


async def unanswered(session: AsyncSession) -> int:
    """Conversations nobody has answered yet (for /stats)."""
    count = await session.scalar(
        select(func.count(Conversation.id)).where(
            Conversation.first_answer_at.is_(None), Conversation.resolved_at.is_(None)
        )
    )
    return int(count or 0)
