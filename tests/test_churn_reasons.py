"""Why customers leave, asked under the win-back message (seed 004), through real updates.

Seed 004 (004_235a4ca77e3bcda9.txt) lists among the analyses "анализ оттока клиентов и его
причин": the message carries reason buttons (price, quality, moved, other), the answers
are counted in /stats, and a reason in ``winback.stop_reasons`` (moved) ends the messages.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db.models import CampaignMember, ChurnAnswer
from bot.services.jobs import winback as jobs_winback
from bot.testing.telegram_double import buttons, find_button
from tests.conftest import BACKENDS, make_settings
from tests.support.harness import OWNER_ID, App
from tests.support.job_rows import CHAT_BASE, member, score

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

RULES = {"interval_factor": 2.0, "min_purchases": 2, "min_days": 45, "p_alive_below": 0.3,
         "window_days": 90}  # fmt: skip


def variant(app: App) -> App:
    settings = make_settings(
        app.biz.settings.database.url, campaigns={"holdout_percent": 0}, winback=RULES
    )
    return app.variant(settings)


async def _drifting(app: App, n: int, name: str = "Ivan") -> int:
    now = app.clock.now()
    customer = await member(app.biz.db, n, now, name=name)
    await score(app.biz.db, customer.id, now, purchases=5, days_since_first=320,
                days_since_last=120)  # fmt: skip
    return customer.id


async def _answers(app: App) -> list[tuple[int, str]]:
    async with app.biz.db.read() as session:
        rows = await session.scalars(select(ChurnAnswer).order_by(ChurnAnswer.id))
        return [(a.customer_id, a.reason) for a in rows]


def _line(app: App) -> str:
    report = next(t for t in reversed(app.fake.texts(OWNER_ID)) if "Why customers" in t)
    return next(line for line in report.splitlines() if line.startswith("Why customers"))


async def test_reasons_are_counted_and_moved_stops_the_messages(app: App) -> None:
    """«анализ оттока клиентов и его причин»: two drifting customers are asked why; the
    one who moved away gets no win-back message in the next window, the one who found us
    too expensive does."""
    moved = await _drifting(app, 1)
    pricey = await _drifting(app, 2, "Petr")
    assert (await jobs_winback.run_winback(variant(app).biz))["sent"] == 2
    await app.deliver()
    message = app.fake.last(CHAT_BASE + 1)
    assert "tell us with a button below" in (message.text or "")
    assert [label for label, _ in buttons(message)] == [
        "💸 Too expensive", "🛠 Not happy with the service", "🚚 I moved away", "💬 Something else",
    ]  # fmt: skip
    ivan = app.user(CHAT_BASE + 1, "en", "Ivan")
    await ivan.click(find_button(message, "moved"), message)
    assert "not send you these reminders any more" in app.fake.last(CHAT_BASE + 1).text
    petr = app.user(CHAT_BASE + 2, "en", "Petr")
    second = app.fake.last(CHAT_BASE + 2)
    await petr.click(find_button(second, "expensive"), second)
    thanks = app.fake.last(CHAT_BASE + 2).text
    assert "Thank you for telling us" in thanks and "any more" not in thanks
    assert await _answers(app) == [(moved, "moved"), (pricey, "price")]

    await app.owner.send("/stats")
    line = _line(app)
    assert line.endswith(
        ": price 1, quality 0, moved away 1, other 0; no longer sent win-back messages: 1 customer"
    ), line

    app.clock.current = app.clock.now() + timedelta(days=90)  # the next window
    assert (await jobs_winback.run_winback(variant(app).biz))["sent"] == 1
    async with app.biz.db.read() as session:
        reached = [m.customer_id for m in await session.scalars(select(CampaignMember))]
    assert sorted(reached) == sorted([moved, pricey, pricey])


async def test_forged_foreign_and_repeated_reasons_write_nothing(app: App) -> None:
    """An unknown reason, another customer's message, a held-out member (who got no
    message), a member of another campaign or a second press: refused, nothing written."""
    await _drifting(app, 1)
    await _drifting(app, 2, "Petr")
    await jobs_winback.run_winback(variant(app).biz)
    await app.deliver()
    message = app.fake.last(CHAT_BASE + 1)
    ivan = app.user(CHAT_BASE + 1, "en", "Ivan")
    async with app.biz.db.write() as session:
        query = select(CampaignMember).order_by(CampaignMember.id)
        first, second = list(await session.scalars(query))
        held = CampaignMember(
            campaign_id=first.campaign_id, customer_id=first.customer_id,
            occurrence="1970-01-01", held_out=True, enrolled_at=first.enrolled_at,
        )  # fmt: skip
        session.add(held)
        await session.flush()
        held_id = held.id
    before = await app.counts()
    forgeries = (f"ch:{first.id}:cheaper", f"ch:{first.id}:", f"ch:{second.id}:price",
                 f"ch:{held_id}:price", "ch:424242:price", "ch:0:price", "ch:x:price")  # fmt: skip
    for forged in forgeries:
        await ivan.click(forged)
    await app.owner.click(f"ch:{first.id}:price")  # an owner is not that customer
    assert await app.counts() == before
    await ivan.click(find_button(message, "Something else"), message)
    after = await app.counts()
    await ivan.click(find_button(message, "expensive"), message)  # a second press
    assert "already answered" in app.fake.calls("answerCallbackQuery")[-1].params["text"]
    assert await app.counts() == after
    assert [r for _, r in await _answers(app)] == ["other"]
