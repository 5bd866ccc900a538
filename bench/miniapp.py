"""The Mini App's wallet against the chat's /card, and the wallet data endpoint's rate.

* /card round trip: a customer's ``/card`` fed to the real dispatcher, timed until the
  photo (QR PNG) and its caption have been handed to the Bot API double; size = the PNG
  plus the caption. Telegram's own network (the user's update in, the photo upload and
  its delivery out) is not in it: a real round trip adds two trips through Telegram.
* Wallet: headless Debian chromium (Playwright, ``executable_path``) opens ``/app/`` from
  the bot's own web app on 127.0.0.1 with a stub Telegram script carrying signed
  initData, each time in a fresh context (cold cache); first contentful paint (the
  frame), and the moment the wallet is on screen (``body[data-ready]``); size = every
  response body the page fetched (HTML, CSS, script, the home and wallet answers;
  Telegram's script is not counted).
* Wallet data endpoint: ``POST /app/api/wallet`` with valid initData from ``--clients``
  concurrent loopback clients, ``--requests`` in all (bounded by ``--seconds``).

Usage::

    .venv/bin/python -m bench.miniapp [--runs N] [--requests N] [--clients K] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from bench.common import machine
from bench.purchase import OWNER_ID, RESULTS, code_version, load, sqlite_url
from bot.app import PLACEHOLDER_TOKEN, build_bot, build_business, build_dispatcher
from bot.config import Settings, settings_from_dict
from bot.services.people.staff import sync_outlets
from bot.testing.telegram_double import ChatUser, FakeTelegram, RecordingSession
from bot.web import build_web_app
from tests.support.webapp import init_data

CUSTOMER = 7_000_001
PUBLIC_URL = "https://loyalty.example.test"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]


def bench_settings(url: str) -> Settings:
    return settings_from_dict(
        {
            "business": {"name": "Bench Garage", "owner_ids": [OWNER_ID],
                         "timezone": "Europe/Moscow", "default_language": "en"},
            "database": {"url": url},
            "web": {"public_url": PUBLIC_URL},
        },
        use_env=False,
    )  # fmt: skip


async def join(dp: Any, bot: Any, fake: FakeTelegram) -> ChatUser:
    """A customer through the real sign-up, with ten purchases in their history."""
    user = ChatUser(dp, bot, CUSTOMER, first_name="Olga", language_code="en")
    await user.send("/start")
    await user.click(_button(fake, CUSTOMER, 0), fake.last(CUSTOMER))
    await user.send_contact("+79165550101")
    await user.send("Olga")
    while True:
        call = fake.last(CUSTOMER)
        buttons = (call.params.get("reply_markup") or {}).get("inline_keyboard")
        if not buttons:
            break
        await user.click(_button(fake, CUSTOMER, -1), call)
    owner = ChatUser(dp, bot, OWNER_ID, first_name="Owner", language_code="en")
    for amount in range(10):
        await owner.send(f"/purchase +79165550101 {1000 + amount * 150}")
    return user


def _button(fake: FakeTelegram, chat: int, index: int) -> str:
    rows = fake.last(chat).params["reply_markup"]["inline_keyboard"]
    return [b["callback_data"] for row in rows for b in row][index]


async def card_round_trips(
    user: ChatUser, fake: FakeTelegram, runs: int
) -> tuple[list[float], int]:
    times, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        await user.send("/card")
        times.append((time.perf_counter() - started) * 1000)
        call = fake.last(CUSTOMER)
        size = len(fake.uploaded(call)) + len((call.text or "").encode())
    return times, size


def telegram_stub(data: str) -> str:
    web_app = {"initData": data, "colorScheme": "light", "themeParams": {}}
    return (
        f"window.Telegram = {{WebApp: Object.assign({json.dumps(web_app)}, "
        "{ready: function () {}, expand: function () {}, onEvent: function () {}})};"
    )


def stub_route(body: str) -> Any:
    async def fulfill(route: Any) -> None:
        await route.fulfill(status=200, content_type="application/javascript", body=body)

    return fulfill


async def wallet_paints(base: str, data: str, runs: int) -> tuple[list[float], list[float], int]:
    from playwright.async_api import async_playwright

    paints, ready, size = [], [], 0
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        for _ in range(runs + 1):  # the first warms the server and the browser
            context = await browser.new_context(viewport={"width": 390, "height": 760})
            page = await context.new_page()
            sizes: list[int] = []
            await page.route("https://telegram.org/**", stub_route(telegram_stub(data)))

            async def count(response: Any, sizes: list[int] = sizes) -> None:
                if not response.url.startswith("https://telegram.org"):
                    sizes.append(len(await response.body()))

            page.on("response", count)
            await page.goto(f"{base}/app/")
            await page.wait_for_selector("body[data-ready='1'] svg.qr")
            timing = await page.evaluate(
                "() => [performance.getEntriesByName('first-contentful-paint')[0].startTime,"
                " performance.now()]"
            )
            await asyncio.sleep(0.05)  # the last response's body is read
            paints.append(timing[0])
            ready.append(timing[1])
            size = sum(sizes)
            await context.close()
        await browser.close()
    return paints[1:], ready[1:], size


async def endpoint_rate(
    url: str, data: str, requests: int, clients: int, seconds: float
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    headers = {"Authorization": f"tma {data}"}
    deadline = time.perf_counter() + seconds
    left = requests

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal left
        while left > 0 and time.perf_counter() < deadline:
            left -= 1
            started = time.perf_counter()
            async with session.post(url, headers=headers, json={}) as response:
                await response.read()
                assert response.status == 200, response.status
            latencies.append((time.perf_counter() - started) * 1000)

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(args: argparse.Namespace) -> list[str]:
    async with sqlite_url() as url:
        settings = bench_settings(url)
        biz = build_business(settings)
        await sync_outlets(biz)
        fake = FakeTelegram(token=PLACEHOLDER_TOKEN)
        bot = build_bot(settings, session=RecordingSession(fake))
        dp = build_dispatcher(biz)
        runner = web.AppRunner(build_web_app(biz, bot=bot), access_log=None)
        try:
            user = await join(dp, bot, fake)
            card_ms, card_size = await card_round_trips(user, fake, args.runs)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            base = f"http://127.0.0.1:{port}"
            data = init_data(CUSTOMER, datetime.now(UTC))
            paint, ready, size = await wallet_paints(base, data, args.runs)
            rate, lat = await endpoint_rate(f"{base}/app/api/wallet", data, args.requests,
                                            args.clients, args.seconds)  # fmt: skip
        finally:
            await runner.cleanup()
            await bot.session.close()
            await biz.db.dispose()
    med = statistics.median
    return [
        "```",
        f"{'what':<44}{'median ms':>10}{'p90 ms':>9}{'bytes':>9}",
        f"{'chat /card (dispatcher -> sendPhoto)':<44}{med(card_ms):>10.1f}"
        f"{pct(card_ms, 0.9):>9.1f}{card_size:>9}",
        f"{'wallet first contentful paint':<44}{med(paint):>10.1f}{pct(paint, 0.9):>9.1f}{size:>9}",
        f"{'wallet on screen (QR, balance, history)':<44}{med(ready):>10.1f}"
        f"{pct(ready, 0.9):>9.1f}",
        f"POST /app/api/wallet: {rate:.0f} requests/s, {len(lat)} requests from {args.clients} "
        f"clients, p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms (SQLite, one process)",
        "```",
    ]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=10, help="/card round trips and wallet loads")
    p.add_argument("--requests", type=int, default=2000, help="wallet data requests in all")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients")
    p.add_argument("--seconds", type=float, default=60.0, help="stop the rate test after")
    p.add_argument("--record", action="store_true", help=f"append the results to {RESULTS.name}")
    return p.parse_args(argv)


async def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if shutil.which("chromium") is None:
        print("no chromium on PATH: apt-get install chromium", file=sys.stderr)
        return 1
    before = load()
    lines = await run(args)
    print("\n".join(lines))
    if args.record:
        header = (
            f"\n### {datetime.now(UTC):%Y-%m-%d}: Mini App wallet vs the chat's /card\n\n"
            f"Machine: {machine(with_load=False)}; {code_version()}; "
            f"{before} before, {load()} after.\n"
            f"Command: `.venv/bin/python -m bench.miniapp {' '.join(argv)}`\n\n"
        )
        with RESULTS.open("a", encoding="utf-8") as out:
            out.write(header + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
