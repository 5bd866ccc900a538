"""Messages queued as templates and rendered at delivery (``bot.services.outbox.deferred_text``)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from bot.db.models import OutboxMessage, RedemptionState
from bot.services.members.privacy import erase_statements
from bot.services.outbox import delivery_queue
from bot.services.outbox.deferred_text import Deferred, render, text_of
from bot.services.outbox.rows import outbox_row
from bot.texts import Texts
from tests.support.flows import join
from tests.support.harness import App

NOW = datetime(2026, 3, 8, 9, 30, tzinfo=UTC)


def test_the_context_survives_json_with_its_types() -> None:
    """Decimal, datetime and date come back as themselves (the filters need them); a
    StrEnum is stored as its value, which the templates compare with."""
    context = {"amount": Decimal("1234.50"), "day": NOW, "born": date(1990, 2, 28),
               "points": 12, "balance": 7, "ok": True, "name": "<b>Ivan</b>", "none": None,
               "state": RedemptionState.CONFIRMED, "list": [Decimal("1"), 2]}  # fmt: skip
    row = outbox_row(now=NOW, chat_id=1, text=Deferred("en", "customer.points_earned", context))
    stored = json.loads(json.dumps(row["context"]))  # what the JSON column keeps
    assert row["text"] is None and row["template"] == "customer.points_earned"
    texts = Texts("RUB", "ru")
    thawed: dict[str, object] = {}

    class Capture(Texts):
        def render(self, locale: str, key: str, **values: object) -> str:
            thawed.update(values)
            return f"{locale}:{key}"

    assert render(Capture("RUB", "ru"), row["template"], row["locale"], stored) == (
        "en:customer.points_earned"
    )
    assert thawed == {**context, "state": "confirmed"}
    assert type(thawed["amount"]) is Decimal and type(thawed["born"]) is date
    assert thawed["day"] == NOW and thawed["day"].tzinfo is not None  # type: ignore[attr-defined]
    sent = render(texts, row["template"], "en", stored)
    assert "1,234.50" in sent and "12" in sent


def test_a_plain_row_has_the_same_keys() -> None:
    """One insert statement takes a transaction's rows together: same keys for both."""
    plain = outbox_row(now=NOW, chat_id=1, text="hello")
    deferred = outbox_row(now=NOW, chat_id=1, text=Deferred("ru", "customer.balance", {}))
    assert plain.keys() == deferred.keys()
    assert plain["template"] is None and plain["text"] == "hello"


def test_what_json_cannot_carry_is_refused_when_queued() -> None:
    with pytest.raises(TypeError, match="set"):
        Deferred("en", "customer.balance", {"bad": {1, 2}}).columns()
    with pytest.raises(TypeError):
        Deferred("en", "customer.balance", {"bad": {"nested": 1}}).columns()


def test_text_of_renders_a_queued_template_and_keeps_a_text() -> None:
    texts = Texts("RUB", "en")

    class Row:
        text: str | None = None
        template: str | None = "customer.points_earned"
        locale: str | None = "en"
        context = Deferred("en", "x", {"amount": Decimal("10"), "points": 1,
                                       "balance": 5}).columns()["context"]  # fmt: skip

    assert "Thank you for your purchase" in (text_of(texts, Row()) or "")
    Row.text, Row.template = "as sent", None
    assert text_of(texts, Row()) == "as sent"


async def test_a_notice_in_flight_when_the_customer_is_erased_keeps_no_text(app: App) -> None:
    """/forget while a deferred notice is being sent: the sender does not write the text
    it rendered back onto the erased row (``delivery_queue.mark_sent``)."""
    customer = await join(app, app.user(5001, "en"), name="Ivan")
    await app.deliver()
    async with app.biz.db.write() as session:
        session.add(OutboxMessage(**outbox_row(
            now=NOW, chat_id=5001, customer_id=customer.id,
            text=Deferred("en", "customer.adjusted", {"points": 5, "reason": "gift", "balance": 5}),
        )))  # fmt: skip
    claim = await delivery_queue.claim(app.biz.db, app.clock.now(), limit=10,
                                       lease=timedelta(seconds=60),
                                       kinds=app.biz.settings.outbox.kinds)  # fmt: skip
    (message,) = claim.messages
    assert message.text is None and message.template == "customer.adjusted"
    async with app.biz.db.write() as session:
        for statement in erase_statements(customer.id, 5001):
            await session.execute(statement)
    await delivery_queue.mark_sent(app.biz.db, message.id, app.clock.now(), "gift: +5 points")
    async with app.biz.db.read() as session:
        row = await session.get(OutboxMessage, message.id)
    assert row is not None and row.text is None and row.context is None and row.chat_id is None
