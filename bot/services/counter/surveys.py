"""The post-visit survey (seeds 003, 004): "how was it?" a while after each purchase.

Seed 004 (004_235a4ca77e3bcda9.txt): "Активный сбор обратной связи от клиентов (опросы,
отзывы) и оперативное реагирование на нее"; seed 003 asks for an online assessment of
satisfaction. So: ``schedule`` (called where a purchase is booked, in its transaction)
makes one survey per purchase (``surveys.purchase_id`` is unique) and queues the question
with 1-5 buttons through the outbox, not before ``survey.delay_minutes``; ``answer`` takes
one score per survey (a conditional UPDATE: a second answer is refused) and, at or below
``survey.low_score_threshold``, alerts every owner at once with the customer's card and the
staff member who served them (the purchase's author); ``comment`` takes one optional
comment, also sent to the owners after a low score. CSAT is ``bot.services.insight.satisfaction``.

Customers ``contact.reach`` refuses (not in the bot, erased, blocked the bot) are not
asked, nor (with ``survey.needs_opt_in``, the default) those who did not turn offers and
news on: the delivery's kind table counts a survey as no advertising (no opt-in, no weekly
cap), and this switch lets the owner be stricter than that. The question waits for the
end of the quiet hours when the ``survey`` kind says so (it does by default).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

import scoring
from bot.db.models import (
    Customer,
    CustomerScore,
    OutboxMessage,
    OutboxState,
    Purchase,
    Staff,
    Survey,
)
from bot.services.context import Business
from bot.services.counter import recommend
from bot.services.counter.books import Account, Books
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, run_once
from bot.services.outbox.contact import ContactVerdict, after_quiet_hours, reach_on
from bot.services.outbox.deferred_text import Deferred
from bot.services.outbox.rows import enqueue, kind_rule, outbox_row
from bot.services.people import complaints, conversations
from bot.services.people.managers import first_recipients
from bot.services.people.owners import owners_in
from scoring.scales import SURVEY_SCORES

SURVEY_PREFIX = "sv"  # callback data: sv:<survey id>:<score>
SCORES = SURVEY_SCORES
ASK = "customer.survey_ask"
KIND = "survey"  # the outbox kind ([outbox.kinds.survey]: priority, deadline, quiet hours)
ALERT = "owner.survey_alert"


def question_source(purchase_id: int) -> str:
    """The outbox ``source`` of the question about one purchase."""
    return f"survey-q:{purchase_id}"


def alert_source(survey_id: int) -> str:
    """The outbox ``source`` of the owners' alert about one survey's answer."""
    return f"survey-alert:{survey_id}"


async def withdraw_question(session: AsyncSession, purchase_id: int) -> int:
    """A purchase refunded in full is not asked about: its question, if still waiting to
    go out, is cancelled (a question already sent stays answerable). Returns how many."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.source == question_source(purchase_id),
            OutboxMessage.state == OutboxState.PENDING,
        )
        .values(state=OutboxState.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def survey_keyboard(labels: list[str], survey_id: int) -> dict[str, object]:
    """The 1-5 buttons of one survey (``labels``: one per score, lowest first)."""
    return {
        "inline_keyboard": [
            [
                {"text": label, "callback_data": f"{SURVEY_PREFIX}:{survey_id}:{score}"}
                for label, score in zip(labels, SCORES, strict=True)
            ]
        ]
    }


def _wanted(biz: Business, customer: Account) -> bool:
    """The survey's own switches; reachability is ``contact.reach``'s."""
    settings = biz.settings.survey
    return settings.enabled and (customer.marketing_opt_in or not settings.needs_opt_in)


_INSERT_SURVEY = insert(Survey).returning(Survey.id)


def schedule(books: Books, customer: Account, purchase: Purchase) -> int | None:
    """Queue the survey of a just-booked ``purchase`` in its write transaction (``books``);
    its id, or None when this customer is not asked.

    Who may be sent a survey and when is ``bot.services.outbox.contact``'s (kind ``survey``: not
    in the bot, erased or blocked: not asked; quiet hours: it waits for the morning);
    ``contact.queue_for`` takes no delay, so its two rules are called here around the
    delay. Costs the purchase one statement (the survey's insert); the question joins the
    purchase's outbox rows.
    """
    biz, now = books.biz, books.now
    if not _wanted(biz, customer) or customer.telegram_id is None:
        return None
    # By the shipped kind table no marketing, so the account's row decides without a
    # query; an owner who made it marketing gets the full rule (opt-in, weekly cap).
    if reach_on(books.conn, biz, customer, now, kind=KIND) is not ContactVerdict.OK:
        return None
    ask_at = now + timedelta(minutes=biz.settings.survey.delay_minutes)
    if kind_rule(biz.settings.outbox.kinds, KIND).waits_for_morning:
        ask_at = after_quiet_hours(biz, ask_at)
    survey_id = books.conn.scalar(
        _INSERT_SURVEY,
        {
            "purchase_id": purchase.id,
            "customer_id": customer.id,
            "staff_tg_id": purchase.author_tg_id,
            "outlet_code": purchase.outlet_code,
            "created_at": now,
            "ask_at": ask_at,
        },
    )
    assert survey_id is not None
    locale = customer.language
    labels = [biz.texts.plain(locale, "customer.survey_button", score=s) for s in SCORES]
    books.queue(
        outbox_row(
            now=now,
            chat_id=customer.telegram_id,
            customer_id=customer.id,
            text=Deferred(locale, ASK, {"amount": purchase.amount, "day": now}),
            reply_markup=survey_keyboard(labels, survey_id),
            kind=KIND,
            source=question_source(purchase.id),
            not_before=ask_at,
            kinds=biz.settings.outbox.kinds,
        )
    )
    return int(survey_id)


class SurveyAnswered(BaseModel):
    survey_id: int
    score: int
    low: bool
    ask_comment: bool
    ask_nps: bool = False  # "would you recommend us?" follows (``recommend``)


class SurveyCommented(BaseModel):
    survey_id: int
    low: bool


async def _own_survey(
    session: AsyncSession, biz: Business, tg_id: int, survey_id: int, now: datetime
) -> tuple[Survey, Customer]:
    """The survey ``survey_id`` of the customer ``tg_id``, already asked and still open."""
    row = (
        await session.execute(
            select(Survey, Customer)
            .join(Customer, Customer.id == Survey.customer_id)
            .where(Survey.id == survey_id, Customer.telegram_id == tg_id)
        )
    ).one_or_none()
    if row is None or now < row[0].ask_at:
        raise ServiceError("survey_unknown")
    if now >= row[0].ask_at + timedelta(days=biz.settings.survey.answer_days):
        raise ServiceError("survey_closed")
    return row[0], row[1]


async def _fill_once(
    session: AsyncSession,
    survey: Survey,
    empty: InstrumentedAttribute[Any],
    refusal: str,
    **values: Any,
) -> None:
    """Write ``values`` on ``survey`` only while its ``empty`` column is still empty: a
    second answer (or comment), even a concurrent one, is refused with ``refusal``."""
    claimed = await session.execute(
        update(Survey)
        .where(Survey.id == survey.id, empty.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise ServiceError(refusal)


async def answer(
    biz: Business, tg_id: int, key: str, survey_id: int, score: int
) -> Outcome[SurveyAnswered]:
    """One score per survey; a low one alerts the owners in the same transaction."""
    if score not in SCORES:
        raise ServiceError("survey_unknown")
    now = biz.clock.now()
    settings = biz.settings.survey

    async def work(session: AsyncSession) -> SurveyAnswered:
        survey, customer = await _own_survey(session, biz, tg_id, survey_id, now)
        await _fill_once(
            session, survey, Survey.score, "survey_answered", score=score, answered_at=now
        )
        low = score <= settings.low_score_threshold
        if low:
            await _alert_owners(session, biz, survey, customer, score, None, now)
        return SurveyAnswered(
            survey_id=survey.id, score=score, low=low, ask_comment=settings.ask_comment,
            ask_nps=await recommend.ask_on(session, biz, survey, now),
        )  # fmt: skip

    return await run_once(biz.db, biz.clock, key, SurveyAnswered, work, event="survey")


def clean_comment(text: str | None, maximum: int) -> str:
    """A comment as typed (lines kept), trimmed; refused when empty or too long."""
    comment = (text or "").strip()
    if not comment:
        raise ServiceError("survey_comment_empty")
    if len(comment) > maximum:
        raise ServiceError("survey_comment_too_long", maximum=maximum)
    return comment


async def comment(
    biz: Business, tg_id: int, key: str, survey_id: int, text: str | None
) -> Outcome[SurveyCommented]:
    """One comment per answered survey; after a low score it reaches the owners too."""
    settings = biz.settings.survey
    body = clean_comment(text, settings.max_comment_length)
    now = biz.clock.now()

    async def work(session: AsyncSession) -> SurveyCommented:
        survey, customer = await _own_survey(session, biz, tg_id, survey_id, now)
        if survey.score is None:
            raise ServiceError("survey_unknown")
        await _fill_once(
            session, survey, Survey.comment, "survey_commented", comment=body, commented_at=now
        )
        low = survey.score <= settings.low_score_threshold
        if low:
            await _alert_owners(session, biz, survey, customer, survey.score, body, now)
        return SurveyCommented(survey_id=survey.id, low=low)

    return await run_once(biz.db, biz.clock, key, SurveyCommented, work, event="survey_comment")


async def _alert_owners(
    session: AsyncSession,
    biz: Business,
    survey: Survey,
    customer: Customer,
    score: int,
    comment_text: str | None,
    now: datetime,
) -> None:
    """Queue the alert to every owner (config and claimed), in the business's language.

    Like every message to staff it names the customer by card code only, with the card's
    figures, their value and strategy (the last scoring), the purchase, who served them
    and the score; name, phone and the comment are one tap away (``/client <code>``, read
    live, so /forget leaves nothing behind in the outbox). The score opens a complaint
    (``complaints``: the Reply and Resolved buttons), which the comment's alert shares.
    The rows carry no customer id: a 403 from an owner's chat must not mark the customer
    unreachable.
    """
    if survey.conversation_id is None:
        opened = await conversations.open_in(session, biz, customer, complaints.COMPLAINT, now)
        survey.conversation_id = opened.id
    purchase = await session.get(Purchase, survey.purchase_id)
    served_by = await session.scalar(
        select(Staff.name).where(Staff.telegram_id == survey.staff_tg_id)
    )
    owners = await owners_in(session, biz)
    locale = biz.texts.default_locale
    body = biz.texts.render(
        locale,
        ALERT,
        **await _labels(session, customer.id, locale),
        card_code=customer.card_code,
        balance=customer.balance,
        score=score,
        commented=comment_text is not None,
        purchase=purchase,
        staff_name=served_by,
        staff_tg_id=survey.staff_tg_id,
        owner_served=survey.staff_tg_id in owners,
    )
    buttons = complaints.complaint_keyboard(
        biz.texts.plain(locale, "owner.button_reply"),
        biz.texts.plain(locale, "owner.button_resolved"),
        survey.conversation_id,
    )
    recipients, _ = await first_recipients(session, customer.id, owners)  # the manager first
    for owner in recipients:
        enqueue(
            session,
            outbox_row(now=now, chat_id=owner, text=body, source=alert_source(survey.id),
                       reply_markup=buttons, kinds=biz.settings.outbox.kinds),
        )  # fmt: skip


async def _labels(session: AsyncSession, customer_id: int, locale: str) -> dict[str, str | None]:
    """The customer's value and strategy title from the last scoring (None: not scored)."""
    score = await session.get(CustomerScore, customer_id)
    words = scoring.STRATEGY_TEXT.get(score.strategy) if score is not None else None
    return {
        "value": score.value if score is not None else None,
        "strategy": getattr(words, f"title_{locale}") if words is not None else None,
    }
