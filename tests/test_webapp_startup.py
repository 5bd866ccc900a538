"""How the Mini App is switched on: ``[web] public_url`` sets every chat's menu button to
the wallet at start-up and gives /card an "open" button; without it the bot says so once
and works in the chat as before. Its pages' texts exist in every locale."""

from __future__ import annotations

import logging

import pytest

from bot.config import SUPPORTED_LOCALES, Settings
from bot.texts import TEMPLATES_DIR, Texts
from bot.web import set_menu_button
from tests.conftest import make_settings
from tests.support.flows import join
from tests.support.harness import App
from tests.support.webapp import PUBLIC_URL, WEB

CUSTOMER = 5301
WALLET = f"{PUBLIC_URL}/app/"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, web=WEB)


def _web_app_urls(markup: object) -> list[str]:
    rows = (markup or {}).get("inline_keyboard", [])  # type: ignore[attr-defined]
    return [b["web_app"]["url"] for row in rows for b in row if "web_app" in b]


async def test_the_menu_button_opens_the_wallet(app: App) -> None:
    await set_menu_button(app.bot, app.biz)
    (call,) = app.fake.calls("setChatMenuButton")
    button = call.params["menu_button"]
    assert button["type"] == "web_app" and button["web_app"]["url"] == WALLET
    assert button["text"] == "Карта лояльности"  # the default language's label


async def test_without_a_public_url_the_bot_says_so_once(
    app: App, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    off = app.variant(make_settings(db_url))
    caplog.set_level(logging.INFO, logger="bot.web")
    await set_menu_button(off.bot, off.biz)
    assert app.fake.calls("setChatMenuButton") == []
    said = [r.getMessage() for r in caplog.records if "Mini App off" in r.getMessage()]
    assert len(said) == 1 and "public_url" in said[0]


async def test_card_has_an_open_button_only_when_the_app_is_on(app: App, db_url: str) -> None:
    user = app.user(CUSTOMER, "en")
    await join(app, user)
    await user.send("/card")
    assert _web_app_urls(app.fake.last(CUSTOMER).params.get("reply_markup")) == [WALLET]
    off = app.variant(make_settings(db_url))
    await off.user(CUSTOMER, "en").send("/card")
    assert _web_app_urls(app.fake.last(CUSTOMER).params.get("reply_markup")) == []


WEB_AREAS = sorted(p.stem for p in (TEMPLATES_DIR / "en" / "web").glob("*.html"))


@pytest.mark.parametrize("area", WEB_AREAS)
def test_every_page_text_in_every_locale(area: str) -> None:
    texts = Texts("RUB")
    blocks = [texts.block_names(locale, f"web/{area}") for locale in SUPPORTED_LOCALES]
    assert all(b == blocks[0] for b in blocks)
