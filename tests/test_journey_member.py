"""A member's commands: /card (QR of the staff deep link + the code), /history in pages,
newest first, /offers, /language, /settings (marketing opt-in) and /help."""

from __future__ import annotations

from bot.services.members.profile import HISTORY_PAGE_SIZE, qr_png
from bot.testing.telegram_double import buttons, find_button
from tests.support.flows import hire, join
from tests.support.harness import App

CASHIER = 6001


async def test_card_is_a_qr_photo_with_the_code(app: App) -> None:
    customer = await join(app, app.user(5001, "en"))
    await app.user(5001, "en").send("/card")
    sent = app.fake.last(5001)
    assert sent.method == "sendPhoto"
    link = f"https://t.me/test_bot?start=c_{customer.card_code}"
    assert sent.params["photo"] == {
        "filename": f"card-{customer.card_code}.png",
        "size": len(qr_png(link)),
    }
    assert f"<b>{customer.card_code}</b>" in sent.text
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    await cashier.send(f"/start c_{customer.card_code}")  # what scanning the QR sends
    assert customer.card_code in app.fake.last(CASHIER).text
    assert find_button(app.fake.last(CASHIER), "Purchase")


async def test_history_pages_newest_first(app: App) -> None:
    customer = await join(app, app.user(5001, "en"))
    for n in range(1, HISTORY_PAGE_SIZE + 3):
        await app.owner.send(f"/adjust {customer.card_code} +{n} gift {n}")
    user = app.user(5001, "en")
    await user.send("/history")
    first = app.fake.last(5001)
    assert "page 1 of 2" in first.text
    lines = [line for line in first.text.splitlines() if " · " in line]
    assert len(lines) == HISTORY_PAGE_SIZE
    assert lines[0].split(" · ")[1] == f"+{HISTORY_PAGE_SIZE + 2}", "newest first"
    await user.click(buttons(first)[-1][1], first)
    second = app.fake.last(5001)
    assert second.method == "editMessageText" and "page 2 of 2" in second.text
    assert [line.split(" · ")[1] for line in second.text.splitlines() if " · " in line] == [
        "+2",
        "+1",
    ]


async def test_language_settings_offers_and_help(app: App) -> None:
    await join(app, app.user(5001, "en"))
    user = app.user(5001, "en")
    await user.send("/language")
    await user.click(find_button(app.fake.last(5001), "Русский"), app.fake.last(5001))
    assert "по-русски" in app.fake.last(5001).text
    customer = await app.customer(telegram_id=5001)
    assert customer is not None and customer.language == "ru"
    await user.send("/balance")
    assert "На вашем счёте" in app.fake.last(5001).text, "answers follow the stored language"

    await user.send("/settings")
    settings = app.fake.last(5001)
    assert "выключены" in settings.text and not customer.marketing_opt_in
    await user.click(find_button(settings, "Присылать"), settings)
    assert "включены" in app.fake.last(5001).text
    customer = await app.customer(telegram_id=5001)
    assert customer is not None and customer.marketing_opt_in

    await user.send("/offers")
    offers = app.fake.last(5001).text
    assert "Базовый" in offers and "Следующий: <b>Серебряный</b>" in offers
    await user.send("/help")
    assert all(c in app.fake.last(5001).text for c in ("/card", "/history", "/forget"))
