"""Texts on day one (issue 20, item 10): English money «RUB30,000.00», «работает в точке
main», «[Удалить Ольга]», «Отправьте число от 0 до 2000000», chart ticks «105000» and the
CLI's «for 1 customers» (the demo's chart labels: tests/test_demo.py)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from bot import charts
from bot.cli import app as cli
from bot.testing.telegram_double import buttons, find_button
from bot.texts import Texts
from tests.conftest import make_settings
from tests.support.flows import hire, join
from tests.support.harness import OWNER_ID, App
from tests.test_customer_import import _cli_config

NBSP = "\u00a0"


def test_english_money_reads_with_the_rouble_sign_not_the_code() -> None:
    texts = Texts("RUB", default_locale="ru")
    money = texts._envs["en"].filters["money"]
    assert money(Decimal("30000")) == "₽30,000.00"
    assert money(Decimal("1")) == "₽1.00"
    assert texts._envs["ru"].filters["money"](Decimal("30000")) == f"30{NBSP}000,00{NBSP}₽"
    assert Texts("EUR")._envs["en"].filters["money"](Decimal("5")) == "€5.00"


def test_prompts_group_big_numbers_but_not_years() -> None:
    texts = Texts("RUB")
    mileage = texts.render(
        "ru", "customer.ask_profile", label="Пробег", kind="int", low=0, high=2000000,
        required=False,
    )  # fmt: skip
    assert f"от 0 до 2{NBSP}000{NBSP}000" in mileage
    year = texts.render(
        "ru", "customer.ask_profile", label="Год выпуска", kind="year", low=1950, high=2026,
        required=False,
    )  # fmt: skip
    assert "от 1950 до 2026" in year


def test_chart_value_ticks_are_grouped_as_the_reader_writes_numbers() -> None:
    from matplotlib.figure import Figure

    texts = Texts("RUB")
    fig = Figure()
    ax = fig.subplots()
    ax.bar([0, 1], [105000, 52000])
    panel = charts.Panel(
        "Выручка", [], [105000, 52000], whole=False, tick=lambda v: texts.number("ru", v)
    )
    charts._value_axis(ax.yaxis, panel)
    ax.set_ylim(0, 120000)
    ticks = [ax.yaxis.get_major_formatter()(v, 0) for v in (100000, 0)]
    assert ticks == [f"100{NBSP}000", "0"]


async def test_the_owner_reads_outlet_names_and_a_russian_remove_button(app: App) -> None:
    olga = app.user(7202, "ru", "Ольга")
    await hire(app, olga)
    await app.deliver()
    joined = app.fake.last(OWNER_ID).text
    assert "работает в точке Main" in joined, joined  # the outlet's name, not «main»
    russian_owner = app.user(OWNER_ID, "ru", "Owner")
    await russian_owner.send("/staff")
    listing = app.fake.last(OWNER_ID)
    assert "Ольга (Main," in listing.text
    assert [label for label, _ in buttons(listing)] == ["✖ Удалить: Ольга"]


async def test_after_a_redemption_the_cashier_sees_what_is_left_to_collect(app: App) -> None:
    """«after a redemption the cashier sees no amount left to collect»: 200 points on a
    1 000 purchase, the customer confirms, the cashier reads «Collect ₽800.00»."""
    ivan = app.user(7301, "en", "Ivan")
    customer = await join(app, ivan, name="Ivan")
    cashier = app.user(7302, "en", "Olga")
    await hire(app, cashier)
    await app.owner.send(f"/adjust {customer.card_code} +500 opening")
    await app.deliver()
    await cashier.send(f"/redeem {customer.card_code} 200 1000")
    await app.deliver()
    prompt = app.fake.last(7301)
    assert "for a purchase of ₽1,000.00?\nThe request is valid" in (prompt.text or ""), prompt.text
    await ivan.click(find_button(prompt, "Confirm"), prompt)
    await app.deliver()
    decided = app.fake.last(7302).text
    assert "200 points paid" in decided
    assert "<b>Collect ₽800.00</b> (purchase ₽1,000.00 − ₽200.00 in points)" in decided


async def test_client_card_counts_a_survey_as_sent_only_once_it_is_due(
    app: App, db_url: str
) -> None:
    """«/client says „опросов отправлено 1“ before the delayed question was sent»."""
    variant = app.variant(make_settings(db_url, survey={"needs_opt_in": False}))
    customer = await join(variant, variant.user(7401, "en"), name="Anna")
    await variant.owner.send(f"/purchase {customer.card_code} 1500 oil")
    await variant.owner.send(f"/client {customer.card_code}")
    assert "no surveys yet" in variant.fake.last(OWNER_ID).text
    variant.clock.advance(timedelta(minutes=121))  # [survey] delay_minutes: 120
    await variant.owner.send(f"/client {customer.card_code}")
    assert "1 survey sent, no answer yet" in variant.fake.last(OWNER_ID).text


async def test_balance_in_an_owners_broadcast_carries_its_own_plural(app: App) -> None:
    """«{{ balance }} in an owner's broadcast reads „Ваш баланс: 172 баллов“»."""
    from bot.services.campaigns.broadcast_text import MessageSpec, Renderer

    kate = await join(app, app.user(7501, "ru"), name="Катя")
    ann = await join(app, app.user(7502, "en"), name="Ann")
    await app.owner.send(f"/adjust {kate.card_code} +172 opening")
    await app.owner.send(f"/adjust {ann.card_code} +1 opening")
    kate, ann = await app.customer(id=kate.id), await app.customer(id=ann.id)
    assert kate is not None and ann is not None
    own = Renderer(app.biz, MessageSpec(kind="text", body="Ваш баланс: {{ balance }}"))
    assert own.render(kate) == "Ваш баланс: 172 балла"
    assert own.render(ann) == "Ваш баланс: 1 point"
    rich = Renderer(
        app.biz, MessageSpec(kind="text", body="{% if balance > 100 %}много{% endif %}")
    )
    assert rich.render(kate) == "много", "it still compares as a number"
    shipped = Renderer(app.biz, MessageSpec(kind="template", body="tpl_thanks"))
    assert "Ваш баланс: 172 балла." in shipped.render(kate)


def test_the_cli_counts_one_customer_in_the_singular(tmp_path: Path) -> None:
    """«for 1 customers»: the import's report takes the singular for one."""
    config, _ = _cli_config(tmp_path)
    base = tmp_path / "base.csv"
    base.write_text("phone,name,balance\n+79165550101,Anna,1\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["import", str(base), "-c", str(config), "--apply"])
    assert result.exit_code == 0, result.output
    assert "imported 1 row: 1 new customer, opening balances for 0 customers" in result.output
    assert "1 point in all" in result.output
    assert not any(s in result.output for s in ("1 rows", "1 customers", "1 points"))
