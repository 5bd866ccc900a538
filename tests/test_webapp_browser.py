"""The Mini App in a real browser: Debian's chromium driven by Playwright's Python package
(no browser download), against the bot's own web app on 127.0.0.1. Telegram's script is
replaced by a stub ``window.Telegram.WebApp`` carrying initData signed with the test token
and the theme's parameters. The customer's wallet (ru light, en dark), a staff purchase
from the page and its notice in the chat, the owner's dashboard with its charts, and a
refusal; screenshots go to the test's tmp folder (``LOYALTY_SCREENSHOTS`` to keep them)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.config import Settings
from bot.web import build_web_app
from tests.conftest import make_settings
from tests.support.flows import hire, join
from tests.support.harness import OWNER_ID, App
from tests.support.webapp import WEB, init_data

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError("CI must run the browser tests: install Debian's chromium (.ci/run does)")
playwright_api = pytest.importorskip("playwright.async_api", reason="pip install -e '.[dev]'")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH: `apt-get install chromium` (make test does)"
)

CUSTOMER, CASHIER = 5201, 6201
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-dev-shm-usage", "--no-first-run"]  # fmt: skip
LIGHT = {"bg_color": "#ffffff", "text_color": "#000000", "hint_color": "#707579",
         "link_color": "#2481cc", "button_color": "#2481cc", "button_text_color": "#ffffff",
         "secondary_bg_color": "#f1f1f4"}  # fmt: skip
DARK = {"bg_color": "#17212b", "text_color": "#f5f5f5", "hint_color": "#708499",
        "link_color": "#6ab3f3", "button_color": "#5288c1", "button_text_color": "#ffffff",
        "secondary_bg_color": "#232e3c"}  # fmt: skip


def telegram_stub(data: str, scheme: str, scanned: str = "") -> str:
    """What telegram-web-app.js gives a page, as much as the Mini App uses."""
    theme = DARK if scheme == "dark" else LIGHT
    web_app = (
        f"initData: {json.dumps(data)}, colorScheme: {json.dumps(scheme)},"
        f" themeParams: {json.dumps(theme)}, ready: function () {{}},"
        " expand: function () {}, onEvent: function () {},"
        f" showScanQrPopup: function (p, cb) {{ cb({json.dumps(scanned)}); }}"
    )
    return f"window.Telegram = {{WebApp: {{{web_app}}}}};"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return make_settings(db_url, web=WEB)


@pytest.fixture
async def server(app: App) -> AsyncIterator[TestServer]:
    test_server = TestServer(build_web_app(app.biz, bot=app.bot, wake=app.sender.wake),
                             host="127.0.0.1")  # fmt: skip
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        await launched.close()


class Page:
    """A page opened as Telegram opens the Mini App, for one user."""

    def __init__(self, page: Any, shots: Path) -> None:
        self.page, self.shots = page, shots
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(m.text))

    async def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        keep = os.environ.get("LOYALTY_SCREENSHOTS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(keep) / path.name)
        return path


async def open_app(
    browser: Any, server: TestServer, tmp_path: Path, data: str, scheme: str = "light",
    scanned: str = "",
) -> Page:  # fmt: skip
    context = await browser.new_context(viewport={"width": 390, "height": 760},
                                        device_scale_factor=1)  # fmt: skip
    page = await context.new_page()
    stub = telegram_stub(data, scheme, scanned)
    await page.route("https://telegram.org/**", lambda route: route.fulfill(
        status=200, content_type="application/javascript", body=stub))  # fmt: skip
    await page.goto(str(server.make_url("/app/")))
    await page.wait_for_selector("body[data-ready='1']")
    return Page(page, tmp_path)


async def test_the_wallet_in_russian_light_and_english_dark(
    app: App, server: TestServer, browser: Any, tmp_path: Path
) -> None:
    customer = await join(app, app.user(CUSTOMER, "ru"))
    ru = await open_app(browser, server, tmp_path, init_data(CUSTOMER, app.clock.now(), "ru"))
    body = await ru.page.inner_text("main")
    assert customer.card_code in body and "Ваша карта" in body and "Баланс и статус" in body
    assert await ru.page.locator("svg.qr").count() == 1
    qr = await ru.page.locator("svg.qr").bounding_box()
    assert qr is not None and qr["width"] >= 200  # large enough to scan off the screen
    shot = await ru.shot("wallet-ru-light")
    assert shot.stat().st_size > 5000
    # The offers toggle, then English: the page redraws in the new language.
    await ru.page.click("button[name='marketing']")
    await ru.page.wait_for_selector("text=Выключить")
    assert (await app.customer(telegram_id=CUSTOMER)).marketing_opt_in is True  # type: ignore[union-attr]
    await ru.page.click("button[value='en']")
    await ru.page.wait_for_selector("text=Your card")
    en = await open_app(browser, server, tmp_path, init_data(CUSTOMER, app.clock.now()), "dark")
    background = await en.page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(23, 33, 43)"  # Telegram's dark theme, not the page's default
    await en.shot("wallet-en-dark")
    assert not [m for m in ru.console + en.console if "Content Security Policy" in m]


async def test_a_staff_purchase_from_the_page_and_its_notice_in_the_chat(
    app: App, server: TestServer, browser: Any, tmp_path: Path
) -> None:
    customer = await join(app, app.user(CUSTOMER, "en"))
    await hire(app, app.user(CASHIER, "en"))
    await app.deliver()
    app.fake.clear()
    link = f"https://t.me/test_bot?start=c_{customer.card_code}"
    staff = await open_app(browser, server, tmp_path, init_data(CASHIER, app.clock.now()),
                           scanned=link)  # fmt: skip
    await staff.page.click("button[data-scan]")  # Telegram's QR scanner reads the card
    await staff.page.wait_for_selector("input[name='amount']")
    purchase = staff.page.locator("form[data-action='staff/write']").first
    await purchase.locator("input[name='amount']").fill("1 250")
    await purchase.locator("button").click()
    await staff.page.wait_for_selector(".notice")
    assert "recorded" in await staff.page.inner_text(".notice")
    await staff.shot("staff-en-light")
    await app.deliver()
    notices = app.fake.texts(CUSTOMER)
    assert len(notices) == 1 and "1,250" in notices[0], notices
    # A typo is refused in the chat's words, on the page, and nothing is written.
    before = await app.counts()
    purchase = staff.page.locator("form[data-action='staff/write']").first
    await purchase.locator("input[name='amount']").fill("12,5000")
    await purchase.locator("button").click()
    await staff.page.wait_for_selector(".notice.error")
    assert await app.counts() == before


async def test_the_owners_dashboard_with_charts(
    app: App, server: TestServer, browser: Any, tmp_path: Path
) -> None:
    customer = await join(app, app.user(CUSTOMER, "en"))
    await hire(app, app.user(CASHIER, "en"))
    for amount in (1200, 800, 3000):
        await app.user(CASHIER, "en").send(f"/purchase {customer.card_code} {amount}")
    owner = await open_app(browser, server, tmp_path, init_data(OWNER_ID, app.clock.now()))
    await owner.page.click("nav a[data-page='owner']")
    await owner.page.wait_for_selector("svg.chart")
    assert await owner.page.locator("svg.chart").count() >= 4
    assert await owner.page.locator("svg.chart rect.bar").count() > 0
    assert "Purchases" in await owner.page.inner_text("main")
    await owner.page.click("button[value='90']")
    await owner.page.wait_for_selector("button.active[value='90']")
    await owner.page.fill("form[data-action='owner/client'] input", customer.card_code)
    await owner.page.click("form[data-action='owner/client'] button")
    await owner.page.wait_for_selector("#client .msg")
    assert customer.card_code in await owner.page.inner_text("#client")
    await owner.shot("owner-en-light")


async def test_a_page_without_telegram_or_with_stale_data_is_refused(
    app: App, server: TestServer, browser: Any, tmp_path: Path
) -> None:
    await join(app, app.user(CUSTOMER, "en"))
    before = await app.counts(include_audit=True)
    outside = await open_app(browser, server, tmp_path, "")
    assert "только внутри Telegram" in await outside.page.inner_text("main")
    await outside.shot("refused")
    forged = init_data(CUSTOMER, app.clock.now(), token="654321:ANOTHER-BOTS-TOKEN")
    other = await open_app(browser, server, tmp_path, forged, "dark")
    assert "только внутри Telegram" in await other.page.inner_text("main")
    assert await app.counts(include_audit=True) == before
