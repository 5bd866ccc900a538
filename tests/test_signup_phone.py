"""Sign-up phone (issue 20, item 9): any country's number is accepted, a refused contact
keeps the button and says what to do, a typed number is told why the button is needed."""

from __future__ import annotations

import pytest

from bot.phones import normalise_phone
from bot.testing.telegram_double import buttons
from tests.support.harness import App

USER = 5301


async def _to_contact_step(app: App, language: str = "en") -> None:
    user = app.user(USER, language)
    await user.send("/start")
    consent = app.fake.last(USER)
    await user.click(buttons(consent)[0][1], consent)


def _has_contact_button(app: App) -> bool:
    markup = app.fake.last(USER).params.get("reply_markup") or {}
    return any(b.get("request_contact") for row in markup.get("keyboard", []) for b in row)


@pytest.mark.parametrize("phone", ["447700900123", "+447700900123", "4915112345678"])
async def test_a_uk_or_german_contact_joins(app: App, phone: str) -> None:
    """«a UK contact (+447700900123) → „This phone number is not valid.“, keyboard gone»:
    the business's region (RU) is only the default for numbers without a country code."""
    await _to_contact_step(app)
    await app.user(USER, "en").send_contact(phone)
    customer = await app.customer(telegram_id=USER)
    assert customer is not None, app.fake.texts(USER)
    assert customer.phone == "+" + phone.lstrip("+")
    assert "not valid" not in app.fake.last(USER).text


@pytest.mark.parametrize("phone", ["12", "+0000", "abc"])
async def test_a_contact_that_is_no_number_keeps_the_button_and_says_what_to_do(
    app: App, phone: str
) -> None:
    await _to_contact_step(app)
    before = await app.counts(include_audit=True)
    await app.user(USER, "en").send_contact(phone)
    reply = app.fake.last(USER).text
    assert "Share my number" in reply and "counter" in reply
    assert _has_contact_button(app)
    assert await app.counts(include_audit=True) == before
    await app.user(USER, "en").send_contact("+79161112233")  # the step is still open
    assert await app.customer(telegram_id=USER) is not None


@pytest.mark.parametrize("typed", ["+7 916 111-22-33", "89161112233", "(916) 111 22 33"])
async def test_a_typed_number_is_told_why_the_button_is_needed(app: App, typed: str) -> None:
    """«a typed +7 916 111-22-33 repeats the request without saying why»."""
    await _to_contact_step(app, "ru")
    before = await app.counts(include_audit=True)
    await app.user(USER, "ru").send(typed)
    reply = app.fake.last(USER).text
    assert "набранный вручную номер не подойдёт" in reply
    assert "Telegram подтвердит, что номер ваш" in reply
    assert _has_contact_button(app)
    assert await app.counts(include_audit=True) == before


def test_typed_numbers_still_need_to_be_valid() -> None:
    """A number typed by staff (/addcustomer, imports) is checked against the numbering
    plan; only a contact Telegram verified may be merely possible."""
    assert normalise_phone("+447700900123", "RU") is None
    assert normalise_phone("+447700900123", "RU", shared_contact=True) == "+447700900123"
    assert normalise_phone("8 916 111-22-33", "RU") == "+79161112233"
    assert normalise_phone("+4915112345678", "RU") == "+4915112345678"
