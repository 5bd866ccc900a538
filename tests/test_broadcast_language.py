"""The /broadcast wizard asks for the owner's text in each language its audience reads;
each customer gets the text in their language, or the owner's when it was skipped.

"an English-speaking customer gets the owner's Russian broadcast with only the offer part
in English. Build: … a broadcast text per language (or the owner told which customers get
which language)"
"""

from __future__ import annotations

import pytest
from sqlalchemy import update

from bot.config import Settings
from bot.db.models import Customer
from bot.testing.telegram_double import find_button
from tests.conftest import BACKENDS, make_settings
from tests.support.flows import join
from tests.support.harness import OWNER_ID, App

PEOPLE = {5001: ("Ann", "en"), 5002: ("Борис", "ru"), 5003: ("Вера", "ru")}


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(
        db_url,
        campaigns={"progress_seconds": 0.01, "holdout_percent": 0},
        contact={"quiet_hours": ""},
    )


async def audience(app: App) -> None:
    for chat, (name, lang) in PEOPLE.items():
        customer = await join(app, app.user(chat, lang, name), name=name)
        async with app.biz.db.write() as session:
            await session.execute(
                update(Customer).where(Customer.id == customer.id).values(marketing_opt_in=True)
            )


async def press(app: App, label: str) -> None:
    call = app.fake.last(OWNER_ID)
    await app.owner.click(find_button(call, label), call)


async def own_text(app: App, body: str) -> str:
    await app.owner.send("/broadcast")
    await press(app, "Next")
    await press(app, "Write my own text")
    await app.owner.send(body)
    return app.fake.last(OWNER_ID).text


def received(app: App, chat: int, marker: str) -> list[str]:
    return [t for t in app.fake.texts(chat) if marker in t]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_each_customer_gets_the_text_in_their_language(app: App) -> None:
    await audience(app)
    asked = await own_text(app, "Hello, {{ name }}! You have {{ balance }}.")
    assert "Recipients who read Russian: 2 of 3" in asked, asked
    await app.owner.send("Здравствуйте, {{ name }}! У вас {{ balance }}.")
    await press(app, "Bonus points")
    await app.owner.send("50")
    await press(app, "7 days")
    confirm = app.fake.last(OWNER_ID).text
    previews = "\n".join(app.fake.texts(OWNER_ID)[-5:])  # one per language, before it
    assert "Hello, Ann! You have" in previews and "Здравствуйте, Борис! У вас" in previews
    assert "2 read Russian and get the text in Russian" in confirm, confirm
    assert "1 read English and get the text in English" in confirm, confirm
    await press(app, "Send")
    await app.deliver()
    await app.dp["background"].wait()
    [ann] = received(app, 5001, "Hello, Ann")
    assert "+50 points" in ann and "Здравствуйте" not in ann
    for chat in (5002, 5003):
        [text] = received(app, chat, "Здравствуйте")
        assert PEOPLE[chat][0] in text and "баллов" in text and "Hello" not in text
        assert "+50 баллов" in text  # the offer line in the customer's language, as before


async def test_skipped_language_gets_the_owners_text_and_the_confirmation_says_so(
    app: App,
) -> None:
    await audience(app)
    await own_text(app, "Sale on tyres, {{ name }}!")
    await press(app, "Send them the text in English")
    await press(app, "No offer")
    confirm = app.fake.last(OWNER_ID).text
    assert "2 read Russian and get the text in English" in confirm, confirm
    await press(app, "Send")
    await app.deliver()
    await app.dp["background"].wait()
    for chat, (name, _) in PEOPLE.items():
        assert len(received(app, chat, f"Sale on tyres, {name}!")) == 1


async def test_hostile_language_texts_write_nothing_and_are_escaped(app: App) -> None:
    await audience(app)
    before = await app.counts()
    await own_text(app, "Hi {{ name }}")
    await app.owner.send("я" * 3001)
    assert "too long" in app.fake.last(OWNER_ID).text
    await app.owner.send("{{ name")
    assert "cannot be used" in app.fake.last(OWNER_ID).text
    question = next(c for c in reversed(app.fake.sent()) if "Recipients who read" in c.text)
    await app.owner.click(find_button(question, "Send them the text in English"), question)
    assert "Add an offer?" in app.fake.last(OWNER_ID).text  # then the owner gives up
    await app.owner.send("/cancel")
    assert await app.counts() == before

    await own_text(app, "Hi {{ name }}")
    await app.owner.send('<a href="https://evil">Привет</a> & <b>{{ name }}')
    await press(app, "No offer")
    preview_and_confirm = "\n".join(app.fake.texts(OWNER_ID)[-3:])
    assert "Send it?" in preview_and_confirm
    assert await app.counts() == before  # nothing written before Send
    await press(app, "Send")
    await app.deliver()
    [text] = received(app, 5002, "Привет")
    assert text.startswith('&lt;a href="https://evil"&gt;Привет&lt;/a&gt; &amp; &lt;b&gt;Борис')


async def test_a_russian_owner_is_asked_for_the_english_text_in_russian(app: App) -> None:
    """The issue's case: the owner writes in Russian, one of three reads English."""
    await audience(app)
    owner = app.user(OWNER_ID, "ru", "Владелец")

    async def tap(label: str) -> None:
        call = app.fake.last(OWNER_ID)
        await owner.click(find_button(call, label), call)

    await owner.send("/broadcast")
    await tap("Далее")
    await tap("Написать свой текст")
    await owner.send("Скидка на шиномонтаж, {{ name }}!")
    asked = app.fake.last(OWNER_ID).text
    assert "Получателей, читающих по-английски: 1 из 3" in asked, asked
    await tap("Отправить им текст на русском")
    await tap("Без предложения")
    confirm = app.fake.last(OWNER_ID).text
    assert "по-английски читают 1 — получат текст на русском" in confirm, confirm
    assert "по-русски читают 2 — получат текст на русском" in confirm, confirm
    await tap("Отправить")
    await app.deliver()
    assert len(received(app, 5001, "Скидка на шиномонтаж, Ann!")) == 1
