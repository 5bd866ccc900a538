"""The Telegram Mini App, served by the bot's own aiohttp app (bot/web.py) under ``/app/``.

``[web] public_url`` switches it on. A static page (``static/``: HTML, CSS, one script, no
inline code) asks the server for HTML fragments with ``POST /app/api/...``, each carrying
Telegram's signed ``initData`` (``auth.py``: 401 without it); the fragments are rendered
from the same locale files as the chat (``templates/<locale>/web/``, and the chat's own
blocks where the page says the same thing), with data from the services only.

- ``wallet.py``: the customer's card, balance, tier, expiring points, history, offers,
  language and the offers opt-in;
- ``staff.py``: find a customer, purchase / visit / redeem through the chat's own
  command table (``handlers.staff.STAFF_COMMANDS``), one idempotency key per write;
- ``owner.py``: the /stats figures with SVG charts (``charts.py``), segments,
  campaigns, a customer lookup.

Every response carries security headers (``SECURITY_HEADERS``: a CSP without inline
scripts); nothing personal travels in a URL (questions go in POST bodies) or in the logs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiogram import Bot
from aiohttp import web

from bot.config.runtime import MINI_APP_PATH
from bot.services.context import Business
from bot.webapp import owner, staff, wallet
from bot.webapp.pages import Wake, home

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js"

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self' https://telegram.org",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors https://web.telegram.org https://*.telegram.org",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if request.path.startswith(MINI_APP_PATH):
        response.headers.update(SECURITY_HEADERS)
    return response


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")


def add_mini_app(app: web.Application, biz: Business, bot: Bot, wake: Wake = None) -> None:
    """The page, its assets and its API on ``app`` (done when ``web.public_url`` is set)."""
    app.middlewares.append(security_headers)
    app.router.add_get(f"{MINI_APP_PATH}/", _index)
    app.router.add_static(f"{MINI_APP_PATH}/static/", STATIC_DIR, append_version=False)
    api = f"{MINI_APP_PATH}/api"
    routes = {
        "home": home(biz, bot.token),
        **wallet.routes(biz, bot),
        **staff.routes(biz, bot.token, wake),
        **owner.routes(biz, bot.token),
    }
    for name, handle in routes.items():
        app.router.add_post(f"{api}/{name}", handle)
