"""A low score as a complaint the owner answers and closes, and the "would you recommend
us?" question beside satisfaction (seed 004), driven through real updates.

Seed 004 (004_235a4ca77e3bcda9.txt): "Активный сбор обратной связи от клиентов (опросы,
отзывы) и оперативное реагирование на нее"; among the key metrics "количество
рекомендаций от существующих клиентов".
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db.models import Conversation, Survey
from bot.testing.telegram_double import Call, ChatUser, buttons, find_button
from tests.conftest import BACKENDS
from tests.support.flows import hire, join
from tests.support.harness import OWNER_ID, App
from tests.support.job_rows import score

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

CUSTOMER, OTHER, CASHIER, CASHIER2 = 5101, 5102, 6101, 6102
DAY = timedelta(days=1)  # a day later: the question is out, never in quiet hours


async def _setup(app: App, user_id: int = CUSTOMER, name: str = "Ivan") -> tuple[ChatUser, str]:
    user = app.user(user_id, "en", name)
    customer = await join(app, user, name=name)
    await user.send("/settings")
    shown = app.fake.last(user_id)
    await user.click(find_button(shown, "Send me offers"), shown)
    return user, customer.card_code


async def _rated(app: App, user: ChatUser, cashier: ChatUser, card: str, rating: str) -> None:
    await cashier.send(f"/purchase {card} 1000")
    app.clock.advance(DAY)
    await app.deliver()
    question = app.fake.last(user.user_id)
    await user.click(find_button(question, rating), question)
    await user.send("/cancel")  # no comment


def _ask(app: App, chat: int) -> Call:
    """The newest "would you recommend us?" question in ``chat``."""
    return [c for c in app.fake.sent(chat) if "recommend" in (c.text or "")][-1]


async def _surveys(app: App) -> list[Survey]:
    async with app.biz.db.read() as session:
        return list(await session.scalars(select(Survey).order_by(Survey.id)))


def _line(app: App, starts: str) -> str:
    report = next(t for t in reversed(app.fake.texts(OWNER_ID)) if starts in t)
    return next(line for line in report.splitlines() if line.startswith(starts))


async def test_the_owner_answers_a_low_score_and_marks_it_resolved(app: App) -> None:
    """«оперативное реагирование на нее»: the alert names the customer's value and
    strategy, the owner answers from it, closes it, and /stats counts it with the time to
    the first answer (30 minutes here)."""
    ivan, card = await _setup(app)
    cashier = app.user(CASHIER, "en", "Olga")
    await hire(app, cashier)
    customer = await app.customer(card_code=card)
    assert customer is not None
    await score(app.biz.db, customer.id, app.clock.now(), value="high",
                strategy="reward_and_invest")  # fmt: skip
    await cashier.send(f"/purchase {card} 1500")
    app.clock.advance(DAY)
    await app.deliver()
    question = app.fake.last(CUSTOMER)
    await ivan.click(find_button(question, "2"), question)
    await app.deliver()
    alert = app.fake.last(OWNER_ID)
    assert "Низкая оценка <b>2</b>" in alert.text
    assert "Ценность: высокая; стратегия: Вознаграждать и вкладывать" in alert.text, alert.text
    assert [label for label, _ in buttons(alert)] == ["↩ Ответить", "✅ Решено"]
    await ivan.send("Long wait")  # the comment's alert belongs to the same complaint
    await app.deliver()
    assert buttons(app.fake.last(OWNER_ID)) == buttons(alert)

    await app.owner.send("/stats")
    assert _line(app, "Complaints") == (
        "Complaints (low survey scores): open now 1; in the period received 1, resolved 0; "
        "time to the first answer: —"
    )

    app.clock.advance(timedelta(minutes=30))
    await app.owner.click(find_button(alert, "Ответить"), alert)
    await app.owner.send("Простите нас, <b>исправим</b>!")
    await app.deliver()
    answer = app.fake.last(CUSTOMER).text
    assert "Test Garage" in answer and "Простите нас, &lt;b&gt;исправим&lt;/b&gt;!" in answer

    await app.owner.click(find_button(alert, "Решено"), alert)
    assert f"The complaint from card {card} is marked resolved." == app.fake.last(OWNER_ID).text
    await app.owner.send("/stats")
    line = _line(app, "Complaints")
    assert "open now 0; in the period received 1, resolved 1" in line, line
    assert "median 30 minutes (1 of 1 answered)" in line, line

    before = await app.counts(include_audit=True)
    await app.owner.click(find_button(alert, "Решено"), alert)  # a second press
    assert "already marked resolved" in app.fake.calls("answerCallbackQuery")[-1].params["text"]
    assert await app.counts(include_audit=True) == before


async def test_nobody_else_resolves_and_forged_ids_write_nothing(app: App) -> None:
    """Only an owner closes a complaint, and only a complaint: a customer's question, an
    unknown id, a customer or a cashier pressing the button write nothing."""
    ivan, card = await _setup(app)
    cashier = app.user(CASHIER, "en", "Olga")
    await hire(app, cashier)
    await _rated(app, ivan, cashier, card, "1")
    await ivan.send("когда вы открыты?")  # a question, not a complaint
    async with app.biz.db.read() as session:
        rows = {c.source: c.id for c in await session.scalars(select(Conversation))}
    assert set(rows) == {"survey", "message"}
    before = await app.counts()  # (a refused press by a non-owner is audited, as any)
    for forged in (f"cz:{rows['message']}", "cz:424242", "cz:0", "cz:x", "cz:99999999999999999999"):
        await app.owner.click(forged)
    for user in (ivan, cashier):
        await user.click(f"cz:{rows['survey']}")
    assert await app.counts() == before
    async with app.biz.db.read() as session:
        assert [c.resolved_at for c in await session.scalars(select(Conversation))] == [None, None]


async def test_recommend_question_once_per_interval_nps_by_hand(app: App) -> None:
    """«количество рекомендаций от существующих клиентов»: after the score comes "would
    you recommend us?" 0-10, at most once per survey.nps_every_months (6) per customer.
    Answers 10 and 9 (Olga's customers) and 3 (Anna's): promoters 2, detractors 1,
    NPS = (2 - 1) / 3 = 33; Olga 100, Anna -100."""
    ivan, card = await _setup(app)
    petr, card2 = await _setup(app, OTHER, "Petr")
    olga, anna = app.user(CASHIER, "en", "Olga"), app.user(CASHIER2, "en", "Anna")
    await hire(app, olga)
    await hire(app, anna)
    await _rated(app, ivan, olga, card, "5")
    ask = _ask(app, CUSTOMER)
    assert "recommend Test Garage" in (ask.text or "")
    assert [label for label, _ in buttons(ask)] == [str(n) for n in range(11)]
    await ivan.click(find_button(ask, "10"), ask)
    assert "Thank you for your answer: 10 of 10" in app.fake.last(CUSTOMER).text

    await _rated(app, ivan, anna, card, "4")  # a day later: not asked again
    assert _ask(app, CUSTOMER) is ask
    app.clock.advance(timedelta(days=183))  # six months on: asked again
    await _rated(app, ivan, anna, card, "2")
    again = _ask(app, CUSTOMER)
    assert again is not ask
    await ivan.click(find_button(again, "3"), again)
    await _rated(app, petr, olga, card2, "5")
    await petr.click(find_button(_ask(app, OTHER), "9"), _ask(app, OTHER))
    await app.owner.send("/stats 365")
    line = _line(app, "Would recommend us")
    assert ": 33 from 3 answers (promoters 2, passive 0, detractors 1)" in line, line
    await app.owner.send("/stats staff 365")
    by_staff = app.fake.last(OWNER_ID).text
    assert "• Olga: 100% of 2 answers, average 5.0; NPS 100 from 2 answers" in by_staff, by_staff
    assert "• Anna: 50% of 2 answers, average 3.0; NPS -100 from 1 answer" in by_staff, by_staff
    asked = [s.nps_asked_at is not None for s in await _surveys(app)]
    assert asked == [True, False, True, True]


async def test_bad_recommend_answers_write_nothing(app: App) -> None:
    """A score of 11 or -1, someone else's survey, a survey not asked, a second press or
    a late answer: refused, nothing written."""
    ivan, card = await _setup(app)
    petr, _ = await _setup(app, OTHER, "Petr")
    cashier = app.user(CASHIER, "en", "Olga")
    await hire(app, cashier)
    await _rated(app, ivan, cashier, card, "5")
    ask = _ask(app, CUSTOMER)
    await _rated(app, ivan, cashier, card, "5")  # survey 2: not asked the question
    before = await app.counts()
    for forged in ("np:1:11", "np:1:-1", "np:1:x", "np:2:5", "np:424242:5", "np:0:5"):
        await ivan.click(forged)
    await petr.click("np:1:7")  # someone else's
    assert await app.counts() == before
    assert [s.nps_score for s in await _surveys(app)] == [None, None]
    await ivan.click(find_button(ask, "8"), ask)
    after = await app.counts()
    await ivan.click(find_button(ask, "2"), ask)  # a second press
    assert "already answered" in app.fake.calls("answerCallbackQuery")[-1].params["text"]
    assert await app.counts() == after
    assert [s.nps_score for s in await _surveys(app)] == [8, None]
