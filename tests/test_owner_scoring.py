"""The owner's /rescore (progress message, then a summary) and /client profile card
(seed 000: general info, history, satisfaction, profitability, prospectiveness, value,
strategy), through aiogram."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.db.models import Customer
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
    assert "(source 001, table 1)" in card

    russian = app.user(1000, "ru", "Owner")  # the same owner, Telegram in Russian
    await russian.send(f"/client {ivan.card_code}")
    card_ru = app.fake.last(1000).text
    assert "<b>Стратегия</b>" in card_ru and "источник 001, табл. 1" in card_ru
    assert "table" not in card_ru, card_ru
    assert ".." not in card_ru


async def test_client_refusals_and_role(app: App) -> None:
    before = await app.counts()
    await app.owner.send("/client")
    assert "Write:" in app.fake.last(1000).text
    await app.owner.send("/client NOBODY")
    assert "Nobody found" in app.fake.last(1000).text
    await app.owner.send("/client " + "a" * 100)
    assert "Write:" in app.fake.last(1000).text
    assert await app.counts() == before


async def test_client_takes_what_find_takes(app: App) -> None:
    """A name, a phone as people type it, or a card code; several matches are listed."""
    anna = await join(app, app.user(5001, "en"), name="Anna Petrova", phone="+79165550101")
    await join(app, app.user(5002, "en"), name="Anna Smirnova")
    for query in ("Petrova", "+7 916 555-01-01", "89165550101", anna.card_code):
        await app.owner.send(f"/client {query}")
        assert "<b>Anna Petrova</b>" in app.fake.last(1000).text, query
    await app.owner.send("/client anna")
    listing = app.fake.last(1000).text
    assert listing.startswith("Found:") and "Petrova" in listing and "Smirnova" in listing
    await app.user(7001, "en").send("/rescore")
    assert "not available" in app.fake.last(7001).text
    await app.user(7001, "en").send("/client ABCDEF")
    assert "not available" in app.fake.last(7001).text


async def test_one_time_buyer_long_ago_is_not_100_percent_active(app: App) -> None:
    """No repeat buyers yet, so the purchase model cannot be fitted. A customer who bought
    once 400 days ago is lapsed (seed 002's «пассивные или бывшие клиенты»), and the card
    must not call them "100 % still active" with a lifetime value of 0: the chance comes
    from the model of the reference shape at the business's rate (no repeat purchase in
    400 + 10 + 20 + 30 + 40 + 50 days: alpha = 550 + 43.281 days), 1 / (1 + a / b *
    ((alpha + 400) / alpha)^r), says so, and the value line says what ranked it."""
    now = app.clock.now()
    old = await add_customer(app.biz.db, now, "Old", purchases=[(400, "1000")])
    for n in range(1, 6):
        await add_customer(app.biz.db, now, f"New{n}", purchases=[(10 * n, "500")])
    await app.owner.send("/rescore")
    await app.dp["background"].wait()
    assert "0 repeat buyers" in app.fake.texts(1000)[-1]
    async with app.biz.db.read() as session:
        code = (await session.get(Customer, old)).card_code
    await app.owner.send(f"/client {code}")
    card = app.fake.last(1000).text
    assert "lapsed" in card
    # nothing in the trailing 12 months, lowest CLV: released, so no long-term marketing
    assert "<b>Strategy</b>: Release" in card and "long-term marketing" not in card
    active = re.search(r"chance still active (\d+)%", card)
    alpha = 550 + 6.183 * 7
    expected = round(100 / (1 + 0.891 / 1.614 * ((alpha + 400) / alpha) ** 0.525))  # 58 %
    assert active is not None and int(active.group(1)) == expected
    assert "reference shape at your purchase rate" in card
    clv = re.search(r"lifetime value \D*([\d,]+\.\d\d)", card)
    assert clv is not None and float(clv.group(1).replace(",", "")) > 0
    assert "ranked by average monthly spend" in card


async def test_one_repeat_buyer_in_rescore_client_and_kpi(app: App) -> None:
    """One number, one meaning: a repeat buyer bought on two different days (seed 002's
    ladder «повторный покупатель»; BG/NBD's frequency counts days the same way). Ivan
    buys twice at one visit: /rescore counts 0 repeat buyers, /client shows him as a
    first-time buyer, /kpi's repeat rate is 0 %. Back the next day, he is a repeat buyer
    in all three."""
    ivan = await join(app, app.user(5001, "en"), name="Ivan")
    await app.owner.send(f"/purchase {ivan.card_code} 100")
    await app.owner.send(f"/purchase {ivan.card_code} 200")

    async def three_answers() -> tuple[str, str, str]:
        await app.owner.send("/rescore")
        await app.dp["background"].wait()
        rescore = app.fake.texts(1000)[-1]
        await app.owner.send(f"/client {ivan.card_code}")
        card = app.fake.last(1000).text
        await app.owner.send("/kpi")
        return rescore, card, app.fake.last(1000).text

    rescore, card, kpi = await three_answers()
    assert "0 repeat buyers" in rescore
    assert "<b>Stage</b>: first-time buyer" in card
    assert "Repeat purchases: 0.0%" in kpi

    app.clock.advance(timedelta(days=1))
    await app.owner.send(f"/purchase {ivan.card_code} 300")
    rescore, card, kpi = await three_answers()
    assert "1 repeat buyer." in rescore  # one: singular (CLDR plural rules)
    assert "<b>Stage</b>: repeat buyer" in card
    # seed 001: long-term marketing «все типы клиентов, за исключением «худших клиентов»»
    assert "<b>Strategy</b>: " in card and "; and long-term marketing — " in card
    assert "Repeat purchases: 100.0%" in kpi


def _money_after(label: str, card: str) -> float:
    """The amount after ``label`` on a card ("-RUB200.00" is -200)."""
    found = re.search(label + r" (-?)\D*?([\d,]+\.\d\d)", card)
    assert found is not None, label
    return float(found.group(1) + found.group(2).replace(",", ""))


async def test_bonuses_are_a_cost_on_the_card_and_in_clv(app: App) -> None:
    """Seed 003: «прямые затраты производства услуг, включая затраты на отношения с
    покупателем, вычитаются из дохода, полученного от него». Two customers with identical
    purchases; the owner gives the second 2,000 points: the card shows what the programme
    gave and a profit lower by their money value, and the second's CLV is lower."""
    now = app.clock.now()
    history = [(d, "1500") for d in (20, 80, 140, 200)]
    twins = [await add_customer(app.biz.db, now, f"Twin{n}", purchases=history) for n in (1, 2)]
    for n in range(6):
        await add_customer(
            app.biz.db, now, f"C{n}", purchases=[(d, "700") for d in range(5 + n, 300, 45 + n)]
        )
    async with app.biz.db.read() as session:
        codes = [(await session.get(Customer, cid)).card_code for cid in twins]
    await app.owner.send(f"/adjust {codes[1]} +2000 gift")
    await app.owner.send("/rescore")
    await app.dp["background"].wait()
    cards = []
    for code in codes:
        await app.owner.send(f"/client {code}")
        cards.append(app.fake.last(1000).text)
    value = float(app.biz.settings.loyalty.point_value)
    assert "the programme gave 0 points" in cards[0]
    assert "the programme gave 2,000 points" in cards[1]
    profits = [_money_after("profit after the programme's costs", c) for c in cards]
    assert profits[0] == 0.3 * 6000  # margin on 4 x 1,500, nothing given
    assert profits[0] - profits[1] == 2000 * value
    years = [_money_after("over 12 months", c) for c in cards]
    assert years[0] - years[1] == 2000 * value
    clvs = [_money_after("lifetime value", c) for c in cards]
    assert clvs[1] < clvs[0]
