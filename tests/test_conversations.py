"""A member's own words reach the business (issue 20, item 11): «привет, когда можно
приехать?» used to get «Я понимаю команды: /card …» and staff never saw it."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from bot.db.models import Conversation
from bot.testing.telegram_double import buttons
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import hire, join
from tests.support.harness import OWNER_ID, App

KATE, CASHIER, STRANGER = 5401, 5402, 5403
QUESTION = "привет, когда можно приехать?"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, conversations={"max_per_hour": 3})


def _stats_line(app: App) -> str:
    report = next(t for t in reversed(app.fake.texts(OWNER_ID)) if "Customers' questions" in t)
    return next(line for line in report.splitlines() if "Customers' questions" in line)


async def _conversations(app: App) -> int:
    async with app.biz.db.read() as session:
        return int(await session.scalar(select(func.count(Conversation.id))) or 0)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_question_reaches_the_owner_and_the_answer_reaches_the_customer(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the bot's level (the database drivers' DEBUG echoes SQL)
    for ours in ("bot", "handlers", "aiogram"):
        caplog.set_level(logging.DEBUG, logger=ours)
    kate = app.user(KATE, "ru", "Kate")
    await join(app, kate, name="Катя")

    await kate.send(QUESTION)
    told = app.fake.last(KATE).text
    assert "передал ваше сообщение в Test Garage" in told and "/card" not in told
    await app.deliver()
    forwarded = app.fake.last(OWNER_ID)
    assert QUESTION in forwarded.text and "Катя" in forwarded.text
    reply = buttons(forwarded)[0]
    assert "Ответить" in reply[0]  # the owner never chose a language: the default (ru)

    await app.owner.send("/stats")
    assert _stats_line(app).endswith(": 1 (the Reply button under each)")

    await app.owner.click(reply[1], forwarded)
    assert "Катя" in app.fake.last(OWNER_ID).text
    await app.owner.send("Завтра с 9 до 18, ждём!")
    assert "Sent to <b>Катя</b>" in app.fake.last(OWNER_ID).text
    await app.deliver()
    answer = app.fake.last(KATE).text
    assert "Ответ от <b>Test Garage</b>" in answer and "Завтра с 9 до 18, ждём!" in answer

    await app.owner.send("/stats")
    assert _stats_line(app).endswith(": 0")
    await app.owner.send("просто заметка")  # the reply step is over: not sent again
    await app.deliver()
    assert "просто заметка" not in " ".join(app.fake.texts(KATE))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert QUESTION not in logged and "Завтра с 9" not in logged, "words kept out of logs"


async def test_rate_limited_per_customer_and_nothing_written_over_it(app: App) -> None:
    kate = app.user(KATE, "en", "Kate")
    await join(app, kate, name="Kate")
    for n in range(3):
        await kate.send(f"question {n}")
    assert await _conversations(app) == 1, "one open conversation gathers them"
    before = await app.counts()
    await kate.send("question 4")
    assert "3 messages in the last hour" in app.fake.last(KATE).text
    assert await app.counts() == before
    await app.deliver()
    assert "question 4" not in " ".join(app.fake.texts(OWNER_ID))
    app.clock.advance(timedelta(hours=1, seconds=1))
    await kate.send("question 5")
    assert "passed your message on" in app.fake.last(KATE).text


async def test_commands_strangers_and_long_texts_are_never_forwarded(app: App) -> None:
    kate = app.user(KATE, "en", "Kate")
    await join(app, kate, name="Kate")
    await app.deliver()
    sent_to_owner = len(app.fake.texts(OWNER_ID))
    before = await app.counts()
    await kate.send("/balanse please")
    assert "/balance" in app.fake.last(KATE).text
    await kate.send("x" * 2001)
    assert "too long" in app.fake.last(KATE).text
    await app.user(STRANGER, "en").send("hello?")
    assert "/start" in app.fake.last(STRANGER).text
    assert await app.counts() == before
    await app.deliver()
    assert len(app.fake.texts(OWNER_ID)) == sent_to_owner


async def test_staff_hear_customers_only_when_configured(app: App, db_url: str) -> None:
    cashier = app.user(CASHIER, "en", "Olga")
    await hire(app, cashier)
    kate = app.user(KATE, "en", "Kate")
    await join(app, kate, name="Kate")
    await kate.send("is the wash open?")
    await app.deliver()
    assert "is the wash open?" not in " ".join(app.fake.texts(CASHIER))
    forwarded = app.fake.last(OWNER_ID)
    await cashier.click(buttons(forwarded)[0][1], forwarded)  # a forged press by staff
    await cashier.send("yes")
    await app.deliver()
    assert "yes" not in app.fake.last(KATE).text

    on_duty = app.variant(make_settings(db_url, conversations={"to_staff": True}))
    kate2 = on_duty.user(KATE, "en", "Kate")
    await kate2.send("and the tyre shop?")
    await on_duty.deliver()
    to_cashier = on_duty.fake.last(CASHIER)
    assert "and the tyre shop?" in to_cashier.text
    olga = on_duty.user(CASHIER, "en", "Olga")
    await olga.click(buttons(to_cashier)[0][1], to_cashier)
    await olga.send("Open till 20:00")
    await on_duty.deliver()
    assert "Open till 20:00" in on_duty.fake.last(KATE).text


async def test_a_forged_reply_button_answers_and_writes_nothing(app: App) -> None:
    before = await app.counts()
    await app.owner.click("cv:999999")
    assert "no longer there" in app.fake.last(OWNER_ID).text
    await app.owner.click("cv:-1")
    assert await app.counts() == before


async def test_html_in_a_question_is_shown_as_typed(app: App) -> None:
    kate = app.user(KATE, "en", "Kate")
    await join(app, kate, name="Kate")
    await kate.send("<b>bold</b> & <script>")
    await app.deliver()
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;" in app.fake.last(OWNER_ID).text
