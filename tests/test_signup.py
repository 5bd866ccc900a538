"""Customer sign-up through aiogram, in both languages (SPEC.md, Privacy: consent before any
personal data; a shared contact is accepted only if it is the sender's own)."""

from __future__ import annotations

import pytest

from bot.testing.telegram_double import buttons
from tests.support.harness import App

INTRO = {"en": "Welcome to the loyalty programme", "ru": "Добро пожаловать в программу"}
CONSENT = {"en": "Operator: Test Garage", "ru": "Оператор: Test Garage"}
ASK_CONTACT = {"en": "share your phone number", "ru": "Поделитесь номером"}
ASK_NAME = {"en": "What should we call you", "ru": "Как к вам обращаться"}
DONE = {"en": "Your card code is", "ru": "Код вашей карты"}


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_full_signup(app: App, lang: str) -> None:
    user = app.user(5001, lang, "Ivan")
    await user.send("/start")
    intro, consent = app.fake.texts(5001)[-2:]
    assert INTRO[lang] in intro and CONSENT[lang] in consent
    assert await app.customer(telegram_id=5001) is None, "nothing stored before consent"
    await user.click(buttons(app.fake.last(5001))[0][1], app.fake.last(5001))
    contact_prompt = app.fake.last(5001)
    assert ASK_CONTACT[lang] in contact_prompt.text
    keyboard = contact_prompt.params["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_contact"] is True
    await user.send_contact("+7 916 123-45-67")
    assert ASK_NAME[lang] in app.fake.last(5001).text
    await user.send("  Иван   Петров ")
    await _skip_birthday(app, 5001)
    assert DONE[lang] in app.fake.last(5001).text
    customer = await app.customer(telegram_id=5001)
    assert customer is not None
    assert (customer.phone, customer.name, customer.language) == (
        "+79161234567",
        "Иван Петров",
        lang,
    )
    assert customer.consent_at is not None and customer.consent_version
    assert customer.card_code in app.fake.last(5001).text
    await user.send("/start")
    assert customer.card_code in app.fake.last(5001).text, "a second /start shows the card"


async def test_declining_consent_stores_nothing(app: App) -> None:
    user = app.user(5001, "en")
    before = await app.counts(include_audit=True)
    await user.send("/start")
    await user.click(buttons(app.fake.last(5001))[1][1], app.fake.last(5001))
    assert "nothing has been stored" in app.fake.last(5001).text
    assert await app.counts(include_audit=True) == before


async def _skip_birthday(app: App, user_id: int) -> None:
    """Skip the birthday, then "no" to offers (the last question since issue 20)."""
    question = app.fake.last(user_id)
    await app.user(user_id).click(buttons(question)[-1][1], question)
    offers = app.fake.last(user_id)
    await app.user(user_id).click(buttons(offers)[-1][1], offers)


async def _to_contact_step(app: App, user_id: int) -> None:
    user = app.user(user_id, "en")
    await user.send("/start")
    await user.click(buttons(app.fake.last(user_id))[0][1], app.fake.last(user_id))


@pytest.mark.parametrize("contact_user_id", [9999, None])
async def test_someone_elses_contact_refused(app: App, contact_user_id: int | None) -> None:
    await _to_contact_step(app, 5001)
    before = await app.counts(include_audit=True)
    await app.user(5001, "en").send_contact("+79161234567", contact_user_id=contact_user_id)
    assert "your own number" in app.fake.last(5001).text
    assert await app.counts(include_audit=True) == before
    await app.user(5001, "en").send("my number is 8916")
    assert "share your phone number" in app.fake.last(5001).text


@pytest.mark.parametrize("name", ["x" * 65, "\u200b", "a\x00b"])
async def test_bad_names_refused(app: App, name: str) -> None:
    await _to_contact_step(app, 5001)
    await app.user(5001, "en").send_contact("+79161234567")
    before = await app.counts(include_audit=True)
    await app.user(5001, "en").send(name)
    assert "up to 64 characters" in app.fake.last(5001).text
    assert await app.counts(include_audit=True) == before
    await app.user(5001, "en").send("Ivan")
    await _skip_birthday(app, 5001)
    assert "Your card code is" in app.fake.last(5001).text


async def test_html_in_name_is_escaped(app: App) -> None:
    await _to_contact_step(app, 5001)
    await app.user(5001, "en").send_contact("+79161234567")
    await app.user(5001, "en").send('<a href="x">Eve</a>')
    await _skip_birthday(app, 5001)
    reply = app.fake.last(5001).text
    assert "Done, &lt;a href=&#34;x&#34;&gt;Eve&lt;/a&gt;!" in reply
    assert "<a href" not in reply
    stored = await app.customer(telegram_id=5001)
    assert stored is not None and stored.name == '<a href="x">Eve</a>', "stored as typed"


async def test_phone_of_another_member_refused(app: App) -> None:
    await _to_contact_step(app, 5001)
    await app.user(5001, "en").send_contact("+79161234567")
    await app.user(5001, "en").send("Ivan")
    await _to_contact_step(app, 5002)
    before = await app.counts(include_audit=True)
    await app.user(5002, "en").send_contact("+79161234567")
    assert "already belongs to another account" in app.fake.last(5002).text
    assert await app.counts(include_audit=True) == before


async def test_help_lists_commands_per_role(app: App) -> None:
    await app.user(7001, "en").send("/help")
    stranger = app.fake.last(7001).text
    assert "/balance" in stranger and "/purchase" not in stranger and "/adjust" not in stranger
    await app.owner.send("/help")
    owner = app.fake.last(app.owner.user_id).text
    assert all(c in owner for c in ("/balance", "/purchase", "/refund", "/adjust", "/invite"))
