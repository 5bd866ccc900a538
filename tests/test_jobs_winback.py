"""Win-back on a controlled clock (issue 11: "a customer whose time since the last purchase
exceeds k times their own usual interval, or whose chance of still being active from
scoring falls below a threshold, gets one offer per window").

The figures come from the scoring job's customer_scores rows (written here as the job
writes them): the usual interval is (days since first - days since last) / (purchases - 1).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.db.models import OfferKind
from bot.services.jobs import winback as jobs_winback
from bot.services.jobs.common import window_start
from tests.conftest import BACKENDS, make_settings
from tests.support.harness import App
from tests.support.job_rows import CHAT_BASE, member, members, offers_of, outbox, score

RULES = {"interval_factor": 2.0, "min_purchases": 2, "min_days": 45, "p_alive_below": 0.3,
         "window_days": 90}  # fmt: skip


def variant(app: App) -> App:
    settings = make_settings(
        app.biz.settings.database.url, campaigns={"holdout_percent": 0}, winback=RULES
    )
    return app.variant(settings)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_drifting_customers_get_one_offer_per_window(app: App) -> None:
    jobs = variant(app)
    now = app.clock.now()
    db = app.biz.db
    # 5 purchases over 200 days (usual interval 50), the last 120 days ago: 120 > 2 x 50
    drifting = await member(db, 1, now)
    await score(db, drifting.id, now, purchases=5, days_since_first=320, days_since_last=120)
    # the same rhythm, last seen 90 days ago: 90 < 100, still within their habit
    regular = await member(db, 2, now)
    await score(db, regular.id, now, purchases=5, days_since_first=290, days_since_last=90)
    # a slow customer (interval 200) away 300 days: 300 < 400, not drifting by habit...
    slow = await member(db, 3, now)
    await score(db, slow.id, now, purchases=3, days_since_first=700, days_since_last=300)
    # ...but P(alive) 0.1 from BG/NBD says they are probably gone
    gone = await member(db, 4, now)
    await score(db, gone.id, now, purchases=3, days_since_first=700, days_since_last=300,
                p_alive=0.1)  # fmt: skip
    # a one-time buyer has no interval of their own; P(alive) unknown: left alone
    once = await member(db, 5, now)
    await score(db, once.id, now, purchases=1, days_since_first=400, days_since_last=400)
    opted_out = await member(db, 6, now, marketing_opt_in=False)
    await score(db, opted_out.id, now, purchases=5, days_since_first=320, days_since_last=120)

    assert await jobs_winback.run_winback(jobs.biz) == {"candidates": 2, "sent": 2}
    window = window_start(90, now.date()).isoformat()
    assert sorted((m.customer_id, m.occurrence) for m in await members(db)) == [
        (drifting.id, window),
        (gone.id, window),
    ]
    [offer] = await offers_of(db, drifting.id)
    assert (offer.kind, offer.value) == (OfferKind.PERCENT, 10)
    await app.deliver()
    text = app.fake.last(CHAT_BASE + 1).text
    assert text.startswith("Ivan, we have not seen you for a while — we miss you! For you: 10% off")
    assert f"<code>{offer.code}</code>" in text

    # the next days of the window: nothing more (a day later the scores are a day older)
    app.clock.advance(timedelta(days=1))
    assert await jobs_winback.run_winback(variant(app).biz) == {"candidates": 0}
    # the next window: asked once more; the regular customer, 90 days further away from
    # the scores' last purchase (180 > 2 x 50), has started drifting too
    app.clock.current = now + timedelta(days=90)
    assert (await jobs_winback.run_winback(variant(app).biz))["sent"] == 3
    assert len(await outbox(db, regular.id)) == 1
    assert len(await outbox(db, drifting.id)) == 2


async def test_without_scores_nobody_is_selected(app: App) -> None:
    jobs = variant(app)
    await member(app.biz.db, 1, app.clock.now())
    assert await jobs_winback.run_winback(jobs.biz) == {"candidates": 0}
