"""Messages queued as templates and rendered at delivery (``bot.services.deferred_text``)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from bot.db.models import RedemptionState
from bot.services.deferred_text import Deferred, render, text_of
from bot.services.outbox import outbox_row
from bot.texts import Texts

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
