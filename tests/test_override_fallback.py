"""A broken override never costs a message (issue 19, item 3): an override Telegram would
refuse (invalid HTML, too long, empty) falls back to the shipped text and is reported to
the owners once; a queued row whose context an older version wrote (a variable the
shipped template now needs is missing) is sent as a safe fallback, not failed for good."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.db.models import OutboxMessage
from bot.services.outbox.deferred_text import Deferred
from bot.services.outbox.rows import outbox_row
from tests.conftest import BACKENDS
from tests.support.flows import hire, join
from tests.support.harness import OWNER_ID, App

BROKEN = {
    "invalid HTML": "{% block points_earned %}<b>Thanks, +{{ points }}{% endblock %}",
    "too long": "{% block points_earned %}{% for i in range(5000) %}x{% endfor %}{% endblock %}",
    "empty": "{% block points_earned %}   {% endblock %}",
}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("what", list(BROKEN))
async def test_an_override_telegram_would_refuse_sends_the_shipped_text(
    app: App, tmp_path: Path, what: str
) -> None:
    customer = await join(app, app.user(5001, "en"), name="Ivan")
    cashier = app.user(7001, "en")
    await hire(app, cashier)
    await app.deliver()
    await cashier.send(f"/purchase {customer.card_code} 100")  # queued with the shipped text
    override = tmp_path / "en"
    override.mkdir()
    (override / "customer.html").write_text(BROKEN[what], encoding="utf-8")
    broken = app.variant(override_dir=tmp_path)  # changed after the notice was queued
    await broken.deliver()
    assert "Thank you for your purchase" in app.fake.last(5001).text
    async with app.biz.db.read() as session:
        states = list(await session.scalars(
            select(OutboxMessage.state).where(OutboxMessage.customer_id == customer.id)
        ))  # fmt: skip
    assert "failed" not in states
    await broken.biz.texts.on_problem.wait()  # type: ignore[union-attr]
    await broken.deliver()
    assert "en/customer.points_earned" in app.fake.last(OWNER_ID).text
    told = len(app.fake.sent(OWNER_ID))
    await cashier.send(f"/purchase {customer.card_code} 200")
    await broken.deliver()
    await broken.biz.texts.on_problem.wait()  # type: ignore[union-attr]
    await broken.deliver()
    assert "Thank you for your purchase" in app.fake.last(5001).text
    assert len(app.fake.sent(OWNER_ID)) == told  # reported once


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_context_from_an_older_version_is_sent_as_a_fallback(app: App) -> None:
    customer = await join(app, app.user(5001, "en"), name="Ivan")
    await app.deliver()
    old = Deferred("en", "customer.points_earned", {"amount": 100, "points": 5})  # no balance
    async with app.biz.db.write() as session:
        await session.execute(
            OutboxMessage.__table__.insert(),
            [outbox_row(now=app.clock.now(), chat_id=5001, text=old, customer_id=customer.id)],
        )
    assert await app.deliver() == 1
    assert "/history" in app.fake.last(5001).text
    async with app.biz.db.read() as session:
        [state] = await session.scalars(
            select(OutboxMessage.state).where(OutboxMessage.template == old.template)
        )
    assert state == "sent"
