"""Issue 20, item 2: marketing reaches somebody at launch. Sign-up ends with a clear yes/no
for offers and greetings (separate from the data-processing consent, recorded with its
time, changeable in /settings); the /broadcast wizard says how many it can reach from its
first step and never offers Send to nobody."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.testing.telegram_double import ChatUser, buttons, find_button
from tests.conftest import BACKENDS
from tests.support.harness import OWNER_ID, App

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


async def _sign_up(app: App, user: ChatUser, name: str) -> None:
    """/start, agree, own contact, name, Skip the birthday: the offers question is next."""
    await user.send("/start")
    consent = app.fake.last(user.user_id)
    await user.click(buttons(consent)[0][1], consent)
    await user.send_contact(f"+7916555{user.user_id:04d}")
    await user.send(name)
    birthday = app.fake.last(user.user_id)
    await user.click(buttons(birthday)[-1][1], birthday)


async def test_sign_up_ends_with_the_offers_question(app: App) -> None:
    """«Sign-up never asks about offers, so every customer starts opted out»."""
    anna = app.user(5001, "ru", "Аня")
    await _sign_up(app, anna, "Аня")
    question = app.fake.last(5001)
    assert "предложения" in question.text and "отдельно от согласия" in question.text
    assert [label for label, _ in buttons(question)] == ["✅ Да, присылать", "Нет, спасибо"]
    card = await app.customer(telegram_id=5001)
    assert card is not None and card.signup_step == "offers"
    assert card.marketing_opt_in is False and card.marketing_opt_in_at is None

    await anna.send("да")  # typed, not a button: asked again, nothing recorded
    assert "Ответьте кнопкой" in app.fake.last(5001).text
    assert buttons(app.fake.last(5001))
    card = await app.customer(telegram_id=5001)
    assert card is not None and card.signup_step == "offers" and card.marketing_opt_in_at is None

    app.clock.advance(timedelta(minutes=3))
    await anna.click(find_button(question, "Да, присылать"), question)
    card = await app.customer(telegram_id=5001)
    assert card is not None and card.signup_step is None
    assert card.marketing_opt_in is True and card.marketing_opt_in_at == app.clock.now()
    assert "Готово, Аня" in app.fake.last(5001).text
    await anna.click(find_button(question, "Нет, спасибо"), question)  # pressed late
    card = await app.customer(telegram_id=5001)
    assert card is not None and card.marketing_opt_in is True

    await anna.send("/settings")  # changeable there, and the time follows
    assert "включены" in app.fake.last(5001).text
    app.clock.advance(timedelta(days=1))
    settings_message = app.fake.last(5001)
    await anna.click(buttons(settings_message)[0][1], settings_message)
    card = await app.customer(telegram_id=5001)
    assert card is not None and card.marketing_opt_in is False
    assert card.marketing_opt_in_at == app.clock.now()


async def test_the_wizard_counts_who_can_be_reached_and_never_sends_to_nobody(app: App) -> None:
    """«Клиентов сейчас: 2» at step 1 and only on the last screen «Получателей: около 0»,
    still with a Send button."""
    for user_id, name in ((5001, "Аня"), (5002, "Боря")):
        user = app.user(user_id, "ru", name)
        await _sign_up(app, user, name)
        question = app.fake.last(user_id)
        await user.click(find_button(question, "Нет, спасибо"), question)
    owner = app.user(OWNER_ID, "ru", "Владелец")
    await owner.send("/broadcast")
    panel = app.fake.last(OWNER_ID).text
    assert "Клиентов сейчас: <b>2</b>" in panel
    assert "Можно отправить сейчас: <b>0</b> (не получат: нет согласия на рассылки — 2)" in panel
    assert "в конце регистрации" in panel
    for label in ("Далее", "Мы скучаем", "Без предложения"):
        call = app.fake.last(OWNER_ID)
        await owner.click(find_button(call, label), call)
    refusal = app.fake.last(OWNER_ID)
    assert "написать сейчас нельзя никому" in refusal.text
    assert "Отправить" not in [label for label, _ in buttons(refusal)]

    anna = app.user(5001, "ru", "Аня")
    await anna.send("/settings")
    settings_message = app.fake.last(5001)
    await anna.click(buttons(settings_message)[0][1], settings_message)
    await owner.send("/broadcast")
    assert "Можно отправить сейчас: <b>1</b>" in app.fake.last(OWNER_ID).text
    for label in ("Далее", "Мы скучаем", "Без предложения"):
        call = app.fake.last(OWNER_ID)
        await owner.click(find_button(call, label), call)
    assert "Отправить" in [label for label, _ in buttons(app.fake.last(OWNER_ID))]
