"""The owner's /rescore (progress message, then a summary) and /client profile card
(seed 000: general info, history, satisfaction, profitability, prospectiveness, value,
strategy), through aiogram."""

from __future__ import annotations

from tests.support.flows import join
from tests.support.harness import App
from tests.support.seed_data import add_customer


async def test_rescore_then_client_card(app: App) -> None:
    ivan = await join(app, app.user(5001, "en"), name="Ivan <i>")
    await app.owner.send(f"/purchase {ivan.card_code} 1500 oil")
    await app.owner.send(f"/note {ivan.card_code} likes <b>tea</b>")
    for n in range(6):
        await add_customer(
            app.biz.db,
            app.clock.now(),
            f"C{n}",
            purchases=[(d, str(100 * (n + 1))) for d in range(3, 90, 30 - n)],
        )
    await app.owner.send(f"/client {ivan.card_code}")
    assert "Not scored yet" in app.fake.last(1000).text

    await app.owner.send("/rescore")
    await app.dp["background"].wait()
    texts = app.fake.texts(1000)
    assert any(t.startswith("Reclassifying") for t in texts)
    assert "Done: 7 customers scored, 7 with purchases" in texts[-1]
    segments = texts[-1].split("Segments: ", 1)[1]
    assert "_" not in segments and segments[0].isupper(), "segments by name, not by key"
    edits = app.fake.calls("editMessageText")
    assert edits and "7 of 7" in edits[-1].params["text"]

    await app.owner.send(f"/client {ivan.card_code}")
    card = app.fake.last(1000).text
    for heading in (
        "General",
        "History",
        "Satisfaction",
        "Profitability",
        "Prospectiveness",
        "RFM",
        "Stage",
        "Value",
        "Strategy",
    ):
        assert f"<b>{heading}</b>" in card, heading
    assert "Ivan &lt;i&gt;" in card and "likes &lt;b&gt;tea&lt;/b&gt;" in card
    assert "first-time buyer" in card and "№1" in card and "oil" in card


async def test_client_refusals_and_role(app: App) -> None:
    before = await app.counts(include_audit=True)
    await app.owner.send("/client")
    assert "Write:" in app.fake.last(1000).text
    await app.owner.send("/client NOBODY")
    assert "No customer" in app.fake.last(1000).text
    await app.owner.send("/client a b")
    assert "Write:" in app.fake.last(1000).text
    assert await app.counts(include_audit=True) == before
    await app.user(7001, "en").send("/rescore")
    assert "not available" in app.fake.last(7001).text
    await app.user(7001, "en").send("/client ABCDEF")
    assert "not available" in app.fake.last(7001).text
