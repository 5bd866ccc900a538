"""The HTTP side of a bot process: the Telegram webhook, health checks and metrics.

- ``POST <webhook path>``: aiogram's request handler with the secret token checked (401
  without it), a malformed body refused with 400 before anything runs, and 200 answered
  only after the update's handler has returned, so its effects are committed: a process
  killed mid-update answers nothing and Telegram delivers the update again.
- ``GET /livez``: the process serves requests.
- ``GET /readyz``: the database (and Redis, when conversation state lives there) answer.
- ``GET /metrics``: Prometheus metrics (bot/metrics.py).
- ``/app/``: the Telegram Mini App (bot/webapp/), when ``web.public_url`` is set.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import MenuButtonWebApp, Update, WebAppInfo
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from sqlalchemy import text

from bot.metrics import REGISTRY
from bot.polling import feed_tagged
from bot.services.context import Business

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class CommittedRequestHandler(SimpleRequestHandler):
    """Answer Telegram after the handler, never before; refuse what is not an update."""

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        try:
            body = await request.json(loads=bot.session.json_loads)
            update = Update.model_validate(body, context={"bot": bot})
        except (json.JSONDecodeError, UnicodeDecodeError, ValidationError, TypeError):
            log.warning("webhook: malformed update refused")
            return web.Response(status=400, text="malformed update")
        # Not feed_webhook_update: it answers after 55 s even if the handler has not
        # finished, and an answer before the commit loses the update in a crash.
        await feed_tagged(self.dispatcher, bot, update, **self.data)
        return web.json_response({})


async def _livez(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(
        body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def _readyz(biz: Business) -> Any:
    async def readyz(request: web.Request) -> web.Response:
        problems = []
        try:
            async with biz.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            problems.append(f"database: {type(exc).__name__}")
        redis_url = biz.settings.telegram.fsm_redis_url
        if redis_url:
            from redis.asyncio import Redis

            client = Redis.from_url(redis_url, socket_connect_timeout=2)
            try:
                await client.ping()
            except Exception as exc:
                problems.append(f"redis: {type(exc).__name__}")
            finally:
                await client.aclose()
        if problems:
            return web.Response(status=503, text="; ".join(problems))
        return web.Response(text="ready")

    return readyz


def build_web_app(
    biz: Business,
    dp: Dispatcher | None = None,
    bot: Bot | None = None,
    wake: Callable[[], None] | None = None,
) -> web.Application:
    """Health and metrics always; the webhook when a dispatcher and bot are given; the
    Mini App when a bot is given and ``web.public_url`` is set (``wake``: the outbox
    sender's, called after a write so the customer's notice leaves at once)."""
    app = web.Application()
    app.router.add_get("/livez", _livez)
    app.router.add_get("/readyz", _readyz(biz))
    app.router.add_get("/metrics", _metrics)
    if bot is not None and biz.settings.web.public_url:
        from bot.webapp import add_mini_app  # its pages load only when the Mini App is on

        add_mini_app(app, biz, bot, wake)
    if dp is not None and bot is not None:
        web_settings = biz.settings.web
        if not web_settings.webhook_secret:  # aiogram would accept any request without one
            raise ValueError("the webhook needs a secret (WEBHOOK_SECRET)")
        CommittedRequestHandler(
            dispatcher=dp,
            bot=bot,
            handle_in_background=False,
            secret_token=web_settings.webhook_secret,
        ).register(app, path=web_settings.webhook_path)
    return app


async def set_menu_button(bot: Bot, biz: Business) -> None:
    """At start-up: every chat's menu button opens the wallet, or, with no ``public_url``,
    one line saying the Mini App is off (the bot works in the chat as before). Here, not in
    bot/webapp/, so that the Mini App's pages load only when it is on."""
    url = biz.settings.web.mini_app_url
    if url is None:
        log.info("Mini App off: set [web] public_url (HTTPS) to open the wallet from the chat")
        return
    try:
        await bot.set_chat_menu_button(
            menu_button=MenuButtonWebApp(
                text=biz.texts.plain(biz.texts.default_locale, "web/app.menu_button"),
                web_app=WebAppInfo(url=url),
            )
        )
    except Exception as exc:  # the chat still works; the button can wait for a restart
        log.warning("could not set the Mini App menu button (%s): restart to retry", exc)
        return
    log.info("Mini App on at %s", url)
