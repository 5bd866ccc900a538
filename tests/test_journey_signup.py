"""Sign-up as issue 4 asks, through aiogram in both languages: the programme and what the
next status takes first (seed 000: "Сначала целесообразно предоставить потребителю
полноценную информацию о возможных льготах, скидках и привилегиях ... Затем следует
рассказать об условиях предоставления статуса постоянного клиента"), then consent, own
contact, name, birthday (validated, skippable), the business's profile fields, bonus;
/cancel and a restart resume where the customer stopped; a customer staff entered by
phone is linked, not duplicated; an invitation rewards both sides once."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import build_dispatcher
from bot.config import Settings
from bot.db.models import Customer, LedgerEntry
from bot.testing.telegram_double import ChatUser, buttons, find_button
from tests.conftest import make_settings
from tests.support.flows import hire, join
from tests.support.harness import App

CAR_FIELDS: list[dict[str, Any]] = [
    {"code": "make", "labels": {"ru": "Марка автомобиля", "en": "Car make"}},
    {"code": "model", "labels": {"ru": "Модель", "en": "Model"}},
    {"code": "year", "kind": "year", "labels": {"ru": "Год выпуска", "en": "Year"}, "min": 1950},
    {
        "code": "fuel",
        "kind": "choice",
        "choices": ["petrol", "diesel", "electric"],
        "required": True,
        "labels": {"ru": "Топливо", "en": "Fuel"},
    },
    {"code": "mileage", "kind": "int", "labels": {"ru": "Пробег", "en": "Mileage"}, "max": 2000000},
]
WELCOME = 100


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(
        db_url,
        profile={"fields": CAR_FIELDS},
        loyalty={"welcome_bonus": WELCOME},
        referral={"referrer_points": 300, "referred_points": 150},
    )


Q = {
    "en": {
        "intro": "Welcome to the loyalty programme",
        "silver": "Silver</b> — from ₽30,000.00 of purchases or from 12 visits in 12 months",
        "consent": ("Operator: Test Garage", "/mydata", "/forget", "Retention", "Purpose"),
        "name": "What should we call you",
        "birthday": "When is your birthday",
        "make": "Car make?",
        "model": "Model?",
        "year": "Year?",
        "fuel": "Fuel?",
        "mileage": "Mileage?",
        "done": "Your card code is",
        "impossible": "There is no such date",
        "future": "is in the future",
        "bad_date": "is not a date",
        "range": "out of range: send a number from 1950 to 2027",
        "nan": "is not a number",
    },
    "ru": {
        "intro": "Добро пожаловать в программу",
        "silver": "Серебряный</b> — от 30\xa0000,00\xa0₽ покупок или от 12 визитов за 12 мес.",
        "consent": ("Оператор: Test Garage", "/mydata", "/forget", "Срок", "Цель"),
        "name": "Как к вам обращаться",
        "birthday": "Когда у вас день рождения",
        "make": "Марка автомобиля?",
        "model": "Модель?",
        "year": "Год выпуска?",
        "fuel": "Топливо?",
        "mileage": "Пробег?",
        "done": "Код вашей карты",
        "impossible": "Даты «31.02.1990» не бывает",
        "future": "дата в будущем",
        "bad_date": "не дата",
        "range": "вне допустимых пределов: отправьте число от 1950 до 2027",
        "nan": "не число",
    },
}


async def _refused_without_writing(app: App, user: ChatUser, answer: str, expected: str) -> None:
    before = await app.counts(include_audit=True)
    await user.send(answer)
    assert expected in app.fake.last(user.user_id).text
    assert await app.counts(include_audit=True) == before, f"{answer!r} wrote rows"


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_full_conversation_with_bad_answers_cancel_and_restart(app: App, lang: str) -> None:
    q = Q[lang]
    user = app.user(5001, lang, "Ivan")
    empty = await app.counts(include_audit=True)
    await user.send("/start")
    intro, consent = app.fake.texts(5001)[-2:]
    assert q["intro"] in intro and q["silver"] in intro, intro
    assert all(part in consent for part in q["consent"]), consent
    await user.click(buttons(app.fake.last(5001))[0][1], app.fake.last(5001))
    assert await app.counts(include_audit=True) == empty, "nothing stored before the contact"
    await user.send_contact("+79161234567")
    assert q["name"] in app.fake.last(5001).text
    await user.send("Иван")
    question = app.fake.last(5001)
    assert q["birthday"] in question.text and len(buttons(question)) == 1  # Skip
    await _refused_without_writing(app, user, "31.02.1990", q["impossible"])
    await _refused_without_writing(app, user, "01.01.2027", q["future"])
    await _refused_without_writing(app, user, "yesterday", q["bad_date"])
    assert buttons(app.fake.last(5001)), "a refusal keeps the Skip button"
    await user.send("14.03.1991")
    assert q["make"] in app.fake.last(5001).text
    await user.send("Toyota")
    assert q["model"] in app.fake.last(5001).text

    await user.send("/cancel")  # interruption: leaves the step ...
    await user.send("/start")  # ... and /start continues where it stopped
    assert q["model"] in app.fake.last(5001).text

    # The process restarts: a fresh dispatcher (empty in-memory FSM) on the same database.
    restarted = App(app.biz, app.fake, app.bot, build_dispatcher(app.biz), app.sender, app.clock)
    user = restarted.user(5001, lang, "Ivan")
    await user.send("Camry")
    assert q["year"] in app.fake.last(5001).text
    await _refused_without_writing(restarted, user, "1800", q["range"])
    await _refused_without_writing(restarted, user, "двадцать", q["nan"])
    await user.send("2018")
    fuel = app.fake.last(5001)
    assert q["fuel"] in fuel.text
    assert [label for label, _ in buttons(fuel)] == ["petrol", "diesel", "electric"], "required"
    await user.click(find_button(fuel, "diesel"), fuel)
    mileage = app.fake.last(5001)
    assert q["mileage"] in mileage.text
    await user.click(buttons(mileage)[-1][1], mileage)  # Skip
    offers = app.fake.last(5001)  # issue 20: the last question, offers yes or no
    await user.click(buttons(offers)[-1][1], offers)
    assert q["done"] in app.fake.last(5001).text

    customer = await app.customer(telegram_id=5001)
    assert customer is not None and customer.signup_step is None
    assert (customer.name, customer.birthday, customer.language) == (
        "Иван",
        date(1991, 3, 14),
        lang,
    )
    assert customer.profile == {"make": "Toyota", "model": "Camry", "year": 2018, "fuel": "diesel"}
    assert customer.balance == WELCOME
    await app.deliver()
    assert str(WELCOME) in app.fake.texts(5001)[-1]


async def test_birthday_skipped_and_required_choice_cannot_be_skipped(app: App) -> None:
    user = app.user(5001, "en")
    await user.send("/start")
    await user.click(buttons(app.fake.last(5001))[0][1], app.fake.last(5001))
    await user.send_contact("+79161234567")
    await user.send("Ivan")
    await user.click(buttons(app.fake.last(5001))[0][1], app.fake.last(5001))  # Skip birthday
    for _ in range(3):  # make, model, year: skipped
        await user.click(buttons(app.fake.last(5001))[-1][1], app.fake.last(5001))
    fuel = app.fake.last(5001)
    before = await app.counts(include_audit=True)
    await user.send("hydrogen")
    assert "choose one of the buttons: petrol, diesel, electric" in app.fake.last(5001).text
    assert await app.counts(include_audit=True) == before
    await user.click(find_button(fuel, "petrol"), fuel)
    await user.click(find_button(fuel, "diesel"), fuel)  # the old question again: refused
    assert "already answered" in app.fake.calls("answerCallbackQuery")[-1].params["text"]
    customer = await app.customer(telegram_id=5001)
    assert customer is not None
    assert customer.birthday is None and customer.profile == {"fuel": "petrol"}


async def test_customer_entered_by_phone_is_linked_not_duplicated(app: App) -> None:
    async with app.biz.db.write() as session:
        session.add(
            Customer(
                phone="+79161234567",
                name="Иван (касса)",
                card_code="K7M2QX",
                balance=0,
                created_at=app.clock.now(),
                language="ru",
            )
        )
    await join(app, app.user(5001, "en"), name="Ivan", phone="8 916 123-45-67")
    async with app.biz.db.read() as session:
        rows = list(await session.scalars(select(Customer)))
    assert len(rows) == 1
    # issue 20: joining keeps what the card holds (the name staff entered) and asks the rest
    card = rows[0]
    assert (card.card_code, card.telegram_id, card.name) == ("K7M2QX", 5001, "Иван (касса)")


async def test_referral_rewards_both_sides_on_first_purchase_only(app: App) -> None:
    friend = await join(app, app.user(5001, "en"), name="Anna")
    newcomer = app.user(5002, "en")
    await newcomer.send(f"/start ref_{friend.card_code}")
    consent = app.fake.last(5002)
    await newcomer.click(buttons(consent)[0][1], consent)
    await newcomer.send_contact("+79161110000")
    await newcomer.send("Boris")
    await newcomer.click(buttons(app.fake.last(5002))[0][1], app.fake.last(5002))
    while (await app.customer(telegram_id=5002)).signup_step is not None:  # type: ignore[union-attr]
        await newcomer.click(buttons(app.fake.last(5002))[-1][1], app.fake.last(5002))
    boris = await app.customer(telegram_id=5002)
    assert boris is not None and boris.referred_by == friend.id
    cashier = app.user(6001, "en")
    await hire(app, cashier)
    await cashier.send(f"/purchase {boris.card_code} 1000")  # 5%: 50
    await cashier.send(f"/purchase {boris.card_code} 1000")
    async with app.biz.db.read() as session:
        bonuses = (
            await session.execute(
                select(LedgerEntry.customer_id, func.sum(LedgerEntry.points))
                .where(LedgerEntry.reason == "referral")
                .group_by(LedgerEntry.customer_id)
            )
        ).all()
    assert dict(bonuses) == {friend.id: 300, boris.id: 150}
    boris = await app.customer(telegram_id=5002)
    anna = await app.customer(telegram_id=5001)
    assert boris is not None and anna is not None
    assert (anna.balance, boris.balance) == (WELCOME + 300, WELCOME + 150 + 50 + 50)
    await app.deliver()
    assert any("+300 points" in t for t in app.fake.texts(5001))
    assert await app.balance_consistent()


async def test_self_referral_and_unknown_codes_are_ignored(app: App) -> None:
    user = app.user(5001, "en")
    await user.send("/start ref_ZZZZZZ")
    await user.click(buttons(app.fake.last(5001))[0][1], app.fake.last(5001))
    await user.send_contact("+79161234567")
    customer = await app.customer(telegram_id=5001)
    assert customer is not None and customer.referred_by is None
