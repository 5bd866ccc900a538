"""An owner's first minutes: /start shows what to do next (not the customers' consent
form), and the owner hears when the cashier they invited joins."""

from __future__ import annotations

from bot.testing.telegram_double import buttons, find_button
from tests.support.flows import hire, join
from tests.support.harness import App


async def test_owner_start_is_a_landing_with_the_next_steps(app: App) -> None:
    await app.owner.send("/start")
    landing = app.fake.last(app.owner.user_id)
    for step in ("/invite", "/staff", "/stats", "/segments", "/client", "/help"):
        assert step in landing.text
    assert "agree" not in landing.text.lower()
    assert await app.customer(telegram_id=app.owner.user_id) is None
    await app.owner.click(find_button(landing, "Join the programme"), landing)
    consent = app.fake.last(app.owner.user_id)
    assert any("agree" in label.lower() for label, _ in buttons(consent))


async def test_owner_is_told_when_the_invited_cashier_joins(app: App) -> None:
    """In the owner's language when they are also a member, else the business's."""
    await hire(app, app.user(6001, "en", "Olga"))
    await app.deliver()
    told = app.fake.last(app.owner.user_id).text
    # the outlet's name, not its code (issue 20)
    assert "Olga принял(а) ваше приглашение" in told and "Main" in told
    await join(app, app.owner, name="Boss")  # a member now, in English
    await hire(app, app.user(6002, "en", "Pavel"))
    await app.deliver()
    assert "Pavel accepted your invitation" in app.fake.last(app.owner.user_id).text
