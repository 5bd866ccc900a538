"""The owner's figures agree (issue 20, item 8): «„потрачено 10 050,50 ₽, средний чек
1 850,17 ₽“ for 4 purchases (1 850,17 is the average of the 3 at the last rescore)» and
Kate, «who bought for 3 500 ₽ today», shown in «Засыпающие → Освобождать»."""

from __future__ import annotations

from datetime import timedelta

from bot.services.insight.scoring_job import reclassify
from tests.support.harness import OWNER_ID, App
from tests.support.seed_data import add_customer


async def _no_progress(done: int, total: int) -> None:
    return None


async def _kate_scored_then_buying(app: App) -> str:
    kate_id = await add_customer(
        app.biz.db, app.clock.now(), "Kate", purchases=[(300, "3000"), (250, "2000"), (200, "1000")]
    )
    for n in range(6):  # a customer base to rank her against
        await add_customer(
            app.biz.db, app.clock.now(), f"C{n}", purchases=[(d, "500") for d in range(2, 60, 9)]
        )
    await reclassify(app.biz, _no_progress)
    kate = await app.customer(id=kate_id)
    assert kate is not None
    app.clock.advance(timedelta(hours=3))
    await app.owner.send(f"/purchase {kate.card_code} 3500 oil")
    return kate.card_code


async def test_the_client_card_figures_are_live_and_the_scores_say_they_are_pending(
    app: App,
) -> None:
    """SPEC: «A customer who bought since the last scoring is never shown as lapsing or
    released.»"""
    code = await _kate_scored_then_buying(app)
    await app.owner.send(f"/client {code}")
    card = app.fake.last(OWNER_ID).text
    assert "4 purchases" in card
    profitability = next(line for line in card.splitlines() if "Profitability" in line)
    assert "9,500.00" in profitability
    # the average of all 4 purchases, not the 2 000 of the 3 scored
    assert "average check" in profitability and "2,375.00" in profitability
    assert "Bought since the last scoring" in card and "pending" in card
    for stale in ("<b>Strategy</b>", "<b>Stage</b>", "<b>Prospectiveness</b>", "Release"):
        assert stale not in card, stale


async def test_segments_count_a_customer_who_bought_since_scoring_apart(app: App) -> None:
    await _kate_scored_then_buying(app)
    await app.owner.send("/segments")
    report = next(t for t in reversed(app.fake.texts(OWNER_ID)) if "RFM segments" in t)
    assert "Bought since the last scoring</b>: 1 customer, in no group above" in report


async def test_scores_say_when_they_were_computed(app: App) -> None:
    code = await _kate_scored_then_buying(app)
    app.clock.advance(timedelta(days=1))
    await reclassify(app.biz, _no_progress)
    await app.owner.send(f"/client {code}")
    card = app.fake.last(OWNER_ID).text
    assert "Scores computed" in card and "pending" not in card
    assert "<b>Stage</b>" in card


def test_campaigns_explain_their_interval_in_plain_words(app: App) -> None:
    for locale, plain, footnote in (
        ("en", "the true effect lies in it in 95 cases out of 100", "Newcombe"),
        ("ru", "настоящий эффект попадает в него в 95 случаях из 100", "Ньюкомба"),
    ):
        shown = app.biz.texts.render(locale, "campaigns.report", reports=[], days=14)
        assert plain in shown
        assert shown.index(footnote) > shown.index(plain), "the statistic's name: a footnote"
