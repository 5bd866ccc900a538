"""Conversations that many tests need as a starting point, driven through the dispatcher."""

from __future__ import annotations

from bot.db.models import Customer
from bot.testing.telegram_double import Call, ChatUser, buttons
from handlers.signup import JoinAsCustomer
from tests.support.harness import App

JOIN = JoinAsCustomer().pack()
PHONES = iter(f"+7916{n:07d}" for n in range(1000000, 9999999))


async def join(
    app: App,
    user: ChatUser,
    name: str = "Ivan",
    phone: str | None = None,
    invited_by: str | None = None,
) -> Customer:
    """Full sign-up: /start (``/start ref_<invited_by>``: a friend's link), agree, own
    contact, name, then Skip on every optional question."""
    await user.send(f"/start ref_{invited_by}" if invited_by else "/start")
    landing = app.fake.last(user.user_id)
    if any(data == JOIN for _, data in buttons(landing)):  # an owner's landing
        await user.click(buttons(landing)[0][1], landing)
    consent = app.fake.last(user.user_id)
    await user.click(_agree_button(consent), consent)
    await user.send_contact(phone or next(PHONES))
    await user.send(name)
    customer = await app.customer(telegram_id=user.user_id)
    while customer is not None and customer.signup_step is not None:
        question = app.fake.last(user.user_id)
        await user.click(buttons(question)[-1][1], question)  # Skip is the last button
        customer = await app.customer(telegram_id=user.user_id)
    assert customer is not None, app.fake.texts(user.user_id)
    return customer


def _agree_button(call: Call) -> str:
    return buttons(call)[0][1]


async def hire(app: App, user: ChatUser) -> None:
    """The owner's /invite link, opened by ``user``: they become staff."""
    await app.owner.send("/invite")
    link = app.fake.last(app.owner.user_id).text
    token = link.split("?start=")[1].split()[0]
    await user.send(f"/start {token}")
    assert (
        "team" in app.fake.last(user.user_id).text or "команд" in app.fake.last(user.user_id).text
    )
